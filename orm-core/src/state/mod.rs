//! Object state: how a row a session knows is held, shared, borrowed and
//! changed (SQLAlchemy's `state.py` and `attributes.py`).
//!
//! Each row lives in one [`Node`] behind an `Rc`; a [`Handle`] is a counted
//! reference to it, so two handles to one row are the same object. Field
//! access goes through [`Handle::read`] and [`Handle::write`], which return an
//! error instead of panicking when the borrow conflicts. What a session
//! knows about an object whatever its model (its [`State`], its change
//! tracking, its session) lives in [`Meta`]; the rest of the runtime reaches
//! an object through the small erased interface [`AnyNode`].
//!
//! Does not write to the database (`persistence` does) and does not know
//! other objects (`relation` does). The user's side, [`Handle`] and its
//! guards, is in `handle`.

mod handle;
mod held;
mod in_place;
mod weak_cell;

pub(crate) use in_place::in_place;
pub(crate) use weak_cell::WeakCell;

pub use handle::{Change, Handle, Write};

use std::any::Any;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::{Rc, Weak};

use crate::value::{Bound, FromValueError, Value, ValueRef};

use crate::error::{Error, Result};
use crate::identity::IdentityMap;
use crate::model::Model;
use crate::relation::{CollectionField, ForeignKeyField, Lazy, Owner, RelationField};
use crate::schema::TableDef;
use crate::session::SessionInner;
use crate::sql::render;

/// Where an object stands with respect to its session and the database
/// (SQLAlchemy's object states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not in any session and not in the database.
    Transient,
    /// Added to a session; inserted by the next flush.
    Pending,
    /// In the session's identity map, with a row in the database.
    Persistent,
    /// Marked for deletion (or deleted by a flush not yet committed).
    Deleted,
    /// Was persistent, but its session is gone or let it go.
    Detached,
}

/// The column values an object had, kept while it has changes.
#[derive(Default)]
struct Saved {
    /// Column values as the database holds them now, taken on first write
    /// since the last load or flush. `None`: unchanged since then.
    snapshot: Option<Box<[Value]>>,
    /// Column values as of the start of the transaction, kept once a flush
    /// has written this object, so that rollback can restore them.
    before_transaction: Option<Box<[Value]>>,
    /// The objects linked to it while neither was in a session, held
    /// strongly so that a graph built before a session lives as long as a
    /// handle to its root: a parent holds its children, a many-to-many
    /// owner what it added. Let go of once they join a session (which owns
    /// them then). Kept here, beside change tracking, so that an object
    /// that holds nothing costs nothing: only objects in no session hold,
    /// and only objects in one track changes.
    held: held::Held,
}

/// What a rollback restores an object from: its values at the start of the
/// transaction, else those before its unflushed changes.
pub(crate) type Restore = Option<Box<[Value]>>;

/// What the session knows about one object, whatever its model. Change
/// tracking is one null pointer until the first change, so objects that are
/// only read cost no memory for it.
pub(crate) struct Meta {
    state: Cell<State>,
    saved: Cell<Option<Box<Saved>>>,
    session: WeakCell<SessionInner>,
    /// Whether the object waits in the unit of work's dirty list.
    listed_dirty: Cell<bool>,
    /// Whether its values are to be read again before they are next used
    /// (`Session::expire`).
    expired: Cell<bool>,
    /// Whether its session's list of objects with loaded collections
    /// holds it (`session::collection_owners`).
    collections_noted: Cell<bool>,
    /// The lazy-loading rule of its relationship fields, where a query
    /// overrode the model's (`Query::lazy`). One per object, not per field:
    /// a query sets it for all of them.
    lazy: Cell<Option<Lazy>>,
}

impl Meta {
    fn new(state: State, session: Weak<SessionInner>) -> Meta {
        Meta {
            state: Cell::new(state),
            saved: Cell::new(None),
            session: WeakCell::from_weak(session),
            listed_dirty: Cell::new(false),
            expired: Cell::new(false),
            collections_noted: Cell::new(false),
            lazy: Cell::new(None),
        }
    }

    /// The lazy-loading rule a query set for this object's relationships.
    pub(crate) fn lazy(&self) -> Option<Lazy> {
        self.lazy.get()
    }

    /// Overrides the lazy-loading rule of every relationship of the object.
    pub(crate) fn set_lazy(&self, lazy: Lazy) {
        self.lazy.set(Some(lazy));
    }

    /// Runs `work` on the saved values, in place (see `in_place`: `work`
    /// must not reach this object's change tracking).
    fn with_saved<R>(&self, work: impl FnOnce(&mut Option<Box<Saved>>) -> R) -> R {
        in_place(&self.saved, work)
    }

    /// What it keeps alive now (see `Saved::held`).
    pub(crate) fn held(&self) -> Vec<Rc<dyn AnyNode>> {
        self.with_saved(|saved| saved.as_ref().map(|s| s.held.to_vec()).unwrap_or_default())
    }

    /// Keeps `node` alive as long as this object.
    pub(crate) fn hold(&self, node: Rc<dyn AnyNode>) {
        self.with_saved(|saved| {
            saved.get_or_insert_default().held.insert(node);
        });
    }

    /// Stops keeping `node` alive; returns it, to drop outside the cell.
    pub(crate) fn release(&self, node: &Rc<dyn AnyNode>) -> Vec<Rc<dyn AnyNode>> {
        self.with_saved(|saved| {
            let Some(s) = saved.as_mut() else {
                return Vec::new();
            };
            let gone = s.held.remove(node);
            tidy(saved);
            gone.into_iter().collect()
        })
    }

    /// Stops keeping anything alive; returns what it held, to drop outside
    /// the cell.
    pub(crate) fn release_all(&self) -> Vec<Rc<dyn AnyNode>> {
        self.with_saved(|saved| {
            let held = saved.as_mut().map(|s| s.held.take()).unwrap_or_default();
            tidy(saved);
            held
        })
    }

    pub(crate) fn is_expired(&self) -> bool {
        self.expired.get()
    }

    pub(crate) fn set_expired(&self, expired: bool) {
        self.expired.set(expired);
    }

    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.set(state);
    }

    pub(crate) fn session(&self) -> Option<Rc<SessionInner>> {
        self.session.upgrade()
    }

    /// Whether the object belongs to `session`.
    pub(crate) fn in_session(&self, session: &SessionInner) -> bool {
        std::ptr::eq(self.session.as_ptr(), session)
    }

    fn session_gone(&self) -> bool {
        !self.session.is_alive()
    }

    pub(crate) fn attach(&self, session: &Rc<SessionInner>) {
        self.session.set(Rc::downgrade(session));
        self.collections_noted.set(false);
    }

    pub(crate) fn detach(&self) {
        self.session.clear();
        self.collections_noted.set(false);
    }

    /// Marks it listed among its session's objects with loaded
    /// collections; returns whether it was already.
    pub(crate) fn note_collections(&self) -> bool {
        self.collections_noted.replace(true)
    }

    /// Marks it no longer listed (the list was taken).
    pub(crate) fn forget_collections_noted(&self) {
        self.collections_noted.set(false);
    }

    pub(crate) fn has_snapshot(&self) -> bool {
        self.with_saved(|saved| saved.as_ref().is_some_and(|s| s.snapshot.is_some()))
    }

    /// Runs `look` on the column values before the unflushed changes, if
    /// any, in place (no copy: `has_work` asks this of every dirty object
    /// before each autoflush). As for every access to the saved values,
    /// `look` must not reach this object's change tracking.
    pub(crate) fn with_snapshot<R>(&self, look: impl FnOnce(Option<&[Value]>) -> R) -> R {
        self.with_saved(|saved| look(saved.as_ref().and_then(|s| s.snapshot.as_deref())))
    }

    /// A copy of the column values before the unflushed changes, if any.
    pub(crate) fn snapshot_copy(&self) -> Option<Box<[Value]>> {
        self.with_snapshot(|snapshot| snapshot.map(Box::from))
    }

    pub(crate) fn snapshot_value(&self, column: usize) -> Option<Value> {
        self.with_snapshot(|snapshot| snapshot?.get(column).cloned())
    }

    fn set_snapshot(&self, values: Box<[Value]>) {
        self.with_saved(|saved| {
            let saved = saved.get_or_insert_default();
            if saved.snapshot.is_none() {
                saved.snapshot = Some(values);
            }
        });
    }

    /// Keeps `values` as the state to restore on rollback, unless an
    /// earlier write of this transaction already did.
    pub(crate) fn keep_before_transaction(&self, values: impl FnOnce() -> Box<[Value]>) {
        if self.with_saved(|saved| {
            saved
                .as_ref()
                .is_some_and(|s| s.before_transaction.is_some())
        }) {
            return;
        }
        // Made outside the cell: `values` is the caller's.
        let values = values();
        self.with_saved(|saved| {
            saved.get_or_insert_default().before_transaction = Some(values);
        });
    }

    /// Sets one column of the snapshot (the database changed it itself,
    /// as `ON DELETE SET NULL` does).
    pub(crate) fn patch_snapshot(&self, column: usize, value: Value) {
        self.with_saved(|saved| {
            if let Some(slot) = saved
                .as_mut()
                .and_then(|s| s.snapshot.as_mut())
                .and_then(|snapshot| snapshot.get_mut(column))
            {
                *slot = value;
            }
        });
    }

    /// The object waits in the dirty list (or not any more).
    pub(crate) fn set_listed(&self, listed: bool) -> bool {
        self.listed_dirty.replace(listed)
    }

    /// After a successful flush: the database holds the current values; the
    /// snapshot becomes what a rollback restores.
    pub(crate) fn flushed(&self) {
        self.with_saved(|saved| {
            if let Some(s) = saved.as_mut() {
                if let Some(snapshot) = s.snapshot.take() {
                    s.before_transaction.get_or_insert(snapshot);
                }
                tidy(saved);
            }
        });
    }

    /// After commit: nothing to restore any more.
    pub(crate) fn committed(&self) {
        self.with_saved(|saved| {
            if let Some(s) = saved.as_mut() {
                s.before_transaction = None;
                tidy(saved);
            }
        });
    }

    /// Forgets unflushed changes (the values stay until overwritten).
    pub(crate) fn discard_changes(&self) {
        self.with_saved(|saved| {
            if let Some(s) = saved.as_mut() {
                s.snapshot = None;
                tidy(saved);
            }
        });
    }

    /// Forgets unflushed changes made since a savepoint, for an object the
    /// transaction wrote before it. With no restore point of its own (a
    /// delete flushed with nothing changed), its snapshot is its row as it
    /// was before the transaction, and stays as that restore point.
    pub(crate) fn discard_changes_since_savepoint(&self) {
        self.with_saved(|saved| {
            if let Some(s) = saved.as_mut() {
                let snapshot = s.snapshot.take();
                if s.before_transaction.is_none() {
                    s.before_transaction = snapshot;
                }
                tidy(saved);
            }
        });
    }

    /// Forgets all change tracking: the object left the database's view.
    pub(crate) fn forget_changes(&self) {
        self.with_saved(|saved| {
            if let Some(s) = saved.as_mut() {
                s.snapshot = None;
                s.before_transaction = None;
                tidy(saved);
            }
        });
    }

    /// What a rollback would restore, without forgetting it.
    pub(crate) fn restore_point(&self) -> Restore {
        self.with_saved(|saved| {
            let s = saved.as_ref()?;
            s.before_transaction.clone().or_else(|| s.snapshot.clone())
        })
    }
}

/// Frees the saved values once there are none left.
fn tidy(saved: &mut Option<Box<Saved>>) {
    if saved.as_ref().is_some_and(|s| {
        s.snapshot.is_none() && s.before_transaction.is_none() && s.held.is_empty()
    }) {
        *saved = None;
    }
}

/// A model's values, with the model erased: what persistence, loading and
/// the unit of work read and write.
pub(crate) trait AnyModel {
    /// The value of column `index`, for binding.
    fn column(&self, index: usize) -> Bound<'_>;
    /// Overwrites column `index` with a value read from the database.
    fn set_column(&mut self, index: usize, value: ValueRef<'_>) -> Result<(), FromValueError>;
    fn key_unassigned(&self) -> bool;
    /// Stores an assigned rowid; false when it does not fit the key's type.
    fn set_rowid(&mut self, rowid: Option<i64>) -> bool;
    /// The columns left to the database's default, as a bit set.
    fn unset_columns(&self) -> u64;
    /// Sets a `Defaulted` column back to unset.
    fn unset_column(&mut self, index: usize);
    fn for_each_relation(&self, visit: &mut dyn FnMut(&dyn RelationField));
}

impl<T: Model> AnyModel for T {
    fn column(&self, index: usize) -> Bound<'_> {
        Model::column(self, index)
    }
    fn set_column(&mut self, index: usize, value: ValueRef<'_>) -> Result<(), FromValueError> {
        Model::set_column(self, index, value)
    }
    fn key_unassigned(&self) -> bool {
        Model::key_unassigned(self)
    }
    fn set_rowid(&mut self, rowid: Option<i64>) -> bool {
        Model::set_rowid(self, rowid)
    }
    fn unset_columns(&self) -> u64 {
        Model::unset_columns(self)
    }
    fn unset_column(&mut self, index: usize) {
        Model::unset_column(self, index)
    }
    fn for_each_relation(&self, visit: &mut dyn FnMut(&dyn RelationField)) {
        Model::for_each_relation(self, visit)
    }
}

/// One object of a session: the user's struct plus what the session knows
/// about it.
pub struct Node<T: Model> {
    meta: Meta,
    value: RefCell<T>,
}

impl<T: Model> Node<T> {
    /// Makes the node and wires its relationship fields to it, so that they
    /// know their owner from the start. `session` is the session it joins
    /// (`Weak::new()` for none): given here rather than by a later
    /// [`Meta::attach`], since every add and every loaded row makes a node.
    pub(crate) fn new(value: T, state: State, session: Weak<SessionInner>) -> Rc<Node<T>> {
        Rc::new_cyclic(|me: &Weak<Node<T>>| {
            value.wire(&Owner::new(me.clone()));
            Node {
                meta: Meta::new(state, session),
                value: RefCell::new(value),
            }
        })
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn borrow(&self) -> Result<Ref<'_, T>> {
        self.value
            .try_borrow()
            .map_err(|_| borrowed(T::TABLE, "it is being written"))
    }

    pub(crate) fn borrow_mut(&self) -> Result<RefMut<'_, T>> {
        self.value
            .try_borrow_mut()
            .map_err(|_| borrowed(T::TABLE, "it is being read or written elsewhere"))
    }

    pub(crate) fn key(&self) -> Result<T::Key> {
        Ok(self.borrow()?.key())
    }
}

/// Copies every column of `from` into `to` (same model).
pub(crate) fn copy_columns(
    table: &TableDef,
    from: &dyn AnyModel,
    to: &mut dyn AnyModel,
) -> Result<()> {
    let values = columns(table, from);
    set_columns(table, to, &values)
}

/// Overwrites every column of `to` with `values` (in table order).
pub(crate) fn set_columns(table: &TableDef, to: &mut dyn AnyModel, values: &[Value]) -> Result<()> {
    let key = render(values.get(table.primary_key).unwrap_or(&Value::Null));
    for (i, v) in values.iter().enumerate() {
        to.set_column(i, v.as_ref())
            .map_err(|e| conversion(table, i, &key, e))?;
    }
    Ok(())
}

/// The column values of a model, owned, in table order.
pub(crate) fn columns(table: &TableDef, value: &dyn AnyModel) -> Box<[Value]> {
    (0..table.columns.len())
        .map(|i| Value::from(value.column(i).as_ref()))
        .collect()
}

fn borrowed(table: &TableDef, detail: &str) -> Error {
    Error::Borrowed {
        table: table.name.to_owned(),
        key: "(unknown while borrowed)".to_owned(),
        detail: detail.to_owned(),
    }
}

pub(crate) fn conversion(table: &TableDef, column: usize, key: &str, err: FromValueError) -> Error {
    Error::Conversion {
        table: table.name.to_owned(),
        column: table.columns.get(column).map_or("?", |c| c.name).to_owned(),
        key: key.to_owned(),
        detail: err.to_string(),
    }
}

/// An object of any model: a few data accessors. Everything that works on
/// objects without knowing their model (persistence, the unit of work, the
/// transaction, cascades) goes through this and [`Meta`].
pub(crate) trait AnyNode: Any {
    fn table(&self) -> &'static TableDef;
    fn meta(&self) -> &Meta;
    /// Borrows the values for reading.
    fn value(&self) -> Result<Ref<'_, dyn AnyModel>>;
    /// Borrows the values for writing.
    fn value_mut(&self) -> Result<RefMut<'_, dyn AnyModel>>;
    /// Registers the object in `identity` under its key; returns the object
    /// that held the key before, if another one did.
    fn register(self: Rc<Self>, identity: &mut IdentityMap) -> Result<Option<Rc<dyn AnyNode>>>;
    /// Takes the object out of `identity` (if it is the one under its key);
    /// returns it, for the caller to drop outside any borrow.
    fn unregister(&self, identity: &mut IdentityMap) -> Result<Option<Rc<dyn AnyNode>>>;
    /// Re-reads the row into the object (`loading`); false if it is gone.
    fn reread(self: Rc<Self>, session: &SessionInner) -> Result<bool>;
    /// Writes into `out` the description of the relationship field at
    /// address `field`, if it lies inside the object's values
    /// ([`Model::describe_field`]).
    fn describe_field(&self, field: usize, out: &mut dyn Any);
    /// Makes room in `identity` for `additional` more objects of this
    /// object's model.
    fn reserve(&self, identity: &mut IdentityMap, additional: usize);
}

impl<T: Model> AnyNode for Node<T> {
    fn table(&self) -> &'static TableDef {
        T::TABLE
    }

    fn reserve(&self, identity: &mut IdentityMap, additional: usize) {
        identity.reserve::<T>(additional);
    }

    fn describe_field(&self, field: usize, out: &mut dyn Any) {
        // Addresses compared, nothing read: the values need no borrow, so a
        // field finds its description while its object is being written.
        let values = self.value.as_ptr().addr();
        T::describe_field(field.wrapping_sub(values), out);
    }

    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn value(&self) -> Result<Ref<'_, dyn AnyModel>> {
        Ok(Ref::map(self.borrow()?, |v| v as &dyn AnyModel))
    }

    fn value_mut(&self) -> Result<RefMut<'_, dyn AnyModel>> {
        Ok(RefMut::map(self.borrow_mut()?, |v| v as &mut dyn AnyModel))
    }

    fn register(self: Rc<Self>, identity: &mut IdentityMap) -> Result<Option<Rc<dyn AnyNode>>> {
        let key = self.key()?;
        Ok(identity
            .insert::<T>(key, Rc::clone(&self))
            .filter(|old| !Rc::ptr_eq(old, &self))
            .map(|old| old as Rc<dyn AnyNode>))
    }

    fn unregister(&self, identity: &mut IdentityMap) -> Result<Option<Rc<dyn AnyNode>>> {
        let key = self.key()?;
        let mine = identity
            .get::<T>(&key)
            .is_some_and(|n| std::ptr::eq(Rc::as_ptr(&n), self));
        Ok(if mine {
            identity.remove::<T>(&key).map(|n| n as Rc<dyn AnyNode>)
        } else {
            None
        })
    }

    fn reread(self: Rc<Self>, session: &SessionInner) -> Result<bool> {
        session.reread(&self)
    }
}

impl dyn AnyNode {
    pub(crate) fn state(&self) -> State {
        self.meta().state()
    }

    pub(crate) fn key_value(&self) -> Result<Value> {
        let table = self.table();
        Ok(Value::from(
            self.value()?.column(table.primary_key).as_ref(),
        ))
    }

    /// The current column values, owned.
    pub(crate) fn columns(&self) -> Result<Box<[Value]>> {
        Ok(columns(self.table(), &*self.value()?))
    }

    /// Fails with [`Error::Borrowed`] if the object is being written, so an
    /// operation can check before it changes anything.
    pub(crate) fn check_readable(&self) -> Result<()> {
        self.value().map(drop)
    }

    /// Fails with [`Error::Borrowed`] if the object is being read or written.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.value_mut().map(drop)
    }

    /// Marks the object changed (a relationship changed its foreign key):
    /// takes the snapshot if this is the first change, and lists it dirty.
    /// Needs to read the object only for that first snapshot, so it works
    /// through the object's own write guard (which took the snapshot).
    pub(crate) fn touch(self: &Rc<Self>) -> Result<()> {
        let meta = self.meta();
        // Deleted objects too: a rollback brings them back with their values.
        if !matches!(meta.state(), State::Persistent | State::Deleted) {
            return Ok(());
        }
        if !meta.has_snapshot() {
            meta.set_snapshot(self.columns()?);
        }
        if meta.state() == State::Deleted
            && let Some(session) = meta.session()
        {
            let node: Rc<dyn AnyNode> = Rc::clone(self) as Rc<dyn AnyNode>;
            session
                .transaction()
                .keep_before_change(&node, || self.columns())?;
        }
        self.enlist();
        Ok(())
    }

    /// Whether `touch` would succeed now.
    pub(crate) fn check_touchable(&self) -> Result<()> {
        let meta = self.meta();
        if matches!(meta.state(), State::Persistent | State::Deleted) && !meta.has_snapshot() {
            self.check_readable()?;
        }
        Ok(())
    }

    fn enlist(self: &Rc<Self>) {
        if !self.meta().set_listed(true)
            && let Some(session) = self.meta().session()
        {
            session.unit_of_work().mark_dirty(Rc::clone(self));
        }
    }

    /// Whether changed columns wait for a flush.
    pub(crate) fn has_changes(&self) -> bool {
        if !self.meta().has_snapshot() {
            return false;
        }
        match self.columns() {
            Ok(current) => self
                .meta()
                .with_snapshot(|snapshot| snapshot.is_some_and(|s| *current != *s)),
            // Being written right now: assume it changed.
            Err(_) => true,
        }
    }

    /// Whether a changed column is set to NULL (a key let go).
    pub(crate) fn releases(&self) -> bool {
        if !self.meta().has_snapshot() {
            return false;
        }
        let Ok(current) = self.columns() else {
            return false;
        };
        self.meta().with_snapshot(|snapshot| {
            snapshot.is_some_and(|snapshot| {
                current
                    .iter()
                    .zip(snapshot.iter())
                    .any(|(now, before)| *now == Value::Null && *before != Value::Null)
            })
        })
    }

    /// The loaded objects this one's foreign keys point to.
    /// The (parent table, key) of each foreign key set.
    pub(crate) fn target_keys(&self) -> Result<Vec<(&'static TableDef, Value)>> {
        let mut keys = Vec::new();
        self.value()?.for_each_relation(&mut |field| {
            if let Some(key) = field.as_foreign_key().and_then(|fk| fk.target_key()) {
                keys.push(key);
            }
        });
        Ok(keys)
    }

    pub(crate) fn parents(&self) -> Result<Vec<Rc<dyn AnyNode>>> {
        let mut parents = Vec::new();
        self.value()?.for_each_relation(&mut |field| {
            if let Some(parent) = field.as_foreign_key().and_then(|fk| fk.parent()) {
                parents.push(parent.0);
            }
        });
        Ok(parents)
    }

    /// Overwrites every column with `values` (a rollback's restore).
    pub(crate) fn restore(&self, values: &[Value]) -> Result<()> {
        set_columns(self.table(), &mut *self.value_mut()?, values)
    }

    /// Visits each collection field, if the object can be read now.
    pub(crate) fn each_collection(&self, mut visit: impl FnMut(&dyn CollectionField)) {
        if let Ok(value) = self.value() {
            value.for_each_relation(&mut |field| {
                if let Some(collection) = field.as_collection() {
                    visit(collection);
                }
            });
        }
    }

    /// Visits each foreign-key field, if the object can be read now.
    pub(crate) fn each_foreign_key(&self, mut visit: impl FnMut(&dyn ForeignKeyField)) {
        if let Ok(value) = self.value() {
            value.for_each_relation(&mut |field| {
                if let Some(fk) = field.as_foreign_key() {
                    visit(fk);
                }
            });
        }
    }
}

/// `"orders 7"`: an object's row by table and key, as causes name it; a
/// new object whose key the database has not assigned yet is `"a new
/// orders"` (and one borrowed for writing just now, by its table alone).
pub(crate) fn row_name(node: &dyn AnyNode) -> String {
    let table = node.table().name;
    let unassigned = node.value().is_ok_and(|v| v.key_unassigned());
    if unassigned && node.state() == State::Pending {
        return format!("a new {table}");
    }
    match node.key_value() {
        Ok(key) => format!("{table} {}", crate::sql::render(&key)),
        Err(_) => table.to_owned(),
    }
}

/// The address an object is known by in sets and maps of objects (the
/// data pointer alone: two `Rc<dyn AnyNode>`s of one object may carry
/// different vtable pointers).
pub(crate) fn address(node: &Rc<dyn AnyNode>) -> *const () {
    Rc::as_ptr(node).cast::<()>()
}

/// Whether two erased objects are the same object.
pub(crate) fn same_node(a: &Rc<dyn AnyNode>, b: &Rc<dyn AnyNode>) -> bool {
    std::ptr::addr_eq(Rc::as_ptr(a), Rc::as_ptr(b))
}

/// Turns an erased node back into its model's node.
pub(crate) fn downcast<T: Model>(node: Rc<dyn AnyNode>) -> Option<Rc<Node<T>>> {
    let any: Rc<dyn Any> = node;
    any.downcast::<Node<T>>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_session_knows_of_an_object_takes_three_words() {
        // The session pointer, the change tracking's pointer, the flags:
        // every loaded object pays this, so it is pinned here.
        assert_eq!(std::mem::size_of::<Meta>(), 24);
    }
}
