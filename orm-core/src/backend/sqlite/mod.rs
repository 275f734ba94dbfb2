//! The SQLite backend's edge: connections (files, in WAL mode unless told
//! otherwise; shared in-memory databases; the PRAGMAs every connection gets,
//! with the journal modes and synchronous levels they name), orm's values
//! into rusqlite's and back, rows, and the classification of SQLite's errors;
//! in [`introspect`] the live schema, in [`migration`] how SQLite migrates,
//! in `key_list` how a preload binds many keys as one parameter.
//!
//! Does not decide which settings a database gets: `database` does, from
//! its `OpenOptions`, and runs the user's connect hook after these.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub(crate) mod introspect;
pub(crate) mod migration;
pub(crate) mod tokens;

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

/// Prepared statements rusqlite's cache keeps per connection (queries
/// with long key lists, many-to-many loads, a flush's INSERTs; a handful
/// per table). Beside them a connection keeps the statements of the
/// texts it keeps (built from metadata, and per query shape), as many as
/// it keeps texts (`sql::statements`).
const STATEMENT_CACHE: usize = 128;

/// How SQLite keeps the journal that makes a transaction atomic
/// (`PRAGMA journal_mode`). Files default to [`JournalMode::Wal`].
///
/// For an in-memory database the journal is in memory whatever the mode
/// (SQLite reports `memory` until told otherwise) and [`JournalMode::Wal`]
/// is not available: asked for, SQLite keeps the mode it had.
///
/// ```
/// # fn main() -> orm::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("orm-doc-journal-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).expect("a temp dir");
/// let db = orm::Database::options()
///     .journal_mode(orm::JournalMode::Truncate)
///     .open(dir.join("shop.db"))?;
/// let modes: Vec<String> = db.session().sql_values("PRAGMA journal_mode", &[])?;
/// assert_eq!(modes, ["truncate"]);
/// # drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JournalMode {
    /// A write-ahead log beside the file: readers do not wait for the
    /// writer and the writer does not wait for readers. The mode is
    /// recorded in the file, so every later connection (of any program)
    /// uses it. Needs shared memory between the processes that open the
    /// file: not on a network file system.
    Wal,
    /// A rollback journal beside the file, deleted when each transaction
    /// ends (SQLite's own default). A writer waits until no one reads, and
    /// readers wait for the writer.
    Delete,
    /// As [`JournalMode::Delete`], but the journal is truncated to zero
    /// bytes instead of deleted (faster on some file systems).
    Truncate,
    /// As [`JournalMode::Delete`], but the journal's header is zeroed and
    /// the file kept.
    Persist,
    /// The rollback journal in memory: rollback works, but a crash in the
    /// middle of a write can corrupt the file.
    Memory,
    /// No journal at all. `ROLLBACK` then has undefined results, so a flush
    /// or a savepoint that fails half-way can leave part of its work
    /// written: the ORM's all-or-nothing guarantee is lost. For data you
    /// can throw away.
    Off,
}

impl JournalMode {
    /// The value `PRAGMA journal_mode` takes.
    fn as_sql(self) -> &'static str {
        match self {
            JournalMode::Wal => "WAL",
            JournalMode::Delete => "DELETE",
            JournalMode::Truncate => "TRUNCATE",
            JournalMode::Persist => "PERSIST",
            JournalMode::Memory => "MEMORY",
            JournalMode::Off => "OFF",
        }
    }
}

/// How often SQLite waits for the disk to confirm a write
/// (`PRAGMA synchronous`): durability against power loss traded for
/// speed. An application that crashes loses nothing it committed at any
/// level; the levels differ when the machine loses power. SQLite's default
/// is [`Synchronous::Full`].
///
/// ```
/// # fn main() -> orm::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("orm-doc-synchronous-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).expect("a temp dir");
/// // The usual choice with WAL: fast commits, never a corrupt file.
/// let db = orm::Database::options()
///     .synchronous(orm::Synchronous::Normal)
///     .open(dir.join("shop.db"))?;
/// let levels: Vec<i64> = db.session().sql_values("PRAGMA synchronous", &[])?;
/// assert_eq!(levels, [1]); // SQLite reports the level as a number
/// # drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Synchronous {
    /// Never waits for the disk: a power loss can corrupt the file.
    Off,
    /// Waits at the critical moments only. With [`JournalMode::Wal`] a
    /// power loss can lose the last commits but never corrupts the file;
    /// with a rollback journal it can, rarely, corrupt it.
    Normal,
    /// Waits at every commit (SQLite's default): a commit that returned
    /// survives a power loss.
    Full,
    /// As [`Synchronous::Full`], and also waits for the directory after a
    /// rollback journal is deleted, so that the commit survives a power
    /// loss right after it in [`JournalMode::Delete`].
    Extra,
}

impl Synchronous {
    /// The value `PRAGMA synchronous` takes.
    fn as_sql(self) -> &'static str {
        match self {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        }
    }
}

/// How every connection of one database is opened and set up (the busy
/// timeout aside: it can change while the database is open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `None`: WAL for a file, SQLite's `memory` for an in-memory database.
    pub(crate) journal_mode: Option<JournalMode>,
    /// `None`: SQLite's default.
    pub(crate) synchronous: Option<Synchronous>,
    pub(crate) foreign_keys: bool,
    pub(crate) read_only: bool,
    pub(crate) create_if_missing: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            journal_mode: None,
            synchronous: None,
            foreign_keys: true,
            read_only: false,
            create_if_missing: true,
        }
    }
}

/// A connection to a database file, set up as `settings` say.
///
/// A read-only connection cannot change the file's journal, so it reads in
/// the mode the file has, whatever `settings` ask.
pub(crate) fn open_file(
    path: &Path,
    settings: &Settings,
    busy_timeout: Duration,
) -> Result<Connection> {
    let access = if settings.read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else if settings.create_if_missing {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    // URIs stay allowed (`file:shop.db?mode=ro`), as `Connection::open` allows them.
    let flags = access | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    let journal_mode =
        (!settings.read_only).then(|| settings.journal_mode.unwrap_or(JournalMode::Wal));
    set_up(&conn, settings, journal_mode, busy_timeout)?;
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

/// A connection to the in-memory database `uri`, set up as `settings` say
/// (read-only and create-if-missing do not apply: the database is new and
/// empty).
pub(crate) fn open_memory(
    uri: &str,
    settings: &Settings,
    busy_timeout: Duration,
) -> Result<Connection> {
    let conn = keep_alive(uri)?;
    set_up(&conn, settings, settings.journal_mode, busy_timeout)?;
    Ok(conn)
}

/// A bare connection to the in-memory database `uri`, creating it: it keeps
/// the database alive while no session uses it, and runs no statement.
pub(crate) fn keep_alive(uri: &str) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Ok(Connection::open_with_flags(uri, flags)?)
}

/// The PRAGMAs of a new connection. A lock another connection holds past
/// the busy timeout (switching the journal or reading the schema needs
/// one) is [`Error::Busy`], with no table.
fn set_up(
    conn: &Connection,
    settings: &Settings,
    journal_mode: Option<JournalMode>,
    busy_timeout: Duration,
) -> Result<()> {
    // First, so that the PRAGMAs below wait for a lock as long as any
    // statement of a session would.
    conn.busy_timeout(busy_timeout)?;
    let pragma = |name: &str, value: &str| {
        conn.pragma_update(None, name, value)
            .map_err(|e| classify(e, ""))
    };
    pragma(
        "foreign_keys",
        if settings.foreign_keys { "ON" } else { "OFF" },
    )?;
    if let Some(mode) = journal_mode {
        pragma("journal_mode", mode.as_sql())?;
    }
    if let Some(level) = settings.synchronous {
        pragma("synchronous", level.as_sql())?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Sets `PRAGMA name = value` on `conn`, the value written as a SQL literal.
pub(crate) fn pragma_update(conn: &Connection, name: &str, value: ValueRef<'_>) -> Result<()> {
    let value = rusqlite::types::ToSqlOutput::Borrowed(to_driver(value));
    conn.pragma_update(None, name, value)
        .map_err(|e| classify(e, ""))
}
