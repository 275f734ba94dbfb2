//! Computing a plan: the models compared with the live schema, table by
//! table, each difference turned into the statements that make it: on
//! SQLite in place (`ALTER TABLE`) where it allows it and by a table
//! rebuild otherwise (`rebuild`); on PostgreSQL always in place
//! (`in_place`).
//!
//! Order of the steps: declared renames first (everything after goes by the
//! new names), then each model's table, parents before children, then the
//! link tables, then the drops.

use crate::error::{Misuse, Result};
use crate::schema::{ColumnDef, IndexDef, LinkDef, OnDelete, TableDef, dependency_order, links_of};
use crate::sql::quote;

use crate::backend::Backend;
use crate::backend::sqlite::{introspect, migration};
use crate::schema::{LiveColumn, LiveIndex, LiveObject, LiveTable};
use crate::sql::Conn;

use crate::error::HazardKind;

use super::hazard::Probe;
use super::plan::{MigrationPlan, MigrationStep, Renames, SchemaChange, StepKind};
use super::rebuild;

/// The plan that brings the database behind `conn` to `tables`.
pub(super) fn plan(
    conn: &Conn,
    tables: &[&'static TableDef],
    renames: &Renames,
) -> Result<MigrationPlan> {
    let backend = conn.dialect();
    let schema_version = super::schema_version(conn)?;
    let mut live_tables = super::live_tables(conn)?;
    let mut steps = rename_tables(&mut live_tables, renames)?;
    steps.extend(rename_columns(&mut live_tables, renames)?);
    let mut objects = match backend {
        Backend::Sqlite => {
            let renaming: Vec<String> = steps.iter().flat_map(|s| s.sql.iter().cloned()).collect();
            introspect::schema_objects_after(conn.sqlite("migrations")?, &renaming)?
        }
        // Views and triggers stay as they are: nothing is rebuilt.
        Backend::Postgres => Vec::new(),
    };
    #[cfg(feature = "postgres")]
    let foreign_keys = match conn.postgres() {
        Some(mut client) => Some(crate::backend::postgres::introspect::foreign_key_names(
            &mut client,
        )?),
        None => None,
    };

    let tables = dependency_order(tables);
    let mut taken: Vec<String> = live_tables.iter().map(|t| t.name.clone()).collect();
    taken.extend(tables.iter().map(|t| t.name.to_owned()));
    for table in &tables {
        let Some(live) = find(&live_tables, table.name) else {
            steps.push(create_table(table, backend));
            continue;
        };
        #[cfg(feature = "postgres")]
        if let Some(foreign_keys) = &foreign_keys {
            steps.extend(super::in_place::steps(table, live, foreign_keys));
            continue;
        }
        steps.extend(alter_table(table, live, &taken, &mut objects));
    }
    let links = links_of(&tables);
    for link in &links {
        if find(&live_tables, link.table).is_none() {
            steps.push(create_link_table(link, backend));
        }
    }
    for live in &live_tables {
        let modelled = tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(&live.name))
            || links
                .iter()
                .any(|l| l.table.eq_ignore_ascii_case(&live.name));
        if !modelled {
            steps.push(drop_table(live, &mut objects));
        }
    }

    for step in &mut steps {
        for probe in &step.probes {
            let hazard = probe.at_plan(conn)?;
            if hazard.matters() {
                step.hazards.push(hazard);
            }
        }
    }
    Ok(MigrationPlan {
        steps,
        schema_version,
        backend,
    })
}

fn find<'a>(live: &'a [LiveTable], name: &str) -> Option<&'a LiveTable> {
    live.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

pub(super) fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

pub(super) fn step(
    kind: StepKind,
    table: &str,
    changes: Vec<SchemaChange>,
    sql: Vec<String>,
) -> MigrationStep {
    MigrationStep {
        kind,
        table: table.to_owned(),
        changes,
        sql,
        hazards: Vec::new(),
        probes: Vec::new(),
    }
}

/// Declared table renames whose old table exists; done in memory too, with
/// the foreign keys of other tables that point at it (as SQLite does).
fn rename_tables(live: &mut [LiveTable], renames: &Renames) -> Result<Vec<MigrationStep>> {
    let mut steps = Vec::new();
    for (from, to) in &renames.tables {
        if find(live, from).is_none() {
            continue;
        }
        if find(live, to).is_some() {
            return Err(Misuse::RenameClash {
                what: "table",
                from: from.clone(),
                to: to.clone(),
            }
            .into());
        }
        for table in live.iter_mut() {
            if same(&table.name, from) {
                table.name = to.clone();
            }
            for fk in &mut table.foreign_keys {
                if same(&fk.target, from) {
                    fk.target = to.clone();
                }
            }
        }
        steps.push(step(
            StepKind::RenameTable,
            to,
            vec![SchemaChange::RenameTable { from: from.clone() }],
            vec![format!(
                "ALTER TABLE {} RENAME TO {}",
                quote(from),
                quote(to)
            )],
        ));
    }
    Ok(steps)
}

/// Declared column renames whose old column exists, one step per table.
fn rename_columns(live: &mut [LiveTable], renames: &Renames) -> Result<Vec<MigrationStep>> {
    let mut steps: Vec<MigrationStep> = Vec::new();
    for (table_name, from, to) in &renames.columns {
        let Some(table) = live.iter_mut().find(|t| same(&t.name, table_name)) else {
            continue;
        };
        if table.column(from).is_none() {
            continue;
        }
        if table.column(to).is_some() {
            return Err(Misuse::RenameClash {
                what: "column",
                from: format!("{table_name}.{from}"),
                to: to.clone(),
            }
            .into());
        }
        table.rename_column(from, to);
        let sql = format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            quote(&table.name),
            quote(from),
            quote(to)
        );
        let change = SchemaChange::RenameColumn {
            from: from.clone(),
            to: to.clone(),
        };
        match steps.iter_mut().find(|s| same(&s.table, &table.name)) {
            Some(existing) => {
                existing.changes.push(change);
                existing.sql.push(sql);
            }
            None => steps.push(step(
                StepKind::AlterTable,
                &table.name,
                vec![change],
                vec![sql],
            )),
        }
    }
    Ok(steps)
}

fn create_table(table: &TableDef, backend: Backend) -> MigrationStep {
    let mut sql = vec![table.create_table_sql_in(backend)];
    sql.extend(table.create_index_sql());
    step(
        StepKind::CreateTable,
        table.name,
        vec![SchemaChange::CreateTable],
        sql,
    )
}

fn create_link_table(link: &LinkDef, backend: Backend) -> MigrationStep {
    step(
        StepKind::CreateTable,
        link.table,
        vec![SchemaChange::CreateTable],
        vec![link.create_table_sql_in(backend), link.create_index_sql()],
    )
}

/// Drops a table without a model, and the views and triggers elsewhere
/// that read it (they could not run, and SQLite would refuse every later
/// rebuild while they are there), each a hazard of its own.
fn drop_table(live: &LiveTable, objects: &mut Vec<LiveObject>) -> MigrationStep {
    let readers = rebuild::readers_of(&live.name, objects);
    let mut sql: Vec<String> = readers
        .iter()
        .rev()
        .map(|o| format!("DROP {} {}", o.kind.word().to_uppercase(), quote(&o.name)))
        .collect();
    sql.push(format!("DROP TABLE {}", quote(&live.name)));
    let mut drop = step(
        StepKind::DropTable,
        &live.name,
        vec![SchemaChange::DropTable],
        sql,
    );
    drop.probes
        .push(Probe::new(HazardKind::DropTable, live, None));
    for reader in &readers {
        let kind = HazardKind::NotCarriedOver {
            what: format!("{} `{}`", reader.kind.word(), reader.name),
            reason: format!("it reads `{}`, which is dropped", live.name),
        };
        drop.probes.push(Probe::new(kind, live, None));
    }
    objects.retain(|o| {
        !readers.iter().any(|r| r.name == o.name) && !o.table.eq_ignore_ascii_case(&live.name)
    });
    drop
}

/// What differs in an existing table, sorted by how it can be made.
#[derive(Default)]
pub(super) struct TableChanges {
    /// Columns the model adds.
    pub added: Vec<&'static ColumnDef>,
    /// Changes only a rebuild can make.
    pub rebuild: Vec<SchemaChange>,
    /// Checks of the rows those changes would touch.
    pub probes: Vec<Probe>,
    /// Indexes to drop, as they exist.
    pub dropped_indexes: Vec<LiveIndex>,
    /// Indexes to create.
    pub created_indexes: Vec<&'static IndexDef>,
}

/// The steps that bring one existing table to its model: in place when
/// `ALTER TABLE` can, else one rebuild that makes every change at once.
fn alter_table(
    table: &'static TableDef,
    live: &LiveTable,
    taken: &[String],
    objects: &mut Vec<LiveObject>,
) -> Vec<MigrationStep> {
    let changes = compare(table, live, Backend::Sqlite);
    let index_changes = index_changes(&changes);
    let added: Vec<SchemaChange> = changes
        .added
        .iter()
        .map(|c| SchemaChange::AddColumn {
            column: c.name.to_owned(),
            definition: c.definition(),
        })
        .collect();
    let in_place = changes.rebuild.is_empty() && changes.added.iter().all(|c| addable_in_place(c));
    if !in_place {
        return vec![rebuild::step(
            table,
            live,
            taken,
            objects,
            changes,
            added,
            index_changes,
        )];
    }
    let mut steps = Vec::new();
    if !added.is_empty() {
        let sql = changes
            .added
            .iter()
            .map(|c| {
                format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    quote(table.name),
                    c.definition()
                )
            })
            .collect();
        steps.push(step(StepKind::AlterTable, table.name, added, sql));
    }
    steps.extend(index_step(table, &changes, index_changes));
    steps
}

/// The step that drops and creates a table's indexes, if any change.
pub(super) fn index_step(
    table: &TableDef,
    changes: &TableChanges,
    index_changes: Vec<SchemaChange>,
) -> Option<MigrationStep> {
    if index_changes.is_empty() {
        return None;
    }
    let sql = changes
        .dropped_indexes
        .iter()
        .map(|index| format!("DROP INDEX {}", quote(&index.name)))
        .chain(
            changes
                .created_indexes
                .iter()
                .map(|i| i.create_sql(table.name)),
        )
        .collect();
    Some(step(
        StepKind::ChangeIndexes,
        table.name,
        index_changes,
        sql,
    ))
}

/// The probes of the columns a change adds NOT NULL without a default:
/// rows already there have no value for them.
pub(super) fn no_default_probes(changes: &TableChanges, live: &LiveTable) -> Vec<Probe> {
    changes
        .added
        .iter()
        .filter(|c| !c.nullable && c.default.is_none())
        .map(|column| {
            Probe::new(
                HazardKind::NoDefault {
                    column: column.name.to_owned(),
                },
                live,
                Some(column.name),
            )
        })
        .collect()
}

/// The indexes a table's changes drop and create, as plan changes.
pub(super) fn index_changes(changes: &TableChanges) -> Vec<SchemaChange> {
    changes
        .dropped_indexes
        .iter()
        .map(|index| SchemaChange::DropIndex {
            name: index.name.clone(),
        })
        .chain(
            changes
                .created_indexes
                .iter()
                .map(|index| SchemaChange::CreateIndex {
                    name: index.name.to_owned(),
                    columns: index.columns.iter().map(|c| (*c).to_owned()).collect(),
                    unique: index.unique,
                }),
        )
        .collect()
}

pub(super) fn compare(
    table: &'static TableDef,
    live: &LiveTable,
    dialect: Backend,
) -> TableChanges {
    let mut changes = TableChanges::default();
    for column in table.columns {
        match live.column(column.name) {
            None => changes.added.push(column),
            Some(found) => compare_column(column, found, live, dialect, &mut changes),
        }
    }
    compare_primary_key(table, live, &mut changes);
    for found in &live.columns {
        if !table.columns.iter().any(|c| same(c.name, &found.name)) {
            changes.rebuild.push(SchemaChange::DropColumn {
                column: found.name.clone(),
            });
            changes.probes.push(Probe::new(
                HazardKind::DropColumn {
                    column: found.name.clone(),
                },
                live,
                Some(&found.name),
            ));
        }
    }
    compare_unique(table, live, &mut changes);
    compare_foreign_keys(table, live, &mut changes);
    compare_indexes(table, live, &mut changes);
    changes
}

fn compare_column(
    column: &ColumnDef,
    found: &LiveColumn,
    live: &LiveTable,
    dialect: Backend,
    changes: &mut TableChanges,
) {
    let sql_type = column.type_in(dialect);
    if !same(&found.sql_type, sql_type) {
        changes.rebuild.push(SchemaChange::ChangeType {
            column: column.name.to_owned(),
            from: found.sql_type.clone(),
            to: sql_type.to_owned(),
        });
        changes.probes.push(Probe::new(
            HazardKind::NarrowType {
                column: column.name.to_owned(),
                from: found.sql_type.clone(),
                to: sql_type.to_owned(),
            },
            live,
            Some(column.name),
        ));
        if migration::holds_text(column.sql_type) {
            changes.probes.push(Probe::new(
                HazardKind::NotText {
                    column: column.name.to_owned(),
                    from: found.sql_type.clone(),
                    to: column.sql_type.to_owned(),
                },
                live,
                Some(column.name),
            ));
        }
    }
    // A rowid alias reports NOT NULL as 0 though it never holds NULL.
    if !column.primary_key && found.not_null == column.nullable {
        changes.rebuild.push(SchemaChange::ChangeNullability {
            column: column.name.to_owned(),
            nullable: column.nullable,
        });
        if !column.nullable {
            changes.probes.push(Probe::new(
                HazardKind::NullInNotNull {
                    column: column.name.to_owned(),
                    default: column.default.map(str::to_owned),
                },
                live,
                Some(column.name),
            ));
        }
    }
    let live_default = found.default.as_deref().map(str::trim);
    if live_default != column.default.map(str::trim) {
        changes.rebuild.push(SchemaChange::ChangeDefault {
            column: column.name.to_owned(),
            from: found.default.clone(),
            to: column.default.map(str::to_owned),
        });
    }
}

fn compare_primary_key(table: &TableDef, live: &LiveTable, changes: &mut TableChanges) {
    let model = table.primary_key().name;
    let key: Vec<&str> = live.primary_key().iter().map(|c| c.name.as_str()).collect();
    if !matches!(key.as_slice(), [only] if same(only, model)) {
        changes.rebuild.push(SchemaChange::ChangePrimaryKey {
            from: if key.is_empty() {
                "rowid".to_owned()
            } else {
                key.join(", ")
            },
            to: model.to_owned(),
        });
    }
}

/// `UNIQUE` constraints (SQLite's `sqlite_autoindex_*`, origin `u`) against
/// the model's unique columns. A column the model adds carries its own.
fn compare_unique(table: &TableDef, live: &LiveTable, changes: &mut TableChanges) {
    let constraints: Vec<_> = live.indexes.iter().filter(|i| i.origin == "u").collect();
    for column in table.columns.iter().filter(|c| c.unique) {
        let present = live.column(column.name).is_none()
            || constraints
                .iter()
                .any(|i| matches!(i.columns.as_slice(), [only] if same(only, column.name)));
        if !present {
            changes.rebuild.push(SchemaChange::AddUnique {
                column: column.name.to_owned(),
            });
        }
    }
    for index in constraints {
        let declared = matches!(index.columns.as_slice(), [only]
            if table.columns.iter().any(|c| c.unique && same(c.name, only)));
        // A constraint on a dropped column goes with it; the drop says so.
        let columns_kept = index
            .columns
            .iter()
            .all(|name| table.columns.iter().any(|c| same(c.name, name)));
        if !declared && columns_kept {
            changes.rebuild.push(SchemaChange::DropUnique {
                column: index.columns.join(", "),
            });
        }
    }
}

/// SQLite's name for an `ON DELETE` action, as `PRAGMA foreign_key_list` reports it.
fn on_delete_name(action: OnDelete) -> &'static str {
    action.sql().unwrap_or("NO ACTION")
}

fn compare_foreign_keys(table: &TableDef, live: &LiveTable, changes: &mut TableChanges) {
    for column in table.columns {
        if live.column(column.name).is_none() {
            continue; // a new column carries its own REFERENCES clause
        }
        let found = live
            .foreign_keys
            .iter()
            .find(|fk| same(&fk.column, column.name));
        let wanted = column
            .references
            .map(|fk| ((fk.target)().name, fk.on_delete));
        let matches = match (wanted, found) {
            (Some((target, on_delete)), Some(fk)) => {
                same(&fk.target, target) && same(&fk.on_delete, on_delete_name(on_delete))
            }
            (None, None) => true,
            _ => false,
        };
        if matches {
            continue;
        }
        if let Some(fk) = found {
            changes.rebuild.push(SchemaChange::DropForeignKey {
                column: column.name.to_owned(),
                target: fk.target.clone(),
            });
        }
        if let Some((target, on_delete)) = wanted {
            changes.rebuild.push(SchemaChange::AddForeignKey {
                column: column.name.to_owned(),
                target: target.to_owned(),
                on_delete,
            });
        }
    }
}

/// Indexes made by `CREATE INDEX` (origin `c`) against the model's, by name.
fn compare_indexes(table: &'static TableDef, live: &LiveTable, changes: &mut TableChanges) {
    let created: Vec<_> = live.indexes.iter().filter(|i| i.origin == "c").collect();
    for index in table.indexes {
        match created.iter().find(|i| same(&i.name, index.name)) {
            None => changes.created_indexes.push(index),
            Some(found) => {
                let same_columns = found.columns.len() == index.columns.len()
                    && found
                        .columns
                        .iter()
                        .zip(index.columns)
                        .all(|(a, b)| same(a, b));
                if !same_columns || found.unique != index.unique {
                    changes.dropped_indexes.push((*found).clone());
                    changes.created_indexes.push(index);
                }
            }
        }
    }
    for found in created {
        if !table.indexes.iter().any(|i| same(i.name, &found.name)) {
            changes.dropped_indexes.push(found.clone());
        }
    }
}

/// Whether `ALTER TABLE ... ADD COLUMN` can add the column: SQLite refuses a
/// PRIMARY KEY or UNIQUE column, a NOT NULL column without a default, a
/// default that is an expression or the current time, and (with foreign keys
/// on) a REFERENCES column with a default other than NULL.
fn addable_in_place(column: &ColumnDef) -> bool {
    let default_ok = match column.default {
        None => column.nullable,
        Some(default) => {
            let default = default.trim();
            !default.starts_with('(')
                && !default.to_ascii_uppercase().starts_with("CURRENT_")
                && column.references.is_none()
        }
    };
    !column.primary_key && !column.unique && default_ok
}
