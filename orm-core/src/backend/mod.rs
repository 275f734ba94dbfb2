//! Backends: what differs per database, and only that. SQLite (rusqlite,
//! `bundled`) is the embedded default; PostgreSQL (the `postgres` crate,
//! behind the feature of that name) is the server. Each backend's module
//! holds its connections, how orm's values cross into the driver and back,
//! how rows are read, and how the driver's errors become
//! [`Error`](crate::Error)s; [`Backend`] holds how their SQL differs.
//! Nothing above `sql` sees a driver type.

mod key_list;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sqlite;

pub(crate) use key_list::{KeyForm, key_lists};

/// Whether `location` names a PostgreSQL server rather than a SQLite file.
pub(crate) fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Which database a [`Database`](crate::Database) talks to, and so which
/// SQL dialect it speaks. The statement texts are written once, in orm's
/// `sql` module, and ask the backend at each point where the two differ.
///
/// ```
/// # fn main() -> orm::Result<()> {
/// let db = orm::Database::in_memory()?;
/// assert_eq!(db.backend(), orm::Backend::Sqlite);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite, embedded (a file, or memory).
    Sqlite,
    /// A PostgreSQL server (the `postgres` feature).
    Postgres,
}

impl Backend {
    /// The statement that opens a write transaction. SQLite's `IMMEDIATE`
    /// takes the write lock at once, so that two writers meet at `BEGIN`
    /// (a busy error, retried by the busy timeout) rather than half-way
    /// through; PostgreSQL locks rows as they are written.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// What ends a `SELECT` of rows a statement after it will write, so
    /// that they stay as read until then: PostgreSQL locks them (`FOR
    /// UPDATE`); SQLite's write transaction (`BEGIN IMMEDIATE`) already
    /// keeps every other writer out.
    pub(crate) fn lock_rows(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The statements around a migration's steps: before them, and after.
    /// SQLite's frame switches foreign keys off (a rebuild drops a table
    /// others point at) and checks them before `COMMIT`; PostgreSQL alters
    /// tables in place, its DDL is transactional, and it checks a foreign
    /// key as it is added, so its frame is the transaction alone.
    pub(crate) fn migration_frame(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Backend::Sqlite => (&sqlite::migration::OPENING, &sqlite::migration::CLOSING),
            Backend::Postgres => (&["BEGIN"], &["COMMIT"]),
        }
    }

    /// An `ORDER BY` term's direction. SQLite sorts NULL before every
    /// value, PostgreSQL after: on PostgreSQL the NULLs are put where
    /// SQLite puts them, so that one query returns one order on both.
    pub(crate) fn order(self, descending: bool) -> &'static str {
        match (self, descending) {
            (Backend::Sqlite, false) => " ASC",
            (Backend::Sqlite, true) => " DESC",
            (Backend::Postgres, false) => " ASC NULLS FIRST",
            (Backend::Postgres, true) => " DESC NULLS LAST",
        }
    }

    /// Appends the placeholder of parameter `n` (from 1): `?` on SQLite,
    /// `$n` on PostgreSQL.
    pub(crate) fn push_placeholder(self, sql: &mut String, n: usize) {
        match self {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                sql.push('$');
                sql.push_str(&n.to_string());
            }
        }
    }

    /// `sql`, written with `?` placeholders, in this dialect: on PostgreSQL
    /// each `?` outside quotes becomes `$1`, `$2`, ... in order. The texts
    /// built from table metadata are written once this way (and cached).
    pub(crate) fn placeholders(self, sql: String) -> String {
        if self == Backend::Sqlite {
            return sql;
        }
        let mut out = String::with_capacity(sql.len() + 16);
        let mut quote = None;
        let mut n = 0;
        for ch in sql.chars() {
            match (quote, ch) {
                (None, '?') => {
                    n += 1;
                    self.push_placeholder(&mut out, n);
                    continue;
                }
                (None, '"' | '\'') => quote = Some(ch),
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            out.push(ch);
        }
        out
    }

    /// The column type of `sql_type` (SQLite's name, as the derive writes
    /// it) in this dialect. PostgreSQL has no `REAL` of 8 bytes nor `BLOB`;
    /// SQLite's integers are 8 bytes, so `INTEGER` is `BIGINT`.
    pub(crate) fn column_type(self, sql_type: &str) -> &str {
        if self == Backend::Sqlite {
            return sql_type;
        }
        match sql_type.to_ascii_uppercase().as_str() {
            "INTEGER" => "BIGINT",
            "REAL" => "DOUBLE PRECISION",
            "BLOB" => "BYTEA",
            _ => sql_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_placeholders_outside_quotes() {
        let sql = r#"SELECT "a?" FROM "t" WHERE "x" = ? AND 'y?' = ? AND "z" IN (?)"#;
        assert_eq!(
            Backend::Postgres.placeholders(sql.to_owned()),
            r#"SELECT "a?" FROM "t" WHERE "x" = $1 AND 'y?' = $2 AND "z" IN ($3)"#
        );
        assert_eq!(Backend::Sqlite.placeholders(sql.to_owned()), sql);
    }
}
