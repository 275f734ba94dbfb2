//! Running migrations: the frame every migration runs in, and the steps of
//! a plan inside it, each after its hazard checks. On SQLite the frame is
//! foreign keys off, one transaction, `PRAGMA foreign_key_check` before
//! `COMMIT`, foreign keys back on; on PostgreSQL, whose DDL is
//! transactional and checks each constraint as it is added, it is `BEGIN`
//! and `COMMIT`, a failing statement rolling everything back.
//!
//! SQLite's `PRAGMA foreign_keys` cannot change inside a transaction, so it is set
//! before `BEGIN` and after `COMMIT`. A connection whose foreign keys cannot
//! be switched back on is closed instead of going back to the pool: every
//! pooled connection enforces foreign keys.

use crate::backend::Backend;
use crate::backend::sqlite::introspect;
use crate::backend::sqlite::migration::{CLOSING, OPENING};
use crate::error::{Error, ForeignKeyViolations, Misuse, Result};
use crate::sql::{Conn, Param, quote, render};
use crate::value::{RowExt, ValueRef};

use super::Destructive;
use super::plan::{MigrationPlan, MigrationStep, StepKind};

/// How many violating rows a foreign key check error names.
const SAMPLE: usize = 10;

/// Runs `work` in the migration frame: all of it is committed, or none.
/// Returns, beside the outcome, whether the connection may be pooled again
/// (its foreign keys are back on).
pub(super) fn in_migration<T>(
    conn: &Conn,
    work: impl FnOnce(&Conn) -> Result<T>,
) -> (Result<T>, bool) {
    conn.because(
        true,
        || "migration".to_owned(),
        || {
            if conn.dialect() == Backend::Postgres {
                return (transactional(conn, work), true);
            }
            let result = framed(conn, work);
            (result, foreign_keys_back_on(conn).is_ok())
        },
    )
}

fn framed<T>(conn: &Conn, work: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
    let [foreign_keys_off, begin] = OPENING;
    conn.control(foreign_keys_off)?;
    if introspect::foreign_keys_enabled(conn.sqlite("migrations")?)? {
        return Err(Misuse::ForeignKeysStuck("off").into());
    }
    conn.control(begin)?;
    let outcome = work(conn).and_then(|value| {
        foreign_key_check(conn)?;
        conn.control(CLOSING[1])?;
        Ok(value)
    });
    if outcome.is_err() && conn.in_transaction() {
        // Should ROLLBACK itself fail, the connection is not pooled again
        // (its foreign keys stay off), and closing it rolls back.
        let _ = conn.control("ROLLBACK");
    }
    outcome
}

/// PostgreSQL's frame: one transaction, rolled back when anything fails.
/// A connection whose `ROLLBACK` fails is discarded when it goes back to
/// the pool, as any other.
fn transactional<T>(conn: &Conn, work: impl FnOnce(&Conn) -> Result<T>) -> Result<T> {
    conn.begin()?;
    let outcome = work(conn).and_then(|value| {
        conn.control("COMMIT")?;
        Ok(value)
    });
    if outcome.is_err() && conn.in_transaction() {
        let _ = conn.control("ROLLBACK");
    }
    #[cfg(feature = "postgres")]
    if let Some(mut client) = conn.postgres() {
        // The statements prepared before may read tables changed since.
        client.forget_statements();
    }
    outcome
}

fn foreign_keys_back_on(conn: &Conn) -> Result<()> {
    conn.control(CLOSING[2])?;
    if introspect::foreign_keys_enabled(conn.sqlite("migrations")?)? {
        Ok(())
    } else {
        Err(Misuse::ForeignKeysStuck("back on").into())
    }
}

/// Runs the plan's steps, inside the frame.
pub(super) fn run_plan(conn: &Conn, plan: &MigrationPlan, destructive: Destructive) -> Result<()> {
    let found = super::schema_version(conn)?;
    if found != plan.schema_version {
        return Err(Error::StalePlan {
            planned: plan.schema_version,
            found,
        });
    }
    plan.steps.iter().enumerate().try_for_each(|(i, step)| {
        conn.because(
            true,
            || step_cause(i + 1, step),
            || run_step(conn, step, destructive),
        )
    })
}

/// `"migration step 3: rebuild orders to add foreign key ..."`: the step's
/// number, what it does to its table and, where it changes one, what for.
fn step_cause(number: usize, step: &MigrationStep) -> String {
    let cause = format!(
        "migration step {number}: {} {}",
        step_verb(step.kind),
        step.table
    );
    match step.kind {
        StepKind::AlterTable | StepKind::RebuildTable | StepKind::ChangeIndexes => {
            let changes: Vec<String> = step.changes.iter().map(ToString::to_string).collect();
            format!("{cause} to {}", changes.join(", "))
        }
        StepKind::CreateTable | StepKind::RenameTable | StepKind::DropTable => cause,
    }
}

/// How a step's cause names what it does to its table.
fn step_verb(kind: StepKind) -> &'static str {
    match kind {
        StepKind::CreateTable => "create",
        StepKind::RenameTable => "rename",
        StepKind::AlterTable => "alter",
        StepKind::RebuildTable => "rebuild",
        StepKind::ChangeIndexes => "change the indexes of",
        StepKind::DropTable => "drop",
    }
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
    let column = introspect::foreign_key_column(
        conn.sqlite("migrations")?,
        &first.table,
        first.foreign_key,
    )?;
    let key = introspect::read_table(conn.sqlite("migrations")?, &first.table)?.row_key(true);
    let lookup = format!(
        "SELECT {}, {} FROM {} WHERE rowid = ?1",
        key.expr,
        quote(&column),
        quote(&first.table)
    );
    let mut rows = Vec::new();
    for rowid in rowids.iter().take(SAMPLE).flatten() {
        conn.query_quietly(
            &lookup,
            &[Param::new(ValueRef::Integer(*rowid), "rowid")],
            |row| {
                rows.push(format!(
                    "{} {}: {column} = {}",
                    key.label,
                    render(&row.lossy(0)?),
                    render(&row.lossy(1)?)
                ));
                Ok(())
            },
        )?;
    }
    Err(Error::ForeignKeyCheck(Box::new(ForeignKeyViolations {
        table: first.table.clone(),
        column,
        parent: first.parent.clone(),
        count: rowids.len(),
        rows,
    })))
}
