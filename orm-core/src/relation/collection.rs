//! A loaded-or-not list of related objects, held weakly: what `HasMany`
//! and `ManyToMany` keep. (`HasOne` keeps at most one.) The loaded list
//! itself, and finding a member in it, is `member_list`'s.
//!
//! Changes made while it is not loaded are kept aside and applied to what
//! the load reads: a member added before the load (with autoflush off, or
//! by a link row not written yet) is not lost, and one removed is not
//! brought back.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::link::{Link, Loader};
use super::member_list::{MemberList, address};
use crate::error::Result;
use crate::model::Model;
use crate::state::{Handle, Node, State, in_place};

/// The members, or what changed while they are not loaded. Two words (the
/// variant, one pointer): every loaded object has one per collection
/// field. A `Cell` and not a `RefCell`, one word less: every access works
/// on the members in place (`in_place`), and none lets a reference out or
/// runs code that could reach this collection meanwhile.
pub(super) struct Collection<C: Model>(Cell<Members<C>>);

enum Members<C: Model> {
    /// In the order they joined.
    Loaded(MemberList<C>),
    /// Boxed: most collections never change while not loaded.
    Unloaded(Option<Box<Unloaded<C>>>),
}

impl<C: Model> Default for Members<C> {
    /// What the cell holds while its members are taken out: not loaded.
    fn default() -> Self {
        Members::Unloaded(None)
    }
}

/// Members added and removed while the collection was not loaded.
struct Unloaded<C: Model> {
    /// Each addition, in order. One later removed, or added again later,
    /// stays here, out of date (`noted` says which entries hold): taking
    /// it out would be a scan.
    added: Vec<Weak<Node<C>>>,
    /// Each removal: kept only so that its object's address is not reused
    /// while `noted` names it (a `Weak` keeps the allocation).
    removed: Vec<Weak<Node<C>>>,
    /// Each object noted, by address: `Some(i)` when added last, at
    /// `added[i]`; `None` when removed last. So noting 10,000 changes, and
    /// applying them to the load, looks each up instead of scanning.
    noted: HashMap<*const (), Option<usize>>,
}

impl<C: Model> Unloaded<C> {
    /// The members added and not removed since, in the order of their
    /// last addition.
    fn still_added(&self) -> impl Iterator<Item = &Weak<Node<C>>> {
        let current =
            |(i, w): &(usize, &Weak<Node<C>>)| self.noted.get(&address(w)) == Some(&Some(*i));
        self.added
            .iter()
            .enumerate()
            .filter(current)
            .map(|(_, w)| w)
    }

    fn is_removed(&self, member: &Weak<Node<C>>) -> bool {
        self.noted.get(&address(member)) == Some(&None)
    }

    /// Once out-of-date entries are half of them, keeps one entry per
    /// object noted: one object added and removed 10,000 times keeps two
    /// entries, not 10,000. Drops only pointers (no object), inside the
    /// collection's cell.
    fn close_up(&mut self) {
        if self.added.len() + self.removed.len() <= 2 * self.noted.len() {
            return;
        }
        let added: Vec<_> = self.still_added().cloned().collect();
        for (i, member) in added.iter().enumerate() {
            self.noted.insert(address(member), Some(i));
        }
        let mut kept = HashSet::default();
        let removed = std::mem::take(&mut self.removed)
            .into_iter()
            .filter(|m| self.is_removed(m) && kept.insert(address(m)))
            .collect();
        self.added = added;
        self.removed = removed;
    }
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

impl<C: Model> Collection<C> {
    /// Loaded and empty (a new object's).
    pub(super) fn empty() -> Self {
        Collection(Cell::new(Members::Loaded(MemberList::new())))
    }

    /// Not loaded (an object read from the database).
    pub(super) fn unloaded() -> Self {
        Collection(Cell::new(Members::Unloaded(None)))
    }

    /// Runs `work` on the members, in place (see [`Collection`]).
    fn with<R>(&self, work: impl FnOnce(&mut Members<C>) -> R) -> R {
        in_place(&self.0, work)
    }

    /// Replaces the members; the old ones are dropped outside the cell.
    fn replace(&self, members: Members<C>) {
        drop(self.0.replace(members));
    }

    /// Notes in `unloaded` a change made while not loaded, for the load to
    /// apply.
    fn note_unloaded(unloaded: &mut Option<Box<Unloaded<C>>>, node: &Rc<Node<C>>, added: bool) {
        let changes = unloaded.get_or_insert_with(|| {
            Box::new(Unloaded {
                added: Vec::new(),
                removed: Vec::new(),
                noted: HashMap::default(),
            })
        });
        let at = Rc::as_ptr(node).cast::<()>();
        let was_added = changes.noted.get(&at).map(Option::is_some);
        if was_added == Some(added) {
            return;
        }
        if added {
            changes.noted.insert(at, Some(changes.added.len()));
            changes.added.push(Rc::downgrade(node));
        } else {
            changes.noted.insert(at, None);
            changes.removed.push(Rc::downgrade(node));
        }
        changes.close_up();
    }

    pub(super) fn is_loaded(&self) -> bool {
        self.with(|members| matches!(members, Members::Loaded(_)))
    }

    /// The live members (pending or persistent; transient ones too when
    /// `transient`, for an owner in no session), if loaded.
    pub(super) fn handles(&self, transient: bool) -> Option<Vec<Handle<C>>> {
        // Upgrading and dropping again a pointer to a live member drops no
        // object: safe inside the cell.
        self.with(|members| match members {
            Members::Loaded(items) => {
                // Room for all at once: almost every member is live, and a
                // filtered iterator would grow the vector a step at a time.
                let mut handles = Vec::with_capacity(items.len());
                handles.extend(
                    items
                        .iter()
                        .filter_map(Weak::upgrade)
                        .filter(|n| live(n.meta().state(), transient))
                        .map(Handle::from_node),
                );
                Some(handles)
            }
            Members::Unloaded(_) => None,
        })
    }

    /// Every member held now, whatever its state: the loaded ones, or
    /// those added while not loaded.
    pub(super) fn members(&self) -> Vec<Rc<Node<C>>> {
        self.with(|members| match members {
            Members::Loaded(items) => items
                .iter()
                .filter_map(Weak::upgrade)
                .filter(|n| live(n.meta().state(), true))
                .collect(),
            Members::Unloaded(changes) => changes
                .as_ref()
                .map(|u| u.still_added().filter_map(Weak::upgrade).collect())
                .unwrap_or_default(),
        })
    }

    /// Whether members were freed (their session is gone).
    pub(super) fn lost_any(&self) -> bool {
        self.with(|members| match members {
            Members::Loaded(items) => items.iter().any(|w| w.strong_count() == 0),
            Members::Unloaded(_) => false,
        })
    }

    /// Runs `change` on the loaded members; when not loaded, notes instead
    /// that `node` was `added` (or removed) for the load to apply, and
    /// returns true (whether it is a member is unknown).
    fn change_loaded(
        &self,
        node: &Rc<Node<C>>,
        added: bool,
        change: impl FnOnce(&mut MemberList<C>) -> bool,
    ) -> bool {
        self.with(|members| match members {
            Members::Loaded(items) => change(items),
            Members::Unloaded(changes) => {
                Self::note_unloaded(changes, node, added);
                true
            }
        })
    }

    /// Adds `node` if loaded and absent; true when the collection changed
    /// or is not loaded (so whether it is a member is unknown).
    pub(super) fn insert(&self, node: &Rc<Node<C>>) -> bool {
        self.change_loaded(node, true, |items| items.insert(node))
    }

    /// Takes `node` out if loaded and present; true when the collection
    /// changed or is not loaded.
    pub(super) fn remove(&self, node: &Rc<Node<C>>) -> bool {
        // Only pointers are dropped inside the cell, to `node` (which the
        // caller keeps alive) or, closing up a long list, to members
        // already freed: no object is dropped there.
        self.change_loaded(node, false, |items| items.remove(node))
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
        let changes = self.with(|members| match members {
            Members::Unloaded(changes) => changes.take(),
            Members::Loaded(_) => None,
        });
        let Some(changes) = changes else {
            self.replace(Members::Loaded(MemberList::collect(members)));
            return;
        };
        let mut list = MemberList::collect(members.filter(|m| !changes.is_removed(m)));
        for added in changes.still_added() {
            if let Some(node) = added.upgrade()
                && still_member(&node)
            {
                list.insert(&node);
            }
        }
        self.replace(Members::Loaded(list));
    }

    /// Forgets the members, and changes made while not loaded: the next
    /// access loads them as the database has them.
    pub(super) fn expire(&self) {
        self.replace(Members::Unloaded(None));
    }

    /// A copy of the pointers to the members held: those loaded, or (when
    /// not loaded) those noted as added.
    fn held(&self) -> Vec<Weak<Node<C>>> {
        self.with(|members| match members {
            Members::Loaded(items) => items.to_vec(),
            Members::Unloaded(changes) => changes
                .as_ref()
                .map(|u| u.still_added().cloned().collect())
                .unwrap_or_default(),
        })
    }

    /// Like [`Collection::expire`], but the members held that `kept` keeps
    /// stay noted as added, for the next load to apply as a change made
    /// while not loaded.
    pub(super) fn expire_keeping(&self, kept: impl Fn(&Rc<Node<C>>) -> bool) {
        let keep: Vec<Rc<Node<C>>> = self
            .held()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|n| kept(n))
            .collect();
        self.expire();
        if keep.is_empty() {
            return;
        }
        self.with(|members| {
            if let Members::Unloaded(changes) = members {
                for node in &keep {
                    Self::note_unloaded(changes, node, true);
                }
            }
        });
    }

    /// Loaded with the members `linked` keeps, of those loaded or (when
    /// not loaded) noted as added, and no changes kept aside.
    pub(super) fn keep(&self, linked: impl Fn(&Rc<Node<C>>) -> bool) {
        let kept = self
            .held()
            .into_iter()
            .filter(|w| w.upgrade().is_some_and(|n| linked(&n)));
        self.replace(Members::Loaded(MemberList::collect(kept)));
    }

    /// Loaded and empty again.
    pub(super) fn reset_empty(&self) {
        self.replace(Members::Loaded(MemberList::new()));
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
        self.with(|members| match members {
            Members::Loaded(items) => Some(items.len()),
            Members::Unloaded(_) => None,
        })
    }
}
