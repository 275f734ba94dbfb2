//! Savepoints and the transaction helper: [`Session::begin_nested`] opens a
//! `SAVEPOINT` and returns its guard, a [`Savepoint`];
//! [`Session::transaction`] runs a closure in a transaction (in a savepoint
//! when one is open already) and commits or rolls back by its result
//! (SQLAlchemy's `begin_nested` and `with session.begin():`).
//!
//! This module runs the statements and keeps the guard's promise; what a
//! savepoint restores, and the savepoints' names, are `transaction`'s. The
//! rules (a savepoint begins after a flush, innermost first, dropping the
//! guard rolls back, commit waits for the savepoints) are in [`Savepoint`]'s
//! docs, where users read them.

use std::fmt;

use super::{Session, SessionInner};
use crate::error::{Error, Misuse, Result};
use crate::transaction::{Scope, Standing};

/// The guard of a savepoint opened by [`Session::begin_nested`]: a
/// `SAVEPOINT` inside the session's transaction, released with
/// [`Savepoint::release`] or rolled back with [`Savepoint::rollback`].
/// Dropping it without either rolls back, as rusqlite's `Savepoint` does;
/// an error then goes to `log::warn!` (see the rules below).
///
/// Rolling back to a savepoint restores exactly what changed since it
/// began, in memory and in the database: objects inserted since leave the
/// session, objects updated or deleted since get back their values at the
/// savepoint, objects read since are read again, and unflushed changes made
/// since are discarded. What came before it is untouched (loaded
/// collections expire, as after any rollback, and load again on next use).
///
/// The rules, each a choice:
/// - **A savepoint begins after a flush** (as SQLAlchemy's does): changes
///   made before it are in the database before the mark, so rolling back to
///   it keeps them. Releasing flushes too, so that what the savepoint keeps
///   is written when its mark goes.
/// - **Innermost first**: only the innermost open savepoint can be released
///   or rolled back; another is [`Misuse::SavepointNotInnermost`], with
///   nothing changed.
/// - **Dropping the guard rolls back**. A guard that goes away without
///   closing its savepoint (dropped while one inside it is open, a failed
///   release or rollback, a rollback on drop that met a borrow) leaves the
///   savepoint *abandoned*: it is rolled back as soon as it can be, when the
///   savepoints inside it close, at the next release or rollback of a
///   savepoint, or at the latest at commit.
/// - **Commit waits for the savepoints**: [`Session::commit`] while one is
///   open is [`Misuse::SavepointOpen`], with nothing flushed or committed,
///   since its guard has yet to decide whether its changes stay.
///   [`Session::rollback`] is allowed: it ends every savepoint with the
///   transaction (their changes go, as their guards would have let them
///   go), and the guards are inert then: dropping one does nothing, and
///   releasing or rolling it back is [`Misuse::SavepointClosed`].
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<User>()?;
/// let session = db.session();
/// let ann = session.add(User::new("Ann"));
/// {
///     let _savepoint = session.begin_nested()?; // INSERT ann; SAVEPOINT orm_sp_1
///     ann.write()?.name = "Anna".into();
///     session.flush()?; // UPDATE users ...
/// } // dropped: ROLLBACK TO orm_sp_1; RELEASE orm_sp_1
/// assert_eq!(ann.read()?.name, "Ann");
/// session.commit()?; // ann as she was at the savepoint
/// # Ok(()) }
/// ```
#[must_use = "dropping a savepoint rolls it back at once"]
pub struct Savepoint<'s> {
    session: &'s Session,
    /// Which savepoint of the session's transaction it guards.
    id: u64,
    name: String,
    /// Released or rolled back (or tried to): nothing left to do on drop.
    closed: bool,
}

impl Savepoint<'_> {
    /// The savepoint's SQL name: `orm_sp_1` for the outermost, `orm_sp_2`
    /// for one inside it, and so on (the flush's own is `orm_flush`).
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// let session = db.session();
    /// let outer = session.begin_nested()?;
    /// let inner = session.begin_nested()?;
    /// assert_eq!((outer.name(), inner.name()), ("orm_sp_1", "orm_sp_2"));
    /// # inner.release()?;
    /// # outer.release()?;
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Flushes pending changes, then releases the savepoint: what changed
    /// since it began stays, as part of the savepoint around it or of the
    /// transaction, for their commit or rollback to decide.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let savepoint = session.begin_nested()?; // BEGIN IMMEDIATE; SAVEPOINT orm_sp_1
    /// session.add(User::new("Ann"));
    /// savepoint.release()?; // INSERT ann; RELEASE orm_sp_1
    /// session.commit()?;
    /// assert_eq!(session.sql_values::<String>("SELECT name FROM users", &[])?, ["Ann"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Misuse`] ([`Misuse::SavepointNotInnermost`]) while a
    /// savepoint begun after this one is open, or
    /// ([`Misuse::SavepointClosed`]) when the session rolled back since;
    /// nothing changed then, and the savepoint (if still open) is rolled back
    /// once it can be. An error of the flush, as [`Session::flush`]; the
    /// savepoint is then rolled back, as dropping the guard does.
    pub fn release(mut self) -> Result<()> {
        self.closed = true;
        let inner = &self.session.inner;
        let released = inner.because(
            || format!("release of savepoint {}", self.name),
            || inner.release_savepoint(self.id, &self.name),
        );
        if released.is_err() {
            self.session.inner.savepoint_dropped(self.id, &self.name);
        }
        released
    }

    /// Rolls back to the savepoint and ends it: in the database, and in
    /// memory as the [type docs](Savepoint) say. Borrows are checked first:
    /// a guard the user holds on an object to restore fails the rollback
    /// with nothing changed.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let ann = session.add(User::new("Ann"));
    /// let savepoint = session.begin_nested()?; // INSERT ann; SAVEPOINT orm_sp_1
    /// let bob = session.add(User::new("Bob"));
    /// session.flush()?; // INSERT bob
    /// savepoint.rollback()?; // ROLLBACK TO orm_sp_1; RELEASE orm_sp_1
    /// assert_eq!(bob.state(), orm::State::Transient); // left the session
    /// session.commit()?;
    /// assert_eq!(session.sql_values::<String>("SELECT name FROM users", &[])?, ["Ann"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a guard of an object to restore is alive;
    /// [`Error::Misuse`] ([`Misuse::SavepointNotInnermost`],
    /// [`Misuse::SavepointClosed`]) as for [`Savepoint::release`];
    /// [`Error::Sqlite`] if `ROLLBACK TO` fails. Nothing changed then, and
    /// the savepoint (if still open) is rolled back once it can be.
    pub fn rollback(mut self) -> Result<()> {
        self.closed = true;
        let inner = &self.session.inner;
        let rolled_back = inner.because(
            || format!("rollback to savepoint {}", self.name),
            || inner.rollback_savepoint(self.id, &self.name),
        );
        if rolled_back.is_err() {
            self.session.inner.transaction.abandon(self.id);
        }
        rolled_back
    }
}

impl Drop for Savepoint<'_> {
    /// Rolls back, unless released or rolled back already.
    fn drop(&mut self) {
        if !self.closed {
            self.session.inner.savepoint_dropped(self.id, &self.name);
        }
    }
}

impl fmt::Debug for Savepoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Savepoint")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Flushes pending changes, then opens a savepoint inside the
    /// transaction (opening the transaction, `BEGIN IMMEDIATE`, if none is
    /// open) and returns its guard (SQLAlchemy's `begin_nested`). Savepoints
    /// nest: one begun while another is open is inside it, and is released
    /// or rolled back first. The flushes inside a savepoint keep their own
    /// `SAVEPOINT orm_flush`.
    ///
    /// The rules for guards, and for `commit` and `rollback` while
    /// savepoints are open, are in [`Savepoint`]'s docs: in short, dropping
    /// a guard rolls back, `commit` waits for every savepoint to be closed
    /// ([`Misuse::SavepointOpen`]), and the session's `rollback` ends them
    /// all.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// let ann = session.add(User::new("Ann"));
    /// let outer = session.begin_nested()?; // INSERT ann; SAVEPOINT orm_sp_1
    /// ann.write()?.name = "Anna".into();
    /// let inner = session.begin_nested()?; // UPDATE users ...; SAVEPOINT orm_sp_2
    /// ann.write()?.name = "Annie".into();
    /// inner.rollback()?; // back to the values at orm_sp_2
    /// assert_eq!(ann.read()?.name, "Anna");
    /// outer.release()?;
    /// session.commit()?;
    /// assert_eq!(session.sql_values::<String>("SELECT name FROM users", &[])?, ["Anna"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Session::flush`] for the flush, which then opened nothing;
    /// [`Error::Busy`] from `BEGIN IMMEDIATE` while another connection
    /// writes; [`Error::Sqlite`] if `SAVEPOINT` fails.
    pub fn begin_nested(&self) -> Result<Savepoint<'_>> {
        let (id, name) = self
            .inner
            .because(|| "begin_nested".to_owned(), || self.inner.begin_nested())?;
        Ok(Savepoint {
            session: self,
            id,
            name,
            closed: false,
        })
    }

    /// Runs `work` in a transaction and ends it by the result: on `Ok` it
    /// commits, on `Err` it rolls back and returns the error (SQLAlchemy's
    /// `with session.begin():`). With no transaction open, it opens one
    /// (`BEGIN IMMEDIATE`, so that what `work` reads and writes is one
    /// unit) and commits it or rolls it back; changes pending from before
    /// the call go with it, as commit and rollback always take them. Inside
    /// a transaction already open, `work` runs in a savepoint instead, which
    /// is released on `Ok` (the outer transaction decides) and rolled back
    /// on `Err`.
    ///
    /// The error type is the closure's own, any type an [`Error`] converts
    /// into: a transaction often ends for the application's reasons (a
    /// balance too low), which no variant of [`Error`] says. When it is
    /// `orm`'s own, name it on the closure: `|s| -> orm::Result<_> { .. }`.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct Account { #[orm(primary_key)] id: i64, balance: i64 }
    /// #[derive(Debug)]
    /// enum TransferError {
    ///     Orm(orm::Error),
    ///     Insufficient,
    /// }
    ///
    /// impl From<orm::Error> for TransferError {
    ///     fn from(error: orm::Error) -> Self {
    ///         TransferError::Orm(error)
    ///     }
    /// }
    ///
    /// fn transfer(session: &Session, from: i64, to: i64, amount: i64) -> Result<(), TransferError> {
    ///     session.transaction(|s| {
    ///         let (from, to) = (s.get::<Account>(from)?, s.get::<Account>(to)?);
    ///         to.write()?.balance += amount;
    ///         s.flush()?;
    ///         if from.read()?.balance < amount {
    ///             return Err(TransferError::Insufficient); // rolls back the flushed credit too
    ///         }
    ///         from.write()?.balance -= amount;
    ///         Ok(())
    ///     })
    /// }
    ///
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<Account>()?;
    /// let session = db.session();
    /// let first = session.transaction(|s| -> orm::Result<Handle<Account>> {
    ///     let first = s.add(Account::new(100));
    ///     s.add(Account::new(0));
    ///     Ok(first)
    /// })?; // BEGIN IMMEDIATE; INSERT; INSERT; COMMIT
    /// assert_eq!(first.read()?.id, 1);
    ///
    /// assert!(matches!(transfer(&session, 1, 2, 500), Err(TransferError::Insufficient)));
    /// assert!(transfer(&session, 1, 2, 30).is_ok());
    /// let balances = session.sql_values::<i64>("SELECT balance FROM accounts ORDER BY id", &[])?;
    /// assert_eq!(balances, [70, 30]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `work`'s error, once rolled back; an error of beginning (as
    /// [`Session::begin_nested`]) before `work` runs; an error of the commit
    /// (as [`Session::commit`]) or the release (as [`Savepoint::release`]),
    /// once rolled back. If the rollback itself fails (a guard the user
    /// holds on an object it must restore), its error is returned instead:
    /// the changes are then still in the session (a savepoint's are rolled
    /// back once they can be).
    pub fn transaction<R, E>(&self, work: impl FnOnce(&Session) -> Result<R, E>) -> Result<R, E>
    where
        E: From<Error>,
    {
        if self.inner.transaction.is_open() {
            let savepoint = self.begin_nested()?;
            return match work(self) {
                Ok(value) => {
                    savepoint.release()?;
                    Ok(value)
                }
                Err(error) => {
                    savepoint.rollback()?;
                    Err(error)
                }
            };
        }
        self.inner
            .because(|| "transaction".to_owned(), || self.inner.begin())?;
        match work(self) {
            Ok(value) => match self.commit() {
                Ok(()) => Ok(value),
                Err(error) => {
                    self.rollback()?;
                    Err(error.into())
                }
            },
            Err(error) => {
                self.rollback()?;
                Err(error)
            }
        }
    }
}

/// The savepoints' orchestration: checks, then statements, then memory, as
/// every session operation.
impl SessionInner {
    /// Opens the transaction (`BEGIN IMMEDIATE`) unless one is open.
    /// Returns whether it opened it.
    fn begin(&self) -> Result<bool> {
        if self.transaction.is_open() {
            return Ok(false);
        }
        self.conn()?.begin()?;
        self.transaction.set_open(true);
        Ok(true)
    }

    /// Flushes, opens the transaction if need be, then the savepoint.
    /// Returns its id and name.
    fn begin_nested(&self) -> Result<(u64, String)> {
        self.flush()?;
        let opened = self.begin()?;
        let name = self.transaction.next_savepoint_name();
        let conn = self.conn()?;
        if let Err(error) = conn.control(&format!("SAVEPOINT {name}")) {
            // Opened for this savepoint alone, with nothing in it yet.
            if opened && conn.control("ROLLBACK").is_ok() {
                self.transaction.set_open(false);
            }
            return Err(error);
        }
        Ok((self.transaction.savepoint_begun(), name))
    }

    fn release_savepoint(&self, id: u64, name: &str) -> Result<()> {
        self.roll_back_abandoned()?;
        self.transaction.check_innermost(id, name)?;
        self.flush()?;
        // A flush that lost the whole transaction (SQLite abandoned it)
        // ended the savepoint with it.
        self.transaction.check_innermost(id, name)?;
        self.savepoint_control(&format!("RELEASE {name}"))?;
        self.transaction.released(id);
        self.roll_back_uncovered();
        Ok(())
    }

    fn rollback_savepoint(&self, id: u64, name: &str) -> Result<()> {
        self.roll_back_abandoned()?;
        self.transaction.check_innermost(id, name)?;
        self.roll_back_to(id, name)?;
        self.roll_back_uncovered();
        Ok(())
    }

    /// Rolls back to the innermost savepoint `id` and ends it: every
    /// borrow checked first, then the database, then memory.
    fn roll_back_to(&self, id: u64, name: &str) -> Result<()> {
        if self.flushing.get() {
            return Err(Misuse::Reentrant.into());
        }
        self.check_rollback(Scope::Savepoint(id))?;
        self.savepoint_control(&format!("ROLLBACK TO {name}"))?;
        // The savepoint stays on SQLite's stack after `ROLLBACK TO`.
        let released = self.conn()?.control(&format!("RELEASE {name}"));
        let restored = match self.transaction.take_savepoint(id) {
            Some(undone) => self.restore_memory(undone, Vec::new()),
            None => Ok(()),
        };
        restored.and(released)
    }

    /// Runs a savepoint's statement; when its failure ended the whole
    /// transaction (SQLite abandoned it), memory follows, as after a flush
    /// that lost it.
    fn savepoint_control(&self, sql: &str) -> Result<()> {
        let conn = self.conn()?;
        let Err(error) = conn.control(sql) else {
            return Ok(());
        };
        if !conn.in_transaction() {
            self.transaction.set_open(false);
            self.rollback()?;
        }
        Err(error)
    }

    /// Rolls back the abandoned savepoints at the top of the stack, one
    /// after the other.
    fn roll_back_abandoned(&self) -> Result<()> {
        while let Some((id, name, true)) = self.transaction.innermost() {
            self.roll_back_to(id, &name)?;
        }
        Ok(())
    }

    /// After a savepoint closed: the abandoned ones it was inside roll back
    /// now. One that cannot (a guard held) waits for the next chance; the
    /// close itself succeeded, so this is only logged.
    fn roll_back_uncovered(&self) {
        if let Err(error) = self.roll_back_abandoned() {
            log::warn!(
                "an abandoned savepoint could not roll back yet ({error}); it will at the next release, rollback or commit"
            );
        }
    }

    /// A guard went away without closing its savepoint: roll back now if it
    /// is the innermost, else when it is.
    fn savepoint_dropped(&self, id: u64, name: &str) {
        match self.transaction.standing(id) {
            Standing::Closed => {}
            Standing::Outer => {
                log::warn!(
                    "savepoint `{name}` was dropped while a savepoint inside it is open; it rolls back when that one closes"
                );
                self.transaction.abandon(id);
            }
            Standing::Innermost => {
                if let Err(error) = self.rollback_savepoint(id, name) {
                    log::warn!(
                        "savepoint `{name}` could not roll back when its guard was dropped ({error}); it will at the next release, rollback or commit"
                    );
                    self.transaction.abandon(id);
                }
            }
        }
    }

    /// Before a commit: abandoned savepoints roll back; one still open
    /// refuses the commit.
    pub(super) fn check_commit(&self) -> Result<()> {
        self.roll_back_abandoned()?;
        match self.transaction.innermost() {
            Some((_, savepoint, _)) => Err(Misuse::SavepointOpen { savepoint }.into()),
            None => Ok(()),
        }
    }
}
