//! A command-line entry point for versioned migrations, as a project would
//! write one next to its models:
//!
//! ```text
//! cargo run --example migrate -- status              # files and their state
//! cargo run --example migrate -- plan                # what the models need, as SQL
//! cargo run --example migrate -- generate "add user foreign key"
//! cargo run --example migrate -- apply               # pending files, in order
//! ```
//!
//! Options: `--db PATH` (default `app.db`), `--dir DIR` (default
//! `migrations`), and `--allow-destructive` for `generate` to write a plan
//! that drops or converts data.
//!
//! The workflow: change the models, `plan` to see what that needs, `generate`
//! to write it as the next numbered file, review and commit the file, then
//! `apply` wherever the database lives.

use std::process::ExitCode;

use orm::prelude::*;
use orm::{Destructive, MigrationState, Migrations, Renames};

/// The models this program's database follows.
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

/// An order, with its user.
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

type Models = (User, Order);

/// Renames the team declared; a plan never guesses one.
fn renames() -> Renames {
    Renames::new()
}

const USAGE: &str = "usage: migrate [--db PATH] [--dir DIR] [--allow-destructive] <status | plan | generate TITLE | apply>";

/// What the command line asks for.
struct Command {
    db: String,
    dir: String,
    destructive: Destructive,
    action: Action,
}

enum Action {
    Status,
    Plan,
    Generate(String),
    Apply,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut db = "app.db".to_owned();
    let mut dir = "migrations".to_owned();
    let mut destructive = Destructive::Refuse;
    let mut words = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next().ok_or("--db needs a path")?,
            "--dir" => dir = args.next().ok_or("--dir needs a folder")?,
            "--allow-destructive" => destructive = Destructive::Allow,
            "-h" | "--help" | "help" => return Err(String::new()),
            _ if arg.starts_with("--") => return Err(format!("unknown option `{arg}`")),
            _ => words.push(arg),
        }
    }
    let action = match words.as_slice() {
        [word] if word == "status" => Action::Status,
        [word] if word == "plan" => Action::Plan,
        [word] if word == "apply" => Action::Apply,
        [word, title @ ..] if word == "generate" && !title.is_empty() => {
            Action::Generate(title.join(" "))
        }
        [word] if word == "generate" => return Err("generate needs a title".to_owned()),
        [] => return Err(String::new()),
        _ => return Err(format!("unknown command `{}`", words.join(" "))),
    };
    Ok(Command {
        db,
        dir,
        destructive,
        action,
    })
}

fn main() -> ExitCode {
    let command = match parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: &Command) -> orm::Result<()> {
    let db = Database::open(&command.db)?;
    let migrations = Migrations::new(&command.dir);
    match &command.action {
        Action::Status => status(&db, &migrations),
        Action::Plan => plan(&db, &migrations),
        Action::Generate(title) => generate(&db, &migrations, title, command.destructive),
        Action::Apply => apply(&db, &migrations),
    }
}

fn status(db: &Database, migrations: &Migrations) -> orm::Result<()> {
    let statuses = db.migration_status(migrations)?;
    if statuses.is_empty() {
        println!("no migrations in {}", migrations.dir().display());
    }
    for status in &statuses {
        let state = match status.state {
            MigrationState::Pending => "pending",
            MigrationState::Applied => "applied",
            MigrationState::Edited => "applied, EDITED since (the edit did not run)",
            MigrationState::Missing => "applied, file MISSING",
        };
        println!("{:<40} {state}", status.name);
    }
    let plan = db.migration_plan::<Models>(&renames())?;
    if plan.is_empty() {
        println!("the database matches the models");
    } else {
        println!(
            "the database differs from the models in {} step(s): see `plan`",
            plan.steps().len()
        );
    }
    Ok(())
}

fn plan(db: &Database, migrations: &Migrations) -> orm::Result<()> {
    let pending = db
        .migration_status(migrations)?
        .iter()
        .filter(|s| s.state == MigrationState::Pending)
        .count();
    if pending > 0 {
        println!("-- note: {pending} migration file(s) are pending; `apply` them first");
    }
    print!("{}", db.migration_plan::<Models>(&renames())?);
    Ok(())
}

fn generate(
    db: &Database,
    migrations: &Migrations,
    title: &str,
    destructive: Destructive,
) -> orm::Result<()> {
    let plan = db.migration_plan::<Models>(&renames())?;
    if plan.is_empty() {
        println!("nothing to generate: the database matches the models");
        return Ok(());
    }
    let file = migrations.generate(&plan, title, destructive)?;
    println!("wrote {}", file.path.display());
    Ok(())
}

fn apply(db: &Database, migrations: &Migrations) -> orm::Result<()> {
    let report = db.migrate(migrations)?;
    for name in &report.edited {
        println!("warning: {name} was edited after it was applied; the edit did not run");
    }
    if report.applied.is_empty() {
        println!("nothing to apply");
    }
    for name in &report.applied {
        println!("applied {name}");
    }
    Ok(())
}
