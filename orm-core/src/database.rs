//! Database: where the data lives and what every connection to it shares
//! (echo, recorders, busy timeout, a pool of idle connections). Cheap to
//! clone and `Send + Sync`, so a server keeps one and gives each request its
//! own [`Session`].
//!
//! Does not hold objects; sessions do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::backend::sqlite;
use crate::error::DriftReport;
use crate::error::{Error, Result};
use crate::migrate::drift;
use crate::schema::{ModelSet, TableDef, dependency_order, links_of};
use crate::session::Session;
use crate::sql::echo::{Echo, Observers, Recorder};
use crate::sql::{Conn, quote};

/// How long a write waits for another connection's lock before failing
/// with [`Error::Busy`], unless [`Database::set_busy_timeout`] says otherwise.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A SQLite database: a file, or memory shared by this process's sessions.
///
/// ```
/// # fn main() -> orm::Result<()> {
/// let db = orm::Database::in_memory()?;
/// let other_handle = db.clone(); // same database, shareable across threads
/// # let _ = other_handle;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
enum Location {
    File(PathBuf),
    /// A `memdb` database; the keep-alive connection holds it open while
    /// no session is using it.
    Memory {
        uri: String,
        _keep_alive: Mutex<Connection>,
    },
}

/// What every session of one database shares.
#[derive(Debug)]
pub(crate) struct Shared {
    location: Location,
    pub(crate) observers: Arc<Observers>,
    busy_timeout_ms: AtomicU64,
    idle: Mutex<Vec<Connection>>,
}

impl Database {
    /// Opens (or creates) a database file, in WAL mode with a busy timeout.
    ///
    /// # Errors
    /// [`Error::Sqlite`] when the file cannot be opened or is not a database.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        let db = Database::with_location(Location::File(path.as_ref().to_path_buf()));
        // Open one connection now so a bad path fails here, not at first use.
        let conn = db.connect()?;
        db.release(conn);
        Ok(db)
    }

    /// Creates an empty database in memory, shared by every session of this
    /// `Database` (and its clones) and freed when the last one is dropped.
    ///
    /// Unlike a file in WAL mode, an in-memory database locks as a whole:
    /// while one session holds a write transaction (from a flush until its
    /// commit or rollback), other sessions' reads wait for it, up to the busy
    /// timeout. Use a file for concurrent sessions.
    ///
    /// # Errors
    /// [`Error::Sqlite`] if SQLite cannot allocate it.
    pub fn in_memory() -> Result<Database> {
        let uri = sqlite::memory_uri();
        let keep_alive = sqlite::open_memory(&uri)?;
        Ok(Database::with_location(Location::Memory {
            uri,
            _keep_alive: Mutex::new(keep_alive),
        }))
    }

    fn with_location(location: Location) -> Database {
        Database {
            shared: Arc::new(Shared {
                location,
                observers: Arc::default(),
                busy_timeout_ms: AtomicU64::new(DEFAULT_BUSY_TIMEOUT.as_millis() as u64),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Turns the SQL echo on or off: `true` prints every statement with its
    /// parameters to stderr; [`Echo::Log`] sends them to the `log` facade.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// db.set_echo(true);
    /// db.set_echo(orm::Echo::Log);
    /// db.set_echo(false);
    /// # Ok(()) }
    /// ```
    pub fn set_echo(&self, echo: impl Into<Echo>) {
        self.shared.observers.set_echo(echo.into());
    }

    /// Starts recording the statements every session of this database issues,
    /// until the returned [`Recorder`] is dropped.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// let recorder = db.recorder();
    /// db.execute_batch("CREATE TABLE t (x INTEGER)")?;
    /// db.session().execute("INSERT INTO t VALUES (1)", &[])?;
    /// // Statements that read or write rows; DDL and BEGIN are in `statements()`.
    /// assert_eq!(recorder.sql(), ["INSERT INTO t VALUES (1)"]);
    /// assert_eq!(recorder.statements().len(), 3);
    /// # Ok(()) }
    /// ```
    pub fn recorder(&self) -> Recorder {
        self.shared.observers.recorder()
    }

    /// Sets how long a statement waits for another connection's lock before
    /// failing with [`Error::Busy`]. Applies to sessions started afterwards.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// db.set_busy_timeout(std::time::Duration::from_millis(250))?;
    /// assert!(db.set_busy_timeout(std::time::Duration::from_secs(u64::MAX)).is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfRange`] for a timeout longer than SQLite accepts
    /// (`i32::MAX` milliseconds, about 24 days); the setting is unchanged.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<()> {
        let millis = u64::try_from(timeout.as_millis())
            .ok()
            .filter(|&ms| ms <= i32::MAX as u64)
            .ok_or_else(|| Error::OutOfRange {
                what: "the busy timeout".to_owned(),
                value: format!("{} ms", timeout.as_millis()),
                limit: format!("SQLite accepts at most {} ms", i32::MAX),
            })?;
        self.shared.busy_timeout_ms.store(millis, Ordering::Relaxed);
        Ok(())
    }

    /// Starts a session: a unit of work with its own identity map. The
    /// connection is taken on first use.
    pub fn session(&self) -> Session {
        Session::new(self.clone())
    }

    /// Runs SQL text with no parameters (several statements allowed), as one
    /// recorded statement. For setup and teaching; data goes through sessions.
    ///
    /// # Errors
    /// [`Error::Sqlite`] or a classified error when a statement fails.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        let conn = self.connect()?;
        let result = conn.control(sql);
        self.release(conn);
        result
    }

    /// Creates the tables (and their indexes) of the models that do not exist
    /// yet, parents before children, in one transaction.
    ///
    /// Existing tables are never altered: if one differs from its model,
    /// nothing is created and the error lists every difference (see
    /// [`Database::drift`]).
    ///
    /// # Errors
    /// [`Error::Drift`] when an existing table differs from its model;
    /// [`Error::Sqlite`] when a statement fails.
    pub fn create_all<S: ModelSet>(&self) -> Result<()> {
        let tables = dependency_order(&S::tables());
        let conn = self.connect()?;
        let result = self.create_tables(&conn, &tables);
        self.release(conn);
        result
    }

    fn create_tables(&self, conn: &Conn, tables: &[&'static TableDef]) -> Result<()> {
        let report = drift::report(conn, tables)?;
        if !report.is_empty() {
            return Err(Error::Drift(report));
        }
        let mut missing = false;
        for name in tables
            .iter()
            .map(|t| t.name)
            .chain(links_of(tables).iter().map(|l| l.table))
        {
            missing |= !sqlite::introspect::table_exists(conn.raw(), name)?;
        }
        if !missing {
            return Ok(());
        }
        conn.control("BEGIN IMMEDIATE")?;
        let created = tables.iter().try_for_each(|table| {
            if sqlite::introspect::table_exists(conn.raw(), table.name)? {
                return Ok(());
            }
            conn.execute(&table.create_table_sql(), &[], table.name)?;
            for index in table.create_index_sql() {
                conn.execute(&index, &[], table.name)?;
            }
            Ok(())
        });
        // Link tables last: they reference both ends.
        let created = created.and_then(|()| {
            links_of(tables).into_iter().try_for_each(|link| {
                if sqlite::introspect::table_exists(conn.raw(), link.table)? {
                    return Ok(());
                }
                conn.execute(&link.create_table_sql(), &[], link.table)?;
                conn.execute(&link.create_index_sql(), &[], link.table)?;
                Ok(())
            })
        });
        match created {
            Ok(()) => conn.control("COMMIT"),
            Err(e) => {
                conn.control("ROLLBACK")?;
                Err(e)
            }
        }
    }

    /// Drops the models' tables that exist, children before parents.
    ///
    /// # Errors
    /// [`Error::Sqlite`] when a statement fails; nothing is dropped then.
    pub fn drop_all<S: ModelSet>(&self) -> Result<()> {
        let mut tables = dependency_order(&S::tables());
        tables.reverse();
        let conn = self.connect()?;
        conn.control("BEGIN IMMEDIATE")?;
        let links: Vec<&str> = links_of(&tables).iter().map(|l| l.table).collect();
        let names = links.into_iter().chain(tables.iter().map(|t| t.name));
        let dropped = names.into_iter().try_for_each(|table| {
            let sql = format!("DROP TABLE IF EXISTS {}", quote(table));
            conn.execute(&sql, &[], table).map(|_| ())
        });
        let result = match dropped {
            Ok(()) => conn.control("COMMIT"),
            Err(e) => conn.control("ROLLBACK").and(Err(e)),
        };
        self.release(conn);
        result
    }

    /// Compares the models with the tables that exist and reports every
    /// column, key and index that differs. Tables that do not exist yet are
    /// not drift (`create_all` creates them).
    ///
    /// # Errors
    /// [`Error::Sqlite`] when the schema cannot be read.
    pub fn drift<S: ModelSet>(&self) -> Result<DriftReport> {
        let conn = self.connect()?;
        let result = drift::report(&conn, &S::tables());
        self.release(conn);
        result
    }

    /// Takes an idle connection, or opens a new one.
    pub(crate) fn connect(&self) -> Result<Conn> {
        let idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let raw = match idle {
            Some(raw) => raw,
            None => self.open_raw()?,
        };
        let timeout = Duration::from_millis(self.shared.busy_timeout_ms.load(Ordering::Relaxed));
        raw.busy_timeout(timeout)?;
        Ok(Conn::new(raw, Arc::clone(&self.shared.observers)))
    }

    /// Returns a connection to the idle pool; one left inside a transaction
    /// is rolled back first, and one that cannot be is closed.
    pub(crate) fn release(&self, conn: Conn) {
        let raw = conn.into_raw();
        if !raw.is_autocommit() && raw.execute_batch("ROLLBACK").is_err() {
            return;
        }
        self.shared
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(raw);
    }

    fn open_raw(&self) -> Result<Connection> {
        match &self.shared.location {
            Location::File(path) => sqlite::open_file(path),
            Location::Memory { uri, .. } => sqlite::open_memory(uri),
        }
    }
}
