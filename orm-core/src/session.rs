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

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;

use rusqlite::ToSql;

use crate::database::Database;
use crate::error::{Error, Result};
use crate::identity::IdentityMap;
use crate::model::Model;
use crate::object::{AnyNode, Handle, Node, State};
use crate::query::Query;
use crate::sql::{Conn, Kind, Param, owned_value, quote, render};
use crate::unit_of_work::{self, FlushPlan};

/// A unit of work: see the [module docs](self).
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
    conn: RefCell<Option<Conn>>,
    identity: RefCell<IdentityMap>,
    pending: RefCell<Vec<Rc<dyn AnyNode>>>,
    dirty: RefCell<Vec<Rc<dyn AnyNode>>>,
    deleted: RefCell<Vec<Rc<dyn AnyNode>>>,
    /// Children let go by `delete_orphan` collections, with the field that
    /// would have to point at a parent for them to survive the flush.
    orphans: RefCell<Vec<(Rc<dyn AnyNode>, &'static str)>>,
    /// The orphans the next flush deletes (also in `deleted`).
    orphan_deletes: RefCell<Vec<Rc<dyn AnyNode>>>,
    /// Link rows of many-to-many relationships to insert or delete.
    links: RefCell<Vec<unit_of_work::LinkChange>>,
    /// New objects deleted before any flush: rollback empties their
    /// collections, as the children they held go back to their old parents.
    discarded: RefCell<Vec<Rc<dyn AnyNode>>>,
    /// Objects first loaded while a transaction was open: their values may
    /// be ones the transaction wrote, so rollback re-reads them.
    loaded_in_transaction: RefCell<Vec<Rc<dyn AnyNode>>>,
    /// What flushes wrote in the open transaction, for rollback.
    written: RefCell<Vec<unit_of_work::Written>>,
    in_transaction: Cell<bool>,
    autoflush: Cell<bool>,
    flushing: Cell<bool>,
}

impl Session {
    pub(crate) fn new(db: Database) -> Session {
        Session {
            inner: Rc::new(SessionInner {
                db,
                conn: RefCell::new(None),
                identity: RefCell::new(IdentityMap::default()),
                pending: RefCell::new(Vec::new()),
                dirty: RefCell::new(Vec::new()),
                deleted: RefCell::new(Vec::new()),
                links: RefCell::new(Vec::new()),
                orphans: RefCell::new(Vec::new()),
                orphan_deletes: RefCell::new(Vec::new()),
                loaded_in_transaction: RefCell::new(Vec::new()),
                discarded: RefCell::new(Vec::new()),
                written: RefCell::new(Vec::new()),
                in_transaction: Cell::new(false),
                autoflush: Cell::new(true),
                flushing: Cell::new(false),
            }),
        }
    }

    /// Adds a new object; the next flush inserts it. Returns its handle.
    pub fn add<T: Model>(&self, value: T) -> Handle<T> {
        let node = Node::new(value, State::Pending);
        self.inner.adopt(node.clone());
        Handle::from_node(node)
    }

    /// Adds an object made with [`Handle::new`] (or one rollback let go).
    ///
    /// # Errors
    /// [`Error::Misuse`] if it already belongs to a session.
    pub fn add_handle<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.adopt_handle(handle)
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
            what: format!("with key {}", render(&owned_value(&key))),
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

    /// Runs SQL text with bound parameters and maps its rows into `T`
    /// objects through the identity map. The SQL must return `T`'s columns
    /// by name (`SELECT * FROM users WHERE ...` does); other columns are ignored.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<User>()?;
    /// let session = db.session();
    /// session.add(User::new("Zoë"));
    /// let found = session.sql::<User>("SELECT * FROM users WHERE name = ?1", &[&"Zoë"])?;
    /// assert_eq!(found[0].read()?.name, "Zoë");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlite`] when the SQL is invalid or lacks a column of `T`.
    pub fn sql<T: Model>(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Handle<T>>> {
        let columns: Vec<String> = T::TABLE.columns.iter().map(|c| quote(c.name)).collect();
        let wrapped = format!("SELECT {} FROM ({sql})", columns.join(", "));
        let params: Vec<Param<'_>> = params.iter().map(|p| Param::new(*p, "?")).collect();
        self.inner.autoflush()?;
        let mut found = Vec::new();
        self.inner.select::<T>(&wrapped, &params, |node| {
            found.push(Handle::from_node(node));
            Ok(())
        })?;
        Ok(found)
    }

    /// Marks an object for deletion; the next flush deletes its row. A
    /// pending object is simply taken out of the session.
    ///
    /// # Errors
    /// [`Error::Misuse`] if the object is not in this session.
    pub fn delete<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.delete_node(handle.node.clone())
    }

    /// Writes every pending change to the database in one transaction
    /// (opened if needed, left open until `commit` or `rollback`), in an
    /// order the keys accept: updates that need no new row (releases of a
    /// key first), inserts with parents before children, updates that point
    /// at new rows, link rows, then deletes with children before parents.
    /// A flush that fails writes nothing and changes no object.
    ///
    /// # Errors
    /// [`Error::Constraint`], [`Error::Busy`] or [`Error::NotANumber`] from
    /// the statement that failed; the database and the session are then as
    /// they were before the flush. One exception: when SQLite abandons the
    /// whole transaction itself (a full disk, an I/O error) after earlier
    /// flushes of the same transaction, those are lost too, and the session
    /// rolls back as [`Session::rollback`] does.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Flushes, then commits the transaction.
    ///
    /// # Errors
    /// As [`Session::flush`]; or [`Error::Busy`] from `COMMIT`.
    pub fn commit(&self) -> Result<()> {
        self.inner.flush()?;
        self.inner.commit()
    }

    /// Rolls back the transaction and brings the objects back to the
    /// database's state: changed ones get their old values, added ones leave
    /// the session, deleted ones come back, and loaded collections expire.
    ///
    /// # Errors
    /// [`Error::Sqlite`] if `ROLLBACK` fails.
    pub fn rollback(&self) -> Result<()> {
        self.inner.rollback()
    }

    /// The statements the next flush would run, in order, with why each
    /// comes where it does. Runs nothing.
    ///
    /// # Errors
    /// [`Error::Borrowed`] if an object is being written.
    pub fn flush_plan(&self) -> Result<FlushPlan> {
        unit_of_work::plan(&self.inner)
    }

    /// Re-reads an object's row, discarding its unflushed changes.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the row is gone.
    pub fn refresh<T: Model>(&self, handle: &Handle<T>) -> Result<()> {
        self.inner.refresh(&handle.node)
    }

    /// Turns autoflush (see the module docs) on or off.
    pub fn set_autoflush(&self, on: bool) {
        self.inner.autoflush.set(on);
    }

    /// How many objects the identity map holds.
    pub fn len(&self) -> usize {
        self.inner.identity.borrow().len()
    }

    /// Whether the identity map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether there are changes a flush would write.
    pub fn has_changes(&self) -> bool {
        self.inner.has_work()
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

impl Drop for Session {
    /// Returns the connection (rolling back an open transaction). The
    /// objects need no visit: their weak link to the session dies with it,
    /// which is what makes them detached.
    fn drop(&mut self) {
        if let Some(conn) = self.inner.conn.borrow_mut().take() {
            self.inner.db.release(conn);
        }
    }
}

impl SessionInner {
    pub(crate) fn identity(&self) -> Ref<'_, IdentityMap> {
        self.identity.borrow()
    }

    pub(crate) fn identity_mut(&self) -> RefMut<'_, IdentityMap> {
        self.identity.borrow_mut()
    }

    pub(crate) fn conn(&self) -> Result<Ref<'_, Conn>> {
        if self.conn.borrow().is_none() {
            let conn = self.db.connect()?;
            *self.conn.borrow_mut() = Some(conn);
        }
        Ref::filter_map(self.conn.borrow(), Option::as_ref)
            .map_err(|_| Error::Misuse("the session has no connection".to_owned()))
    }

    fn adopt<T: Model>(self: &Rc<Self>, node: Rc<Node<T>>) {
        node.attach(self);
        node.set_state(State::Pending);
        self.pending.borrow_mut().push(node);
    }

    pub(crate) fn adopt_handle<T: Model>(self: &Rc<Self>, handle: &Handle<T>) -> Result<()> {
        self.adopt_node(handle.node.clone())
    }

    /// Adds a transient object to this session (the save-update cascade of
    /// relationships uses it too).
    pub(crate) fn adopt_node(self: &Rc<Self>, node: Rc<dyn AnyNode>) -> Result<()> {
        match node.session() {
            Some(other) if Rc::ptr_eq(&other, self) => return Ok(()),
            Some(_) => {
                return Err(Error::Misuse(format!(
                    "this `{}` object belongs to another session",
                    node.table().model
                )));
            }
            None => {}
        }
        // Pending in a session that is gone: never inserted, free to join.
        if !matches!(node.state(), State::Transient | State::Pending) {
            return Err(Error::Misuse(format!(
                "this `{}` object was {:?} in a session that is gone; it cannot join another",
                node.table().model,
                node.state()
            )));
        }
        node.set_session(self);
        node.set_state(State::Pending);
        self.pending.borrow_mut().push(node);
        Ok(())
    }

    pub(crate) fn mark_dirty(&self, node: Rc<dyn AnyNode>) {
        self.dirty.borrow_mut().push(node);
    }

    /// Records a link row to insert (`link`) or delete on flush. Where the
    /// collection was loaded (`known`), the opposite change still pending
    /// cancels out; otherwise the database's state is unknown and the last
    /// change wins.
    pub(crate) fn record_link(
        &self,
        table: &'static str,
        ends: [(&'static str, Rc<dyn AnyNode>); 2],
        link: bool,
        known: bool,
    ) {
        let change = unit_of_work::LinkChange::new(table, ends, link);
        let mut links = self.links.borrow_mut();
        if let Some(i) = links.iter().position(|c| c.same_link(&change)) {
            if links[i].link != link {
                links.remove(i);
                if !known {
                    links.push(change);
                }
            }
            return;
        }
        links.push(change);
    }

    fn has_work(&self) -> bool {
        !self.pending.borrow().is_empty()
            || !self.deleted.borrow().is_empty()
            || !self.links.borrow().is_empty()
            || !self.orphans.borrow().is_empty()
            || self.dirty.borrow().iter().any(|n| n.has_changes())
    }

    /// Flushes first if autoflush is on and there is anything to write.
    pub(crate) fn autoflush(&self) -> Result<()> {
        if self.autoflush.get() && !self.flushing.get() && self.has_work() {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn find<T: Model>(self: &Rc<Self>, key: &T::Key) -> Result<Option<Rc<Node<T>>>> {
        if let Some(node) = self.identity.borrow().get::<T>(key) {
            return Ok(Some(node));
        }
        self.autoflush()?;
        let table = T::TABLE;
        let conn = self.conn()?;
        let sql = conn.text(table, Kind::Get, || get_sql(table));
        let mut found = None;
        let params = [Param::new(key, table.primary_key().name)];
        conn.query_rows(&sql, &params, table.name, 1, |row| {
            found = Some(self.load_row::<T>(row)?);
            Ok(())
        })?;
        Ok(found)
    }

    /// Runs a SELECT of `T`'s columns (in table order) and hands each row's
    /// object to `each`: the one already in the identity map, or a new one.
    pub(crate) fn select<T: Model>(
        self: &Rc<Self>,
        sql: &str,
        params: &[Param<'_>],
        mut each: impl FnMut(Rc<Node<T>>) -> Result<()>,
    ) -> Result<()> {
        self.select_rows::<T>(sql, params, |node, _| each(node))
    }

    /// Like `select`, also handing over the row, for columns after `T`'s.
    pub(crate) fn select_rows<T: Model>(
        self: &Rc<Self>,
        sql: &str,
        params: &[Param<'_>],
        mut each: impl FnMut(Rc<Node<T>>, &rusqlite::Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let conn = self.conn()?;
        conn.query(sql, params, T::TABLE.name, |row| {
            let node = self.load_row::<T>(row)?;
            each(node, row)
        })
    }

    /// The object for one row (columns in `T::TABLE` order).
    pub(crate) fn load_row<T: Model>(
        self: &Rc<Self>,
        row: &rusqlite::Row<'_>,
    ) -> Result<Rc<Node<T>>> {
        let table = T::TABLE;
        let key: T::Key = row
            .get(table.primary_key)
            .map_err(|e| conversion_error(table, row, e))?;
        // One lookup: the object already loaded, or a new one in its place.
        self.identity.borrow_mut().get_or_try_insert::<T>(key, || {
            let value = T::from_row(row).map_err(|e| conversion_error(table, row, e))?;
            let node = Node::new(value, State::Persistent);
            node.attach(self);
            if self.in_transaction.get() {
                let erased: Rc<dyn AnyNode> = node.clone();
                self.loaded_in_transaction.borrow_mut().push(erased);
            }
            Ok(node)
        })
    }

    pub(crate) fn delete_node(&self, node: Rc<dyn AnyNode>) -> Result<()> {
        let mine = node
            .session()
            .is_some_and(|s| std::ptr::eq(Rc::as_ptr(&s), self));
        match node.state() {
            State::Pending if mine => {
                self.pending.borrow_mut().retain(|n| !same_node(n, &node));
                node.set_state(State::Transient);
                node.detach();
                self.discarded.borrow_mut().push(node);
                Ok(())
            }
            State::Persistent if mine => {
                node.set_state(State::Deleted);
                self.deleted.borrow_mut().push(node);
                Ok(())
            }
            State::Deleted if mine => Ok(()),
            state => Err(Error::Misuse(format!(
                "cannot delete this `{}` object: it is {state:?}, not in this session",
                node.table().model
            ))),
        }
    }

    /// Remembers a child taken out of a `delete_orphan` collection; the next
    /// flush deletes it if it still has no parent then (it may have been
    /// pushed into another collection meanwhile).
    pub(crate) fn mark_orphan(&self, node: Rc<dyn AnyNode>, field: &'static str) {
        self.orphans.borrow_mut().push((node, field));
    }

    /// Deletes the marked orphans that are still orphans.
    fn delete_orphans(&self) -> Result<()> {
        let orphans = std::mem::take(&mut *self.orphans.borrow_mut());
        for (node, field) in orphans {
            if matches!(node.state(), State::Pending | State::Persistent) && node.orphaned(field)? {
                self.delete_node(Rc::clone(&node))?;
                if node.state() == State::Deleted {
                    self.orphan_deletes.borrow_mut().push(node);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.delete_orphans()?;
        if !self.has_work() {
            self.dirty
                .borrow_mut()
                .iter()
                .for_each(|n| n.clear_dirty_flag());
            self.dirty.borrow_mut().clear();
            return Ok(());
        }
        if self.flushing.replace(true) {
            return Err(Error::Misuse("flush called while flushing".to_owned()));
        }
        let result = self.flush_now();
        self.flushing.set(false);
        result
    }

    fn flush_now(&self) -> Result<()> {
        let conn = self.conn()?;
        let outer = !self.in_transaction.get();
        let work = self.work();
        conn.control(if outer {
            "BEGIN IMMEDIATE"
        } else {
            "SAVEPOINT orm_flush"
        })
        .map_err(|e| match e {
            // Name the table the flush was about to write.
            Error::Busy { .. } => Error::Busy {
                table: work.first_table().unwrap_or_default().to_owned(),
            },
            other => other,
        })?;
        match unit_of_work::execute(&conn, &work) {
            Ok(written) => {
                if outer {
                    self.in_transaction.set(true);
                } else {
                    conn.control("RELEASE orm_flush")?;
                }
                drop(conn);
                self.pending.borrow_mut().clear();
                self.deleted.borrow_mut().clear();
                self.orphan_deletes.borrow_mut().clear();
                self.links.borrow_mut().clear();
                let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
                dirty.iter().for_each(|n| n.clear_dirty_flag());
                let cascaded = unit_of_work::apply(self, &written)?;
                self.written.borrow_mut().extend(written);
                self.written.borrow_mut().extend(cascaded);
                Ok(())
            }
            Err((error, written)) => {
                unit_of_work::revert(&written);
                if conn.raw().is_autocommit() {
                    // SQLite abandoned the whole transaction itself (a full
                    // disk, an I/O error). If earlier flushes were in it,
                    // they are gone too, so the session rolls back as
                    // `rollback()` would; otherwise only this flush was lost
                    // and its changes stay pending.
                    drop(conn);
                    if !outer {
                        self.in_transaction.set(false);
                        self.rollback()?;
                    }
                    return Err(error);
                }
                if outer {
                    conn.control("ROLLBACK")?;
                } else {
                    conn.control("ROLLBACK TO orm_flush")?;
                    conn.control("RELEASE orm_flush")?;
                }
                Err(error)
            }
        }
    }

    pub(crate) fn work(&self) -> unit_of_work::Work {
        let orphans = self.orphan_deletes.borrow().clone();
        let deleted = self
            .deleted
            .borrow()
            .iter()
            .filter(|n| !orphans.iter().any(|o| same_node(o, n)))
            .cloned()
            .collect();
        unit_of_work::Work {
            pending: self.pending.borrow().clone(),
            dirty: self.dirty.borrow().clone(),
            deleted,
            orphans,
            links: self.links.borrow().clone(),
        }
    }

    fn commit(&self) -> Result<()> {
        if !self.in_transaction.get() {
            return Ok(());
        }
        let conn = self.conn()?;
        if let Err(error) = conn.control("COMMIT") {
            if conn.raw().is_autocommit() {
                // The transaction is gone (SQLite rolled it back): so are
                // its changes, in memory as in the database.
                drop(conn);
                self.in_transaction.set(false);
                self.rollback()?;
            }
            return Err(error);
        }
        drop(conn);
        self.in_transaction.set(false);
        for written in std::mem::take(&mut *self.written.borrow_mut()) {
            written.committed();
        }
        self.loaded_in_transaction.borrow_mut().clear();
        self.discarded.borrow_mut().clear();
        Ok(())
    }

    fn rollback(&self) -> Result<()> {
        if self.in_transaction.get() {
            self.conn()?.control("ROLLBACK")?;
            self.in_transaction.set(false);
        }
        let written = std::mem::take(&mut *self.written.borrow_mut());
        let inserted: Vec<&Rc<dyn AnyNode>> = written.iter().filter_map(|w| w.inserted()).collect();
        for w in written.iter().rev() {
            // An object inserted in this transaction keeps the values it has:
            // its updates and its delete are not undone, only its insert.
            if let Some(node) = w.updated().or(w.deleted())
                && inserted.iter().any(|n| same_node(n, node))
            {
                continue;
            }
            w.rolled_back(self)?;
        }
        for node in std::mem::take(&mut *self.dirty.borrow_mut()) {
            node.clear_dirty_flag();
            // Objects inserted in this transaction already left the session.
            if node.state() != State::Transient {
                node.rolled_back()?;
            }
        }
        for node in std::mem::take(&mut *self.pending.borrow_mut()) {
            node.detach();
            node.set_state(State::Transient);
            node.reset_relations();
        }
        for node in std::mem::take(&mut *self.deleted.borrow_mut()) {
            // One inserted in this transaction has already left the session.
            if node.state() == State::Deleted {
                node.set_state(State::Persistent);
            }
        }
        self.links.borrow_mut().clear();
        self.orphans.borrow_mut().clear();
        self.orphan_deletes.borrow_mut().clear();
        for node in std::mem::take(&mut *self.discarded.borrow_mut()) {
            node.reset_relations();
        }
        for node in std::mem::take(&mut *self.loaded_in_transaction.borrow_mut()) {
            if node.state() == State::Persistent && node.session().is_some() {
                node.reread(self)?;
            }
        }
        let nodes = self.identity.borrow().nodes();
        for node in nodes {
            node.expire_relations();
        }
        Ok(())
    }

    fn refresh<T: Model>(self: &Rc<Self>, node: &Rc<Node<T>>) -> Result<()> {
        if self.reread(node)? {
            Ok(())
        } else {
            Err(Error::NotFound {
                table: T::TABLE.name.to_owned(),
                what: format!("with key {}", render(&owned_value(&node.key()?))),
            })
        }
    }

    /// Overwrites an object with its row as the database holds it now,
    /// discarding its unflushed changes. Returns whether the row exists.
    pub(crate) fn reread<T: Model>(&self, node: &Node<T>) -> Result<bool> {
        let table = T::TABLE;
        let key = node.key()?;
        let conn = self.conn()?;
        let sql = conn.text(table, Kind::Get, || get_sql(table));
        let mut found = false;
        let params = [Param::new(&key, table.primary_key().name)];
        conn.query_rows(&sql, &params, table.name, 1, |row| {
            let fresh = T::from_row(row).map_err(|e| conversion_error(table, row, e))?;
            node.discard_changes();
            node.refresh_from(fresh)?;
            found = true;
            Ok(())
        })?;
        Ok(found)
    }

    fn clear(&self) {
        let nodes = self.identity.borrow().nodes();
        for node in nodes {
            node.detach();
        }
        for node in self.pending.borrow_mut().drain(..) {
            node.detach();
            node.set_state(State::Transient);
        }
        self.dirty.borrow_mut().clear();
        self.deleted.borrow_mut().clear();
        self.links.borrow_mut().clear();
        self.orphans.borrow_mut().clear();
        self.orphan_deletes.borrow_mut().clear();
        self.loaded_in_transaction.borrow_mut().clear();
        self.discarded.borrow_mut().clear();
        self.written.borrow_mut().clear();
        self.identity.borrow_mut().clear();
    }
}

/// `SELECT ... FROM "table" WHERE "pk" = ?`.
fn get_sql(table: &crate::schema::TableDef) -> String {
    format!(
        "{} WHERE {} = ?",
        select_sql(table),
        quote(table.primary_key().name)
    )
}

/// `SELECT "c1", "c2", ... FROM "table"`.
pub(crate) fn select_sql(table: &crate::schema::TableDef) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    format!("SELECT {} FROM {}", columns.join(", "), quote(table.name))
}

pub(crate) fn same_node(a: &Rc<dyn AnyNode>, b: &Rc<dyn AnyNode>) -> bool {
    std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
}

/// A row that did not convert: names the table, the column and the row's key.
pub(crate) fn conversion_error(
    table: &crate::schema::TableDef,
    row: &rusqlite::Row<'_>,
    err: rusqlite::Error,
) -> Error {
    use rusqlite::Error as E;
    let column = match &err {
        E::InvalidColumnType(i, _, _)
        | E::FromSqlConversionFailure(i, _, _)
        | E::IntegralValueOutOfRange(i, _) => table.columns.get(*i).map(|c| c.name),
        _ => None,
    };
    let Some(column) = column else {
        return Error::Sqlite(err);
    };
    let key = row
        .get::<_, rusqlite::types::Value>(table.primary_key)
        .map(|v| render(&v))
        .unwrap_or_else(|_| "(unreadable)".to_owned());
    let detail = match &err {
        E::InvalidColumnType(_, _, rusqlite::types::Type::Null) => {
            "NULL in a field that is not an Option".to_owned()
        }
        E::InvalidColumnType(_, _, found) => format!("found a value of type {found}"),
        other => other.to_string(),
    };
    Error::Conversion {
        table: table.name.to_owned(),
        column: column.to_owned(),
        key,
        detail,
    }
}
