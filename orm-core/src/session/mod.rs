//! Session: a unit of work over one connection, with its identity map.
//!
//! A session loads rows into objects (one per row, through the identity
//! map), tracks what is added, changed and deleted, and writes it all in
//! one flush. It is single-threaded (`!Send`): each thread or request opens
//! its own from a shared [`Database`].
//!
//! Rules it follows, each a decision SQLAlchemy users meet:
//! - **Autoflush**: a query, a `get` that misses the identity map and a lazy
//!   load first flush pending changes, so they see pending objects instead of
//!   missing them. [`Session::set_autoflush`] turns it off.
//! - **Commit keeps values**: after `commit` loaded objects keep their values
//!   and stay usable (SQLAlchemy expires them, which is behind many
//!   "detached instance" surprises). Call [`Session::refresh`] to re-read one.
//! - **Rollback restores**: objects changed in the transaction get back the
//!   values they had at its start; objects added in it leave the session;
//!   loaded collections are expired and reload on next access.
//! - **Savepoints**: [`Session::begin_nested`] marks a point inside the
//!   transaction that a rollback can go back to, restoring exactly what
//!   changed since; [`Session::transaction`] runs a closure in a transaction
//!   or, inside one, in a savepoint (`savepoint`).
//! - **Keys SQLite reuses**: without `AUTOINCREMENT`, SQLite hands out the
//!   key of a deleted last row again. When a flush inserts a row under a key
//!   the identity map already holds (the old row was deleted behind the
//!   session's back), the old object is stale: it becomes detached and its
//!   changes are dropped, so it can never write the new row. (`AUTOINCREMENT`
//!   would prevent the reuse, at about 10% more per insert.)

use std::cell::{Cell, OnceCell, Ref, RefCell, RefMut};
use std::rc::Rc;

mod adopt;
mod bulk;
mod collection_owners;
mod expire;
mod flush;
mod raw;
mod savepoint;
mod upsert;

pub use savepoint::Savepoint;

use crate::database::Database;
use crate::error::{Error, Misuse, Result};
use crate::identity::IdentityMap;
use crate::model::Model;
use crate::query::Query;
use crate::sql::{Conn, render};
use crate::state::{AnyNode, Handle, Node, State, row_name};
use crate::transaction::Transaction;
use crate::unit_of_work::{self, FlushPlan, UnitOfWork};
use crate::value::{ToValue, Value};

/// A unit of work over one connection, with its identity map: it loads
/// rows into objects (one per row), tracks what is added, changed and
/// deleted, and writes it all in one flush. Single-threaded (`!Send`): each
/// thread or request opens its own from a shared [`Database`].
///
/// Rules it follows, each a decision SQLAlchemy users meet:
/// - **Autoflush**: a query, a `get` that misses the identity map and a lazy
///   load first flush pending changes, so they see pending objects instead of
///   missing them. [`Session::set_autoflush`] turns it off.
/// - **Commit keeps values**: after `commit` loaded objects keep their values
///   and stay usable (SQLAlchemy expires them, which is behind many
///   "detached instance" surprises). Call [`Session::refresh`] to re-read one.
/// - **Rollback restores**: objects changed in the transaction get back the
///   values they had at its start; objects added in it leave the session;
///   loaded collections are expired and reload on next access.
/// - **Savepoints**: [`Session::begin_nested`] marks a point inside the
///   transaction that a rollback can go back to, restoring exactly what
///   changed since, in memory and in the database; [`Session::transaction`]
///   runs a closure in a transaction (in a savepoint, inside one) and
///   commits or rolls back by its result.
/// - **Keys SQLite reuses**: without `AUTOINCREMENT`, SQLite hands out the
///   key of a deleted last row again. When a flush inserts a row under a key
///   the identity map already holds (the old row was deleted behind the
///   session's back), the old object is stale: it becomes detached and its
///   changes are dropped, so it can never write the new row. (`AUTOINCREMENT`
///   would prevent the reuse, at about 10% more per insert.)
/// - **All or nothing**: a call that returns an error has changed nothing,
///   in memory or in the database: `rollback` and `refresh` check every
///   borrow they need first (a guard the user holds makes them
///   [`Error::Borrowed`], to be retried), and a failed flush is undone in
///   the database and in memory alike.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String }
/// # fn main() -> orm::Result<()> {
/// let db = Database::in_memory()?;
/// db.create_all::<User>()?;
/// let session = db.session();
/// let alice = session.add(User::new("Alice"));
/// session.commit()?; // BEGIN; INSERT INTO "users" ...; COMMIT
/// assert_eq!(alice.read()?.id, 1);
/// # Ok(()) }
/// ```
pub struct Session {
    inner: Rc<SessionInner>,
}

/// A session's state, shared with its objects through weak references.
pub(crate) struct SessionInner {
    db: Database,
    conn: OnceCell<Conn>,
    identity: RefCell<IdentityMap>,
    unit_of_work: UnitOfWork,
    transaction: Transaction,
    autoflush: Cell<bool>,
    flushing: Cell<bool>,
    expire_on_commit: Cell<bool>,
    lazy_watch: crate::relation::LazyWatch,
    /// The objects whose collections a rollback expires.
    collection_owners: collection_owners::CollectionOwners,
}

impl Session {
    pub(crate) fn new(db: Database) -> Session {
        Session {
            inner: Rc::new(SessionInner {
                db,
                conn: OnceCell::new(),
                identity: RefCell::new(IdentityMap::default()),
                unit_of_work: UnitOfWork::default(),
                transaction: Transaction::default(),
                autoflush: Cell::new(true),
                flushing: Cell::new(false),
                expire_on_commit: Cell::new(false),
                lazy_watch: crate::relation::LazyWatch::default(),
                collection_owners: collection_owners::CollectionOwners::default(),
            }),
        }
    }

    /// Adds a new object; the next flush inserts it. Returns its handle.
    pub fn add<T: Model>(&self, value: T) -> Handle<T> {
        let node = Node::new(value, State::Pending, Rc::downgrade(&self.inner));
        self.inner
            .unit_of_work
            .add_pending(Rc::clone(&node) as Rc<dyn AnyNode>);
        Handle::from_node(node)
    }

    /// Adds an object made with [`Handle::new`] (or one rollback let go).
    ///
    /// # Errors
    /// [`Error::Misuse`] if it already belongs to a session.
    pub fn add_handle<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.adopt_node(handle.erased())
    }

    /// The object with this primary key: from the identity map without SQL
    /// when it is there, otherwise with one SELECT.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no row has this key; [`Error::Conversion`]
    /// when the row does not fit the model.
    pub fn get<T: Model>(&self, key: impl Into<T::Key>) -> Result<Handle<T>> {
        let key = key.into();
        self.find::<T>(key.clone())?.ok_or_else(|| Error::NotFound {
            table: T::TABLE.name.to_owned(),
            what: format!("with key {}", render(&Value::from(key.to_value()))),
        })
    }

    /// Like [`Session::get`], but `None` when no row has this key.
    ///
    /// # Errors
    /// [`Error::Conversion`] when the row does not fit the model.
    pub fn find<T: Model>(&self, key: impl Into<T::Key>) -> Result<Option<Handle<T>>> {
        self.inner
            .find::<T>(&key.into())
            .map(|n| n.map(Handle::from_node))
    }

    /// Starts a query over `T`'s table.
    pub fn query<T: Model>(&self) -> Query<'_, T> {
        Query::new(self)
    }

    /// Marks an object for deletion; the next flush deletes its row. A
    /// pending object is simply taken out of the session.
    ///
    /// Loaded objects the database changes through `ON DELETE CASCADE` or
    /// `SET NULL` follow in memory when the flush succeeds. Where one lies
    /// below rows that are not loaded (a loaded comment of a post that is
    /// not), the flush first reads the keys of the rows the cascade passes,
    /// one `SELECT` per table and level.
    ///
    /// # Errors
    /// [`Error::Misuse`] if the object is not in this session.
    pub fn delete<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.delete_node(handle.erased())
    }

    /// Writes every pending change to the database in one transaction
    /// (opened if needed, left open until `commit` or `rollback`), in an
    /// order the keys accept: updates that need no new row (releases of a
    /// key first), inserts with parents before children, updates that point
    /// at new rows, link rows, then deletes with children before parents.
    /// Many new rows of one table share multi-row INSERTs (of up to 32
    /// rows: on SQLite from 128 rows, on PostgreSQL from 3), each object
    /// still given its own row's key. A flush that fails writes nothing and
    /// changes no object.
    ///
    /// # Errors
    /// [`Error::Constraint`], [`Error::Busy`] or [`Error::NotANumber`] from
    /// the statement that failed; the database and the session are then as
    /// they were before the flush. One exception: when SQLite abandons the
    /// whole transaction itself (a full disk, an I/O error) after earlier
    /// flushes of the same transaction, those are lost too, and the session
    /// rolls back as [`Session::rollback`] does.
    pub fn flush(&self) -> Result<()> {
        self.inner
            .because(|| "flush".to_owned(), || self.inner.flush())
    }

    /// Flushes, then commits the transaction.
    ///
    /// # Errors
    /// As [`Session::flush`]; or [`Error::Busy`] from `COMMIT`;
    /// [`Error::Misuse`] ([`Misuse::SavepointOpen`]) while a savepoint of
    /// [`Session::begin_nested`] is open, with nothing flushed or committed
    /// (a savepoint whose guard was dropped is rolled back first, and its
    /// rollback's error returned if it fails).
    pub fn commit(&self) -> Result<()> {
        self.inner.check_commit()?;
        self.inner.because(
            || "commit".to_owned(),
            || {
                self.inner.flush()?;
                self.inner.commit()
            },
        )?;
        if self.inner.expire_on_commit.get() {
            self.inner.expire_loaded();
        }
        Ok(())
    }

    /// Rolls back the transaction and brings the objects back to the
    /// database's state: changed ones get their old values, added ones leave
    /// the session, deleted ones come back, and loaded collections expire.
    ///
    /// Checks first that every object to restore is free of the user's
    /// guards: if one is not, nothing is rolled back (in memory or in the
    /// database) and the call can be repeated once the guard is gone.
    ///
    /// Ends every open savepoint with the transaction: their guards are
    /// inert then (see [`Savepoint`]).
    ///
    /// # Errors
    /// [`Error::Borrowed`] while a guard of an object to restore is alive;
    /// [`Error::Sqlite`] if `ROLLBACK` fails.
    pub fn rollback(&self) -> Result<()> {
        self.inner
            .because(|| "rollback".to_owned(), || self.inner.rollback())
    }

    /// The rows the next flush would write, in order, with why each comes
    /// where it does: a step per row (many new rows of one table may share
    /// one multi-row INSERT). Runs nothing.
    ///
    /// # Errors
    /// [`Error::Borrowed`] if an object is being written.
    pub fn flush_plan(&self) -> Result<FlushPlan> {
        unit_of_work::plan(&self.inner.unit_of_work.work())
    }

    /// Re-reads an object's row, discarding its unflushed changes.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the row is gone; [`Error::Borrowed`] while a
    /// guard of the object is alive; [`Error::Misuse`] if the object is not
    /// persistent in this session. Nothing changed then.
    pub fn refresh<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.refresh(&handle.node)
    }

    /// Turns autoflush (see the module docs) on or off.
    pub fn set_autoflush(&self, on: bool) {
        self.inner.autoflush.set(on);
    }

    /// How many objects the identity map holds.
    pub fn len(&self) -> usize {
        self.inner
            .identity
            .try_borrow()
            .map_or(0, |identity| identity.len())
    }

    /// Whether the identity map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether there are changes a flush would write.
    pub fn has_changes(&self) -> bool {
        self.inner.unit_of_work.has_work()
    }

    /// Lets go of every object: the identity map is emptied and handles the
    /// user still holds become detached. Pending changes are dropped.
    pub fn clear(&self) {
        self.inner.clear();
    }

    pub(crate) fn inner(&self) -> &Rc<SessionInner> {
        &self.inner
    }
}

impl Drop for SessionInner {
    /// Returns the connection (rolling back an open transaction). The
    /// objects need no visit: their weak link to the session dies with it,
    /// which is what makes them detached.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.db.release(conn);
        }
    }
}

/// Orchestration: each step asks the module that owns the state
/// (`unit_of_work`, `transaction`, `identity`, `loading`) and changes
/// nothing until every check has passed.
impl SessionInner {
    /// Runs `run` with `cause` as the (root) reason of its statements; see
    /// `Conn::because`.
    pub(crate) fn because<R>(
        &self,
        cause: impl FnOnce() -> String,
        run: impl FnOnce() -> Result<R>,
    ) -> Result<R> {
        // Unobserved, nothing to write down: no connection is opened for it.
        if !self.db.shared.observers.active() {
            return run();
        }
        self.conn()?.because(true, cause, run)
    }

    /// A lazy load of `model.field`, owned by a row of `owner_table`, is
    /// about to run: the N+1 watch counts it, warns, or (strict) refuses.
    pub(crate) fn lazy_load(
        &self,
        model: &'static str,
        field: &'static str,
        owner_table: &'static str,
    ) -> Result<()> {
        let observers = &self.db.shared.observers;
        let watch = observers.n_plus_one();
        if let Some(warning) = self
            .lazy_watch
            .lazy_load(watch, model, field, owner_table)?
        {
            observers.warn(&warning);
        }
        Ok(())
    }

    /// Collections of `owner` were filled by a load or preload, or changed
    /// while not loaded: a rollback expires them.
    pub(crate) fn note_collections<N: AnyNode + 'static>(&self, owner: &Rc<N>) {
        self.collection_owners.note(owner, || self.held());
    }

    /// How many objects the identity map holds (as many as it can tell
    /// while it is being changed: none).
    fn held(&self) -> usize {
        self.identity
            .try_borrow()
            .map_or(0, |identity| identity.len())
    }

    /// A query of `table` ran (see the N+1 watch).
    pub(crate) fn queried(&self, table: &'static str) {
        self.lazy_watch.query_of(table);
    }

    pub(crate) fn identity(&self) -> Ref<'_, IdentityMap> {
        self.identity.borrow()
    }

    pub(crate) fn identity_mut(&self) -> RefMut<'_, IdentityMap> {
        self.identity.borrow_mut()
    }

    pub(crate) fn unit_of_work(&self) -> &UnitOfWork {
        &self.unit_of_work
    }

    pub(crate) fn transaction(&self) -> &Transaction {
        &self.transaction
    }

    /// The session's connection, taken from the database on first use and
    /// held until the session is dropped.
    pub(crate) fn conn(&self) -> Result<&Conn> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let conn = self.db.connect()?;
        Ok(self.conn.get_or_init(|| conn))
    }

    /// Whether `node` can join this session: `Ok(false)` when it is in it
    /// already, an error when it belongs to another or was persistent in a
    /// session that is gone.
    pub(crate) fn check_adoptable(&self, node: &Rc<dyn AnyNode>) -> Result<bool> {
        let model = node.table().model;
        match node.meta().session() {
            Some(other) if std::ptr::eq(Rc::as_ptr(&other), self) => return Ok(false),
            Some(_) => return Err(Misuse::OtherSession { model }.into()),
            None => {}
        }
        // Pending in a session that is gone: never inserted, free to join.
        if !matches!(node.state(), State::Transient | State::Pending) {
            return Err(Misuse::Detached { model }.into());
        }
        Ok(true)
    }

    /// Fails unless `node` is persistent (or deleted) in this session.
    fn check_mine(&self, node: &Rc<dyn AnyNode>) -> Result<()> {
        let model = node.table().model;
        if node.meta().in_session(self) && matches!(node.state(), State::Persistent) {
            return Ok(());
        }
        match node.meta().session() {
            Some(_) if !node.meta().in_session(self) => Err(Misuse::OtherSession { model }.into()),
            _ => Err(Misuse::NotInSession {
                model,
                state: state_name(node.state()),
            }
            .into()),
        }
    }

    pub(crate) fn delete_node(&self, node: Rc<dyn AnyNode>) -> Result<()> {
        let mine = node.meta().in_session(self);
        match node.state() {
            State::Pending if mine => {
                node.meta().set_state(State::Transient);
                node.meta().detach();
                self.unit_of_work.expunge(&node);
                Ok(())
            }
            State::Persistent if mine => {
                node.meta().set_state(State::Deleted);
                self.unit_of_work.mark_deleted(node);
                Ok(())
            }
            State::Deleted if mine => Ok(()),
            _ if node.meta().session().is_some() && !mine => Err(Misuse::OtherSession {
                model: node.table().model,
            }
            .into()),
            state => Err(Misuse::NotInSession {
                model: node.table().model,
                state: state_name(state),
            }
            .into()),
        }
    }

    pub(crate) fn refresh<T: Model>(&self, node: &Rc<Node<T>>) -> Result<()> {
        self.check_mine(&(Rc::clone(node) as Rc<dyn AnyNode>))?;
        let reread = || self.reread(node);
        let found = if self.db.shared.observers.active() {
            self.conn()?.because_within(
                || {
                    let what = if node.meta().is_expired() {
                        "reload of expired"
                    } else {
                        "refresh of"
                    };
                    format!("{what} {}", row_name(&**node))
                },
                reread,
            )
        } else {
            reread()
        };
        if found? {
            Ok(())
        } else {
            Err(Error::NotFound {
                table: T::TABLE.name.to_owned(),
                what: format!("with key {}", render(&Value::from(node.key()?.to_value()))),
            })
        }
    }

    fn clear(&self) {
        let abandoned = self.unit_of_work.take();
        let discarded = self.unit_of_work.take_discarded();
        let logged = self.transaction.clear();
        let identity = self.identity.borrow_mut().take();
        for node in identity.nodes() {
            node.meta().detach();
        }
        drop(self.collection_owners.take(self));
        for node in &abandoned.pending {
            node.meta().detach();
            node.meta().set_state(State::Transient);
        }
        drop((abandoned, discarded, logged, identity));
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Transient => "transient",
        State::Pending => "pending",
        State::Persistent => "persistent",
        State::Deleted => "deleted",
        State::Detached => "detached",
    }
}
