//! A loaded-or-not list of related objects, held weakly: what `HasMany`
//! and `ManyToMany` keep. (`HasOne` keeps at most one.)

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::link::{Link, Loader};
use crate::error::Result;
use crate::model::Model;
use crate::state::{Handle, Node, State};

/// `None`: not loaded.
pub(super) struct Collection<C: Model>(RefCell<Option<Vec<Weak<Node<C>>>>>);

impl<C: Model> Collection<C> {
    /// Loaded and empty (a new object's).
    pub(super) fn empty() -> Self {
        Collection(RefCell::new(Some(Vec::new())))
    }

    /// Not loaded (an object read from the database).
    pub(super) fn unloaded() -> Self {
        Collection(RefCell::new(None))
    }

    pub(super) fn is_loaded(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The live members (pending or persistent), if loaded.
    pub(super) fn handles(&self) -> Option<Vec<Handle<C>>> {
        self.0.borrow().as_ref().map(|items| {
            items
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|n| matches!(n.meta().state(), State::Persistent | State::Pending))
                .map(Handle::from_node)
                .collect()
        })
    }

    /// Whether members were freed (their session is gone).
    pub(super) fn lost_any(&self) -> bool {
        self.0
            .borrow()
            .as_ref()
            .is_some_and(|items| items.iter().any(|w| w.strong_count() == 0))
    }

    /// Adds `node` if loaded and absent; true when the collection changed
    /// or is not loaded (so whether it is a member is unknown).
    pub(super) fn insert(&self, node: &Rc<Node<C>>) -> bool {
        let mut items = self.0.borrow_mut();
        let Some(items) = items.as_mut() else {
            return true;
        };
        if items
            .iter()
            .any(|w| std::ptr::eq(w.as_ptr(), Rc::as_ptr(node)))
        {
            return false;
        }
        items.push(Rc::downgrade(node));
        true
    }

    /// Takes `node` out if loaded and present; true when the collection
    /// changed or is not loaded.
    pub(super) fn remove(&self, node: &Rc<Node<C>>) -> bool {
        let mut items = self.0.borrow_mut();
        let Some(items) = items.as_mut() else {
            return true;
        };
        let before = items.len();
        items.retain(|w| !std::ptr::eq(w.as_ptr(), Rc::as_ptr(node)));
        items.len() != before
    }

    /// Marks it loaded with these members.
    pub(super) fn set(&self, members: impl Iterator<Item = Weak<Node<C>>>) {
        *self.0.borrow_mut() = Some(members.collect());
    }

    /// Forgets the members: the next access loads them.
    pub(super) fn expire(&self) {
        *self.0.borrow_mut() = None;
    }

    /// Loaded and empty again.
    pub(super) fn reset_empty(&self) {
        *self.0.borrow_mut() = Some(Vec::new());
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
        Ok(self.handles().unwrap_or_default())
    }

    /// For `Debug`: how many members are loaded, if loaded.
    pub(super) fn loaded_len(&self) -> Option<usize> {
        self.0.borrow().as_ref().map(Vec::len)
    }
}
