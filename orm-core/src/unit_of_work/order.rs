//! The order of a flush's statements, shared by the flush and its plan.

use std::rc::Rc;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::{LinkChange, Orphan, Work};
use crate::error::{Misuse, Result};
use crate::schema::{TableDef, dependency_order};
use crate::state::{AnyNode, State, address, same_node};
use crate::value::RowKey;

/// One row a flush writes, in the order the flush writes them.
pub(super) enum Step<'w> {
    /// An UPDATE; `needs_insert` when it points at a row this flush inserts.
    Update {
        node: Rc<dyn AnyNode>,
        needs_insert: bool,
    },
    /// A DELETE; `orphan` when a `delete_orphan` collection let it go.
    Delete {
        node: Rc<dyn AnyNode>,
        orphan: Option<&'w Orphan>,
    },
    Insert(Rc<dyn AnyNode>),
    Link(&'w LinkChange),
}

/// The order of a flush:
/// 1. updates that need no new row, releases first: an update that lets go
///    of a key (sets it to NULL) runs before one that takes it, so a
///    one-to-one replacement does not trip its UNIQUE constraint;
/// 2. deletes of orphans, for the same reason;
/// 3. inserts, parents before children;
/// 4. updates that point at rows just inserted;
/// 5. link rows of many-to-many relationships;
/// 6. the other deletes, children's tables before their parents'.
pub(super) fn steps(work: &Work) -> Result<Vec<Step<'_>>> {
    let inserts = insert_order(&work.pending)?;
    let new_keys = if work.dirty.is_empty() {
        HashSet::default()
    } else {
        new_keys(&work.pending)?
    };
    let mut early = Vec::new();
    let mut late = Vec::new();
    for node in work.dirty.iter().filter(|n| n.state() == State::Persistent) {
        let needs_insert = node.parents()?.iter().any(|p| p.state() == State::Pending)
            || points_at_new(node, &new_keys)?;
        if needs_insert {
            late.push(Rc::clone(node));
        } else {
            early.push(Rc::clone(node));
        }
    }
    early.sort_by_key(|n| !n.releases());
    let mut steps: Vec<Step<'_>> = early
        .into_iter()
        .map(|node| Step::Update {
            node,
            needs_insert: false,
        })
        .collect();
    steps.extend(
        delete_order(&work.orphans, |o| &o.node)
            .into_iter()
            .map(|orphan| Step::Delete {
                node: Rc::clone(&orphan.node),
                orphan: Some(orphan),
            }),
    );
    steps.extend(inserts.into_iter().map(Step::Insert));
    steps.extend(late.into_iter().map(|node| Step::Update {
        node,
        needs_insert: true,
    }));
    steps.extend(
        work.links
            .iter()
            .filter(|c| !(c.link && c.ends.iter().any(|(_, n)| n.state() == State::Deleted)))
            .map(Step::Link),
    );
    steps.extend(
        delete_order(&work.deleted, |n| n)
            .into_iter()
            .map(|node| Step::Delete {
                node: Rc::clone(node),
                orphan: None,
            }),
    );
    Ok(steps)
}

/// Pending objects ordered so that each comes after the pending objects its
/// foreign keys point to; otherwise in the order they were added.
///
/// A depth-first walk with an explicit stack: a chain of new objects each
/// pointing at the next is as long as the data, so recursion would overflow.
fn insert_order(pending: &[Rc<dyn AnyNode>]) -> Result<Vec<Rc<dyn AnyNode>>> {
    let pending = by_table(pending);
    // Common case first: no new object points at another new one, so the
    // table order will do.
    let mut independent = true;
    for node in &pending {
        if node.parents()?.iter().any(|p| p.state() == State::Pending) {
            independent = false;
            break;
        }
    }
    if independent {
        return Ok(pending);
    }
    /// Where each object stands in the walk, by address.
    #[derive(PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut ordered: Vec<Rc<dyn AnyNode>> = Vec::with_capacity(pending.len());
    let mut marks: HashMap<*const (), Mark> =
        HashMap::with_capacity_and_hasher(pending.len(), Default::default());
    // Each frame: an object and its new parents not yet walked.
    type Frame = (Rc<dyn AnyNode>, Vec<Rc<dyn AnyNode>>);
    let mut stack: Vec<Frame> = Vec::new();
    for root in &pending {
        if marks.contains_key(&address(root)) {
            continue;
        }
        marks.insert(address(root), Mark::Visiting);
        stack.push((Rc::clone(root), new_parents(root)?));
        while let Some((_, parents)) = stack.last_mut() {
            let Some(parent) = parents.pop() else {
                if let Some((node, _)) = stack.pop() {
                    marks.insert(address(&node), Mark::Done);
                    ordered.push(node);
                }
                continue;
            };
            match marks.get(&address(&parent)) {
                Some(Mark::Done) => {}
                Some(Mark::Visiting) => {
                    return Err(Misuse::Cycle {
                        model: parent.table().model,
                    }
                    .into());
                }
                None => {
                    marks.insert(address(&parent), Mark::Visiting);
                    let grandparents = new_parents(&parent)?;
                    stack.push((parent, grandparents));
                }
            }
        }
    }
    Ok(ordered)
}

/// The keys new objects were given (not left for the database to
/// assign), with their tables.
fn new_keys(pending: &[Rc<dyn AnyNode>]) -> Result<HashSet<RowKey>> {
    let mut keys = HashSet::default();
    for node in pending {
        if !node.value()?.key_unassigned() {
            keys.insert(RowKey(node.table().name, node.key_value()?));
        }
    }
    Ok(keys)
}

/// Whether `node` holds, as a plain key, the key of a new object.
fn points_at_new(node: &Rc<dyn AnyNode>, new_keys: &HashSet<RowKey>) -> Result<bool> {
    if new_keys.is_empty() {
        return Ok(false);
    }
    Ok(node
        .target_keys()?
        .into_iter()
        .any(|(table, key)| new_keys.contains(&RowKey(table.name, key))))
}

/// Pending objects with parents' tables first (stable: in the order they
/// were added within a table). A foreign key set as a plain key to a new
/// row has no object link to follow, so the table order is what puts the
/// parent's INSERT first; object links then refine it within tables (a
/// table that points at itself) and across a cycle of tables.
fn by_table(pending: &[Rc<dyn AnyNode>]) -> Vec<Rc<dyn AnyNode>> {
    let same = |a: &TableDef, b: &TableDef| std::ptr::eq(a, b) || a.name == b.name;
    let mut tables: Vec<&'static TableDef> = Vec::new();
    let mut last: Option<&'static TableDef> = None;
    for node in pending {
        let table = node.table();
        // Runs of one table are the common case: one comparison each.
        if last.is_some_and(|l| std::ptr::eq(l, table)) {
            continue;
        }
        last = Some(table);
        if !tables.iter().any(|t| same(t, table)) {
            tables.push(table);
        }
    }
    let mut sorted = pending.to_vec();
    if tables.len() > 1 {
        let order = dependency_order(&tables);
        sorted.sort_by_key(|n| order.iter().position(|t| same(t, n.table())));
    }
    sorted
}

/// The pending objects `node` points to (itself excluded), last first.
fn new_parents(node: &Rc<dyn AnyNode>) -> Result<Vec<Rc<dyn AnyNode>>> {
    let mut parents: Vec<Rc<dyn AnyNode>> = node
        .parents()?
        .into_iter()
        .filter(|p| p.state() == State::Pending && !same_node(p, node))
        .collect();
    parents.reverse();
    Ok(parents)
}

/// The deleted objects of `deleted` (each reached through `node`),
/// ordered children's tables first.
fn delete_order<D>(deleted: &[D], node: impl Fn(&D) -> &Rc<dyn AnyNode>) -> Vec<&D> {
    let mut sorted: Vec<&D> = deleted
        .iter()
        .filter(|d| node(d).state() == State::Deleted)
        .collect();
    let mut tables: Vec<&'static TableDef> = Vec::new();
    for d in &sorted {
        let table = node(d).table();
        if !tables.iter().any(|t| t.name == table.name) {
            tables.push(table);
        }
    }
    let mut order = dependency_order(&tables);
    order.reverse();
    sorted.sort_by_key(|d| {
        order
            .iter()
            .position(|t| t.name == node(d).table().name)
            .unwrap_or(order.len())
    });
    sorted
}
