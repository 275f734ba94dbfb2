//! `BelongsTo<P>`: the many-to-one side, which owns the foreign key.

use std::any::Any;
use std::cell::Cell;
use std::rc::Rc;

use super::link::{Describe, Link};
use super::{
    Backref, ForeignKeyColumn, ForeignKeyField, Holder, Joining, Lazy, Owner, ParentRef,
    RelationField, Wire,
};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::session::SessionInner;
use crate::state::{AnyNode, Handle, Node, State, WeakCell, downcast, in_place};
use crate::value::{Bound, ColumnType, FromValueError, ToValue, Value, ValueRef};

/// The generated description of a `BelongsTo` field: child `C`, parent `P`.
#[doc(hidden)]
pub struct BelongsToDef<C: Model, P: Model> {
    /// The model owning the field.
    pub model: &'static str,
    /// The field's name.
    pub field: &'static str,
    /// The foreign key column's position in `C::TABLE.columns`.
    pub column: usize,
    /// Reaches the field itself.
    pub this: fn(&C) -> &BelongsTo<P>,
    /// The parent's collection that mirrors this field (`back_populates`).
    pub back: Option<fn(&P) -> &dyn Backref<C>>,
    /// What reading it unloaded does.
    pub lazy: Lazy,
}

/// The parent side of a `BelongsTo<P>` field, with the child type erased.
trait ParentSide<P: Model>: Describe {
    /// Checks that `moved(child, old, new)` can run now.
    fn check_moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Node<P>>,
        new: Option<&Node<P>>,
    ) -> Result<()>;
    /// Moves the owning child from `old`'s loaded collection to `new`'s
    /// (or notes the move in a collection not loaded).
    fn moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Rc<Node<P>>>,
        new: Option<&Rc<Node<P>>>,
    ) -> Result<()>;
}

impl<C: Model, P: Model> Describe for BelongsToDef<C, P> {
    fn model(&self) -> &'static str {
        self.model
    }

    fn field(&self) -> &'static str {
        self.field
    }

    fn lazy(&self) -> Lazy {
        self.lazy
    }
}

impl<C: Model, P: Model> ParentSide<P> for BelongsToDef<C, P> {
    fn check_moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Node<P>>,
        new: Option<&Node<P>>,
    ) -> Result<()> {
        let Some(back) = self.back else {
            return Ok(());
        };
        if let Some(old) = old {
            old.borrow()?;
        }
        if let Some(new) = new
            && let Some(child) = downcast::<C>(Rc::clone(child))
        {
            back(&*new.borrow()?).check_remember(&Handle::from_node(child))?;
        }
        Ok(())
    }

    fn moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Rc<Node<P>>>,
        new: Option<&Rc<Node<P>>>,
    ) -> Result<()> {
        let Some(back) = self.back else {
            return Ok(());
        };
        let session = child.meta().session();
        let Some(child) = downcast::<C>(Rc::clone(child)) else {
            return Ok(());
        };
        let child = Handle::from_node(child);
        if let Some(old) = old {
            back(&*old.borrow()?).forget(&child);
        }
        if let Some(new) = new {
            back(&*new.borrow()?).remember(&child)?;
        }
        // A rollback expires what the parents' collections hold now,
        // loaded or noted while not loaded.
        if let Some(session) = session {
            old.into_iter()
                .chain(new)
                .for_each(|parent| session.note_collections(parent));
        }
        Ok(())
    }
}

/// The foreign key a [`BelongsTo`] holds, read by copy: a `Cell` costs
/// no borrow flag (8 bytes in every `BelongsTo` of every loaded object),
/// and a key is a small value (an integer, a short string) whose `Clone`
/// has no way back to this field.
struct KeyCell<K>(Cell<Option<K>>);

impl<K: Clone + PartialEq> KeyCell<K> {
    // The key's `clone` and `eq` are the user's code, and may panic:
    // `in_place` puts the key back all the same.
    fn get(&self) -> Option<K> {
        in_place(&self.0, |key| key.clone())
    }

    /// A key other than NULL and than the one held may make the object
    /// point at a new parent: the identity map's index by parent key
    /// must know.
    fn set(&self, key: Option<K>) {
        if key.is_some() && !in_place(&self.0, |held| *held == key) {
            crate::identity::note_key_written();
        }
        self.0.set(key);
    }

    fn is_none(&self) -> bool {
        in_place(&self.0, |key| key.is_none())
    }

    fn is(&self, other: &K) -> bool {
        in_place(&self.0, |key| key.as_ref() == Some(other))
    }
}

/// A many-to-one relationship: this object's foreign key points at a `P`.
///
/// The field owns the foreign-key column (`<field>_id` unless renamed), so
/// [`BelongsTo::key`] reads it without loading anything.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # #[orm(table = "users")]
/// # struct User { #[orm(primary_key)] id: i64, name: String,
/// #   #[orm(back_populates = "user")] orders: HasMany<Order> }
/// # #[derive(Model, Debug)]
/// # #[orm(table = "orders")]
/// # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
/// #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<(User, Order)>()?;
/// let session = db.session();
/// let alice = session.add(User::new("Alice"));
/// let order = session.add(Order::new(1299));
/// order.read()?.user.set(&alice)?;
/// session.commit()?; // INSERT users, then INSERT orders with alice's new id
/// assert_eq!(order.read()?.user.key(), Some(alice.read()?.id));
/// assert_eq!(order.read()?.user.load()?, alice); // no SQL: same object
/// # Ok(()) }
/// ```
pub struct BelongsTo<P: Model> {
    key: KeyCell<P::Key>,
    target: WeakCell<Node<P>>,
    link: Link<P, dyn ParentSide<P>>,
}

impl<P: Model> Default for BelongsTo<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Model> BelongsTo<P> {
    /// An unset relationship (a new object's).
    pub fn new() -> Self {
        Self::from_key(None)
    }

    /// A relationship to the `P` row with this key, for a new object
    /// pointing at a row by its key rather than at an object. The flush
    /// inserts this object after a new `P` of that key (table order).
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, name: String,
    /// #   #[orm(back_populates = "user")] orders: HasMany<Order> }
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "orders")]
    /// # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
    /// #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
    /// # fn main() -> orm::Result<()> {
    /// # let db = Database::in_memory()?;
    /// # db.create_all::<(User, Order)>()?;
    /// let session = db.session();
    /// // Added child first, parent second: the flush inserts users first.
    /// session.add(Order { id: 0, total_cents: 500, user: BelongsTo::with_key(7) });
    /// session.add(User { id: 7, name: "Ann".into(), orders: HasMany::new() });
    /// session.commit()?;
    /// let ann = session.get::<User>(7)?;
    /// assert_eq!(ann.read()?.orders.load()?.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn with_key(key: P::Key) -> Self {
        Self::from_key(Some(key))
    }

    /// A relationship holding this foreign key, or none: what the row
    /// mapping builds from a row read (see [`BelongsTo::with_key`]).
    pub fn from_key(key: Option<P::Key>) -> Self {
        BelongsTo {
            key: KeyCell(Cell::new(key)),
            target: WeakCell::new(),
            link: Link::new(),
        }
    }

    /// Sets the foreign key read back from the database (rollback, refresh);
    /// the parent object is looked up again on next access.
    fn restore_key(&self, key: Option<P::Key>) {
        self.key.set(key);
        self.target.clear();
    }

    /// The foreign key's value, without loading the parent. For a parent that
    /// is not inserted yet, `None` until the flush fills it.
    pub fn key(&self) -> Option<P::Key> {
        if let Some(target) = self.target.upgrade()
            && let Ok(value) = target.borrow()
        {
            if target.meta().state() != State::Pending || !value.key_unassigned() {
                return Some(value.key());
            }
            return None;
        }
        self.key.get()
    }

    /// Whether loading it costs no SQL: the parent object is at hand, or
    /// the relationship is unset (a NULL key loads as `None`).
    pub fn is_loaded(&self) -> bool {
        self.has_target() || self.key.is_none()
    }

    /// Whether the parent object is at hand.
    fn has_target(&self) -> bool {
        self.target.upgrade().is_some()
    }

    /// The parent object. Costs no SQL when it is loaded or in the identity
    /// map, otherwise one SELECT.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the relationship is unset or its row is
    /// gone; [`Error::SessionClosed`] when the session is gone;
    /// [`Error::LazyLoadRefused`] when lazy loading is off for it.
    pub fn load(&self) -> Result<Handle<P>> {
        self.load_optional()?.ok_or_else(|| Error::NotFound {
            table: P::TABLE.name.to_owned(),
            what: format!(
                "for `{}.{}`: the relationship is not set",
                self.model(),
                self.field()
            ),
        })
    }

    /// Like [`BelongsTo::load`], but `None` when the relationship is unset.
    ///
    /// # Errors
    /// As [`BelongsTo::load`].
    pub fn load_optional(&self) -> Result<Option<Handle<P>>> {
        if let Some(node) = self.target.upgrade() {
            return Ok(Some(Handle::from_node(node)));
        }
        let Some(key) = self.key.get() else {
            return Ok(None);
        };
        let session = self.session()?;
        let cached = session.identity().get::<P>(&key);
        let node = match cached {
            Some(node) => node,
            None => {
                if self.link.raises() {
                    return Err(self.link.refused());
                }
                self.link.watch(&session)?;
                session
                    .conn()?
                    .because(true, || self.link.lazy_cause(), || session.find::<P>(&key))?
                    .ok_or_else(|| Error::NotFound {
                        table: P::TABLE.name.to_owned(),
                        what: format!("for `{}.{}`", self.model(), self.field()),
                    })?
            }
        };
        self.target.set(Rc::downgrade(&node));
        Ok(Some(Handle::from_node(node)))
    }

    /// Points this object at `parent`. Where loaded, the old parent's
    /// collection loses it and the new one's gains it; nothing is loaded.
    /// The foreign key is written by the next flush. If one of the two is
    /// in a session, the other joins it (with its graph); if neither is,
    /// they are linked in memory and join a session together later.
    ///
    /// # Errors
    /// [`Error::Borrowed`] if either parent is being written;
    /// [`Error::Misuse`] if they are in different sessions, or one was
    /// persistent in a session now gone.
    pub fn set(&self, parent: &Handle<P>) -> Result<()> {
        self.point_at(Some(&parent.node))
    }

    /// Points this object at the `P` row with this key (or none), as a
    /// value: the same as [`BelongsTo::set`] when the session holds that
    /// `P`, else only the foreign key changes (written by the next flush,
    /// after a new `P` of that key). The old parent's loaded collection
    /// loses it either way.
    ///
    /// # Errors
    /// As [`BelongsTo::set`].
    pub fn set_key(&self, key: Option<P::Key>) -> Result<()> {
        let Some(key) = key else {
            return self.clear();
        };
        let (owner, def) = self.link.owner_and_def(KIND)?;
        let session = owner.meta().session();
        if let Some(parent) = session.and_then(|s| s.identity().get::<P>(&key)) {
            return self.point_at(Some(&parent));
        }
        let old = self.current_parent(owner.meta().session().as_ref());
        if old.is_none() && self.key.is(&key) {
            return Ok(());
        }
        owner.check_touchable()?;
        def.check_moved(&owner, old.as_deref(), None)?;
        owner.touch()?;
        def.moved(&owner, old.as_ref(), None)?;
        self.restore_key(Some(key));
        Ok(())
    }

    /// Unsets the relationship (NULL on flush) and takes this object out of
    /// the old parent's loaded collection.
    ///
    /// # Errors
    /// As [`BelongsTo::set`].
    pub fn clear(&self) -> Result<()> {
        self.point_at(None)
    }

    /// Points at `new` (or nothing). Checks every borrow and the sessions
    /// first, so that an error leaves both objects and both sessions as
    /// they were.
    pub(crate) fn point_at(&self, new: Option<&Rc<Node<P>>>) -> Result<()> {
        let (owner, def) = self.link.owner_and_def(KIND)?;
        let new_erased = new.map(|n| Rc::clone(n) as Rc<dyn AnyNode>);
        let joining = Joining::plan(&owner, new_erased.as_ref(), Holder::Other)?;
        let old = self.current_parent(joining.session.as_ref());
        let same = matches!((&old, new), (Some(o), Some(n)) if Rc::ptr_eq(o, n));
        if !same && old.is_none() && new.is_none() && self.key.is_none() {
            return Ok(());
        }
        if let Some(new) = new {
            new.borrow()?;
        }
        if same {
            def.check_moved(&owner, None, new.map(|n| &**n))?;
            joining.apply()?;
            // Already its parent: only make sure a loaded collection holds it.
            return def.moved(&owner, None, new);
        }
        owner.check_touchable()?;
        def.check_moved(&owner, old.as_deref(), new.map(|n| &**n))?;
        joining.apply()?;
        owner.touch()?;
        def.moved(&owner, old.as_ref(), None)?;
        if let Some(old) = &old {
            old.meta().release(&owner);
        }
        self.target.set(new.map(Rc::downgrade).unwrap_or_default());
        let key = match new {
            Some(node) => {
                let value = node.borrow()?;
                (!value.key_unassigned()).then(|| value.key())
            }
            None => None,
        };
        self.key.set(key);
        def.moved(&owner, None, new)
    }

    /// Points at a parent just loaded for a collection (no change to track).
    pub(crate) fn loaded_with(&self, parent: &Rc<Node<P>>) {
        self.target.set(Rc::downgrade(parent));
    }

    pub(super) fn current_parent(&self, session: Option<&Rc<SessionInner>>) -> Option<Rc<Node<P>>> {
        if let Some(node) = self.target.upgrade() {
            return Some(node);
        }
        let key = self.key.get()?;
        session?.identity().get::<P>(&key)
    }

    fn session(&self) -> Result<Rc<SessionInner>> {
        self.link
            .owner(KIND)?
            .meta()
            .session()
            .ok_or_else(|| self.link.closed())
    }

    fn model(&self) -> &'static str {
        self.link.get().map_or("?", |def| def.model())
    }

    fn field(&self) -> &'static str {
        self.link.get().map_or("?", |def| def.field())
    }
}

/// The field's type, in messages.
const KIND: &str = "BelongsTo";

impl<P: Model> RelationField for BelongsTo<P> {
    fn wire(&self, owner: &Owner) {
        self.link.wire(owner);
    }

    fn as_foreign_key(&self) -> Option<&dyn ForeignKeyField> {
        Some(self)
    }
}

impl<P: Model> ForeignKeyField for BelongsTo<P> {
    fn parent(&self) -> Option<ParentRef> {
        self.target
            .upgrade()
            .map(|n| ParentRef(n as Rc<dyn AnyNode>))
    }

    fn sync_key(&self) -> Result<()> {
        if let Some(target) = self.target.upgrade() {
            let key = target.key()?;
            self.key.set(Some(key));
        }
        Ok(())
    }

    fn clear_key_of(&self, field: &str) {
        if self.field() == field {
            self.restore_key(None);
        }
    }

    fn target_key(&self) -> Option<(&'static crate::schema::TableDef, Value)> {
        self.key()
            .map(|key| (P::TABLE, Value::from(key.to_value())))
    }

    fn find_parent(&self) {
        if self.has_target() {
            return;
        }
        let Some(key) = self.key.get() else {
            return;
        };
        let Ok((owner, def)) = self.link.owner_and_def(KIND) else {
            return;
        };
        let Some(parent) = owner
            .meta()
            .session()
            .and_then(|s| s.identity().get::<P>(&key))
        else {
            return;
        };
        if def.check_moved(&owner, None, Some(&parent)).is_ok() {
            self.target.set(Rc::downgrade(&parent));
            // Checked just above: adding to a loaded collection cannot fail.
            let _ = def.moved(&owner, None, Some(&parent));
        }
    }

    fn rejoin_parent(&self) {
        let Some(parent) = self.target.upgrade() else {
            return;
        };
        let Ok((owner, def)) = self.link.owner_and_def(KIND) else {
            return;
        };
        if def.check_moved(&owner, None, Some(&parent)).is_ok() {
            // Checked just above: adding to a loaded collection cannot fail.
            let _ = def.moved(&owner, None, Some(&parent));
        }
    }

    fn orphaned(&self, field: &str) -> Option<bool> {
        (self.field() == field).then(|| !self.has_target() && self.key.is_none())
    }
}

impl<C: Model, P: Model> Wire<BelongsToDef<C, P>> for BelongsTo<P> {
    fn describe(def: &'static BelongsToDef<C, P>, out: &mut dyn Any) {
        Link::<P, dyn ParentSide<P>>::offer(def, out);
    }
}

impl<P: Model> ForeignKeyColumn for BelongsTo<P> {
    fn bound(&self) -> Bound<'static> {
        Bound::Owned(match self.key() {
            Some(key) => Value::from(key.to_value()),
            None => Value::Null,
        })
    }

    fn restore(&self, value: ValueRef<'_>) -> std::result::Result<(), FromValueError> {
        let key: Option<P::Key> = ColumnType::from_value(value)?;
        // The same key as the parent object's: that object is still the
        // parent (a row read again keeps pointing at it).
        let same = key.is_some() && self.has_target() && self.key() == key;
        if !same {
            self.restore_key(key);
        }
        Ok(())
    }
}

impl<P: Model> std::fmt::Debug for BelongsTo<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key() {
            Some(key) => write!(f, "BelongsTo<{}>({key:?})", P::TABLE.model),
            None => write!(f, "BelongsTo<{}>(None)", P::TABLE.model),
        }
    }
}
