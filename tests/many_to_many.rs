//! Many-to-many relationships: `ManyToMany<T>` through a link table that is
//! not a model, and the association-model alternative (a model with two
//! `BelongsTo` and columns of its own). The link table's DDL, back-population
//! from either side, link rows written by the flush, lazy and eager loading,
//! `ON DELETE CASCADE` of link rows, rollback, and the flush plan (design
//! points 4-9 and 12).
//!
//! As in `relation.rs`, every test runs on each backend of the matrix (see
//! `common::backend`): it seeds the database with plain SQL, counts the
//! statements each step costs with a recorder, and reads the rows back with
//! plain SQL in a session of its own.

use crate::common;

use common::{
    backend::{self, is_postgres},
    by_id, ids, params, statements,
};
use orm::Value;
use orm::prelude::*;
use orm::{Action, ConstraintKind, Error, State};

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "items")]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(through = "item_keywords", back_populates = "items")]
    pub keywords: ManyToMany<Keyword>,
}

#[derive(Model, Debug)]
#[orm(table = "keywords")]
pub struct Keyword {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub word: String,
    #[orm(through = "item_keywords", back_populates = "keywords")]
    pub items: ManyToMany<Item>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub customer: String,
    #[orm(back_populates = "order")]
    pub lines: HasMany<OrderLine>,
}

#[derive(Model, Debug)]
#[orm(table = "products")]
pub struct Product {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "product")]
    pub lines: HasMany<OrderLine>,
}

/// The association model: links an order to a product, with a quantity.
#[derive(Model, Debug)]
#[orm(table = "order_lines")]
pub struct OrderLine {
    #[orm(primary_key)]
    pub id: i64,
    pub quantity: i64,
    #[orm(on_delete = "cascade", back_populates = "lines")]
    pub order: BelongsTo<Order>,
    #[orm(back_populates = "lines")]
    pub product: BelongsTo<Product>,
}

// ---------------------------------------------------------------- fixtures

/// Items pen (blue, office), ink (blue), cup (kitchen) and box (none);
/// keyword red has no items. Keys are left to the database, which numbers
/// a new table's rows from 1.
fn shop(db: &Database) -> orm::Result<()> {
    db.create_all::<(Item, Keyword)>()?;
    db.execute_batch(
        "INSERT INTO items (name) VALUES ('pen'), ('ink'), ('cup'), ('box');
         INSERT INTO keywords (word) VALUES ('blue'), ('office'), ('kitchen'), ('red');",
    )?;
    let keys: Vec<(i64, String)> = db
        .session()
        .sql_values("SELECT id, name FROM items ORDER BY id", &[])?;
    assert_eq!(
        keys,
        [(1, "pen"), (2, "ink"), (3, "cup"), (4, "box")].map(|(k, n)| (k, n.to_owned())),
        "the keys the tests expect"
    );
    seed_links(db)
}

/// Makes the link rows [`SEEDED_LINKS`] again, whatever they were.
fn seed_links(db: &Database) -> orm::Result<()> {
    db.execute_batch(
        "DELETE FROM item_keywords;
         INSERT INTO item_keywords (item_id, keyword_id) VALUES (1, 1), (1, 2), (2, 1), (3, 3);",
    )?;
    assert_eq!(links(db), SEEDED_LINKS);
    Ok(())
}

/// The link rows as `(item_id, keyword_id)`, sorted, as a session of their
/// own reads them: what the database holds, as committed.
fn links(db: &Database) -> Vec<(i64, i64)> {
    db.session()
        .sql_values(
            "SELECT item_id, keyword_id FROM item_keywords ORDER BY item_id, keyword_id",
            &[],
        )
        .expect("the test query runs")
}

/// The one integer a query such as `SELECT count(*) FROM keywords` returns.
fn count(db: &Database, sql: &str) -> i64 {
    let counts: Vec<i64> = db
        .session()
        .sql_values(sql, &[])
        .expect("the count query runs");
    counts[0]
}

/// What a database's catalogue says of the link table: its indexes (name
/// and SQL text where kept), its primary key's columns (name and position),
/// its foreign keys (column, table and column referenced, `ON DELETE`), and
/// the columns of the link index.
type LinkTableCatalogue = (
    Vec<(String, Option<String>)>,
    Vec<(String, i64)>,
    Vec<(String, String, String, String)>,
    Vec<String>,
);

const SEEDED_LINKS: [(i64, i64); 4] = [(1, 1), (1, 2), (2, 1), (3, 3)];

fn ints(values: &[i64]) -> Vec<Value> {
    values.iter().map(|&v| Value::Integer(v)).collect()
}

/// A link row's insert, which leaves a row already there alone.
fn insert_link(db: &Database) -> &'static str {
    if is_postgres(db) {
        r#"INSERT INTO "item_keywords" ("item_id", "keyword_id") VALUES (?, ?) ON CONFLICT DO NOTHING"#
    } else {
        r#"INSERT OR IGNORE INTO "item_keywords" ("item_id", "keyword_id") VALUES (?, ?)"#
    }
}

const DELETE_LINK: &str = r#"DELETE FROM "item_keywords" WHERE "item_id" = ? AND "keyword_id" = ?"#;

/// The condition of a key list bound as one parameter.
fn in_key_list(db: &Database) -> &'static str {
    if is_postgres(db) {
        " = ANY(?)"
    } else {
        " IN (SELECT value FROM json_each(?))"
    }
}

/// The key list parameter of a load of the collections of `keys`.
fn key_list(db: &Database, keys: &[i64]) -> Value {
    let keys: Vec<String> = keys.iter().map(i64::to_string).collect();
    let (open, close) = if is_postgres(db) {
        ('{', '}')
    } else {
        ('[', ']')
    };
    Value::Text(format!("{open}{}{close}", keys.join(",")))
}

fn select_keywords_of_items(db: &Database) -> String {
    format!(
        r#"SELECT t."id", t."word", l."item_id" FROM "keywords" AS t JOIN "item_keywords" AS l ON l."keyword_id" = t."id" WHERE l."item_id"{}"#,
        in_key_list(db)
    )
}

fn select_items_of_keywords(db: &Database) -> String {
    format!(
        r#"SELECT t."id", t."name", l."keyword_id" FROM "items" AS t JOIN "item_keywords" AS l ON l."item_id" = t."id" WHERE l."keyword_id"{}"#,
        in_key_list(db)
    )
}

/// Links cup (item 3) to blue (keyword 1) from the item's side or the
/// keyword's, with `cup.keywords` and `blue.items` loaded or not as asked,
/// and checks memory, statements and rows.
fn link_cup_to_blue(
    db: &Database,
    from_item: bool,
    cup_loaded: bool,
    blue_loaded: bool,
) -> orm::Result<()> {
    shop(db)?;
    let recorder = db.recorder();
    let session = db.session();
    let cup = session.get::<Item>(3)?;
    let blue = session.get::<Keyword>(1)?;
    if cup_loaded {
        assert_eq!(ids(&cup.read()?.keywords.load()?), [3]);
    }
    if blue_loaded {
        assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);
    }
    recorder.clear();

    if from_item {
        cup.read()?.keywords.add(&blue)?;
    } else {
        blue.read()?.items.add(&cup)?;
    }
    assert_eq!(recorder.count(), 0, "linking loads nothing");
    assert_eq!(cup.read()?.keywords.is_loaded(), cup_loaded);
    assert_eq!(blue.read()?.items.is_loaded(), blue_loaded);
    if cup_loaded {
        let keywords = cup.read()?.keywords.load()?;
        assert_eq!(ids(&keywords), [1, 3]);
        assert!(keywords.contains(&blue));
    }
    if blue_loaded {
        let items = blue.read()?.items.load()?;
        assert_eq!(ids(&items), [1, 2, 3]);
        assert!(items.contains(&cup));
    }
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    assert_eq!(backend::sql(&recorder), [insert_link(db)]);
    assert_eq!(params(&recorder), [ints(&[3, 1])]);
    assert_eq!(links(db), [(1, 1), (1, 2), (2, 1), (3, 1), (3, 3)]);

    // Collections that were not loaded load the new state from the database.
    recorder.clear();
    let keywords = cup.read()?.keywords.load()?;
    assert_eq!(ids(&keywords), [1, 3]);
    assert!(keywords.contains(&blue));
    let items = blue.read()?.items.load()?;
    assert_eq!(ids(&items), [1, 2, 3]);
    assert!(items.contains(&cup));
    let loads = usize::from(!cup_loaded) + usize::from(!blue_loaded);
    assert_eq!(recorder.count(), loads);
    Ok(())
}

/// Unlinks pen (item 1) from office (keyword 2), like `link_cup_to_blue`,
/// in a shop made before (whose link rows it makes again first).
fn unlink_pen_from_office(
    db: &Database,
    from_item: bool,
    pen_loaded: bool,
    office_loaded: bool,
) -> orm::Result<()> {
    seed_links(db)?;
    let recorder = db.recorder();
    let session = db.session();
    let pen = session.get::<Item>(1)?;
    let office = session.get::<Keyword>(2)?;
    if pen_loaded {
        assert_eq!(ids(&pen.read()?.keywords.load()?), [1, 2]);
    }
    if office_loaded {
        assert_eq!(office.read()?.items.load()?, std::slice::from_ref(&pen));
    }
    recorder.clear();

    if from_item {
        pen.read()?.keywords.remove(&office)?;
    } else {
        office.read()?.items.remove(&pen)?;
    }
    assert_eq!(recorder.count(), 0, "unlinking loads nothing");
    assert_eq!(pen.read()?.keywords.is_loaded(), pen_loaded);
    assert_eq!(office.read()?.items.is_loaded(), office_loaded);
    if pen_loaded {
        assert_eq!(ids(&pen.read()?.keywords.load()?), [1]);
    }
    if office_loaded {
        assert!(office.read()?.items.load()?.is_empty());
    }
    assert_eq!(office.state(), State::Persistent, "only the link goes");

    session.commit()?;
    assert_eq!(backend::sql(&recorder), [DELETE_LINK]);
    assert_eq!(params(&recorder), [ints(&[1, 2])]);
    assert_eq!(links(db), [(1, 1), (2, 1), (3, 3)]);
    assert_eq!(count(db, "SELECT count(*) FROM keywords"), 4);

    recorder.clear();
    assert_eq!(ids(&pen.read()?.keywords.load()?), [1]);
    assert!(office.read()?.items.load()?.is_empty());
    let loads = usize::from(!pen_loaded) + usize::from(!office_loaded);
    assert_eq!(recorder.count(), loads);
    Ok(())
}

const ITEMS: i64 = 50;
const KEYWORDS: i64 = 10;

/// `ITEMS` items and `KEYWORDS` keywords; item `i` is linked to keywords
/// `i % 10 + 1` and `(i + 3) % 10 + 1`, so each keyword has 10 items.
fn catalogue(db: &Database) -> orm::Result<()> {
    db.create_all::<(Item, Keyword)>()?;
    let keywords: Vec<String> = (1..=KEYWORDS).map(|k| format!("('word {k}')")).collect();
    let items: Vec<String> = (1..=ITEMS).map(|i| format!("('item {i}')")).collect();
    let links: Vec<String> = (1..=ITEMS)
        .flat_map(|i| {
            keywords_of(i)
                .into_iter()
                .map(move |k| format!("({i}, {k})"))
        })
        .collect();
    db.execute_batch(&format!(
        "INSERT INTO keywords (word) VALUES {};
         INSERT INTO items (name) VALUES {};
         INSERT INTO item_keywords (item_id, keyword_id) VALUES {};",
        keywords.join(", "),
        items.join(", "),
        links.join(", ")
    ))?;
    let last: Vec<(i64, String)> = db
        .session()
        .sql_values("SELECT id, name FROM items WHERE id = $1", &[&ITEMS])?;
    assert_eq!(
        last,
        [(ITEMS, format!("item {ITEMS}"))],
        "the keys the tests expect"
    );
    Ok(())
}

fn keywords_of(item: i64) -> Vec<i64> {
    let mut keywords = vec![item % KEYWORDS + 1, (item + 3) % KEYWORDS + 1];
    keywords.sort_unstable();
    keywords
}

/// Two orders of pens and ink, added and linked in one session.
fn order_pens_and_ink(db: &Database) -> orm::Result<()> {
    let session = db.session();
    let recorder = db.recorder();
    let pen = session.add(Product::new("pen"));
    let ink = session.add(Product::new("ink"));
    let ann = session.add(Order::new("Ann"));
    let bob = session.add(Order::new("Bob"));
    for (order, product, quantity) in [(&ann, &pen, 2), (&ann, &ink, 1), (&bob, &pen, 5)] {
        let line = session.add(OrderLine::new(quantity));
        order.read()?.lines.push(&line)?;
        line.read()?.product.set(product)?;
    }
    assert_eq!(pen.read()?.lines.load()?.len(), 2, "back-populated");
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    let mut expected = vec![
        "INSERT products",
        "INSERT products",
        "INSERT orders",
        "INSERT orders",
    ];
    if is_postgres(db) {
        // Three rows: their keys, then one INSERT, two round trips.
        expected.extend(["SELECT order_lines", "INSERT order_lines"]);
    } else {
        expected.extend(["INSERT order_lines"; 3]);
    }
    assert_eq!(statements(&recorder), expected);
    Ok(())
}

backend_tests! {
    // ------------------------------------------------------------------ schema

    fn create_all_makes_the_link_table_with_a_composite_key_cascading_foreign_keys_and_an_index(db) -> orm::Result<()> {
        let postgres = is_postgres(&db);
        let recorder = db.recorder();
        db.create_all::<(Item, Keyword)>()?;
        let (ends, key_type) = if postgres {
            (
                [
                    "CREATE TABLE \"items\" (\n    \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n    \"name\" TEXT NOT NULL\n)".to_owned(),
                    "CREATE TABLE \"keywords\" (\n    \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n    \"word\" TEXT NOT NULL UNIQUE\n)".to_owned(),
                ],
                "BIGINT",
            )
        } else {
            (
                [Item::TABLE.create_table_sql(), Keyword::TABLE.create_table_sql()],
                "INTEGER",
            )
        };
        let link_table = format!("CREATE TABLE \"item_keywords\" (\n    \"item_id\" {key_type} NOT NULL REFERENCES \"items\" (\"id\") ON DELETE CASCADE,\n    \"keyword_id\" {key_type} NOT NULL REFERENCES \"keywords\" (\"id\") ON DELETE CASCADE,\n    PRIMARY KEY (\"item_id\", \"keyword_id\")\n)");
        let link_index =
            r#"CREATE INDEX "ix_item_keywords_keyword_id" ON "item_keywords" ("keyword_id")"#;
        let ddl: Vec<String> = recorder
            .statements()
            .into_iter()
            .filter(|s| !s.is_transaction_control())
            .map(|s| s.sql)
            .collect();
        let [items, keywords] = ends;
        assert_eq!(
            ddl,
            [items, keywords, link_table.clone(), link_index.to_owned()],
            "both ends, then the link table and its index"
        );

        // What the database made of it, read back from its own catalogue.
        let session = db.session();
        let (indexes, primary_key, foreign_keys, indexed): LinkTableCatalogue = if postgres {
            (
                session.sql_values(
                    "SELECT indexname::text, NULL::text FROM pg_indexes
                     WHERE schemaname = current_schema() AND tablename = 'item_keywords'
                     ORDER BY indexname",
                    &[],
                )?,
                session.sql_values(
                    "SELECT k.column_name::text, k.ordinal_position::bigint
                     FROM information_schema.table_constraints c
                     JOIN information_schema.key_column_usage k
                       ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
                     WHERE c.table_schema = current_schema() AND c.table_name = 'item_keywords'
                       AND c.constraint_type = 'PRIMARY KEY'
                     ORDER BY k.ordinal_position",
                    &[],
                )?,
                session.sql_values(
                    "SELECT k.column_name::text, u.table_name::text, u.column_name::text, r.delete_rule::text
                     FROM information_schema.referential_constraints r
                     JOIN information_schema.key_column_usage k
                       ON k.constraint_schema = r.constraint_schema AND k.constraint_name = r.constraint_name
                     JOIN information_schema.constraint_column_usage u
                       ON u.constraint_schema = r.constraint_schema AND u.constraint_name = r.constraint_name
                     WHERE k.table_schema = current_schema() AND k.table_name = 'item_keywords'
                     ORDER BY k.column_name",
                    &[],
                )?,
                session.sql_values(
                    "SELECT a.attname::text FROM pg_index i
                     JOIN pg_class c ON c.oid = i.indexrelid
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                     WHERE c.relnamespace = current_schema()::regnamespace
                       AND c.relname = 'ix_item_keywords_keyword_id'",
                    &[],
                )?,
            )
        } else {
            let schema: Vec<(String, String, Option<String>)> = session.sql_values(
                "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = 'item_keywords' ORDER BY type DESC, name",
                &[],
            )?;
            assert_eq!(
                schema[0],
                ("table".into(), "item_keywords".into(), Some(link_table.clone())),
                "the table as it was created"
            );
            (
                schema[1..]
                    .iter()
                    .map(|(kind, name, sql)| {
                        assert_eq!(kind, "index");
                        (name.clone(), sql.clone())
                    })
                    .collect(),
                session.sql_values(
                    "SELECT name, pk FROM pragma_table_info('item_keywords') WHERE pk > 0 ORDER BY pk",
                    &[],
                )?,
                session.sql_values(
                    r#"SELECT "from", "table", "to", on_delete FROM pragma_foreign_key_list('item_keywords') ORDER BY "from""#,
                    &[],
                )?,
                session.sql_values(
                    "SELECT name FROM pragma_index_info('ix_item_keywords_keyword_id')",
                    &[],
                )?,
            )
        };
        let key_index = if postgres {
            // PostgreSQL keeps no text of the index it made.
            ("item_keywords_pkey".to_owned(), None)
        } else {
            ("sqlite_autoindex_item_keywords_1".to_owned(), None)
        };
        let index = (
            "ix_item_keywords_keyword_id".to_owned(),
            (!postgres).then(|| link_index.to_owned()),
        );
        let mut expected_indexes = vec![index, key_index];
        expected_indexes.sort();
        assert_eq!(indexes, expected_indexes, "the key's index and the link index");
        assert_eq!(
            primary_key,
            [("item_id".to_owned(), 1), ("keyword_id".to_owned(), 2)]
        );
        let fk = |from: &str, table: &str| {
            (
                from.to_owned(),
                table.to_owned(),
                "id".to_owned(),
                "CASCADE".to_owned(),
            )
        };
        assert_eq!(
            foreign_keys,
            [fk("item_id", "items"), fk("keyword_id", "keywords")]
        );
        assert_eq!(indexed, ["keyword_id"]);

        // A second create_all finds everything in place and creates nothing.
        recorder.clear();
        db.create_all::<(Item, Keyword)>()?;
        assert!(
            recorder
                .statements()
                .iter()
                .all(|s| !s.sql.starts_with("CREATE")),
            "{:?}",
            recorder.statements()
        );
        assert_eq!(recorder.count(), 0, "{:?}", backend::sql(&recorder));
        Ok(())
    }

    fn the_link_table_refuses_a_duplicate_link_and_a_link_to_a_missing_row(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let insert = "INSERT INTO item_keywords (item_id, keyword_id) VALUES ($1, $2)";
        let duplicate = session.execute(insert, &[&1_i64, &1_i64]);
        assert!(
            matches!(
                duplicate,
                Err(Error::Constraint {
                    kind: ConstraintKind::Unique,
                    ..
                })
            ),
            "the composite primary key: {duplicate:?}"
        );
        let dangling = session.execute(insert, &[&1_i64, &99_i64]);
        assert!(
            matches!(
                dangling,
                Err(Error::Constraint {
                    kind: ConstraintKind::ForeignKey,
                    ..
                })
            ),
            "the foreign key: {dangling:?}"
        );
        session.commit()?;
        assert_eq!(links(&db), SEEDED_LINKS);
        Ok(())
    }

    // ------------------------------------------------------------ lazy loading

    fn links_added_and_removed_many_times_before_a_flush_write_only_the_last_state(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let red = session.get::<Keyword>(4)?;
        let new: Vec<Handle<Item>> = (0..30)
            .map(|i| session.add(Item::new(format!("new {i}"))))
            .collect();
        // red's items not loaded: every change is noted for the load.
        for item in &new {
            red.read()?.items.add(item)?;
        }
        for item in &new[..25] {
            red.read()?.items.remove(item)?;
        }
        red.read()?.items.add(&new[3])?; // back, now the last one added
        let cup = session.get::<Item>(3)?;
        red.read()?.items.add(&cup)?;
        red.read()?.items.remove(&cup)?;
        red.read()?.items.add(&cup)?;
        // Toggled many times: its latest addition counts, at the end.
        for _ in 0..40 {
            red.read()?.items.remove(&new[29])?;
            red.read()?.items.add(&new[29])?;
        }
        let names: Vec<String> = (red.read()?.items.load()?.iter())
            .map(|i| i.read().map(|i| i.name.clone()))
            .collect::<orm::Result<_>>()?;
        assert_eq!(
            names,
            ["new 25", "new 26", "new 27", "new 28", "new 3", "cup", "new 29"]
        );
        session.commit()?;
        let mut expected = SEEDED_LINKS.to_vec();
        expected.push((3, 4));
        expected.extend([30, 31, 32, 33, 34, 8].map(|item| (item, 4)));
        expected.sort();
        assert_eq!(links(&db), expected, "new items numbered 5 to 34");
        Ok(())
    }

    fn most_links_cancelled_on_a_loaded_collection_leave_the_rest_to_write(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let red = session.get::<Keyword>(4)?;
        assert!(red.read()?.items.load()?.is_empty(), "loaded: red has no items");
        let new: Vec<Handle<Item>> = (0..10)
            .map(|i| session.add(Item::new(format!("new {i}"))))
            .collect();
        for item in &new {
            red.read()?.items.add(item)?;
        }
        // Each removal cancels its addition: most of the changes go, and
        // those left are found where they moved to.
        for item in &new[..8] {
            red.read()?.items.remove(item)?;
        }
        red.read()?.items.remove(&new[8])?;
        red.read()?.items.add(&new[0])?;
        let pen = session.get::<Item>(1)?;
        red.read()?.items.add(&pen)?;
        session.commit()?;
        let mut expected = SEEDED_LINKS.to_vec();
        // pen is 1; the new items are numbered 5 to 14, new 9 is 14.
        expected.extend([(1, 4), (5, 4), (14, 4)]);
        expected.sort();
        assert_eq!(links(&db), expected);
        Ok(())
    }

    fn first_access_of_item_keywords_is_one_join_select_and_later_accesses_none(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        assert!(!pen.read()?.keywords.is_loaded());
        recorder.clear();

        let keywords = pen.read()?.keywords.load()?;
        assert_eq!(backend::sql(&recorder), [select_keywords_of_items(&db)]);
        assert_eq!(params(&recorder), [vec![key_list(&db, &[1])]]);
        assert_eq!(ids(&keywords), [1, 2]);
        assert_eq!(by_id(&keywords, 1).read()?.word, "blue");
        assert!(pen.read()?.keywords.is_loaded());

        recorder.clear();
        assert_eq!(pen.read()?.keywords.load()?, keywords, "the same objects");
        assert_eq!(
            session.get::<Keyword>(2)?,
            by_id(&keywords, 2),
            "the load joined the map"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn keyword_items_loads_lazily_and_holds_the_items_already_in_the_map(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        let blue = by_id(&pen.read()?.keywords.load()?, 1);
        assert!(
            !blue.read()?.items.is_loaded(),
            "loading one side leaves the other: it may hold more"
        );
        recorder.clear();

        let items = blue.read()?.items.load()?;
        assert_eq!(backend::sql(&recorder), [select_items_of_keywords(&db)]);
        assert_eq!(ids(&items), [1, 2]);
        assert_eq!(by_id(&items, 1), pen, "the item we came from, not a copy");
        recorder.clear();
        assert_eq!(blue.read()?.items.load()?, items);
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn an_item_without_keywords_loads_an_empty_collection_with_one_select(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let boxed = session.get::<Item>(4)?;
        recorder.clear();

        assert!(boxed.read()?.keywords.load()?.is_empty());
        assert_eq!(recorder.count(), 1);
        assert!(boxed.read()?.keywords.load()?.is_empty());
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn a_new_object_has_a_loaded_empty_collection(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let mug = session.add(Item::new("mug"));
        assert!(mug.read()?.keywords.is_loaded());
        assert!(mug.read()?.keywords.load()?.is_empty());
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    // -------------------------------------------------------- back-population

    fn adding_from_the_item_side_with_both_sides_loaded_updates_both_in_memory(db) -> orm::Result<()> {
        link_cup_to_blue(&db, true, true, true)
    }

    fn adding_from_the_item_side_with_only_its_own_side_loaded_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, true, true, false)
    }

    fn adding_from_the_item_side_with_only_the_other_side_loaded_updates_it_and_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, true, false, true)
    }

    fn adding_from_the_item_side_with_neither_side_loaded_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, true, false, false)
    }

    fn adding_from_the_keyword_side_with_both_sides_loaded_updates_both_in_memory(db) -> orm::Result<()> {
        link_cup_to_blue(&db, false, true, true)
    }

    fn adding_from_the_keyword_side_with_only_its_own_side_loaded_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, false, false, true)
    }

    fn adding_from_the_keyword_side_with_only_the_other_side_loaded_updates_it_and_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, false, true, false)
    }

    fn adding_from_the_keyword_side_with_neither_side_loaded_loads_nothing(db) -> orm::Result<()> {
        link_cup_to_blue(&db, false, false, false)
    }

    fn removing_from_the_item_side_deletes_the_link_row_and_updates_both_loaded_sides(db) -> orm::Result<()> {
        shop(&db)?;
        unlink_pen_from_office(&db, true, true, true)
    }

    fn removing_from_the_keyword_side_deletes_the_link_row_and_updates_both_loaded_sides(db) -> orm::Result<()> {
        shop(&db)?;
        unlink_pen_from_office(&db, false, true, true)
    }

    fn removing_with_only_one_side_loaded_updates_it_and_loads_nothing(db) -> orm::Result<()> {
        shop(&db)?;
        unlink_pen_from_office(&db, true, true, false)?;
        unlink_pen_from_office(&db, true, false, true)?;
        unlink_pen_from_office(&db, false, true, false)?;
        unlink_pen_from_office(&db, false, false, true)
    }

    fn removing_with_neither_side_loaded_deletes_the_link_row_and_loads_nothing(db) -> orm::Result<()> {
        shop(&db)?;
        unlink_pen_from_office(&db, true, false, false)?;
        unlink_pen_from_office(&db, false, false, false)
    }

    // ------------------------------------------- pending link changes cancel out

    fn an_add_then_a_remove_before_the_flush_cancels_out_or_the_last_one_wins(db) -> orm::Result<()> {
        shop(&db)?;
        for loaded in [true, false] {
            seed_links(&db)?;
            let recorder = db.recorder();
            let session = db.session();
            let cup = session.get::<Item>(3)?;
            let red = session.get::<Keyword>(4)?;
            if loaded {
                cup.read()?.keywords.load()?;
                red.read()?.items.load()?;
            }
            recorder.clear();

            cup.read()?.keywords.add(&red)?;
            red.read()?.items.remove(&cup)?;
            // Loaded, the session knows the link did not exist: nothing to do.
            // Unloaded, it cannot know, so the last change (a DELETE) is sent.
            assert_eq!(session.has_changes(), !loaded, "loaded: {loaded}");
            session.commit()?;
            assert_eq!(
                recorder.count(),
                usize::from(!loaded),
                "{:?}",
                backend::sql(&recorder)
            );
            assert_eq!(links(&db), SEEDED_LINKS);
            assert_eq!(ids(&cup.read()?.keywords.load()?), [3]);
            assert!(red.read()?.items.load()?.is_empty());
        }
        Ok(())
    }

    fn a_remove_then_an_add_before_the_flush_cancels_out_or_the_last_one_wins(db) -> orm::Result<()> {
        shop(&db)?;
        for loaded in [true, false] {
            seed_links(&db)?;
            let recorder = db.recorder();
            let session = db.session();
            let pen = session.get::<Item>(1)?;
            let blue = session.get::<Keyword>(1)?;
            if loaded {
                pen.read()?.keywords.load()?;
                blue.read()?.items.load()?;
            }
            recorder.clear();

            blue.read()?.items.remove(&pen)?;
            pen.read()?.keywords.add(&blue)?;
            // Unloaded, the last change (an INSERT OR IGNORE) is sent.
            assert_eq!(session.has_changes(), !loaded, "loaded: {loaded}");
            session.commit()?;
            assert_eq!(
                recorder.count(),
                usize::from(!loaded),
                "{:?}",
                backend::sql(&recorder)
            );
            assert_eq!(links(&db), SEEDED_LINKS);
            assert_eq!(ids(&pen.read()?.keywords.load()?), [1, 2]);
            assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);
        }
        Ok(())
    }

    fn a_change_cancelled_among_others_leaves_the_others_to_find_and_cancel(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cup = session.get::<Item>(3)?;
        let [blue, office, red] = [1, 2, 4].map(|k| session.get::<Keyword>(k));
        let (blue, office, red) = (blue?, office?, red?);
        cup.read()?.keywords.load()?;
        recorder.clear();

        for keyword in [&blue, &office, &red] {
            cup.read()?.keywords.add(keyword)?;
        }
        // The first change cancelled, then the second: the one left is
        // found where it moved to.
        cup.read()?.keywords.remove(&blue)?;
        cup.read()?.keywords.remove(&office)?;
        cup.read()?.keywords.add(&blue)?;
        cup.read()?.keywords.remove(&blue)?;
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [insert_link(&db)],
            "one link row written"
        );
        assert_eq!(links(&db), [(1, 1), (1, 2), (2, 1), (3, 3), (3, 4)]);
        Ok(())
    }

    fn adding_a_link_that_exists_is_harmless_loaded_or_not(db) -> orm::Result<()> {
        shop(&db)?;
        for loaded in [true, false] {
            seed_links(&db)?;
            let recorder = db.recorder();
            let session = db.session();
            let pen = session.get::<Item>(1)?;
            let blue = session.get::<Keyword>(1)?;
            if loaded {
                pen.read()?.keywords.load()?;
                blue.read()?.items.load()?;
            }
            recorder.clear();

            pen.read()?.keywords.add(&blue)?;
            pen.read()?.keywords.add(&blue)?;
            blue.read()?.items.add(&pen)?;
            session.commit()?;
            if loaded {
                assert_eq!(
                    recorder.count(),
                    0,
                    "known to be linked: {:?}",
                    backend::sql(&recorder)
                );
            } else {
                // Not known to be linked: INSERT OR IGNORE keeps the one row.
                assert!(
                    backend::sql(&recorder).iter().all(|sql| sql == insert_link(&db)),
                    "{:?}",
                    backend::sql(&recorder)
                );
            }
            assert_eq!(links(&db), SEEDED_LINKS, "loaded: {loaded}");
            recorder.clear();
            let keywords = pen.read()?.keywords.load()?;
            assert_eq!(ids(&keywords), [1, 2], "blue once, loaded: {loaded}");
            assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);
        }
        Ok(())
    }

    fn removing_a_link_after_adding_it_again_deletes_it_loaded_or_not(db) -> orm::Result<()> {
        // The add changes nothing (the link exists); the remove is what the
        // user asked for last, and must reach the database.
        shop(&db)?;
        for loaded in [true, false] {
            seed_links(&db)?;
            let recorder = db.recorder();
            let session = db.session();
            let pen = session.get::<Item>(1)?;
            let blue = session.get::<Keyword>(1)?;
            if loaded {
                pen.read()?.keywords.load()?;
                blue.read()?.items.load()?;
            }
            recorder.clear();

            pen.read()?.keywords.add(&blue)?;
            pen.read()?.keywords.remove(&blue)?;
            session.commit()?;
            assert_eq!(backend::sql(&recorder), [DELETE_LINK], "loaded: {loaded}");
            assert_eq!(links(&db), [(1, 2), (2, 1), (3, 3)], "loaded: {loaded}");
            assert_eq!(ids(&pen.read()?.keywords.load()?), [2]);
            assert_eq!(ids(&blue.read()?.items.load()?), [2]);
        }
        Ok(())
    }

    // -------------------------------------------------------------- unit of work

    fn a_new_item_and_new_keywords_flush_inserts_then_link_rows_with_keys_filled(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let blue = session.get::<Keyword>(1)?;
        assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);
        recorder.clear();

        // Links made before either end has a key.
        let mug = session.add(Item::new("mug"));
        let green = session.add(Keyword::new("green"));
        mug.read()?.keywords.add(&green)?;
        blue.read()?.items.add(&mug)?;
        assert_eq!(green.read()?.items.load()?, std::slice::from_ref(&mug));
        let keywords = mug.read()?.keywords.load()?;
        assert_eq!(keywords.len(), 2);
        assert!(keywords.contains(&green) && keywords.contains(&blue));
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(
            statements(&recorder),
            [
                "INSERT items",
                "INSERT keywords",
                "INSERT item_keywords",
                "INSERT item_keywords"
            ]
        );
        let (mug_id, green_id) = (mug.read()?.id, green.read()?.id);
        assert_eq!((mug_id, green_id), (5, 5));
        assert_eq!(
            params(&recorder)[2..],
            [ints(&[mug_id, green_id]), ints(&[mug_id, 1])]
        );
        assert_eq!(links(&db), [(1, 1), (1, 2), (2, 1), (3, 3), (5, 1), (5, 5)]);
        assert_eq!(mug.state(), State::Persistent);
        assert_eq!(green.state(), State::Persistent);

        recorder.clear();
        assert_eq!(ids(&mug.read()?.keywords.load()?), [1, 5]);
        assert_eq!(ids(&blue.read()?.items.load()?), [1, 2, 5]);
        assert_eq!(recorder.count(), 0, "both sides were kept in step");
        Ok(())
    }

    fn adding_a_new_item_to_a_persistent_keyword_adds_the_item_to_the_session(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let red = session.get::<Keyword>(4)?;
        let mug = Handle::new(Item::new("mug"));
        assert_eq!(mug.state(), State::Transient);

        red.read()?.items.add(&mug)?;
        assert_eq!(mug.state(), State::Pending);
        assert_eq!(mug.read()?.keywords.load()?, std::slice::from_ref(&red));
        recorder.clear();
        session.commit()?;
        assert_eq!(
            statements(&recorder),
            ["INSERT items", "INSERT item_keywords"]
        );
        assert_eq!(links(&db)[4..], [(5, 4)]);
        Ok(())
    }

    fn the_flush_plan_lists_link_steps_after_the_inserts(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        let office = session.get::<Keyword>(2)?;
        let mug = session.add(Item::new("mug"));
        let green = session.add(Keyword::new("green"));
        green.read()?.items.add(&mug)?;
        mug.read()?.keywords.add(&office)?;
        pen.read()?.keywords.remove(&office)?;
        recorder.clear();

        let plan = session.flush_plan()?;
        assert_eq!(recorder.count(), 0, "planning runs nothing");
        let steps: Vec<(Action, &str, &str)> = plan
            .steps
            .iter()
            .map(|s| (s.action, s.table, s.key.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                (Action::Insert, "items", "new"),
                (Action::Insert, "keywords", "new"),
                (
                    Action::Link,
                    "item_keywords",
                    "item_id = new, keyword_id = new"
                ),
                (
                    Action::Link,
                    "item_keywords",
                    "item_id = new, keyword_id = 2"
                ),
                (
                    Action::Unlink,
                    "item_keywords",
                    "item_id = 1, keyword_id = 2"
                ),
            ],
            "{plan}"
        );
        assert!(
            plan.steps[2].reason.contains("after the inserts"),
            "{}",
            plan.steps[2].reason
        );

        // The flush runs the plan, in its order.
        session.commit()?;
        assert_eq!(backend::sql(&recorder)[2..], [insert_link(&db), insert_link(&db), DELETE_LINK]);
        assert_eq!(
            statements(&recorder)[..2],
            ["INSERT items", "INSERT keywords"]
        );
        assert!(session.flush_plan()?.steps.is_empty());
        assert_eq!(links(&db), [(1, 1), (2, 1), (3, 3), (5, 2), (5, 5)]);
        Ok(())
    }

    fn deleting_an_item_removes_its_link_rows_by_cascade_and_from_loaded_collections(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let blue = session.get::<Keyword>(1)?;
        let office = session.get::<Keyword>(2)?;
        assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);
        assert_eq!(ids(&office.read()?.items.load()?), [1]);
        recorder.clear();

        // The handle to pen is not kept: the collections must not need it.
        session.delete(&session.get::<Item>(1)?)?;
        session.commit()?;
        assert_eq!(
            statements(&recorder),
            ["DELETE items"],
            "the database deletes the link rows"
        );
        assert_eq!(links(&db), [(2, 1), (3, 3)]);
        assert_eq!(count(&db, "SELECT count(*) FROM keywords"), 4);

        recorder.clear();
        assert_eq!(ids(&blue.read()?.items.load()?), [2]);
        assert!(office.read()?.items.load()?.is_empty());
        assert_eq!(blue.state(), State::Persistent);
        Ok(())
    }

    fn a_deleted_item_is_gone_from_the_loaded_collections_of_its_keywords(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        let blue = session.get::<Keyword>(1)?;
        assert_eq!(ids(&blue.read()?.items.load()?), [1, 2]);

        session.delete(&pen)?;
        session.flush()?;
        assert!(
            !blue.read()?.items.load()?.contains(&pen),
            "after the flush"
        );
        session.commit()?;
        assert_eq!(pen.state(), State::Detached);
        assert!(
            !blue.read()?.items.load()?.contains(&pen),
            "after the commit"
        );
        assert_eq!(ids(&blue.read()?.items.load()?), [2]);
        Ok(())
    }

    fn deleting_a_keyword_removes_its_link_rows_by_cascade(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        let blue = by_id(&pen.read()?.keywords.load()?, 1);

        session.delete(&blue)?;
        session.commit()?;
        assert_eq!(links(&db), [(1, 2), (3, 3)]);
        assert_eq!(ids(&pen.read()?.keywords.load()?), [2]);
        Ok(())
    }

    fn rollback_of_a_flushed_link_change_expires_both_sides_and_reloads_the_database_state(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let pen = session.get::<Item>(1)?;
        let keywords = pen.read()?.keywords.load()?;
        let blue = by_id(&keywords, 1);
        let kitchen = session.get::<Keyword>(3)?;
        assert_eq!(ids(&kitchen.read()?.items.load()?), [3]);
        pen.read()?.keywords.add(&kitchen)?;
        pen.read()?.keywords.remove(&blue)?;
        recorder.clear();
        session.flush()?;
        assert_eq!(backend::sql(&recorder), [insert_link(&db), DELETE_LINK]);
        // Not committed yet: another session reads the rows as they were on
        // PostgreSQL; an in-memory SQLite database is locked as a whole by
        // the open write transaction, so there it cannot read them at all.
        if is_postgres(&db) {
            assert_eq!(links(&db), SEEDED_LINKS, "not committed yet");
        } else {
            db.set_busy_timeout(std::time::Duration::from_millis(50))?;
            let blocked = db
                .session()
                .sql_values::<(i64, i64)>("SELECT item_id, keyword_id FROM item_keywords", &[]);
            assert!(
                matches!(blocked, Err(Error::Busy { .. })),
                "not committed yet: {blocked:?}"
            );
            db.set_busy_timeout(orm::DEFAULT_BUSY_TIMEOUT)?;
        }

        session.rollback()?;
        assert!(!pen.read()?.keywords.is_loaded(), "expired");
        assert!(!kitchen.read()?.items.is_loaded(), "expired");
        assert!(!session.has_changes());
        recorder.clear();
        let again = pen.read()?.keywords.load()?;
        assert_eq!(ids(&again), [1, 2]);
        assert!(again.contains(&blue), "the same objects as before");
        assert_eq!(ids(&kitchen.read()?.items.load()?), [3]);
        assert_eq!(
            statements(&recorder),
            ["SELECT keywords", "SELECT items"],
            "only reloads"
        );
        session.commit()?;
        assert_eq!(links(&db), SEEDED_LINKS);
        Ok(())
    }

    fn rollback_discards_pending_link_changes(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cup = session.get::<Item>(3)?;
        let red = session.get::<Keyword>(4)?;
        cup.read()?.keywords.add(&red)?;
        assert!(session.has_changes());

        session.rollback()?;
        assert!(!session.has_changes());
        recorder.clear();
        session.commit()?;
        assert_eq!(recorder.count(), 0);
        assert_eq!(ids(&cup.read()?.keywords.load()?), [3]);
        assert_eq!(links(&db), SEEDED_LINKS);
        Ok(())
    }

    // ----------------------------------------------------------- eager loading

    fn preloading_items_keywords_items_costs_three_statements_for_fifty_items_with_shared_objects(db) -> orm::Result<()> {
        catalogue(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let items = session
            .query::<Item>()
            .preload(Item::KEYWORDS.then(Keyword::ITEMS))
            .all()?;
        assert_eq!(items.len(), ITEMS as usize);
        assert_eq!(
            statements(&recorder),
            ["SELECT items", "SELECT keywords", "SELECT items"]
        );
        assert_eq!(
            backend::sql(&recorder)[1..],
            [select_keywords_of_items(&db), select_items_of_keywords(&db)]
        );

        let mut keywords_seen: Vec<Handle<Keyword>> = Vec::new();
        for item in &items {
            let id = item.read()?.id;
            let keywords = item.read()?.keywords.load()?;
            assert_eq!(ids(&keywords), keywords_of(id), "item {id}");
            for keyword in &keywords {
                // One object per keyword, whichever item it is reached from.
                match keywords_seen
                    .iter()
                    .find(|k| k.key().ok() == keyword.key().ok())
                {
                    Some(seen) => assert!(Handle::ptr_eq(seen, keyword)),
                    None => keywords_seen.push(keyword.clone()),
                }
                let linked = keyword.read()?.items.load()?;
                assert_eq!(linked.len(), (ITEMS / KEYWORDS * 2) as usize);
                assert!(linked.contains(item), "keyword of item {id} holds it");
                assert!(
                    linked.iter().all(|i| items.contains(i)),
                    "the objects the query returned, not copies"
                );
            }
        }
        assert_eq!(keywords_seen.len(), KEYWORDS as usize);
        assert_eq!(session.get::<Keyword>(7)?, by_id(&keywords_seen, 7));
        assert_eq!(recorder.count(), 3, "the walk cost nothing");
        Ok(())
    }

    fn lazy_keywords_cost_one_statement_per_item(db) -> orm::Result<()> {
        catalogue(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let items = session.query::<Item>().all()?;
        for item in &items {
            assert_eq!(item.read()?.keywords.load()?.len(), 2);
        }
        assert_eq!(recorder.count(), 1 + ITEMS as usize);
        Ok(())
    }

    // --------------------------------------------------- the association model

    fn order_lines_link_orders_and_products_with_a_quantity_and_preload_in_three_statements(db) -> orm::Result<()> {
        db.create_all::<(Order, Product, OrderLine)>()?;
        order_pens_and_ink(&db)?;
        let rows: Vec<(String, String, i64)> = db.session().sql_values(
            "SELECT o.customer, p.name, l.quantity FROM order_lines l
             JOIN orders o ON o.id = l.order_id JOIN products p ON p.id = l.product_id
             ORDER BY l.id",
            &[],
        )?;
        let expected = [("Ann", "pen", 2), ("Ann", "ink", 1), ("Bob", "pen", 5)];
        assert_eq!(
            rows,
            expected.map(|(o, p, q)| (o.to_owned(), p.to_owned(), q))
        );

        // A fresh session reads it back.
        let recorder = db.recorder();
        let session = db.session();
        let orders = session
            .query::<Order>()
            .preload(Order::LINES.then(OrderLine::PRODUCT))
            .all()?;
        assert_eq!(
            statements(&recorder),
            ["SELECT orders", "SELECT order_lines", "SELECT products"]
        );
        let mut seen = Vec::new();
        let mut products: Vec<Handle<Product>> = Vec::new();
        for order in &orders {
            let customer = order.read()?.customer.clone();
            for line in order.read()?.lines.load()? {
                assert_eq!(&line.read()?.order.load()?, order);
                let product = line.read()?.product.load()?;
                let name = product.read()?.name.clone();
                match products
                    .iter()
                    .find(|p| p.read().is_ok_and(|p| p.name == name))
                {
                    Some(shared) => assert_eq!(shared, &product, "one `{name}` object"),
                    None => products.push(product.clone()),
                }
                seen.push((customer.clone(), name, line.read()?.quantity));
            }
        }
        seen.sort();
        let mut expected = expected.map(|(o, p, q)| (o.to_owned(), p.to_owned(), q));
        expected.sort();
        assert_eq!(seen, expected);
        assert_eq!(products.len(), 2);
        assert_eq!(recorder.count(), 3, "the walk cost nothing");

        // The product's own side loads lazily, with the lines already in the map.
        let pen = products
            .iter()
            .find(|p| p.read().is_ok_and(|p| p.name == "pen"))
            .expect("pen was loaded");
        let pen_lines = pen.read()?.lines.load()?;
        assert_eq!(recorder.count(), 4);
        let quantities: Vec<i64> = pen_lines
            .iter()
            .map(|l| l.read().map(|l| l.quantity))
            .collect::<orm::Result<_>>()?;
        assert_eq!(quantities.iter().sum::<i64>(), 7);
        for line in &pen_lines {
            let order = line.read()?.order.load()?;
            assert!(orders.contains(&order));
            assert!(order.read()?.lines.load()?.contains(line));
        }
        assert_eq!(recorder.count(), 4);
        Ok(())
    }

    fn changing_a_lines_quantity_updates_only_that_column(db) -> orm::Result<()> {
        db.create_all::<(Order, Product, OrderLine)>()?;
        order_pens_and_ink(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let line = session.get::<OrderLine>(1)?;
        recorder.clear();

        line.write()?.quantity += 10;
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"UPDATE "order_lines" SET "quantity" = ? WHERE "id" = ?"#]
        );
        assert_eq!(params(&recorder), [ints(&[12, 1])]);
        assert_eq!(
            db.session()
                .sql_values::<i64>("SELECT quantity FROM order_lines ORDER BY id", &[])?,
            [12, 1, 5]
        );
        Ok(())
    }

    fn deleting_an_order_cascades_to_its_lines_and_keeps_the_products(db) -> orm::Result<()> {
        db.create_all::<(Order, Product, OrderLine)>()?;
        order_pens_and_ink(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<Order>(1)?;
        let lines = ann.read()?.lines.load()?;
        recorder.clear();

        session.delete(&ann)?;
        session.commit()?;
        assert_eq!(statements(&recorder), ["DELETE orders"]);
        for line in &lines {
            assert_eq!(line.state(), State::Detached);
        }
        assert_eq!(count(&db, "SELECT count(*) FROM order_lines"), 1);
        assert_eq!(count(&db, "SELECT count(*) FROM products"), 2);
        Ok(())
    }
}
