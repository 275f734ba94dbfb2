//! Database: where the data lives and what every connection to it shares
//! (echo, recorders, busy timeout, the options each connection is opened
//! with and the hooks run on it, a pool of idle connections). Cheap to
//! clone and `Send + Sync`, so a server keeps one and gives each request its
//! own [`Session`].
//!
//! [`Database::open`] and [`Database::in_memory`] use the defaults;
//! [`Database::options`] starts an [`OpenOptions`] for the rest (journal
//! mode, synchronous level, foreign keys, read-only, a hook per new
//! connection):
//!
//! ```
//! # fn main() -> orm::Result<()> {
//! let db = orm::Database::options()
//!     .busy_timeout(std::time::Duration::from_millis(100))
//!     .on_connect(|conn| conn.pragma_update("cache_size", -4000))
//!     .in_memory()?;
//! assert_eq!(db.session().sql_values::<i64>("PRAGMA cache_size", &[])?, [-4000]);
//! # Ok(()) }
//! ```
//!
//! A connection is opened when a session (or a method of the database)
//! needs one and the pool has none idle; the options and hooks run then,
//! once per connection. A session gives its connection back to the pool
//! when it is dropped.
//!
//! Does not hold objects; sessions do.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

mod options;

pub use options::{NewConnection, OpenOptions};

use crate::backend::Backend;
#[cfg(feature = "postgres")]
use crate::backend::postgres;
use crate::backend::sqlite::{self, Settings};
use crate::error::DriftReport;
use crate::error::{Error, Result};
use crate::migrate::drift;
use crate::schema::{ModelSet, TableDef, dependency_order, links_of};
use crate::session::Session;
use crate::sql::echo::{Echo, Observers, Recorder};
use crate::sql::{Conn, Raw, SqliteConn, Texts, quote};

/// How long a statement waits for another connection's lock before failing
/// with [`Error::Busy`], unless [`OpenOptions::busy_timeout`] or
/// [`Database::set_busy_timeout`] says otherwise.
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

enum Location {
    File(PathBuf),
    /// A `memdb` database; the keep-alive connection holds it open while
    /// no session is using it.
    Memory {
        uri: String,
        _keep_alive: Mutex<Connection>,
    },
    /// A PostgreSQL server, through a pool of connections to it.
    #[cfg(feature = "postgres")]
    Server(postgres::Pool),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => f.debug_tuple("File").field(path).finish(),
            Location::Memory { uri, .. } => f.debug_struct("Memory").field("uri", uri).finish(),
            #[cfg(feature = "postgres")]
            Location::Server(pool) => f.debug_tuple("Server").field(&pool.state()).finish(),
        }
    }
}

/// What every session of one database shares.
#[derive(Debug)]
pub(crate) struct Shared {
    location: Location,
    pub(crate) observers: Arc<Observers>,
    busy_timeout_ms: AtomicU64,
    settings: Settings,
    on_connect: options::OnConnect,
    /// Idle SQLite connections, each with the SQL texts built for it (and
    /// their statements, kept prepared).
    idle: Mutex<Vec<(SqliteConn, Texts)>>,
    /// Counts the schema changes made through this database (DDL, a
    /// migration): a PostgreSQL connection forgets the statements it
    /// prepared before the last one, which the server would refuse to run
    /// once their tables changed ("cached plan must not change result
    /// type"). SQLite prepares such statements again by itself.
    schema_changes: AtomicU64,
}

impl Database {
    /// Opens (or creates) a database file with the default options: WAL
    /// mode, foreign keys on, a busy timeout of [`DEFAULT_BUSY_TIMEOUT`].
    /// One connection is opened now, so that a bad path fails here rather
    /// than at first use.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("orm-doc-database-open-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).expect("a temp dir");
    /// let db = orm::Database::open(dir.join("shop.db"))?;
    /// assert_eq!(db.session().sql_values::<String>("PRAGMA journal_mode", &[])?, ["wal"]);
    /// # drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Busy`] when another connection holds a lock the opening
    /// needs (switching the file to WAL) past the busy timeout;
    /// [`Error::Sqlite`] when the file cannot be opened or is not a database.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        OpenOptions::new().open(path)
    }

    /// Options for opening a database: a busy timeout, the journal mode,
    /// the synchronous level, foreign keys, read-only, create-if-missing,
    /// and hooks run on every new connection. See [`OpenOptions`].
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .synchronous(orm::Synchronous::Normal)
    ///     .in_memory()?;
    /// # let _ = db;
    /// # Ok(()) }
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Creates an empty database in memory, shared by every session of this
    /// `Database` (and its clones) and freed when the last one is dropped.
    ///
    /// Unlike a file in WAL mode, an in-memory database locks as a whole:
    /// while one session holds a write transaction (from a flush until its
    /// commit or rollback), other sessions' reads wait for it, up to the busy
    /// timeout. Use a file for concurrent sessions.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// assert_eq!(db.session().sql_values::<bool>("PRAGMA foreign_keys", &[])?, [true]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlite`] if SQLite cannot allocate it.
    pub fn in_memory() -> Result<Database> {
        OpenOptions::new().in_memory()
    }

    /// The database at `location`, opened with `options`, with one
    /// connection in its pool.
    fn start(location: Location, options: OpenOptions) -> Result<Database> {
        let (busy_timeout_ms, settings, on_connect) = options.into_parts()?;
        let db = Database {
            shared: Arc::new(Shared {
                location,
                observers: Arc::default(),
                busy_timeout_ms: AtomicU64::new(busy_timeout_ms),
                settings,
                on_connect,
                idle: Mutex::new(Vec::new()),
                schema_changes: AtomicU64::new(0),
            }),
        };
        let conn = db.connect()?;
        db.release(conn);
        Ok(db)
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
    /// failing with [`Error::Busy`]. Applies to sessions started afterwards (and to connections opened for them).
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
        let millis = options::busy_timeout_millis(timeout)?;
        self.shared.busy_timeout_ms.store(millis, Ordering::Relaxed);
        Ok(())
    }

    /// The backend the database is on.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// assert_eq!(db.backend(), orm::Backend::Sqlite);
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> Backend {
        match self.shared.location {
            Location::File(_) | Location::Memory { .. } => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Location::Server(_) => Backend::Postgres,
        }
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
        let result = conn.because(
            true,
            || "Database::execute_batch".to_owned(),
            || conn.control(sql),
        );
        self.release(conn);
        self.schema_changed();
        result
    }

    /// Notes that the schema may have changed (see `Shared::schema_changes`).
    pub(crate) fn schema_changed(&self) {
        self.shared.schema_changes.fetch_add(1, Ordering::Relaxed);
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
        let result = conn.because(
            true,
            || "create_all".to_owned(),
            || self.create_tables(&conn, &tables),
        );
        self.release(conn);
        self.schema_changed();
        result
    }

    fn create_tables(&self, conn: &Conn, tables: &[&'static TableDef]) -> Result<()> {
        let links = links_of(tables);
        let names = tables
            .iter()
            .map(|t| t.name)
            .chain(links.iter().map(|l| l.table));
        let mut missing = false;
        let mut existing = false;
        for name in names {
            let exists = table_exists(conn, name)?;
            missing |= !exists;
            existing |= exists;
        }
        if existing {
            let report = drift::report(conn, tables)?;
            if !report.is_empty() {
                return Err(Error::Drift(report));
            }
        }
        if !missing {
            return Ok(());
        }
        let dialect = conn.dialect();
        conn.begin()?;
        let created = tables.iter().try_for_each(|table| {
            if table_exists(conn, table.name)? {
                return Ok(());
            }
            conn.because(
                false,
                || format!("create {}", table.name),
                || conn.execute(&table.create_table_sql_in(dialect), &[], table.name),
            )?;
            for index in table.indexes {
                conn.because(
                    false,
                    || format!("create index {}", index.name),
                    || conn.execute(&index.create_sql(table.name), &[], table.name),
                )?;
            }
            Ok(())
        });
        // Link tables last: they reference both ends.
        let created = created.and_then(|()| {
            links_of(tables).into_iter().try_for_each(|link| {
                if table_exists(conn, link.table)? {
                    return Ok(());
                }
                conn.because(
                    false,
                    || format!("create {}", link.table),
                    || conn.execute(&link.create_table_sql_in(dialect), &[], link.table),
                )?;
                conn.because(
                    false,
                    || format!("create index {}", link.index_name()),
                    || conn.execute(&link.create_index_sql(), &[], link.table),
                )?;
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
        let result = conn.because(
            true,
            || "drop_all".to_owned(),
            || drop_tables(&conn, &tables),
        );
        self.release(conn);
        self.schema_changed();
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
        #[cfg(feature = "postgres")]
        if let Location::Server(pool) = &self.shared.location {
            let mut client = postgres::take(pool)?;
            // The timeout may have changed since the connection was opened,
            // and the schema.
            client.set_lock_timeout(self.shared.busy_timeout_ms.load(Ordering::Relaxed))?;
            client.prepared_since(self.shared.schema_changes.load(Ordering::Relaxed));
            return Ok(Conn::new(
                Raw::Postgres(Box::new(std::cell::RefCell::new(client))),
                Arc::clone(&self.shared.observers),
                Texts::default(),
            ));
        }
        let idle = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let (raw, texts) = match idle {
            Some((raw, texts)) => {
                // The timeout may have changed since the connection was opened.
                raw.connection().busy_timeout(self.busy_timeout())?;
                (raw, texts)
            }
            None => (SqliteConn::open(self.open_raw()?), Texts::default()),
        };
        Ok(Conn::new(
            Raw::Sqlite(raw),
            Arc::clone(&self.shared.observers),
            texts,
        ))
    }

    /// Returns a connection to the idle pool; one left inside a transaction
    /// is rolled back first, and one that cannot be is closed.
    pub(crate) fn release(&self, conn: Conn) {
        let (raw, texts) = match conn.into_parts() {
            (Raw::Sqlite(raw), texts) => (raw, texts),
            #[cfg(feature = "postgres")]
            (Raw::Postgres(client), _) => {
                let mut client = client.into_inner();
                // Back to the pool unless broken (the pool checks) or stuck
                // in a transaction that will not roll back.
                if client.in_transaction() && client.batch("ROLLBACK").is_err() {
                    client.discard();
                }
                return;
            }
        };
        let connection = raw.connection();
        if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
            return;
        }
        // A migration turns foreign keys back on when it ends; a database
        // opened without them gets them off again before the connection is
        // reused.
        if !self.shared.settings.foreign_keys
            && connection
                .execute_batch("PRAGMA foreign_keys = OFF")
                .is_err()
        {
            return;
        }
        self.shared
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((raw, texts));
    }

    /// A new connection with the database's options set and its hooks run;
    /// if a hook fails, the connection is closed.
    fn open_raw(&self) -> Result<Connection> {
        let shared = &self.shared;
        let timeout = self.busy_timeout();
        let raw = match &shared.location {
            Location::File(path) => sqlite::open_file(path, &shared.settings, timeout)?,
            Location::Memory { uri, .. } => sqlite::open_memory(uri, &shared.settings, timeout)?,
            #[cfg(feature = "postgres")]
            Location::Server(_) => {
                return Err(Error::Unsupported {
                    what: "a SQLite connection",
                    detail: "to a PostgreSQL server",
                });
            }
        };
        shared.on_connect.run(raw)
    }

    fn busy_timeout(&self) -> Duration {
        Duration::from_millis(self.shared.busy_timeout_ms.load(Ordering::Relaxed))
    }
}

/// Whether `table` exists in the database behind `conn`.
fn table_exists(conn: &Conn, table: &str) -> Result<bool> {
    #[cfg(feature = "postgres")]
    if let Some(mut client) = conn.postgres() {
        return postgres::table_exists(&mut client, table);
    }
    sqlite::introspect::table_exists(conn.sqlite("reading the schema")?, table)
}

/// Drops `tables` (children first) and their link tables, in one
/// transaction.
fn drop_tables(conn: &Conn, tables: &[&'static TableDef]) -> Result<()> {
    conn.begin()?;
    let links: Vec<&str> = links_of(tables).iter().map(|l| l.table).collect();
    let names = links.into_iter().chain(tables.iter().map(|t| t.name));
    let dropped = names.into_iter().try_for_each(|table| {
        let sql = format!("DROP TABLE IF EXISTS {}", quote(table));
        conn.because(
            false,
            || format!("drop {table}"),
            || conn.execute(&sql, &[], table),
        )
        .map(|_| ())
    });
    match dropped {
        Ok(()) => conn.control("COMMIT"),
        Err(e) => conn.control("ROLLBACK").and(Err(e)),
    }
}
