//! Running migrations: the frame every migration runs in (foreign keys off,
//! one transaction, `PRAGMA foreign_key_check` before `COMMIT`, foreign keys
//! back on), and the steps of a plan inside it, each after its hazard checks.
//!
//! `PRAGMA foreign_keys` cannot change inside a transaction, so it is set
//! before `BEGIN` and after `COMMIT`. A connection whose foreign keys cannot
//! be switched back on is closed instead of going back to the pool: every
//! pooled connection enforces foreign keys.

use std::fmt;

use crate::backend::sqlite::owned;
use crate::error::{Error, Misuse, Result};
use crate::sql::{Conn, quote, render};
use crate::value::RowExt;

use super::Destructive;
use super::live;
use super::plan::{CLOSING, MigrationPlan, MigrationStep, OPENING};

/// How many violating rows a foreign key check error names.
const SAMPLE: usize = 10;

/// Runs `work` in the migration frame: all of it is committed, or none.
/// Returns, beside the outcome, whether the connection may be pooled again
/// (its foreign keys are back on).
pub(super) fn in_migration<T>(
    conn: &Conn,
    work: impl FnOnce(&Conn) -> Result<T>,
) -> (Result<T>, bool) {
    let result = framed(conn, work);
    (result, foreign_keys_back_on(conn).is_ok())
}

fn framed<T>(conn: &Conn, work: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
    let [foreign_keys_off, begin] = OPENING;
    conn.control(foreign_keys_off)?;
    if foreign_keys_enabled(conn)? {
        return Err(Misuse::ForeignKeysStuck("off").into());
    }
    conn.control(begin)?;
    let outcome = work(conn).and_then(|value| {
        foreign_key_check(conn)?;
        conn.control(CLOSING[1])?;
        Ok(value)
    });
    if outcome.is_err() && !conn.raw().is_autocommit() {
        // Should ROLLBACK itself fail, the connection is not pooled again
        // (its foreign keys stay off), and closing it rolls back.
        let _ = conn.control("ROLLBACK");
    }
    outcome
}

fn foreign_keys_enabled(conn: &Conn) -> Result<bool> {
    Ok(conn
        .raw()
        .query_row("PRAGMA foreign_keys", [], |row| row.get::<_, bool>(0))?)
}

fn foreign_keys_back_on(conn: &Conn) -> Result<()> {
    conn.control(CLOSING[2])?;
    if foreign_keys_enabled(conn)? {
        Ok(())
    } else {
        Err(Misuse::ForeignKeysStuck("back on").into())
    }
}

/// Runs the plan's steps, inside the frame.
pub(super) fn run_plan(conn: &Conn, plan: &MigrationPlan, destructive: Destructive) -> Result<()> {
    let found = live::schema_version(conn.raw())?;
    if found != plan.schema_version {
        return Err(Error::StalePlan {
            planned: plan.schema_version,
            found,
        });
    }
    plan.steps
        .iter()
        .try_for_each(|step| run_step(conn, step, destructive))
}

/// Looks at the rows the step would touch, refuses if it must, then runs it.
fn run_step(conn: &Conn, step: &MigrationStep, destructive: Destructive) -> Result<()> {
    for probe in &step.probes {
        let hazard = probe.at_apply(conn)?;
        if !hazard.matters() {
            continue;
        }
        if !hazard.can_be_allowed() {
            return Err(Error::MigrationBlocked(Box::new(hazard)));
        }
        if destructive == Destructive::Refuse {
            return Err(Error::DestructiveMigration(Box::new(hazard)));
        }
    }
    for sql in &step.sql {
        conn.execute(sql, &[], &step.table)?;
    }
    Ok(())
}

/// One row `PRAGMA foreign_key_check` reports.
struct Violation {
    table: String,
    rowid: Option<i64>,
    parent: String,
    foreign_key: i64,
}

/// `PRAGMA foreign_key_check` over the whole database; the first foreign
/// key with violations becomes the error, naming its rows.
fn foreign_key_check(conn: &Conn) -> Result<()> {
    let mut violations = Vec::new();
    conn.query(CLOSING[0], &[], "", |row| {
        violations.push(Violation {
            table: row.get(0)?,
            rowid: row.get(1)?,
            parent: row.get(2)?,
            foreign_key: row.get(3)?,
        });
        Ok(())
    })?;
    let Some(first) = violations.first() else {
        return Ok(());
    };
    let rowids: Vec<Option<i64>> = violations
        .iter()
        .filter(|v| v.table == first.table && v.foreign_key == first.foreign_key)
        .map(|v| v.rowid)
        .collect();
    let column: String = conn.raw().query_row(
        "SELECT \"from\" FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq LIMIT 1",
        (&first.table, first.foreign_key),
        |row| row.get(0),
    )?;
    let key = live::read_table(conn.raw(), &first.table)?.row_key(true);
    let lookup = format!(
        "SELECT {}, {} FROM {} WHERE rowid = ?1",
        key.expr,
        quote(&column),
        quote(&first.table)
    );
    let mut rows = Vec::new();
    for rowid in rowids.iter().take(SAMPLE).flatten() {
        let (key_value, value) = conn.raw().query_row(&lookup, [rowid], |row| {
            Ok((owned(row.get(0)?), owned(row.get(1)?)))
        })?;
        rows.push(format!(
            "{} {}: {column} = {}",
            key.label,
            render(&key_value),
            render(&value)
        ));
    }
    Err(Error::ForeignKeyCheck(Box::new(ForeignKeyViolations {
        table: first.table.clone(),
        column,
        parent: first.parent.clone(),
        count: rowids.len(),
        rows,
    })))
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
