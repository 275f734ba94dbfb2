//! The SQLite backend's edge: connections (files in WAL mode, shared
//! in-memory databases, the PRAGMAs every connection gets), orm's values
//! into rusqlite's and back, rows, and the classification of SQLite's errors;
//! in [`introspect`] the live schema, in [`migration`] how SQLite migrates,
//! in `key_list` how a preload binds many keys as one parameter.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags};

pub(crate) mod introspect;
mod key_list;
pub(crate) mod migration;
pub(crate) mod tokens;

pub(crate) use key_list::{KeyForm, key_lists};

use rusqlite::types::ValueRef as DriverValue;

use crate::error::{ConstraintKind, Error, Result};
use crate::value::{FromValueError, Row, Value, ValueRef};

/// A value as rusqlite binds it (borrowed: nothing is copied).
#[inline]
pub(crate) fn to_driver(value: ValueRef<'_>) -> DriverValue<'_> {
    match value {
        ValueRef::Null => DriverValue::Null,
        ValueRef::Integer(i) => DriverValue::Integer(i),
        ValueRef::Real(f) => DriverValue::Real(f),
        ValueRef::Text(s) => DriverValue::Text(s.as_bytes()),
        ValueRef::Blob(b) => DriverValue::Blob(b),
    }
}

/// A value as rusqlite read it; SQLite text need not be UTF-8.
#[inline]
pub(crate) fn from_driver(value: DriverValue<'_>) -> Result<ValueRef<'_>, FromValueError> {
    Ok(match value {
        DriverValue::Null => ValueRef::Null,
        DriverValue::Integer(i) => ValueRef::Integer(i),
        DriverValue::Real(f) => ValueRef::Real(f),
        DriverValue::Text(bytes) => {
            ValueRef::Text(std::str::from_utf8(bytes).map_err(|_| FromValueError::NotUtf8)?)
        }
        DriverValue::Blob(b) => ValueRef::Blob(b),
    })
}

/// A rusqlite row, read through orm's [`Row`].
pub(crate) struct SqliteRow<'r, 's>(pub &'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    // Inlined into each model's `from_row` (another crate): a load reads
    // every column of every row through here.
    #[inline]
    fn value(&self, index: usize) -> Result<ValueRef<'_>, FromValueError> {
        match self.0.get_ref(index) {
            Ok(value) => from_driver(value),
            Err(e) => Err(unreadable(e)),
        }
    }
}

/// A column rusqlite could not hand over (an index past the row's end).
#[cold]
fn unreadable(e: rusqlite::Error) -> FromValueError {
    FromValueError::Invalid(e.to_string())
}

impl SqliteRow<'_, '_> {
    /// Column `index`, owned, for messages: text that is not UTF-8 is shown
    /// with replacement characters rather than refused (a migration's
    /// hazard names such rows).
    pub(crate) fn lossy(&self, index: usize) -> Result<Value> {
        Ok(match self.0.get_ref(index)? {
            DriverValue::Null => Value::Null,
            DriverValue::Integer(i) => Value::Integer(i),
            DriverValue::Real(f) => Value::Real(f),
            DriverValue::Text(bytes) => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
            DriverValue::Blob(b) => Value::Blob(b.to_vec()),
        })
    }
}

/// Classifies a SQLite error raised by a statement on `table` (only ever on
/// a failure, so kept out of the statement paths).
#[cold]
pub(crate) fn classify(err: rusqlite::Error, table: &str) -> Error {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(code, message) = &err {
        if code.code == rusqlite::ErrorCode::DatabaseBusy
            || code.code == rusqlite::ErrorCode::DatabaseLocked
        {
            return Error::Busy {
                table: table.to_owned(),
            };
        }
        if code.code == rusqlite::ErrorCode::ConstraintViolation {
            let text = message.as_deref().unwrap_or("");
            let kind = match code.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    ConstraintKind::Unique
                }
                ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
                ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
                // Some paths (a RESTRICT action, for one) report only the
                // primary code; SQLite's message still names the kind.
                _ if text.starts_with("FOREIGN KEY") => ConstraintKind::ForeignKey,
                _ if text.starts_with("UNIQUE") => ConstraintKind::Unique,
                _ if text.starts_with("NOT NULL") => ConstraintKind::NotNull,
                _ if text.starts_with("CHECK") => ConstraintKind::Check,
                _ => ConstraintKind::Other,
            };
            return Error::Constraint {
                table: table.to_owned(),
                kind,
                detail: message.clone().unwrap_or_else(|| err.to_string()),
            };
        }
    }
    Error::Sqlite(err)
}

/// Prepared statements each connection keeps (the flush and loads reuse a
/// handful per table).
const STATEMENT_CACHE: usize = 128;

/// A connection to a database file: foreign keys on, WAL journal (readers
/// do not wait for a writer).
pub(crate) fn open_file(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A name for a new in-memory database that every connection of this
/// process can open (SQLite's `memdb` VFS), unique per call.
pub(crate) fn memory_uri() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "file:/orm-memory-{}-{}?vfs=memdb",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connection to the in-memory database `uri`, foreign keys on.
pub(crate) fn open_memory(uri: &str) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}
