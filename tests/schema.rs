//! Schema: the DDL a model generates, `create_all` (dependency order,
//! idempotence, drift instead of silent mismatch), `drop_all`, quoting of
//! identifiers, and foreign keys switched on for every connection.

use orm::prelude::*;
use orm::{Bound, ColumnType, FromValueError, ToValue, ValueRef};
use orm::{ConstraintKind, DriftReport, Error};
use orm::{Difference, TableDrift};

/// A user type stored in a column of a type the user names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grams(pub i64);

impl ToValue for Grams {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Integer(self.0))
    }
}

impl ColumnType for Grams {
    const SQL_TYPE: &'static str = "INTEGER";
    type Value = Grams;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        i64::from_value(value).map(Grams)
    }
}

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
    pub weight: Grams,
    #[orm(sql_type = "NUMERIC")]
    pub tare: Option<Grams>,
    pub ratio: f64,
    pub image: Option<Vec<u8>>,
    pub active: bool,
}

const PRODUCT_DDL: &str = r#"CREATE TABLE "products" (
    "id" INTEGER PRIMARY KEY,
    "sku" TEXT NOT NULL UNIQUE,
    "name" TEXT NOT NULL,
    "group" TEXT NOT NULL,
    "price_cents" INTEGER NOT NULL,
    "stock" INTEGER NOT NULL DEFAULT 0,
    "note" TEXT,
    "weight" NUMERIC NOT NULL,
    "tare" NUMERIC,
    "ratio" REAL NOT NULL,
    "image" BLOB,
    "active" INTEGER NOT NULL
);
CREATE INDEX "ix_products_name" ON "products" ("name");
CREATE INDEX "ix_products_group_price_cents" ON "products" ("group", "price_cents");
CREATE UNIQUE INDEX "ux_products_group_name" ON "products" ("group", "name");
"#;

#[derive(Model, Debug)]
#[orm(table = "authors")]
pub struct Author {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
}

#[derive(Model, Debug)]
#[orm(table = "books")]
pub struct Book {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(on_delete = "cascade")]
    pub author: BelongsTo<Author>,
}

#[derive(Model, Debug)]
#[orm(table = "reviews")]
pub struct Review {
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(optional, on_delete = "set null")]
    pub book: BelongsTo<Book>,
}

#[derive(Model, Debug)]
#[orm(table = "accounts", index(region, created))]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub email: String,
    #[orm(index)]
    pub handle: String,
    pub region: String,
    pub created: i64,
    pub bio: Option<String>,
}

/// Identifiers that need quoting: a space and a quote in the table name, a
/// keyword as a column name.
#[derive(Model, Debug)]
#[orm(table = "odd \"name\" table")]
pub struct Odd {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(column = "select", index)]
    pub choice: String,
}

/// The names of the tables in the database, read through `session.sql`
/// from SQLite's own catalogue.
#[derive(Model, Debug)]
#[orm(table = "sqlite_schema")]
pub struct CatalogEntry {
    #[orm(primary_key)]
    pub name: String,
}

/// `PRAGMA foreign_keys` of the session's connection, as a one-row table.
#[derive(Model, Debug)]
#[orm(table = "pragma_foreign_keys")]
pub struct ForeignKeys {
    #[orm(primary_key)]
    pub foreign_keys: i64,
}

fn table_names(db: &Database) -> orm::Result<Vec<String>> {
    let session = db.session();
    let entries = session.sql::<CatalogEntry>(
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
        &[],
    )?;
    entries.iter().map(|e| Ok(e.read()?.name.clone())).collect()
}

fn foreign_keys_setting(session: &Session) -> orm::Result<i64> {
    let rows = session.sql::<ForeignKeys>("SELECT foreign_keys FROM pragma_foreign_keys", &[])?;
    assert_eq!(rows.len(), 1);
    Ok(rows[0].read()?.foreign_keys)
}

fn creates(recorder: &orm::Recorder) -> Vec<String> {
    ddl(recorder)
        .into_iter()
        .filter(|s| s.starts_with("CREATE"))
        .collect()
}

/// Every statement but transaction control: DDL is not in `Recorder::sql`,
/// which lists statements that read or write rows.
fn ddl(recorder: &orm::Recorder) -> Vec<String> {
    recorder
        .statements()
        .into_iter()
        .filter(|s| !s.is_transaction_control())
        .map(|s| s.sql)
        .collect()
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("orm-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir can be created");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn ddl_spells_out_types_nullability_unique_defaults_and_indexes() {
    assert_eq!(Product::ddl(), PRODUCT_DDL);
}

#[test]
fn ddl_spells_out_foreign_keys_with_their_on_delete_actions() {
    assert_eq!(
        Book::ddl(),
        "CREATE TABLE \"books\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"title\" TEXT NOT NULL,\n    \"author_id\" INTEGER NOT NULL REFERENCES \"authors\" (\"id\") ON DELETE CASCADE\n);\n"
    );
    assert_eq!(
        Review::ddl(),
        "CREATE TABLE \"reviews\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"body\" TEXT NOT NULL,\n    \"book_id\" INTEGER REFERENCES \"books\" (\"id\") ON DELETE SET NULL\n);\n"
    );
}

#[test]
fn ddl_quotes_every_identifier() {
    assert_eq!(
        Odd::ddl(),
        "CREATE TABLE \"odd \"\"name\"\" table\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"select\" TEXT NOT NULL\n);\nCREATE INDEX \"ix_odd \"\"name\"\" table_select\" ON \"odd \"\"name\"\" table\" (\"select\");\n"
    );
}

#[test]
fn a_table_with_odd_identifiers_is_created_written_and_queried() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Odd>()?;
    let session = db.session();
    session.add(Odd::new("from"));
    session.commit()?;
    let other = db.session();
    let found = other.query::<Odd>().filter(Odd::CHOICE.eq("from")).one()?;
    assert_eq!(found.read()?.choice, "from");
    found.write()?.choice = "where".into();
    other.commit()?;
    assert_eq!(db.session().get::<Odd>(1)?.read()?.choice, "where");
    Ok(())
}

#[test]
fn the_created_table_enforces_unique_columns_and_unique_indexes() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Product>()?;
    let session = db.session();
    let product =
        |sku: &str, name: &str| Product::new(sku, name, "tools", 1999, 5, Grams(250), 0.5, true);
    session.add(product("HAM-1", "hammer"));
    session.commit()?;

    session.add(product("HAM-1", "mallet"));
    let same_sku = session.commit().expect_err("sku is UNIQUE");
    assert!(
        matches!(&same_sku, Error::Constraint { table, kind: ConstraintKind::Unique, detail }
            if table == "products" && detail.contains("products.sku")),
        "{same_sku:?}"
    );
    session.rollback()?;

    session.add(product("HAM-2", "hammer"));
    let same_group_and_name = session
        .commit()
        .expect_err("(group, name) is a unique index");
    assert!(
        matches!(&same_group_and_name, Error::Constraint { table, kind: ConstraintKind::Unique, .. }
            if table == "products"),
        "{same_group_and_name:?}"
    );
    Ok(())
}

#[test]
fn custom_sql_types_and_defaults_work_in_the_created_table() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Product>()?;
    let session = db.session();
    let saw = session.add(Product::new(
        "SAW-1",
        "saw",
        "tools",
        2599,
        3,
        Grams(1250),
        0.25,
        false,
    ));
    saw.write()?.tare = Some(Grams(50));
    session.commit()?;
    db.execute_batch(
        "INSERT INTO products (sku, name, \"group\", price_cents, weight, ratio, active) \
         VALUES ('AXE-1', 'axe', 'tools', 4999, 2000, 1.0, 1)",
    )?;

    let other = db.session();
    let saw = other
        .query::<Product>()
        .filter(Product::WEIGHT.eq(Grams(1250)))
        .one()?;
    assert_eq!(saw.read()?.weight, Grams(1250));
    assert_eq!(saw.read()?.tare, Some(Grams(50)));
    let axe = other
        .query::<Product>()
        .filter(Product::SKU.eq("AXE-1"))
        .one()?;
    assert_eq!(axe.read()?.stock, 0, "the column's DEFAULT applied");
    assert_eq!(axe.read()?.tare, None);
    Ok(())
}

#[test]
fn create_all_creates_parents_before_children_in_one_transaction() -> orm::Result<()> {
    let db = Database::in_memory()?;
    let recorder = db.recorder();
    db.create_all::<(Review, Book, Author)>()?;
    let statements: Vec<String> = recorder.statements().into_iter().map(|s| s.sql).collect();
    assert_eq!(
        statements,
        [
            "BEGIN IMMEDIATE".to_owned(),
            Author::TABLE.create_table_sql(),
            Book::TABLE.create_table_sql(),
            Review::TABLE.create_table_sql(),
            "COMMIT".to_owned(),
        ]
    );
    assert_eq!(table_names(&db)?, ["authors", "books", "reviews"]);
    Ok(())
}

#[test]
fn create_all_creates_each_table_with_its_indexes() -> orm::Result<()> {
    let db = Database::in_memory()?;
    let recorder = db.recorder();
    db.create_all::<Product>()?;
    let mut expected = vec![Product::TABLE.create_table_sql()];
    expected.extend(Product::TABLE.create_index_sql());
    assert_eq!(creates(&recorder), expected);
    Ok(())
}

#[test]
fn create_all_is_idempotent_and_keeps_the_rows() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<(Author, Book)>()?;
    let session = db.session();
    session.add(Author::new("Ann"));
    session.commit()?;

    let recorder = db.recorder();
    db.create_all::<(Author, Book)>()?;
    assert!(creates(&recorder).is_empty(), "{:?}", ddl(&recorder));
    assert_eq!(db.session().query::<Author>().count()?, 1);
    Ok(())
}

#[test]
fn create_all_creates_only_the_missing_tables() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Author>()?;
    let recorder = db.recorder();
    db.create_all::<(Author, Book, Review)>()?;
    assert_eq!(
        creates(&recorder),
        [
            Book::TABLE.create_table_sql(),
            Review::TABLE.create_table_sql()
        ]
    );
    Ok(())
}

#[test]
fn tables_created_by_create_all_show_no_drift() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<(Product, Author, Book, Review, Account, Odd)>()?;
    let report = db.drift::<(Product, Author, Book, Review, Account, Odd)>()?;
    assert!(report.is_empty(), "{report}");
    Ok(())
}

#[test]
fn create_all_reports_a_missing_column_unique_and_index_and_creates_nothing() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        r#"CREATE TABLE "accounts" (
               "id" INTEGER PRIMARY KEY,
               "email" TEXT NOT NULL,
               "handle" TEXT NOT NULL,
               "region" TEXT NOT NULL,
               "created" INTEGER NOT NULL
           );
           CREATE INDEX "ix_accounts_handle" ON "accounts" ("handle");
           INSERT INTO "accounts" VALUES (1, 'a@example.com', 'a', 'eu', 0);"#,
    )?;
    let recorder = db.recorder();

    let error = db
        .create_all::<(Author, Account)>()
        .expect_err("accounts differs from its model");

    let expected = DriftReport {
        tables: vec![TableDrift {
            table: "accounts".into(),
            differences: vec![
                Difference::MissingColumn {
                    column: "bio".into(),
                    definition: "\"bio\" TEXT".into(),
                },
                Difference::MissingUnique {
                    column: "email".into(),
                },
                Difference::MissingIndex {
                    name: "ix_accounts_region_created".into(),
                    columns: vec!["region".into(), "created".into()],
                },
            ],
        }],
    };
    match &error {
        Error::Drift(report) => assert_eq!(report, &expected),
        other => panic!("expected Drift, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "the database schema differs from the models:\n\
         table `accounts`:\n  \
         - column `bio` is missing (model: \"bio\" TEXT)\n  \
         - column `email` is not UNIQUE as the model says\n  \
         - index `ix_accounts_region_created` on (region, created) is missing\n"
    );
    assert!(creates(&recorder).is_empty(), "{:?}", ddl(&recorder));
    assert_eq!(
        table_names(&db)?,
        ["accounts"],
        "authors was not created either"
    );
    assert_eq!(db.drift::<(Author, Account)>()?, expected);
    Ok(())
}

#[test]
fn create_all_reports_a_missing_foreign_key() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        r#"CREATE TABLE "books" (
               "id" INTEGER PRIMARY KEY,
               "title" TEXT NOT NULL,
               "author_id" INTEGER NOT NULL
           )"#,
    )?;
    let error = db
        .create_all::<(Author, Book)>()
        .expect_err("books lacks its foreign key");
    match &error {
        Error::Drift(report) => assert_eq!(
            report.tables,
            [TableDrift {
                table: "books".into(),
                differences: vec![Difference::MissingForeignKey {
                    column: "author_id".into(),
                    target: "authors".into(),
                }],
            }]
        ),
        other => panic!("expected Drift, got {other:?}"),
    }
    assert_eq!(table_names(&db)?, ["books"]);
    Ok(())
}

#[test]
fn drift_reports_other_types_nullability_and_extra_columns() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        r#"CREATE TABLE "authors" ("id" INTEGER PRIMARY KEY, "name" BLOB, "age" INTEGER)"#,
    )?;
    let report = db.drift::<Author>()?;
    assert_eq!(
        report.tables,
        [TableDrift {
            table: "authors".into(),
            differences: vec![
                Difference::TypeDiffers {
                    column: "name".into(),
                    model: "TEXT".into(),
                    database: "BLOB".into(),
                },
                Difference::NullabilityDiffers {
                    column: "name".into(),
                    model_nullable: false,
                },
                Difference::ExtraColumn {
                    column: "age".into(),
                },
            ],
        }]
    );
    Ok(())
}

#[test]
fn an_index_with_the_models_name_on_other_columns_is_drift() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        r#"CREATE TABLE "accounts" (
               "id" INTEGER PRIMARY KEY,
               "email" TEXT NOT NULL UNIQUE,
               "handle" TEXT NOT NULL,
               "region" TEXT NOT NULL,
               "created" INTEGER NOT NULL,
               "bio" TEXT
           );
           CREATE INDEX "ix_accounts_handle" ON "accounts" ("handle");
           CREATE INDEX "ix_accounts_region_created" ON "accounts" ("region");"#,
    )?;
    let report = db.drift::<Account>()?;
    assert_eq!(
        report.tables.len(),
        1,
        "the index lacks `created`: {report:?}"
    );
    assert_eq!(report.tables[0].table, "accounts");
    assert_eq!(report.tables[0].differences.len(), 1, "{report}");
    assert!(
        report.to_string().contains("ix_accounts_region_created"),
        "{report}"
    );
    assert!(matches!(db.create_all::<Account>(), Err(Error::Drift(_))));
    Ok(())
}

#[test]
fn a_table_made_by_hand_from_the_models_ddl_shows_no_drift() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(&Account::ddl())?;
    assert!(db.drift::<Account>()?.is_empty());
    let recorder = db.recorder();
    db.create_all::<Account>()?;
    assert!(creates(&recorder).is_empty());
    Ok(())
}

#[test]
fn drop_all_drops_children_before_parents() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<(Author, Book, Review)>()?;
    db.execute_batch(
        "INSERT INTO authors (id, name) VALUES (1, 'Ann');
         INSERT INTO books (id, title, author_id) VALUES (1, 'Rust', 1);
         INSERT INTO reviews (id, body, book_id) VALUES (1, 'Good', 1);",
    )?;
    let recorder = db.recorder();
    db.drop_all::<(Author, Book, Review)>()?;
    assert_eq!(
        ddl(&recorder),
        [
            r#"DROP TABLE IF EXISTS "reviews""#,
            r#"DROP TABLE IF EXISTS "books""#,
            r#"DROP TABLE IF EXISTS "authors""#,
        ]
    );
    assert!(table_names(&db)?.is_empty());

    // Dropping what is not there is fine, and the tables can be made again.
    db.drop_all::<(Author, Book, Review)>()?;
    db.create_all::<(Author, Book, Review)>()?;
    assert_eq!(db.session().query::<Author>().count()?, 0);
    Ok(())
}

#[test]
fn foreign_keys_are_on_for_every_session_connection_in_memory() -> orm::Result<()> {
    let db = Database::in_memory()?;
    let first = db.session();
    let second = db.session();
    assert_eq!(foreign_keys_setting(&first)?, 1);
    assert_eq!(foreign_keys_setting(&second)?, 1);
    drop(first);
    drop(second);
    let reused = db.session();
    assert_eq!(foreign_keys_setting(&reused)?, 1);
    Ok(())
}

#[test]
fn foreign_keys_are_on_for_every_session_connection_of_a_file() -> orm::Result<()> {
    let dir = TempDir::new("foreign-keys");
    let db = Database::open(dir.0.join("app.db"))?;
    let first = db.session();
    let second = db.session();
    assert_eq!(foreign_keys_setting(&first)?, 1);
    assert_eq!(foreign_keys_setting(&second)?, 1);
    drop(first);
    let third = db.session();
    assert_eq!(foreign_keys_setting(&third)?, 1);
    Ok(())
}

#[test]
fn foreign_keys_are_enforced_and_cascade() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<(Author, Book)>()?;
    let orphan = db
        .execute_batch("INSERT INTO books (title, author_id) VALUES ('Orphan', 99)")
        .expect_err("author 99 does not exist");
    assert!(
        matches!(
            orphan,
            Error::Constraint {
                kind: ConstraintKind::ForeignKey,
                ..
            }
        ),
        "{orphan:?}"
    );
    db.execute_batch(
        "INSERT INTO authors (id, name) VALUES (1, 'Ann');
         INSERT INTO books (title, author_id) VALUES ('Rust', 1);
         DELETE FROM authors WHERE id = 1;",
    )?;
    assert_eq!(
        db.session().query::<Book>().count()?,
        0,
        "ON DELETE CASCADE"
    );
    Ok(())
}

#[test]
fn file_databases_use_the_wal_journal() -> orm::Result<()> {
    let dir = TempDir::new("wal");
    let path = dir.0.join("app.db");
    let db = Database::open(&path)?;
    db.create_all::<Author>()?;
    let raw = rusqlite::Connection::open(&path)?;
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[test]
fn drift_reports_a_default_an_extra_unique_and_an_extra_index_the_plan_would_change()
-> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        r#"CREATE TABLE "authors" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL DEFAULT 'anon' UNIQUE);
           CREATE INDEX "ix_authors_name" ON "authors" ("name")"#,
    )?;
    let report = db.drift::<Author>()?;
    assert_eq!(
        report.tables,
        [TableDrift {
            table: "authors".into(),
            differences: vec![
                Difference::DefaultDiffers {
                    column: "name".into(),
                    model: None,
                    database: Some("'anon'".into()),
                },
                Difference::ExtraUnique {
                    columns: "name".into(),
                },
                Difference::ExtraIndex {
                    name: "ix_authors_name".into(),
                },
            ],
        }]
    );
    // The report and the plan agree: the plan has a step for each.
    let plan = db.migration_plan::<Author>(&orm::Renames::new())?;
    assert!(!plan.is_empty());
    assert!(matches!(db.create_all::<Author>(), Err(Error::Drift(_))));
    Ok(())
}

/// Fourteen small models, for sets larger than one tuple holds.
mod many {
    use orm::prelude::*;

    macro_rules! models {
        ($($name:ident = $table:tt),+ $(,)?) => {$(
            #[derive(Model, Debug)]
            #[orm(table = $table)]
            pub struct $name {
                #[orm(primary_key)]
                pub id: i64,
            }
        )+};
    }

    models! {
        M1 = "m1", M2 = "m2", M3 = "m3", M4 = "m4", M5 = "m5", M6 = "m6", M7 = "m7",
        M8 = "m8", M9 = "m9", M10 = "m10", M11 = "m11", M12 = "m12", M13 = "m13", M14 = "m14",
    }
}

#[test]
fn model_sets_nest_to_any_size() -> orm::Result<()> {
    use many::*;
    type All = (
        (M1, M2, M3, M4, M5, M6, M7, M8, M9, M10, M11, M12),
        (M13, M14, M1),
    );
    let db = Database::in_memory()?;
    db.create_all::<All>()?;
    let session = db.session();
    for table in <All as orm::ModelSet>::tables() {
        let n: Vec<(i64,)> = session.sql_values(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            &[&table.name.to_owned()],
        )?;
        assert_eq!(n, [(1,)], "{} exists", table.name);
    }
    assert_eq!(<All as orm::ModelSet>::tables().len(), 14, "M1 counts once");
    assert!(db.migration_plan::<All>(&orm::Renames::new())?.is_empty());
    Ok(())
}
