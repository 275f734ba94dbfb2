//! What every relationship field knows of its place, whatever its kind: the
//! object that owns it and the generated description of the relationship;
//! and the one lazy-load path.

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::rc::{Rc, Weak};

use super::{Lazy, Owner};
use crate::error::{Error, Misuse, Result};
use crate::model::Model;
use crate::session::SessionInner;
use crate::state::{AnyNode, State};

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
    cell: OnceCell<(Weak<dyn AnyNode>, &'static D)>,
    _target: PhantomData<fn() -> T>,
}

impl<T: Model, D: ?Sized + Describe + 'static> Link<T, D> {
    pub(super) const fn new() -> Self {
        Link {
            cell: OnceCell::new(),
            _target: PhantomData,
        }
    }

    pub(super) fn wire(&self, owner: &Owner, def: &'static D) {
        let _ = self.cell.set((owner.node.clone(), def));
    }

    /// The description, once the field is part of an object.
    pub(super) fn def(&self, kind: &'static str) -> Result<&'static D> {
        self.cell.get().map(|(_, def)| *def).ok_or_else(|| {
            Misuse::Unattached {
                kind,
                target: T::TABLE.model,
            }
            .into()
        })
    }

    /// The description, if the field is part of an object.
    pub(super) fn get(&self) -> Option<&'static D> {
        self.cell.get().map(|(_, def)| *def)
    }

    /// The object owning the field.
    pub(super) fn owner(&self, kind: &'static str) -> Result<Rc<dyn AnyNode>> {
        self.def(kind)?;
        self.cell
            .get()
            .and_then(|(owner, _)| owner.upgrade())
            .ok_or_else(|| self.closed())
    }

    /// The owner's session, ready for a lazy load (or the reason not to).
    pub(super) fn session_for_load(&self, kind: &'static str) -> Result<Rc<SessionInner>> {
        let def = self.def(kind)?;
        let owner = self.owner(kind)?;
        let session = owner.meta().session().ok_or_else(|| self.closed())?;
        if owner.meta().lazy().unwrap_or(def.lazy()) == Lazy::Raise {
            return Err(refused(def));
        }
        Ok(session)
    }

    /// Whether lazy loading is refused for this field: by the owner's
    /// override (a query's), else by the relationship's rule.
    pub(super) fn raises(&self) -> bool {
        let Some((owner, def)) = self.cell.get() else {
            return false;
        };
        let chosen = owner.upgrade().and_then(|o| o.meta().lazy());
        chosen.unwrap_or(def.lazy()) == Lazy::Raise
    }

    /// Tells the session's N+1 watch that this field is about to load.
    pub(super) fn watch(&self, session: &SessionInner) -> Result<()> {
        let Some((owner, def)) = self.cell.get() else {
            return Ok(());
        };
        let table = owner.upgrade().map_or(T::TABLE.name, |o| o.table().name);
        session.lazy_load(def.model(), def.field(), table)
    }

    /// Why a lazy load of this field runs: `lazy load of Order.user
    /// (orders 7)`, the owner named by table and key.
    pub(super) fn lazy_cause(&self) -> String {
        let Some((owner, def)) = self.cell.get() else {
            return "lazy load".to_owned();
        };
        let owner = owner
            .upgrade()
            .map(|o| format!(" ({})", crate::state::row_name(&*o)))
            .unwrap_or_default();
        format!("lazy load of {}.{}{owner}", def.model(), def.field())
    }

    /// The error of a field whose owner or session is gone.
    pub(super) fn closed(&self) -> Error {
        Error::SessionClosed {
            table: self
                .cell
                .get()
                .and_then(|(owner, _)| owner.upgrade())
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
        let owner = self.owner(kind)?;
        if owner.state() == State::Pending {
            mark_empty();
            return Ok(());
        }
        let session = self.session_for_load(kind)?;
        self.watch(&session)?;
        session.conn()?.because(
            true,
            || self.lazy_cause(),
            || {
                session.autoflush()?;
                if !loaded() {
                    self.def(kind)?.load(&session, &owner)?;
                }
                Ok(())
            },
        )
    }
}

fn refused<D: ?Sized + Describe>(def: &D) -> Error {
    Error::LazyLoadRefused {
        model: def.model(),
        relation: def.field(),
        constant: def.field().to_uppercase(),
    }
}
