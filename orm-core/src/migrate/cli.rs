//! The migration command line as a library function (feature `cli`, on by
//! default): a project's `src/bin/migrate.rs` names its models, and
//! `cargo run --bin migrate -- status` works.
//!
//! ```no_run
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "users")]
//! pub struct User {
//!     #[orm(primary_key)]
//!     pub id: i64,
//!     pub name: String,
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     orm::migration_cli::main::<User>() // a tuple for more: <(User, Order)>
//! }
//! ```
//!
//! | command | what it does | exit code |
//! |---|---|---|
//! | `status` | each file and its state, and whether the database matches the models | 0 |
//! | `plan` | what the models need, as the SQL that would run | 0 |
//! | `generate TITLE` | writes the plan as the next numbered file, with a down section; `--allow-destructive` to write one that drops or converts data | 1 when files are pending or the plan is refused |
//! | `apply` | the pending files, in order, in one transaction | 0 |
//! | `check` | for CI: nothing pending, edited or missing, and the database matches the models | 1 otherwise, naming each problem |
//! | `revert` | undoes the last applied file by its down section, in one transaction | 0 |
//!
//! Options: `--db URL_OR_PATH`, a SQLite file or a `postgresql://` URL
//! (default `app.db`, or the `DATABASE_URL` variable); `--dir DIR`, the
//! folder of files (default `migrations`); `--rename-table OLD=NEW` and
//! `--rename-column TABLE.OLD=NEW` (by the table's new name), repeatable,
//! so that a plan renames instead of dropping and adding (it never guesses
//! a rename). An error of the database or of a file exits with 1 and a
//! line saying what went wrong; a mistake on the command line exits with
//! 2 and the usage.
//!
//! Owns the parsing and the printing only: each command is one call of
//! [`Database`] or [`Migrations`].

use std::ffi::OsString;
use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::database::Database;
use crate::error::{Error, Result};
use crate::schema::ModelSet;

use super::versioned::{MigrationState, MigrationStatus, Migrations};
use super::{Destructive, Renames};

/// Versioned migrations of the models: status, plan, generate, apply,
/// check, revert.
#[derive(Debug, Parser)]
#[command(name = "migrate")]
struct Cli {
    /// The database: a SQLite file or a `postgresql://` URL.
    #[arg(
        long,
        value_name = "URL_OR_PATH",
        env = "DATABASE_URL",
        default_value = "app.db",
        global = true
    )]
    db: String,
    /// The folder of migration files.
    #[arg(long, value_name = "DIR", default_value = "migrations", global = true)]
    dir: PathBuf,
    /// A table renamed, so that the plan renames it instead of dropping it.
    #[arg(long = "rename-table", value_name = "OLD=NEW", value_parser = table_rename, global = true)]
    rename_tables: Vec<(String, String)>,
    /// A column renamed (by its table's new name), so that the plan
    /// renames it instead of dropping it.
    #[arg(long = "rename-column", value_name = "TABLE.OLD=NEW", value_parser = column_rename, global = true)]
    rename_columns: Vec<(String, String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Each migration file and its state, and whether the database matches
    /// the models.
    Status,
    /// What the models need, as the SQL that would run.
    Plan,
    /// Write the plan as the next numbered file, with a down section.
    Generate {
        /// The file's title: `add user email` writes `0002_add_user_email.sql`.
        #[arg(required = true)]
        title: Vec<String>,
        /// Write a plan that drops or converts stored data.
        #[arg(long)]
        allow_destructive: bool,
    },
    /// Apply the pending files, in order, in one transaction.
    Apply,
    /// For CI: exit with 1 when files are pending, edited or missing, or
    /// the database differs from the models.
    Check,
    /// Undo the last applied file by its down section, in one transaction.
    Revert,
}

/// Runs the command line of [`std::env::args`] for the models `S` and
/// returns the exit code: what a program's `main` returns. Prints to
/// stdout; errors go to stderr as `error: ...`.
///
/// ```no_run
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # #[orm(table = "users")]
/// # pub struct User { #[orm(primary_key)] pub id: i64, pub name: String }
/// fn main() -> std::process::ExitCode {
///     orm::migration_cli::main::<User>()
/// }
/// ```
pub fn main<S: ModelSet>() -> ExitCode {
    // A mistake on the command line prints the usage and exits with 2,
    // clap's convention; `--help` prints it and exits with 0.
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    match execute::<S>(&cli, &mut stdout.lock()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line `args` for the models `S`, printing to `out`, and
/// returns the exit code: [`main`] without a process, for tests and for
/// programs of their own. The first argument is the program's name, as in
/// [`std::env::args`]. A mistake on the command line prints the usage to
/// `out` and returns 2.
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # #[orm(table = "users")]
/// # pub struct User { #[orm(primary_key)] pub id: i64, pub name: String }
/// # fn main() -> orm::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("orm-doc-cli-run-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).expect("a temp dir");
/// let db = dir.join("app.db").display().to_string();
/// let files = dir.join("migrations").display().to_string();
/// let migrate = |command: &[&str]| -> orm::Result<(std::process::ExitCode, String)> {
///     let mut out = Vec::new();
///     let options = ["migrate", "--db", &db, "--dir", &files];
///     let args = options.iter().chain(command);
///     let code = orm::migration_cli::run::<User>(args, &mut out)?;
///     Ok((code, String::from_utf8_lossy(&out).into_owned()))
/// };
///
/// let (code, out) = migrate(&["check"])?;
/// assert_eq!(code, std::process::ExitCode::from(1)); // `users` is missing
/// assert!(out.contains("the database differs from the models"), "{out}");
///
/// migrate(&["generate", "create users"])?;
/// migrate(&["apply"])?;
/// let (code, out) = migrate(&["check"])?;
/// assert_eq!(code, std::process::ExitCode::SUCCESS, "{out}");
/// # std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
/// # Ok(()) }
/// ```
///
/// # Errors
/// What the command's call returns: [`Error::Sqlite`] (or
/// `Error::Postgres`, [`Error::Connect`]) when the database cannot be
/// opened or read; [`Error::MigrationFile`] for a folder or file that
/// cannot be read or written; the errors of [`Database::migrate`] for
/// `apply` and of [`Database::revert`] for `revert`; [`Error::Output`] when
/// `out` cannot be written.
pub fn run<S: ModelSet>(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(usage) => {
            write!(out, "{}", usage.render()).map_err(Error::Output)?;
            return Ok(if usage.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            });
        }
    };
    execute::<S>(&cli, out)
}

/// `OLD=NEW`.
fn table_rename(arg: &str) -> std::result::Result<(String, String), String> {
    match arg.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_owned(), to.to_owned()))
        }
        _ => Err(format!("`{arg}` is not OLD=NEW, such as `customers=users`")),
    }
}

/// `TABLE.OLD=NEW`.
fn column_rename(arg: &str) -> std::result::Result<(String, String, String), String> {
    let parsed = arg.split_once('=').and_then(|(left, to)| {
        let (table, from) = left.split_once('.')?;
        Some((table, from, to))
    });
    match parsed {
        Some((table, from, to)) if !table.is_empty() && !from.is_empty() && !to.is_empty() => {
            Ok((table.to_owned(), from.to_owned(), to.to_owned()))
        }
        _ => Err(format!(
            "`{arg}` is not TABLE.OLD=NEW, such as `users.fullname=name`"
        )),
    }
}

impl Cli {
    fn renames(&self) -> Renames {
        let tables = self
            .rename_tables
            .iter()
            .fold(Renames::new(), |renames, (from, to)| {
                renames.table(from, to)
            });
        self.rename_columns
            .iter()
            .fold(tables, |renames, (table, from, to)| {
                renames.column(table, from, to)
            })
    }
}

fn execute<S: ModelSet>(cli: &Cli, out: &mut impl Write) -> Result<ExitCode> {
    let db = Database::open(&cli.db)?;
    let mut command = Context {
        db: &db,
        migrations: Migrations::new(&cli.dir),
        renames: cli.renames(),
        out,
    };
    match &cli.command {
        Command::Status => command.status::<S>(),
        Command::Plan => command.plan::<S>(),
        Command::Generate {
            title,
            allow_destructive,
        } => {
            let destructive = if *allow_destructive {
                Destructive::Allow
            } else {
                Destructive::Refuse
            };
            command.generate::<S>(&title.join(" "), destructive)
        }
        Command::Apply => command.apply(),
        Command::Check => command.check::<S>(),
        Command::Revert => command.revert(),
    }
}

/// What every command works with.
struct Context<'a, W: Write> {
    db: &'a Database,
    migrations: Migrations,
    renames: Renames,
    out: &'a mut W,
}

impl<W: Write> Context<'_, W> {
    fn line(&mut self, text: impl Display) -> Result<()> {
        writeln!(self.out, "{text}").map_err(Error::Output)
    }

    fn pending(&self) -> Result<Vec<MigrationStatus>> {
        let mut statuses = self.db.migration_status(&self.migrations)?;
        statuses.retain(|s| s.state == MigrationState::Pending);
        Ok(statuses)
    }

    fn status<S: ModelSet>(&mut self) -> Result<ExitCode> {
        let statuses = self.db.migration_status(&self.migrations)?;
        if statuses.is_empty() {
            let dir = self.migrations.dir().display().to_string();
            self.line(format_args!("no migration files in {dir}"))?;
        }
        for status in &statuses {
            let state = match status.state {
                MigrationState::Pending => "pending",
                MigrationState::Applied => "applied",
                MigrationState::Edited => "applied, EDITED since (the edit did not run)",
                MigrationState::Missing => "applied, file MISSING",
            };
            self.line(format_args!("{:<40} {state}", status.name))?;
        }
        let steps = self.db.migration_plan::<S>(&self.renames)?.steps().len();
        if steps == 0 {
            self.line("the database matches the models")?;
        } else {
            self.line(format_args!(
                "the database differs from the models in {steps} step(s): see `plan`"
            ))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    fn plan<S: ModelSet>(&mut self) -> Result<ExitCode> {
        let pending = self.pending()?.len();
        if pending > 0 {
            self.line(format_args!(
                "-- note: {pending} migration file(s) are pending; `apply` them first"
            ))?;
        }
        let plan = self.db.migration_plan::<S>(&self.renames)?;
        write!(self.out, "{plan}").map_err(Error::Output)?;
        Ok(ExitCode::SUCCESS)
    }

    fn generate<S: ModelSet>(&mut self, title: &str, destructive: Destructive) -> Result<ExitCode> {
        // A plan made before the pending files ran would repeat them.
        let pending = self.pending()?;
        if !pending.is_empty() {
            let names: Vec<&str> = pending.iter().map(|s| s.name.as_str()).collect();
            self.line(format_args!(
                "not generated: {} migration file(s) are pending ({}); `apply` them first, so that the plan starts from them",
                names.len(),
                names.join(", ")
            ))?;
            return Ok(ExitCode::FAILURE);
        }
        let plan = self.db.migration_plan::<S>(&self.renames)?;
        if plan.is_empty() {
            self.line("nothing to generate: the database matches the models")?;
            return Ok(ExitCode::SUCCESS);
        }
        match self.migrations.generate(&plan, title, destructive) {
            Ok(file) => {
                let path = file.path.display().to_string();
                self.line(format_args!("wrote {path}"))?;
                Ok(ExitCode::SUCCESS)
            }
            Err(Error::DestructiveMigration(hazard)) => {
                self.line(format_args!(
                    "not generated: {hazard}; pass --allow-destructive to write it"
                ))?;
                Ok(ExitCode::FAILURE)
            }
            Err(error) => Err(error),
        }
    }

    fn apply(&mut self) -> Result<ExitCode> {
        let report = self.db.migrate(&self.migrations)?;
        for name in &report.edited {
            self.line(format_args!(
                "warning: {name} was edited after it was applied; the edit did not run"
            ))?;
        }
        if report.applied.is_empty() {
            self.line("nothing to apply")?;
        }
        for name in &report.applied {
            self.line(format_args!("applied {name}"))?;
        }
        Ok(ExitCode::SUCCESS)
    }

    fn check<S: ModelSet>(&mut self) -> Result<ExitCode> {
        let mut problems = Vec::new();
        let mut applied = 0;
        for status in self.db.migration_status(&self.migrations)? {
            let name = &status.name;
            match status.state {
                MigrationState::Applied => applied += 1,
                MigrationState::Pending => problems.push(format!("{name} is pending")),
                MigrationState::Edited => problems.push(format!(
                    "{name} was edited after it was applied (the edit did not run)"
                )),
                MigrationState::Missing => {
                    problems.push(format!("{name} is applied, but its file is missing"))
                }
            }
        }
        let plan = self.db.migration_plan::<S>(&self.renames)?;
        if !plan.is_empty() {
            problems.push(format!(
                "the database differs from the models in {} step(s):",
                plan.steps().len()
            ));
            for (i, step) in plan.steps().iter().enumerate() {
                problems.push(format!("  {}. {step}", i + 1));
            }
        }
        if problems.is_empty() {
            self.line(format_args!(
                "ok: {applied} migration file(s) applied, the database matches the models"
            ))?;
            return Ok(ExitCode::SUCCESS);
        }
        self.line("check failed:")?;
        for problem in &problems {
            self.line(format_args!("  {problem}"))?;
        }
        Ok(ExitCode::FAILURE)
    }

    fn revert(&mut self) -> Result<ExitCode> {
        let name = self.db.revert(&self.migrations)?;
        self.line(format_args!("reverted {name}; it is pending again"))?;
        Ok(ExitCode::SUCCESS)
    }
}
