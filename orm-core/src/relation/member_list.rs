//! The loaded members of a collection, in the order they joined, held
//! weakly; once the list is long, the members' addresses in a set beside
//! it, so that adding one (which must not be there twice) looks it up
//! instead of scanning every member before it: giving 10,000 children to
//! one parent costs 10,000 lookups, not 50 million comparisons. Knows
//! nothing of states or sessions; `collection` decides who counts.

use std::rc::{Rc, Weak};

use rustc_hash::FxHashSet as HashSet;
use thin_vec::ThinVec;

use crate::model::Model;
use crate::state::Node;

/// From this many members on, a list keeps its set of addresses: below
/// it, a scan of a few pointers costs less than hashing.
const INDEXED_FROM: usize = 16;

/// One word of payload either way: most collections are short, and every
/// loaded object has one per collection field.
pub(super) enum MemberList<C: Model> {
    /// Few members. A `ThinVec`: one pointer, and an empty one allocates
    /// nothing.
    Short(ThinVec<Weak<Node<C>>>),
    /// Many members, and their addresses.
    Long(Box<Indexed<C>>),
}

pub(super) struct Indexed<C: Model> {
    items: Vec<Weak<Node<C>>>,
    /// The address of each member of `items`. (A `Weak` keeps its object's
    /// allocation, so an address is not reused while its member is here.)
    addresses: HashSet<*const ()>,
}

fn address<C: Model>(weak: &Weak<Node<C>>) -> *const () {
    weak.as_ptr().cast::<()>()
}

fn is<C: Model>(weak: &Weak<Node<C>>, node: &Rc<Node<C>>) -> bool {
    std::ptr::eq(weak.as_ptr(), Rc::as_ptr(node))
}

impl<C: Model> MemberList<C> {
    /// No members.
    pub(super) fn new() -> Self {
        MemberList::Short(ThinVec::new())
    }

    /// These members, in this order.
    pub(super) fn from_vec(items: Vec<Weak<Node<C>>>) -> Self {
        if items.len() < INDEXED_FROM {
            return MemberList::Short(items.into_iter().collect());
        }
        let addresses = items.iter().map(address).collect();
        MemberList::Long(Box::new(Indexed { items, addresses }))
    }

    /// The members, in order.
    pub(super) fn as_slice(&self) -> &[Weak<Node<C>>] {
        match self {
            MemberList::Short(items) => items,
            MemberList::Long(indexed) => &indexed.items,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(super) fn contains(&self, node: &Rc<Node<C>>) -> bool {
        match self {
            MemberList::Short(items) => items.iter().any(|w| is(w, node)),
            MemberList::Long(indexed) => indexed.addresses.contains(&Rc::as_ptr(node).cast()),
        }
    }

    /// Appends `node` unless it is a member; true when it was not.
    pub(super) fn insert(&mut self, node: &Rc<Node<C>>) -> bool {
        if self.contains(node) {
            return false;
        }
        let weak = Rc::downgrade(node);
        match self {
            MemberList::Short(items) if items.len() + 1 < INDEXED_FROM => items.push(weak),
            MemberList::Short(items) => {
                let mut all: Vec<_> = std::mem::take(items).into_iter().collect();
                all.push(weak);
                *self = MemberList::from_vec(all);
            }
            MemberList::Long(indexed) => {
                indexed.addresses.insert(address(&weak));
                indexed.items.push(weak);
            }
        }
        true
    }

    /// Takes `node` out; true when it was a member. The pointers taken out
    /// are to `node`, which the caller keeps alive: nothing is freed here.
    pub(super) fn remove(&mut self, node: &Rc<Node<C>>) -> bool {
        match self {
            MemberList::Short(items) => {
                let before = items.len();
                items.retain(|w| !is(w, node));
                items.len() != before
            }
            MemberList::Long(indexed) => {
                if !indexed.addresses.remove(&Rc::as_ptr(node).cast()) {
                    return false;
                }
                // Order is kept, so the rest move up: a scan, as in a `Vec`.
                indexed.items.retain(|w| !is(w, node));
                true
            }
        }
    }
}
