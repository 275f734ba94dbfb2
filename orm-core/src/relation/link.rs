//! What every relationship field knows of its place, whatever its kind: the
//! object that owns it, and through it the generated description of the
//! relationship; and the one lazy-load path.
//!
//! A field holds only a weak pointer to its owner (16 bytes), not the
//! description too (16 more, in every field of every loaded object). The
//! owner's model finds the description by where the field lies in the
//! struct (`Model::describe_field`, generated with `offset_of!`): a
//! field's address minus its object's is its offset. So a field belongs
//! to the object it lies in: moved out (`mem::take`), it belongs to none
//! until it is part of a new object; two fields of one type swapped
//! within their object swap their relationships with their places.

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use super::{Lazy, Owner};
use crate::error::{Error, Misuse, Result};
use crate::model::Model;
use crate::session::SessionInner;
use crate::state::{AnyNode, State, in_place};

/// What every generated relationship description tells about itself.
pub(super) trait Describe {
    /// The model owning the field.
    fn model(&self) -> &'static str;
    /// The field's name.
    fn field(&self) -> &'static str;
    /// What reading it unloaded does.
    fn lazy(&self) -> Lazy;
}

/// A description that can load its field for one owner (the collections).
pub(super) trait Loader: Describe {
    /// Loads the owner's related objects (one SELECT) into its field.
    fn load(&self, session: &Rc<SessionInner>, owner: &Rc<dyn AnyNode>) -> Result<()>;
}

/// A relationship field's place: see the [module docs](self). `T` is the
/// model the field points at; `D` the description with the owner's model
/// erased (`dyn ParentSide<P>`, ...). `kind` arguments name the field's
/// type (`HasMany`, ...) in messages.
pub(super) struct Link<T: Model, D: ?Sized + 'static> {
    /// A `Cell`: a field moved into another object is wired again.
    owner: Cell<Option<Weak<dyn AnyNode>>>,
    _target: PhantomData<fn() -> T>,
    _described: PhantomData<&'static D>,
}

impl<T: Model, D: ?Sized + Describe + 'static> Link<T, D> {
    pub(super) const fn new() -> Self {
        Link {
            owner: Cell::new(None),
            _target: PhantomData,
            _described: PhantomData,
        }
    }

    pub(super) fn wire(&self, owner: &Owner) {
        self.owner.set(Some(owner.node.clone()));
    }

    /// The owner, if it was wired to one that is still alive.
    fn upgraded(&self) -> Option<Rc<dyn AnyNode>> {
        in_place(&self.owner, |owner| owner.as_ref().and_then(Weak::upgrade))
    }

    /// Hands `def` to a field asking for its description (`out` is the
    /// `Option<&'static D>` that [`Link::described`] passes); the generated
    /// `describe_field` calls it through `Wire::describe`.
    pub(super) fn offer(def: &'static D, out: &mut dyn Any) {
        if let Some(slot) = out.downcast_mut::<Option<&'static D>>() {
            *slot = Some(def);
        }
    }

    /// The description of this field, asked of `owner`: `None` if the
    /// field does not lie inside it (taken out of its object).
    fn described(&self, owner: &dyn AnyNode) -> Option<&'static D> {
        let mut slot: Option<&'static D> = None;
        owner.describe_field(std::ptr::from_ref(self).addr(), &mut slot);
        slot
    }

    /// The owner and the description, once the field is part of an object.
    fn parts(&self) -> Option<(Rc<dyn AnyNode>, &'static D)> {
        let owner = self.upgraded()?;
        let def = self.described(&*owner)?;
        Some((owner, def))
    }

    fn unattached(&self, kind: &'static str) -> Error {
        Misuse::Unattached {
            kind,
            target: T::TABLE.model,
        }
        .into()
    }

    /// The description, if the field is part of an object.
    pub(super) fn get(&self) -> Option<&'static D> {
        self.parts().map(|(_, def)| def)
    }

    /// The object owning the field.
    pub(super) fn owner(&self, kind: &'static str) -> Result<Rc<dyn AnyNode>> {
        self.owner_and_def(kind).map(|(owner, _)| owner)
    }

    /// The object owning the field and the field's description.
    pub(super) fn owner_and_def(
        &self,
        kind: &'static str,
    ) -> Result<(Rc<dyn AnyNode>, &'static D)> {
        let alive = in_place(&self.owner, |owner| owner.as_ref().map(Weak::upgrade));
        let owner = match alive {
            None => return Err(self.unattached(kind)),
            Some(None) => return Err(self.closed()),
            Some(Some(owner)) => owner,
        };
        let def = self
            .described(&*owner)
            .ok_or_else(|| self.unattached(kind))?;
        Ok((owner, def))
    }

    /// The owner's session, ready for a lazy load (or the reason not to).
    fn session_for_load(&self, owner: &Rc<dyn AnyNode>, def: &D) -> Result<Rc<SessionInner>> {
        let session = owner.meta().session().ok_or_else(|| self.closed())?;
        if owner.meta().lazy().unwrap_or(def.lazy()) == Lazy::Raise {
            return Err(refused(def));
        }
        Ok(session)
    }

    /// Whether lazy loading is refused for this field: by the owner's
    /// override (a query's), else by the relationship's rule.
    pub(super) fn raises(&self) -> bool {
        let Some((owner, def)) = self.parts() else {
            return false;
        };
        owner.meta().lazy().unwrap_or(def.lazy()) == Lazy::Raise
    }

    /// Tells the session's N+1 watch that this field is about to load.
    pub(super) fn watch(&self, session: &SessionInner) -> Result<()> {
        let Some((owner, def)) = self.parts() else {
            return Ok(());
        };
        watch_load(session, &*owner, def)
    }

    /// Why a lazy load of this field runs: `lazy load of Order.user
    /// (orders 7)`, the owner named by table and key.
    pub(super) fn lazy_cause(&self) -> String {
        let Some((owner, def)) = self.parts() else {
            return "lazy load".to_owned();
        };
        let owner = crate::state::row_name(&*owner);
        format!("lazy load of {}.{} ({owner})", def.model(), def.field())
    }

    /// The error of a field whose owner or session is gone.
    pub(super) fn closed(&self) -> Error {
        Error::SessionClosed {
            table: self
                .upgraded()
                .map_or(T::TABLE.name, |o| o.table().name)
                .to_owned(),
        }
    }

    /// The error of a lazy load refused.
    pub(super) fn refused(&self) -> Error {
        match self.get() {
            Some(def) => refused(def),
            None => self.closed(),
        }
    }
}

impl<T: Model, D: ?Sized + Loader + 'static> Link<T, D> {
    /// The shared lazy-load path of collections: nothing when `loaded()`;
    /// an empty collection for a new owner (no row can point at it yet, and
    /// an autoflush would have to write its key while it is read); else an
    /// autoflush, then `load` unless the autoflush filled it. A loaded
    /// collection that lost children to a gone session is an error.
    pub(super) fn load_lazily(
        &self,
        kind: &'static str,
        loaded: impl Fn() -> bool,
        lost_any: impl FnOnce() -> bool,
        mark_empty: impl FnOnce(),
    ) -> Result<()> {
        if loaded() {
            // Children freed with their session: the list can't be trusted.
            if lost_any() && self.owner(kind)?.meta().session().is_none() {
                return Err(self.closed());
            }
            return Ok(());
        }
        let (owner, def) = self.owner_and_def(kind)?;
        if owner.state() == State::Pending {
            mark_empty();
            return Ok(());
        }
        let session = self.session_for_load(&owner, def)?;
        watch_load(&session, &*owner, def)?;
        session.conn()?.because(
            true,
            || self.lazy_cause(),
            || {
                session.autoflush()?;
                if !loaded() {
                    def.load(&session, &owner)?;
                }
                Ok(())
            },
        )
    }
}

/// Tells the session's N+1 watch that `owner`'s field `def` is about to load.
fn watch_load<D: ?Sized + Describe>(
    session: &SessionInner,
    owner: &dyn AnyNode,
    def: &D,
) -> Result<()> {
    session.lazy_load(def.model(), def.field(), owner.table().name)
}

fn refused<D: ?Sized + Describe>(def: &D) -> Error {
    Error::LazyLoadRefused {
        model: def.model(),
        relation: def.field(),
        constant: def.field().to_uppercase(),
    }
}
