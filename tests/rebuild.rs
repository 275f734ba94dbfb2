//! Table rebuilds keep what the models do not declare: a rebuild (SQLite's
//! way to change a type or a foreign key) carries over the table's CHECK
//! constraints, collations, `AUTOINCREMENT` counter and triggers, and the
//! views and triggers elsewhere that read it; what it cannot carry over is
//! a hazard that needs consent. The hazard check of a type change to TEXT
//! finds bytes that would not read back as text.
//!
//! Each test builds a populated database by hand with plain SQL, migrates
//! it through the public API, and reads the schema and rows back with a
//! plain rusqlite connection.

use orm::{Destructive, Error, HazardKind, Renames, SchemaChange, StepKind};
use rusqlite::types::Value;

use crate::common;

use common::{Scratch, int, rows, snapshot, text};

mod models {
    use orm::prelude::*;

    /// `accounts` with `balance` now an integer (it was TEXT): a rebuild.
    #[derive(Model, Debug)]
    #[orm(table = "accounts")]
    pub struct Account {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub balance: i64,
    }

    /// `accounts` without `name`, and `balance` an integer.
    #[derive(Model, Debug)]
    #[orm(table = "accounts")]
    pub struct NamelessAccount {
        #[orm(primary_key)]
        pub id: i64,
        pub balance: i64,
    }

    /// `accounts` with `name` renamed `holder`, and `balance` an integer.
    #[derive(Model, Debug)]
    #[orm(table = "accounts")]
    pub struct HeldAccount {
        #[orm(primary_key)]
        pub id: i64,
        pub holder: String,
        pub balance: i64,
    }

    #[derive(Model, Debug)]
    #[orm(table = "audit")]
    pub struct Audit {
        #[orm(primary_key)]
        pub id: i64,
        pub what: String,
    }

    /// `files.data` as text (it was a BLOB).
    #[derive(Model, Debug)]
    #[orm(table = "files")]
    pub struct TextFile {
        #[orm(primary_key)]
        pub id: i64,
        pub data: String,
    }
}

use models::{Account, Audit, HeldAccount, NamelessAccount, TextFile};

/// (type, name) of every trigger and view.
fn triggers_and_views(conn: &rusqlite::Connection) -> Vec<Vec<Value>> {
    rows(
        conn,
        "SELECT type, name FROM sqlite_schema WHERE type IN ('trigger', 'view') ORDER BY name",
    )
}

/// What the plan cannot carry over, as its hazards name it.
fn not_carried_over(plan: &orm::MigrationPlan) -> Vec<String> {
    plan.hazards()
        .filter_map(|h| match &h.kind {
            HazardKind::NotCarriedOver { what, .. } => Some(what.clone()),
            _ => None,
        })
        .collect()
}

fn named(kind: &str, name: &str) -> Vec<Value> {
    vec![text(kind), text(name)]
}

/// Accounts with everything a rebuild could lose: AUTOINCREMENT (key 3 was
/// handed out and deleted), a collation, a column CHECK and a table CHECK,
/// a trigger on the table that writes an audit table, a trigger on the
/// audit table that reads `accounts`, and three views, two over the first.
const ACCOUNTS: &str = r#"
CREATE TABLE "accounts" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL COLLATE NOCASE CHECK (length("name") > 0),
    "balance" TEXT NOT NULL,
    CONSTRAINT "positive_id" CHECK ("id" > 0)
);
CREATE TABLE "audit" ("id" INTEGER PRIMARY KEY, "what" TEXT NOT NULL);
CREATE TRIGGER "accounts_audit" AFTER UPDATE ON "accounts"
BEGIN
    INSERT INTO "audit" ("what") VALUES ('update of ' || NEW."name");
END;
CREATE TRIGGER "audit_guard" BEFORE INSERT ON "audit"
WHEN (SELECT count(*) FROM "accounts") = 0
BEGIN
    SELECT RAISE(ABORT, 'no accounts');
END;
CREATE VIEW "rich" AS SELECT "name", "balance" FROM "accounts" WHERE "balance" > 100;
CREATE VIEW "rich_names" AS SELECT upper("name") AS "name" FROM "rich";
CREATE VIEW "rich_count" AS SELECT count(*) AS "n" FROM "rich";
INSERT INTO "accounts" ("name", "balance") VALUES ('ann', '150'), ('bob', '20'), ('cy', '300');
DELETE FROM "accounts" WHERE "id" = 3;
"#;

#[test]
fn a_rebuild_keeps_checks_collations_autoincrement_triggers_and_views() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(ACCOUNTS)?;
    let plan = db.migration_plan::<(Account, Audit)>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1, "{plan}");
    let step = &plan.steps()[0];
    assert_eq!(step.kind(), StepKind::RebuildTable);
    let kept: Vec<String> = step
        .changes()
        .iter()
        .filter_map(|c| match c {
            SchemaChange::CarryOver { what } => Some(what.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        kept,
        [
            "AUTOINCREMENT",
            "CHECK (length(\"name\") > 0)",
            "CONSTRAINT \"positive_id\" CHECK (\"id\" > 0)",
            "COLLATE NOCASE on `name`",
            "trigger `accounts_audit`",
            "trigger `audit_guard`",
            "view `rich`",
            "view `rich_names`",
            "view `rich_count`",
        ],
        "{plan}"
    );
    assert_eq!(plan.hazards().count(), 0, "{plan}");
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(
        rows(
            &conn,
            "SELECT id, name, balance, typeof(balance) FROM accounts ORDER BY id"
        ),
        [
            vec![int(1), text("ann"), int(150), text("integer")],
            vec![int(2), text("bob"), int(20), text("integer")],
        ]
    );
    assert_eq!(
        triggers_and_views(&conn),
        [
            named("trigger", "accounts_audit"),
            named("trigger", "audit_guard"),
            named("view", "rich"),
            named("view", "rich_count"),
            named("view", "rich_names"),
        ]
    );
    // The trigger still fires, the views still read, the collation holds.
    conn.execute("UPDATE accounts SET balance = 200 WHERE id = 2", [])
        .expect("update runs");
    assert_eq!(
        rows(&conn, "SELECT what FROM audit"),
        [vec![text("update of bob")]]
    );
    assert_eq!(
        rows(&conn, "SELECT name FROM rich_names ORDER BY name"),
        [vec![text("ANN")], vec![text("BOB")]]
    );
    assert_eq!(rows(&conn, "SELECT n FROM rich_count"), [vec![int(2)]]);
    assert_eq!(
        rows(&conn, "SELECT id FROM accounts WHERE name = 'ANN'"),
        [vec![int(1)]]
    );
    // Both CHECKs still refuse; the deleted key 3 is not handed out again.
    assert!(
        conn.execute("INSERT INTO accounts (name, balance) VALUES ('', 1)", [])
            .is_err()
    );
    assert!(
        conn.execute(
            "INSERT INTO accounts (id, name, balance) VALUES (-1, 'x', 1)",
            []
        )
        .is_err()
    );
    conn.execute("INSERT INTO accounts (name, balance) VALUES ('dee', 5)", [])
        .expect("insert runs");
    assert_eq!(conn.last_insert_rowid(), 4);

    // The models now match: no drift, and the next plan is empty.
    assert!(db.drift::<(Account, Audit)>()?.is_empty());
    let again = db.migration_plan::<(Account, Audit)>(&Renames::new())?;
    assert!(again.is_empty(), "{again}");
    Ok(())
}

#[test]
fn what_reads_a_dropped_column_needs_consent_and_goes_with_it() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(ACCOUNTS)?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<(NamelessAccount, Audit)>(&Renames::new())?;
    let lost = not_carried_over(&plan);
    assert_eq!(
        lost,
        [
            "CHECK (length(\"name\") > 0)",
            "trigger `accounts_audit`",
            "view `rich`",
            "view `rich_names`",
            "view `rich_count`",
        ],
        "{plan}"
    );
    let reason = |view: &str| {
        plan.hazards()
            .find(|h| h.to_string().contains(&format!("view `{view}`")))
            .map(|h| h.to_string())
            .unwrap_or_default()
    };
    assert!(
        reason("rich").contains("it reads `name`, which the rebuild drops"),
        "{plan}"
    );
    assert!(
        reason("rich_count").contains("it reads `rich`, which is not made again"),
        "{plan}"
    );

    let refused = db.apply(&plan, Destructive::Refuse);
    assert!(
        matches!(refused, Err(Error::DestructiveMigration(_))),
        "{refused:?}"
    );
    assert_eq!(
        snapshot(&scratch.inspect()),
        before,
        "refused: nothing changed"
    );

    db.apply(&plan, Destructive::Allow)?;
    let conn = scratch.inspect();
    assert_eq!(triggers_and_views(&conn), [named("trigger", "audit_guard")]);
    assert_eq!(
        rows(&conn, "SELECT id, balance FROM accounts ORDER BY id"),
        [vec![int(1), int(150)], vec![int(2), int(20)]]
    );
    // What did not read the dropped column is kept: the table CHECK and
    // AUTOINCREMENT.
    assert!(
        conn.execute("INSERT INTO accounts (id, balance) VALUES (-1, 1)", [])
            .is_err()
    );
    conn.execute("INSERT INTO accounts (balance) VALUES (5)", [])
        .expect("insert runs");
    assert_eq!(conn.last_insert_rowid(), 4);
    Ok(())
}

#[test]
fn a_rebuild_after_a_column_rename_keeps_what_names_the_column() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(ACCOUNTS)?;
    let renames = Renames::new().column("accounts", "name", "holder");
    let plan = db.migration_plan::<(HeldAccount, Audit)>(&renames)?;
    assert_eq!(plan.hazards().count(), 0, "{plan}");
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(triggers_and_views(&conn).len(), 5);
    conn.execute("UPDATE accounts SET balance = 1 WHERE id = 1", [])
        .expect("update runs");
    assert_eq!(
        rows(&conn, "SELECT what FROM audit"),
        [vec![text("update of ann")]]
    );
    assert_eq!(
        rows(&conn, "SELECT id FROM accounts WHERE holder = 'BOB'"),
        [vec![int(2)]]
    );
    assert!(
        conn.execute("INSERT INTO accounts (holder, balance) VALUES ('', 1)", [])
            .is_err()
    );
    Ok(())
}

#[test]
fn planning_a_rebuild_after_renames_changes_nothing() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(ACCOUNTS)?;
    let before = snapshot(&scratch.inspect());
    let renames = Renames::new().column("accounts", "name", "holder");
    let plan = db.migration_plan::<(HeldAccount, Audit)>(&renames)?;
    assert!(!plan.is_empty());
    assert_eq!(snapshot(&scratch.inspect()), before);
    Ok(())
}

#[test]
fn blob_to_text_with_bytes_that_are_not_utf8_is_blocked_naming_the_row() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "files" ("id" INTEGER PRIMARY KEY, "data" BLOB NOT NULL);
           INSERT INTO "files" VALUES (1, x'68656c6c6f'), (2, x'ff00fe'), (3, 'plain text');"#,
    )?;
    let plan = db.migration_plan::<TextFile>(&Renames::new())?;
    let hazards: Vec<_> = plan.hazards().collect();
    assert_eq!(hazards.len(), 1, "{plan}");
    assert!(matches!(hazards[0].kind, HazardKind::NotText { .. }));
    assert_eq!(hazards[0].count, 1);
    assert!(
        hazards[0].rows[0].starts_with("id 2"),
        "{:?}",
        hazards[0].rows
    );
    assert!(!hazards[0].can_be_allowed());
    let blocked = db.apply(&plan, Destructive::Allow);
    assert!(
        matches!(blocked, Err(Error::MigrationBlocked(_))),
        "{blocked:?}"
    );

    // Without the bytes that are not text, the change runs and the rest
    // reads back as text.
    db.execute_batch("DELETE FROM files WHERE id = 2")?;
    let plan = db.migration_plan::<TextFile>(&Renames::new())?;
    assert_eq!(plan.hazards().count(), 0, "{plan}");
    db.apply(&plan, Destructive::Refuse)?;
    let session = db.session();
    let files = session.query::<TextFile>().all()?;
    let data: Vec<String> = files
        .iter()
        .map(|f| f.read().map(|f| f.data.clone()))
        .collect::<orm::Result<_>>()?;
    assert_eq!(data, ["hello", "plain text"]);
    Ok(())
}

#[test]
fn dropping_a_table_drops_the_views_and_triggers_that_read_it_with_consent() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(ACCOUNTS)?;
    // Only `audit` has a model now: `accounts` goes, and with it what reads it.
    let plan = db.migration_plan::<Audit>(&Renames::new())?;
    let lost = not_carried_over(&plan);
    assert_eq!(
        lost,
        [
            "trigger `audit_guard`",
            "view `rich`",
            "view `rich_names`",
            "view `rich_count`"
        ],
        "{plan}"
    );
    let before = snapshot(&scratch.inspect());
    let refused = db.apply(&plan, Destructive::Refuse);
    assert!(
        matches!(refused, Err(Error::DestructiveMigration(_))),
        "{refused:?}"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);

    db.apply(&plan, Destructive::Allow)?;
    let conn = scratch.inspect();
    assert!(triggers_and_views(&conn).is_empty());
    conn.execute("INSERT INTO audit (what) VALUES ('still works')", [])
        .expect("audit takes rows without its guard");
    Ok(())
}
