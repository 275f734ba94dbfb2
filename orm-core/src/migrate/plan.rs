//! The migration plan as a value: steps, each one table's changes in plain
//! words with the SQL that makes them, and the hazards found in the rows.
//!
//! Does not look at the database (`diff` builds plans) or change it
//! (`apply` runs them).

use std::fmt;

use crate::backend::Backend;
use crate::schema::OnDelete;

use crate::error::Hazard;

use super::hazard::Probe;

/// One difference between a table and its model, as a plan step makes it.
/// The table is the step's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaChange {
    /// The table is new.
    CreateTable,
    /// The table has no model any more.
    DropTable,
    /// The table is renamed to the step's table, as declared in [`Renames`].
    RenameTable {
        /// Its name in the database.
        from: String,
    },
    /// The model has a column the table lacks.
    AddColumn {
        /// Column name.
        column: String,
        /// Its SQL definition in the model.
        definition: String,
    },
    /// The table has a column the model does not declare.
    DropColumn {
        /// Column name.
        column: String,
    },
    /// A column is renamed, as declared in [`Renames`].
    RenameColumn {
        /// Its name in the database.
        from: String,
        /// Its name in the model.
        to: String,
    },
    /// The column's SQL type changes.
    ChangeType {
        /// Column name.
        column: String,
        /// Type in the database.
        from: String,
        /// Type in the model.
        to: String,
    },
    /// The column becomes nullable, or NOT NULL.
    ChangeNullability {
        /// Column name.
        column: String,
        /// Whether the model allows NULL.
        nullable: bool,
    },
    /// The column's `DEFAULT` changes.
    ChangeDefault {
        /// Column name.
        column: String,
        /// Default in the database.
        from: Option<String>,
        /// Default in the model.
        to: Option<String>,
    },
    /// The primary key moves to another column.
    ChangePrimaryKey {
        /// Key column(s) in the database (`rowid` when there is none).
        from: String,
        /// Key column in the model.
        to: String,
    },
    /// The column gains a `UNIQUE` constraint.
    AddUnique {
        /// Column name.
        column: String,
    },
    /// A `UNIQUE` constraint the model does not declare goes.
    DropUnique {
        /// Its column(s), joined by `, `.
        column: String,
    },
    /// The column gains a foreign key.
    AddForeignKey {
        /// The referencing column.
        column: String,
        /// The referenced table.
        target: String,
        /// What deleting the referenced row does.
        on_delete: OnDelete,
    },
    /// A foreign key the model does not declare (or declares otherwise) goes.
    DropForeignKey {
        /// The referencing column.
        column: String,
        /// The referenced table.
        target: String,
    },
    /// An index the model declares is created.
    CreateIndex {
        /// Index name.
        name: String,
        /// Its columns, in order.
        columns: Vec<String>,
        /// Whether it is `UNIQUE`.
        unique: bool,
    },
    /// An index the model does not declare (or declares otherwise) goes.
    DropIndex {
        /// Index name.
        name: String,
    },
    /// A table rebuild keeps something of the table the model does not
    /// declare, making it again: a trigger, a view that reads the table, a
    /// CHECK constraint, a collation, `AUTOINCREMENT`.
    CarryOver {
        /// What: "trigger `audit_users`", "CHECK (length(name) > 0)".
        what: String,
    },
}

impl fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaChange::CreateTable => f.write_str("create the table"),
            SchemaChange::DropTable => f.write_str("drop the table"),
            SchemaChange::RenameTable { from } => write!(f, "rename it from `{from}`"),
            SchemaChange::AddColumn { definition, .. } => write!(f, "add column {definition}"),
            SchemaChange::DropColumn { column } => write!(f, "drop column `{column}`"),
            SchemaChange::RenameColumn { from, to } => {
                write!(f, "rename column `{from}` to `{to}`")
            }
            SchemaChange::ChangeType { column, from, to } => {
                write!(f, "change the type of `{column}` from {from} to {to}")
            }
            SchemaChange::ChangeNullability {
                column,
                nullable: true,
            } => write!(f, "let `{column}` hold NULL"),
            SchemaChange::ChangeNullability {
                column,
                nullable: false,
            } => write!(f, "make `{column}` NOT NULL"),
            SchemaChange::ChangeDefault { column, from, to } => write!(
                f,
                "change the default of `{column}` from {} to {}",
                from.as_deref().unwrap_or("none"),
                to.as_deref().unwrap_or("none")
            ),
            SchemaChange::ChangePrimaryKey { from, to } => {
                write!(f, "move the primary key from `{from}` to `{to}`")
            }
            SchemaChange::AddUnique { column } => write!(f, "make `{column}` UNIQUE"),
            SchemaChange::DropUnique { column } => {
                write!(f, "drop the UNIQUE constraint on ({column})")
            }
            SchemaChange::AddForeignKey {
                column,
                target,
                on_delete,
            } => {
                write!(f, "add foreign key `{column}` -> `{target}`")?;
                match on_delete.sql() {
                    Some(action) => write!(f, " ON DELETE {action}"),
                    None => Ok(()),
                }
            }
            SchemaChange::DropForeignKey { column, target } => {
                write!(f, "drop foreign key `{column}` -> `{target}`")
            }
            SchemaChange::CreateIndex {
                name,
                columns,
                unique,
            } => write!(
                f,
                "create {}index `{name}` on ({})",
                if *unique { "unique " } else { "" },
                columns.join(", ")
            ),
            SchemaChange::DropIndex { name } => write!(f, "drop index `{name}`"),
            SchemaChange::CarryOver { what } => write!(f, "keep {what}"),
        }
    }
}

/// How a step changes its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// `CREATE TABLE` and its indexes.
    CreateTable,
    /// `ALTER TABLE ... RENAME TO`.
    RenameTable,
    /// `ALTER TABLE` statements that change the table in place: on SQLite
    /// `RENAME COLUMN` and `ADD COLUMN`; on PostgreSQL every change (a
    /// type, a NOT NULL, a default, a constraint, a dropped column), with
    /// the `UPDATE` that gives NULLs the default before a `SET NOT NULL`.
    AlterTable,
    /// SQLite's table rebuild (never on PostgreSQL), for what its `ALTER TABLE` cannot do: create the
    /// new table, copy the rows, drop the old one, rename the new one,
    /// recreate the indexes.
    RebuildTable,
    /// `DROP INDEX` and `CREATE INDEX`, the table itself unchanged.
    ChangeIndexes,
    /// `DROP TABLE`.
    DropTable,
}

/// One step of a plan: the changes to one table, the statements that make
/// them, and what they would do to its rows.
#[derive(Debug, Clone)]
pub struct MigrationStep {
    pub(super) kind: StepKind,
    pub(super) table: String,
    pub(super) changes: Vec<SchemaChange>,
    pub(super) sql: Vec<String>,
    pub(super) hazards: Vec<Hazard>,
    pub(super) probes: Vec<Probe>,
}

impl MigrationStep {
    /// How the step changes its table.
    pub fn kind(&self) -> StepKind {
        self.kind
    }

    /// The table, by the name it has when the step runs.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// What differs, in plain terms.
    pub fn changes(&self) -> &[SchemaChange] {
        &self.changes
    }

    /// The statements of the step, in order.
    pub fn sql(&self) -> &[String] {
        &self.sql
    }

    /// What the step would do to rows, as found when the plan was made.
    /// [`Database::apply`](crate::Database::apply) looks again before the
    /// step runs.
    pub fn hazards(&self) -> &[Hazard] {
        &self.hazards
    }
}

impl fmt::Display for MigrationStep {
    /// One line in plain words, such as
    /// ``rebuild table `orders`: add foreign key `user_id` -> `users` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = &self.table;
        let changes = || {
            self.changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        match self.kind {
            StepKind::CreateTable => write!(f, "create table `{table}`"),
            StepKind::DropTable => write!(f, "drop table `{table}`"),
            StepKind::RenameTable => match self.changes.first() {
                Some(SchemaChange::RenameTable { from }) => {
                    write!(f, "rename table `{from}` to `{table}`")
                }
                _ => write!(f, "rename table to `{table}`"),
            },
            StepKind::AlterTable => write!(f, "alter table `{table}`: {}", changes()),
            StepKind::RebuildTable => write!(
                f,
                "rebuild table `{table}` (ALTER TABLE cannot do this): {}",
                changes()
            ),
            StepKind::ChangeIndexes => write!(f, "change indexes of `{table}`: {}", changes()),
        }
    }
}

/// The changes that bring the database to the models, computed by
/// [`Database::migration_plan`](crate::Database::migration_plan) and run by
/// [`Database::apply`](crate::Database::apply).
///
/// Printing it (`Display`) shows the whole script as it will run, with a
/// comment in plain words before each step and a warning for each hazard.
#[derive(Debug, Clone)]
pub struct MigrationPlan {
    pub(super) steps: Vec<MigrationStep>,
    /// The schema's version when the plan was made: SQLite's `PRAGMA
    /// schema_version`, PostgreSQL's fingerprint of its catalogs.
    pub(super) schema_version: i64,
    /// The backend the plan is written for.
    pub(super) backend: Backend,
}

impl MigrationPlan {
    /// The steps, in the order they run.
    pub fn steps(&self) -> &[MigrationStep] {
        &self.steps
    }

    /// Whether the database already matches the models.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every hazard of every step: rows that a step would lose, change or
    /// has no value for.
    pub fn hazards(&self) -> impl Iterator<Item = &Hazard> {
        self.steps.iter().flat_map(|s| s.hazards.iter())
    }

    /// Every statement [`Database::apply`](crate::Database::apply) sends to
    /// change the schema, in order, with the ones that frame them (on
    /// SQLite foreign keys off, the transaction, the foreign key check; on
    /// PostgreSQL the transaction). Empty when there is nothing to do.
    /// Besides these, `apply` reads the schema's version (SQLite's `PRAGMA
    /// schema_version`, PostgreSQL's catalog fingerprint) and runs each
    /// hazard's `SELECT` before its step.
    pub fn sql(&self) -> Vec<String> {
        if self.is_empty() {
            return Vec::new();
        }
        let (opening, closing) = self.backend.migration_frame();
        opening
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.steps.iter().flat_map(|s| s.sql.iter().cloned()))
            .chain(closing.iter().map(|s| (*s).to_owned()))
            .collect()
    }

    /// The steps as a commented script without the framing statements: what
    /// a migration file holds (`apply` and `migrate` add the framing).
    pub(super) fn script(&self, out: &mut impl fmt::Write) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(out, "-- {}. {step}", i + 1)?;
            for hazard in step.hazards.iter().filter(|h| h.matters()) {
                let consent = if hazard.can_be_allowed() {
                    "needs Destructive::Allow"
                } else {
                    "cannot run as it is"
                };
                writeln!(out, "--    ! {hazard} ({consent})")?;
            }
            for statement in &step.sql {
                writeln!(out, "{statement};")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for MigrationPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "-- nothing to migrate: the database matches the models");
        }
        let (opening, closing) = self.backend.migration_frame();
        for statement in opening {
            writeln!(f, "{statement};")?;
        }
        self.script(f)?;
        for statement in closing {
            writeln!(f, "{statement};")?;
        }
        Ok(())
    }
}

/// Renames the user declares, so that a plan renames instead of dropping
/// one table or column and creating another. The plan never guesses a
/// rename from similar names.
///
/// A declared rename whose old name no longer exists is already done and
/// ignored, so the same `Renames` can stay in the code.
///
/// ```
/// let renames = orm::Renames::new()
///     .table("customers", "users")
///     .column("users", "fullname", "name"); // by the table's new name
/// # let _ = renames;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Renames {
    pub(super) tables: Vec<(String, String)>,
    pub(super) columns: Vec<(String, String, String)>,
}

impl Renames {
    /// No renames.
    pub fn new() -> Renames {
        Renames::default()
    }

    /// Declares that the table `from` is now the model's table `to`.
    pub fn table(mut self, from: &str, to: &str) -> Renames {
        self.tables.push((from.to_owned(), to.to_owned()));
        self
    }

    /// Declares that in `table` (the model's table name) the column `from`
    /// is now `to`.
    pub fn column(mut self, table: &str, from: &str, to: &str) -> Renames {
        self.columns
            .push((table.to_owned(), from.to_owned(), to.to_owned()));
        self
    }
}
