//! A loaded-or-not list of related objects, held weakly: what `HasMany`
//! and `ManyToMany` keep. (`HasOne` keeps at most one.)
//!
//! Changes made while it is not loaded are kept aside and applied to what
//! the load reads: a member added before the load (with autoflush off, or
//! by a link row not written yet) is not lost, and one removed is not
//! brought back.

use std::cell::{RefCell, RefMut};
use std::rc::{Rc, Weak};

use thin_vec::ThinVec;

use super::link::{Link, Loader};
use crate::error::Result;
use crate::model::Model;
use crate::state::{Handle, Node, State};

/// The members, or what changed while they are not loaded. Three words
/// (the borrow flag, the variant, one pointer): every loaded object has
/// one per collection field.
pub(super) struct Collection<C: Model>(RefCell<Members<C>>);

enum Members<C: Model> {
    /// A `ThinVec`: one pointer, and an empty one allocates nothing.
    Loaded(ThinVec<Weak<Node<C>>>),
    /// Boxed: most collections never change while not loaded.
    Unloaded(Option<Box<Unloaded<C>>>),
}

/// Members added and removed while the collection was not loaded.
struct Unloaded<C: Model> {
    added: Vec<Weak<Node<C>>>,
    removed: Vec<Weak<Node<C>>>,
}

/// Whether a member in `state` counts: pending or persistent, and
/// transient in a graph built before a session (`transient`); not one
/// deleted, detached, or taken out of its session.
pub(super) fn live(state: State, transient: bool) -> bool {
    match state {
        State::Persistent | State::Pending => true,
        State::Transient => transient,
        State::Deleted | State::Detached => false,
    }
}

fn is<C: Model>(weak: &Weak<Node<C>>, node: &Rc<Node<C>>) -> bool {
    std::ptr::eq(weak.as_ptr(), Rc::as_ptr(node))
}

impl<C: Model> Collection<C> {
    /// Loaded and empty (a new object's).
    pub(super) fn empty() -> Self {
        Collection(RefCell::new(Members::Loaded(ThinVec::new())))
    }

    /// Not loaded (an object read from the database).
    pub(super) fn unloaded() -> Self {
        Collection(RefCell::new(Members::Unloaded(None)))
    }

    /// Notes in `unloaded` a change made while not loaded, for the load to
    /// apply.
    fn note_unloaded(unloaded: &mut Option<Box<Unloaded<C>>>, node: &Rc<Node<C>>, added: bool) {
        let changes = unloaded.get_or_insert_with(|| {
            Box::new(Unloaded {
                added: Vec::new(),
                removed: Vec::new(),
            })
        });
        let (to, from) = if added {
            (&mut changes.added, &mut changes.removed)
        } else {
            (&mut changes.removed, &mut changes.added)
        };
        from.retain(|w| !is(w, node));
        if !to.iter().any(|w| is(w, node)) {
            to.push(Rc::downgrade(node));
        }
    }

    pub(super) fn is_loaded(&self) -> bool {
        matches!(*self.0.borrow(), Members::Loaded(_))
    }

    /// The loaded members, if loaded.
    fn loaded(&self) -> std::cell::Ref<'_, [Weak<Node<C>>]> {
        std::cell::Ref::map(self.0.borrow(), |members| match members {
            Members::Loaded(items) => items.as_slice(),
            Members::Unloaded(_) => &[],
        })
    }

    /// The live members (pending or persistent; transient ones too when
    /// `transient`, for an owner in no session), if loaded.
    pub(super) fn handles(&self, transient: bool) -> Option<Vec<Handle<C>>> {
        if !self.is_loaded() {
            return None;
        }
        let items = self.loaded();
        Some(
            items
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|n| live(n.meta().state(), transient))
                .map(Handle::from_node)
                .collect(),
        )
    }

    /// Every member held now, whatever its state: the loaded ones, or
    /// those added while not loaded.
    pub(super) fn members(&self) -> Vec<Rc<Node<C>>> {
        match &*self.0.borrow() {
            Members::Loaded(items) => items
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|n| live(n.meta().state(), true))
                .collect(),
            Members::Unloaded(changes) => changes
                .as_ref()
                .map(|u| u.added.iter().filter_map(Weak::upgrade).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether members were freed (their session is gone).
    pub(super) fn lost_any(&self) -> bool {
        self.loaded().iter().any(|w| w.strong_count() == 0)
    }

    /// The loaded members, to change; `None` when not loaded, after noting
    /// that `node` was `added` (or removed) for the load to apply.
    fn loaded_or_note(
        &self,
        node: &Rc<Node<C>>,
        added: bool,
    ) -> Option<RefMut<'_, ThinVec<Weak<Node<C>>>>> {
        let mut members = self.0.borrow_mut();
        if let Members::Unloaded(changes) = &mut *members {
            Self::note_unloaded(changes, node, added);
            return None;
        }
        RefMut::filter_map(members, |members| match members {
            Members::Loaded(items) => Some(items),
            Members::Unloaded(_) => None,
        })
        .ok()
    }

    /// Adds `node` if loaded and absent; true when the collection changed
    /// or is not loaded (so whether it is a member is unknown).
    pub(super) fn insert(&self, node: &Rc<Node<C>>) -> bool {
        let Some(mut items) = self.loaded_or_note(node, true) else {
            return true;
        };
        if items.iter().any(|w| is(w, node)) {
            return false;
        }
        items.push(Rc::downgrade(node));
        true
    }

    /// Takes `node` out if loaded and present; true when the collection
    /// changed or is not loaded.
    pub(super) fn remove(&self, node: &Rc<Node<C>>) -> bool {
        let Some(mut items) = self.loaded_or_note(node, false) else {
            return true;
        };
        let before = items.len();
        items.retain(|w| !is(w, node));
        items.len() != before
    }

    /// Marks it loaded with these members (the rows read), with the
    /// changes made while it was not loaded applied: removed members left
    /// out, added ones appended if `still_member` says they still are (a
    /// cascade may have let go of them since).
    pub(super) fn set(
        &self,
        members: impl Iterator<Item = Weak<Node<C>>>,
        still_member: impl Fn(&Rc<Node<C>>) -> bool,
    ) {
        let mut members: ThinVec<Weak<Node<C>>> = members.collect();
        let changes = match &mut *self.0.borrow_mut() {
            Members::Unloaded(changes) => changes.take(),
            Members::Loaded(_) => None,
        };
        if let Some(changes) = changes {
            members.retain(|m| !changes.removed.iter().any(|r| r.ptr_eq(m)));
            for added in changes.added {
                let Some(node) = added.upgrade() else {
                    continue;
                };
                if still_member(&node) && !members.iter().any(|m| m.ptr_eq(&added)) {
                    members.push(added);
                }
            }
        }
        *self.0.borrow_mut() = Members::Loaded(members);
    }

    /// Forgets the members, and changes made while not loaded: the next
    /// access loads them as the database has them.
    pub(super) fn expire(&self) {
        *self.0.borrow_mut() = Members::Unloaded(None);
    }

    /// Loaded with the members `linked` keeps (none when not loaded), and
    /// no changes kept aside.
    pub(super) fn keep(&self, linked: impl Fn(&Rc<Node<C>>) -> bool) {
        let kept = self
            .loaded()
            .iter()
            .filter(|w| w.upgrade().is_some_and(|n| linked(&n)))
            .cloned()
            .collect();
        *self.0.borrow_mut() = Members::Loaded(kept);
    }

    /// Loaded and empty again.
    pub(super) fn reset_empty(&self) {
        *self.0.borrow_mut() = Members::Loaded(ThinVec::new());
    }

    /// The members, loaded first if need be (the lazy load of `HasMany` and
    /// `ManyToMany`).
    pub(super) fn load<D: ?Sized + Loader>(
        &self,
        link: &Link<C, D>,
        kind: &'static str,
    ) -> Result<Vec<Handle<C>>> {
        link.load_lazily(
            kind,
            || self.is_loaded(),
            || self.lost_any(),
            || self.reset_empty(),
        )?;
        let transient = link.owner(kind)?.meta().state() == State::Transient;
        Ok(self.handles(transient).unwrap_or_default())
    }

    /// For `Debug`: how many members are loaded, if loaded.
    pub(super) fn loaded_len(&self) -> Option<usize> {
        match &*self.0.borrow() {
            Members::Loaded(items) => Some(items.len()),
            Members::Unloaded(_) => None,
        }
    }
}
