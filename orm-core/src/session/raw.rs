//! Raw SQL through the session: rows into objects (`sql`), rows as plain
//! values (`sql_values`), and statements that change rows (`execute`).
//! All run on the session's own connection after autoflush, so they see
//! what the session flushed and has not committed; each checks its
//! parameters against the placeholders, and the columns it reads against
//! what it needs, before it runs.
//!
//! Placeholders are SQLite's: `?`, `?1`, `?2`, ... by position.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::from_row::FromRow;
use crate::model::Model;
use crate::sql::{Conn, Param, quote};
use crate::state::Handle;
use crate::value::{Bound, ToValue};

use super::Session;

impl Session {
    /// Runs SQL text with bound parameters and maps its rows into `T`
    /// objects through the identity map. The SQL must return `T`'s columns
    /// by name (`SELECT * FROM users WHERE ...` does); other columns are ignored.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// session.add(User::new("Zoë"));
    /// let found = session.sql::<User>("SELECT * FROM users WHERE name = ?1", &[&"Zoë"])?;
    /// assert_eq!(found[0].read()?.name, "Zoë");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ResultColumns`] when the SQL lacks a column of `T`;
    /// [`Error::Parameters`] when `params` does not match its placeholders;
    /// [`Error::Conversion`] for a value that does not fit its field;
    /// [`Error::Sqlite`] when the SQL is invalid.
    pub fn sql<T: Model>(&self, sql: &str, params: &[&dyn ToValue]) -> Result<Vec<Handle<T>>> {
        self.inner.because(
            || "Session::sql".to_owned(),
            || self.sql_now::<T>(sql, params),
        )
    }

    fn sql_now<T: Model>(&self, sql: &str, params: &[&dyn ToValue]) -> Result<Vec<Handle<T>>> {
        self.inner.autoflush()?;
        let conn = self.inner.conn()?;
        self.contained(conn, || self.sql_on::<T>(conn, sql, params))
    }

    fn sql_on<T: Model>(
        &self,
        conn: &Conn,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<Vec<Handle<T>>> {
        let found = checked_params(conn, sql, params)?;
        if let Some(missing) = T::TABLE
            .columns
            .iter()
            .find(|c| !found.iter().any(|name| name.eq_ignore_ascii_case(c.name)))
        {
            return Err(Error::ResultColumns {
                sql: sql.to_owned(),
                expected: format!("the column `{}` of `{}`", missing.name, T::TABLE.name),
                found,
            });
        }
        let columns: Vec<String> = T::TABLE.columns.iter().map(|c| quote(c.name)).collect();
        // The alias: PostgreSQL names every subquery in FROM.
        let wrapped = format!("SELECT {} FROM ({sql}) AS \"rows\"", columns.join(", "));
        let mut objects = Vec::new();
        self.inner
            .select::<T>(&wrapped, &bind(&values(params)), |node| {
                objects.push(Handle::from_node(node));
                Ok(())
            })?;
        Ok(objects)
    }

    /// Runs a query and reads each row as plain values: one
    /// [`ColumnType`](crate::ColumnType) for a one-column result, or a
    /// tuple. Values, not objects: no identity map, no change tracking.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// session.add(User::new("Zoë"));
    /// session.add(User::new("Ann"));
    /// // The pending users are flushed first, so the query sees them.
    /// let rows: Vec<(String, i64)> = session.sql_values(
    ///     "SELECT name, length(name) FROM users WHERE name <> ?1 ORDER BY name",
    ///     &[&"nobody"],
    /// )?;
    /// assert_eq!(rows, [("Ann".to_owned(), 3), ("Zoë".to_owned(), 3)]);
    /// let count: Vec<i64> = session.sql_values("SELECT count(*) FROM users", &[])?;
    /// assert_eq!(count, [2]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ResultColumns`] when the query returns more or fewer
    /// columns than `R` holds; [`Error::Parameters`] when `params` does not
    /// match its placeholders; [`Error::Conversion`] (naming the column and
    /// the row's position) for a value that does not convert;
    /// [`Error::Sqlite`] when the SQL is invalid.
    pub fn sql_values<R: FromRow>(&self, sql: &str, params: &[&dyn ToValue]) -> Result<Vec<R>> {
        self.inner.because(
            || "Session::sql_values".to_owned(),
            || self.sql_values_now::<R>(sql, params),
        )
    }

    fn sql_values_now<R: FromRow>(&self, sql: &str, params: &[&dyn ToValue]) -> Result<Vec<R>> {
        self.inner.autoflush()?;
        let conn = self.inner.conn()?;
        self.contained(conn, || self.sql_values_on::<R>(conn, sql, params))
    }

    fn sql_values_on<R: FromRow>(
        &self,
        conn: &Conn,
        sql: &str,
        params: &[&dyn ToValue],
    ) -> Result<Vec<R>> {
        let found = checked_params(conn, sql, params)?;
        if found.len() != R::COLUMNS {
            return Err(Error::ResultColumns {
                sql: sql.to_owned(),
                expected: format!("{} column(s)", R::COLUMNS),
                found,
            });
        }
        let mut rows = Vec::new();
        conn.query(sql, &bind(&values(params)), "", |row| {
            let values = R::from_row(row).map_err(|e| Error::Conversion {
                table: "query result".to_owned(),
                column: found.get(e.index).cloned().unwrap_or_default(),
                key: format!("#{}", rows.len() + 1),
                detail: e.error.to_string(),
            })?;
            rows.push(values);
            Ok(())
        })?;
        Ok(rows)
    }

    /// Runs a statement that changes rows (`INSERT`, `UPDATE`, `DELETE`)
    /// inside the session's transaction, opened if need be, so that
    /// `rollback` undoes it and `commit` keeps it. Returns the number of
    /// rows changed.
    ///
    /// Objects already loaded keep their values: the session does not know
    /// what the statement changed; [`Session::refresh`] reads them again.
    /// Not for transaction control: use [`Session::commit`] and
    /// [`Session::rollback`].
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// session.add(User::new("Zoë"));
    /// let changed = session.execute("UPDATE users SET name = upper(name)", &[])?;
    /// assert_eq!(changed, 1);
    /// session.rollback()?; // undoes the insert and the update
    /// assert_eq!(session.sql_values::<i64>("SELECT count(*) FROM users", &[])?, [0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Parameters`] when `params` does not match the placeholders;
    /// [`Error::Constraint`] or [`Error::Busy`] from the statement, which
    /// then changed nothing; [`Error::Sqlite`] when the SQL is invalid.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize> {
        self.inner.because(
            || "Session::execute".to_owned(),
            || self.execute_now(sql, params),
        )
    }

    fn execute_now(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize> {
        self.inner.autoflush()?;
        let conn = self.inner.conn()?;
        let transaction = &self.inner.transaction;
        if transaction.is_open() {
            return self.contained(conn, || {
                checked_params(conn, sql, params)?;
                conn.execute(sql, &bind(&values(params)), "")
            });
        }
        checked_params(conn, sql, params)?;
        conn.begin()?;
        match conn.execute(sql, &bind(&values(params)), "") {
            Ok(changed) => {
                transaction.set_open(true);
                Ok(changed)
            }
            Err(error) => {
                // Opened for this statement alone: closed again. Should the
                // ROLLBACK fail, the session keeps it as open.
                if conn.control("ROLLBACK").is_err() {
                    transaction.set_open(true);
                }
                Err(error)
            }
        }
    }
}

impl Session {
    /// Runs `work` (the user's SQL) so that its failure leaves the
    /// session's open transaction as it was. SQLite undoes a failed
    /// statement by itself; PostgreSQL aborts the whole transaction, so
    /// there the statement runs inside a savepoint, rolled back to on
    /// failure.
    fn contained<R>(&self, conn: &Conn, work: impl FnOnce() -> Result<R>) -> Result<R> {
        if conn.dialect() != Backend::Postgres || !self.inner.transaction.is_open() {
            return work();
        }
        conn.control("SAVEPOINT orm_raw")?;
        match work() {
            Ok(value) => {
                conn.control("RELEASE orm_raw")?;
                Ok(value)
            }
            Err(error) => {
                conn.control("ROLLBACK TO orm_raw")?;
                conn.control("RELEASE orm_raw")?;
                Err(error)
            }
        }
    }
}

/// The parameters' values, in order.
fn values<'a>(params: &'a [&'a dyn ToValue]) -> Vec<Bound<'a>> {
    params.iter().map(|p| p.to_value()).collect()
}

/// The values bound by position (no column to name in errors).
fn bind<'a>(values: &'a [Bound<'a>]) -> Vec<Param<'a>> {
    values.iter().map(|v| Param::new(v.as_ref(), "?")).collect()
}

/// Checks that `params` fill the placeholders of `sql`; returns the names
/// of its result columns.
fn checked_params(conn: &Conn, sql: &str, params: &[&dyn ToValue]) -> Result<Vec<String>> {
    let (expected, columns) = conn.describe(sql)?;
    if expected != params.len() {
        return Err(Error::Parameters {
            sql: sql.to_owned(),
            expected,
            given: params.len(),
        });
    }
    Ok(columns)
}
