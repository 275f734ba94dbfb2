//! Relationships: [`BelongsTo`] (many-to-one, owns the foreign key),
//! [`HasMany`] (one-to-many, the other side), [`HasOne`] and [`ManyToMany`],
//! as fields of the models. What all four share lives once: their place
//! and the lazy-load path in `link`, loaded lists in `collection`, what
//! one load reads for several owners, grouped by owner, in `groups`, the
//! session they join in [`Joining`], cascades in `cascade`, eager loading in
//! `preload`; each kind's file keeps only what differs.
//!
//! Both are interior-mutable, so `order.read()?.user.set(&alice)?` needs
//! only shared borrows of `order` and `alice`; that is what lets one call
//! update both sides (back-population) while the user holds reads of either.
//! They point at other objects **weakly**: the session owns every object,
//! relationship fields never keep one alive, so a graph with cycles
//! (user -> orders -> user) is freed with its session. After the session is
//! gone, a relationship access is [`Error::SessionClosed`]. The one
//! exception is a graph built before any session: there a parent keeps the
//! children it was linked to alive (and a many-to-many owner what it
//! added), so the graph lives as long as a handle to its root, until it
//! joins a session, which owns it from then on.
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
//!   either side) adds it to that session, as SQLAlchemy's save-update
//!   cascade, with every object it was linked to before.
//! - **Graphs before a session**: objects in no session link as objects in
//!   one do, both sides in sync in memory; `session.add_handle(&root)`
//!   adds everything reachable from it, and the flush inserts parents first
//!   with the keys filled.
//!
//!   ```
//!   # use orm::prelude::*;
//!   # #[derive(Model, Debug)]
//!   # #[orm(table = "users")]
//!   # struct User { #[orm(primary_key)] id: i64, name: String,
//!   #   #[orm(back_populates = "user")] orders: HasMany<Order> }
//!   # #[derive(Model, Debug)]
//!   # #[orm(table = "orders")]
//!   # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
//!   #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
//!   # fn main() -> orm::Result<()> {
//!   # let db = Database::in_memory()?;
//!   # db.create_all::<(User, Order)>()?;
//!   let alice = Handle::new(User::new("Alice"));
//!   let order = Handle::new(Order::new(1299));
//!   alice.read()?.orders.push(&order)?;     // no session yet; order.user is alice
//!   let session = db.session();
//!   session.add_handle(&alice)?;            // adds order too
//!   session.commit()?;                      // INSERT users; INSERT orders (user_id filled)
//!   assert_eq!(order.read()?.user.key(), Some(alice.read()?.id));
//!   # Ok(()) }
//!   ```
//! - **Unloaded collections**: a push or remove on a collection that is not
//!   loaded changes the child's foreign key only; the later load autoflushes
//!   first, so it sees them merged, and a push then a remove cancels out.

mod belongs_to;
pub(crate) mod cascade;
mod collection;
mod groups;
mod has_many;
mod has_one;
mod link;
mod many_to_many;
mod member_list;
mod path;
mod preload;
mod watch;

pub use belongs_to::{BelongsTo, BelongsToDef};
pub use has_many::{HasMany, HasManyDef};
pub use has_one::HasOne;
pub use many_to_many::{ManyToMany, ManyToManyDef};
pub(crate) use path::Hop;
pub(crate) use preload::PreloadStep;
pub use preload::{Preload, Relation, ToMany, ToOne};
pub(crate) use watch::LazyWatch;
pub use watch::NPlusOne;

use std::rc::{Rc, Weak};

use rustc_hash::FxHashSet as HashSet;

use crate::error::{Misuse, Result};
use crate::model::Model;
use crate::schema::TableDef;
use crate::session::SessionInner;
use crate::state::{AnyNode, Handle, address};
use crate::value::Value;

/// How a relationship behaves when read before it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lazy {
    /// Load it with a SELECT (the default).
    Select,
    /// Refuse with [`Error::LazyLoadRefused`](crate::Error::LazyLoadRefused): it must be preloaded.
    Raise,
}

/// The object that owns a relationship field, as the field is given it
/// when the object is made ([`RelationField::wire`]); it has no public use.
#[doc(hidden)]
pub struct Owner {
    node: Weak<dyn AnyNode>,
}

impl Owner {
    pub(crate) fn new(node: Weak<dyn AnyNode>) -> Owner {
        Owner { node }
    }
}

/// A link row a many-to-many collection needs: its table, and each link
/// column with the object whose key goes there.
pub type NewLink = (&'static str, [(&'static str, ParentRef); 2]);

/// A loaded object a relationship field points at (opaque).
#[doc(hidden)]
pub struct ParentRef(pub(crate) Rc<dyn AnyNode>);

/// What the session needs from a relationship field of any kind: what all
/// four kinds have, and a view of the kind-specific part. Implemented by
/// [`BelongsTo`], [`HasMany`], [`HasOne`] and [`ManyToMany`]; generated
/// code lists them.
pub trait RelationField {
    /// Connects the field to the object that owns it, when the object is
    /// made.
    #[doc(hidden)]
    fn wire(&self, owner: &Owner);
    /// The field as a foreign key, if it is a `BelongsTo`.
    #[doc(hidden)]
    fn as_foreign_key(&self) -> Option<&dyn ForeignKeyField> {
        None
    }
    /// The field as a loaded-or-not collection, if it is one.
    #[doc(hidden)]
    fn as_collection(&self) -> Option<&dyn CollectionField> {
        None
    }
}

/// The part of a `BelongsTo` the session needs. Not part of the public API.
#[doc(hidden)]
pub trait ForeignKeyField {
    /// The loaded object it points at, if any.
    fn parent(&self) -> Option<ParentRef>;
    /// Copies the target's current key into the foreign key (before a flush).
    fn sync_key(&self) -> Result<()>;
    /// Clears the foreign key if this is the field named `field` (its
    /// parent row was deleted with `ON DELETE SET NULL`).
    fn clear_key_of(&self, field: &str);
    /// For the field named `field`: whether it points nowhere.
    fn orphaned(&self, field: &str) -> Option<bool>;
    /// Given only its key, points at the parent object if the session now
    /// holds it, joining its loaded collection (after a flush that
    /// inserted the parent). Skips a parent that is being written.
    fn find_parent(&self);
    /// For an object new again (a rollback undid its insert): joins the
    /// collection of the parent object it points at (noted aside where it
    /// is not loaded; not shown while the parent is in a session), so that
    /// the collection holds it again once the parent is new too.
    fn rejoin_parent(&self);
    /// The parent's table and the key the field holds, if any.
    fn target_key(&self) -> Option<(&'static TableDef, Value)>;
}

/// The part of a `HasMany`, `HasOne` or `ManyToMany` the session needs.
/// Not part of the public API.
#[doc(hidden)]
pub trait CollectionField {
    /// Forgets what is loaded, so the next access reloads it.
    fn expire(&self);
    /// [`CollectionField::expire`] after a rollback: members it made new
    /// again that still point at the owner stay noted as added, so that
    /// the collection holds them again if they rejoin the session, or if
    /// the owner is made new too.
    fn expire_after_rollback(&self) {
        self.expire();
    }
    /// For an object new again (a rollback undid its insert, or took it out
    /// before): nothing in the database points at it, so the field is
    /// loaded with the members still linked to it in memory (the graph a
    /// new object was built into stays as it was).
    fn keep_linked(&self);
    /// The objects it holds now (loaded, or added while not loaded).
    fn members(&self) -> Vec<ParentRef>;
    /// Whether it is loaded and is the one-to-many side of the foreign key
    /// in column `column` of `table`: then it holds every row that pointed
    /// at its owner when it loaded, or has joined since in this session,
    /// and a cascade from the owner need not read which rows it passes
    /// (rows another session inserted since are not seen, as in the
    /// collection itself).
    fn holds_every_child(&self, table: &'static TableDef, column: usize) -> bool {
        let _ = (table, column);
        false
    }
    /// The link rows its members need, as (link table, each link column
    /// with the object whose key goes there), for an owner joining a
    /// session with a graph built before (many-to-many only).
    fn new_links(&self, owner: &ParentRef) -> Vec<NewLink> {
        let _ = owner;
        Vec::new()
    }
}

/// Gives a relationship field its generated description when it asks its
/// owner for it (`Model::describe_field`). Not part of the public API.
#[doc(hidden)]
pub trait Wire<D: ?Sized> {
    /// Writes `def` into `out` if `out` is what this field kind asks with.
    fn describe(def: &'static D, out: &mut dyn std::any::Any);
}

/// The column a `BelongsTo` owns, as the generated row mapping binds and
/// restores it. Not part of the public API.
#[doc(hidden)]
pub trait ForeignKeyColumn {
    /// The foreign key to bind: the parent's key if a parent object is set.
    fn bound(&self) -> crate::value::Bound<'static>;
    /// Sets the foreign key read back from the database (rollback,
    /// refresh); the parent object is looked up again on next access.
    ///
    /// # Errors
    /// [`FromValueError`](crate::FromValueError) when the value does not fit the key.
    fn restore(
        &self,
        value: crate::value::ValueRef<'_>,
    ) -> std::result::Result<(), crate::FromValueError>;
}

/// The parent-side field a `BelongsTo<C>` mirrors: a [`HasMany<C>`] or a
/// [`HasOne<C>`]. `back_populates` on a `BelongsTo` must name one.
#[diagnostic::on_unimplemented(
    message = "`back_populates` must name a `HasMany<{C}>` or `HasOne<{C}>` field, not a `{Self}`",
    label = "this field is not a collection of the model declaring `back_populates`"
)]
pub trait Backref<C: Model> {
    /// Adds a child if the field is loaded (back-population).
    #[doc(hidden)]
    fn remember(&self, child: &Handle<C>) -> Result<()>;
    /// Takes a child out if the field is loaded.
    #[doc(hidden)]
    fn forget(&self, child: &Handle<C>);
    /// Marks the field loaded with these children; of the children added
    /// while it was not loaded, those `still_here` keeps join them.
    #[doc(hidden)]
    fn set_loaded(&self, children: &[Handle<C>], still_here: &dyn Fn(&Handle<C>) -> bool);
    /// Checks that `remember(child)` can run now (a one-to-one field lets
    /// go of its previous child, which must not be being written).
    #[doc(hidden)]
    fn check_remember(&self, child: &Handle<C>) -> Result<()> {
        let _ = child;
        Ok(())
    }
}

/// The session two objects about to be linked will share, decided without
/// changing anything: linking a new object to one in a session adds it to
/// that session (SQLAlchemy's save-update cascade), once every check passed.
/// Two objects in no session stay out of any: the one that `holds` keeps
/// the other alive until their graph joins one.
struct Joining {
    session: Option<Rc<SessionInner>>,
    adopt: Option<Rc<dyn AnyNode>>,
    hold: Option<(Rc<dyn AnyNode>, Rc<dyn AnyNode>)>,
}

/// Which of two objects being linked keeps the other alive while neither
/// is in a session: a parent its children, an owner what it collects.
#[derive(Clone, Copy)]
enum Holder {
    Owner,
    Other,
}

impl Joining {
    /// Checks that `owner` and `other` can be linked.
    fn plan(
        owner: &Rc<dyn AnyNode>,
        other: Option<&Rc<dyn AnyNode>>,
        holder: Holder,
    ) -> Result<Joining> {
        let model = owner.table().model;
        let mine = owner.meta().session();
        let theirs = other.and_then(|o| o.meta().session());
        let (session, adopt) = match (mine, theirs, other) {
            (Some(a), Some(b), _) if !Rc::ptr_eq(&a, &b) => {
                return Err(Misuse::TwoSessions { model }.into());
            }
            (Some(a), None, Some(other)) => (Some(a), Some(Rc::clone(other))),
            (None, Some(b), _) => (Some(b), Some(Rc::clone(owner))),
            (None, None, Some(other)) => {
                check_unsaved(owner)?;
                check_unsaved(other)?;
                let hold = match holder {
                    Holder::Owner => (Rc::clone(owner), Rc::clone(other)),
                    Holder::Other => (Rc::clone(other), Rc::clone(owner)),
                };
                return Ok(Joining {
                    session: None,
                    adopt: None,
                    hold: Some(hold),
                });
            }
            (mine, _, _) => (mine, None),
        };
        if let (Some(session), Some(node)) = (&session, &adopt) {
            session.check_graph(node)?;
        }
        Ok(Joining {
            session,
            adopt,
            hold: None,
        })
    }

    /// Adds the object that was in no session (with its graph); returns the
    /// shared session.
    fn apply(self) -> Result<Option<Rc<SessionInner>>> {
        if let (Some(session), Some(node)) = (&self.session, self.adopt) {
            session.adopt_node(node)?;
        }
        if let Some((holder, held)) = self.hold
            && !keeps_alive(&held, &holder)
        {
            holder.meta().hold(held);
        }
        Ok(self.session)
    }
}

/// Whether `from` keeps `to` alive, itself or through what it holds: then
/// `to` holding `from` would be a cycle that nothing frees (an object its
/// own manager, two objects each other's), and the link stays weak.
fn keeps_alive(from: &Rc<dyn AnyNode>, to: &Rc<dyn AnyNode>) -> bool {
    let mut stack = vec![Rc::clone(from)];
    let mut seen: HashSet<*const ()> = HashSet::default();
    while let Some(node) = stack.pop() {
        if crate::state::same_node(&node, to) {
            return true;
        }
        if seen.insert(address(&node)) {
            stack.extend(node.meta().held());
        }
    }
    false
}

/// Fails for an object that was persistent in a session now gone: it can
/// be linked only through a session again.
fn check_unsaved(node: &Rc<dyn AnyNode>) -> Result<()> {
    if matches!(
        node.meta().state(),
        crate::state::State::Transient | crate::state::State::Pending
    ) {
        Ok(())
    } else {
        Err(Misuse::Detached {
            model: node.table().model,
        }
        .into())
    }
}
