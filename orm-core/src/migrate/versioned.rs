//! Versioned migrations: numbered SQL files a team keeps in its repository
//! (`migrations/0001_create_users.sql`, ...), written from plans, edited by
//! hand if need be, and applied in order, each recorded with its checksum in
//! the `orm_migrations` table so that it never runs twice and an edit made
//! after it ran is noticed.
//!
//! A file may end with a down section, the SQL that undoes it, after a line
//! that reads `-- down` (any case, spaces around it ignored):
//!
//! ```sql
//! ALTER TABLE "users" ADD COLUMN "email" TEXT;
//! -- down
//! ALTER TABLE "users" DROP COLUMN "email";
//! ```
//!
//! `migrate` runs only the part above the marker, the up part. The
//! checksum on record covers the whole file, down section included: the
//! down section `revert` runs is the one reviewed and applied with the up
//! part, and any edit after that is reported (a down section is written
//! before the file is applied, or in a new file). `revert` runs the down
//! section of the last applied file and deletes its history row.
//!
//! Does not compute plans (`diff`) or frame the transaction (`apply`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::backend::sqlite::introspect;
use crate::error::{Error, Misuse, Result};
use crate::sql::{Conn, Param, quote};
use crate::value::{RowExt, ValueRef};

use super::Destructive;
use super::apply::in_migration;
use super::plan::{MigrationPlan, MigrationStep, SchemaChange, StepKind};
use crate::backend::sqlite::tokens::{Kind, tokens};

mod transaction_control;

/// The table that records applied migration files; never part of a plan.
pub(super) const HISTORY_TABLE: &str = "orm_migrations";

/// The line that starts a file's down section.
const DOWN_MARKER: &str = "-- down";

/// A folder of numbered migration files.
///
/// ```
/// let migrations = orm::Migrations::new("migrations");
/// assert_eq!(migrations.dir(), std::path::Path::new("migrations"));
/// ```
#[derive(Debug, Clone)]
pub struct Migrations {
    dir: PathBuf,
}

/// One migration file: `0002_add_user_foreign_key.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// The number its name starts with; files run in this order.
    pub version: u32,
    /// The file name.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its whole text: the up part that [`Database::migrate`](crate::Database::migrate)
    /// runs as it is ([`MigrationFile::up`]), then the down section, if any
    /// ([`MigrationFile::down`]).
    pub sql: String,
}

/// Where a migration stands against a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationState {
    /// Not applied yet.
    Pending,
    /// Applied, and the file is as it was then.
    Applied,
    /// Applied, but the file changed since: the change never ran (it is
    /// reported, not re-run); write a new migration instead.
    Edited,
    /// Recorded as applied, but the file is gone from the folder.
    Missing,
}

/// A migration file (or a history record without one) and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Its version number.
    pub version: u32,
    /// Its file name.
    pub name: String,
    /// Where it stands.
    pub state: MigrationState,
}

/// What [`Database::migrate`](crate::Database::migrate) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// The files applied now, in order.
    pub applied: Vec<String>,
    /// Applied files changed since they ran (not run again).
    pub edited: Vec<String>,
}

impl Migrations {
    /// The folder `dir` (created by the first [`Migrations::generate`]).
    pub fn new(dir: impl AsRef<Path>) -> Migrations {
        Migrations {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The migration files, by version. A folder that does not exist holds none.
    ///
    /// # Errors
    /// [`Error::MigrationFile`] when the folder or a file cannot be read, a
    /// `.sql` file's name does not start with a version number, or two files
    /// share one.
    pub fn files(&self) -> Result<Vec<MigrationFile>> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let entries = fs::read_dir(&self.dir).map_err(|e| file_error(&self.dir, e))?;
        let mut files: Vec<MigrationFile> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| file_error(&self.dir, e))?.path();
            if path.extension().is_none_or(|ext| ext != "sql") {
                continue;
            }
            let file = read_file(path)?;
            if let Some(other) = files.iter().find(|f| f.version == file.version) {
                return Err(Error::MigrationFile {
                    file: file.name.clone(),
                    detail: format!("version {} is also `{}`", file.version, other.name),
                });
            }
            files.push(file);
        }
        files.sort_by_key(|f| f.version);
        Ok(files)
    }

    /// Writes `plan` as the next numbered file, named after `title`:
    /// its steps as SQL, each after a comment in plain words, then a down
    /// section that undoes them in reverse order where the inverse is
    /// known (a created table is dropped, a created index too, a renamed
    /// table renamed back) and, for every other step, a comment asking for
    /// the SQL that undoes it.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("orm-doc-generate-{}", std::process::id()));
    /// let db = Database::in_memory()?;
    /// let migrations = orm::Migrations::new(&dir);
    /// let plan = db.migration_plan::<User>(&orm::Renames::new())?;
    /// let file = migrations.generate(&plan, "create users", orm::Destructive::Refuse)?;
    /// assert_eq!(file.name, "0001_create_users.sql");
    /// assert!(file.up().contains(r#"CREATE TABLE "users""#));
    /// assert!(file.down().is_some_and(|down| down.contains(r#"DROP TABLE "users";"#)));
    /// # std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
    /// # Ok(()) }
    /// ```
    ///
    /// A plan whose steps would lose or change data is written only with
    /// [`Destructive::Allow`]; one that cannot run (a new NOT NULL column
    /// without a default over existing rows) is not written.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an empty plan; [`Error::DestructiveMigration`]
    /// and [`Error::MigrationBlocked`] as above; [`Error::MigrationFile`]
    /// when the folder cannot be read or the file written.
    pub fn generate(
        &self,
        plan: &MigrationPlan,
        title: &str,
        destructive: Destructive,
    ) -> Result<MigrationFile> {
        if plan.is_empty() {
            return Err(Misuse::NothingToMigrate.into());
        }
        for hazard in plan.hazards().filter(|h| h.matters()) {
            if !hazard.can_be_allowed() {
                return Err(Error::MigrationBlocked(Box::new(hazard.clone())));
            }
            if destructive == Destructive::Refuse {
                return Err(Error::DestructiveMigration(Box::new(hazard.clone())));
            }
        }
        let version = self.files()?.last().map_or(1, |f| f.version + 1);
        let name = format!("{version:04}_{}.sql", slug(title));
        let path = self.dir.join(&name);
        let sql = file_text(&name, plan);
        fs::create_dir_all(&self.dir).map_err(|e| file_error(&self.dir, e))?;
        fs::write(&path, &sql).map_err(|e| file_error(&path, e))?;
        Ok(MigrationFile {
            version,
            name,
            path,
            sql,
        })
    }
}

impl MigrationFile {
    /// The part that runs when the file is applied: the text above the
    /// `-- down` line, or all of it when there is none.
    ///
    /// ```
    /// let file = orm::MigrationFile {
    ///     version: 1,
    ///     name: "0001_add_email.sql".into(),
    ///     path: "migrations/0001_add_email.sql".into(),
    ///     sql: "ALTER TABLE users ADD COLUMN email TEXT;\n-- down\nALTER TABLE users DROP COLUMN email;\n".into(),
    /// };
    /// assert_eq!(file.up(), "ALTER TABLE users ADD COLUMN email TEXT;\n");
    /// assert_eq!(file.down(), Some("ALTER TABLE users DROP COLUMN email;\n"));
    /// ```
    pub fn up(&self) -> &str {
        self.sections().0
    }

    /// The down section: the text below the first line that reads
    /// `-- down` (in any case, spaces around it ignored), which
    /// [`Database::revert`](crate::Database::revert) runs. `None` when the
    /// file has no such line. See [`MigrationFile::up`] for an example.
    pub fn down(&self) -> Option<&str> {
        self.sections().1
    }

    fn sections(&self) -> (&str, Option<&str>) {
        let mut offset = 0;
        for line in self.sql.split_inclusive('\n') {
            if line.trim().eq_ignore_ascii_case(DOWN_MARKER) {
                return (&self.sql[..offset], Some(&self.sql[offset + line.len()..]));
            }
            offset += line.len();
        }
        (&self.sql, None)
    }

    /// The line of the file where the down section starts, counted from 1.
    fn down_line(&self) -> usize {
        self.up().matches('\n').count() + 2
    }

    /// A checksum of the whole text, down section included (FNV-1a, 64
    /// bits, in hex), with line endings made `\n` first so that a checkout
    /// on Windows is not an edit. Covering the down section means
    /// [`Database::revert`](crate::Database::revert) runs the one that was
    /// there when the file was applied. It notices edits; it is no defence
    /// against someone forging a file.
    ///
    /// ```
    /// let file = |sql: &str| orm::MigrationFile {
    ///     version: 1,
    ///     name: "0001_x.sql".into(),
    ///     path: "0001_x.sql".into(),
    ///     sql: sql.into(),
    /// };
    /// let up = "CREATE TABLE t (id INTEGER);\n";
    /// assert_eq!(file(up).checksum(), file(&up.replace('\n', "\r\n")).checksum());
    /// assert_ne!(file(up).checksum(), file(&format!("{up}-- down\nDROP TABLE t;\n")).checksum());
    /// ```
    pub fn checksum(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.replace("\r\n", "\n").bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

fn file_error(path: &Path, error: std::io::Error) -> Error {
    Error::MigrationFile {
        file: path.display().to_string(),
        detail: error.to_string(),
    }
}

fn read_file(path: PathBuf) -> Result<MigrationFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    let version = digits.parse::<u32>().map_err(|_| Error::MigrationFile {
        file: name.clone(),
        detail: "the name must start with a version number, such as `0001_create_users.sql`"
            .to_owned(),
    })?;
    let sql = fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
    Ok(MigrationFile {
        version,
        name,
        path,
        sql,
    })
}

/// `Add user foreign key!` becomes `add_user_foreign_key`.
fn slug(title: &str) -> String {
    let mut slug = String::new();
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        "migration".to_owned()
    } else {
        slug.to_owned()
    }
}

fn file_text(name: &str, plan: &MigrationPlan) -> String {
    let frame = match plan.backend {
        Backend::Sqlite => {
            "-- It runs inside one transaction with foreign keys off, checked by\n\
             -- PRAGMA foreign_key_check before COMMIT: no BEGIN or COMMIT here.\n"
        }
        Backend::Postgres => {
            "-- It runs inside one transaction, which a failing statement rolls\n\
             -- back whole: no BEGIN or COMMIT here.\n"
        }
    };
    let mut text = format!(
        "-- {name}\n\
         -- Generated by `orm` from the models. Edit it freely until it is applied;\n\
         -- after that its checksum (the down section's too) is on record, and an\n\
         -- edit is reported, not run.\n\
         {frame}\n"
    );
    // Writing to a String cannot fail.
    let _ = plan.script(&mut text);
    text.push_str(&down_text(plan));
    text
}

/// The down section of a generated file: each step undone, last first.
fn down_text(plan: &MigrationPlan) -> String {
    let mut text = format!(
        "\n{DOWN_MARKER}\n\
         -- `revert` runs this part, in one transaction, to undo the file while it\n\
         -- is the last one applied; it runs as it is, comments aside.\n"
    );
    let steps = plan.steps();
    for (i, step) in steps.iter().enumerate().rev() {
        text.push_str(&format!("-- {}. undo: {step}\n", i + 1));
        match inverse(step) {
            Some(sql) => text.push_str(&format!("{sql};\n")),
            None => text.push_str("-- (not known: write the SQL that undoes this step here)\n"),
        }
    }
    text
}

/// The statement that undoes `step`, where it needs nothing but the plan.
fn inverse(step: &MigrationStep) -> Option<String> {
    let table = quote(step.table());
    match (step.kind(), step.changes()) {
        (StepKind::CreateTable, _) => Some(format!("DROP TABLE {table}")),
        (StepKind::RenameTable, [SchemaChange::RenameTable { from }]) => {
            Some(format!("ALTER TABLE {table} RENAME TO {}", quote(from)))
        }
        (StepKind::ChangeIndexes, changes) => {
            let drops: Option<Vec<String>> = changes
                .iter()
                .map(|change| match change {
                    SchemaChange::CreateIndex { name, .. } => {
                        Some(format!("DROP INDEX {}", quote(name)))
                    }
                    _ => None,
                })
                .collect();
            drops.map(|drops| drops.join(";\n"))
        }
        _ => None,
    }
}

/// One row of the history table.
struct Applied {
    version: u32,
    name: String,
    checksum: String,
}

/// Whether the history table exists yet.
fn has_history(conn: &Conn) -> Result<bool> {
    #[cfg(feature = "postgres")]
    if let Some(mut client) = conn.postgres() {
        return crate::backend::postgres::table_exists(&mut client, HISTORY_TABLE);
    }
    introspect::table_exists(conn.sqlite("migrations")?, HISTORY_TABLE)
}

fn read_history(conn: &Conn) -> Result<Vec<Applied>> {
    if !has_history(conn)? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, name, checksum FROM {} ORDER BY version",
        quote(HISTORY_TABLE)
    );
    let mut rows = Vec::new();
    conn.query_quietly(&sql, &[], |row| {
        rows.push(Applied {
            version: row.get(0)?,
            name: row.get(1)?,
            checksum: row.get(2)?,
        });
        Ok(())
    })?;
    Ok(rows)
}

/// Each file's state against the history, then the records without a file.
fn statuses(files: &[MigrationFile], history: &[Applied]) -> Vec<MigrationStatus> {
    let mut statuses: Vec<MigrationStatus> = files
        .iter()
        .map(|file| {
            let state = match history.iter().find(|a| a.version == file.version) {
                None => MigrationState::Pending,
                Some(a) if a.checksum == file.checksum() => MigrationState::Applied,
                Some(_) => MigrationState::Edited,
            };
            MigrationStatus {
                version: file.version,
                name: file.name.clone(),
                state,
            }
        })
        .collect();
    for applied in history {
        if !files.iter().any(|f| f.version == applied.version) {
            statuses.push(MigrationStatus {
                version: applied.version,
                name: applied.name.clone(),
                state: MigrationState::Missing,
            });
        }
    }
    statuses.sort_by_key(|s| s.version);
    statuses
}

pub(super) fn status(conn: &Conn, migrations: &Migrations) -> Result<Vec<MigrationStatus>> {
    Ok(statuses(&migrations.files()?, &read_history(conn)?))
}

/// Applies the pending files; the flag says whether the connection may be
/// pooled again (as [`in_migration`]).
pub(super) fn migrate(conn: &Conn, migrations: &Migrations) -> (Result<MigrateReport>, bool) {
    match pending(conn, migrations) {
        Ok(Pending::Nothing(report)) => (Ok(report), true),
        Ok(Pending::Files(files, edited)) => {
            let (applied, reusable) = in_migration(conn, |conn| apply_files(conn, &files));
            (
                applied.map(|applied| MigrateReport { applied, edited }),
                reusable,
            )
        }
        Err(error) => (Err(error), true),
    }
}

/// What `migrate` finds to do.
enum Pending {
    /// Nothing pending: the report says so.
    Nothing(MigrateReport),
    /// The files not applied yet (read for transaction control), and
    /// those edited since they were applied.
    Files(Vec<MigrationFile>, Vec<String>),
}

fn pending(conn: &Conn, migrations: &Migrations) -> Result<Pending> {
    let files = migrations.files()?;
    let before = statuses(&files, &read_history(conn)?);
    let edited: Vec<String> = before
        .iter()
        .filter(|s| s.state == MigrationState::Edited)
        .map(|s| s.name.clone())
        .collect();
    let pending: Vec<MigrationFile> = files
        .into_iter()
        .filter(|file| {
            before
                .iter()
                .any(|s| s.version == file.version && s.state == MigrationState::Pending)
        })
        .collect();
    if pending.is_empty() {
        return Ok(Pending::Nothing(MigrateReport {
            applied: Vec::new(),
            edited,
        }));
    }
    for file in &pending {
        refuse_transaction_control(file, file.up(), 1, conn.dialect())?;
    }
    Ok(Pending::Files(pending, edited))
}

/// Each file runs inside the migration's transaction: a `COMMIT` of its
/// own would make the files before it permanent and leave them unrecorded.
/// `sql` is the part of `file` that will run, starting at line `first_line`.
fn refuse_transaction_control(
    file: &MigrationFile,
    sql: &str,
    first_line: usize,
    backend: Backend,
) -> Result<()> {
    match transaction_control::find(sql, backend) {
        Some(found) => Err(Error::MigrationTransactionControl {
            file: file.name.clone(),
            line: found.line + first_line - 1,
            keyword: found.keyword,
        }),
        None => Ok(()),
    }
}

/// Inside the migration's transaction: the history table, then each of
/// the pending `files` that is still not applied, recorded with its checksum.
fn apply_files(conn: &Conn, files: &[MigrationFile]) -> Result<Vec<String>> {
    conn.control(&format!(
        "CREATE TABLE IF NOT EXISTS {} (\n    \"version\" INTEGER PRIMARY KEY,\n    \"name\" TEXT NOT NULL,\n    \"checksum\" TEXT NOT NULL,\n    \"applied_at\" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP\n)",
        quote(HISTORY_TABLE)
    ))?;
    // Read again inside the transaction: another process may have
    // migrated since the look before it.
    let history = read_history(conn)?;
    let insert = conn.dialect().placeholders(format!(
        "INSERT INTO {} (\"version\", \"name\", \"checksum\") VALUES (?, ?, ?)",
        quote(HISTORY_TABLE)
    ));
    let mut applied = Vec::new();
    for file in files {
        if history.iter().any(|a| a.version == file.version) {
            continue;
        }
        conn.because(
            true,
            || format!("migration file {}", file.name),
            || conn.control(file.up()),
        )
        .map_err(|e| Error::MigrationFailed {
            file: file.name.clone(),
            source: Box::new(e),
        })?;
        let checksum = file.checksum();
        conn.execute(
            &insert,
            &[
                Param::new(ValueRef::Integer(i64::from(file.version)), "version"),
                Param::new(ValueRef::Text(&file.name), "name"),
                Param::new(ValueRef::Text(&checksum), "checksum"),
            ],
            HISTORY_TABLE,
        )?;
        applied.push(file.name.clone());
    }
    Ok(applied)
}

/// Reverts the last applied file; the flag says whether the connection
/// may be pooled again (as [`in_migration`]).
pub(super) fn revert(conn: &Conn, migrations: &Migrations) -> (Result<String>, bool) {
    match last_applied(conn, migrations) {
        Ok((file, down)) => in_migration(conn, |conn| revert_file(conn, &file, &down)),
        Err(error) => (Err(error), true),
    }
}

/// The last applied file, checked before anything runs: it is in the
/// folder, unchanged since it ran, and has a down section without
/// transaction control. Returns it with its down section.
fn last_applied(conn: &Conn, migrations: &Migrations) -> Result<(MigrationFile, String)> {
    let history = read_history(conn)?;
    let Some(last) = history.last() else {
        return Err(Error::NothingToRevert);
    };
    let file = migrations
        .files()?
        .into_iter()
        .find(|f| f.version == last.version)
        .ok_or_else(|| Error::MigrationFile {
            file: last.name.clone(),
            detail: "it is the last one applied, but it is gone from the folder, so its down section cannot be read".to_owned(),
        })?;
    if file.checksum() != last.checksum {
        return Err(Error::RevertEdited { file: file.name });
    }
    let Some(down) = file.down().filter(|down| holds_statement(down)) else {
        return Err(Error::NoDownSection { file: file.name });
    };
    refuse_transaction_control(&file, down, file.down_line(), conn.dialect())?;
    let down = down.to_owned();
    Ok((file, down))
}

/// Whether `sql` holds more than comments and semicolons: a down section
/// of placeholders only must not pass for a revert.
fn holds_statement(sql: &str) -> bool {
    tokens(sql).iter().any(|t| t.kind != Kind::Punct(';'))
}

/// Inside the migration's transaction: the down section, then the history
/// row goes.
fn revert_file(conn: &Conn, file: &MigrationFile, down: &str) -> Result<String> {
    // Read again inside the transaction: another process may have
    // migrated or reverted since the look before it.
    if read_history(conn)?.last().map(|a| a.version) != Some(file.version) {
        return Err(Error::MigrationFile {
            file: file.name.clone(),
            detail: "the history changed while it was being reverted (another process?); nothing was reverted, try again".to_owned(),
        });
    }
    conn.because(
        true,
        || format!("reverting migration file {}", file.name),
        || conn.control(down),
    )
    .map_err(|e| Error::RevertFailed {
        file: file.name.clone(),
        source: Box::new(e),
    })?;
    let delete = conn.dialect().placeholders(format!(
        "DELETE FROM {} WHERE \"version\" = ?",
        quote(HISTORY_TABLE)
    ));
    conn.execute(
        &delete,
        &[Param::new(
            ValueRef::Integer(i64::from(file.version)),
            "version",
        )],
        HISTORY_TABLE,
    )?;
    Ok(file.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_letters_and_digits_joined_by_underscores() {
        assert_eq!(slug("Add user foreign key!"), "add_user_foreign_key");
        assert_eq!(slug("  v2: orders.user_id  "), "v2_orders_user_id");
        assert_eq!(slug("!!!"), "migration");
    }

    fn file(sql: &str) -> MigrationFile {
        MigrationFile {
            version: 1,
            name: "0001_x.sql".into(),
            path: PathBuf::from("0001_x.sql"),
            sql: sql.into(),
        }
    }

    #[test]
    fn the_down_marker_splits_a_file_on_its_own_line_only() {
        let split = file("CREATE TABLE t (x);\n  -- DOWN \r\nDROP TABLE t;\n-- down\n");
        assert_eq!(split.up(), "CREATE TABLE t (x);\n");
        assert_eq!(split.down(), Some("DROP TABLE t;\n-- down\n"));
        assert_eq!(split.down_line(), 3);
        let inline = file("CREATE TABLE t (x); -- down\n-- downgrade later\n");
        assert_eq!(inline.up(), inline.sql);
        assert_eq!(inline.down(), None);
    }

    #[test]
    fn a_down_section_of_comments_holds_no_statement() {
        assert!(!holds_statement("-- write it here\n;\n/* nothing */\n"));
        assert!(holds_statement("-- undo\nDROP TABLE t;\n"));
    }

    #[test]
    fn checksum_ignores_line_endings_but_not_edits() {
        assert_eq!(
            file("SELECT 1;\nSELECT 2;\n").checksum(),
            file("SELECT 1;\r\nSELECT 2;\r\n").checksum()
        );
        assert_ne!(
            file("SELECT 1;\n").checksum(),
            file("SELECT 2;\n").checksum()
        );
    }
}
