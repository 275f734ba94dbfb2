//! Hazards: what a migration step would do to the rows a table holds
//! (values lost, values changed, values it has no place for), found by
//! probes, read-only `SELECT`s that run when the plan is made and again
//! inside the migration's transaction, just before the step.
//!
//! Does not decide whether a step runs; `apply` does, from the hazard and
//! the caller's [`Destructive`](super::Destructive) choice.

use crate::backend::Backend;
use crate::backend::sqlite::migration;
use crate::error::{Hazard, HazardKind, Result};
use crate::schema::{LiveTable, RowKey};
use crate::sql::{Conn, quote, render};
use crate::value::Value;

/// How many blocking rows a hazard names; the count covers them all.
const SAMPLE: usize = 10;

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
    pub fn at_plan(&self, conn: &Conn) -> Result<Hazard> {
        let mut found = Found::default();
        if let Some(sql) = self.sql(&self.at_plan, conn.dialect()) {
            conn.query_quietly(&sql, &[], |row| {
                self.found(&mut found, &self.at_plan, row.lossy(0)?, row.lossy(1)?);
                Ok(())
            })?;
        }
        Ok(self.hazard(found))
    }

    /// Runs the probe inside the migration, echoed and recorded.
    pub fn at_apply(&self, conn: &Conn) -> Result<Hazard> {
        let mut found = Found::default();
        if let Some(sql) = self.sql(&self.at_apply, conn.dialect()) {
            conn.query(&sql, &[], &self.table, |row| {
                self.found(&mut found, &self.at_apply, row.lossy(0)?, row.lossy(1)?);
                Ok(())
            })?;
        }
        Ok(self.hazard(found))
    }

    /// Counts a row the query returned, if it is hit: the SQL cannot tell
    /// whether bytes are UTF-8, so that is checked here.
    fn found(&self, found: &mut Found, target: &Target, key: Value, value: Value) {
        let hit = match (&self.kind, &value) {
            (HazardKind::NotText { .. }, Value::Blob(bytes)) => std::str::from_utf8(bytes).is_err(),
            _ => true,
        };
        if hit {
            found.push(&target.key, key, value);
        }
    }

    fn hazard(&self, found: Found) -> Hazard {
        Hazard {
            table: self.table.clone(),
            kind: self.kind.clone(),
            count: found.count,
            rows: found.rows,
        }
    }

    /// `SELECT key, value FROM table WHERE <the row is hit>` in the
    /// backend's SQL, or `None` when the hazard is not about rows.
    fn sql(&self, target: &Target, backend: Backend) -> Option<String> {
        let table = quote(&target.table);
        let key = match backend {
            // PostgreSQL has no rowid; a row's place (`ctid`) names it
            // within the transaction, which is all a hazard needs.
            Backend::Postgres if target.key.expr == "rowid" => "ctid::text",
            _ => target.key.expr.as_str(),
        };
        let column = target.column.as_deref().map(quote).unwrap_or_default();
        Some(match &self.kind {
            HazardKind::DropTable | HazardKind::NoDefault { .. } => {
                format!("SELECT {key}, NULL FROM {table}")
            }
            HazardKind::DropColumn { .. } => {
                format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL")
            }
            HazardKind::NullInNotNull { .. } => {
                format!("SELECT {key}, NULL FROM {table} WHERE {column} IS NULL")
            }
            HazardKind::NarrowType { from, to, .. } => format!(
                "SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND NOT ({})",
                survives(backend, &column, from, to)
            ),
            // On PostgreSQL only a `BYTEA` column holds bytes, which come
            // back as such; `found` tells which are not UTF-8.
            HazardKind::NotText { .. } if backend == Backend::Postgres => {
                format!("SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL")
            }
            HazardKind::NotText { .. } => {
                format!("SELECT {key}, {column} FROM {table} WHERE typeof({column}) = 'blob'")
            }
            HazardKind::NotCarriedOver { .. } => return None,
        })
    }
}

/// SQL that is true when the value of `column` survives its change from
/// type `from` to `to` (see each backend's `survives`).
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
fn survives(backend: Backend, column: &str, from: &str, to: &str) -> String {
    #[cfg(feature = "postgres")]
    if backend == Backend::Postgres {
        return crate::backend::postgres::migration::survives(from, to).to_owned();
    }
    migration::survives(column, to)
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
