//! Unit of work: turns the session's pending, changed and deleted objects
//! into statements, in an order the foreign keys accept, and keeps the
//! objects in step with what was written.
//!
//! Order (see `steps`): updates that need no new row, releases first; then
//! orphan deletes; then inserts, each parent before its children (a child's
//! foreign key is filled from its parent's generated key just before its
//! INSERT); then updates that point at new rows; then many-to-many link rows;
//! then deletes, children's tables before parents'. `session` owns the
//! transaction; this module runs inside it and reports what it wrote, so a
//! failure can be undone in memory as the database undoes it.

use std::fmt;
use std::rc::Rc;

use rusqlite::types::Value;
use rustc_hash::FxHashMap as HashMap;

use crate::error::{Error, Result};
use crate::object::insert_sql;
use crate::object::{AnyNode, State};
use crate::schema::{OnDelete, dependency_order};
use crate::session::{SessionInner, same_node};
use crate::sql::{Conn, Kind, Param, quote, render};

/// What a flush has to write.
pub(crate) struct Work {
    pub pending: Vec<Rc<dyn AnyNode>>,
    pub dirty: Vec<Rc<dyn AnyNode>>,
    pub deleted: Vec<Rc<dyn AnyNode>>,
    /// Deletes of orphans (children a `delete_orphan` collection let go).
    pub orphans: Vec<Rc<dyn AnyNode>>,
    pub links: Vec<LinkChange>,
}

impl Work {
    /// The first table this work writes, for errors raised before any statement.
    pub(crate) fn first_table(&self) -> Option<&'static str> {
        self.pending
            .iter()
            .chain(&self.dirty)
            .chain(&self.deleted)
            .map(|n| n.table().name)
            .next()
            .or_else(|| self.links.first().map(|l| l.table))
    }
}

/// A link row of a many-to-many relationship to insert or delete. The ends
/// are objects, not keys: a new object's key is known only after its INSERT.
#[derive(Clone)]
pub(crate) struct LinkChange {
    table: &'static str,
    /// Each link column with the object whose key goes there, by column name.
    ends: [(&'static str, Rc<dyn AnyNode>); 2],
    /// Insert (`true`) or delete the row.
    pub link: bool,
}

impl LinkChange {
    pub(crate) fn new(
        table: &'static str,
        mut ends: [(&'static str, Rc<dyn AnyNode>); 2],
        link: bool,
    ) -> Self {
        // One order for both sides, so that `item.keywords.add(k)` and
        // `k.items.add(item)` are recognised as the same link.
        ends.sort_by_key(|(column, _)| *column);
        LinkChange { table, ends, link }
    }

    pub(crate) fn same_link(&self, other: &LinkChange) -> bool {
        self.table == other.table
            && self
                .ends
                .iter()
                .zip(other.ends.iter())
                .all(|(a, b)| a.0 == b.0 && same_node(&a.1, &b.1))
    }

    fn sql(&self) -> String {
        let [(a, _), (b, _)] = &self.ends;
        if self.link {
            format!(
                "INSERT OR IGNORE INTO {} ({}, {}) VALUES (?, ?)",
                quote(self.table),
                quote(a),
                quote(b)
            )
        } else {
            format!(
                "DELETE FROM {} WHERE {} = ? AND {} = ?",
                quote(self.table),
                quote(a),
                quote(b)
            )
        }
    }

    fn run(&self, conn: &Conn) -> Result<()> {
        let [(a, first), (b, second)] = &self.ends;
        let (first, second) = (first.key_value()?, second.key_value()?);
        conn.execute(
            &self.sql(),
            &[Param::new(&first, a), Param::new(&second, b)],
            self.table,
        )?;
        Ok(())
    }
}

/// One statement a flush ran, kept until commit or rollback.
pub(crate) enum Written {
    Inserted {
        node: Rc<dyn AnyNode>,
        assigned_key: bool,
    },
    Updated {
        node: Rc<dyn AnyNode>,
    },
    Deleted {
        node: Rc<dyn AnyNode>,
    },
}

impl Written {
    fn node(&self) -> &Rc<dyn AnyNode> {
        match self {
            Written::Inserted { node, .. }
            | Written::Updated { node }
            | Written::Deleted { node } => node,
        }
    }

    pub(crate) fn inserted(&self) -> Option<&Rc<dyn AnyNode>> {
        match self {
            Written::Inserted { node, .. } => Some(node),
            _ => None,
        }
    }

    pub(crate) fn deleted(&self) -> Option<&Rc<dyn AnyNode>> {
        match self {
            Written::Deleted { node } => Some(node),
            _ => None,
        }
    }

    pub(crate) fn updated(&self) -> Option<&Rc<dyn AnyNode>> {
        match self {
            Written::Updated { node } => Some(node),
            _ => None,
        }
    }

    /// The transaction committed: nothing to restore any more.
    pub(crate) fn committed(&self) {
        let node = self.node();
        node.committed();
        if let Written::Deleted { node } = self {
            node.detach();
            node.set_state(State::Detached);
        }
    }

    /// The transaction rolled back: undo this write in memory.
    pub(crate) fn rolled_back(&self, session: &SessionInner) -> Result<()> {
        match self {
            Written::Inserted { node, assigned_key } => {
                node.unregister(session)?;
                node.forget_key(*assigned_key);
                node.detach();
                node.set_state(State::Transient);
                node.committed();
                node.reset_relations();
            }
            Written::Updated { node } => node.rolled_back()?,
            Written::Deleted { node } => {
                node.set_state(State::Persistent);
                Rc::clone(node).register(session)?;
                node.rolled_back()?;
            }
        }
        Ok(())
    }
}

/// Runs the statements of `work`. On failure returns the error and what was
/// written before it, so the caller can undo it in memory.
pub(crate) fn execute(
    conn: &Conn,
    work: &Work,
) -> std::result::Result<Vec<Written>, (Error, Vec<Written>)> {
    let mut written = Vec::new();
    match run(conn, work, &mut written) {
        Ok(()) => Ok(written),
        Err(e) => Err((e, written)),
    }
}

/// One statement of a flush, in the order the flush runs them.
enum Step<'w> {
    /// An UPDATE; `needs_insert` when it points at a row this flush inserts.
    Update {
        node: Rc<dyn AnyNode>,
        needs_insert: bool,
    },
    /// A DELETE; `orphan` when a `delete_orphan` collection let it go.
    Delete {
        node: Rc<dyn AnyNode>,
        orphan: bool,
    },
    Insert(Rc<dyn AnyNode>),
    Link(&'w LinkChange),
}

/// The order of a flush, shared by the flush and its plan:
/// 1. updates that need no new row, releases first: an update that lets go
///    of a key (sets it to NULL) runs before one that takes it, so a
///    one-to-one replacement does not trip its UNIQUE constraint;
/// 2. deletes of orphans, for the same reason;
/// 3. inserts, parents before children;
/// 4. updates that point at rows just inserted;
/// 5. link rows of many-to-many relationships;
/// 6. the other deletes, children's tables before their parents'.
fn steps(work: &Work) -> Result<Vec<Step<'_>>> {
    let inserts = insert_order(&work.pending)?;
    let mut early = Vec::new();
    let mut late = Vec::new();
    for node in work.dirty.iter().filter(|n| n.state() == State::Persistent) {
        let needs_insert = node.parents()?.iter().any(|p| p.state() == State::Pending);
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
        delete_order(&work.orphans)
            .into_iter()
            .map(|node| Step::Delete { node, orphan: true }),
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
        delete_order(&work.deleted)
            .into_iter()
            .map(|node| Step::Delete {
                node,
                orphan: false,
            }),
    );
    Ok(steps)
}

fn run(conn: &Conn, work: &Work, written: &mut Vec<Written>) -> Result<()> {
    let mut steps = steps(work)?.into_iter().peekable();
    while let Some(step) = steps.next() {
        match step {
            // Consecutive inserts into one table share one prepared statement.
            Step::Insert(node) => {
                let table = node.table();
                let sql = conn.text(table, Kind::Insert, || insert_sql(table));
                let mut batch = conn.batch(&sql, table.name)?;
                let mut node = node;
                loop {
                    let assigned_key = node.insert(&mut batch)?;
                    written.push(Written::Inserted { node, assigned_key });
                    match steps
                        .next_if(|s| matches!(s, Step::Insert(n) if std::ptr::eq(n.table(), table)))
                    {
                        Some(Step::Insert(next)) => node = next,
                        _ => break,
                    }
                }
            }
            Step::Update { node, .. } => {
                node.update(conn)?;
                written.push(Written::Updated { node });
            }
            Step::Delete { node, .. } => {
                node.delete(conn)?;
                written.push(Written::Deleted { node });
            }
            Step::Link(change) => change.run(conn)?,
        }
    }
    Ok(())
}

/// After a successful flush: the objects now match their rows, and the
/// loaded children of deleted rows follow their foreign key's `ON DELETE`
/// (the database already did; memory must agree). Returns what the cascade
/// changed, to be undone on rollback like the rest.
pub(crate) fn apply(session: &SessionInner, written: &[Written]) -> Result<Vec<Written>> {
    for w in written {
        match w {
            Written::Inserted { node, .. } => {
                node.set_state(State::Persistent);
                Rc::clone(node).register(session)?;
            }
            Written::Updated { node } => node.flushed(),
            Written::Deleted { node } => {
                node.unregister(session)?;
                node.flushed();
            }
        }
    }
    let mut deleted: Vec<(&'static str, Value)> = Vec::new();
    for w in written {
        if let Written::Deleted { node } = w {
            deleted.push((node.table().name, node.key_value()?));
        }
    }
    cascade(session, deleted)
}

/// Applies `ON DELETE CASCADE` and `SET NULL` to the loaded objects whose
/// foreign keys point at deleted rows, level after level.
fn cascade(
    session: &SessionInner,
    mut deleted: Vec<(&'static str, Value)>,
) -> Result<Vec<Written>> {
    let mut changed = Vec::new();
    while !deleted.is_empty() {
        let mut next = Vec::new();
        let nodes = session.identity().nodes();
        for node in nodes {
            if node.state() != State::Persistent {
                continue;
            }
            match node.parent_deleted(&deleted)? {
                Some(OnDelete::Cascade) => {
                    node.set_state(State::Deleted);
                    node.unregister(session)?;
                    next.push((node.table().name, node.key_value()?));
                    changed.push(Written::Deleted { node });
                }
                Some(_) => changed.push(Written::Updated { node }),
                None => {}
            }
        }
        deleted = next;
    }
    Ok(changed)
}

/// After a failed flush: forget the keys SQLite assigned to rows it then
/// rolled back. Nothing else changed in memory before success.
pub(crate) fn revert(written: &[Written]) {
    for w in written {
        if let Written::Inserted { node, assigned_key } = w {
            node.forget_key(*assigned_key);
        }
    }
}

/// Pending objects ordered so that each comes after the pending objects its
/// foreign keys point to; otherwise in the order they were added.
fn insert_order(pending: &[Rc<dyn AnyNode>]) -> Result<Vec<Rc<dyn AnyNode>>> {
    /// Where each object stands in the depth-first walk, by address.
    #[derive(PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        node: &Rc<dyn AnyNode>,
        ordered: &mut Vec<Rc<dyn AnyNode>>,
        marks: &mut HashMap<*const (), Mark>,
    ) -> Result<()> {
        let address = Rc::as_ptr(node).cast::<()>();
        match marks.get(&address) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                return Err(Error::Misuse(format!(
                    "new `{}` objects point at each other in a cycle; insert one of them first with flush()",
                    node.table().model
                )));
            }
            None => {}
        }
        marks.insert(address, Mark::Visiting);
        for parent in node.parents()? {
            if parent.state() == State::Pending && !same_node(&parent, node) {
                visit(&parent, ordered, marks)?;
            }
        }
        marks.insert(address, Mark::Done);
        ordered.push(Rc::clone(node));
        Ok(())
    }
    // Common case first: no new object points at another new one, so the
    // order they were added in will do.
    let mut independent = true;
    for node in pending {
        if node.parents()?.iter().any(|p| p.state() == State::Pending) {
            independent = false;
            break;
        }
    }
    if independent {
        return Ok(pending.to_vec());
    }
    let mut ordered: Vec<Rc<dyn AnyNode>> = Vec::with_capacity(pending.len());
    let mut marks = HashMap::with_capacity_and_hasher(pending.len(), Default::default());
    for node in pending {
        visit(node, &mut ordered, &mut marks)?;
    }
    Ok(ordered)
}

/// Deleted objects ordered children's tables first.
fn delete_order(deleted: &[Rc<dyn AnyNode>]) -> Vec<Rc<dyn AnyNode>> {
    let mut tables: Vec<_> = Vec::new();
    for node in deleted {
        if !tables
            .iter()
            .any(|t: &&crate::schema::TableDef| t.name == node.table().name)
        {
            tables.push(node.table());
        }
    }
    let mut order = dependency_order(&tables);
    order.reverse();
    let rank = |node: &Rc<dyn AnyNode>| {
        order
            .iter()
            .position(|t| t.name == node.table().name)
            .unwrap_or(0)
    };
    let mut sorted = deleted.to_vec();
    sorted.sort_by_key(rank);
    sorted
}

/// What the next flush will do, step by step, and why in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushPlan {
    /// The steps, in the order they will run.
    pub steps: Vec<PlanStep>,
}

/// The kind of statement a [`PlanStep`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `INSERT` of a pending object.
    Insert,
    /// `UPDATE` of the changed columns of a persistent object.
    Update,
    /// `DELETE` of a deleted object.
    Delete,
    /// `INSERT` of a many-to-many link row.
    Link,
    /// `DELETE` of a many-to-many link row.
    Unlink,
}

/// One statement the next flush will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// What kind of statement.
    pub action: Action,
    /// The table it writes.
    pub table: &'static str,
    /// The object's key (`new` for keys SQLite will assign).
    pub key: String,
    /// Why this step comes where it does.
    pub reason: String,
}

impl fmt::Display for FlushPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "nothing to flush");
        }
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(
                f,
                "{}. {:?} {} {} -- {}",
                i + 1,
                step.action,
                step.table,
                step.key,
                step.reason
            )?;
        }
        Ok(())
    }
}

/// Computes the plan of the next flush without running it.
pub(crate) fn plan(session: &SessionInner) -> Result<FlushPlan> {
    let work = session.work();
    let mut plan = Vec::new();
    for step in steps(&work)? {
        plan.push(match step {
            Step::Update { node, needs_insert } => {
                if !node.has_changes() {
                    continue;
                }
                let reason = if needs_insert {
                    "changed columns; after the inserts, as it points at a new row"
                } else if node.releases() {
                    "changed columns, one set to NULL; first, so a key it lets go is free for others"
                } else {
                    "changed columns; needs no new row, so before the inserts"
                };
                PlanStep {
                    action: Action::Update,
                    table: node.table().name,
                    key: key_text(&node),
                    reason: reason.to_owned(),
                }
            }
            Step::Delete { node, orphan } => PlanStep {
                action: Action::Delete,
                table: node.table().name,
                key: key_text(&node),
                reason: if orphan {
                    "orphan of a delete_orphan collection; before the inserts, which may reuse its unique key"
                } else {
                    "deleted; last, children's tables before their parents'"
                }
                .to_owned(),
            },
            Step::Insert(node) => {
                let parents: Vec<String> = node
                    .parents()?
                    .iter()
                    .filter(|p| p.state() == State::Pending)
                    .map(|p| p.table().name.to_owned())
                    .collect();
                PlanStep {
                    action: Action::Insert,
                    table: node.table().name,
                    key: key_text(&node),
                    reason: if parents.is_empty() {
                        "new object; nothing it points to is new".to_owned()
                    } else {
                        format!(
                            "new object; after its new parent in {} so its foreign key can be filled",
                            parents.join(", ")
                        )
                    },
                }
            }
            Step::Link(change) => {
                let [(a, first), (b, second)] = &change.ends;
                PlanStep {
                    action: if change.link {
                        Action::Link
                    } else {
                        Action::Unlink
                    },
                    table: change.table,
                    key: format!("{a} = {}, {b} = {}", key_text(first), key_text(second)),
                    reason: "link row; after the inserts that give both ends their keys"
                        .to_owned(),
                }
            }
        });
    }
    Ok(FlushPlan { steps: plan })
}

fn key_text(node: &Rc<dyn AnyNode>) -> String {
    match node.key_value() {
        Ok(rusqlite::types::Value::Integer(0)) if node.state() == State::Pending => {
            "new".to_owned()
        }
        Ok(value) => render(&value),
        Err(_) => "(being written)".to_owned(),
    }
}
