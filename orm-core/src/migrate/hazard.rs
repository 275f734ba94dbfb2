//! Hazards: what a migration step would do to the rows a table holds
//! (values lost, values changed, values it has no place for), found by
//! probes, read-only `SELECT`s that run when the plan is made and again
//! inside the migration's transaction, just before the step.
//!
//! Does not decide whether a step runs; `apply` does, from the hazard and
//! the caller's [`Destructive`](super::Destructive) choice.

use std::fmt;

use crate::backend::sqlite::owned;
use crate::error::Result;
use crate::sql::{Conn, quote, render};
use crate::value::RowExt;
use crate::value::Value;

use super::live::{LiveTable, RowKey};

/// How many blocking rows a hazard names; the count covers them all.
const SAMPLE: usize = 10;

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
    /// and back they differ (`'abc'` as INTEGER is `0`, `1.5` is `1`).
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
    /// Whether [`Destructive::Allow`](super::Destructive::Allow) lets the step
    /// run anyway. A missing default cannot be allowed: there is no value to
    /// write, so the model or the data has to change first.
    pub fn can_be_allowed(&self) -> bool {
        match &self.kind {
            HazardKind::DropTable
            | HazardKind::DropColumn { .. }
            | HazardKind::NarrowType { .. } => true,
            HazardKind::NullInNotNull { default, .. } => default.is_some(),
            HazardKind::NoDefault { .. } => false,
        }
    }

    /// Whether this hazard stops the step: drops always need consent (the
    /// table or column itself is lost); the others only when rows are hit.
    pub(super) fn matters(&self) -> bool {
        match self.kind {
            HazardKind::DropTable | HazardKind::DropColumn { .. } => true,
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
        }
    }
}

/// Where a probe looks: the names a table has at one moment.
#[derive(Debug, Clone)]
struct Target {
    table: String,
    column: Option<String>,
    key: RowKey,
}

/// A read-only check for one hazard, by the names the table has when the
/// plan is made and when the step runs (they differ when renames come first).
#[derive(Debug, Clone)]
pub(super) struct Probe {
    kind: HazardKind,
    table: String,
    at_plan: Target,
    at_apply: Target,
}

impl Probe {
    /// A probe of `kind` on `live`, about `column` (its name after renames).
    pub fn new(kind: HazardKind, live: &LiveTable, column: Option<&str>) -> Probe {
        let original = column.map(|name| {
            live.column(name)
                .map_or_else(|| name.to_owned(), |c| c.original.clone())
        });
        Probe {
            kind,
            table: live.name.clone(),
            at_plan: Target {
                table: live.original.clone(),
                column: original,
                key: live.row_key(false),
            },
            at_apply: Target {
                table: live.name.clone(),
                column: column.map(str::to_owned),
                key: live.row_key(true),
            },
        }
    }

    /// Runs the probe before anything was changed, unrecorded (planning).
    pub fn at_plan(&self, conn: &rusqlite::Connection) -> Result<Hazard> {
        let sql = self.sql(&self.at_plan);
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut found = Found::default();
        while let Some(row) = rows.next()? {
            found.push(&self.at_plan.key, owned(row.get(0)?), owned(row.get(1)?));
        }
        Ok(self.hazard(found))
    }

    /// Runs the probe inside the migration, echoed and recorded.
    pub fn at_apply(&self, conn: &Conn) -> Result<Hazard> {
        let sql = self.sql(&self.at_apply);
        let mut found = Found::default();
        conn.query(&sql, &[], &self.table, |row| {
            found.push(&self.at_apply.key, row.owned(0)?, row.owned(1)?);
            Ok(())
        })?;
        Ok(self.hazard(found))
    }

    fn hazard(&self, found: Found) -> Hazard {
        Hazard {
            table: self.table.clone(),
            kind: self.kind.clone(),
            count: found.count,
            rows: found.rows,
        }
    }

    /// `SELECT key, value FROM table WHERE <the row is hit>`.
    fn sql(&self, target: &Target) -> String {
        let table = quote(&target.table);
        let key = &target.key.expr;
        let column = target.column.as_deref().map(quote).unwrap_or_default();
        match &self.kind {
            HazardKind::DropTable | HazardKind::NoDefault { .. } => {
                format!("SELECT {key}, NULL FROM {table}")
            }
            HazardKind::DropColumn { .. } => {
                format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL")
            }
            HazardKind::NullInNotNull { .. } => {
                format!("SELECT {key}, NULL FROM {table} WHERE {column} IS NULL")
            }
            HazardKind::NarrowType { to, .. } => format!(
                "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND NOT ({})",
                survives(&column, to)
            ),
        }
    }
}

/// SQL that is true when the value of `column` survives conversion to `to`:
/// cast to the new type and back to its own storage class, it is unchanged.
/// `'12'` survives INTEGER, `'abc'` does not; `3` survives REAL and TEXT.
fn survives(column: &str, to: &str) -> String {
    let converted = format!("CAST({column} AS {to})");
    format!(
        "CASE typeof({column}) \
         WHEN 'integer' THEN CAST({converted} AS INTEGER) = {column} \
         WHEN 'real' THEN CAST({converted} AS REAL) = {column} \
         WHEN 'text' THEN CAST({converted} AS TEXT) = {column} \
         ELSE CAST({converted} AS BLOB) = {column} END"
    )
}

/// The rows a probe hit: a count and the first few, rendered.
#[derive(Default)]
struct Found {
    count: usize,
    rows: Vec<String>,
}

impl Found {
    fn push(&mut self, key: &RowKey, value_key: Value, value: Value) {
        self.count += 1;
        if self.rows.len() < SAMPLE {
            let row = format!("{} {}", key.label, render(&value_key));
            self.rows.push(match value {
                Value::Null => row,
                value => format!("{row}: {}", render(&value)),
            });
        }
    }
}
