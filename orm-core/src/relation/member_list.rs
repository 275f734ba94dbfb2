//! The loaded members of a collection, in the order they joined, held
//! weakly; once the list is long, each member's position by address
//! beside it, so that adding one (which must not be there twice) or
//! taking one out looks it up instead of scanning every member: giving
//! 10,000 children to one parent, or taking them all out again, costs
//! 10,000 lookups, not 50 million comparisons. Knows nothing of states or
//! sessions; `collection` decides who counts.

use std::collections::hash_map::Entry;
use std::rc::{Rc, Weak};

use rustc_hash::FxHashMap as HashMap;
use thin_vec::ThinVec;

use crate::model::Model;
use crate::state::Node;

/// From this many members on, a list keeps its members' places by
/// address: below it, a scan of a few pointers costs less than hashing.
const INDEXED_FROM: usize = 16;

/// One word of payload either way: most collections are short, and every
/// loaded object has one per collection field.
pub(super) enum MemberList<C: Model> {
    /// Few members. A `ThinVec`: one pointer, and an empty one allocates
    /// nothing.
    Short(ThinVec<Weak<Node<C>>>),
    /// Many members, and where each is.
    Long(Box<Indexed<C>>),
}

pub(super) struct Indexed<C: Model> {
    /// The members in order, with holes (`Weak::new()`, which points at
    /// nothing) where members were taken out: taking one out of 10,000
    /// moves none of the others.
    items: Vec<Weak<Node<C>>>,
    /// Each member's position in `items`, by address. (A `Weak` keeps its
    /// object's allocation, so an address is not reused while its member
    /// is here.)
    at: HashMap<*const (), usize>,
    holes: usize,
}

/// A member's address: what `Unloaded` and `Indexed` find it by.
pub(super) fn address<C: Model>(weak: &Weak<Node<C>>) -> *const () {
    weak.as_ptr().cast::<()>()
}

fn is<C: Model>(weak: &Weak<Node<C>>, node: &Rc<Node<C>>) -> bool {
    std::ptr::eq(weak.as_ptr(), Rc::as_ptr(node))
}

fn is_hole<C: Model>(weak: &Weak<Node<C>>) -> bool {
    Weak::ptr_eq(weak, &Weak::new())
}

impl<C: Model> MemberList<C> {
    /// No members.
    pub(super) fn new() -> Self {
        MemberList::Short(ThinVec::new())
    }

    /// These members, in this order.
    pub(super) fn collect(members: impl IntoIterator<Item = Weak<Node<C>>>) -> Self {
        // Straight into the short form, as most lists are.
        let short: ThinVec<_> = members.into_iter().collect();
        if short.len() < INDEXED_FROM {
            return MemberList::Short(short);
        }
        // Each member once: a link table without a primary key may repeat
        // a row, and a member is found (and taken out) by its one place.
        let mut at = HashMap::default();
        let mut items = Vec::with_capacity(short.len());
        for member in short {
            if let Entry::Vacant(place) = at.entry(address(&member)) {
                place.insert(items.len());
                items.push(member);
            }
        }
        MemberList::Long(Box::new(Indexed {
            items,
            at,
            holes: 0,
        }))
    }

    /// The members, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Weak<Node<C>>> {
        let (items, holes) = match self {
            MemberList::Short(items) => (&items[..], false),
            MemberList::Long(indexed) => (&indexed.items[..], indexed.holes > 0),
        };
        items.iter().filter(move |w| !(holes && is_hole(w)))
    }

    pub(super) fn len(&self) -> usize {
        match self {
            MemberList::Short(items) => items.len(),
            MemberList::Long(indexed) => indexed.items.len() - indexed.holes,
        }
    }

    /// A copy of the members' pointers, in order.
    pub(super) fn to_vec(&self) -> Vec<Weak<Node<C>>> {
        let mut copy = Vec::with_capacity(self.len());
        copy.extend(self.iter().cloned());
        copy
    }

    pub(super) fn contains(&self, node: &Rc<Node<C>>) -> bool {
        match self {
            MemberList::Short(items) => items.iter().any(|w| is(w, node)),
            MemberList::Long(indexed) => indexed.at.contains_key(&Rc::as_ptr(node).cast()),
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
                items.push(weak);
                *self = MemberList::collect(std::mem::take(items));
            }
            MemberList::Long(indexed) => {
                indexed.at.insert(address(&weak), indexed.items.len());
                indexed.items.push(weak);
            }
        }
        true
    }

    /// Takes `node` out; true when it was a member. The pointers taken out
    /// are to `node`, which the caller keeps alive, and closing up drops
    /// only pointers: no object is dropped here (the memory of members
    /// already freed may be).
    pub(super) fn remove(&mut self, node: &Rc<Node<C>>) -> bool {
        match self {
            MemberList::Short(items) => {
                let before = items.len();
                items.retain(|w| !is(w, node));
                items.len() != before
            }
            MemberList::Long(indexed) => {
                let Some(i) = indexed.at.remove(&Rc::as_ptr(node).cast()) else {
                    return false;
                };
                indexed.items[i] = Weak::new();
                indexed.holes += 1;
                // Closed up once they are half the list: each member moves
                // at most once per member taken out, on average.
                if indexed.holes * 2 > indexed.items.len() {
                    *self = MemberList::collect(self.to_vec());
                }
                true
            }
        }
    }
}
