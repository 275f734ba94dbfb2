//! Relationships: [`BelongsTo`] (many-to-one, owns the foreign key) and
//! [`HasMany`] (one-to-many, the other side), as fields of the models.
//!
//! Both are interior-mutable, so `order.read()?.user.set(&alice)?` needs
//! only shared borrows of `order` and `alice`; that is what lets one call
//! update both sides (back-population) while the user holds reads of either.
//! They point at other objects **weakly**: the session owns every object,
//! relationship fields never keep one alive, so a graph with cycles
//! (user -> orders -> user) is freed with its session. After the session is
//! gone, a relationship access is [`Error::SessionClosed`].
//!
//! The rules, each one SQLAlchemy users meet:
//! - **Lazy loading**: the first access of an unloaded relationship issues one
//!   SELECT (after an autoflush, so pending changes are seen); later accesses
//!   none. A `BelongsTo` whose target is in the identity map issues none.
//! - **Back-population**: setting `order.user` moves `order` between the
//!   *loaded* collections of the old and new user, and loads neither;
//!   `user.orders.push(&order)` sets `order.user`; `remove` clears it
//!   (written as NULL on flush, or the order deleted with `delete_orphan`).
//!   Loading `user.orders` sets each order's `user` without a query.
//! - **Attaching adds**: linking a new object to one in a session (from
//!   either side) adds it to that session, as SQLAlchemy's save-update cascade.
//! - **Unloaded collections**: a push or remove on a collection that is not
//!   loaded changes the child's foreign key only; the later load autoflushes
//!   first, so it sees them merged, and a push then a remove cancels out.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use rusqlite::types::Value;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::object::{AnyNode, Handle, Node, State, downcast};
use crate::session::{SessionInner, select_sql};
use crate::sql::{Param, owned_value, quote};

/// How a relationship behaves when read before it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lazy {
    /// Load it with a SELECT (the default).
    Select,
    /// Refuse with [`Error::LazyLoadRefused`]: it must be preloaded.
    Raise,
}

/// The object that owns a relationship field. Generated code passes it
/// from `Model::wire`; it has no public use.
#[doc(hidden)]
pub struct Owner {
    node: Weak<dyn AnyNode>,
}

impl Owner {
    pub(crate) fn new(node: Weak<dyn AnyNode>) -> Owner {
        Owner { node }
    }
}

/// A loaded object a relationship field points at (opaque).
#[doc(hidden)]
pub struct ParentRef(pub(crate) Rc<dyn AnyNode>);

/// What the session needs from a relationship field of any kind.
/// Implemented by [`BelongsTo`] and [`HasMany`]; generated code lists them.
pub trait RelationField {
    /// The loaded object a `BelongsTo` points at, if any.
    #[doc(hidden)]
    fn parent(&self) -> Option<ParentRef>;
    /// Copies the target's current key into the foreign key (before a flush).
    #[doc(hidden)]
    fn sync_key(&self) -> Result<()>;
    /// Forgets a loaded collection, so the next access reloads it.
    #[doc(hidden)]
    fn expire(&self);
    /// Clears the foreign key if this is the `BelongsTo` field named `field`
    /// (its parent row was deleted with `ON DELETE SET NULL`).
    #[doc(hidden)]
    fn clear_key_of(&self, field: &str);
}

// ---------------------------------------------------------------- BelongsTo

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
    pub back: Option<fn(&P) -> &HasMany<C>>,
    /// What reading it unloaded does.
    pub lazy: Lazy,
}

/// The parent side of a `BelongsTo<P>` field, with the child type erased.
trait ParentSide<P: Model> {
    fn model(&self) -> &'static str;
    fn field(&self) -> &'static str;
    fn lazy(&self) -> Lazy;
    /// Moves the owning child from `old`'s loaded collection to `new`'s.
    fn moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Node<P>>,
        new: Option<&Node<P>>,
    ) -> Result<()>;
}

impl<C: Model, P: Model> ParentSide<P> for BelongsToDef<C, P> {
    fn model(&self) -> &'static str {
        self.model
    }

    fn field(&self) -> &'static str {
        self.field
    }

    fn lazy(&self) -> Lazy {
        self.lazy
    }

    fn moved(
        &self,
        child: &Rc<dyn AnyNode>,
        old: Option<&Node<P>>,
        new: Option<&Node<P>>,
    ) -> Result<()> {
        let Some(back) = self.back else {
            return Ok(());
        };
        let Some(child) = downcast::<C>(Rc::clone(child)) else {
            return Ok(());
        };
        if let Some(old) = old {
            back(&*old.borrow()?).forget(&child);
        }
        if let Some(new) = new {
            back(&*new.borrow()?).remember(&child);
        }
        Ok(())
    }
}

struct BelongsLink<P: Model> {
    owner: Weak<dyn AnyNode>,
    def: &'static dyn ParentSide<P>,
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
    key: RefCell<Option<P::Key>>,
    target: RefCell<Weak<Node<P>>>,
    link: OnceCell<BelongsLink<P>>,
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

    /// A relationship holding a foreign key read from the database.
    pub fn from_key(key: Option<P::Key>) -> Self {
        BelongsTo {
            key: RefCell::new(key),
            target: RefCell::new(Weak::new()),
            link: OnceCell::new(),
        }
    }

    /// Sets the foreign key read back from the database (rollback, refresh);
    /// the parent object is looked up again on next access.
    #[doc(hidden)]
    pub fn restore_key(&self, key: Option<P::Key>) {
        *self.key.borrow_mut() = key;
        *self.target.borrow_mut() = Weak::new();
    }

    #[doc(hidden)]
    pub fn wire<C: Model>(&self, owner: &Owner, def: &'static BelongsToDef<C, P>) {
        let _ = self.link.set(BelongsLink {
            owner: owner.node.clone(),
            def,
        });
    }

    /// The foreign key's value, without loading the parent. For a parent that
    /// is not inserted yet, `None` until the flush fills it.
    pub fn key(&self) -> Option<P::Key> {
        if let Some(target) = self.target.borrow().upgrade()
            && let Ok(value) = target.borrow()
        {
            if target.state() != State::Pending || !value.key_unassigned() {
                return Some(value.key());
            }
            return None;
        }
        self.key.borrow().clone()
    }

    /// Whether the parent object is at hand (loading it costs no SQL).
    pub fn is_loaded(&self) -> bool {
        self.target.borrow().upgrade().is_some()
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
        if let Some(node) = self.target.borrow().upgrade() {
            return Ok(Some(Handle::from_node(node)));
        }
        let Some(key) = self.key.borrow().clone() else {
            return Ok(None);
        };
        let session = self.session()?;
        let cached = session.identity().get::<P>(&key);
        let node = match cached {
            Some(node) => node,
            None => {
                if self.link.get().is_some_and(|l| l.def.lazy() == Lazy::Raise) {
                    return Err(self.refused());
                }
                session.find::<P>(&key)?.ok_or_else(|| Error::NotFound {
                    table: P::TABLE.name.to_owned(),
                    what: format!("for `{}.{}`", self.model(), self.field()),
                })?
            }
        };
        *self.target.borrow_mut() = Rc::downgrade(&node);
        Ok(Some(Handle::from_node(node)))
    }

    /// Points this object at `parent`. Where loaded, the old parent's
    /// collection loses it and the new one's gains it; nothing is loaded.
    /// The foreign key is written by the next flush.
    ///
    /// # Errors
    /// [`Error::Borrowed`] if either parent is being written;
    /// [`Error::Misuse`] if neither object is in a session, or they are in
    /// different sessions.
    pub fn set(&self, parent: &Handle<P>) -> Result<()> {
        self.point_at(Some(&parent.node))
    }

    /// Unsets the relationship (NULL on flush) and takes this object out of
    /// the old parent's loaded collection.
    ///
    /// # Errors
    /// As [`BelongsTo::set`].
    pub fn clear(&self) -> Result<()> {
        self.point_at(None)
    }

    pub(crate) fn point_at(&self, new: Option<&Rc<Node<P>>>) -> Result<()> {
        let link = self.link()?;
        let owner = link.owner.upgrade().ok_or_else(|| self.closed())?;
        let session = join_sessions(&owner, new.map(|n| Rc::clone(n) as Rc<dyn AnyNode>))?;
        let old = self.current_parent(session.as_ref());
        if let (Some(old), Some(new)) = (&old, new)
            && Rc::ptr_eq(old, new)
        {
            return Ok(());
        }
        if old.is_none() && new.is_none() && self.key.borrow().is_none() {
            return Ok(());
        }
        Rc::clone(&owner).touch()?;
        link.def.moved(&owner, old.as_deref(), None)?;
        *self.target.borrow_mut() = new.map(Rc::downgrade).unwrap_or_default();
        *self.key.borrow_mut() = match new {
            Some(node) => {
                let value = node.borrow()?;
                (!value.key_unassigned()).then(|| value.key())
            }
            None => None,
        };
        link.def.moved(&owner, None, new.map(|n| &**n))
    }

    /// Points at a parent just loaded for a collection (no change to track).
    pub(crate) fn loaded_with(&self, parent: &Rc<Node<P>>) {
        *self.target.borrow_mut() = Rc::downgrade(parent);
    }

    fn current_parent(&self, session: Option<&Rc<SessionInner>>) -> Option<Rc<Node<P>>> {
        if let Some(node) = self.target.borrow().upgrade() {
            return Some(node);
        }
        let key = self.key.borrow().clone()?;
        session?.identity().get::<P>(&key)
    }

    fn link(&self) -> Result<&BelongsLink<P>> {
        self.link.get().ok_or_else(|| {
            Error::Misuse(format!(
                "this `BelongsTo<{}>` is not part of an object yet; add the object to a session (or wrap it in a Handle) first",
                P::TABLE.model
            ))
        })
    }

    fn session(&self) -> Result<Rc<SessionInner>> {
        let link = self.link()?;
        link.owner
            .upgrade()
            .and_then(|o| o.session())
            .ok_or_else(|| self.closed())
    }

    fn closed(&self) -> Error {
        Error::SessionClosed {
            table: self
                .link
                .get()
                .and_then(|l| l.owner.upgrade())
                .map(|o| o.table().name)
                .unwrap_or(P::TABLE.name)
                .to_owned(),
        }
    }

    fn refused(&self) -> Error {
        Error::LazyLoadRefused {
            model: self.model(),
            relation: self.field(),
            constant: self.field().to_uppercase(),
        }
    }

    fn model(&self) -> &'static str {
        self.link.get().map(|l| l.def.model()).unwrap_or("?")
    }

    fn field(&self) -> &'static str {
        self.link.get().map(|l| l.def.field()).unwrap_or("?")
    }
}

impl<P: Model> RelationField for BelongsTo<P> {
    fn parent(&self) -> Option<ParentRef> {
        self.target
            .borrow()
            .upgrade()
            .map(|n| ParentRef(n as Rc<dyn AnyNode>))
    }

    fn sync_key(&self) -> Result<()> {
        if let Some(target) = self.target.borrow().upgrade() {
            let key = target.key()?;
            *self.key.borrow_mut() = Some(key);
        }
        Ok(())
    }

    fn expire(&self) {}

    fn clear_key_of(&self, field: &str) {
        if self.field() == field {
            self.restore_key(None);
        }
    }
}

/// Binds the foreign key: the parent's key if a parent object is set.
impl<P: Model> rusqlite::ToSql for BelongsTo<P> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Owned(match self.key() {
            Some(key) => owned_value(&key),
            None => Value::Null,
        }))
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

/// Makes sure both objects end up in one session (adding the one that is
/// in none), and returns it.
fn join_sessions(
    owner: &Rc<dyn AnyNode>,
    other: Option<Rc<dyn AnyNode>>,
) -> Result<Option<Rc<SessionInner>>> {
    let mine = owner.session();
    let theirs = other.as_ref().and_then(|o| o.session());
    match (mine, theirs, other) {
        (Some(a), Some(b), _) if !Rc::ptr_eq(&a, &b) => Err(Error::Misuse(format!(
            "cannot link objects of two different sessions (`{}`)",
            owner.table().model
        ))),
        (Some(a), None, Some(other)) => {
            a.adopt_node(other)?;
            Ok(Some(a))
        }
        (None, Some(b), _) => {
            b.adopt_node(Rc::clone(owner))?;
            Ok(Some(b))
        }
        (None, None, Some(_)) => Err(Error::Misuse(format!(
            "neither object is in a session; add the `{}` or its parent to a session first",
            owner.table().model
        ))),
        (mine, _, _) => Ok(mine),
    }
}

// ------------------------------------------------------------------ HasMany

/// The generated description of a `HasMany` field: parent `P`, children `C`.
#[doc(hidden)]
pub struct HasManyDef<P: Model, C: Model> {
    /// The model owning the field.
    pub model: &'static str,
    /// The field's name.
    pub field: &'static str,
    /// The children's `BelongsTo` field that points back (`back_populates`).
    pub back_field: &'static str,
    /// Reaches the children's `BelongsTo` field.
    pub back: fn(&C) -> &BelongsTo<P>,
    /// Reaches the parent's collection.
    pub this: fn(&P) -> &HasMany<C>,
    /// Whether removing a child from the collection deletes it.
    pub delete_orphan: bool,
    /// What reading it unloaded does.
    pub lazy: Lazy,
}

/// Children loaded for several parents, by the parent's key.
type Children<P, C> = HashMap<<P as Model>::Key, Vec<Rc<Node<C>>>>;

impl<P: Model, C: Model> HasManyDef<P, C> {
    fn fk_column(&self) -> Result<&'static crate::schema::ColumnDef> {
        C::TABLE
            .columns
            .iter()
            .find(|c| c.field == self.back_field)
            .ok_or_else(|| {
                Error::Misuse(format!(
                    "`{}` has no foreign key column for field `{}`",
                    C::TABLE.model,
                    self.back_field
                ))
            })
    }

    /// One SELECT of the children of all `parents`, grouped by parent.
    fn load_children(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<Node<P>>],
    ) -> Result<Children<P, C>> {
        let fk = self.fk_column()?;
        let mut by_parent: Children<P, C> = HashMap::new();
        let mut keys = Vec::with_capacity(parents.len());
        for parent in parents {
            let key = parent.key()?;
            keys.push(owned_value(&key));
            by_parent.entry(key).or_default();
        }
        let (sql, param) = children_query::<C>(fk.name, &keys);
        session.select::<C>(&sql, &[Param::new(&param, fk.name)], |child| {
            let key = (self.back)(&*child.borrow()?).key();
            if let Some(list) = key.and_then(|k| by_parent.get_mut(&k)) {
                list.push(child);
            }
            Ok(())
        })?;
        Ok(by_parent)
    }

    /// Fills each parent's collection and points each child back at it.
    fn fill(&self, parent: &Rc<Node<P>>, children: &[Rc<Node<C>>]) -> Result<()> {
        for child in children {
            (self.back)(&*child.borrow()?).loaded_with(parent);
        }
        (self.this)(&*parent.borrow()?).set_loaded(children);
        Ok(())
    }
}

/// `SELECT ... WHERE fk IN (values of a JSON array)`: one statement and one
/// parameter for any number of keys.
fn children_query<C: Model>(fk: &str, keys: &[Value]) -> (String, String) {
    let sql = format!(
        "{} WHERE {} IN (SELECT value FROM json_each(?))",
        select_sql(C::TABLE),
        quote(fk)
    );
    (sql, json_array(keys))
}

fn json_array(values: &[Value]) -> String {
    let mut json = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        match value {
            Value::Integer(n) => json.push_str(&n.to_string()),
            Value::Real(f) => json.push_str(&f.to_string()),
            Value::Text(s) => {
                json.push('"');
                for ch in s.chars() {
                    match ch {
                        '"' => json.push_str("\\\""),
                        '\\' => json.push_str("\\\\"),
                        c if (c as u32) < 0x20 => json.push_str(&format!("\\u{:04x}", c as u32)),
                        c => json.push(c),
                    }
                }
                json.push('"');
            }
            Value::Null | Value::Blob(_) => json.push_str("null"),
        }
    }
    json.push(']');
    json
}

/// The child side of a `HasMany<C>` field, with the parent type erased.
trait ChildSide<C: Model> {
    fn model(&self) -> &'static str;
    fn field(&self) -> &'static str;
    fn lazy(&self) -> Lazy;
    fn delete_orphan(&self) -> bool;
    /// Loads the owner's children (one SELECT) and points them back at it.
    fn load(&self, session: &Rc<SessionInner>, owner: &Rc<dyn AnyNode>) -> Result<()>;
    /// Points `child` at `owner`, or clears it if it points there.
    fn link_child(&self, child: &Rc<Node<C>>, owner: &Rc<dyn AnyNode>, on: bool) -> Result<()>;
}

impl<P: Model, C: Model> ChildSide<C> for HasManyDef<P, C> {
    fn model(&self) -> &'static str {
        self.model
    }

    fn field(&self) -> &'static str {
        self.field
    }

    fn lazy(&self) -> Lazy {
        self.lazy
    }

    fn delete_orphan(&self) -> bool {
        self.delete_orphan
    }

    fn load(&self, session: &Rc<SessionInner>, owner: &Rc<dyn AnyNode>) -> Result<()> {
        let Some(parent) = downcast::<P>(Rc::clone(owner)) else {
            return Ok(());
        };
        let mut groups = self.load_children(session, std::slice::from_ref(&parent))?;
        let children = groups.remove(&parent.key()?).unwrap_or_default();
        self.fill(&parent, &children)
    }

    fn link_child(&self, child: &Rc<Node<C>>, owner: &Rc<dyn AnyNode>, on: bool) -> Result<()> {
        let Some(parent) = downcast::<P>(Rc::clone(owner)) else {
            return Ok(());
        };
        let value = child.borrow()?;
        let back = (self.back)(&value);
        if on {
            back.point_at(Some(&parent))
        } else if back
            .current_parent(parent.session_rc().as_ref())
            .is_some_and(|p| Rc::ptr_eq(&p, &parent))
        {
            back.point_at(None)
        } else {
            Ok(())
        }
    }
}

struct ManyLink<C: Model> {
    owner: Weak<dyn AnyNode>,
    def: &'static dyn ChildSide<C>,
}

/// A one-to-many relationship: the `C` rows whose `BelongsTo` points here.
/// No column; loaded lazily on first access, or preloaded by a query.
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
/// let order = session.add(Order::new(500));
/// alice.read()?.orders.push(&order)?;     // sets order.user too
/// assert_eq!(order.read()?.user.load()?, alice);
/// session.commit()?;
/// assert_eq!(alice.read()?.orders.load()?, vec![order]);
/// # Ok(()) }
/// ```
pub struct HasMany<C: Model> {
    /// `None`: not loaded.
    items: RefCell<Option<Vec<Weak<Node<C>>>>>,
    link: OnceCell<ManyLink<C>>,
}

impl<C: Model> Default for HasMany<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Model> HasMany<C> {
    /// An empty, loaded collection: a new object has no children in the
    /// database, so there is nothing to load.
    pub fn new() -> Self {
        HasMany {
            items: RefCell::new(Some(Vec::new())),
            link: OnceCell::new(),
        }
    }

    /// A collection not loaded yet (an object read from the database).
    pub fn unloaded() -> Self {
        HasMany {
            items: RefCell::new(None),
            link: OnceCell::new(),
        }
    }

    #[doc(hidden)]
    pub fn wire<P: Model>(&self, owner: &Owner, def: &'static HasManyDef<P, C>) {
        let _ = self.link.set(ManyLink {
            owner: owner.node.clone(),
            def,
        });
    }

    /// Whether the collection is loaded (reading it costs no SQL).
    pub fn is_loaded(&self) -> bool {
        self.items.borrow().is_some()
    }

    /// The children. The first access of an unloaded collection issues one
    /// SELECT (after an autoflush); later ones none.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] when the session is gone;
    /// [`Error::LazyLoadRefused`] when lazy loading is off for it.
    pub fn load(&self) -> Result<Vec<Handle<C>>> {
        if let Some(items) = self.loaded() {
            return Ok(items);
        }
        let link = self.link()?;
        let owner = link.owner.upgrade().ok_or_else(|| self.closed())?;
        let session = owner.session().ok_or_else(|| self.closed())?;
        if link.def.lazy() == Lazy::Raise {
            return Err(Error::LazyLoadRefused {
                model: link.def.model(),
                relation: link.def.field(),
                constant: link.def.field().to_uppercase(),
            });
        }
        session.autoflush()?;
        if self.items.borrow().is_none() {
            link.def.load(&session, &owner)?;
        }
        Ok(self.loaded().unwrap_or_default())
    }

    /// Adds `child` to the collection by pointing its `BelongsTo` here
    /// (which takes it out of its old parent's loaded collection).
    ///
    /// # Errors
    /// As [`BelongsTo::set`].
    pub fn push(&self, child: &Handle<C>) -> Result<()> {
        let link = self.link()?;
        let owner = link.owner.upgrade().ok_or_else(|| self.closed())?;
        link.def.link_child(&child.node, &owner, true)
    }

    /// Takes `child` out of the collection: its foreign key becomes NULL on
    /// flush, or it is deleted if the relationship is `delete_orphan`.
    ///
    /// # Errors
    /// As [`BelongsTo::set`].
    pub fn remove(&self, child: &Handle<C>) -> Result<()> {
        let link = self.link()?;
        let owner = link.owner.upgrade().ok_or_else(|| self.closed())?;
        link.def.link_child(&child.node, &owner, false)?;
        if link.def.delete_orphan()
            && let Some(session) = owner.session()
            && (child.node.state() == State::Persistent || child.node.state() == State::Pending)
        {
            session_delete(&session, &child.node)?;
        }
        Ok(())
    }

    fn loaded(&self) -> Option<Vec<Handle<C>>> {
        self.items.borrow().as_ref().map(|items| {
            items
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|n| n.state() != State::Deleted && n.state() != State::Transient)
                .map(Handle::from_node)
                .collect()
        })
    }

    fn set_loaded(&self, children: &[Rc<Node<C>>]) {
        *self.items.borrow_mut() = Some(children.iter().map(Rc::downgrade).collect());
    }

    /// Adds a child to the collection if it is loaded.
    fn remember(&self, child: &Rc<Node<C>>) {
        if let Some(items) = self.items.borrow_mut().as_mut()
            && !items
                .iter()
                .any(|w| std::ptr::eq(w.as_ptr(), Rc::as_ptr(child)))
        {
            items.push(Rc::downgrade(child));
        }
    }

    /// Takes a child out of the collection if it is loaded.
    fn forget(&self, child: &Rc<Node<C>>) {
        if let Some(items) = self.items.borrow_mut().as_mut() {
            items.retain(|w| !std::ptr::eq(w.as_ptr(), Rc::as_ptr(child)));
        }
    }

    fn link(&self) -> Result<&ManyLink<C>> {
        self.link.get().ok_or_else(|| {
            Error::Misuse(format!(
                "this `HasMany<{}>` is not part of an object yet; add the object to a session first",
                C::TABLE.model
            ))
        })
    }

    fn closed(&self) -> Error {
        Error::SessionClosed {
            table: self
                .link
                .get()
                .and_then(|l| l.owner.upgrade())
                .map(|o| o.table().name)
                .unwrap_or(C::TABLE.name)
                .to_owned(),
        }
    }
}

fn session_delete<C: Model>(session: &Rc<SessionInner>, node: &Rc<Node<C>>) -> Result<()> {
    session.delete_node(Rc::clone(node))
}

impl<C: Model> RelationField for HasMany<C> {
    fn parent(&self) -> Option<ParentRef> {
        None
    }

    fn sync_key(&self) -> Result<()> {
        Ok(())
    }

    fn expire(&self) {
        *self.items.borrow_mut() = None;
    }

    fn clear_key_of(&self, _field: &str) {}
}

impl<C: Model> std::fmt::Debug for HasMany<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.items.borrow().as_ref() {
            Some(items) => write!(f, "HasMany<{}>({} loaded)", C::TABLE.model, items.len()),
            None => write!(f, "HasMany<{}>(not loaded)", C::TABLE.model),
        }
    }
}

// ------------------------------------------------------------------ Preload

/// One level of eager loading, with its models erased.
pub(crate) trait PreloadStep {
    /// Loads the relationship for all `parents` in one statement and
    /// returns the objects loaded, for the next level.
    fn run(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>>;
}

impl<P: Model, C: Model> PreloadStep for HasManyDef<P, C> {
    fn run(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>> {
        let parents: Vec<Rc<Node<P>>> = parents
            .iter()
            .filter_map(|p| downcast::<P>(Rc::clone(p)))
            .collect();
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let mut groups = self.load_children(session, &parents)?;
        let mut loaded = Vec::new();
        for parent in &parents {
            let children = groups.remove(&parent.key()?).unwrap_or_default();
            self.fill(parent, &children)?;
            loaded.extend(children.into_iter().map(|c| c as Rc<dyn AnyNode>));
        }
        Ok(loaded)
    }
}

impl<C: Model, P: Model> PreloadStep for BelongsToDef<C, P> {
    fn run(
        &self,
        session: &Rc<SessionInner>,
        children: &[Rc<dyn AnyNode>],
    ) -> Result<Vec<Rc<dyn AnyNode>>> {
        let column = &C::TABLE.columns[self.column];
        let children: Vec<Rc<Node<C>>> = children
            .iter()
            .filter_map(|c| downcast::<C>(Rc::clone(c)))
            .collect();
        let mut wanted: Vec<Value> = Vec::new();
        let mut parents: HashMap<P::Key, Rc<Node<P>>> = HashMap::new();
        for child in &children {
            let Some(key) = (self.this)(&*child.borrow()?).key() else {
                continue;
            };
            if parents.contains_key(&key) {
                continue;
            }
            match session.identity().get::<P>(&key) {
                Some(node) => {
                    parents.insert(key, node);
                }
                None => wanted.push(owned_value(&key)),
            }
        }
        if !wanted.is_empty() {
            let pk = P::TABLE.primary_key().name;
            let sql = format!(
                "{} WHERE {} IN (SELECT value FROM json_each(?))",
                select_sql(P::TABLE),
                quote(pk)
            );
            let param = json_array(&wanted);
            session.select::<P>(&sql, &[Param::new(&param, column.name)], |node| {
                let key = node.key()?;
                parents.insert(key, node);
                Ok(())
            })?;
        }
        for child in &children {
            let value = child.borrow()?;
            let field = (self.this)(&value);
            if let Some(parent) = field.key().and_then(|k| parents.get(&k)) {
                field.loaded_with(parent);
            }
        }
        Ok(parents
            .into_values()
            .map(|p| p as Rc<dyn AnyNode>)
            .collect())
    }
}

/// A relationship named in a query's `preload`: `User::ORDERS` is a
/// `Relation<User, Order>`. Generated by `#[derive(Model)]`.
pub struct Relation<P: Model, C: Model> {
    step: &'static dyn PreloadStep,
    _models: PhantomData<fn(P) -> C>,
}

impl<P: Model, C: Model> Clone for Relation<P, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Model, C: Model> Copy for Relation<P, C> {}

impl<P: Model, C: Model> Relation<P, C> {
    #[doc(hidden)]
    pub const fn has_many(def: &'static HasManyDef<P, C>) -> Self {
        Relation {
            step: def,
            _models: PhantomData,
        }
    }

    #[doc(hidden)]
    pub const fn belongs_to(def: &'static BelongsToDef<P, C>) -> Self {
        Relation {
            step: def,
            _models: PhantomData,
        }
    }

    /// Continues a preload one level deeper:
    /// `User::ORDERS.then(Order::ITEMS)` loads users' orders and their items.
    pub fn then<G: Model>(self, next: Relation<C, G>) -> Preload<P, G> {
        Preload::from(self).then(next)
    }
}

/// A chain of relationships to preload, from `P` down to `L`.
pub struct Preload<P: Model, L: Model> {
    pub(crate) steps: Vec<&'static dyn PreloadStep>,
    _models: PhantomData<fn(P) -> L>,
}

impl<P: Model, L: Model> Preload<P, L> {
    /// Continues the chain one level deeper.
    pub fn then<G: Model>(mut self, next: Relation<L, G>) -> Preload<P, G> {
        self.steps.push(next.step);
        Preload {
            steps: self.steps,
            _models: PhantomData,
        }
    }
}

impl<P: Model, C: Model> From<Relation<P, C>> for Preload<P, C> {
    fn from(relation: Relation<P, C>) -> Self {
        Preload {
            steps: vec![relation.step],
            _models: PhantomData,
        }
    }
}
