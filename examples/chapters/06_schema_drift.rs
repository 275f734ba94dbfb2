//! Chapter 6: schema drift. The database was made by an older version of
//! the models; `create_all` says exactly what differs instead of skipping
//! the existing tables, and we bring the database up to date by hand, as
//! far as SQLite's `ALTER TABLE` allows.

use orm::Difference;
use orm::prelude::*;
use orm::{Error, Recorder};

/// Version 2 of the user: `nickname` is new.
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub nickname: Option<String>,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

/// Version 2 of the order: `user_id` was a plain integer in version 1;
/// now it is a relationship, so the column gets a foreign key.
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

/// The tables as version 1 of the program created them, with a row each.
const VERSION_1: &str = r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);
CREATE TABLE "orders" (
    "id" INTEGER PRIMARY KEY,
    "total_cents" INTEGER NOT NULL,
    "user_id" INTEGER NOT NULL
);
INSERT INTO "users" ("name") VALUES ('Alice');
INSERT INTO "orders" ("total_cents", "user_id") VALUES (1299, 1);"#;

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

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.set_echo(true);
    let recorder = db.recorder();

    println!("\nVersion 1 of our program made these tables (a file on disk, in real life):");
    db.execute_batch(VERSION_1)?;
    recorder.clear();

    println!("\nVersion 2 adds `User.nickname` and turns `Order.user_id` into");
    println!("`user: BelongsTo<User>`, which declares a foreign key.");
    println!("\n>> db.create_all::<(User, Order)>()");
    println!("   Both tables exist. SQLAlchemy's create_all would skip them without");
    println!("   a word, and the program would fail later, at the first SELECT of");
    println!("   `nickname` (\"no such column\"), or never: nothing tells you a");
    println!("   foreign key is missing. Here create_all compares each existing");
    println!("   table with its model, and refuses with the full list:");
    let Err(Error::Drift(report)) = db.create_all::<(User, Order)>() else {
        panic!("create_all should refuse with Error::Drift");
    };
    for line in report.to_string().lines() {
        println!("   {line}");
    }
    println!("   It changed nothing:");
    assert_eq!(cost(&recorder), 0);
    assert_eq!(report.tables.len(), 2);
    assert_eq!(report.tables[0].table, "users");
    assert_eq!(
        report.tables[0].differences,
        [Difference::MissingColumn {
            column: "nickname".into(),
            definition: r#""nickname" TEXT"#.into(),
        }]
    );
    assert_eq!(report.tables[1].table, "orders");
    assert_eq!(
        report.tables[1].differences,
        [Difference::MissingForeignKey {
            column: "user_id".into(),
            target: "users".into(),
        }]
    );

    println!("\nWhy the missing foreign key matters: the database cannot refuse");
    println!("an order for a user who does not exist.");
    println!(">> INSERT INTO orders (total_cents, user_id) VALUES (500, 99)");
    db.execute_batch(r#"INSERT INTO "orders" ("total_cents", "user_id") VALUES (500, 99)"#)?;
    println!("   Accepted. (We delete it again.)");
    db.execute_batch(r#"DELETE FROM "orders" WHERE "user_id" = 99"#)?;
    recorder.clear();

    println!("\nFixing it without deleting the database file (and its rows).");
    println!("The missing column: SQLite's ALTER TABLE can add a column. The report");
    println!("carries its definition from the model, so the statement writes itself:");
    let mut alter = None;
    for table in &report.tables {
        for difference in &table.differences {
            if let Difference::MissingColumn { definition, .. } = difference {
                alter = Some(format!(
                    r#"ALTER TABLE "{}" ADD COLUMN {definition}"#,
                    table.table
                ));
            }
        }
    }
    let alter = alter.expect("the report lists the missing column");
    println!(">> db.execute_batch({alter:?})");
    db.execute_batch(&alter)?;
    assert_eq!(cost(&recorder), 1);

    println!("\n>> db.drift::<(User, Order)>()  (the comparison alone, no DDL)");
    let report = db.drift::<(User, Order)>()?;
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

    println!("\nThe missing foreign key: SQLite's ALTER TABLE cannot add a");
    println!("constraint to an existing column. The way is SQLite's table rebuild:");
    println!("   0. PRAGMA foreign_keys = OFF, then BEGIN");
    println!("   1. CREATE TABLE \"new_orders\" (...) with the model's DDL");
    println!("   2. INSERT INTO \"new_orders\" SELECT ... FROM \"orders\"");
    println!("   3. DROP TABLE \"orders\"");
    println!("   4. ALTER TABLE \"new_orders\" RENAME TO \"orders\"");
    println!("   5. PRAGMA foreign_key_check, then COMMIT");
    println!("The migrations chapter computes this plan from the models, shows it");
    println!("and runs it for you. Until then, create_all keeps saying so:");
    let still = db.create_all::<(User, Order)>();
    assert!(matches!(still, Err(Error::Drift(_))));
    if let Err(error) = still {
        for line in error.to_string().lines() {
            println!("   {line}");
        }
    }

    println!("\nThe old rows read fine through the new models meanwhile:");
    println!(">> session.get::<Order>(1)?.read()?.user.load()?");
    let session = db.session();
    let order = session.get::<Order>(1)?;
    let alice = order.read()?.user.load()?;
    assert_eq!(
        recorder.causes(),
        ["get of orders 1", "lazy load of Order.user (orders 1)"]
    );
    assert_eq!(cost(&recorder), 2);
    println!(
        "   {:?}, nickname {:?} (the new column is NULL in old rows)",
        alice.read()?.name,
        alice.read()?.nickname
    );
    assert_eq!(alice.read()?.name, "Alice");
    assert_eq!(alice.read()?.nickname, None);
    Ok(())
}
