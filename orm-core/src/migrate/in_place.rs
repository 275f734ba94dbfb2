//! The in-place step: on PostgreSQL, whose `ALTER TABLE` makes every change
//! that SQLite needs a table rebuild for, the changes of an existing table
//! are made one statement each (written by `backend::postgres::migration`),
//! described by the same [`SchemaChange`]s and checked by the same probes
//! as a rebuild, so that consent and refusals work alike on both backends.
//!
//! Order of the statements: the constraints that go (they may name a
//! column that changes or goes, and a primary key moves at once), then the
//! dropped columns, the added ones, the changes of each column (type,
//! nullability, default), and last the constraints that come, which the
//! server checks against the rows as they are by then.
//!
//! Does not compare (`diff::compare`) nor run anything (`apply`).

use crate::backend::Backend;
use crate::backend::postgres::introspect::ForeignKeyName;
use crate::backend::postgres::migration as sql;
use crate::schema::{LiveTable, TableDef};

use super::diff::{
    TableChanges, compare, index_changes, index_step, no_default_probes, same, step,
};
use super::plan::{MigrationStep, SchemaChange, StepKind};

/// The steps that bring one existing table to its model in place: one
/// `ALTER TABLE` step with every change of the table itself, then one for
/// its indexes, each only if there is something to do.
pub(super) fn steps(
    table: &'static TableDef,
    live: &LiveTable,
    foreign_keys: &[ForeignKeyName],
) -> Vec<MigrationStep> {
    let changes = compare(table, live, Backend::Postgres);
    let mut altered: Vec<(SchemaChange, Vec<String>)> = changes
        .added
        .iter()
        .map(|column| {
            let change = SchemaChange::AddColumn {
                column: column.name.to_owned(),
                definition: column.definition_in(Backend::Postgres),
            };
            (change, vec![sql::add_column(table.name, column)])
        })
        .collect();
    for change in &changes.rebuild {
        let statements = statements(table, live, foreign_keys, &changes, change);
        altered.push((change.clone(), statements));
    }
    altered.sort_by_key(|(change, _)| phase(change));

    let mut steps = Vec::new();
    if !altered.is_empty() {
        let (described, statements): (Vec<SchemaChange>, Vec<Vec<String>>) =
            altered.into_iter().unzip();
        let mut alter = step(
            StepKind::AlterTable,
            table.name,
            described,
            statements.into_iter().flatten().collect(),
        );
        alter.probes = changes.probes.clone();
        alter.probes.extend(no_default_probes(&changes, live));
        steps.push(alter);
    }
    let index_changes = index_changes(&changes);
    steps.extend(index_step(table, &changes, index_changes));
    steps
}

/// When a change's statements run in the step (see the module docs).
fn phase(change: &SchemaChange) -> u8 {
    match change {
        SchemaChange::DropForeignKey { .. }
        | SchemaChange::DropUnique { .. }
        | SchemaChange::ChangePrimaryKey { .. } => 0,
        SchemaChange::DropColumn { .. } => 1,
        SchemaChange::AddColumn { .. } => 2,
        SchemaChange::AddUnique { .. } | SchemaChange::AddForeignKey { .. } => 4,
        _ => 3,
    }
}

/// The statements that make one change of `table`, whose live state is
/// `live` (constraint names come from there and from `foreign_keys`).
fn statements(
    table: &TableDef,
    live: &LiveTable,
    foreign_keys: &[ForeignKeyName],
    changes: &TableChanges,
    change: &SchemaChange,
) -> Vec<String> {
    let name = table.name;
    let model_column = |column: &str| table.columns.iter().find(|c| same(c.name, column));
    match change {
        SchemaChange::DropColumn { column } => vec![sql::drop_column(name, column)],
        SchemaChange::ChangeType { column, from, to } => {
            vec![sql::change_type(name, column, from, to)]
        }
        SchemaChange::ChangeNullability { column, nullable } => {
            let default = model_column(column).and_then(|c| c.default);
            sql::change_nullability(name, column, *nullable, default)
        }
        SchemaChange::ChangeDefault { column, to, .. } => {
            vec![sql::change_default(name, column, to.as_deref())]
        }
        SchemaChange::ChangePrimaryKey { to, .. } => {
            let mut statements: Vec<String> = live
                .indexes
                .iter()
                .filter(|i| i.origin == "pk")
                .map(|i| sql::drop_constraint(name, &i.name))
                .collect();
            // A key column the step adds declares PRIMARY KEY itself.
            if !changes.added.iter().any(|c| same(c.name, to)) {
                statements.push(sql::add_primary_key(name, to));
            }
            statements
        }
        SchemaChange::AddUnique { column } => vec![sql::add_unique(name, column)],
        SchemaChange::DropUnique { column } => live
            .indexes
            .iter()
            .filter(|i| i.origin == "u" && same(&i.columns.join(", "), column))
            .map(|i| sql::drop_constraint(name, &i.name))
            .collect(),
        SchemaChange::AddForeignKey { column, .. } => model_column(column)
            .and_then(|c| sql::add_foreign_key(name, c))
            .into_iter()
            .collect(),
        SchemaChange::DropForeignKey { column, .. } => {
            let original = live
                .column(column)
                .map_or(column.as_str(), |c| c.original.as_str());
            foreign_keys
                .iter()
                .filter(|fk| same(&fk.table, &live.original) && same(&fk.column, original))
                .map(|fk| sql::drop_constraint(name, &fk.name))
                .collect()
        }
        SchemaChange::CreateTable
        | SchemaChange::DropTable
        | SchemaChange::RenameTable { .. }
        | SchemaChange::AddColumn { .. }
        | SchemaChange::RenameColumn { .. }
        | SchemaChange::CreateIndex { .. }
        | SchemaChange::DropIndex { .. }
        | SchemaChange::CarryOver { .. } => Vec::new(),
    }
}
