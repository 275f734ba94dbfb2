//! `HasMany<C>`: the one-to-many side, a collection with no column; and
//! the description shared with `HasOne`.

use std::any::Any;
use std::rc::Rc;

use super::collection::Collection;
use super::groups::{Grouped, Groups};
use super::link::{Describe, Link, Loader};
use super::{Backref, BelongsTo, CollectionField, Lazy, Owner, ParentRef, RelationField, Wire};
use crate::backend::{KeyForm, key_lists};
use crate::error::Result;
use crate::model::Model;
use crate::schema::{SortKey, TableDef};
use crate::session::SessionInner;
use crate::sql::{Kind, Param};
use crate::state::{AnyNode, Handle, Node, State, downcast};
use crate::unit_of_work::Orphan;
use crate::value::{ToValue, Value};

/// The generated description of a `HasMany` or `HasOne` field: parent
/// `P`, children `C`.
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
    /// Reaches the parent's field.
    pub this: fn(&P) -> &dyn Backref<C>,
    /// Whether removing a child from the collection deletes it.
    pub delete_orphan: bool,
    /// The order children load in (`order_by`); empty for the database's.
    pub order_by: &'static [SortKey],
    /// What reading it unloaded does.
    pub lazy: Lazy,
}

impl<P: Model, C: Model> HasManyDef<P, C> {
    /// The position of the children's foreign-key column (the derive
    /// checked that `back_field` names a `BelongsTo`, which has one).
    fn fk_column(&self) -> Option<usize> {
        C::TABLE
            .columns
            .iter()
            .position(|c| c.field == self.back_field)
    }

    /// One SELECT of the children of all `parents`, grouped by parent.
    pub(super) fn load_children(
        &self,
        session: &Rc<SessionInner>,
        parents: &[Rc<Node<P>>],
    ) -> Result<Grouped<C>> {
        let mut children = Groups::new(parents.len());
        let mut keys = Vec::with_capacity(parents.len());
        for parent in parents {
            let key = parent.key()?;
            keys.push(Value::from(key.to_value()));
            children.owner(key);
        }
        let Some(column) = self.fk_column() else {
            return Ok(children.finish());
        };
        let fk = &C::TABLE.columns[column];
        // One parent (a lazy load): a plain `= ?`, which SQLite answers
        // from the index. Several (a preload): one statement for all keys.
        let statements: Vec<(Option<KeyForm>, Value)> = match keys.as_slice() {
            [key] => vec![(None, key.clone())],
            keys => key_lists(keys, session.conn()?.dialect())
                .into_iter()
                .map(|list| (Some(list.form), Value::Text(list.json)))
                .collect(),
        };
        for (list, param) in statements {
            let sql = session.conn()?.text(
                C::TABLE,
                Kind::Children {
                    column,
                    list,
                    order: self.order_by,
                },
            );
            session.select::<C>(&sql, &[Param::new(param.as_ref(), fk.name)], |child| {
                let key = (self.back)(&*child.borrow()?).key();
                if let Some(key) = key {
                    children.push(&key, Handle::from_node(child));
                }
                Ok(())
            })?;
        }
        Ok(children.finish())
    }

    /// Fills each parent's field with its children and points each child
    /// back at it.
    pub(super) fn fill_all(&self, parents: &[Rc<Node<P>>], children: &Grouped<C>) -> Result<()> {
        for (parent, group) in parents.iter().zip(children.each()) {
            self.fill(parent, group)?;
        }
        Ok(())
    }

    /// Fills the parent's field and points each child back at it.
    fn fill(&self, parent: &Rc<Node<P>>, children: &[Handle<C>]) -> Result<()> {
        for child in children {
            (self.back)(&*child.node.borrow()?).loaded_with(parent);
        }
        let session = parent.meta().session();
        let points_here = |child: &Handle<C>| {
            child.node.borrow().is_ok_and(|c| {
                (self.back)(&c)
                    .current_parent(session.as_ref())
                    .is_some_and(|p| Rc::ptr_eq(&p, parent))
            })
        };
        (self.this)(&*parent.borrow()?).set_loaded(children, &points_here);
        if let Some(session) = &session {
            session.note_collections(parent);
        }
        Ok(())
    }
}

/// The child side of a `HasMany<C>` or `HasOne<C>` field, with the parent
/// type erased.
pub(super) trait ChildSide<C: Model>: Loader {
    fn delete_orphan(&self) -> bool;
    /// The children's `BelongsTo` field that points back.
    fn back_field(&self) -> &'static str;
    /// Loads the owner's children (one SELECT) and points them back at it.
    /// Points `child` at `owner` (`on`), or clears it if it points there.
    fn link_child(&self, child: &Rc<Node<C>>, owner: &Rc<dyn AnyNode>, on: bool) -> Result<()>;
    /// Whether `child`'s `BelongsTo` points at `owner` in memory.
    fn points_at(&self, child: &Rc<Node<C>>, owner: &Rc<dyn AnyNode>) -> bool;
}

/// Whether `side` is the parents' side of `table`'s foreign key in
/// `column`.
fn is_side_of<C: Model>(side: &dyn ChildSide<C>, table: &'static TableDef, column: usize) -> bool {
    C::TABLE.name == table.name
        && table
            .columns
            .get(column)
            .is_some_and(|c| c.field == side.back_field())
}

impl<P: Model, C: Model> Describe for HasManyDef<P, C> {
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

impl<P: Model, C: Model> Loader for HasManyDef<P, C> {
    fn load(&self, session: &Rc<SessionInner>, owner: &Rc<dyn AnyNode>) -> Result<()> {
        let Some(parent) = downcast::<P>(Rc::clone(owner)) else {
            return Ok(());
        };
        let parents = std::slice::from_ref(&parent);
        let children = self.load_children(session, parents)?;
        self.fill_all(parents, &children)
    }
}

impl<P: Model, C: Model> ChildSide<C> for HasManyDef<P, C> {
    fn points_at(&self, child: &Rc<Node<C>>, owner: &Rc<dyn AnyNode>) -> bool {
        let Some(parent) = downcast::<P>(Rc::clone(owner)) else {
            return false;
        };
        let session = parent.meta().session();
        child.borrow().is_ok_and(|c| {
            (self.back)(&c)
                .current_parent(session.as_ref())
                .is_some_and(|p| Rc::ptr_eq(&p, &parent))
        })
    }

    fn delete_orphan(&self) -> bool {
        self.delete_orphan
    }

    fn back_field(&self) -> &'static str {
        self.back_field
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
            .current_parent(parent.meta().session().as_ref())
            .is_some_and(|p| Rc::ptr_eq(&p, &parent))
        {
            back.point_at(None)
        } else {
            Ok(())
        }
    }
}

/// The place of a `HasMany<C>` or `HasOne<C>` field.
pub(super) type ChildLink<C> = Link<C, dyn ChildSide<C>>;

/// Removes a child from the link's owner (and, with `delete_orphan`, has
/// the next flush delete it unless it found another parent by then).
pub(super) fn unlink<C: Model>(
    link: &ChildLink<C>,
    kind: &'static str,
    child: &Rc<Node<C>>,
) -> Result<()> {
    let (owner, def) = link.owner_and_def(kind)?;
    def.link_child(child, &owner, false)?;
    if def.delete_orphan()
        && let Some(session) = owner.meta().session()
    {
        session.unit_of_work().mark_orphan(Orphan::new(
            Rc::clone(child) as Rc<dyn AnyNode>,
            def.back_field(),
            (def.model(), def.field()),
            &owner,
        ));
    }
    Ok(())
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
    items: Collection<C>,
    link: ChildLink<C>,
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
            items: Collection::empty(),
            link: Link::new(),
        }
    }

    /// A collection not loaded yet (an object read from the database).
    pub fn unloaded() -> Self {
        HasMany {
            items: Collection::unloaded(),
            link: Link::new(),
        }
    }

    /// Whether the collection is loaded (reading it costs no SQL).
    pub fn is_loaded(&self) -> bool {
        self.items.is_loaded()
    }

    /// The children. The first access of an unloaded collection issues one
    /// SELECT (after an autoflush); later ones none.
    ///
    /// # Errors
    /// [`Error::SessionClosed`](crate::Error::SessionClosed) when the session is gone;
    /// [`Error::LazyLoadRefused`](crate::Error::LazyLoadRefused) when lazy loading is off for it.
    pub fn load(&self) -> Result<Vec<Handle<C>>> {
        self.items.load(&self.link, KIND)
    }

    /// Adds `child` to the collection by pointing its `BelongsTo` here
    /// (which takes it out of its old parent's loaded collection).
    ///
    /// # Errors
    /// As [`BelongsTo::set`]; nothing changed then.
    pub fn push(&self, child: &Handle<C>) -> Result<()> {
        let (owner, def) = self.link.owner_and_def(KIND)?;
        def.link_child(&child.node, &owner, true)
    }

    /// Takes `child` out of the collection: its foreign key becomes NULL on
    /// flush, or it is deleted if the relationship is `delete_orphan`.
    ///
    /// # Errors
    /// As [`BelongsTo::set`]; nothing changed then.
    pub fn remove(&self, child: &Handle<C>) -> Result<()> {
        unlink(&self.link, KIND, &child.node)
    }
}

/// The field's type, in messages.
const KIND: &str = "HasMany";

impl<C: Model> Backref<C> for HasMany<C> {
    fn remember(&self, child: &Handle<C>) -> Result<()> {
        self.items.insert(&child.node);
        Ok(())
    }

    fn forget(&self, child: &Handle<C>) {
        self.items.remove(&child.node);
    }

    fn set_loaded(&self, children: &[Handle<C>], still_here: &dyn Fn(&Handle<C>) -> bool) {
        self.items
            .set(children.iter().map(|c| Rc::downgrade(&c.node)), |node| {
                still_here(&Handle::from_node(Rc::clone(node)))
            });
    }
}

impl<P: Model, C: Model> Wire<HasManyDef<P, C>> for HasMany<C> {
    fn describe(def: &'static HasManyDef<P, C>, out: &mut dyn Any) {
        ChildLink::<C>::offer(def, out);
    }
}

impl<C: Model> RelationField for HasMany<C> {
    fn wire(&self, owner: &Owner) {
        self.link.wire(owner);
    }

    fn as_collection(&self) -> Option<&dyn CollectionField> {
        Some(self)
    }
}

impl<C: Model> CollectionField for HasMany<C> {
    fn expire(&self) {
        self.items.expire();
    }

    fn expire_after_rollback(&self) {
        match self.link.owner_and_def(KIND) {
            Ok((owner, def)) => self.items.expire_keeping(|child| {
                child.meta().state() == State::Transient && def.points_at(child, &owner)
            }),
            _ => self.items.expire(),
        }
    }

    fn keep_linked(&self) {
        match self.link.owner_and_def(KIND) {
            Ok((owner, def)) => self.items.keep(|child| def.points_at(child, &owner)),
            _ => self.items.reset_empty(),
        }
    }

    fn holds_every_child(&self, table: &'static TableDef, column: usize) -> bool {
        self.items.loaded_len().is_some()
            && self
                .link
                .owner_and_def(KIND)
                .is_ok_and(|(_, side)| is_side_of(side, table, column))
    }

    fn members(&self) -> Vec<ParentRef> {
        self.items
            .members()
            .into_iter()
            .map(|n| ParentRef(n as Rc<dyn AnyNode>))
            .collect()
    }
}

impl<C: Model> std::fmt::Debug for HasMany<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.items.loaded_len() {
            Some(n) => write!(f, "HasMany<{}>({n} loaded)", C::TABLE.model),
            None => write!(f, "HasMany<{}>(not loaded)", C::TABLE.model),
        }
    }
}
