//! Objects joining a session with the graph they were linked into before
//! (SQLAlchemy's save-update cascade): adding any object of a graph built
//! before a session adds every object reachable from it through
//! relationships, and the link rows its many-to-many collections hold.
//! Everything is checked before anything joins: an object of another
//! session, or one that was persistent in a session now gone, anywhere in
//! the graph, and nothing joins.

use std::collections::VecDeque;
use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use crate::error::Result;
use crate::relation::ParentRef;
use crate::state::{AnyNode, State, address};
use crate::unit_of_work::LinkChange;

use super::SessionInner;

impl SessionInner {
    /// Adds a transient object, with its graph, to this session.
    pub(crate) fn adopt_node(self: &Rc<Self>, node: Rc<dyn AnyNode>) -> Result<()> {
        let graph = self.check_graph(&node)?;
        for node in &graph {
            node.meta().attach(self);
            node.meta().set_state(State::Pending);
            self.unit_of_work.add_pending(Rc::clone(node));
        }
        for node in &graph {
            let owner = ParentRef(Rc::clone(node));
            node.each_collection(|field| {
                for (table, [(a, first), (b, second)]) in field.new_links(&owner) {
                    let ends = [(a, first.0), (b, second.0)];
                    self.unit_of_work
                        .record_link(LinkChange::new(table, ends, true), true);
                }
            });
        }
        // The session owns them now; what they held is let go of last.
        let released: Vec<_> = graph.iter().map(|n| n.meta().release_all()).collect();
        drop((graph, released));
        Ok(())
    }

    /// The objects that joining `node` adds: it and every object reachable
    /// from it through relationships that is in no session yet; an error
    /// if one of them cannot join.
    pub(crate) fn check_graph(&self, node: &Rc<dyn AnyNode>) -> Result<Vec<Rc<dyn AnyNode>>> {
        let mut graph = Vec::new();
        let mut seen: HashSet<*const ()> = HashSet::default();
        // Breadth first, members in their collections' order: the flush
        // inserts in this order where the keys allow.
        let mut queue = VecDeque::from([Rc::clone(node)]);
        let mut root = true;
        while let Some(node) = queue.pop_front() {
            // What the graph reaches that is gone from the database's view
            // (deleted, detached) stays where it is; the object added must
            // itself be able to join.
            let gone = matches!(node.state(), State::Deleted | State::Detached);
            if !seen.insert(address(&node)) || (gone && !root) || !self.check_adoptable(&node)? {
                root = false;
                continue;
            }
            root = false;
            queue.extend(node.parents()?);
            node.check_readable()?;
            node.each_collection(|field| queue.extend(field.members().into_iter().map(|m| m.0)));
            graph.push(node);
        }
        Ok(graph)
    }
}
