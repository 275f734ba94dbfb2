//! `ManyToMany<C>`: a collection linked through a link table that is not a
//! model (SQLAlchemy's `secondary`). The unit of work inserts and deletes
//! the link rows; either end's deletion removes its links (`ON DELETE CASCADE`).

use std::any::Any;
use std::rc::Rc;

use super::collection::Collection;
use super::groups::{Grouped, Groups};
use super::link::{Describe, Link, Loader};
use super::{
    CollectionField, Holder, Joining, Lazy, NewLink, Owner, ParentRef, RelationField, Wire,
};
use crate::backend::key_lists;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::model::Model;
use crate::schema::SortKey;
use crate::session::SessionInner;
use crate::sql::{Param, text};
use crate::state::{AnyNode, Handle, Node, downcast};
use crate::unit_of_work::LinkChange;
use crate::value::RowExt;
use crate::value::{ToValue, Value, ValueRef};

/// The generated description of a `ManyToMany` field of `P` holding `C`s.
#[doc(hidden)]
pub struct ManyToManyDef<P: Model, C: Model> {
    /// The model owning the field.
    pub model: &'static str,
    /// The field's name.
    pub field: &'static str,
    /// The link table.
    pub table: &'static str,
    /// The link column holding `P`'s key.
    pub this_column: &'static str,
    /// The link column holding `C`'s key.
    pub other_column: &'static str,
    /// Reaches the field itself.
    pub this: fn(&P) -> &ManyToMany<C>,
    /// Reaches the mirror field on `C` (`back_populates`), if declared.
    pub back: Option<fn(&C) -> &ManyToMany<P>>,
    /// What reading it unloaded does.
    pub lazy: Lazy,
    /// The order linked objects load in (`order_by`); empty for the database's.
    pub order_by: &'static [SortKey],
}

impl<P: Model, C: Model> ManyToManyDef<P, C> {
    /// One SELECT of the objects linked to all `owners`, grouped by owner.
    pub(super) fn load_linked(
        &self,
        session: &Rc<SessionInner>,
        owners: &[Rc<Node<P>>],
    ) -> Result<Grouped<C>> {
        let mut linked = Groups::new(owners.len());
        let mut keys = Vec::with_capacity(owners.len());
        for owner in owners {
            let key = owner.key()?;
            keys.push(Value::from(key.to_value()));
            linked.owner(key);
        }
        let table = C::TABLE;
        let owner_column = table.columns.len();
        let dialect = session.conn()?.dialect();
        for list in key_lists(&keys, dialect) {
            let sql = text::linked(
                table,
                self.table,
                self.this_column,
                self.other_column,
                list.form,
                self.order_by,
                dialect,
            );
            session.select_rows::<C>(
                &sql,
                &[Param::new(ValueRef::Text(&list.json), self.this_column)],
                |node, row| {
                    let owner: P::Key = row.get(owner_column)?;
                    linked.push(&owner, Handle::from_node(node));
                    Ok(())
                },
            )?;
        }
        Ok(linked.finish())
    }

    /// Fills each owner's field with the objects linked to it.
    pub(super) fn fill_all(&self, owners: &[Rc<Node<P>>], linked: &Grouped<C>) -> Result<()> {
        for (owner, group) in owners.iter().zip(linked.each()) {
            (self.this)(&*owner.borrow()?).set_loaded(group);
            if let Some(session) = owner.meta().session() {
                session.note_collections(owner);
            }
        }
        Ok(())
    }
}

/// The `ManyToMany<C>` side of the description, with `P` erased.
trait LinkSide<C: Model>: Loader {
    /// Links or unlinks `owner` and `other`: both loaded collections and the
    /// session's pending link rows.
    fn change(&self, owner: &Rc<dyn AnyNode>, other: &Rc<Node<C>>, link: bool) -> Result<()>;
    /// The link table and its columns for the owner's and the other's key.
    fn link_columns(&self) -> (&'static str, &'static str, &'static str);
}

impl<P: Model, C: Model> Describe for ManyToManyDef<P, C> {
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

impl<P: Model, C: Model> Loader for ManyToManyDef<P, C> {
    fn load(&self, session: &Rc<SessionInner>, owner: &Rc<dyn AnyNode>) -> Result<()> {
        let Some(owner) = downcast::<P>(Rc::clone(owner)) else {
            return Ok(());
        };
        let owners = std::slice::from_ref(&owner);
        let linked = self.load_linked(session, owners)?;
        self.fill_all(owners, &linked)
    }
}

impl<P: Model, C: Model> LinkSide<C> for ManyToManyDef<P, C> {
    fn link_columns(&self) -> (&'static str, &'static str, &'static str) {
        (self.table, self.this_column, self.other_column)
    }

    fn change(&self, owner: &Rc<dyn AnyNode>, other: &Rc<Node<C>>, link: bool) -> Result<()> {
        let Some(me) = downcast::<P>(Rc::clone(owner)) else {
            return Ok(());
        };
        let other_erased: Rc<dyn AnyNode> = Rc::clone(other) as Rc<dyn AnyNode>;
        let joining = Joining::plan(owner, Some(&other_erased), Holder::Owner)?;
        // Every borrow before any change: the owner's field, the mirror's.
        let owner_value = me.borrow()?;
        let other_value = match self.back {
            Some(_) => Some(other.borrow()?),
            None => None,
        };
        let session = joining.apply()?;
        let this = (self.this)(&owner_value);
        // A loaded collection knows whether the link exists; an unloaded one
        // does not, so the change is recorded and the last one wins.
        let known = this.is_loaded();
        let changed = this.toggle(other, link);
        if let (Some(back), Some(other_value)) = (self.back, &other_value) {
            back(other_value).toggle(&me, link);
        }
        drop((owner_value, other_value));
        if !link {
            owner.meta().release(&other_erased);
        }
        // Neither in a session: the link rows are written once the graph
        // joins one (`CollectionField::new_links`).
        let Some(session) = session else {
            return Ok(());
        };
        // A rollback expires what both ends hold now, loaded or noted
        // while not loaded.
        session.note_collections(&me);
        if self.back.is_some() {
            session.note_collections(other);
        }
        if changed {
            let ends = [
                (self.this_column, Rc::clone(owner)),
                (self.other_column, other_erased),
            ];
            session
                .unit_of_work()
                .record_link(LinkChange::new(self.table, ends, link), known);
        }
        Ok(())
    }
}

/// A many-to-many relationship through a link table: `#[orm(through =
/// "item_keywords")]`. Loaded lazily on first access or preloaded; `add`
/// and `remove` change both sides in memory and the link rows on flush.
///
/// On a loaded collection an `add` then a `remove` of the same object
/// cancel out (the session knows whether the link existed). On an unloaded
/// one it cannot know, so the last change is sent: `INSERT OR IGNORE` for
/// an add, `DELETE` for a remove, either harmless when already so.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct Item { #[orm(primary_key)] id: i64, name: String,
/// #   #[orm(through = "item_keywords", back_populates = "items")] keywords: ManyToMany<Keyword> }
/// # #[derive(Model, Debug)]
/// # struct Keyword { #[orm(primary_key)] id: i64, word: String,
/// #   #[orm(through = "item_keywords", back_populates = "keywords")] items: ManyToMany<Item> }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<(Item, Keyword)>()?;
/// let session = db.session();
/// let pen = session.add(Item::new("pen"));
/// let blue = session.add(Keyword::new("blue"));
/// pen.read()?.keywords.add(&blue)?;          // blue.items gains pen too
/// assert_eq!(blue.read()?.items.load()?, vec![pen.clone()]);
/// session.commit()?;                         // INSERTs, then the link row
/// # Ok(()) }
/// ```
pub struct ManyToMany<C: Model> {
    items: Collection<C>,
    link: Link<C, dyn LinkSide<C>>,
}

impl<C: Model> Default for ManyToMany<C> {
    fn default() -> Self {
        Self::new()
    }
}

/// The field's type, in messages.
const KIND: &str = "ManyToMany";

impl<C: Model> ManyToMany<C> {
    /// An empty, loaded collection (a new object has no links yet).
    pub fn new() -> Self {
        ManyToMany {
            items: Collection::empty(),
            link: Link::new(),
        }
    }

    /// A collection not loaded yet (an object read from the database).
    pub fn unloaded() -> Self {
        ManyToMany {
            items: Collection::unloaded(),
            link: Link::new(),
        }
    }

    /// Whether the collection is loaded (reading it costs no SQL).
    pub fn is_loaded(&self) -> bool {
        self.items.is_loaded()
    }

    /// The linked objects: one SELECT (a join through the link table) on
    /// first access, after an autoflush; none later.
    ///
    /// # Errors
    /// [`Error::SessionClosed`] when the session is gone;
    /// [`Error::LazyLoadRefused`] when lazy loading is off for it.
    pub fn load(&self) -> Result<Vec<Handle<C>>> {
        self.items.load(&self.link, KIND)
    }

    /// Links `other` to this object (and this object to `other`'s mirror
    /// collection, where loaded). The link row is inserted on flush.
    ///
    /// # Errors
    /// [`Error::Borrowed`] if either object is being written;
    /// [`Error::Misuse`] if the objects are in different sessions. Nothing
    /// changed then.
    pub fn add(&self, other: &Handle<C>) -> Result<()> {
        let (owner, def) = self.link.owner_and_def(KIND)?;
        def.change(&owner, &other.node, true)
    }

    /// Unlinks `other`; the link row is deleted on flush.
    ///
    /// # Errors
    /// As [`ManyToMany::add`].
    pub fn remove(&self, other: &Handle<C>) -> Result<()> {
        let (owner, def) = self.link.owner_and_def(KIND)?;
        def.change(&owner, &other.node, false)
    }

    /// Adds or removes `other` in the loaded collection. Returns false when
    /// nothing changes (already linked, or not linked), so the caller
    /// records no link row.
    fn toggle(&self, other: &Rc<Node<C>>, link: bool) -> bool {
        if link {
            self.items.insert(other)
        } else {
            self.items.remove(other)
        }
    }

    fn set_loaded(&self, linked: &[Handle<C>]) {
        // A link's end that let go of it calls `forget`: what was added
        // while not loaded is still linked.
        self.items
            .set(linked.iter().map(|h| Rc::downgrade(&h.node)), |_| true);
    }
}

impl<P: Model, C: Model> Wire<ManyToManyDef<P, C>> for ManyToMany<C> {
    fn describe(def: &'static ManyToManyDef<P, C>, out: &mut dyn Any) {
        Link::<C, dyn LinkSide<C>>::offer(def, out);
    }
}

impl<C: Model> RelationField for ManyToMany<C> {
    fn wire(&self, owner: &Owner) {
        self.link.wire(owner);
    }

    fn as_collection(&self) -> Option<&dyn CollectionField> {
        Some(self)
    }
}

impl<C: Model> CollectionField for ManyToMany<C> {
    fn expire(&self) {
        self.items.expire();
    }

    fn keep_linked(&self) {
        // Its links live in memory only now; each end lets go of its own.
        self.items.keep(|_| true);
    }

    fn members(&self) -> Vec<ParentRef> {
        self.items
            .members()
            .into_iter()
            .map(|n| ParentRef(n as Rc<dyn AnyNode>))
            .collect()
    }

    fn new_links(&self, owner: &ParentRef) -> Vec<NewLink> {
        let Some(def) = self.link.get() else {
            return Vec::new();
        };
        let (table, this_column, other_column) = def.link_columns();
        self.items
            .members()
            .into_iter()
            .map(|other| {
                let ends = [
                    (this_column, ParentRef(Rc::clone(&owner.0))),
                    (other_column, ParentRef(other as Rc<dyn AnyNode>)),
                ];
                (table, ends)
            })
            .collect()
    }
}

impl<C: Model> std::fmt::Debug for ManyToMany<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.items.loaded_len() {
            Some(n) => write!(f, "ManyToMany<{}>({n} loaded)", C::TABLE.model),
            None => write!(f, "ManyToMany<{}>(not loaded)", C::TABLE.model),
        }
    }
}
