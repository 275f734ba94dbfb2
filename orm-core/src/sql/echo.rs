//! SQL echo and statement recorders: how a user sees the SQL each line of
//! their code costs.
//!
//! [`Echo`] is SQLAlchemy's `echo=True`: every statement with its parameters,
//! either through the `log` facade (target `orm::sql`, level `info`) or printed
//! to stderr. A [`Recorder`] collects the statements a block of code issued,
//! so tests and examples can assert exact counts.
//!
//! Each statement the ORM sends also says why ([`Statement::cause`],
//! [`Recorder::causes`], the end of the echo line): `query of users`,
//! `lazy load of Order.user (orders 7)`, `preload of User.orders for 100
//! users`, `autoflush before the query of orders: insert into users`,
//! `commit: update of users 3`, `refresh of users 3`, ...
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug)]
//! # #[orm(table = "users")]
//! # struct User { #[orm(primary_key)] id: i64, name: String }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::in_memory()?;
//! # db.create_all::<User>()?;
//! let session = db.session();
//! let recorder = db.recorder();
//! session.add(User::new("Ann"));
//! session.query::<User>().all()?;
//! assert_eq!(
//!     recorder.causes(),
//!     ["autoflush before the query of users: insert into users", "query of users"]
//! );
//! # Ok(()) }
//! ```
//!
//! Nothing here is paid for when nobody observes: parameters are copied and
//! causes written only while echo is on or a recorder is alive.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::value::Value;

use super::render;

/// The `log` target statements are logged under.
pub const LOG_TARGET: &str = "orm::sql";

/// Where echoed statements go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Not echoed.
    Off,
    /// Logged through the `log` facade under target [`LOG_TARGET`] at `info`;
    /// a statement's cause is also the record's key `cause`.
    Log,
    /// Printed to stderr, one line per statement.
    Stderr,
}

impl From<bool> for Echo {
    /// `true` prints to stderr, as a learner expects; `false` turns echo off.
    fn from(on: bool) -> Self {
        if on { Echo::Stderr } else { Echo::Off }
    }
}

/// One statement as it was sent: SQL text and the values bound to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text, with `?` placeholders.
    pub sql: String,
    /// The bound values, in placeholder order.
    pub params: Vec<Value>,
    /// Why the ORM sent it (`query of users`, `lazy load of Order.user
    /// (orders 7)`, `flush: insert into orders`), when it knows; written only
    /// while someone observes.
    pub cause: Option<String>,
    /// How long the database took to run it (preparing, binding, running
    /// and handing over its rows; not what the ORM did with them), measured
    /// while someone observes.
    pub duration: Option<Duration>,
    /// Sent as a batch of SQL text (`Database::execute_batch`, transaction
    /// control) rather than as one prepared statement.
    batch: bool,
}

impl Statement {
    /// Whether this is transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`,
    /// `SAVEPOINT`, `RELEASE`) rather than a statement that reads or writes rows.
    pub fn is_transaction_control(&self) -> bool {
        let first = self.sql.split_whitespace().next().unwrap_or("");
        ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
            .iter()
            .any(|k| first.eq_ignore_ascii_case(k))
    }
}

impl Statement {
    /// Whether this statement reads or writes rows (`SELECT`, `INSERT`,
    /// `UPDATE`, `DELETE`, `REPLACE`, or one of those after `WITH`), as
    /// opposed to transaction control, DDL, PRAGMAs and batches of set-up
    /// SQL given to [`Database::execute_batch`](crate::Database::execute_batch).
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// let recorder = db.recorder();
    /// db.execute_batch("CREATE TABLE t (a); INSERT INTO t VALUES (1)")?;
    /// db.session().sql_values::<i64>("SELECT a FROM t", &[])?;
    /// let data: Vec<bool> = recorder.statements().iter().map(|s| s.is_data()).collect();
    /// assert_eq!(data, [false, true]);
    /// # Ok(()) }
    /// ```
    pub fn is_data(&self) -> bool {
        if self.batch {
            return false;
        }
        let first = self
            .sql
            .trim_start_matches(|c: char| c.is_whitespace() || c == '(')
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default();
        [
            "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "VALUES",
        ]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
    }
}

impl std::fmt::Display for Statement {
    /// The SQL, its parameters and its cause, as the echo prints them:
    /// `SELECT ... WHERE "id" = ?  -- [7]  -- get of orders 7`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)?;
        if !self.params.is_empty() {
            let params: Vec<String> = self.params.iter().map(render).collect();
            write!(f, "  -- [{}]", params.join(", "))?;
        }
        if let Some(cause) = &self.cause {
            write!(f, "  -- {cause}")?;
        }
        Ok(())
    }
}

/// What a recorder collects.
#[derive(Debug, Default)]
struct Recorded {
    statements: Vec<Statement>,
    warnings: Vec<String>,
}

type Log = Mutex<Recorded>;

/// Collects the statements issued through its database while it is alive.
///
/// Made by [`Database::recorder`](crate::Database::recorder); every session of
/// that database reports to it, from any thread.
#[derive(Debug)]
pub struct Recorder {
    log: Arc<Log>,
}

impl Recorder {
    /// Every statement recorded so far, transaction control included.
    pub fn statements(&self) -> Vec<Statement> {
        self.lock().statements.clone()
    }

    /// The warnings given while it recorded (the N+1 watch's, see
    /// [`NPlusOne`](crate::NPlusOne)), in order.
    pub fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }

    /// The SQL text of the statements that read or write rows, in order:
    /// transaction control, DDL, PRAGMAs and batches of set-up SQL are left
    /// out (see [`Statement::is_data`]; [`Recorder::statements`] has them).
    pub fn sql(&self) -> Vec<String> {
        self.lock()
            .statements
            .iter()
            .filter(|s| s.is_data())
            .map(|s| s.sql.clone())
            .collect()
    }

    /// Why each statement of [`Recorder::sql`] ran, in the same order:
    /// `"query of users"`, `"lazy load of User.orders (users 1)"`, ...
    /// (empty where the ORM did not send it for a reason of its own).
    pub fn causes(&self) -> Vec<String> {
        self.lock()
            .statements
            .iter()
            .filter(|s| s.is_data())
            .map(|s| s.cause.clone().unwrap_or_default())
            .collect()
    }

    /// How many statements read or wrote rows (see [`Recorder::sql`]).
    pub fn count(&self) -> usize {
        self.lock()
            .statements
            .iter()
            .filter(|s| s.is_data())
            .count()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        let mut log = self.lock();
        log.statements.clear();
        log.warnings.clear();
    }

    /// Returns the statements recorded so far and forgets them.
    pub fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut self.lock().statements)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A poisoned log still holds valid statements: keep using it.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The observers of one database: its echo setting, live recorders, and
/// the N+1 watch's setting.
#[derive(Debug, Default)]
pub(crate) struct Observers {
    echo: AtomicU8,
    n_plus_one: std::sync::Mutex<crate::relation::NPlusOne>,
    recorder_count: AtomicUsize,
    recorders: Mutex<Vec<Weak<Log>>>,
}

impl Observers {
    pub(crate) fn set_echo(&self, echo: Echo) {
        let code = match echo {
            Echo::Off => 0,
            Echo::Log => 1,
            Echo::Stderr => 2,
        };
        self.echo.store(code, Ordering::Relaxed);
    }

    pub(crate) fn echo(&self) -> Echo {
        match self.echo.load(Ordering::Relaxed) {
            1 => Echo::Log,
            2 => Echo::Stderr,
            _ => Echo::Off,
        }
    }

    pub(crate) fn recorder(&self) -> Recorder {
        let log = Arc::new(Log::default());
        let mut recorders = self.lock();
        recorders.retain(|r| r.strong_count() > 0);
        recorders.push(Arc::downgrade(&log));
        self.recorder_count
            .store(recorders.len(), Ordering::Relaxed);
        Recorder { log }
    }

    pub(crate) fn set_n_plus_one(&self, watch: crate::relation::NPlusOne) {
        *self
            .n_plus_one
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = watch;
    }

    pub(crate) fn n_plus_one(&self) -> crate::relation::NPlusOne {
        *self
            .n_plus_one
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives a warning to the echo, the `log` facade and the recorders.
    pub(crate) fn warn(&self, warning: &str) {
        match self.echo() {
            Echo::Stderr => eprintln!("[orm] warning: {warning}"),
            Echo::Log | Echo::Off => {}
        }
        log::warn!(target: LOG_TARGET, "{warning}");
        super::trace::warning(warning);
        if self.recorder_count.load(Ordering::Relaxed) > 0 {
            for log in self.lock().iter().filter_map(Weak::upgrade) {
                log.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .warnings
                    .push(warning.to_owned());
            }
        }
    }

    /// Whether anyone wants to see statements (the echo, a recorder, a
    /// tracing subscriber); checked before copying parameters.
    pub(crate) fn active(&self) -> bool {
        self.echo.load(Ordering::Relaxed) != 0
            || self.recorder_count.load(Ordering::Relaxed) > 0
            || super::trace::statements_wanted()
    }

    /// Shows and records a statement; `batch` when it was sent as SQL text
    /// rather than prepared (see [`Statement::is_data`]).
    pub(crate) fn statement(
        &self,
        sql: &str,
        params: Vec<Value>,
        batch: bool,
        cause: Option<String>,
        duration: Option<Duration>,
    ) {
        let statement = Statement {
            sql: sql.to_owned(),
            params,
            cause,
            duration,
            batch,
        };
        let micros = duration.map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        match self.echo() {
            Echo::Off => {}
            // The cause and the duration also as structured keys, for
            // loggers that index them.
            Echo::Log => match &statement.cause {
                Some(cause) => log::info!(
                    target: LOG_TARGET,
                    cause = cause.as_str(), duration_us = micros;
                    "{statement}"
                ),
                None => log::info!(target: LOG_TARGET, duration_us = micros; "{statement}"),
            },
            Echo::Stderr => eprintln!("[sql] {statement}  ({} µs)", micros),
        }
        super::trace::statement(&statement, micros);
        if self.recorder_count.load(Ordering::Relaxed) > 0 {
            let mut recorders = self.lock();
            recorders.retain(|r| r.strong_count() > 0);
            self.recorder_count
                .store(recorders.len(), Ordering::Relaxed);
            for log in recorders.iter().filter_map(Weak::upgrade) {
                log.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .statements
                    .push(statement.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Log>>> {
        self.recorders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
