//! Drift: how existing tables differ from their models, as `create_all`
//! reports it. A rendering of the migration plan's own comparison
//! (`diff`), read through the one reader of the live schema (the backend's), so
//! the report and the plan that would fix it cannot disagree.

use crate::backend::Backend;
use crate::error::{Difference, DriftReport, Result, TableDrift};
use crate::schema::TableDef;
use crate::sql::Conn;

use super::diff::{TableChanges, compare};
use super::plan::SchemaChange;

/// The drift of every table of `tables` that exists.
pub(crate) fn report(conn: &Conn, tables: &[&'static TableDef]) -> Result<DriftReport> {
    let live_tables = super::live_tables(conn)?;
    let mut report = DriftReport::default();
    for table in tables {
        let Some(live) = live_tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(table.name))
        else {
            continue;
        };
        let dialect = conn.dialect();
        let differences = differences(&compare(table, live, dialect), dialect);
        if !differences.is_empty() {
            report.tables.push(TableDrift {
                table: table.name.to_owned(),
                differences,
            });
        }
    }
    Ok(report)
}

/// The plan's changes of one table, in the words of a drift report.
fn differences(changes: &TableChanges, dialect: Backend) -> Vec<Difference> {
    let mut found: Vec<Difference> = changes
        .added
        .iter()
        .map(|column| Difference::MissingColumn {
            column: column.name.to_owned(),
            definition: column.definition_in(dialect),
        })
        .collect();
    found.extend(changes.rebuild.iter().filter_map(difference));
    for index in &changes.created_indexes {
        let columns: Vec<String> = index.columns.iter().map(|c| (*c).to_owned()).collect();
        match changes
            .dropped_indexes
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(index.name))
        {
            Some(old) => found.push(Difference::IndexDiffers {
                name: index.name.to_owned(),
                model: describe_index(&columns, index.unique),
                database: describe_index(&old.columns, old.unique),
            }),
            None => found.push(Difference::MissingIndex {
                name: index.name.to_owned(),
                columns,
            }),
        }
    }
    for old in &changes.dropped_indexes {
        if !changes
            .created_indexes
            .iter()
            .any(|i| old.name.eq_ignore_ascii_case(i.name))
        {
            found.push(Difference::ExtraIndex {
                name: old.name.clone(),
            });
        }
    }
    found
}

fn difference(change: &SchemaChange) -> Option<Difference> {
    Some(match change {
        SchemaChange::DropColumn { column } => Difference::ExtraColumn {
            column: column.clone(),
        },
        SchemaChange::ChangeType { column, from, to } => Difference::TypeDiffers {
            column: column.clone(),
            model: to.clone(),
            database: from.clone(),
        },
        SchemaChange::ChangeNullability { column, nullable } => Difference::NullabilityDiffers {
            column: column.clone(),
            model_nullable: *nullable,
        },
        SchemaChange::ChangeDefault { column, from, to } => Difference::DefaultDiffers {
            column: column.clone(),
            model: to.clone(),
            database: from.clone(),
        },
        SchemaChange::ChangePrimaryKey { to, .. } => {
            Difference::PrimaryKeyDiffers { model: to.clone() }
        }
        SchemaChange::AddUnique { column } => Difference::MissingUnique {
            column: column.clone(),
        },
        SchemaChange::DropUnique { column } => Difference::ExtraUnique {
            columns: column.clone(),
        },
        SchemaChange::AddForeignKey { column, target, .. } => Difference::MissingForeignKey {
            column: column.clone(),
            target: target.clone(),
        },
        SchemaChange::DropForeignKey { column, target } => Difference::ForeignKeyDiffers {
            column: column.clone(),
            database: target.clone(),
        },
        _ => return None,
    })
}

fn describe_index(columns: &[String], unique: bool) -> String {
    format!(
        "{}({})",
        if unique { "UNIQUE " } else { "" },
        columns.join(", ")
    )
}
