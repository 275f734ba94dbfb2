//! The reports that migration errors carry, and that `Database::drift` and
//! migration plans return: how tables differ from their models, what a
//! step would do to stored rows, which rows break a foreign key. Plain
//! values with their messages; `migrate` finds and fills them.

use std::fmt;

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

/// What a step would do to stored data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HazardKind {
    /// Dropping the table deletes every row it holds.
    DropTable,
    /// Dropping the column loses the values it holds.
    DropColumn {
        /// The column dropped.
        column: String,
    },
    /// Values of the column do not survive the new type: converted to it
    /// and back they differ (`'abc'` as INTEGER is `0`, `1.5` is `1`). On
    /// PostgreSQL, which cannot test a conversion without making it, every
    /// non-NULL value of a change that is not a widening one (a wider
    /// integer, `REAL` to `DOUBLE PRECISION`, anything but `BYTEA` to
    /// `TEXT`) counts; a value the cast cannot convert fails the migration.
    NarrowType {
        /// The column whose type changes.
        column: String,
        /// Its type in the database.
        from: String,
        /// Its type in the model.
        to: String,
    },
    /// The column becomes NOT NULL while rows hold NULL in it. With a
    /// default, the migration can replace them; without, it cannot run.
    NullInNotNull {
        /// The column.
        column: String,
        /// The model's default for it, if any.
        default: Option<String>,
    },
    /// A new NOT NULL column without a default, in a table that has rows:
    /// there is no value to give them.
    NoDefault {
        /// The new column.
        column: String,
    },
    /// The column becomes text while rows hold bytes that are not UTF-8:
    /// they could not be read back as text.
    NotText {
        /// The column whose type changes.
        column: String,
        /// Its type in the database.
        from: String,
        /// Its type in the model.
        to: String,
    },
    /// A table rebuild cannot make something of the table again (a
    /// trigger, a view, a CHECK constraint that reads a column the rebuild
    /// drops); with consent, it goes.
    NotCarriedOver {
        /// What: "trigger `audit_users`", "CHECK (length(name) > 0)".
        what: String,
        /// Why: "it reads `name`, which the rebuild drops".
        reason: String,
    },
}

/// A step's effect on the rows of one table: which rows, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hazard {
    /// The table, by the name it has when the step runs.
    pub table: String,
    /// What the step would do.
    pub kind: HazardKind,
    /// How many rows are affected.
    pub count: usize,
    /// The first affected rows, each as its key and, where it matters, the
    /// value at stake: `id 3: 'abc'`.
    pub rows: Vec<String>,
}

impl Hazard {
    /// Whether [`Destructive::Allow`](crate::Destructive::Allow) lets the step
    /// run anyway. A missing default cannot be allowed: there is no value to
    /// write, so the model or the data has to change first.
    pub fn can_be_allowed(&self) -> bool {
        match &self.kind {
            HazardKind::DropTable
            | HazardKind::DropColumn { .. }
            | HazardKind::NarrowType { .. }
            | HazardKind::NotCarriedOver { .. } => true,
            HazardKind::NullInNotNull { default, .. } => default.is_some(),
            HazardKind::NoDefault { .. } | HazardKind::NotText { .. } => false,
        }
    }

    /// Whether this hazard stops the step: drops always need consent (the
    /// table, column, trigger or view itself is lost); the others only when
    /// rows are hit.
    pub(crate) fn matters(&self) -> bool {
        match self.kind {
            HazardKind::DropTable
            | HazardKind::DropColumn { .. }
            | HazardKind::NotCarriedOver { .. } => true,
            _ => self.count > 0,
        }
    }

    fn rows_text(&self) -> String {
        let mut text = self.rows.join(", ");
        if self.count > self.rows.len() {
            text.push_str(&format!(", and {} more", self.count - self.rows.len()));
        }
        text
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = &self.table;
        let rows = plural(self.count, "row", "rows");
        match &self.kind {
            HazardKind::DropTable if self.count == 0 => {
                write!(f, "dropping table `{table}` (it has no rows)")
            }
            HazardKind::DropTable => write!(
                f,
                "dropping table `{table}` deletes its {rows} ({})",
                self.rows_text()
            ),
            HazardKind::DropColumn { column } if self.count == 0 => {
                write!(
                    f,
                    "dropping column `{table}`.`{column}` (it holds no values)"
                )
            }
            HazardKind::DropColumn { column } => write!(
                f,
                "dropping column `{table}`.`{column}` loses its values in {rows} ({})",
                self.rows_text()
            ),
            HazardKind::NarrowType { column, from, to } => write!(
                f,
                "changing `{table}`.`{column}` from {from} to {to} changes the values of {rows} ({})",
                self.rows_text()
            ),
            HazardKind::NullInNotNull {
                column,
                default: Some(default),
            } => write!(
                f,
                "making `{table}`.`{column}` NOT NULL replaces NULL with its default {default} in {rows} ({})",
                self.rows_text()
            ),
            HazardKind::NullInNotNull {
                column,
                default: None,
            } => write!(
                f,
                "`{table}`.`{column}` cannot become NOT NULL: {rows} hold NULL ({}); give the column a default or fill them first",
                self.rows_text()
            ),
            HazardKind::NoDefault { column } => write!(
                f,
                "the new NOT NULL column `{table}`.`{column}` has no default for the {rows} already there ({}); declare one, such as #[orm(default = \"0\")]",
                self.rows_text()
            ),
            HazardKind::NotText { column, from, to } => write!(
                f,
                "changing `{table}`.`{column}` from {from} to {to} leaves {rows} holding bytes that are not UTF-8 ({}), which could not be read back as text; convert or delete them first",
                self.rows_text()
            ),
            HazardKind::NotCarriedOver { what, reason } => write!(
                f,
                "rebuilding `{table}` cannot keep {what}: {reason}; allowed, the migration drops it"
            ),
        }
    }
}

/// Rows whose foreign key matches no row, found by `PRAGMA foreign_key_check`
/// at the end of a migration (the first foreign key with any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyViolations {
    /// The table holding the rows.
    pub table: String,
    /// Their foreign key column.
    pub column: String,
    /// The table it references.
    pub parent: String,
    /// How many rows violate it.
    pub count: usize,
    /// The first of them, as key and value: `id 3: user_id = 99`.
    pub rows: Vec<String>,
}

impl fmt::Display for ForeignKeyViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} row{} of `{}` {} a `{}` matching no row of `{}`: {}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.table,
            if self.count == 1 { "has" } else { "have" },
            self.column,
            self.parent,
            self.rows.join(", ")
        )?;
        if self.count > self.rows.len() {
            write!(f, ", and {} more", self.count - self.rows.len())?;
        }
        Ok(())
    }
}
