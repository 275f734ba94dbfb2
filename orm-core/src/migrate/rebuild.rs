//! The rebuild step: the changes of a table that `ALTER TABLE` cannot make
//! (a type, a foreign key, a constraint), made at once by the backend's
//! table rebuild, with the probes of the rows they touch, and everything
//! of the table the rebuild does not change carried over: CHECK
//! constraints, collations, `AUTOINCREMENT`, its triggers, and the views
//! and triggers elsewhere that read it (dropped before, made again after).
//! What cannot be carried over (it reads a column the rebuild drops) is a
//! hazard that needs consent.

use crate::backend::sqlite::introspect::table_extras;
use crate::backend::sqlite::migration::{self, CarryOver};
use crate::backend::sqlite::tokens::mentions;
use crate::error::HazardKind;
use crate::schema::{LiveObject, LiveTable, ObjectKind, TableDef};

use super::diff::TableChanges;
use super::hazard::Probe;
use super::plan::{MigrationStep, SchemaChange, StepKind};

/// One rebuild that makes every change of the table at once, with the
/// probes of the rows it touches. `objects` is the schema as it is when
/// the step runs; what the step cannot carry over leaves it.
pub(super) fn step(
    table: &'static TableDef,
    live: &LiveTable,
    taken: &[String],
    objects: &mut Vec<LiveObject>,
    changes: TableChanges,
    added: Vec<SchemaChange>,
    index_changes: Vec<SchemaChange>,
) -> MigrationStep {
    let no_default = super::diff::no_default_probes(&changes, live);
    let dropped: Vec<&str> = changes
        .rebuild
        .iter()
        .filter_map(|change| match change {
            SchemaChange::DropColumn { column } => Some(column.as_str()),
            _ => None,
        })
        .collect();
    let (carry, lost) = carry_over(table, &dropped, objects);
    objects.retain(|o| {
        !lost
            .iter()
            .any(|l| l.object.as_deref() == Some(o.name.as_str()))
    });
    let kept = carry.describe();
    let mut rebuild = super::diff::step(
        StepKind::RebuildTable,
        table.name,
        added
            .into_iter()
            .chain(changes.rebuild)
            .chain(index_changes)
            .chain(
                kept.into_iter()
                    .map(|what| SchemaChange::CarryOver { what }),
            )
            .collect(),
        migration::rebuild(table, live, taken, &carry),
    );
    rebuild.probes = changes.probes;
    rebuild.probes.extend(no_default);
    for Lost { what, reason, .. } in lost {
        rebuild.probes.push(Probe::new(
            HazardKind::NotCarriedOver { what, reason },
            live,
            None,
        ));
    }
    rebuild
}

/// A thing of the table the rebuild cannot make again, and why.
struct Lost {
    what: String,
    reason: String,
    /// The view or trigger, by name, when it is one.
    object: Option<String>,
}

/// A trigger or view in messages: "trigger `audit`".
fn describe(object: &LiveObject) -> String {
    format!("{} `{}`", object.kind.word(), object.name)
}

/// What the rebuild of `table` keeps, and what it cannot, when it drops the
/// columns `dropped`.
fn carry_over(
    table: &TableDef,
    dropped: &[&str],
    objects: &[LiveObject],
) -> (CarryOver, Vec<Lost>) {
    let mut carry = CarryOver::default();
    let mut lost = Vec::new();
    let own = objects
        .iter()
        .find(|o| o.kind == ObjectKind::Table && o.name.eq_ignore_ascii_case(table.name));
    if let Some(sql) = own.and_then(|o| o.sql.as_deref()) {
        keep_extras(table, dropped, sql, &mut carry, &mut lost);
    }
    let (found, touched) = dependents(table.name, objects);
    for object in found {
        let sql = object.sql.as_deref().unwrap_or_default();
        let broken = dropped
            .iter()
            .find(|column| mentions(sql, column))
            .map(|column| reads(column))
            .or_else(|| {
                lost.iter()
                    .filter_map(|l: &Lost| l.object.as_deref())
                    .find(|name| mentions(sql, name))
                    .map(|name| format!("it reads `{name}`, which is not made again"))
            });
        // A trigger of the table, or of a view dropped here, goes with it;
        // anything else is dropped first.
        let goes_along = object.kind == ObjectKind::Trigger
            && touched
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&object.table));
        if !goes_along {
            carry.dropped.push(object.clone());
        }
        match broken {
            Some(reason) => lost.push(Lost {
                what: describe(object),
                reason,
                object: Some(object.name.clone()),
            }),
            None => carry.recreated.push(object.clone()),
        }
    }
    (carry, lost)
}

/// The CHECK constraints, collations and `AUTOINCREMENT` of the table's
/// stored definition `sql` that the new table can keep.
fn keep_extras(
    table: &TableDef,
    dropped: &[&str],
    sql: &str,
    carry: &mut CarryOver,
    lost: &mut Vec<Lost>,
) {
    let extras = table_extras(sql);
    for check in extras.checks {
        match dropped.iter().find(|column| mentions(&check, column)) {
            Some(column) => lost.push(Lost {
                what: check,
                reason: reads(column),
                object: None,
            }),
            None => carry.checks.push(check),
        }
    }
    carry.collations = extras
        .collations
        .into_iter()
        .filter(|(column, _)| {
            table
                .columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(column))
        })
        .collect();
    if extras.autoincrement {
        let key = table.primary_key();
        if key.is_rowid_alias() {
            carry.autoincrement = true;
        } else {
            lost.push(Lost {
                what: "AUTOINCREMENT".to_owned(),
                reason: format!("the key `{}` is not an INTEGER PRIMARY KEY", key.name),
                object: None,
            });
        }
    }
}

fn reads(column: &str) -> String {
    format!("it reads `{column}`, which the rebuild drops")
}

/// The views and triggers that read `table`, directly or through a view,
/// with the triggers of those views, in the order they were made; the
/// table's own triggers go with it and are not among them.
pub(super) fn readers_of(table: &str, objects: &[LiveObject]) -> Vec<LiveObject> {
    dependents(table, objects)
        .0
        .into_iter()
        .filter(|o| !(o.kind == ObjectKind::Trigger && o.table.eq_ignore_ascii_case(table)))
        .cloned()
        .collect()
}

/// The views and triggers the rebuild of `table` touches, in the order they
/// were made, and the names of the table and views they belong to: the
/// table's own triggers, and every view or trigger that reads the table or
/// such a view (SQLite checks them all when the rebuilt table takes the old
/// name), with the triggers of those views. Repeated until nothing is added,
/// as a view made again by an earlier rebuild comes after those reading it.
fn dependents<'a>(
    table: &'a str,
    objects: &'a [LiveObject],
) -> (Vec<&'a LiveObject>, Vec<&'a str>) {
    let mut touched: Vec<&str> = vec![table];
    let mut found: Vec<&LiveObject> = Vec::new();
    loop {
        let before = found.len();
        for object in objects {
            if found.iter().any(|f| std::ptr::eq(*f, object)) {
                continue;
            }
            let sql = object.sql.as_deref().unwrap_or_default();
            let reads = touched.iter().any(|name| mentions(sql, name));
            let belongs = touched
                .iter()
                .any(|name| object.table.eq_ignore_ascii_case(name));
            match object.kind {
                ObjectKind::View if reads => {
                    touched.push(&object.name);
                    found.push(object);
                }
                ObjectKind::Trigger if reads || belongs => found.push(object),
                _ => {}
            }
        }
        if found.len() == before {
            break;
        }
    }
    // Made again in the order they were first made.
    found.sort_by_key(|f| objects.iter().position(|o| std::ptr::eq(o, *f)));
    (found, touched)
}
