//! Upsert: insert a row, or update the one already holding its unique
//! key (`INSERT ... ON CONFLICT ... DO UPDATE` / `DO NOTHING`), with the
//! identity map ending at one object for the row.

use std::rc::Rc;

use super::{Session, SessionInner};
use crate::backend::Backend;
use crate::error::{Error, Misuse, Result};
use crate::model::Model;
use crate::query::Column;
use crate::sql::{Param, text};
use crate::state::{Handle, Node};
use crate::value::{Bound, ColumnType, Value, ValueRef};

impl Session {
    /// Inserts `value`, or, when a row already holds its `conflict` key (the
    /// primary key or a unique column), updates that row with every other
    /// column of `value`: one `INSERT ... ON CONFLICT (...) DO UPDATE`
    /// statement. Returns the row's object: the one already loaded, now
    /// with the row's values, or a new persistent one. Pending changes are
    /// flushed first.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, #[orm(unique)] email: String, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let ann = session.add(User::new("ann@example.com", "Ann"));
    /// session.commit()?;
    /// let again = session.upsert(User::new("ann@example.com", "Ann Lee"), User::EMAIL)?;
    /// assert_eq!(again, ann); // one object for the row
    /// assert_eq!(ann.read()?.name, "Ann Lee");
    /// let bob = session.upsert(User::new("bob@example.com", "Bob"), User::EMAIL)?;
    /// assert_eq!(session.query::<User>().count()?, 2);
    /// # let _ = bob;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Misuse::NotUnique`] when `conflict` is neither the primary key nor
    /// unique; [`Error::Borrowed`] when the row's loaded object is borrowed
    /// (the statement is undone); [`Error::Constraint`] for another
    /// constraint the row breaks; errors of the flush before it.
    pub fn upsert<T: Model, V: ColumnType>(
        &self,
        value: T,
        conflict: Column<T, V>,
    ) -> Result<Handle<T>> {
        let found = self.inner.because(
            || format!("upsert into {}", T::TABLE.name),
            || self.inner.upsert_values(vec![value], conflict.name(), true),
        )?;
        found
            .into_iter()
            .next()
            .map(Handle::from_node)
            .ok_or_else(|| Error::NotFound {
                table: T::TABLE.name.to_owned(),
                what: "the upserted row".to_owned(),
            })
    }

    /// Inserts `value` unless a row already holds its `conflict` key (`ON
    /// CONFLICT (...) DO NOTHING`): returns the new object, or `None` when
    /// the row existed (left as it was).
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, #[orm(unique)] email: String, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// assert!(session.insert_or_ignore(User::new("ann@example.com", "Ann"), User::EMAIL)?.is_some());
    /// assert!(session.insert_or_ignore(User::new("ann@example.com", "Other"), User::EMAIL)?.is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::upsert`].
    pub fn insert_or_ignore<T: Model, V: ColumnType>(
        &self,
        value: T,
        conflict: Column<T, V>,
    ) -> Result<Option<Handle<T>>> {
        let found = self.inner.because(
            || format!("insert_or_ignore into {}", T::TABLE.name),
            || {
                self.inner
                    .upsert_values(vec![value], conflict.name(), false)
            },
        )?;
        Ok(found.into_iter().next().map(Handle::from_node))
    }

    /// Upserts many rows in one transaction step, through one prepared
    /// statement, without loading them: returns how many rows were written.
    /// Loaded objects of those rows take the new values (one object per row
    /// still); rows not loaded stay unloaded. All or nothing: a row that
    /// fails undoes the others.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, #[orm(unique)] email: String, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let rows = vec![User::new("a@x", "A"), User::new("b@x", "B"), User::new("a@x", "A2")];
    /// assert_eq!(session.upsert_rows(rows, User::EMAIL)?, 3);
    /// assert_eq!(session.query::<User>().count()?, 2);
    /// assert!(session.is_empty()); // nothing loaded
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::upsert`].
    pub fn upsert_rows<T: Model, V: ColumnType>(
        &self,
        values: Vec<T>,
        conflict: Column<T, V>,
    ) -> Result<usize> {
        self.inner.because(
            || format!("upsert_rows into {}", T::TABLE.name),
            || self.inner.upsert_rows(values, conflict.name()),
        )
    }
}

impl SessionInner {
    /// Fails unless `conflict` is the key or a unique column of `T`.
    fn check_conflict_target<T: Model>(conflict: &'static str) -> Result<()> {
        let table = T::TABLE;
        let unique = table
            .columns
            .iter()
            .any(|c| c.name == conflict && (c.primary_key || c.unique))
            || table
                .indexes
                .iter()
                .any(|i| i.unique && i.columns == [conflict]);
        if unique {
            Ok(())
        } else {
            Err(Misuse::NotUnique {
                table: table.name,
                column: conflict,
            }
            .into())
        }
    }

    /// Runs the upsert of each value; each returned row goes through the
    /// identity map (overwriting the object already loaded).
    fn upsert_values<T: Model>(
        self: &Rc<Self>,
        values: Vec<T>,
        conflict: &'static str,
        update: bool,
    ) -> Result<Vec<Rc<Node<T>>>> {
        Self::check_conflict_target::<T>(conflict)?;
        self.flush()?;
        let mut found = Vec::new();
        self.bulk_statement(|conn| {
            for value in &values {
                let (sql, bound) = upsert_statement(value, conflict, update, conn.dialect());
                conn.query(&sql, &params(&bound), T::TABLE.name, |row| {
                    found.push(self.load_row_into::<T>(row, true)?);
                    Ok(())
                })?;
            }
            Ok(())
        })?;
        Ok(found)
    }

    fn upsert_rows<T: Model>(
        self: &Rc<Self>,
        values: Vec<T>,
        conflict: &'static str,
    ) -> Result<usize> {
        Self::check_conflict_target::<T>(conflict)?;
        self.flush()?;
        let table = T::TABLE;
        let mut written = 0;
        let mut loaded: Vec<(Rc<Node<T>>, Vec<Value>)> = Vec::new();
        self.bulk_statement(|conn| {
            for value in &values {
                let (sql, bound) = upsert_statement(value, conflict, true, conn.dialect());
                conn.query(&sql, &params(&bound), table.name, |row| {
                    written += 1;
                    if let Some(node) = self.loaded::<T>(row, table.primary_key)? {
                        loaded.push((node, super::bulk::row_values(table, row)?));
                    }
                    Ok(())
                })?;
            }
            loaded
                .iter()
                .try_for_each(|(node, _)| node.borrow_mut().map(drop))
        })?;
        self.take_rows(table, &loaded)?;
        Ok(written)
    }
}

/// The statement text for `value` (its unset `Defaulted` columns left
/// out) and the values it binds, in order.
fn upsert_statement<T: Model>(
    value: &T,
    conflict: &str,
    update: bool,
    dialect: Backend,
) -> (String, Vec<(Value, &'static str)>) {
    let table = T::TABLE;
    let assign_key = value.key_unassigned();
    let mut left_out = value.unset_columns();
    if assign_key && dialect == Backend::Postgres && table.primary_key < 64 {
        // An identity column takes its value when left out; NULL, which
        // asks SQLite for a rowid, would break its NOT NULL.
        left_out |= 1 << table.primary_key;
    }
    let sql = text::upsert(table, conflict, left_out, update, dialect);
    let bound = table
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 64 || left_out & (1 << i) == 0)
        .map(|(i, c)| {
            let v = if assign_key && i == table.primary_key {
                Bound::Ref(ValueRef::Null)
            } else if Some(i) == table.version && value.column(i).as_ref() == ValueRef::Integer(0) {
                Bound::Ref(ValueRef::Integer(1))
            } else {
                value.column(i)
            };
            (Value::from(v), c.name)
        })
        .collect();
    (sql, bound)
}

fn params<'a>(bound: &'a [(Value, &'static str)]) -> Vec<Param<'a>> {
    bound
        .iter()
        .map(|(v, c)| Param::new(v.as_ref(), c))
        .collect()
}
