//! Versioned migrations: numbered SQL files a team keeps in its repository
//! (`migrations/0001_create_users.sql`, ...), written from plans, edited by
//! hand if need be, and applied in order, each recorded with its checksum in
//! the `orm_migrations` table so that it never runs twice and an edit made
//! after it ran is noticed.
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
use super::plan::MigrationPlan;

mod transaction_control;

/// The table that records applied migration files; never part of a plan.
pub(super) const HISTORY_TABLE: &str = "orm_migrations";

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
    /// Its text, run as it is.
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
    /// its steps as SQL, each after a comment in plain words.
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
    /// A checksum of the text (FNV-1a, 64 bits, in hex), with line endings
    /// made `\n` first so that a checkout on Windows is not an edit. It
    /// notices edits; it is no defence against someone forging a file.
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
         -- after that its checksum is on record, and an edit is reported, not run.\n\
         {frame}\n"
    );
    // Writing to a String cannot fail.
    let _ = plan.script(&mut text);
    text
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
        refuse_transaction_control(file, conn.dialect())?;
    }
    Ok(Pending::Files(pending, edited))
}

/// Each file runs inside the migration's transaction: a `COMMIT` of its
/// own would make the files before it permanent and leave them unrecorded.
fn refuse_transaction_control(file: &MigrationFile, backend: Backend) -> Result<()> {
    match transaction_control::find(&file.sql, backend) {
        Some(found) => Err(Error::MigrationTransactionControl {
            file: file.name.clone(),
            line: found.line,
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
            || conn.control(&file.sql),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_letters_and_digits_joined_by_underscores() {
        assert_eq!(slug("Add user foreign key!"), "add_user_foreign_key");
        assert_eq!(slug("  v2: orders.user_id  "), "v2_orders_user_id");
        assert_eq!(slug("!!!"), "migration");
    }

    #[test]
    fn checksum_ignores_line_endings_but_not_edits() {
        let file = |sql: &str| MigrationFile {
            version: 1,
            name: "0001_x.sql".into(),
            path: PathBuf::from("0001_x.sql"),
            sql: sql.into(),
        };
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
