//! SQL echo and statement recorders: how a user sees the SQL each line of
//! their code costs.
//!
//! [`Echo`] is SQLAlchemy's `echo=True`: every statement with its parameters,
//! either through the `log` facade (target `orm::sql`, level `info`) or printed
//! to stderr. A [`Recorder`] collects the statements a block of code issued,
//! so tests and examples can assert exact counts.
//!
//! Nothing here is paid for when nobody observes: parameters are copied only
//! while echo is on or a recorder is alive.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::value::Value;

use super::render;

/// The `log` target statements are logged under.
pub const LOG_TARGET: &str = "orm::sql";

/// Where echoed statements go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Not echoed.
    Off,
    /// Logged through the `log` facade under target [`LOG_TARGET`] at `info`.
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

impl std::fmt::Display for Statement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)?;
        if !self.params.is_empty() {
            let params: Vec<String> = self.params.iter().map(render).collect();
            write!(f, "  -- [{}]", params.join(", "))?;
        }
        Ok(())
    }
}

type Log = Mutex<Vec<Statement>>;

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
        self.lock().clone()
    }

    /// The SQL text of the statements that read or write rows (transaction
    /// control left out), in order.
    pub fn sql(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|s| !s.is_transaction_control())
            .map(|s| s.sql.clone())
            .collect()
    }

    /// How many statements read or wrote rows (transaction control left out).
    pub fn count(&self) -> usize {
        self.lock()
            .iter()
            .filter(|s| !s.is_transaction_control())
            .count()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Returns the statements recorded so far and forgets them.
    pub fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Statement>> {
        // A poisoned log still holds valid statements: keep using it.
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The observers of one database: its echo setting and live recorders.
#[derive(Debug, Default)]
pub(crate) struct Observers {
    echo: AtomicU8,
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

    /// Whether anyone wants to see statements; checked before copying parameters.
    pub(crate) fn active(&self) -> bool {
        self.echo.load(Ordering::Relaxed) != 0 || self.recorder_count.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn statement(&self, sql: &str, params: Vec<Value>) {
        let statement = Statement {
            sql: sql.to_owned(),
            params,
        };
        match self.echo() {
            Echo::Off => {}
            Echo::Log => log::info!(target: LOG_TARGET, "{statement}"),
            Echo::Stderr => eprintln!("[sql] {statement}"),
        }
        if self.recorder_count.load(Ordering::Relaxed) > 0 {
            let mut recorders = self.lock();
            recorders.retain(|r| r.strong_count() > 0);
            self.recorder_count
                .store(recorders.len(), Ordering::Relaxed);
            for log in recorders.iter().filter_map(Weak::upgrade) {
                log.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
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
