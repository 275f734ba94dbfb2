//! The rebuild step: the changes of a table that `ALTER TABLE` cannot make
//! (a type, a foreign key, a constraint), made at once by the backend's
//! table rebuild, with the probes of the rows they touch.

use crate::backend::sqlite::migration;
use crate::schema::{LiveTable, TableDef};

use super::diff::TableChanges;
use crate::error::HazardKind;

use super::hazard::Probe;
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
        migration::rebuild(table, live, taken),
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
