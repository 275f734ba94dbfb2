//! Migrations (design point 14): a plan computed from the models against a
//! database that holds rows, shown as SQL, applied in one transaction with
//! SQLite's table rebuild where `ALTER TABLE` cannot do the change; hazards
//! refused without consent; versioned files applied once each.
//!
//! Every test starts from a database file made by "an older program" with
//! plain SQL and rows, and reads the schema and rows back afterwards with a
//! plain rusqlite connection (`PRAGMA table_info`, `index_list`,
//! `foreign_key_list`).

use std::path::Path;

use orm::prelude::*;
use orm::{
    ConstraintKind, Destructive, Error, HazardKind, MigrationState, Renames, SchemaChange, StepKind,
};
use rusqlite::types::Value;

use crate::common;

use common::{Scratch, int, rows, snapshot, text};

// ------------------------------------------------------------------ models

/// Today's models; each test's "older program" made a different schema.
mod current {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "users")]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(unique)]
        pub email: String,
        pub nickname: Option<String>,
        #[orm(back_populates = "user")]
        pub orders: HasMany<Order>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "orders")]
    pub struct Order {
        #[orm(primary_key)]
        pub id: i64,
        pub total_cents: i64,
        #[orm(index)]
        pub placed_on: String,
        #[orm(back_populates = "orders", on_delete = "cascade")]
        pub user: BelongsTo<User>,
    }
}

use current::{Order, User};

/// `users` with an integer `age`, for type, nullability and drop changes.
mod aged {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct Person {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub age: i64,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct PersonWithDefaultAge {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(default = "0")]
        pub age: i64,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct PersonWithoutAge {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct PersonWithCity {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub age: Option<i64>,
        pub city: String,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct PersonWithCityDefault {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub age: Option<i64>,
        #[orm(default = "'Paris'")]
        pub city: String,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people", index(name, age), unique_index(name))]
    pub struct IndexedPerson {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub age: Option<i64>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "people")]
    pub struct UniquePerson {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub name: String,
        pub age: Option<i64>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "humans")]
    pub struct Human {
        #[orm(primary_key)]
        pub id: i64,
        pub full_name: String,
        pub age: Option<i64>,
    }
}

// ----------------------------------------------------------------- helpers

/// `PRAGMA table_info`: (name, type, notnull, default, pk) per column.
fn columns(
    conn: &rusqlite::Connection,
    table: &str,
) -> Vec<(String, String, bool, Option<String>, i64)> {
    let mut stmt = conn
        .prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
        .expect("table_info");
    stmt.query_map([table], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("table_info rows")
    .collect::<rusqlite::Result<_>>()
    .expect("table_info values")
}

fn column_names(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    columns(conn, table).into_iter().map(|c| c.0).collect()
}

/// `PRAGMA index_list`: (name, unique, origin) per index, by name.
fn indexes(conn: &rusqlite::Connection, table: &str) -> Vec<(String, bool, String)> {
    let mut stmt = conn
        .prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1) ORDER BY name")
        .expect("index_list");
    stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("index_list rows")
        .collect::<rusqlite::Result<_>>()
        .expect("index_list values")
}

/// `PRAGMA foreign_key_list`: (from, table, to, on_delete) per key.
fn foreign_keys(conn: &rusqlite::Connection, table: &str) -> Vec<(String, String, String, String)> {
    let mut stmt = conn
        .prepare("SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?1)")
        .expect("foreign_key_list");
    stmt.query_map([table], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .expect("foreign_key_list rows")
    .collect::<rusqlite::Result<_>>()
    .expect("foreign_key_list values")
}

fn is_empty_folder(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

/// The schema today's models make, with rows: Alice (2 orders), Bob (1).
const CURRENT: &str = r#"
CREATE TABLE "users" (
    "id" INTEGER PRIMARY KEY,
    "name" TEXT NOT NULL,
    "email" TEXT NOT NULL UNIQUE,
    "nickname" TEXT
);
CREATE TABLE "orders" (
    "id" INTEGER PRIMARY KEY,
    "total_cents" INTEGER NOT NULL,
    "placed_on" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_orders_placed_on" ON "orders" ("placed_on");
INSERT INTO "users" VALUES (1, 'Alice', 'alice@example.com', NULL), (2, 'Bob', 'bob@example.com', 'bobby');
INSERT INTO "orders" VALUES (1, 1299, '2024-05-01', 1), (2, 500, '2024-05-02', 1), (3, 750, '2024-05-02', 2);
"#;

/// The older program: no nickname, no unique email, no index, and
/// `orders.user_id` a plain integer without a foreign key.
const OLDER: &str = r#"
CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "email" TEXT NOT NULL);
CREATE TABLE "orders" (
    "id" INTEGER PRIMARY KEY,
    "total_cents" INTEGER NOT NULL,
    "placed_on" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL
);
INSERT INTO "users" VALUES (1, 'Alice', 'alice@example.com'), (2, 'Bob', 'bob@example.com');
INSERT INTO "orders" VALUES (1, 1299, '2024-05-01', 1), (2, 500, '2024-05-02', 1), (3, 750, '2024-05-02', 2);
"#;

const PEOPLE: &str = r#"
CREATE TABLE "people" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" INTEGER);
INSERT INTO "people" VALUES (1, 'ann', 31), (2, 'bob', NULL), (3, 'cy', 17);
"#;

// ------------------------------------------------------------------- plans

#[test]
fn the_plan_for_a_database_matching_the_models_is_empty() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database("")?;
    db.create_all::<(User, Order)>()?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    assert!(plan.is_empty(), "unexpected plan:\n{plan}");
    assert!(plan.sql().is_empty());
    assert_eq!(
        plan.to_string(),
        "-- nothing to migrate: the database matches the models\n"
    );

    let recorder = db.recorder();
    db.apply(&plan, Destructive::Refuse)?;
    assert_eq!(
        recorder.statements().len(),
        0,
        "an empty plan sends nothing"
    );

    // The hand-written schema of today's models is a match too.
    let scratch = Scratch::new();
    let db = scratch.database(CURRENT)?;
    assert!(
        db.migration_plan::<(User, Order)>(&Renames::new())?
            .is_empty()
    );
    Ok(())
}

/// Every feature the derive has: a plan over what `create_all` made is empty.
mod everything {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(
        table = "products",
        index(category, price_cents),
        unique_index(category, name)
    )]
    pub struct Product {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(unique)]
        pub sku: String,
        #[orm(index)]
        pub name: String,
        #[orm(column = "group")]
        pub category: String,
        pub price_cents: i64,
        #[orm(default = "0")]
        pub stock: i64,
        pub note: Option<String>,
        #[orm(sql_type = "NUMERIC")]
        pub weight: f64,
        pub image: Option<Vec<u8>>,
        pub active: bool,
        #[orm(through = "product_tags", back_populates = "products")]
        pub tags: ManyToMany<Tag>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "tags")]
    pub struct Tag {
        #[orm(primary_key)]
        pub word: String,
        #[orm(through = "product_tags", back_populates = "tags")]
        pub products: ManyToMany<Product>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "employees")]
    pub struct Employee {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(optional, back_populates = "reports", on_delete = "set null")]
        pub manager: BelongsTo<Employee>,
        #[orm(back_populates = "manager")]
        pub reports: HasMany<Employee>,
    }

    /// The employee with a new column: `employees` references itself.
    #[derive(Model, Debug)]
    #[orm(table = "employees")]
    pub struct RatedEmployee {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(optional, back_populates = "reports", on_delete = "set null")]
        pub manager: BelongsTo<RatedEmployee>,
        #[orm(back_populates = "manager")]
        pub reports: HasMany<RatedEmployee>,
        #[orm(unique)]
        pub badge: Option<String>,
    }
}

#[test]
fn the_plan_over_what_create_all_made_is_empty_for_every_kind_of_column() -> orm::Result<()> {
    use everything::{Employee, Product, Tag};
    let scratch = Scratch::new();
    let db = scratch.database("")?;
    db.create_all::<(Product, Tag, Employee)>()?;
    let plan = db.migration_plan::<(Product, Tag, Employee)>(&Renames::new())?;
    assert!(plan.is_empty(), "unexpected plan:\n{plan}");
    Ok(())
}

#[test]
fn a_missing_link_table_is_created_and_never_dropped() -> orm::Result<()> {
    use everything::{Employee, Product, Tag};
    let scratch = Scratch::new();
    let db = scratch.database("")?;
    db.create_all::<(Product, Tag, Employee)>()?;
    db.execute_batch(r#"DROP TABLE "product_tags""#)?;
    let plan = db.migration_plan::<(Product, Tag, Employee)>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::CreateTable);
    assert_eq!(plan.steps()[0].table(), "product_tags");
    db.apply(&plan, Destructive::Refuse)?;
    assert_eq!(foreign_keys(&scratch.inspect(), "product_tags").len(), 2);
    assert!(
        db.migration_plan::<(Product, Tag, Employee)>(&Renames::new())?
            .is_empty()
    );
    Ok(())
}

#[test]
fn a_table_that_references_itself_is_rebuilt_with_its_rows_and_keys() -> orm::Result<()> {
    use everything::{Employee, RatedEmployee};
    let scratch = Scratch::new();
    let db = scratch.database("")?;
    db.create_all::<Employee>()?;
    db.execute_batch(
        r#"INSERT INTO "employees" VALUES (1, 'boss', NULL), (2, 'ann', 1), (3, 'bob', 2)"#,
    )?;
    let plan = db.migration_plan::<RatedEmployee>(&Renames::new())?;
    assert_eq!(
        plan.steps()[0].kind(),
        StepKind::RebuildTable,
        "UNIQUE needs a rebuild"
    );
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(
        foreign_keys(&conn, "employees"),
        [(
            "manager_id".into(),
            "employees".into(),
            "id".into(),
            "SET NULL".into()
        )]
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM employees ORDER BY id"),
        [
            vec![int(1), text("boss"), Value::Null, Value::Null],
            vec![int(2), text("ann"), int(1), Value::Null],
            vec![int(3), text("bob"), int(2), Value::Null],
        ]
    );
    assert!(
        db.migration_plan::<RatedEmployee>(&Renames::new())?
            .is_empty()
    );
    Ok(())
}

#[test]
fn the_plan_lists_each_step_in_plain_words_with_its_sql() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    let lines: Vec<String> = plan.steps().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "rebuild table `users` (ALTER TABLE cannot do this): add column \"nickname\" TEXT; make `email` UNIQUE",
            "rebuild table `orders` (ALTER TABLE cannot do this): add foreign key `user_id` -> `users` ON DELETE CASCADE; create index `ix_orders_placed_on` on (placed_on)",
        ]
    );
    assert_eq!(
        plan.steps()[1].sql(),
        [
            "CREATE TABLE \"new_orders\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"total_cents\" INTEGER NOT NULL,\n    \"placed_on\" TEXT NOT NULL,\n    \"user_id\" INTEGER NOT NULL REFERENCES \"users\" (\"id\") ON DELETE CASCADE\n)",
            "INSERT INTO \"new_orders\" (\"id\", \"total_cents\", \"placed_on\", \"user_id\") SELECT \"id\", \"total_cents\", \"placed_on\", \"user_id\" FROM \"orders\"",
            "DROP TABLE \"orders\"",
            "ALTER TABLE \"new_orders\" RENAME TO \"orders\"",
            "CREATE INDEX \"ix_orders_placed_on\" ON \"orders\" (\"placed_on\")",
        ]
    );
    let sql = plan.sql();
    assert_eq!(sql[..2], ["PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"]);
    assert_eq!(
        sql[sql.len() - 3..],
        [
            "PRAGMA foreign_key_check",
            "COMMIT",
            "PRAGMA foreign_keys = ON"
        ]
    );
    let printed = plan.to_string();
    assert!(printed.contains("-- 2. rebuild table `orders`"));
    assert!(printed.contains("DROP TABLE \"orders\";\n"));
    assert_eq!(plan.hazards().count(), 0);
    Ok(())
}

#[test]
fn planning_changes_nothing() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    let before = snapshot(&scratch.inspect());
    let recorder = db.recorder();
    db.migration_plan::<(User, Order)>(&Renames::new())?;
    assert_eq!(recorder.statements().len(), 0);
    assert_eq!(snapshot(&scratch.inspect()), before);
    Ok(())
}

// ------------------------------------------------------ each kind of change

#[test]
fn a_whole_plan_brings_an_older_database_to_the_models_keeping_every_row() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    assert!(matches!(
        db.create_all::<(User, Order)>(),
        Err(Error::Drift(_))
    ));
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(
        column_names(&conn, "users"),
        ["id", "name", "email", "nickname"]
    );
    assert!(
        indexes(&conn, "users")
            .iter()
            .any(|(_, unique, origin)| *unique && origin == "u")
    );
    assert_eq!(
        foreign_keys(&conn, "orders"),
        [(
            "user_id".into(),
            "users".into(),
            "id".into(),
            "CASCADE".into()
        )]
    );
    assert_eq!(
        indexes(&conn, "orders"),
        [("ix_orders_placed_on".into(), false, "c".into())]
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM users ORDER BY id"),
        [
            vec![
                int(1),
                text("Alice"),
                text("alice@example.com"),
                Value::Null
            ],
            vec![int(2), text("Bob"), text("bob@example.com"), Value::Null],
        ]
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM orders ORDER BY id"),
        [
            vec![int(1), int(1299), text("2024-05-01"), int(1)],
            vec![int(2), int(500), text("2024-05-02"), int(1)],
            vec![int(3), int(750), text("2024-05-02"), int(2)],
        ]
    );
    assert!(
        db.migration_plan::<(User, Order)>(&Renames::new())?
            .is_empty()
    );
    db.create_all::<(User, Order)>()?;

    // The new foreign key holds, and the models read the old rows.
    let bad = db.execute_batch(r#"INSERT INTO "orders" VALUES (9, 1, '2024-06-01', 99)"#);
    assert!(matches!(
        bad,
        Err(Error::Constraint {
            kind: ConstraintKind::ForeignKey,
            ..
        })
    ));
    let session = db.session();
    let order = session.get::<Order>(3)?;
    let bob = order.read()?.user.load()?;
    assert_eq!(bob.read()?.name, "Bob");
    Ok(())
}

#[test]
fn a_new_table_is_created_beside_tables_holding_rows() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "email" TEXT NOT NULL UNIQUE, "nickname" TEXT);
           INSERT INTO "users" VALUES (1, 'Alice', 'a@x', NULL);"#,
    )?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::CreateTable);
    assert_eq!(plan.steps()[0].table(), "orders");
    assert_eq!(plan.steps()[0].sql().len(), 2, "the table and its index");
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(
        column_names(&conn, "orders"),
        ["id", "total_cents", "placed_on", "user_id"]
    );
    assert_eq!(foreign_keys(&conn, "orders").len(), 1);
    assert_eq!(indexes(&conn, "orders").len(), 1);
    assert_eq!(
        rows(&conn, "SELECT * FROM users"),
        [vec![int(1), text("Alice"), text("a@x"), Value::Null]]
    );
    Ok(())
}

#[test]
fn an_added_nullable_column_is_added_in_place_and_old_rows_hold_null() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "email" TEXT NOT NULL UNIQUE);
           INSERT INTO "users" VALUES (1, 'Alice', 'a@x'), (2, 'Bob', 'b@x');"#,
    )?;
    let plan = db.migration_plan::<User>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::AlterTable);
    assert_eq!(
        plan.steps()[0].sql(),
        [r#"ALTER TABLE "users" ADD COLUMN "nickname" TEXT"#]
    );
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(
        columns(&conn, "users")[3],
        ("nickname".into(), "TEXT".into(), false, None, 0)
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM users ORDER BY id"),
        [
            vec![int(1), text("Alice"), text("a@x"), Value::Null],
            vec![int(2), text("Bob"), text("b@x"), Value::Null],
        ]
    );
    Ok(())
}

#[test]
fn an_added_not_null_column_with_a_default_gives_old_rows_the_default() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    assert_eq!(plan.steps()[0].kind(), StepKind::AlterTable);
    assert_eq!(
        plan.steps()[0].sql(),
        [r#"ALTER TABLE "people" ADD COLUMN "city" TEXT NOT NULL DEFAULT 'Paris'"#]
    );
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(
        columns(&conn, "people")[3],
        (
            "city".into(),
            "TEXT".into(),
            true,
            Some("'Paris'".into()),
            0
        )
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM people ORDER BY id"),
        [
            vec![int(1), text("ann"), int(31), text("Paris")],
            vec![int(2), text("bob"), Value::Null, text("Paris")],
            vec![int(3), text("cy"), int(17), text("Paris")],
        ]
    );
    Ok(())
}

#[test]
fn a_new_not_null_column_without_a_default_is_blocked_and_the_plan_says_so() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<aged::PersonWithCity>(&Renames::new())?;
    let hazards: Vec<_> = plan.hazards().collect();
    assert_eq!(hazards.len(), 1);
    assert_eq!(
        hazards[0].kind,
        HazardKind::NoDefault {
            column: "city".into()
        }
    );
    assert!(!hazards[0].can_be_allowed());
    assert!(plan.to_string().contains(
        "! the new NOT NULL column `people`.`city` has no default for the 3 rows already there (id 1, id 2, id 3)"
    ));

    for destructive in [Destructive::Refuse, Destructive::Allow] {
        match db.apply(&plan, destructive) {
            Err(Error::MigrationBlocked(hazard)) => assert_eq!(hazard.count, 3),
            other => panic!("expected MigrationBlocked, got {other:?}"),
        }
    }
    assert_eq!(snapshot(&scratch.inspect()), before);
    Ok(())
}

#[test]
fn a_dropped_column_is_refused_without_consent_and_the_error_names_the_values() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<aged::PersonWithoutAge>(&Renames::new())?;
    assert_eq!(plan.steps()[0].kind(), StepKind::RebuildTable);
    assert_eq!(
        plan.steps()[0].changes(),
        [SchemaChange::DropColumn {
            column: "age".into()
        }]
    );

    let refused = db.apply(&plan, Destructive::Refuse);
    let Err(Error::DestructiveMigration(hazard)) = refused else {
        panic!("expected DestructiveMigration, got {refused:?}");
    };
    assert_eq!(hazard.table, "people");
    assert_eq!(hazard.count, 2);
    assert_eq!(hazard.rows, ["id 1: 31", "id 3: 17"]);
    assert_eq!(
        Error::DestructiveMigration(hazard).to_string(),
        "migration refused, nothing was changed: dropping column `people`.`age` loses its values in 2 rows (id 1: 31, id 3: 17); apply with `Destructive::Allow` to accept it"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);

    db.apply(&plan, Destructive::Allow)?;
    let conn = scratch.inspect();
    assert_eq!(column_names(&conn, "people"), ["id", "name"]);
    assert_eq!(
        rows(&conn, "SELECT * FROM people ORDER BY id"),
        [
            vec![int(1), text("ann")],
            vec![int(2), text("bob")],
            vec![int(3), text("cy")]
        ]
    );
    Ok(())
}

#[test]
fn a_dropped_table_is_refused_without_consent() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(&format!("{CURRENT}{PEOPLE}"))?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::DropTable);
    let refused = db.apply(&plan, Destructive::Refuse);
    let Err(Error::DestructiveMigration(hazard)) = refused else {
        panic!("expected DestructiveMigration, got {refused:?}");
    };
    assert_eq!(hazard.kind, HazardKind::DropTable);
    assert_eq!(hazard.rows, ["id 1", "id 2", "id 3"]);
    assert_eq!(
        rows(&scratch.inspect(), "SELECT count(*) FROM people"),
        [[int(3)]]
    );

    db.apply(&plan, Destructive::Allow)?;
    let conn = scratch.inspect();
    assert!(column_names(&conn, "people").is_empty());
    assert_eq!(rows(&conn, "SELECT count(*) FROM orders"), [[int(3)]]);
    Ok(())
}

#[test]
fn a_changed_type_converts_values_that_survive_it() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "people" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" TEXT);
           INSERT INTO "people" VALUES (1, 'ann', '31'), (2, 'bob', NULL);"#,
    )?;
    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::RebuildTable);
    assert!(
        plan.steps()[0]
            .changes()
            .contains(&SchemaChange::ChangeType {
                column: "age".into(),
                from: "TEXT".into(),
                to: "INTEGER".into(),
            })
    );
    assert_eq!(plan.hazards().count(), 0, "'31' survives INTEGER");
    db.apply(&plan, Destructive::Refuse)?;

    let conn = scratch.inspect();
    assert_eq!(columns(&conn, "people")[2].1, "INTEGER");
    assert_eq!(
        rows(
            &conn,
            "SELECT id, name, age, typeof(age), city FROM people ORDER BY id"
        ),
        [
            vec![int(1), text("ann"), int(31), text("integer"), text("Paris")],
            vec![
                int(2),
                text("bob"),
                Value::Null,
                text("null"),
                text("Paris")
            ],
        ]
    );
    Ok(())
}

#[test]
fn a_narrowing_type_change_is_refused_naming_the_values_that_do_not_fit() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "people" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" TEXT, "city" TEXT NOT NULL DEFAULT 'Paris');
           INSERT INTO "people" ("id", "name", "age") VALUES (1, 'ann', '31'), (2, 'bob', 'forty'), (3, 'cy', '1.5');"#,
    )?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    let hazards: Vec<_> = plan.hazards().cloned().collect();
    assert_eq!(hazards.len(), 1);
    assert_eq!(hazards[0].rows, ["id 2: 'forty'", "id 3: '1.5'"]);

    let refused = db.apply(&plan, Destructive::Refuse);
    assert!(
        matches!(&refused, Err(Error::DestructiveMigration(h)) if h.count == 2),
        "{refused:?}"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);

    db.apply(&plan, Destructive::Allow)?;
    assert_eq!(
        rows(&scratch.inspect(), "SELECT id, age FROM people ORDER BY id"),
        [
            vec![int(1), int(31)],
            vec![int(2), int(0)],
            vec![int(3), int(1)]
        ]
    );
    Ok(())
}

#[test]
fn not_null_on_a_column_holding_null_is_refused_then_filled_with_the_default() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let before = snapshot(&scratch.inspect());

    // Without a default there is nothing to put there: blocked either way.
    let plan = db.migration_plan::<aged::Person>(&Renames::new())?;
    assert!(
        plan.steps()[0]
            .changes()
            .contains(&SchemaChange::ChangeNullability {
                column: "age".into(),
                nullable: false,
            })
    );
    let blocked = db.apply(&plan, Destructive::Allow);
    let Err(Error::MigrationBlocked(hazard)) = blocked else {
        panic!("expected MigrationBlocked, got {blocked:?}");
    };
    assert_eq!(hazard.rows, ["id 2"]);
    assert!(
        hazard
            .to_string()
            .contains("give the column a default or fill them first")
    );
    assert_eq!(snapshot(&scratch.inspect()), before);

    // With a default, NULL becomes the default, with consent.
    let plan = db.migration_plan::<aged::PersonWithDefaultAge>(&Renames::new())?;
    assert!(matches!(
        db.apply(&plan, Destructive::Refuse),
        Err(Error::DestructiveMigration(_))
    ));
    assert_eq!(snapshot(&scratch.inspect()), before);
    db.apply(&plan, Destructive::Allow)?;
    let conn = scratch.inspect();
    assert_eq!(
        columns(&conn, "people")[2],
        ("age".into(), "INTEGER".into(), true, Some("0".into()), 0)
    );
    assert_eq!(
        rows(&conn, "SELECT * FROM people ORDER BY id"),
        [
            vec![int(1), text("ann"), int(31)],
            vec![int(2), text("bob"), int(0)],
            vec![int(3), text("cy"), int(17)],
        ]
    );
    Ok(())
}

#[test]
fn not_null_on_a_column_without_null_runs_without_consent() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(
        r#"CREATE TABLE "people" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" INTEGER);
           INSERT INTO "people" VALUES (1, 'ann', 31);"#,
    )?;
    let plan = db.migration_plan::<aged::Person>(&Renames::new())?;
    assert_eq!(plan.hazards().count(), 0);
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert!(columns(&conn, "people")[2].2, "age is NOT NULL");
    assert_eq!(
        rows(&conn, "SELECT * FROM people"),
        [[int(1), text("ann"), int(31)]]
    );

    // And back: NULL allowed again is no hazard either.
    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    db.apply(&plan, Destructive::Refuse)?;
    assert!(!columns(&scratch.inspect(), "people")[2].2);
    Ok(())
}

#[test]
fn indexes_are_added_and_dropped_without_a_rebuild() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(&format!(
        "{PEOPLE}CREATE INDEX \"ix_people_age\" ON \"people\" (\"age\");"
    ))?;
    let plan = db.migration_plan::<aged::IndexedPerson>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].kind(), StepKind::ChangeIndexes);
    assert_eq!(
        plan.steps()[0].sql(),
        [
            r#"DROP INDEX "ix_people_age""#,
            r#"CREATE INDEX "ix_people_name_age" ON "people" ("name", "age")"#,
            r#"CREATE UNIQUE INDEX "ux_people_name" ON "people" ("name")"#,
        ]
    );
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(
        indexes(&conn, "people"),
        [
            ("ix_people_name_age".into(), false, "c".into()),
            ("ux_people_name".into(), true, "c".into()),
        ]
    );
    assert_eq!(rows(&conn, "SELECT count(*) FROM people"), [[int(3)]]);
    assert!(
        db.migration_plan::<aged::IndexedPerson>(&Renames::new())?
            .is_empty()
    );
    Ok(())
}

#[test]
fn a_unique_constraint_is_added_by_a_rebuild_and_dropped_by_one() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let plan = db.migration_plan::<aged::UniquePerson>(&Renames::new())?;
    assert_eq!(
        plan.steps()[0].changes(),
        [SchemaChange::AddUnique {
            column: "name".into()
        }]
    );
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(
        indexes(&conn, "people"),
        [("sqlite_autoindex_people_1".into(), true, "u".into())]
    );
    assert_eq!(rows(&conn, "SELECT count(*) FROM people"), [[int(3)]]);

    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    assert!(
        plan.steps()[0]
            .changes()
            .contains(&SchemaChange::DropUnique {
                column: "name".into()
            })
    );
    db.apply(&plan, Destructive::Refuse)?;
    assert!(indexes(&scratch.inspect(), "people").is_empty());
    Ok(())
}

#[test]
fn a_unique_constraint_over_duplicates_fails_and_changes_nothing() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(&format!(
        "{PEOPLE}INSERT INTO \"people\" VALUES (4, 'ann', 50);"
    ))?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<aged::UniquePerson>(&Renames::new())?;
    let failed = db.apply(&plan, Destructive::Allow);
    assert!(
        matches!(&failed, Err(Error::Constraint { kind: ConstraintKind::Unique, table, .. }) if table == "people"),
        "{failed:?}"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);
    Ok(())
}

#[test]
fn a_foreign_key_is_dropped_by_a_rebuild_keeping_rows() -> orm::Result<()> {
    mod plain {
        use orm::prelude::*;
        #[derive(Model, Debug)]
        #[orm(table = "orders")]
        pub struct Order {
            #[orm(primary_key)]
            pub id: i64,
            pub total_cents: i64,
            #[orm(index)]
            pub placed_on: String,
            pub user_id: i64,
        }
    }
    let scratch = Scratch::new();
    let db = scratch.database(CURRENT)?;
    let plan = db.migration_plan::<(User, plain::Order)>(&Renames::new())?;
    assert_eq!(
        plan.steps()[0].changes(),
        [SchemaChange::DropForeignKey {
            column: "user_id".into(),
            target: "users".into()
        }]
    );
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert!(foreign_keys(&conn, "orders").is_empty());
    assert_eq!(indexes(&conn, "orders").len(), 1, "the index is recreated");
    assert_eq!(
        rows(&conn, "SELECT * FROM orders ORDER BY id"),
        [
            vec![int(1), int(1299), text("2024-05-01"), int(1)],
            vec![int(2), int(500), text("2024-05-02"), int(1)],
            vec![int(3), int(750), text("2024-05-02"), int(2)],
        ]
    );
    Ok(())
}

#[test]
fn a_rebuild_of_a_parent_keeps_the_children_and_their_foreign_keys() -> orm::Result<()> {
    let scratch = Scratch::new();
    // Today's orders, but users lack `nickname` and UNIQUE: users is rebuilt
    // while orders point at it with ON DELETE CASCADE.
    let db = scratch.database(
        &CURRENT
            .replace(
                "\"email\" TEXT NOT NULL UNIQUE,\n    \"nickname\" TEXT",
                "\"email\" TEXT NOT NULL",
            )
            .replace(
                ", NULL), (2, 'Bob', 'bob@example.com', 'bobby')",
                "), (2, 'Bob', 'bob@example.com')",
            ),
    )?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 1);
    assert_eq!(plan.steps()[0].table(), "users");
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(rows(&conn, "SELECT count(*) FROM orders"), [[int(3)]]);
    assert_eq!(foreign_keys(&conn, "orders")[0].1, "users");
    Ok(())
}

#[test]
fn renames_happen_only_where_declared() -> orm::Result<()> {
    const OLD: &str = r#"
        CREATE TABLE "people" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" INTEGER);
        INSERT INTO "people" VALUES (1, 'ann', 31), (2, 'bob', NULL);"#;

    // Not declared: the plan does not guess; it creates `humans` and drops
    // `people`, which needs consent.
    let scratch = Scratch::new();
    let db = scratch.database(OLD)?;
    let plan = db.migration_plan::<aged::Human>(&Renames::new())?;
    let kinds: Vec<StepKind> = plan.steps().iter().map(|s| s.kind()).collect();
    assert_eq!(kinds, [StepKind::CreateTable, StepKind::DropTable]);
    assert!(matches!(
        db.apply(&plan, Destructive::Refuse),
        Err(Error::DestructiveMigration(_))
    ));

    // Declared: renamed in place, rows kept.
    let renames = Renames::new()
        .table("people", "humans")
        .column("humans", "name", "full_name");
    let plan = db.migration_plan::<aged::Human>(&renames)?;
    let lines: Vec<String> = plan.steps().iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "rename table `people` to `humans`",
            "alter table `humans`: rename column `name` to `full_name`",
        ]
    );
    assert_eq!(
        plan.sql()[2..4],
        [
            r#"ALTER TABLE "people" RENAME TO "humans""#,
            r#"ALTER TABLE "humans" RENAME COLUMN "name" TO "full_name""#,
        ]
    );
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(column_names(&conn, "humans"), ["id", "full_name", "age"]);
    assert_eq!(
        rows(&conn, "SELECT * FROM humans ORDER BY id"),
        [
            vec![int(1), text("ann"), int(31)],
            vec![int(2), text("bob"), Value::Null]
        ]
    );
    // The same declarations, already done, plan nothing.
    assert!(db.migration_plan::<aged::Human>(&renames)?.is_empty());
    Ok(())
}

#[test]
fn hazards_of_a_renamed_table_are_found_by_its_old_names_then_its_new_ones() -> orm::Result<()> {
    mod renamed {
        use orm::prelude::*;
        #[derive(Model, Debug)]
        #[orm(table = "humans")]
        pub struct Human {
            #[orm(primary_key)]
            pub key: i64,
            pub full_name: String,
        }
    }
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let renames = Renames::new()
        .table("people", "humans")
        .column("humans", "id", "key")
        .column("humans", "name", "full_name");
    let plan = db.migration_plan::<renamed::Human>(&renames)?;
    let kinds: Vec<StepKind> = plan.steps().iter().map(|s| s.kind()).collect();
    assert_eq!(
        kinds,
        [
            StepKind::RenameTable,
            StepKind::AlterTable,
            StepKind::RebuildTable
        ]
    );
    let hazards: Vec<_> = plan.hazards().collect();
    assert_eq!(hazards.len(), 1);
    assert_eq!(hazards[0].table, "humans");
    assert_eq!(
        hazards[0].rows,
        ["id 1: 31", "id 3: 17"],
        "old names, before any step"
    );

    let refused = db.apply(&plan, Destructive::Refuse);
    let Err(Error::DestructiveMigration(hazard)) = refused else {
        panic!("expected DestructiveMigration, got {refused:?}");
    };
    assert_eq!(
        hazard.rows,
        ["key 1: 31", "key 3: 17"],
        "new names, after the renames"
    );
    assert!(
        column_names(&scratch.inspect(), "humans").is_empty(),
        "rolled back"
    );

    db.apply(&plan, Destructive::Allow)?;
    assert_eq!(
        rows(&scratch.inspect(), "SELECT * FROM humans ORDER BY key"),
        [
            vec![int(1), text("ann")],
            vec![int(2), text("bob")],
            vec![int(3), text("cy")]
        ]
    );
    Ok(())
}

#[test]
fn a_renamed_parent_keeps_its_children_pointing_at_it() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(&CURRENT.replace("\"users\"", "\"customers\""))?;
    let renames = Renames::new().table("customers", "users");
    let plan = db.migration_plan::<(User, Order)>(&renames)?;
    assert_eq!(plan.steps().len(), 1, "{plan}");
    db.apply(&plan, Destructive::Refuse)?;
    let conn = scratch.inspect();
    assert_eq!(foreign_keys(&conn, "orders")[0].1, "users");
    assert_eq!(rows(&conn, "SELECT count(*) FROM users"), [[int(2)]]);
    Ok(())
}

#[test]
fn a_rename_onto_an_existing_name_is_refused() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(&format!("{CURRENT}{PEOPLE}"))?;
    let renames = Renames::new().table("people", "users");
    assert!(matches!(
        db.migration_plan::<(User, Order)>(&renames),
        Err(Error::Misuse(_))
    ));
    Ok(())
}

// ------------------------------------------------------------ atomicity

/// A table whose foreign key proves the pooled connection enforces keys.
const NOTES: &str = r#"
CREATE TABLE "notes" ("id" INTEGER PRIMARY KEY, "user_id" INTEGER REFERENCES "users" ("id"));
"#;

/// The model of `notes`, so that plans keep the table.
mod notes {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "notes")]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(optional)]
        pub user: BelongsTo<super::User>,
    }
}

type WithNotes = (User, Order, notes::Note);

fn foreign_keys_are_enforced(db: &Database) -> bool {
    matches!(
        db.execute_batch(r#"INSERT INTO "notes" ("user_id") VALUES (999)"#),
        Err(Error::Constraint {
            kind: ConstraintKind::ForeignKey,
            ..
        })
    )
}

#[test]
fn a_plan_failing_half_way_leaves_the_database_exactly_as_it_was() -> orm::Result<()> {
    let scratch = Scratch::new();
    // Order 4 points at user 99, who does not exist: the new foreign key
    // cannot hold. The users step runs first, then the orders rebuild.
    let db = scratch.database(&format!(
        "{OLDER}{NOTES}INSERT INTO \"orders\" VALUES (4, 100, '2024-05-03', 99);"
    ))?;
    let before = snapshot(&scratch.inspect());
    let plan = db.migration_plan::<WithNotes>(&Renames::new())?;
    assert_eq!(plan.steps().len(), 2);

    let failed = db.apply(&plan, Destructive::Allow);
    let Err(error @ Error::ForeignKeyCheck(_)) = failed else {
        panic!("expected ForeignKeyCheck, got {failed:?}");
    };
    assert_eq!(
        error.to_string(),
        "migration rolled back: 1 row of `orders` has a `user_id` matching no row of `users`: id 4: user_id = 99"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);
    assert!(foreign_keys_are_enforced(&db), "foreign keys back on");

    // Fixed, the same plan applies.
    db.execute_batch(r#"DELETE FROM "orders" WHERE "id" = 4"#)?;
    let plan = db.migration_plan::<WithNotes>(&Renames::new())?;
    db.apply(&plan, Destructive::Refuse)?;
    assert!(foreign_keys_are_enforced(&db), "foreign keys back on");
    assert_eq!(foreign_keys(&scratch.inspect(), "orders").len(), 1);
    Ok(())
}

#[test]
fn a_plan_applied_twice_is_refused_as_stale_the_second_time() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    db.apply(&plan, Destructive::Refuse)?;
    let after = snapshot(&scratch.inspect());
    assert!(matches!(
        db.apply(&plan, Destructive::Refuse),
        Err(Error::StalePlan { .. })
    ));
    assert_eq!(snapshot(&scratch.inspect()), after);
    assert!(
        db.migration_plan::<(User, Order)>(&Renames::new())?
            .is_empty()
    );
    Ok(())
}

#[test]
fn apply_runs_the_plans_sql_in_order_inside_one_transaction() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    let recorder = db.recorder();
    db.apply(&plan, Destructive::Refuse)?;
    // Everything sent, the hazard checks aside (this plan has none).
    assert_eq!(
        recorder
            .statements()
            .into_iter()
            .map(|s| s.sql)
            .collect::<Vec<_>>(),
        plan.sql()
    );
    Ok(())
}

// ------------------------------------------------------ versioned migrations

#[test]
fn generated_migrations_apply_once_and_record_their_checksums() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(OLDER)?;
    let migrations = scratch.migrations();
    assert!(is_empty_folder(migrations.dir()));

    let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
    let file = migrations.generate(&plan, "Add user foreign key", Destructive::Refuse)?;
    assert_eq!(file.name, "0001_add_user_foreign_key.sql");
    assert!(file.sql.contains("-- 2. rebuild table `orders`"));
    assert!(!file.sql.lines().any(|line| line.starts_with("BEGIN")));
    assert_eq!(
        db.migration_status(&migrations)?[0].state,
        MigrationState::Pending
    );

    let report = db.migrate(&migrations)?;
    assert_eq!(report.applied, ["0001_add_user_foreign_key.sql"]);
    assert_eq!(
        db.migration_status(&migrations)?[0].state,
        MigrationState::Applied
    );
    let conn = scratch.inspect();
    assert_eq!(foreign_keys(&conn, "orders").len(), 1);
    assert_eq!(rows(&conn, "SELECT count(*) FROM orders"), [[int(3)]]);
    assert_eq!(
        rows(&conn, "SELECT version, name, checksum FROM orm_migrations"),
        [[int(1), text(&file.name), text(&file.checksum())]]
    );
    assert!(
        db.migration_plan::<(User, Order)>(&Renames::new())?
            .is_empty()
    );

    // The second time: nothing runs, nothing changes.
    let before = snapshot(&conn);
    let recorder = db.recorder();
    let report = db.migrate(&migrations)?;
    assert!(report.applied.is_empty() && report.edited.is_empty());
    assert_eq!(recorder.statements().len(), 0);
    assert_eq!(snapshot(&scratch.inspect()), before);
    Ok(())
}

#[test]
fn an_applied_file_edited_afterwards_is_reported_not_rerun() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let migrations = scratch.migrations();
    let plan = db.migration_plan::<aged::PersonWithCityDefault>(&Renames::new())?;
    let file = migrations.generate(&plan, "city", Destructive::Refuse)?;
    db.migrate(&migrations)?;

    std::fs::write(
        &file.path,
        format!("{}\nDELETE FROM \"people\";\n", file.sql),
    )
    .expect("file can be edited");
    let status = db.migration_status(&migrations)?;
    assert_eq!(status[0].state, MigrationState::Edited);
    let report = db.migrate(&migrations)?;
    assert!(report.applied.is_empty());
    assert_eq!(report.edited, [file.name.as_str()]);
    assert_eq!(
        rows(&scratch.inspect(), "SELECT count(*) FROM people"),
        [[int(3)]],
        "the edit did not run"
    );

    std::fs::remove_file(&file.path).expect("file can be removed");
    assert_eq!(
        db.migration_status(&migrations)?[0].state,
        MigrationState::Missing
    );
    Ok(())
}

#[test]
fn pending_files_run_in_order_and_a_failing_one_applies_none() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let migrations = scratch.migrations();
    std::fs::create_dir_all(migrations.dir()).expect("folder");
    std::fs::write(
        migrations.dir().join("0002_second.sql"),
        "ALTER TABLE \"people\" ADD COLUMN \"b\" TEXT;\n",
    )
    .expect("write");
    std::fs::write(
        migrations.dir().join("0001_first.sql"),
        "ALTER TABLE \"people\" ADD COLUMN \"a\" TEXT;\n",
    )
    .expect("write");
    std::fs::write(
        migrations.dir().join("0003_broken.sql"),
        "ALTER TABLE \"nowhere\" ADD COLUMN \"c\" TEXT;\n",
    )
    .expect("write");
    std::fs::write(migrations.dir().join("README.md"), "not a migration").expect("write");

    let before = snapshot(&scratch.inspect());
    let failed = db.migrate(&migrations);
    assert!(
        matches!(&failed, Err(Error::MigrationFailed { file, .. }) if file == "0003_broken.sql"),
        "{failed:?}"
    );
    assert_eq!(snapshot(&scratch.inspect()), before);

    std::fs::remove_file(migrations.dir().join("0003_broken.sql")).expect("remove");
    let report = db.migrate(&migrations)?;
    assert_eq!(report.applied, ["0001_first.sql", "0002_second.sql"]);
    assert_eq!(
        column_names(&scratch.inspect(), "people"),
        ["id", "name", "age", "a", "b"]
    );
    Ok(())
}

#[test]
fn a_destructive_plan_is_written_to_a_file_only_with_consent() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database(PEOPLE)?;
    let migrations = scratch.migrations();
    let plan = db.migration_plan::<aged::PersonWithoutAge>(&Renames::new())?;
    assert!(matches!(
        migrations.generate(&plan, "drop age", Destructive::Refuse),
        Err(Error::DestructiveMigration(_))
    ));
    assert!(is_empty_folder(migrations.dir()));
    let file = migrations.generate(&plan, "drop age", Destructive::Allow)?;
    assert!(file.sql.contains("--    ! dropping column `people`.`age`"));
    Ok(())
}

#[test]
fn a_file_without_a_version_number_is_an_error() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = scratch.database("")?;
    let migrations = scratch.migrations();
    std::fs::create_dir_all(migrations.dir()).expect("folder");
    std::fs::write(migrations.dir().join("add_things.sql"), "").expect("write");
    assert!(matches!(
        db.migrate(&migrations),
        Err(Error::MigrationFile { file, .. }) if file == "add_things.sql"
    ));
    Ok(())
}
