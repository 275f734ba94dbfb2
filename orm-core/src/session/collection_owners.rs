//! The objects of a session whose collections may be loaded or hold
//! changes made while not loaded: those it inserted (a new object's
//! collections start loaded, empty or with the graph it was built into),
//! those a load or preload filled, and those a relationship change
//! reached (a child moved between parents, a link added). A rollback
//! expires every loaded collection; it finds them here, instead of
//! visiting every object of the session, so that a loop of savepoints
//! rolled back in a session holding many objects costs what each rollback
//! restores, not the session's size each time.
//!
//! Does not expire anything itself: the session's rollback does, with the
//! objects [`CollectionOwners::take`] hands it.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::SessionInner;
use crate::state::AnyNode;

/// Each object is listed once while it stays in the session (its `Meta`
/// says whether it is), until a rollback takes the list; one that leaves
/// and joins again may be listed twice, which costs a second visit.
#[derive(Default)]
pub(crate) struct CollectionOwners {
    owners: RefCell<Vec<Weak<dyn AnyNode>>>,
    /// The length at which the list is next measured against the objects
    /// the session holds (twice its length at the last measure).
    check_at: Cell<usize>,
}

/// The shortest list worth measuring.
const FIRST_CHECK: usize = 1024;

impl CollectionOwners {
    /// Notes that `node`'s collections may be loaded, or hold changes.
    /// `held` counts the objects the session holds, asked for now and
    /// then (see [`CollectionOwners::keep_small`]).
    pub(crate) fn note<N: AnyNode + 'static>(&self, node: &Rc<N>, held: impl FnOnce() -> usize) {
        if !node.meta().note_collections() {
            let owner: Weak<N> = Rc::downgrade(node);
            let mut owners = self.owners.borrow_mut();
            owners.push(owner);
            self.keep_small(&mut owners, held);
        }
    }

    /// [`CollectionOwners::note`] for each of `nodes` (a flush's inserts),
    /// at most `count` of them.
    pub(crate) fn note_all<'a>(
        &self,
        nodes: impl Iterator<Item = &'a Rc<dyn AnyNode>>,
        count: usize,
        held: impl FnOnce() -> usize,
    ) {
        let mut owners = self.owners.borrow_mut();
        owners.reserve(count);
        let new = nodes.filter(|node| !node.meta().note_collections());
        owners.extend(new.map(Rc::downgrade));
        self.keep_small(&mut owners, held);
    }

    /// An entry keeps its object's allocation: once the list is longer
    /// than twice what the session holds, the entries of objects freed
    /// go. (One alive in no session stays, as small as it is.)
    fn keep_small(&self, owners: &mut Vec<Weak<dyn AnyNode>>, held: impl FnOnce() -> usize) {
        if owners.len() < self.check_at.get().max(FIRST_CHECK) {
            return;
        }
        if owners.len() > 2 * held() {
            owners.retain(|w| w.strong_count() > 0);
        }
        self.check_at.set(2 * owners.len());
    }

    /// The objects listed that are still in `session`, for a rollback to
    /// check before it expires their collections.
    pub(crate) fn listed(&self, session: &SessionInner) -> Vec<Rc<dyn AnyNode>> {
        let owners = self.owners.borrow();
        owners
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|n| n.meta().in_session(session))
            .collect()
    }

    /// Empties the list: the objects still in `session`, each no longer
    /// marked as listed.
    pub(crate) fn take(&self, session: &SessionInner) -> Vec<Rc<dyn AnyNode>> {
        let owners = std::mem::take(&mut *self.owners.borrow_mut());
        self.check_at.set(0);
        let mut taken = Vec::with_capacity(owners.len());
        for node in owners.iter().filter_map(Weak::upgrade) {
            // One that left the session was unmarked then (`Meta::detach`).
            if node.meta().in_session(session) {
                node.meta().forget_collections_noted();
                taken.push(node);
            }
        }
        taken
    }
}
