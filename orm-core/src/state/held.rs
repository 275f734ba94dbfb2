//! What an object in no session keeps alive: the objects linked to it
//! before either joined one (see `Saved::held`). Once there are many (a
//! new parent given 10,000 new children), each one's place by address
//! beside the list, so that holding one more, or letting one go, is a
//! lookup instead of a scan of all of them.

use std::rc::Rc;

use rustc_hash::FxHashMap as HashMap;

use super::{AnyNode, address};

/// From this many on, the places are indexed: below it, a scan of a few
/// pointers costs less than hashing.
const INDEXED_FROM: usize = 16;

/// The objects held, each once, in no particular order: one let go of
/// gives its place to the last (`swap_remove`), so those left are dropped,
/// when the holder goes, in an order of their own. Nothing depends on it:
/// the objects are freed with their holder, whatever the order.
#[derive(Default)]
pub(super) struct Held {
    nodes: Vec<Rc<dyn AnyNode>>,
    /// Each object's place in `nodes`, by address, once they are many.
    at: Option<Box<HashMap<*const (), usize>>>,
}

impl Held {
    pub(super) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A copy of the pointers to what is held.
    pub(super) fn to_vec(&self) -> Vec<Rc<dyn AnyNode>> {
        self.nodes.clone()
    }

    fn place(&self, node: &Rc<dyn AnyNode>) -> Option<usize> {
        match &self.at {
            Some(at) => at.get(&address(node)).copied(),
            None => self.nodes.iter().position(|n| address(n) == address(node)),
        }
    }

    /// Holds `node`, unless it already is.
    pub(super) fn insert(&mut self, node: Rc<dyn AnyNode>) {
        if self.place(&node).is_some() {
            return;
        }
        if let Some(at) = &mut self.at {
            at.insert(address(&node), self.nodes.len());
        }
        self.nodes.push(node);
        if self.at.is_none() && self.nodes.len() >= INDEXED_FROM {
            let places = self.nodes.iter().enumerate().map(|(i, n)| (address(n), i));
            self.at = Some(Box::new(places.collect()));
        }
    }

    /// Lets `node` go; returns it, to drop outside the caller's cell.
    pub(super) fn remove(&mut self, node: &Rc<dyn AnyNode>) -> Option<Rc<dyn AnyNode>> {
        let place = self.place(node)?;
        let gone = self.nodes.swap_remove(place);
        if let Some(at) = &mut self.at {
            at.remove(&address(&gone));
            // The last one moved into the place let go of.
            if let Some(moved) = self.nodes.get(place) {
                at.insert(address(moved), place);
            }
        }
        Some(gone)
    }

    /// Lets go of everything; returns it, to drop outside the caller's cell.
    pub(super) fn take(&mut self) -> Vec<Rc<dyn AnyNode>> {
        self.at = None;
        std::mem::take(&mut self.nodes)
    }
}
