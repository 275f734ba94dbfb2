//! Chapter 7: migrations. The tables exist and hold rows; the models gain a
//! relationship, which declares a foreign key. `create_all` reports what is
//! missing, a plan computed from the models shows the SQL that will add it
//! (SQLite's table rebuild), and applying it keeps every row. Then the
//! team's way: the plan as a numbered SQL file, through the command line
//! `orm::migration_cli` (a project's one-line `src/bin/migrate.rs`).

use std::path::Path;
use std::process::ExitCode;

use orm::Difference;
use orm::prelude::*;
use orm::{
    ConstraintKind, Destructive, Error, OnDelete, Recorder, Renames, SchemaChange, StepKind,
};

/// The user, as before.
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

/// The order gains `user: BelongsTo<User>`. Its column `user_id` was a
/// plain integer so far; now it references `users`.
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

/// The tables as the previous version of the program made them, with rows.
/// Order 4 belongs to user 3, whom someone deleted long ago: nothing
/// stopped them, there was no foreign key.
const PREVIOUS_VERSION: &str = r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);
CREATE TABLE "orders" (
    "id" INTEGER PRIMARY KEY,
    "total_cents" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL
);
INSERT INTO "users" ("id", "name") VALUES (1, 'Alice'), (2, 'Bob');
INSERT INTO "orders" ("id", "total_cents", "user_id")
    VALUES (1, 1299, 1), (2, 500, 1), (3, 750, 2), (4, 990, 3);"#;

/// Prints how many statements ran since the last call, and starts over.
/// BEGIN, COMMIT and ROLLBACK only frame the work and are not counted.
fn cost(recorder: &Recorder) -> usize {
    // Schema work is DDL and PRAGMAs, which `Recorder::count` (rows read
    // or written) leaves out: count every statement but BEGIN and COMMIT.
    let n = recorder
        .statements()
        .iter()
        .filter(|s| !s.is_transaction_control())
        .count();
    println!("   = {n} statement{}", if n == 1 { "" } else { "s" });
    recorder.clear();
    n
}

/// `PRAGMA foreign_key_list(orders)` through a plain SQLite connection:
/// (from, table, to) per foreign key.
fn foreign_key_list(path: &std::path::Path) -> rusqlite::Result<Vec<(String, String, String)>> {
    let conn = rusqlite::Connection::open(path)?;
    let mut stmt = conn.prepare("PRAGMA foreign_key_list(orders)")?;
    let keys: Vec<_> = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>("from")?,
                row.get::<_, String>("table")?,
                row.get::<_, String>("to")?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keys)
}

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    // A file this time, so that a plain SQLite connection can look at it too.
    let path = std::env::temp_dir().join(format!("orm-chapter-7-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let result = chapter(&path);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    result?;
    let dir = std::env::temp_dir().join(format!("orm-chapter-7-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| Error::MigrationFile {
        file: dir.display().to_string(),
        detail: e.to_string(),
    })?;
    let result = command_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn chapter(path: &std::path::Path) -> orm::Result<()> {
    let db = Database::open(path)?;
    db.set_echo(true);
    let recorder = db.recorder();

    println!("\nThe previous version of the program made the tables and wrote rows:");
    db.execute_batch(PREVIOUS_VERSION)?;
    recorder.clear();

    println!("\nThis version's `Order` has `user: BelongsTo<User>`.");
    println!(">> db.create_all::<(User, Order)>()");
    let Err(Error::Drift(report)) = db.create_all::<(User, Order)>() else {
        panic!("create_all should report the missing foreign key");
    };
    for line in report.to_string().lines() {
        println!("   {line}");
    }
    assert_eq!(report.tables.len(), 1);
    assert_eq!(
        report.tables[0].differences,
        [Difference::MissingForeignKey {
            column: "user_id".into(),
            target: "users".into(),
        }]
    );
    assert_eq!(cost(&recorder), 0);

    println!("\nSQLite's ALTER TABLE cannot add a foreign key to a column. A migration");
    println!("plan, computed from the models against the live schema, says how:");
    println!(">> let plan = db.migration_plan::<(User, Order)>(&Renames::new())?");
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    println!(">> println!(\"{{plan}}\")");
    for line in plan.to_string().lines() {
        println!("   {line}");
    }
    println!("   Reading it changed nothing:");
    assert_eq!(cost(&recorder), 0);
    assert_eq!(plan.steps().len(), 1);
    let step = &plan.steps()[0];
    assert_eq!(step.kind(), StepKind::RebuildTable);
    assert_eq!(
        step.changes(),
        [SchemaChange::AddForeignKey {
            column: "user_id".into(),
            target: "users".into(),
            on_delete: OnDelete::NoAction,
        }]
    );
    assert_eq!(
        step.sql()[1],
        r#"INSERT INTO "new_orders" ("id", "total_cents", "user_id") SELECT "id", "total_cents", "user_id" FROM "orders""#
    );
    println!("The rebuild is SQLite's documented procedure: a new table from the");
    println!("model, every row copied, the old table dropped, the new one renamed.");
    println!("Foreign keys are off meanwhile (dropping `orders` must not touch rows");
    println!("that point at it) and checked, all of them, before COMMIT.");

    println!("\n>> db.apply(&plan, Destructive::Refuse)");
    let failed = db.apply(&plan, Destructive::Refuse);
    let Err(error @ Error::ForeignKeyCheck(_)) = failed else {
        panic!("order 4 should fail the foreign key check, got {failed:?}");
    };
    println!("   {error}");
    println!("   The check ran after the copy; the whole transaction rolled back,");
    println!("   so `orders` is as it was, without its foreign key:");
    assert!(
        foreign_key_list(path).map_err(Error::Sqlite)?.is_empty(),
        "the failed plan left the old table"
    );
    println!("   PRAGMA foreign_key_list(orders) -> (none)");
    recorder.clear();

    println!("\nOrder 4 belongs to nobody. That is a decision for people, not for the");
    println!("library: here we delete it (we could have given it to Alice).");
    println!(">> DELETE FROM orders WHERE id = 4");
    db.execute_batch(r#"DELETE FROM "orders" WHERE "id" = 4"#)?;
    recorder.clear();

    println!("\n>> db.apply(&plan, Destructive::Refuse)");
    db.apply(&plan, Destructive::Refuse)?;
    println!("   (Step 1's 4 statements, as their causes say, and the 3 PRAGMAs");
    println!("   that frame the rebuild.)");
    let step_1 = "migration step 1: rebuild orders to add foreign key `user_id` -> `users`";
    let of_step_1 = recorder
        .statements()
        .iter()
        .filter(|s| s.cause.as_deref() == Some(step_1))
        .count();
    assert_eq!(of_step_1, 4);
    assert_eq!(cost(&recorder), 7);

    println!("\n>> PRAGMA foreign_key_list(orders)");
    let keys = foreign_key_list(path).map_err(Error::Sqlite)?;
    for (from, table, to) in &keys {
        println!("   {from} -> {table}({to})");
    }
    assert_eq!(
        keys,
        [("user_id".to_owned(), "users".to_owned(), "id".to_owned())]
    );

    println!("\nEvery other row is there, and the relationship reads them:");
    let session = db.session();
    let orders = session.query::<Order>().all()?;
    for order in &orders {
        let order = order.read()?;
        let user = order.user.load()?;
        println!(
            "   order {} ({} cents) -> {}",
            order.id,
            order.total_cents,
            user.read()?.name
        );
    }
    assert_eq!(orders.len(), 3);
    let alice = session.get::<User>(1)?;
    assert_eq!(alice.read()?.orders.load()?.len(), 2);
    recorder.clear();

    println!("\nThe database matches the models now:");
    println!(">> db.migration_plan::<(User, Order)>(&Renames::new())?.is_empty()");
    assert!(
        db.migration_plan::<(User, Order)>(&Renames::new())?
            .is_empty()
    );
    println!("   true");
    db.create_all::<(User, Order)>()?;

    println!("\nAnd the database itself now refuses an order for nobody:");
    println!(">> INSERT INTO orders (total_cents, user_id) VALUES (500, 99)");
    let refused =
        db.execute_batch(r#"INSERT INTO "orders" ("total_cents", "user_id") VALUES (500, 99)"#);
    let Err(Error::Constraint { kind, .. }) = refused else {
        panic!("the foreign key should refuse user 99, got {refused:?}");
    };
    assert_eq!(kind, ConstraintKind::ForeignKey);
    println!("   refused: {kind} constraint failed");
    Ok(())
}

/// Runs the migration command line for `(User, Order)` against the
/// database and folder in `dir`, printing what it prints.
fn migrate(dir: &Path, command: &[&str]) -> orm::Result<(ExitCode, String)> {
    println!(">> migrate {}", command.join(" "));
    let db = dir.join("shop.db").display().to_string();
    let files = dir.join("migrations").display().to_string();
    let options = ["migrate", "--db", &db, "--dir", &files];
    let args = options.iter().chain(command);
    let mut out = Vec::new();
    let code = orm::migration_cli::run::<(User, Order)>(args, &mut out)?;
    let out = String::from_utf8_lossy(&out).into_owned();
    for line in out.lines() {
        println!("   {line}");
    }
    println!(
        "   (exit code {})",
        if code == ExitCode::SUCCESS { 0 } else { 1 }
    );
    Ok((code, out))
}

/// The team's workflow: plans become numbered files in the repository,
/// reviewed like code, applied once each wherever the database lives.
fn command_line(dir: &Path) -> orm::Result<()> {
    println!("\nIn a team, plans go into the repository as numbered SQL files. The");
    println!("command line does it; a project's `src/bin/migrate.rs` is one line:");
    println!("   fn main() -> ExitCode {{ orm::migration_cli::main::<(User, Order)>() }}");
    println!("Here its `run` takes the arguments instead, against a new database.");

    println!("\nCI runs `check`: it fails while the database lags behind the models.");
    let (code, out) = migrate(dir, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("differs from the models in 2 step(s)"),
        "{out}"
    );

    println!("\n`generate` writes the plan as the next file, with a down section");
    println!("that undoes it (the inverse of a CREATE TABLE is known):");
    let (code, out) = migrate(dir, &["generate", "create users and orders"])?;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    let file = orm::Migrations::new(dir.join("migrations"))
        .files()?
        .pop()
        .expect("generate wrote a file");
    assert_eq!(file.name, "0001_create_users_and_orders.sql");
    for line in file.sql.lines() {
        println!("   | {line}");
    }
    assert!(
        file.down()
            .is_some_and(|down| down.contains(r#"DROP TABLE "orders";"#))
    );

    println!("\nThe file is pending until it is applied; `check` says so:");
    let (code, out) = migrate(dir, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("0001_create_users_and_orders.sql is pending"),
        "{out}"
    );

    println!("\n`apply` runs the pending files in one transaction, each recorded with");
    println!("its checksum in `orm_migrations` (`apply` runs the part above `-- down`):");
    let (code, out) = migrate(dir, &["apply"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        out.contains("applied 0001_create_users_and_orders.sql"),
        "{out}"
    );
    let (code, _) = migrate(dir, &["check"])?;
    assert_eq!(code, ExitCode::SUCCESS);

    println!("\n`revert` runs the last file's down section, in one transaction, and");
    println!("deletes its history row: the file is pending again.");
    let (code, _) = migrate(dir, &["revert"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    let (_, out) = migrate(dir, &["status"])?;
    assert!(out.contains("pending"), "{out}");
    let (code, _) = migrate(dir, &["apply"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    Ok(())
}
