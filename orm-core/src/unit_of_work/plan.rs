//! The flush plan: the rows the next flush would write, in order, with why
//! each comes where it does. Built from the same steps as the flush. A step
//! is one row: where the flush puts many new rows of one table into
//! multi-row INSERTs (see `persistence::insert`), they keep the plan's
//! order, and the read of their keys is no step; nor is the read of the
//! keys of rows a cascade passes (see `relation::cascade`).

use std::fmt;
use std::rc::Rc;

use super::Work;
use super::order::{Step, steps};
use crate::error::Result;
use crate::sql::render;
use crate::state::{AnyNode, State};
use crate::value::Value;

/// What the next flush will do, row by row, and why in that order.
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

/// One row the next flush will write (one statement, unless it shares a
/// multi-row INSERT).
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
pub(crate) fn plan(work: &Work) -> Result<FlushPlan> {
    let mut plan = Vec::new();
    for step in steps(work)? {
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
                reason: if orphan.is_some() {
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
        Ok(Value::Integer(0)) if node.state() == State::Pending => "new".to_owned(),
        Ok(value) => render(&value),
        Err(_) => "(being written)".to_owned(),
    }
}
