//! Cascades in memory: what the database does to the rows that point at a
//! deleted row (`ON DELETE CASCADE`, `SET NULL`), done to the loaded
//! objects too, so that memory agrees with the database after a flush.
//! (Delete-orphan is decided by the unit of work, which owns the orphans.)
//!
//! Planned before the flush runs, from the keys of the objects it deletes,
//! so a guard the user holds on an affected object fails the flush before
//! anything is written; applied after it succeeded.

use std::rc::Rc;

use rustc_hash::FxHashSet as HashSet;

use crate::error::Result;
use crate::identity::IdentityMap;
use crate::schema::{OnDelete, TableDef};
use crate::state::{AnyNode, State, address};
use crate::transaction::Written;
use crate::value::{RowKey, Value};

/// What a flush's deletes do to one loaded object.
pub(crate) enum Effect {
    /// Its row is deleted with its parent's.
    Deleted(Rc<dyn AnyNode>),
    /// These foreign-key columns become NULL.
    SetNull(Rc<dyn AnyNode>, Vec<usize>),
}

/// The tables among `tables` whose rows a delete from `deleted` reaches
/// through `ON DELETE CASCADE` or `SET NULL`, level after level (a child
/// deleted by cascade deletes its own children): only their objects need
/// planning, and where there are none, a flush's deletes look at no
/// loaded object (deleting objects one by one, each flush on its own, then
/// costs each flush its deletes, not the session's size).
fn reached(
    tables: &[&'static TableDef],
    deleted: impl Iterator<Item = &'static str>,
) -> HashSet<&'static str> {
    let mut deleting: HashSet<&'static str> = deleted.collect();
    let mut reached = HashSet::default();
    loop {
        let before = deleting.len();
        for table in tables {
            for fk in table.columns.iter().filter_map(|c| c.references) {
                if !deleting.contains((fk.target)().name) {
                    continue;
                }
                match fk.on_delete {
                    OnDelete::Cascade => {
                        reached.insert(table.name);
                        deleting.insert(table.name);
                    }
                    OnDelete::SetNull => {
                        reached.insert(table.name);
                    }
                    OnDelete::NoAction | OnDelete::Restrict => {}
                }
            }
        }
        // A handful of tables: until no cascade adds one.
        if deleting.len() == before {
            return reached;
        }
    }
}

/// The objects deleting `deleted` (table, key) may reach: those loaded in
/// `identity`, and those of `new` (inserted by the same flush, loaded once
/// it succeeds), whose models [`reached`] finds; for [`plan`] to look at.
pub(crate) fn candidates(
    identity: &IdentityMap,
    new: &[Rc<dyn AnyNode>],
    deleted: &[(&'static str, Value)],
) -> Vec<Rc<dyn AnyNode>> {
    let mut tables: Vec<&'static TableDef> = identity.tables().collect();
    for node in new {
        if !tables.iter().any(|t| std::ptr::eq(*t, node.table())) {
            tables.push(node.table());
        }
    }
    let reached = reached(&tables, deleted.iter().map(|(table, _)| *table));
    if reached.is_empty() {
        return Vec::new();
    }
    let mut nodes = identity.nodes_of(|t| reached.contains(t.name));
    let new = new.iter().filter(|n| reached.contains(n.table().name));
    nodes.extend(new.cloned());
    nodes
}

/// The effects of deleting `deleted` (table, key) on `nodes` (loaded, or
/// inserted by the same flush), level after level (a cascade-deleted
/// child's own children too).
pub(crate) fn plan(
    nodes: &[Rc<dyn AnyNode>],
    deleted: Vec<(&'static str, Value)>,
) -> Result<Vec<Effect>> {
    let mut effects = Vec::new();
    let mut gone: HashSet<*const ()> = HashSet::default();
    // A hash lookup per foreign key of each loaded object, not a scan of
    // every deleted row.
    let mut deleted: HashSet<RowKey> = deleted.into_iter().map(|(t, k)| RowKey(t, k)).collect();
    while !deleted.is_empty() {
        let mut next = HashSet::default();
        for node in nodes {
            let at = address(node);
            let loaded = matches!(node.state(), State::Persistent | State::Pending);
            if !loaded || gone.contains(&at) {
                continue;
            }
            match effect_on(node, &deleted)? {
                Some(Effect::Deleted(node)) => {
                    gone.insert(at);
                    next.insert(RowKey(node.table().name, node.key_value()?));
                    effects.push(Effect::Deleted(node));
                }
                Some(effect) => effects.push(effect),
                None => {}
            }
        }
        deleted = next;
    }
    Ok(effects)
}

/// What deleting `deleted` does to `node`, by the `ON DELETE` of each of
/// its foreign keys that points at one of them.
fn effect_on(node: &Rc<dyn AnyNode>, deleted: &HashSet<RowKey>) -> Result<Option<Effect>> {
    let value = node.value()?;
    let mut set_null = Vec::new();
    for (i, column) in node.table().columns.iter().enumerate() {
        let Some(fk) = column.references else {
            continue;
        };
        let key = Value::from(value.column(i).as_ref());
        if key == Value::Null || !deleted.contains(&RowKey((fk.target)().name, key)) {
            continue;
        }
        match fk.on_delete {
            OnDelete::Cascade => return Ok(Some(Effect::Deleted(Rc::clone(node)))),
            OnDelete::SetNull => set_null.push(i),
            OnDelete::NoAction | OnDelete::Restrict => {}
        }
    }
    Ok((!set_null.is_empty()).then(|| Effect::SetNull(Rc::clone(node), set_null)))
}

/// What [`apply`] changed, and the objects it let go of.
pub(crate) type Applied = (Vec<Written>, Vec<Rc<dyn AnyNode>>);

/// Applies planned effects after the flush succeeded. Returns what changed,
/// for the transaction's log (rollback undoes it like the rest), and the
/// objects taken out of the identity map, to drop outside it.
pub(crate) fn apply(
    effects: Vec<Effect>,
    identity: &std::cell::RefCell<IdentityMap>,
) -> Result<Applied> {
    let mut written = Vec::new();
    let mut released = Vec::new();
    for effect in effects {
        match effect {
            Effect::Deleted(node) => {
                node.meta().set_state(State::Deleted);
                released.extend(node.unregister(&mut identity.borrow_mut())?);
                written.push(Written::Deleted { node });
            }
            Effect::SetNull(node, columns) => {
                let current = node.columns()?;
                node.meta().keep_before_transaction(|| current);
                let table = node.table();
                for &i in &columns {
                    node.meta().patch_snapshot(i, Value::Null);
                    let field = table.columns[i].field;
                    node.each_foreign_key(|fk| fk.clear_key_of(field));
                }
                written.push(Written::Updated {
                    node,
                    old_version: None,
                });
            }
        }
    }
    Ok((written, released))
}
