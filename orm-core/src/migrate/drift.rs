//! Drift: how existing tables differ from their models, as `create_all`
//! reports it. A rendering of the migration plan's own comparison
//! (`diff`), read through the one reader of the live schema (`live`), so
//! the report and the plan that would fix it cannot disagree.

use std::fmt;

use rusqlite::Connection;

use crate::error::Result;
use crate::schema::TableDef;

use super::diff::{TableChanges, compare};
use super::live;
use super::plan::SchemaChange;

/// One way an existing table differs from its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The model has a column the table lacks.
    MissingColumn {
        /// Column name.
        column: String,
        /// Its SQL definition in the model.
        definition: String,
    },
    /// The table has a column the model does not declare.
    ExtraColumn {
        /// Column name.
        column: String,
    },
    /// The column's SQL type differs.
    TypeDiffers {
        /// Column name.
        column: String,
        /// Type in the model.
        model: String,
        /// Type in the database.
        database: String,
    },
    /// The column is NOT NULL in one and nullable in the other.
    NullabilityDiffers {
        /// Column name.
        column: String,
        /// Whether the model allows NULL.
        model_nullable: bool,
    },
    /// The primary key is on another column.
    PrimaryKeyDiffers {
        /// Primary key in the model.
        model: String,
    },
    /// The model declares a foreign key the table lacks.
    MissingForeignKey {
        /// The referencing column.
        column: String,
        /// The referenced table.
        target: String,
    },
    /// The model declares a `UNIQUE` column the table does not enforce.
    MissingUnique {
        /// Column name.
        column: String,
    },
    /// An index of the model's name exists but covers other columns, or
    /// differs in uniqueness.
    IndexDiffers {
        /// Index name.
        name: String,
        /// The index as the model declares it.
        model: String,
        /// The index as it exists.
        database: String,
    },
    /// The model declares an index the table lacks.
    MissingIndex {
        /// Index name.
        name: String,
        /// Its columns.
        columns: Vec<String>,
    },
    /// The column's `DEFAULT` differs.
    DefaultDiffers {
        /// Column name.
        column: String,
        /// The default in the model (SQL text), if any.
        model: Option<String>,
        /// The default in the database (SQL text), if any.
        database: Option<String>,
    },
    /// The table enforces `UNIQUE` on columns the model does not.
    ExtraUnique {
        /// The columns, comma-separated.
        columns: String,
    },
    /// The table has a foreign key the model does not declare, or one to
    /// another table or with another `ON DELETE` than the model's.
    ForeignKeyDiffers {
        /// The referencing column.
        column: String,
        /// The table the existing foreign key references.
        database: String,
    },
    /// The table has an index (made by `CREATE INDEX`) the model does not declare.
    ExtraIndex {
        /// Index name.
        name: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingColumn { column, definition } => {
                write!(f, "column `{column}` is missing (model: {definition})")
            }
            Difference::ExtraColumn { column } => {
                write!(f, "column `{column}` exists but no field maps it")
            }
            Difference::TypeDiffers {
                column,
                model,
                database,
            } => write!(
                f,
                "column `{column}` has type {database}, the model says {model}"
            ),
            Difference::NullabilityDiffers {
                column,
                model_nullable,
            } => {
                if *model_nullable {
                    write!(f, "column `{column}` is NOT NULL, the model allows NULL")
                } else {
                    write!(f, "column `{column}` allows NULL, the model says NOT NULL")
                }
            }
            Difference::PrimaryKeyDiffers { model } => {
                write!(f, "the primary key is not `{model}` as the model says")
            }
            Difference::MissingForeignKey { column, target } => write!(
                f,
                "column `{column}` has no foreign key to `{target}` (the model declares one)"
            ),
            Difference::MissingUnique { column } => {
                write!(f, "column `{column}` is not UNIQUE as the model says")
            }
            Difference::IndexDiffers {
                name,
                model,
                database,
            } => write!(f, "index `{name}` is on {database}, the model says {model}"),
            Difference::MissingIndex { name, columns } => {
                write!(f, "index `{name}` on ({}) is missing", columns.join(", "))
            }
            Difference::DefaultDiffers {
                column,
                model,
                database,
            } => write!(
                f,
                "column `{column}` has default {}, the model says {}",
                database.as_deref().unwrap_or("none"),
                model.as_deref().unwrap_or("none")
            ),
            Difference::ExtraUnique { columns } => {
                write!(f, "({columns}) is UNIQUE, the model does not say so")
            }
            Difference::ForeignKeyDiffers { column, database } => write!(
                f,
                "column `{column}` has a foreign key to `{database}` the model does not declare as it is"
            ),
            Difference::ExtraIndex { name } => {
                write!(
                    f,
                    "index `{name}` exists but the model declares no such index"
                )
            }
        }
    }
}

/// The differences found in one existing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDrift {
    /// Table name.
    pub table: String,
    /// What differs, in column order.
    pub differences: Vec<Difference>,
}

/// Every existing table that differs from its model. Empty when the
/// database matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftReport {
    /// One entry per table that differs.
    pub tables: Vec<TableDrift>,
}

impl DriftReport {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for table in &self.tables {
            writeln!(f, "table `{}`:", table.table)?;
            for difference in &table.differences {
                writeln!(f, "  - {difference}")?;
            }
        }
        Ok(())
    }
}

/// The drift of every table of `tables` that exists.
pub(crate) fn report(conn: &Connection, tables: &[&'static TableDef]) -> Result<DriftReport> {
    let names = live::table_names(conn)?;
    let mut report = DriftReport::default();
    for table in tables {
        let Some(name) = names.iter().find(|n| n.eq_ignore_ascii_case(table.name)) else {
            continue;
        };
        let live = live::read_table(conn, name)?;
        let differences = differences(&compare(table, &live));
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
fn differences(changes: &TableChanges) -> Vec<Difference> {
    let mut found: Vec<Difference> = changes
        .added
        .iter()
        .map(|column| Difference::MissingColumn {
            column: column.name.to_owned(),
            definition: column.definition(),
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
