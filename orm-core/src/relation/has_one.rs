//! `HasOne<C>`: the one-to-one side opposite a `BelongsTo`, holding at most
//! one child. No column.

use std::any::Any;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::collection::live;
use super::has_many::{ChildLink, unlink};
use super::link::Link;
use super::{Backref, CollectionField, HasManyDef, Owner, ParentRef, RelationField, Wire};
use crate::error::Result;
use crate::model::Model;
use crate::state::{AnyNode, Handle, Node, State};

/// Where a `HasOne` stands: not loaded, or loaded with its child (if any).
enum Slot<C: Model> {
    /// Not loaded; with a new child that points at the owner, noted while
    /// not loaded (a rollback undid its insert). Not shown while the owner
    /// is in a session, whose row decides; the child again once the owner
    /// is new too, as nothing in the database points at a new owner.
    Unloaded(Option<Weak<Node<C>>>),
    Loaded(Option<Weak<Node<C>>>),
}

/// A one-to-one relationship: the single `C` whose `BelongsTo` points here
/// (give that foreign key `#[orm(unique)]` so the database agrees).
///
/// Setting a new child lets go of the old one: its foreign key becomes NULL
/// on flush, or it is deleted with `delete_orphan`.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # struct User { #[orm(primary_key)] id: i64, name: String,
/// #   #[orm(back_populates = "user")] profile: HasOne<Profile> }
/// # #[derive(Model, Debug)]
/// # struct Profile { #[orm(primary_key)] id: i64, bio: String,
/// #   #[orm(back_populates = "profile", unique, optional)] user: BelongsTo<User> }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<(User, Profile)>()?;
/// let session = db.session();
/// let ann = session.add(User::new("Ann"));
/// let profile = session.add(Profile::new("Writes compilers"));
/// ann.read()?.profile.set(&profile)?;
/// assert_eq!(profile.read()?.user.load()?, ann);
/// session.commit()?;
/// assert_eq!(ann.read()?.profile.load()?, Some(profile));
/// # Ok(()) }
/// ```
pub struct HasOne<C: Model> {
    slot: RefCell<Slot<C>>,
    link: ChildLink<C>,
}

impl<C: Model> Default for HasOne<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Model> HasOne<C> {
    /// A loaded, empty relationship (a new object has no child yet).
    pub fn new() -> Self {
        HasOne {
            slot: RefCell::new(Slot::Loaded(None)),
            link: Link::new(),
        }
    }

    /// A relationship not loaded yet (an object read from the database).
    pub fn unloaded() -> Self {
        HasOne {
            slot: RefCell::new(Slot::Unloaded(None)),
            link: Link::new(),
        }
    }

    /// Whether the child is at hand (reading it costs no SQL).
    pub fn is_loaded(&self) -> bool {
        matches!(*self.slot.borrow(), Slot::Loaded(_))
    }

    /// The child, if there is one. The first access of an unloaded
    /// relationship issues one SELECT (after an autoflush); later ones none.
    ///
    /// # Errors
    /// As [`HasMany::load`](super::HasMany::load).
    pub fn load(&self) -> Result<Option<Handle<C>>> {
        self.link.load_lazily(
            KIND,
            || self.is_loaded(),
            || matches!(&*self.slot.borrow(), Slot::Loaded(Some(w)) if w.strong_count() == 0),
            || *self.slot.borrow_mut() = Slot::Loaded(None),
        )?;
        Ok(self.loaded().flatten())
    }

    /// Makes `child` the one child, pointing its `BelongsTo` here; a
    /// previous child (where loaded) is let go.
    ///
    /// # Errors
    /// As [`BelongsTo::set`](super::BelongsTo::set).
    pub fn set(&self, child: &Handle<C>) -> Result<()> {
        let (owner, def) = self.link.owner_and_def(KIND)?;
        def.link_child(&child.node, &owner, true)
    }

    /// Lets go of the child: its foreign key becomes NULL on flush, or it is
    /// deleted with `delete_orphan`. Loads the child first if needed.
    ///
    /// # Errors
    /// As [`HasOne::load`].
    pub fn clear(&self) -> Result<()> {
        match self.load()? {
            Some(child) => unlink(&self.link, KIND, &child.node),
            None => Ok(()),
        }
    }

    fn loaded(&self) -> Option<Option<Handle<C>>> {
        match &*self.slot.borrow() {
            Slot::Unloaded(_) => None,
            Slot::Loaded(child) => Some(
                child
                    .as_ref()
                    .and_then(Weak::upgrade)
                    .filter(|n| live(n.meta().state(), self.owner_transient()))
                    .map(Handle::from_node),
            ),
        }
    }

    /// The child the owner has now other than `new`: the loaded one, or,
    /// not loaded, one of the session's objects whose key points at the
    /// owner. A new child
    /// can take a one-to-one key only once the previous one lets go of it;
    /// finding it among loaded objects costs no SQL (a previous child not
    /// loaded at all is the flush's UNIQUE error, as before).
    fn previous(&self, new: &Rc<Node<C>>) -> Option<Rc<Node<C>>> {
        if self.is_loaded() {
            return self.current();
        }
        let Ok((owner, def)) = self.link.owner_and_def(KIND) else {
            return None;
        };
        let session = owner.meta().session()?;
        let candidates = session.identity().all::<C>();
        candidates
            .into_iter()
            .filter(|c| !Rc::ptr_eq(c, new) && live(c.meta().state(), false))
            .find(|c| def.points_at(c, &owner))
    }

    /// Whether the owner is in no session (a graph built before one).
    fn owner_transient(&self) -> bool {
        self.link
            .owner(KIND)
            .is_ok_and(|o| o.meta().state() == State::Transient)
    }

    /// The child held, loaded or noted, if it still points at the owner.
    fn linked(&self) -> Option<Rc<Node<C>>> {
        let (owner, def) = self.link.owner_and_def(KIND).ok()?;
        let child = match &*self.slot.borrow() {
            Slot::Loaded(held) | Slot::Unloaded(held) => held.as_ref()?.upgrade()?,
        };
        def.points_at(&child, &owner).then_some(child)
    }

    fn current(&self) -> Option<Rc<Node<C>>> {
        match &*self.slot.borrow() {
            Slot::Loaded(Some(child)) => child.upgrade(),
            _ => None,
        }
    }
}

/// The field's type, in messages.
const KIND: &str = "HasOne";

impl<C: Model> Backref<C> for HasOne<C> {
    fn remember(&self, child: &Handle<C>) -> Result<()> {
        if let Some(previous) = self.previous(&child.node)
            && !Rc::ptr_eq(&previous, &child.node)
        {
            unlink(&self.link, KIND, &previous)?;
        }
        let new = child.node.meta().state() == State::Transient;
        let child = Some(Rc::downgrade(&child.node));
        let mut slot = self.slot.borrow_mut();
        match &*slot {
            Slot::Loaded(_) => *slot = Slot::Loaded(child),
            // Not loaded: the database may still hold another child; stay
            // so, noting a new one.
            Slot::Unloaded(_) if new => *slot = Slot::Unloaded(child),
            Slot::Unloaded(_) => {}
        }
        Ok(())
    }

    fn check_remember(&self, child: &Handle<C>) -> Result<()> {
        if let Some(previous) = self.previous(&child.node)
            && !Rc::ptr_eq(&previous, &child.node)
        {
            // Letting go of it writes its foreign key.
            let previous = Rc::clone(&previous) as Rc<dyn AnyNode>;
            previous.check_readable()?;
            previous.check_touchable()?;
        }
        Ok(())
    }

    fn forget(&self, child: &Handle<C>) {
        let mut slot = self.slot.borrow_mut();
        let (Slot::Loaded(held) | Slot::Unloaded(held)) = &mut *slot;
        if held
            .as_ref()
            .is_some_and(|h| std::ptr::eq(h.as_ptr(), Rc::as_ptr(&child.node)))
        {
            *held = None;
        }
    }

    fn set_loaded(&self, children: &[Handle<C>], _still_here: &dyn Fn(&Handle<C>) -> bool) {
        let child = children.first().map(|c| Rc::downgrade(&c.node));
        *self.slot.borrow_mut() = Slot::Loaded(child);
    }
}

impl<P: Model, C: Model> Wire<HasManyDef<P, C>> for HasOne<C> {
    fn describe(def: &'static HasManyDef<P, C>, out: &mut dyn Any) {
        ChildLink::<C>::offer(def, out);
    }
}

impl<C: Model> RelationField for HasOne<C> {
    fn wire(&self, owner: &Owner) {
        self.link.wire(owner);
    }

    fn as_collection(&self) -> Option<&dyn CollectionField> {
        Some(self)
    }
}

impl<C: Model> CollectionField for HasOne<C> {
    fn expire(&self) {
        *self.slot.borrow_mut() = Slot::Unloaded(None);
    }

    fn expire_after_rollback(&self) {
        let kept = self
            .linked()
            .filter(|child| child.meta().state() == State::Transient);
        *self.slot.borrow_mut() = Slot::Unloaded(kept.as_ref().map(Rc::downgrade));
    }

    fn keep_linked(&self) {
        let kept = self.linked();
        *self.slot.borrow_mut() = Slot::Loaded(kept.as_ref().map(Rc::downgrade));
    }

    fn members(&self) -> Vec<ParentRef> {
        self.current()
            .map(|n| ParentRef(n as Rc<dyn AnyNode>))
            .into_iter()
            .collect()
    }
}

impl<C: Model> std::fmt::Debug for HasOne<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.loaded() {
            None => write!(f, "HasOne<{}>(not loaded)", C::TABLE.model),
            Some(None) => write!(f, "HasOne<{}>(none)", C::TABLE.model),
            Some(Some(_)) => write!(f, "HasOne<{}>(loaded)", C::TABLE.model),
        }
    }
}
