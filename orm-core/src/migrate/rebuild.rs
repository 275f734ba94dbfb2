//! SQLite's table rebuild: the one way to make the changes `ALTER TABLE`
//! cannot (a type, a foreign key, a constraint): a new table, the rows
//! copied, the old one dropped, the new one renamed, its indexes recreated.

use crate::schema::{ColumnDef, TableDef};
use crate::sql::quote;

use super::diff::{TableChanges, same};
use super::hazard::{HazardKind, Probe};
use super::live::{LiveColumn, LiveTable};
use super::plan::{MigrationStep, SchemaChange, StepKind};

/// One rebuild that makes every change of the table at once, with the
/// probes of the rows it touches.
pub(super) fn step(
    table: &'static TableDef,
    live: &LiveTable,
    taken: &[String],
    changes: TableChanges,
    added: Vec<SchemaChange>,
    index_changes: Vec<SchemaChange>,
) -> MigrationStep {
    let mut rebuild = super::diff::step(
        StepKind::RebuildTable,
        table.name,
        added
            .into_iter()
            .chain(changes.rebuild)
            .chain(index_changes)
            .collect(),
        rebuild_sql(table, live, taken),
    );
    rebuild.probes = changes.probes;
    for column in changes
        .added
        .iter()
        .filter(|c| !c.nullable && c.default.is_none())
    {
        rebuild.probes.push(Probe::new(
            HazardKind::NoDefault {
                column: column.name.to_owned(),
            },
            live,
            Some(column.name),
        ));
    }
    rebuild
}

/// SQLite's table rebuild: the new table made from the model, every row
/// copied, the old table dropped, the new one renamed, the indexes made.
/// Foreign keys are off meanwhile (`apply` sees to it), so dropping the old
/// table neither fails nor cascades to rows that point at it.
fn rebuild_sql(table: &TableDef, live: &LiveTable, taken: &[String]) -> Vec<String> {
    let mut temporary = format!("new_{}", table.name);
    while taken.iter().any(|t| same(t, &temporary)) {
        temporary.insert(0, '_');
    }
    let definitions: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("    {}", c.definition()))
        .collect();
    let mut sql = vec![format!(
        "CREATE TABLE {} (\n{}\n)",
        quote(&temporary),
        definitions.join(",\n")
    )];
    let copied: Vec<(&ColumnDef, &LiveColumn)> = table
        .columns
        .iter()
        .filter_map(|c| live.column(c.name).map(|found| (c, found)))
        .collect();
    if !copied.is_empty() {
        let names: Vec<String> = copied.iter().map(|(c, _)| quote(c.name)).collect();
        let values: Vec<String> = copied
            .iter()
            .map(|(c, found)| copy_value(c, found))
            .collect();
        sql.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote(&temporary),
            names.join(", "),
            values.join(", "),
            quote(table.name)
        ));
    }
    sql.push(format!("DROP TABLE {}", quote(table.name)));
    sql.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&temporary),
        quote(table.name)
    ));
    sql.extend(table.create_index_sql());
    sql
}

/// The value copied into a column: converted where the type changes, and
/// NULL replaced by the default where the column becomes NOT NULL (the
/// hazard check decides beforehand whether that may happen).
fn copy_value(column: &ColumnDef, found: &LiveColumn) -> String {
    let mut value = quote(&found.name);
    if !same(&found.sql_type, column.sql_type) {
        value = format!("CAST({value} AS {})", column.sql_type);
    }
    let becomes_not_null = !column.primary_key && !column.nullable && !found.not_null;
    if let (true, Some(default)) = (becomes_not_null, column.default) {
        value = format!("COALESCE({value}, {default})");
    }
    value
}
