//! Open options: how a [`Database`] opens each of its connections (busy
//! timeout, journal mode, synchronous level, foreign keys, read-only,
//! create-if-missing) and the hooks that run on each new one, as
//! SQLAlchemy's `connect` event and sqlx's `SqliteConnectOptions` do.
//!
//! Owns the options until the database is opened, then the hooks; the
//! PRAGMAs themselves are the backend's (`backend::sqlite::open_file`).
//! Does not pool connections: `database` does, and a connection comes back
//! from the pool without running the hooks again.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::backend::sqlite::{self, JournalMode, Settings, Synchronous};
use crate::error::{Error, Result};
use crate::value::ToValue;

use super::{DEFAULT_BUSY_TIMEOUT, Database, Location};

/// What a hook may return as its failure: any error, an [`Error`] included.
type HookError = Box<dyn std::error::Error + Send + Sync>;

/// A hook, shared by every clone of the database and its threads.
type Hook = Arc<dyn Fn(&NewConnection) -> std::result::Result<(), HookError> + Send + Sync>;

/// How to open a [`Database`]: start with [`Database::options`], set what
/// differs from the defaults, end with [`OpenOptions::open`] or
/// [`OpenOptions::in_memory`]. The options apply to every connection the
/// database opens, the ones its pool opens later included.
///
/// The defaults are those of [`Database::open`]: a busy timeout of
/// [`DEFAULT_BUSY_TIMEOUT`], [`JournalMode::Wal`] for a file, SQLite's
/// synchronous level, foreign keys on, read-write, the file created if
/// missing, no hook.
///
/// ```
/// use std::time::Duration;
/// use orm::{Database, JournalMode, Synchronous};
///
/// # fn main() -> orm::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("orm-doc-options-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).expect("a temp dir");
/// let db = Database::options()
///     .busy_timeout(Duration::from_millis(500))
///     .journal_mode(JournalMode::Wal)
///     .synchronous(Synchronous::Normal)
///     .on_connect(|conn| conn.execute_batch("PRAGMA cache_size = -8000"))
///     .open(dir.join("shop.db"))?;
/// let session = db.session();
/// assert_eq!(session.sql_values::<String>("PRAGMA journal_mode", &[])?, ["wal"]);
/// assert_eq!(session.sql_values::<i64>("PRAGMA busy_timeout", &[])?, [500]);
/// assert_eq!(session.sql_values::<i64>("PRAGMA cache_size", &[])?, [-8000]);
/// # drop(session); drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "options do nothing until `open` or `in_memory` is called"]
pub struct OpenOptions {
    busy_timeout: Duration,
    settings: Settings,
    hooks: Vec<Hook>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            settings: Settings::default(),
            hooks: Vec::new(),
        }
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("busy_timeout", &self.busy_timeout)
            .field("settings", &self.settings)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl OpenOptions {
    /// The defaults, as [`Database::options`] gives them.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// How long a statement waits for another connection's lock before
    /// failing with [`Error::Busy`] (default [`DEFAULT_BUSY_TIMEOUT`]). It
    /// applies from the first connection on, so that opening waits as long
    /// as a statement would; [`Database::set_busy_timeout`] changes it
    /// later.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .busy_timeout(std::time::Duration::from_millis(250))
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<i64>("PRAGMA busy_timeout", &[])?, [250]);
    /// # Ok(()) }
    /// ```
    ///
    /// Opening fails with [`Error::OutOfRange`] for a timeout longer than
    /// SQLite accepts (`i32::MAX` milliseconds, about 24 days).
    pub fn busy_timeout(mut self, timeout: Duration) -> OpenOptions {
        self.busy_timeout = timeout;
        self
    }

    /// How SQLite keeps its journal (default [`JournalMode::Wal`] for a
    /// file). In memory, [`JournalMode::Wal`] is not available and the
    /// journal is kept in memory whatever the mode (see [`JournalMode`]). A
    /// [`read_only`](OpenOptions::read_only) database reads in the mode its
    /// file has.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .journal_mode(orm::JournalMode::Memory)
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<String>("PRAGMA journal_mode", &[])?, ["memory"]);
    /// # Ok(()) }
    /// ```
    pub fn journal_mode(mut self, mode: JournalMode) -> OpenOptions {
        self.settings.journal_mode = Some(mode);
        self
    }

    /// How often SQLite waits for the disk (default: SQLite's,
    /// [`Synchronous::Full`]).
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .synchronous(orm::Synchronous::Off)
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<i64>("PRAGMA synchronous", &[])?, [0]);
    /// # Ok(()) }
    /// ```
    pub fn synchronous(mut self, level: Synchronous) -> OpenOptions {
        self.settings.synchronous = Some(level);
        self
    }

    /// Whether SQLite enforces foreign keys (default `true`).
    ///
    /// Turned off, SQLite ignores `REFERENCES` and `ON DELETE`: a row can
    /// point at a parent that does not exist, and deleting a parent neither
    /// cascades to its children nor is refused, so the guarantees of the
    /// ORM's foreign keys and cascades are lost. Migrations still check
    /// every foreign key before they commit; a connection a migration ran
    /// on gets its foreign keys turned off again when it goes back to the
    /// pool.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options().foreign_keys(false).in_memory()?;
    /// assert_eq!(db.session().sql_values::<bool>("PRAGMA foreign_keys", &[])?, [false]);
    /// # Ok(()) }
    /// ```
    pub fn foreign_keys(mut self, enforce: bool) -> OpenOptions {
        self.settings.foreign_keys = enforce;
        self
    }

    /// Opens the file for reading only (default `false`): every write fails
    /// with [`Error::Sqlite`] (`ReadOnly`), and a missing file fails the
    /// opening (`CannotOpen`). Does not apply to an in-memory database.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("orm-doc-read-only-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).expect("a temp dir");
    /// # let path = dir.join("shop.db");
    /// orm::Database::open(&path)?.execute_batch("CREATE TABLE t (x INTEGER)")?;
    /// let db = orm::Database::options().read_only(true).open(&path)?;
    /// let session = db.session();
    /// assert_eq!(session.sql_values::<i64>("SELECT count(*) FROM t", &[])?, [0]);
    /// assert!(session.execute("INSERT INTO t VALUES (1)", &[]).is_err());
    /// # drop(session); drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
    /// # Ok(()) }
    /// ```
    pub fn read_only(mut self, read_only: bool) -> OpenOptions {
        self.settings.read_only = read_only;
        self
    }

    /// Whether opening creates a missing file (default `true`). With
    /// `false`, a missing file fails the opening with [`Error::Sqlite`]
    /// (`CannotOpen`) and nothing is created. Does not apply to an
    /// in-memory database.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let missing = std::env::temp_dir().join("orm-doc-no-such-dir").join("shop.db");
    /// let opened = orm::Database::options().create_if_missing(false).open(&missing);
    /// assert!(matches!(opened, Err(orm::Error::Sqlite(_))));
    /// assert!(!missing.exists());
    /// # Ok(()) }
    /// ```
    pub fn create_if_missing(mut self, create: bool) -> OpenOptions {
        self.settings.create_if_missing = create;
        self
    }

    /// Adds a hook that runs on every new connection the database opens,
    /// after the options above are set on it: for PRAGMAs the options do
    /// not name, `ATTACH`, a temporary table. Hooks run in the order they
    /// were added; a connection taken again from the pool does not run
    /// them again. Their statements are neither echoed nor recorded (like
    /// the PRAGMAs of the options).
    ///
    /// A hook that returns an error fails the call that needed the
    /// connection with [`Error::OnConnect`], holding the hook's error; the
    /// connection is closed, not pooled, so the next call opens a new one
    /// and runs the hooks again. The first connection opens during
    /// [`OpenOptions::open`] (and [`OpenOptions::in_memory`]), so a hook
    /// that always fails fails the opening.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # fn main() -> orm::Result<()> {
    /// let opened = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&opened);
    /// let db = orm::Database::options()
    ///     .on_connect(move |conn| {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///         conn.pragma_update("cache_size", -4000)
    ///     })
    ///     .in_memory()?;
    /// assert_eq!(opened.load(Ordering::Relaxed), 1); // opening opens one connection
    /// let (a, b) = (db.session(), db.session());
    /// assert_eq!(a.sql_values::<i64>("PRAGMA cache_size", &[])?, [-4000]);
    /// assert_eq!(b.sql_values::<i64>("PRAGMA cache_size", &[])?, [-4000]);
    /// assert_eq!(opened.load(Ordering::Relaxed), 2); // `b` needed a second one
    ///
    /// let refused = orm::Database::options()
    ///     .on_connect(|_| Err("no licence for this database"))
    ///     .in_memory();
    /// assert!(matches!(refused, Err(orm::Error::OnConnect { .. })));
    /// # Ok(()) }
    /// ```
    pub fn on_connect<E>(
        mut self,
        hook: impl Fn(&NewConnection) -> std::result::Result<(), E> + Send + Sync + 'static,
    ) -> OpenOptions
    where
        E: Into<HookError>,
    {
        self.hooks.push(Arc::new(move |conn: &NewConnection| {
            hook(conn).map_err(Into::into)
        }));
        self
    }

    /// Opens (or creates) the database file at `path` with these options,
    /// and one connection to it now, so that a bad path, a file that is not
    /// a database or a failing hook fails here rather than at first use.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("orm-doc-open-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).expect("a temp dir");
    /// let db = orm::Database::options().foreign_keys(true).open(dir.join("shop.db"))?;
    /// # drop(db); std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfRange`] for a busy timeout SQLite does not accept;
    /// [`Error::Busy`] when another connection holds a lock the opening
    /// needs past the busy timeout; [`Error::OnConnect`] when a hook fails;
    /// [`Error::Sqlite`] when the file cannot be opened or is not a
    /// database.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Database> {
        let path = path.as_ref();
        if let Some(url) = path.to_str().filter(|p| crate::backend::is_postgres_url(p)) {
            return self.open_server(url);
        }
        Database::start(Location::File(path.to_path_buf()), self)
    }

    /// The PostgreSQL server at `url`, with the busy timeout as the time a
    /// statement waits for a lock (`lock_timeout`) and for a connection.
    #[cfg(feature = "postgres")]
    fn open_server(self, url: &str) -> Result<Database> {
        if !self.hooks.is_empty() {
            return Err(Error::Unsupported {
                what: "an on_connect hook",
                detail: "on PostgreSQL yet (hooks take a SQLite connection)",
            });
        }
        if self.settings != Settings::default() {
            return Err(Error::Unsupported {
                what: "a journal mode, synchronous level, read-only or foreign-key switch",
                detail: "on PostgreSQL (they are SQLite's settings)",
            });
        }
        let pool = crate::backend::postgres::open(url, self.busy_timeout)?;
        Database::start(Location::Server(pool), self)
    }

    /// Without the `postgres` feature: a clear error rather than a SQLite
    /// file named like a URL.
    #[cfg(not(feature = "postgres"))]
    fn open_server(self, _url: &str) -> Result<Database> {
        Err(Error::Unsupported {
            what: "a PostgreSQL URL",
            detail: "without orm's `postgres` feature (enable it in Cargo.toml)",
        })
    }

    /// Creates an empty in-memory database with these options (see
    /// [`Database::in_memory`]), and one connection to it now.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .journal_mode(orm::JournalMode::Off)
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<String>("PRAGMA journal_mode", &[])?, ["off"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfRange`] for a busy timeout SQLite does not accept;
    /// [`Error::OnConnect`] when a hook fails; [`Error::Sqlite`] if SQLite
    /// cannot allocate the database.
    pub fn in_memory(self) -> Result<Database> {
        let uri = sqlite::memory_uri();
        let keep_alive = sqlite::keep_alive(&uri)?;
        let location = Location::Memory {
            uri,
            _keep_alive: Mutex::new(keep_alive),
        };
        Database::start(location, self)
    }

    /// The parts the database keeps: the busy timeout in milliseconds (as
    /// SQLite takes it), the settings, and the hooks.
    pub(super) fn into_parts(self) -> Result<(u64, Settings, OnConnect)> {
        let millis = busy_timeout_millis(self.busy_timeout)?;
        Ok((millis, self.settings, OnConnect(self.hooks)))
    }
}

/// `timeout` in milliseconds, if SQLite accepts it.
pub(super) fn busy_timeout_millis(timeout: Duration) -> Result<u64> {
    u64::try_from(timeout.as_millis())
        .ok()
        .filter(|&ms| ms <= i32::MAX as u64)
        .ok_or_else(|| Error::OutOfRange {
            what: "the busy timeout".to_owned(),
            value: format!("{} ms", timeout.as_millis()),
            limit: format!("SQLite accepts at most {} ms", i32::MAX),
        })
}

/// The hooks of one database, run on each connection it opens.
pub(super) struct OnConnect(Vec<Hook>);

impl OnConnect {
    /// Runs every hook on `raw`, in order; the first failure closes it.
    pub(super) fn run(&self, raw: Connection) -> Result<Connection> {
        let conn = NewConnection { raw };
        for hook in &self.0 {
            hook(&conn).map_err(|source| Error::OnConnect { source })?;
        }
        Ok(conn.raw)
    }
}

impl fmt::Debug for OnConnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} hook(s)", self.0.len())
    }
}

/// A connection being opened, as an [`OpenOptions::on_connect`] hook sees
/// it: the options are set on it, no session uses it yet.
///
/// ```
/// # fn main() -> orm::Result<()> {
/// let db = orm::Database::options()
///     .on_connect(|conn: &orm::NewConnection| {
///         conn.pragma_update("temp_store", "MEMORY")?;
///         conn.execute_batch("CREATE TEMP TABLE scratch (note TEXT)")
///     })
///     .in_memory()?;
/// db.session().execute("INSERT INTO scratch VALUES ('per connection')", &[])?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NewConnection {
    raw: Connection,
}

impl NewConnection {
    /// Runs SQL text with no parameters (several statements allowed).
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .on_connect(|conn| conn.execute_batch("PRAGMA cache_size = -2000; PRAGMA temp_store = MEMORY"))
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<i64>("PRAGMA temp_store", &[])?, [2]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Busy`] when another connection holds a lock the SQL needs
    /// past the busy timeout; [`Error::Sqlite`] or another classified error
    /// when a statement fails.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        self.raw
            .execute_batch(sql)
            .map_err(|e| sqlite::classify(e, ""))
    }

    /// Sets `PRAGMA pragma = value`, the value written as a SQL literal (a
    /// string quoted, a number as it is).
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::options()
    ///     .on_connect(|conn| conn.pragma_update("user_version", 7))
    ///     .in_memory()?;
    /// assert_eq!(db.session().sql_values::<i64>("PRAGMA user_version", &[])?, [7]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlite`] for a name that is not an identifier, a value that
    /// is NULL or a blob, or a PRAGMA SQLite refuses; [`Error::Busy`] as
    /// for [`NewConnection::execute_batch`].
    pub fn pragma_update(&self, pragma: &str, value: impl ToValue) -> Result<()> {
        sqlite::pragma_update(&self.raw, pragma, value.to_value().as_ref())
    }
}
