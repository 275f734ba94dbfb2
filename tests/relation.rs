//! Relationships: lazy loading, back-population, collections that are not
//! loaded, eager loading, `ON DELETE` actions, self-reference, attaching new
//! objects, and `lazy = "raise"` (design points 4-9 and 12).
//!
//! Every test runs on each backend of the matrix (see `common::backend`):
//! it seeds the database with plain SQL, works through a session while a
//! recorder counts the statements each step costs, and checks the rows
//! afterwards with plain SQL read by a session of its own, so the ORM's
//! objects never grade their own homework.

use crate::common;

use common::{backend, by_id, ids, params, statements};
use orm::Value;
use orm::prelude::*;
use orm::{Error, Lazy, Recorder, State};

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(optional, back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(back_populates = "order")]
    pub items: HasMany<Item>,
}

#[derive(Model, Debug)]
#[orm(table = "items")]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    pub sku: String,
    #[orm(back_populates = "items")]
    pub order: BelongsTo<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "baskets")]
pub struct Basket {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(back_populates = "basket", delete_orphan)]
    pub lines: HasMany<Line>,
}

#[derive(Model, Debug)]
#[orm(table = "lines")]
pub struct Line {
    #[orm(primary_key)]
    pub id: i64,
    pub sku: String,
    #[orm(back_populates = "lines")]
    pub basket: BelongsTo<Basket>,
}

#[derive(Model, Debug)]
#[orm(table = "blogs")]
pub struct Blog {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(back_populates = "blog")]
    pub posts: HasMany<Post>,
    #[orm(back_populates = "blog")]
    pub followers: HasMany<Follower>,
}

#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(on_delete = "cascade", back_populates = "posts")]
    pub blog: BelongsTo<Blog>,
    #[orm(back_populates = "post")]
    pub comments: HasMany<Comment>,
}

#[derive(Model, Debug)]
#[orm(table = "comments")]
pub struct Comment {
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(on_delete = "cascade", back_populates = "comments")]
    pub post: BelongsTo<Post>,
}

#[derive(Model, Debug)]
#[orm(table = "followers")]
pub struct Follower {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, on_delete = "set null", back_populates = "followers")]
    pub blog: BelongsTo<Blog>,
}

#[derive(Model, Debug)]
#[orm(table = "employees")]
pub struct Employee {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, back_populates = "reports")]
    pub manager: BelongsTo<Employee>,
    #[orm(back_populates = "manager")]
    pub reports: HasMany<Employee>,
}

#[derive(Model, Debug)]
#[orm(table = "shelves")]
pub struct Shelf {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(back_populates = "shelf", lazy = "raise")]
    pub books: HasMany<Book>,
}

#[derive(Model, Debug)]
#[orm(table = "books")]
pub struct Book {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(back_populates = "books", lazy = "raise")]
    pub shelf: BelongsTo<Shelf>,
}

/// Members who mentor each other: a cascade can go round in a circle.
#[derive(Model, Debug)]
#[orm(table = "members")]
pub struct Member {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(optional, on_delete = "cascade", back_populates = "mentees")]
    pub mentor: BelongsTo<Member>,
    #[orm(back_populates = "mentor")]
    pub mentees: HasMany<Member>,
}

/// Members 1 and 2 mentor each other; member 3 has no mentor.
fn members(db: &Database) -> orm::Result<()> {
    db.create_all::<Member>()?;
    db.execute_batch(
        "INSERT INTO members (id, mentor_id) VALUES (1, NULL), (2, 1), (3, NULL);
         UPDATE members SET mentor_id = 2 WHERE id = 1;",
    )
}

// ---------------------------------------------------------------- fixtures

/// Rows of two integer columns, such as `SELECT id, user_id FROM orders`,
/// as a session of their own reads them: what the database holds, as
/// committed.
fn pairs(db: &Database, sql: &str) -> Vec<(i64, Option<i64>)> {
    db.session()
        .sql_values(sql, &[])
        .expect("the test query runs")
}

/// The one integer a query such as `SELECT count(*) FROM lines` returns.
fn count(db: &Database, sql: &str) -> i64 {
    let counts: Vec<i64> = db
        .session()
        .sql_values(sql, &[])
        .expect("the count query runs");
    counts[0]
}

/// Ann (orders 1 and 2) and Bob (order 3); order 4 belongs to nobody.
/// Keys are left to the database, which numbers a new table's rows from 1.
fn shop(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Order, Item)>()?;
    db.execute_batch(
        "INSERT INTO users (name) VALUES ('Ann'), ('Bob');
         INSERT INTO orders (total_cents, user_id) VALUES
             (100, 1), (200, 1), (300, 2), (400, NULL);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, user_id FROM orders ORDER BY id"),
        [(1, Some(1)), (2, Some(1)), (3, Some(2)), (4, None)],
        "the keys the tests expect"
    );
    Ok(())
}

/// `result` is the refusal of a lazy load of `model.relation`.
fn assert_refused<T: std::fmt::Debug>(result: &orm::Result<T>, model: &str, relation: &str) {
    assert!(
        matches!(
            result,
            Err(Error::LazyLoadRefused { model: m, relation: r, .. }) if *m == model && *r == relation
        ),
        "{result:?}"
    );
}

const UPDATE_ORDER_USER: &str = r#"UPDATE "orders" SET "user_id" = ? WHERE "id" = ?"#;

/// Moves order 1 from Ann to Bob, with Ann's and Bob's collections loaded
/// or not as asked, and checks memory, statements and rows.
fn move_order_from_ann_to_bob(
    db: &Database,
    ann_loaded: bool,
    bob_loaded: bool,
) -> orm::Result<()> {
    shop(db)?;
    let recorder = db.recorder();
    let session = db.session();
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    let order = session.get::<Order>(1)?;
    if ann_loaded {
        assert!(ann.read()?.orders.load()?.contains(&order));
    }
    if bob_loaded {
        assert_eq!(ids(&bob.read()?.orders.load()?), [3]);
    }
    recorder.clear();

    order.read()?.user.set(&bob)?;
    assert_eq!(recorder.count(), 0, "moving loads nothing");
    assert_eq!(ann.read()?.orders.is_loaded(), ann_loaded);
    assert_eq!(bob.read()?.orders.is_loaded(), bob_loaded);
    if ann_loaded {
        assert_eq!(ids(&ann.read()?.orders.load()?), [2]);
    }
    if bob_loaded {
        let bobs = bob.read()?.orders.load()?;
        assert_eq!(ids(&bobs), [1, 3]);
        assert!(bobs.contains(&order));
    }
    assert_eq!(order.read()?.user.load()?, bob);
    assert_eq!(order.read()?.user.key(), Some(2));
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    assert_eq!(backend::sql(&recorder), [UPDATE_ORDER_USER]);
    assert_eq!(
        params(&recorder),
        [vec![Value::Integer(2), Value::Integer(1)]]
    );
    assert_eq!(
        pairs(db, "SELECT id, user_id FROM orders ORDER BY id"),
        [(1, Some(2)), (2, Some(1)), (3, Some(2)), (4, None)]
    );

    // Collections that were not loaded load the new state from the database.
    recorder.clear();
    assert_eq!(ids(&ann.read()?.orders.load()?), [2]);
    let bobs = bob.read()?.orders.load()?;
    assert_eq!(ids(&bobs), [1, 3]);
    assert!(bobs.contains(&order));
    let loads = usize::from(!ann_loaded) + usize::from(!bob_loaded);
    assert_eq!(recorder.count(), loads);
    Ok(())
}

/// Baskets 1 (lines 1 and 2) and 2 (line 3).
fn baskets(db: &Database) -> orm::Result<()> {
    db.create_all::<(Basket, Line)>()?;
    db.execute_batch(
        "INSERT INTO baskets (label) VALUES ('weekly'), ('party');
         INSERT INTO lines (sku, basket_id) VALUES ('milk', 1), ('bread', 1), ('cake', 2);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, basket_id FROM lines ORDER BY id"),
        [(1, Some(1)), (2, Some(1)), (3, Some(2))],
        "the keys the tests expect"
    );
    Ok(())
}

/// Adds three new orders and a new user, the user at `position` among the
/// adds (0: first, 3: last), links them, commits, and checks the result.
/// The tables of `db` are made, and may hold rows of earlier calls.
fn new_user_and_orders_added_with_the_user_at(db: &Database, position: usize) -> orm::Result<()> {
    let orders_before = count(db, "SELECT count(*) FROM orders");
    let recorder = db.recorder();
    let session = db.session();
    let mut orders = Vec::new();
    let mut dee = None;
    for step in 0..4 {
        if step == position {
            dee = Some(session.add(User::new("Dee")));
        } else {
            orders.push(session.add(Order::new(100 * (orders.len() as i64 + 1))));
        }
    }
    let dee = dee.expect("the user was added");
    orders[0].read()?.user.set(&dee)?;
    dee.read()?.orders.push(&orders[1])?;
    orders[2].read()?.user.set(&dee)?;
    assert_eq!(orders[0].read()?.user.key(), None, "Dee has no key yet");
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    let order_inserts = if backend::is_postgres(db) {
        // Three rows: their keys, then one INSERT, two round trips.
        vec!["SELECT orders", "INSERT orders"]
    } else {
        vec!["INSERT orders"; 3]
    };
    assert_eq!(
        statements(&recorder),
        [vec!["INSERT users"], order_inserts].concat(),
        "user added at position {position}"
    );
    let dee_id = dee.read()?.id;
    assert_ne!(dee_id, 0);
    for order in &orders {
        assert_ne!(order.read()?.id, 0);
        assert_eq!(order.read()?.user.key(), Some(dee_id));
        assert_eq!(order.state(), State::Persistent);
    }
    let rows: Vec<(i64, Option<i64>)> = db.session().sql_values(
        "SELECT total_cents, user_id FROM orders WHERE user_id = $1 ORDER BY total_cents",
        &[&dee_id],
    )?;
    assert_eq!(
        rows,
        [
            (100, Some(dee_id)),
            (200, Some(dee_id)),
            (300, Some(dee_id))
        ]
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM orders"),
        orders_before + 3,
        "no other order was written"
    );

    recorder.clear();
    let loaded = dee.read()?.orders.load()?;
    assert_eq!(loaded.len(), 3);
    assert!(orders.iter().all(|o| loaded.contains(o)));
    assert_eq!(recorder.count(), 0, "a new object's collection is loaded");
    Ok(())
}

const USERS: i64 = 100;
const ORDERS_PER_USER: i64 = 2;
const ITEMS_PER_ORDER: i64 = 3;

/// 100 users, each with 2 orders, each with 3 items.
fn big_shop(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Order, Item)>()?;
    let users: Vec<String> = (1..=USERS).map(|user| format!("('user {user}')")).collect();
    let mut orders = Vec::new();
    let mut items = Vec::new();
    for user in 1..=USERS {
        for o in 0..ORDERS_PER_USER {
            let order = (user - 1) * ORDERS_PER_USER + o + 1;
            orders.push(format!("({}, {user})", order * 10));
            for i in 0..ITEMS_PER_ORDER {
                items.push(format!("('sku {order}-{i}', {order})"));
            }
        }
    }
    db.execute_batch(&format!(
        "INSERT INTO users (name) VALUES {};
         INSERT INTO orders (total_cents, user_id) VALUES {};
         INSERT INTO items (sku, order_id) VALUES {};",
        users.join(", "),
        orders.join(", "),
        items.join(", ")
    ))?;
    let last: Vec<(i64, Option<i64>)> = db.session().sql_values(
        "SELECT id, user_id FROM orders WHERE total_cents = $1",
        &[&(USERS * ORDERS_PER_USER * 10)],
    )?;
    assert_eq!(
        last,
        [(USERS * ORDERS_PER_USER, Some(USERS))],
        "the keys the tests expect"
    );
    Ok(())
}

/// Walks users -> orders -> items, checking the back-pointers, and returns
/// how many items it saw.
fn walk(users: &[Handle<User>]) -> orm::Result<usize> {
    let mut items_seen = 0;
    for user in users {
        let orders = user.read()?.orders.load()?;
        assert_eq!(orders.len(), ORDERS_PER_USER as usize);
        for order in &orders {
            assert_eq!(&order.read()?.user.load()?, user);
            let items = order.read()?.items.load()?;
            assert_eq!(items.len(), ITEMS_PER_ORDER as usize);
            for item in &items {
                assert_eq!(&item.read()?.order.load()?, order);
            }
            items_seen += items.len();
        }
    }
    Ok(items_seen)
}

fn per_table(recorder: &Recorder) -> (usize, usize, usize) {
    let all = statements(recorder);
    let count = |s: &str| all.iter().filter(|x| *x == s).count();
    assert_eq!(
        count("SELECT users") + count("SELECT orders") + count("SELECT items"),
        all.len(),
        "only SELECTs: {all:?}"
    );
    (
        count("SELECT users"),
        count("SELECT orders"),
        count("SELECT items"),
    )
}

const ALL_ITEMS: usize = (USERS * ORDERS_PER_USER * ITEMS_PER_ORDER) as usize;
const N: usize = USERS as usize;
const M: usize = (USERS * ORDERS_PER_USER) as usize;

/// Blog 1 has posts 1 and 2 (post 1 has comments 1 and 2) and followers 1
/// and 2; blog 2 has post 3 (comment 3) and follower 3.
fn blogs(db: &Database) -> orm::Result<()> {
    db.create_all::<(Blog, Post, Comment, Follower)>()?;
    db.execute_batch(
        "INSERT INTO blogs (title) VALUES ('one'), ('two');
         INSERT INTO posts (title, blog_id) VALUES ('a', 1), ('b', 1), ('c', 2);
         INSERT INTO comments (body, post_id) VALUES ('x', 1), ('y', 1), ('z', 3);
         INSERT INTO followers (name, blog_id) VALUES ('f', 1), ('g', 1), ('h', 2);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, post_id FROM comments ORDER BY id"),
        [(1, Some(1)), (2, Some(1)), (3, Some(3))],
        "the keys the tests expect"
    );
    Ok(())
}

/// Names and their managers' names, as the database holds them.
fn org_chart(db: &Database) -> Vec<(String, Option<String>)> {
    db.session()
        .sql_values(
            "SELECT e.name, m.name FROM employees e
             LEFT JOIN employees m ON e.manager_id = m.id ORDER BY e.name",
            &[],
        )
        .expect("the test query runs")
}

fn chart(rows: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    rows.iter()
        .map(|(e, m)| (e.to_string(), m.map(str::to_string)))
        .collect()
}

/// Ceo <- (Ada <- (Al, Amy), Ben <- (Bo, Bea)), inserted leaves first.
fn build_tree(session: &Session) -> orm::Result<Vec<Handle<Employee>>> {
    let hire = |name: &str| session.add(Employee::new(name));
    let (al, amy, bo, bea) = (hire("Al"), hire("Amy"), hire("Bo"), hire("Bea"));
    let (ada, ben) = (hire("Ada"), hire("Ben"));
    let ceo = hire("Ceo");
    ada.read()?.manager.set(&ceo)?;
    ceo.read()?.reports.push(&ben)?;
    al.read()?.manager.set(&ada)?;
    amy.read()?.manager.set(&ada)?;
    ben.read()?.reports.push(&bo)?;
    ben.read()?.reports.push(&bea)?;
    Ok(vec![ceo, ada, ben, al, amy, bo, bea])
}

fn expected_chart() -> Vec<(String, Option<String>)> {
    chart(&[
        ("Ada", Some("Ceo")),
        ("Al", Some("Ada")),
        ("Amy", Some("Ada")),
        ("Bea", Some("Ben")),
        ("Ben", Some("Ceo")),
        ("Bo", Some("Ben")),
        ("Ceo", None),
    ])
}

fn committed_tree(db: &Database) -> orm::Result<()> {
    db.create_all::<Employee>()?;
    let session = db.session();
    build_tree(&session)?;
    session.commit()
}

fn names(handles: &[Handle<Employee>]) -> orm::Result<Vec<String>> {
    let mut names = Vec::new();
    for handle in handles {
        names.push(handle.read()?.name.clone());
    }
    names.sort();
    Ok(names)
}

/// Shelf 1 holds books 1 and 2.
fn library(db: &Database) -> orm::Result<()> {
    db.create_all::<(Shelf, Book)>()?;
    db.execute_batch(
        "INSERT INTO shelves (label) VALUES ('fiction');
         INSERT INTO books (title, shelf_id) VALUES ('Emma', 1), ('Ulysses', 1);",
    )
}

backend_tests! {
    // ------------------------------------------------------------ lazy loading

    fn first_access_of_an_unloaded_belongs_to_issues_one_select_and_later_accesses_none(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let order = session.get::<Order>(1)?;
        assert!(!order.read()?.user.is_loaded());
        recorder.clear();

        assert_eq!(order.read()?.user.key(), Some(1), "key() reads the column");
        assert_eq!(recorder.count(), 0, "key() loads nothing");

        let user = order.read()?.user.load()?;
        assert_eq!(statements(&recorder), ["SELECT users"]);
        assert_eq!(user.read()?.name, "Ann");
        assert!(order.read()?.user.is_loaded());

        recorder.clear();
        assert_eq!(order.read()?.user.load()?, user);
        assert_eq!(order.read()?.user.load_optional()?, Some(user.clone()));
        assert_eq!(
            session.get::<User>(1)?,
            user,
            "the lazy load joined the map"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn belongs_to_whose_target_is_in_the_identity_map_loads_without_sql(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let order = session.get::<Order>(2)?;
        recorder.clear();

        assert_eq!(order.read()?.user.load()?, ann);
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn unset_belongs_to_loads_as_none_without_sql(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let order = session.get::<Order>(4)?;
        recorder.clear();

        assert_eq!(order.read()?.user.key(), None);
        assert_eq!(order.read()?.user.load_optional()?, None);
        assert!(matches!(
            order.read()?.user.load(),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn first_access_of_an_unloaded_has_many_issues_one_select_and_later_accesses_none(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        assert!(!ann.read()?.orders.is_loaded());
        recorder.clear();

        let orders = ann.read()?.orders.load()?;
        assert_eq!(statements(&recorder), ["SELECT orders"]);
        assert_eq!(ids(&orders), [1, 2]);
        assert!(ann.read()?.orders.is_loaded());

        recorder.clear();
        let again = ann.read()?.orders.load()?;
        assert_eq!(again, orders, "the same objects, in the same order");
        assert_eq!(session.get::<Order>(1)?, by_id(&orders, 1));
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn order_user_then_user_orders_costs_one_statement_and_contains_the_same_order(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let ann = order.read()?.user.load()?;
        recorder.clear();

        let orders = ann.read()?.orders.load()?;
        assert_eq!(statements(&recorder), ["SELECT orders"]);
        assert_eq!(ids(&orders), [1, 2]);
        assert!(
            orders.contains(&order),
            "the order we came from, not a copy"
        );
        Ok(())
    }

    fn loading_user_orders_sets_each_orders_user_without_a_query(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let orders = ann.read()?.orders.load()?;
        recorder.clear();

        for order in &orders {
            assert!(order.read()?.user.is_loaded());
            assert_eq!(order.read()?.user.load()?, ann);
        }
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    // -------------------------------------------------------- back-population

    fn moving_an_order_with_both_collections_loaded_updates_both_in_memory(db) -> orm::Result<()> {
        move_order_from_ann_to_bob(&db, true, true)
    }

    fn moving_an_order_with_only_the_old_collection_loaded_updates_it_and_loads_nothing(db) -> orm::Result<()> {
        move_order_from_ann_to_bob(&db, true, false)
    }

    fn moving_an_order_with_only_the_new_collection_loaded_updates_it_and_loads_nothing(db) -> orm::Result<()> {
        move_order_from_ann_to_bob(&db, false, true)
    }

    fn moving_an_order_with_neither_collection_loaded_loads_nothing(db) -> orm::Result<()> {
        move_order_from_ann_to_bob(&db, false, false)
    }

    fn pushing_an_order_into_user_orders_sets_order_user(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        let ann_orders = ann.read()?.orders.load()?;
        let bob_orders = bob.read()?.orders.load()?;
        let order = by_id(&ann_orders, 1);
        recorder.clear();

        bob.read()?.orders.push(&order)?;
        assert_eq!(recorder.count(), 0);
        assert_eq!(order.read()?.user.load()?, bob);
        assert_eq!(order.read()?.user.key(), Some(2));
        assert_eq!(ids(&ann.read()?.orders.load()?), [2]);
        let now = bob.read()?.orders.load()?;
        assert_eq!(ids(&now), [1, 3]);
        assert!(now.contains(&order) && now.contains(&bob_orders[0]));
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_ORDER_USER]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [(1, Some(2)), (2, Some(1)), (3, Some(2)), (4, None)]
        );
        Ok(())
    }

    fn removing_an_order_from_user_orders_clears_order_user_and_the_flush_writes_null(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let order = by_id(&ann.read()?.orders.load()?, 1);
        recorder.clear();

        ann.read()?.orders.remove(&order)?;
        assert_eq!(order.read()?.user.key(), None);
        assert_eq!(order.read()?.user.load_optional()?, None);
        assert_eq!(ids(&ann.read()?.orders.load()?), [2]);
        assert_eq!(order.state(), State::Persistent, "no delete_orphan: kept");
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_ORDER_USER]);
        assert_eq!(params(&recorder), [vec![Value::Null, Value::Integer(1)]]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [(1, None), (2, Some(1)), (3, Some(2)), (4, None)]
        );
        Ok(())
    }

    fn removing_a_line_from_a_delete_orphan_collection_deletes_it_on_flush(db) -> orm::Result<()> {
        db.create_all::<(Basket, Line)>()?;
        db.execute_batch(
            "INSERT INTO baskets (label) VALUES ('weekly');
             INSERT INTO lines (sku, basket_id) VALUES ('milk', 1), ('bread', 1);",
        )?;
        let recorder = db.recorder();
        let session = db.session();
        let basket = session.get::<Basket>(1)?;
        let milk = by_id(&basket.read()?.lines.load()?, 1);
        recorder.clear();

        basket.read()?.lines.remove(&milk)?;
        // An orphan is decided at flush time (it may find another parent first).
        assert_eq!(milk.state(), State::Persistent);
        assert_eq!(ids(&basket.read()?.lines.load()?), [2]);
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"DELETE FROM "lines" WHERE "id" = ?"#],
            "the orphan is deleted, not updated first"
        );
        assert_eq!(pairs(&db, "SELECT id, basket_id FROM lines"), [(2, Some(1))]);
        assert_eq!(milk.state(), State::Detached);
        assert_eq!(session.find::<Line>(1)?, None);
        Ok(())
    }

    fn removing_a_new_line_from_a_delete_orphan_collection_never_inserts_it(db) -> orm::Result<()> {
        baskets(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let basket = session.get::<Basket>(1)?;
        let line = Handle::new(Line::new("eggs"));
        basket.read()?.lines.push(&line)?;
        assert_eq!(line.state(), State::Pending);
        basket.read()?.lines.remove(&line)?;
        assert_eq!(line.state(), State::Pending);
        recorder.clear();

        session.commit()?;
        assert_eq!(line.state(), State::Transient);
        assert_eq!(recorder.count(), 0, "{:?}", backend::sql(&recorder));
        assert_eq!(count(&db, "SELECT count(*) FROM lines"), 3);
        Ok(())
    }

    fn moving_a_line_to_another_basket_by_push_is_an_update_not_an_orphan_delete(db) -> orm::Result<()> {
        baskets(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let weekly = session.get::<Basket>(1)?;
        let party = session.get::<Basket>(2)?;
        let milk = by_id(&weekly.read()?.lines.load()?, 1);
        recorder.clear();

        party.read()?.lines.push(&milk)?;
        assert_eq!(milk.state(), State::Persistent);
        assert_eq!(ids(&weekly.read()?.lines.load()?), [2]);
        session.commit()?;
        assert_eq!(statements(&recorder), ["UPDATE lines"]);
        assert_eq!(
            pairs(&db, "SELECT id, basket_id FROM lines ORDER BY id"),
            [(1, Some(2)), (2, Some(1)), (3, Some(2))]
        );
        Ok(())
    }

    fn a_line_removed_from_one_basket_and_pushed_into_another_before_the_flush_is_moved_not_deleted(db) -> orm::Result<()> {
        baskets(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let weekly = session.get::<Basket>(1)?;
        let party = session.get::<Basket>(2)?;
        let milk = by_id(&weekly.read()?.lines.load()?, 1);
        recorder.clear();

        // SQLAlchemy decides orphans at flush time: a line that found a new
        // basket by then is not an orphan.
        weekly.read()?.lines.remove(&milk)?;
        party.read()?.lines.push(&milk)?;
        session.commit()?;
        assert_eq!(statements(&recorder), ["UPDATE lines"]);
        assert_eq!(milk.state(), State::Persistent);
        assert_eq!(
            pairs(&db, "SELECT id, basket_id FROM lines ORDER BY id"),
            [(1, Some(2)), (2, Some(1)), (3, Some(2))]
        );
        Ok(())
    }

    // --------------------------------------------- collections not loaded yet

    fn a_push_then_a_remove_on_an_unloaded_collection_cancels_out(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let bob = session.get::<User>(2)?;
        let loose = session.get::<Order>(4)?;
        recorder.clear();

        bob.read()?.orders.push(&loose)?;
        assert_eq!(loose.read()?.user.key(), Some(2));
        bob.read()?.orders.remove(&loose)?;
        assert_eq!(loose.read()?.user.key(), None);
        assert!(!bob.read()?.orders.is_loaded(), "neither call loads it");
        assert!(!session.has_changes());

        session.commit()?;
        assert_eq!(
            recorder.count(),
            0,
            "nothing to write: {:?}",
            backend::sql(&recorder)
        );
        assert_eq!(ids(&bob.read()?.orders.load()?), [3]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [(1, Some(1)), (2, Some(1)), (3, Some(2)), (4, None)]
        );
        Ok(())
    }

    fn a_remove_then_a_push_on_an_unloaded_collection_cancels_out(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let order = session.get::<Order>(1)?;
        recorder.clear();

        ann.read()?.orders.remove(&order)?;
        ann.read()?.orders.push(&order)?;
        assert_eq!(order.read()?.user.key(), Some(1));
        assert!(!ann.read()?.orders.is_loaded());

        session.commit()?;
        assert_eq!(
            recorder.count(),
            0,
            "nothing to write: {:?}",
            backend::sql(&recorder)
        );
        Ok(())
    }

    fn changes_on_an_unloaded_collection_are_merged_when_it_is_loaded_later(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        assert_eq!(ids(&bob.read()?.orders.load()?), [3]);
        let bobs = session.get::<Order>(3)?;
        let second = session.get::<Order>(2)?;
        let fresh = session.add(Order::new(500));
        recorder.clear();

        ann.read()?.orders.push(&bobs)?;
        ann.read()?.orders.remove(&second)?;
        ann.read()?.orders.push(&fresh)?;
        assert!(!ann.read()?.orders.is_loaded());
        assert_eq!(
            ids(&bob.read()?.orders.load()?),
            [0_i64; 0],
            "Bob's loaded list lost it"
        );
        assert_eq!(recorder.count(), 0);

        // The load autoflushes first, so the SELECT sees the changes.
        let orders = ann.read()?.orders.load()?;
        assert_eq!(
            statements(&recorder),
            [
                "UPDATE orders",
                "UPDATE orders",
                "INSERT orders",
                "SELECT orders"
            ]
        );
        assert_eq!(orders.len(), 3);
        assert!(orders.contains(&bobs) && orders.contains(&fresh));
        assert!(!orders.contains(&second));
        assert_eq!(ids(&orders), [1, 3, fresh.key()?]);

        session.commit()?;
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [
                (1, Some(1)),
                (2, None),
                (3, Some(1)),
                (4, None),
                (5, Some(1))
            ]
        );
        Ok(())
    }

    // -------------------------------------------------------------- unit of work

    fn a_new_user_and_orders_added_orders_first_flush_parents_first_with_keys_filled(db) -> orm::Result<()> {
        db.create_all::<(User, Order, Item)>()?;
        new_user_and_orders_added_with_the_user_at(&db, 3)
    }

    fn a_new_user_and_orders_added_in_any_order_flush_parents_first_with_keys_filled(db) -> orm::Result<()> {
        db.create_all::<(User, Order, Item)>()?;
        for position in 0..3 {
            new_user_and_orders_added_with_the_user_at(&db, position)?;
        }
        Ok(())
    }

    fn rollback_after_moving_an_order_restores_its_user_and_both_collections(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        let order = by_id(&ann.read()?.orders.load()?, 1);
        assert_eq!(ids(&bob.read()?.orders.load()?), [3]);
        order.read()?.user.set(&bob)?;
        session.flush()?;

        session.rollback()?;
        assert_eq!(order.read()?.user.key(), Some(1));
        assert_eq!(order.read()?.user.load()?, ann);
        assert!(order.changes()?.is_empty());
        recorder.clear();
        let anns = ann.read()?.orders.load()?;
        assert_eq!(ids(&anns), [1, 2]);
        assert!(anns.contains(&order));
        assert_eq!(ids(&bob.read()?.orders.load()?), [3]);
        assert!(
            statements(&recorder).iter().all(|s| s == "SELECT orders"),
            "only reloads: {:?}",
            backend::sql(&recorder)
        );
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [(1, Some(1)), (2, Some(1)), (3, Some(2)), (4, None)]
        );
        Ok(())
    }

    fn linking_objects_of_two_sessions_is_an_error(db) -> orm::Result<()> {
        shop(&db)?;
        let one = db.session();
        let two = db.session();
        let order = one.get::<Order>(1)?;
        let bob = two.get::<User>(2)?;

        assert!(matches!(
            order.read()?.user.set(&bob),
            Err(Error::Misuse(_))
        ));
        assert!(matches!(
            bob.read()?.orders.push(&order),
            Err(Error::Misuse(_))
        ));
        assert_eq!(order.read()?.user.key(), Some(1));
        Ok(())
    }

    fn a_relationship_field_taken_out_of_its_object_is_part_of_no_object(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let alice = session.get::<User>(1)?;
        let order = session.get::<Order>(3)?;
        let recorder = db.recorder();

        // The field finds its object by where it lies: moved out, it has
        // none, and the empty field left in its place was never wired.
        let taken = std::mem::take(&mut alice.write()?.orders);
        let misuse = |e: &Error| {
            matches!(e, Error::Misuse(m) if m.to_string().contains("not part of an object"))
        };
        assert!(taken.load().is_err_and(|e| misuse(&e)));
        assert!(taken.push(&order).is_err_and(|e| misuse(&e)));
        assert!(alice.read()?.orders.load().is_err_and(|e| misuse(&e)));
        assert_eq!(recorder.count(), 0, "nothing loaded");
        assert_eq!(order.read()?.user.key(), Some(2), "the order kept its user");
        // A field of the order, still inside it, works as before.
        assert_eq!(order.read()?.user.load()?.read()?.id, 2);

        // Moved into a new object, the field is that object's.
        let mut cy = User::new("Cy");
        cy.orders = taken;
        let cy = session.add(cy);
        cy.read()?.orders.push(&order)?;
        assert_eq!(order.read()?.user.load()?, cy);
        Ok(())
    }

    // ---------------------------------------------------------- eager loading

    fn lazy_orders_and_lazy_items_cost_one_plus_n_plus_m_statements(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session.query::<User>().all()?;
        assert_eq!(users.len(), N);
        assert_eq!(walk(&users)?, ALL_ITEMS);
        assert_eq!(per_table(&recorder), (1, N, M));
        assert_eq!(recorder.count(), 1 + N + M);

        recorder.clear();
        assert_eq!(walk(&users)?, ALL_ITEMS);
        assert_eq!(recorder.count(), 0, "everything is loaded now");
        Ok(())
    }

    fn preloaded_orders_and_lazy_items_cost_two_plus_m_statements(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session.query::<User>().preload(User::ORDERS).all()?;
        assert_eq!(recorder.count(), 2);
        assert_eq!(walk(&users)?, ALL_ITEMS);
        assert_eq!(per_table(&recorder), (1, 1, M));
        Ok(())
    }

    fn lazy_orders_and_preloaded_items_cost_three_plus_n_statements(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session.query::<User>().all()?;
        let orders = session.query::<Order>().preload(Order::ITEMS).all()?;
        assert_eq!(orders.len(), M);
        assert_eq!(recorder.count(), 3);
        assert_eq!(walk(&users)?, ALL_ITEMS);
        assert_eq!(per_table(&recorder), (1, 1 + N, 1));
        // The lazily loaded collections hold the objects the query loaded.
        let first = users[0].read()?.orders.load()?;
        assert!(first.iter().all(|o| orders.contains(o)));
        Ok(())
    }

    fn preloaded_orders_and_items_cost_three_statements_for_a_hundred_users(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session
            .query::<User>()
            .preload(User::ORDERS.then(Order::ITEMS))
            .all()?;
        assert_eq!(users.len(), N);
        assert_eq!(
            statements(&recorder),
            ["SELECT users", "SELECT orders", "SELECT items"]
        );
        assert_eq!(walk(&users)?, ALL_ITEMS);
        assert_eq!(recorder.count(), 3, "the walk cost nothing");
        Ok(())
    }

    fn preloading_belongs_to_from_items_up_to_users_costs_three_statements(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let items = session
            .query::<Item>()
            .preload(Item::ORDER.then(Order::USER))
            .all()?;
        assert_eq!(items.len(), ALL_ITEMS);
        assert_eq!(
            statements(&recorder),
            ["SELECT items", "SELECT orders", "SELECT users"]
        );
        let first = items[0].read()?.order.load()?;
        let user = first.read()?.user.load()?;
        assert_eq!(user.read()?.id, 1);
        for item in &items {
            let order = item.read()?.order.load()?;
            order.read()?.user.load()?;
        }
        assert_eq!(recorder.count(), 3);
        Ok(())
    }

    fn preload_reuses_objects_already_in_the_identity_map(db) -> orm::Result<()> {
        big_shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        session.set_autoflush(false);
        let user = session.get::<User>(1)?;
        let order = session.get::<Order>(2)?;
        let item = session
            .query::<Item>()
            .filter(Item::ORDER_ID.eq(2))
            .first()?;
        let item = item.expect("order 2 has items");
        order.write()?.total_cents = 999;
        recorder.clear();

        let users = session
            .query::<User>()
            .filter(User::ID.le(2))
            .preload(User::ORDERS.then(Order::ITEMS))
            .all()?;
        assert_eq!(recorder.count(), 3);
        assert_eq!(users[0], user);
        let orders = user.read()?.orders.load()?;
        assert_eq!(by_id(&orders, 2), order);
        assert_eq!(order.read()?.total_cents, 999, "unflushed change kept");
        assert!(order.read()?.items.load()?.contains(&item));
        assert_eq!(recorder.count(), 3);
        Ok(())
    }

    // ----------------------------------------------------------- ON DELETE

    fn deleting_a_parent_cascades_to_its_children_in_the_database_and_in_memory(db) -> orm::Result<()> {
        blogs(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let blog = session.get::<Blog>(1)?;
        let posts = blog.read()?.posts.load()?;
        let comments = by_id(&posts, 1).read()?.comments.load()?;
        let other = session.get::<Comment>(3)?;
        let followers = blog.read()?.followers.load()?;
        recorder.clear();

        session.delete(&blog)?;
        session.flush()?;
        assert_eq!(
            statements(&recorder),
            ["DELETE blogs"],
            "the database cascades; memory follows"
        );
        assert_eq!(blog.state(), State::Deleted);
        for post in &posts {
            assert_eq!(post.state(), State::Deleted);
        }
        for comment in &comments {
            assert_eq!(comment.state(), State::Deleted, "two levels down");
        }
        assert_eq!(other.state(), State::Persistent);
        for follower in &followers {
            assert_eq!(follower.read()?.blog.key(), None, "set null");
        }

        session.commit()?;
        for post in &posts {
            assert_eq!(post.state(), State::Detached);
        }
        for comment in &comments {
            assert_eq!(comment.state(), State::Detached);
        }
        assert_eq!(pairs(&db, "SELECT id, blog_id FROM posts"), [(3, Some(2))]);
        assert_eq!(pairs(&db, "SELECT id, post_id FROM comments"), [(3, Some(3))]);
        recorder.clear();
        assert_eq!(session.find::<Post>(1)?, None);
        assert_eq!(statements(&recorder), ["SELECT posts"], "not from the map");
        Ok(())
    }

    fn a_cascade_reaches_loaded_grandchildren_whose_parents_are_not_loaded(db) -> orm::Result<()> {
        blogs(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let comments = session.query::<Comment>().order_by(Comment::ID.asc()).all()?;
        let blog = session.get::<Blog>(1)?;
        recorder.clear();

        session.delete(&blog)?;
        session.flush()?;
        assert_eq!(
            statements(&recorder),
            ["SELECT posts", "DELETE blogs"],
            "the keys of the posts the cascade deletes, read in the flush's transaction"
        );
        assert_eq!(comments[0].state(), State::Deleted, "under post 1, not loaded");
        assert_eq!(comments[1].state(), State::Deleted, "under post 1, not loaded");
        assert_eq!(comments[2].state(), State::Persistent, "under blog 2");

        session.commit()?;
        assert_eq!(comments[0].state(), State::Detached);
        assert_eq!(pairs(&db, "SELECT id, post_id FROM comments"), [(3, Some(3))]);
        recorder.clear();
        assert_eq!(session.find::<Comment>(1)?, None);
        assert_eq!(statements(&recorder), ["SELECT comments"], "not from the map");
        Ok(())
    }

    fn a_cascade_past_rows_not_loaded_goes_by_the_loaded_ones_values(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let comments = session.query::<Comment>().order_by(Comment::ID.asc()).all()?;
        let blog = session.get::<Blog>(1)?;
        let other = session.get::<Blog>(2)?;
        // Post 1 (comments 1 and 2) moves to blog 2 in memory; the flush
        // writes that before the delete, so the cascade spares it.
        let post = session.get::<Post>(1)?;
        post.read()?.blog.set(&other)?;
        let stays = session.get::<Post>(2)?;

        session.delete(&blog)?;
        session.commit()?;
        assert_eq!(stays.state(), State::Detached, "deleted by the cascade");
        assert_eq!(post.state(), State::Persistent);
        for comment in &comments {
            assert_eq!(comment.state(), State::Persistent);
        }
        assert_eq!(
            pairs(&db, "SELECT id, blog_id FROM posts ORDER BY id"),
            [(1, Some(2)), (3, Some(2))]
        );
        assert_eq!(count(&db, "SELECT count(*) FROM comments"), 3);
        Ok(())
    }

    fn a_guard_on_a_grandchild_past_rows_not_loaded_fails_the_flush_before_any_write(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let comments = session.query::<Comment>().order_by(Comment::ID.asc()).all()?;
        let blog = session.get::<Blog>(1)?;
        session.delete(&blog)?;
        let guard = comments[0].write()?;
        let error = session.flush().expect_err("comment 1 is borrowed");
        assert!(matches!(error, orm::Error::Borrowed { .. }), "{error:?}");
        drop(guard);
        assert_eq!(count(&db, "SELECT count(*) FROM blogs"), 2);
        assert_eq!(comments[0].state(), State::Persistent);
        assert_eq!(blog.state(), State::Deleted, "still to be flushed");

        session.commit()?;
        assert_eq!(comments[0].state(), State::Detached);
        assert_eq!(count(&db, "SELECT count(*) FROM comments"), 1);
        Ok(())
    }

    fn a_bulk_delete_reaches_loaded_grandchildren_whose_parents_are_not_loaded(db) -> orm::Result<()> {
        blogs(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let comments = session.query::<Comment>().order_by(Comment::ID.asc()).all()?;
        recorder.clear();

        let deleted = session
            .delete_rows::<Blog>()
            .filter(Blog::TITLE.eq("one"))
            .execute()?;
        assert_eq!(deleted, 1);
        assert_eq!(
            statements(&recorder),
            ["SELECT blogs", "SELECT posts", "DELETE blogs"],
            "the blogs' keys and their posts', read before the DELETE"
        );
        // The filter is read once: the DELETE goes by the keys read, of
        // rows PostgreSQL locked as it read them.
        let sql: Vec<String> = recorder
            .statements()
            .into_iter()
            .map(|s| s.sql)
            .filter(|sql| sql.starts_with("SELECT") || sql.starts_with("DELETE"))
            .collect();
        let (filter, lock, keys) = match backend::is_postgres(&db) {
            true => ("$1", " FOR UPDATE", " = ANY($1)"),
            false => ("?", "", " IN (SELECT value FROM json_each(?))"),
        };
        assert_eq!(sql[0], format!(r#"SELECT "id" FROM "blogs" WHERE "title" = {filter}{lock}"#));
        assert_eq!(sql[2], format!(r#"DELETE FROM "blogs" WHERE "id"{keys} RETURNING "id""#));
        assert_eq!(comments[0].state(), State::Deleted);
        assert_eq!(comments[1].state(), State::Deleted);
        assert_eq!(comments[2].state(), State::Persistent);

        session.rollback()?;
        assert_eq!(count(&db, "SELECT count(*) FROM comments"), 3);
        for comment in &comments {
            assert_eq!(comment.state(), State::Persistent);
        }
        recorder.clear();
        assert_eq!(session.get::<Comment>(1)?, comments[0]);
        assert_eq!(recorder.count(), 0, "back in the identity map");
        Ok(())
    }

    // The loaded objects a cascade reaches are found by their parents'
    // keys, in an index made at the first cascade and kept: these show it
    // follows what changed since.

    fn a_child_moved_since_the_last_cascade_is_reached_by_the_next(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let posts = session.query::<Post>().order_by(Post::ID.asc()).all()?;
        let comments = session.query::<Comment>().order_by(Comment::ID.asc()).all()?;
        session.delete(&posts[1])?;
        session.flush()?;
        // Comment z, of post c, moves to post a; then post a goes.
        comments[2].read()?.post.set(&posts[0])?;
        session.delete(&posts[0])?;
        session.flush()?;
        for comment in &comments {
            assert_eq!(comment.state(), State::Deleted);
        }
        assert_eq!(posts[2].state(), State::Persistent);
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM comments"), 0);
        Ok(())
    }

    fn an_object_loaded_since_the_last_cascade_is_reached_by_the_next(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let posts = session.query::<Post>().order_by(Post::ID.asc()).all()?;
        let x = session.get::<Comment>(1)?;
        session.delete(&posts[1])?;
        session.flush()?;
        let z = session.get::<Comment>(3)?;
        session.delete(&posts[2])?;
        session.flush()?;
        assert_eq!(z.state(), State::Deleted);
        assert_eq!(x.state(), State::Persistent);
        Ok(())
    }

    fn a_foreign_key_replaced_through_a_write_guard_is_followed_by_the_next_cascade(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let posts = session.query::<Post>().order_by(Post::ID.asc()).all()?;
        let z = session.get::<Comment>(3)?;
        session.delete(&posts[1])?;
        session.flush()?;
        z.write()?.post = BelongsTo::with_key(1);
        session.delete(&posts[0])?;
        session.flush()?;
        assert_eq!(z.state(), State::Deleted);
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM comments WHERE id = 3"), 0);
        Ok(())
    }

    fn a_key_a_rollback_gives_back_is_followed_by_the_next_cascade(db) -> orm::Result<()> {
        blogs(&db)?;
        let session = db.session();
        let posts = session.query::<Post>().order_by(Post::ID.asc()).all()?;
        let z = session.get::<Comment>(3)?;
        z.read()?.post.set(&posts[0])?;
        session.flush()?;
        // The cascade from post b looks at comments as they are now: z
        // under post a.
        session.delete(&posts[1])?;
        session.flush()?;
        session.rollback()?;
        assert_eq!(z.read()?.post.key(), Some(3), "back under post c");
        session.delete(&posts[2])?;
        session.flush()?;
        assert_eq!(z.state(), State::Deleted);
        assert_eq!(posts[0].state(), State::Persistent);
        Ok(())
    }

    fn a_bulk_delete_reads_no_keys_where_nothing_below_is_loaded(db) -> orm::Result<()> {
        blogs(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let post = session.get::<Post>(1)?;
        recorder.clear();
        let deleted = session
            .delete_rows::<Blog>()
            .filter(Blog::TITLE.eq("one"))
            .execute()?;
        assert_eq!(deleted, 1);
        assert_eq!(statements(&recorder), ["DELETE blogs"]);
        assert_eq!(post.state(), State::Deleted);
        Ok(())
    }

    fn a_cascade_round_a_circle_of_rows_not_loaded_reads_each_once_and_ends(db) -> orm::Result<()> {
        members(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let third = session.get::<Member>(3)?;
        recorder.clear();
        let deleted = session
            .delete_rows::<Member>()
            .filter(Member::ID.eq(1))
            .execute()?;
        assert_eq!(deleted, 1);
        assert_eq!(
            statements(&recorder),
            ["SELECT members", "SELECT members", "SELECT members", "DELETE members"],
            "the key matched, then who 1 mentors (2), then who 2 mentors (1, met)"
        );
        assert_eq!(third.state(), State::Persistent);
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM members"), 1);
        Ok(())
    }

    fn a_flushed_delete_round_a_circle_of_rows_not_loaded_ends(db) -> orm::Result<()> {
        members(&db)?;
        let session = db.session();
        let third = session.get::<Member>(3)?;
        let first = session.get::<Member>(1)?;
        session.delete(&first)?;
        session.commit()?;
        assert_eq!(first.state(), State::Detached);
        assert_eq!(third.state(), State::Persistent);
        assert_eq!(count(&db, "SELECT count(*) FROM members"), 1);
        Ok(())
    }

    fn rollback_after_a_cascading_delete_restores_rows_and_objects(db) -> orm::Result<()> {
        blogs(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let blog = session.get::<Blog>(1)?;
        let posts = blog.read()?.posts.load()?;
        let comments = by_id(&posts, 1).read()?.comments.load()?;
        session.delete(&blog)?;
        session.flush()?;
        assert_eq!(posts[0].state(), State::Deleted);

        session.rollback()?;
        assert_eq!(count(&db, "SELECT count(*) FROM blogs"), 2);
        assert_eq!(count(&db, "SELECT count(*) FROM posts"), 3);
        assert_eq!(count(&db, "SELECT count(*) FROM comments"), 3);
        assert_eq!(blog.state(), State::Persistent);
        for post in &posts {
            assert_eq!(post.state(), State::Persistent);
            assert_eq!(post.read()?.blog.key(), Some(1));
        }
        for comment in &comments {
            assert_eq!(comment.state(), State::Persistent);
        }
        recorder.clear();
        assert_eq!(session.get::<Blog>(1)?, blog);
        assert_eq!(session.get::<Post>(1)?, by_id(&posts, 1));
        assert_eq!(session.get::<Comment>(1)?, by_id(&comments, 1));
        assert_eq!(recorder.count(), 0, "back in the identity map");
        let again = blog.read()?.posts.load()?;
        assert_eq!(ids(&again), [1, 2]);
        assert!(again.iter().all(|p| posts.contains(p)));
        Ok(())
    }

    fn deleting_a_parent_sets_null_on_its_children_in_the_database_and_in_memory(db) -> orm::Result<()> {
        blogs(&db)?;
        db.execute_batch("DELETE FROM posts WHERE blog_id = 1")?;
        let recorder = db.recorder();
        let session = db.session();
        let blog = session.get::<Blog>(1)?;
        let followers = blog.read()?.followers.load()?;
        let other = session.get::<Follower>(3)?;
        recorder.clear();

        session.delete(&blog)?;
        session.commit()?;
        assert_eq!(
            statements(&recorder),
            ["DELETE blogs"],
            "the database sets NULL"
        );
        for follower in &followers {
            assert_eq!(follower.state(), State::Persistent);
            assert_eq!(follower.read()?.blog.key(), None);
            assert_eq!(follower.read()?.blog.load_optional()?, None);
        }
        assert_eq!(other.read()?.blog.key(), Some(2));
        assert_eq!(
            pairs(&db, "SELECT id, blog_id FROM followers ORDER BY id"),
            [(1, None), (2, None), (3, Some(2))]
        );

        // Memory and database agree, so a later change writes only itself.
        recorder.clear();
        by_id(&followers, 1).write()?.name = "renamed".into();
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"UPDATE "followers" SET "name" = ? WHERE "id" = ?"#]
        );
        Ok(())
    }

    fn rollback_after_a_set_null_delete_restores_keys_and_rows(db) -> orm::Result<()> {
        blogs(&db)?;
        db.execute_batch("DELETE FROM posts WHERE blog_id = 1")?;
        let session = db.session();
        let blog = session.get::<Blog>(1)?;
        let followers = blog.read()?.followers.load()?;
        session.delete(&blog)?;
        session.flush()?;
        assert_eq!(followers[0].read()?.blog.key(), None);

        session.rollback()?;
        assert_eq!(blog.state(), State::Persistent);
        for follower in &followers {
            assert_eq!(follower.read()?.blog.key(), Some(1));
            assert_eq!(follower.read()?.blog.load()?, blog);
            assert!(
                follower.changes()?.is_empty(),
                "back to the database's values"
            );
        }
        assert_eq!(
            pairs(&db, "SELECT id, blog_id FROM followers ORDER BY id"),
            [(1, Some(1)), (2, Some(1)), (3, Some(2))]
        );
        assert!(!session.has_changes());
        Ok(())
    }

    // ------------------------------------------------------- self-reference

    fn a_self_referential_tree_three_levels_deep_is_inserted_in_one_commit(db) -> orm::Result<()> {
        db.create_all::<Employee>()?;
        let recorder = db.recorder();
        let session = db.session();
        let all = build_tree(&session)?;
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        let expected = if backend::is_postgres(&db) {
            // A row waits for its manager's key: the CEO, Ada, then Ada's
            // two reports and Ben in one INSERT after their keys, then Ben's
            // two reports (a read of keys would save no round trip for two).
            let mut expected = vec!["INSERT employees"; 2];
            expected.extend(["SELECT employees", "INSERT employees"]);
            expected.extend(["INSERT employees"; 2]);
            expected
        } else {
            vec!["INSERT employees"; 7]
        };
        assert_eq!(statements(&recorder), expected);
        assert_eq!(org_chart(&db), expected_chart());
        // Managers were inserted before their reports: their generated keys are smaller.
        let id = |i: usize| all[i].read().map(|e| e.id);
        let (ceo, ada, ben) = (id(0)?, id(1)?, id(2)?);
        assert!(ceo < ada && ceo < ben);
        assert!(ada < id(3)? && ada < id(4)? && ben < id(5)? && ben < id(6)?);
        let ceo_reports = all[0].read()?.reports.load()?;
        assert_eq!(ceo_reports.len(), 2);
        assert!(ceo_reports.contains(&all[1]) && ceo_reports.contains(&all[2]));
        Ok(())
    }

    fn a_self_referential_tree_loads_back_lazily_one_select_per_collection(db) -> orm::Result<()> {
        committed_tree(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ceo = session
            .query::<Employee>()
            .filter(Employee::MANAGER_ID.is_null())
            .one()?;
        let vps = ceo.read()?.reports.load()?;
        assert_eq!(names(&vps)?, ["Ada", "Ben"]);
        let mut leaves = Vec::new();
        for vp in &vps {
            assert_eq!(vp.read()?.manager.load()?, ceo);
            let reports = vp.read()?.reports.load()?;
            assert_eq!(reports.len(), 2);
            for report in &reports {
                assert_eq!(&report.read()?.manager.load()?, vp);
                assert!(report.read()?.reports.load()?.is_empty());
            }
            leaves.extend(reports);
        }
        assert_eq!(names(&leaves)?, ["Al", "Amy", "Bea", "Bo"]);
        // 1 query + ceo's reports + 2 vps' reports + 4 leaves' (empty) reports.
        assert_eq!(recorder.count(), 1 + 1 + 2 + 4);
        assert!(
            statements(&recorder)
                .iter()
                .all(|s| s == "SELECT employees")
        );
        Ok(())
    }

    fn a_self_referential_tree_preloads_one_statement_per_level(db) -> orm::Result<()> {
        committed_tree(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let roots = session
            .query::<Employee>()
            .filter(Employee::MANAGER_ID.is_null())
            .preload(
                Employee::REPORTS
                    .then(Employee::REPORTS)
                    .then(Employee::REPORTS),
            )
            .all()?;
        assert_eq!(recorder.count(), 4);
        assert_eq!(roots.len(), 1);
        let ceo = &roots[0];
        let vps = ceo.read()?.reports.load()?;
        assert_eq!(names(&vps)?, ["Ada", "Ben"]);
        for vp in &vps {
            assert_eq!(&vp.read()?.manager.load()?, ceo);
            for report in vp.read()?.reports.load()? {
                assert_eq!(&report.read()?.manager.load()?, vp);
                assert!(report.read()?.reports.load()?.is_empty());
            }
        }
        assert_eq!(recorder.count(), 4, "the walk cost nothing");
        Ok(())
    }

    // ---------------------------------------------------------- attaching adds

    fn setting_a_new_orders_user_to_a_persistent_user_adds_the_order_to_the_session(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let order = Handle::new(Order::new(999));
        assert_eq!(order.state(), State::Transient);

        order.read()?.user.set(&ann)?;
        assert_eq!(order.state(), State::Pending);
        recorder.clear();
        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT orders"]);
        assert_eq!(order.state(), State::Persistent);
        let id = order.read()?.id;
        assert_eq!(
            pairs(&db, &format!("SELECT id, user_id FROM orders WHERE id = {id}")),
            [(id, Some(1))]
        );
        assert!(ann.read()?.orders.load()?.contains(&order));
        Ok(())
    }

    fn pushing_a_new_order_into_a_persistent_users_orders_adds_the_order_to_the_session(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        assert_eq!(ann.read()?.orders.load()?.len(), 2);
        let order = Handle::new(Order::new(999));

        ann.read()?.orders.push(&order)?;
        assert_eq!(order.state(), State::Pending);
        assert!(ann.read()?.orders.load()?.contains(&order));
        assert_eq!(order.read()?.user.load()?, ann);
        recorder.clear();
        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT orders"]);
        let id = order.read()?.id;
        assert_eq!(
            pairs(&db, &format!("SELECT id, user_id FROM orders WHERE id = {id}")),
            [(id, Some(1))]
        );
        Ok(())
    }

    fn setting_a_persistent_orders_user_to_a_new_user_adds_the_user_to_the_session(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let cy = Handle::new(User::new("Cy"));

        order.read()?.user.set(&cy)?;
        assert_eq!(cy.state(), State::Pending);
        assert!(cy.read()?.orders.load()?.contains(&order));
        recorder.clear();
        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT users", "UPDATE orders"]);
        let cy_id = cy.read()?.id;
        assert_eq!(order.read()?.user.key(), Some(cy_id));
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders WHERE id = 1"),
            [(1, Some(cy_id))]
        );
        Ok(())
    }

    fn pushing_a_persistent_order_into_a_new_users_orders_adds_the_user_to_the_session(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let order = session.get::<Order>(4)?;
        let cy = Handle::new(User::new("Cy"));

        cy.read()?.orders.push(&order)?;
        assert_eq!(cy.state(), State::Pending);
        assert_eq!(order.read()?.user.load()?, cy);
        recorder.clear();
        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT users", "UPDATE orders"]);
        let cy_id = cy.read()?.id;
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders WHERE id = 4"),
            [(4, Some(cy_id))]
        );
        Ok(())
    }

    // ------------------------------------------------------- Query::lazy

    fn a_query_with_lazy_raise_refuses_lazy_loads_of_the_objects_it_returns(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session
            .query::<User>()
            .order_by(User::ID.asc())
            .lazy(Lazy::Raise)
            .all()?;
        recorder.clear();
        let refused = users[0].read()?.orders.load();
        assert_refused(&refused, "User", "orders");
        assert_eq!(recorder.count(), 0, "no SQL behind the field access");
        Ok(())
    }

    fn a_query_with_lazy_raise_still_reads_what_it_preloaded_and_leaves_other_objects_alone(db) -> orm::Result<()> {
        shop(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session
            .query::<User>()
            .order_by(User::ID.asc())
            .lazy(Lazy::Raise)
            .preload(User::ORDERS)
            .all()?;
        recorder.clear();
        let orders = users[0].read()?.orders.load()?;
        assert_eq!(ids(&orders), [1, 2]);
        assert_eq!(recorder.count(), 0, "preloaded");
        // The preloaded orders were not returned by the query: their own
        // relationships load as their model says.
        assert!(orders[0].read()?.items.load()?.is_empty());
        assert_eq!(recorder.count(), 1, "one lazy load of order 1's items");
        Ok(())
    }

    fn a_query_with_lazy_select_lets_a_raise_relationship_load(db) -> orm::Result<()> {
        library(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let shelves = session.query::<Shelf>().lazy(Lazy::Select).all()?;
        recorder.clear();
        let books = shelves[0].read()?.books.load()?;
        assert_eq!(ids(&books), [1, 2]);
        assert_eq!(recorder.count(), 1, "one lazy load, allowed by the query");
        Ok(())
    }

    fn a_query_with_lazy_raise_refuses_a_belongs_to_whose_parent_is_not_loaded(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let orders = session
            .query::<Order>()
            .order_by(Order::ID.asc())
            .lazy(Lazy::Raise)
            .all()?;
        let refused = orders[0].read()?.user.load();
        assert_refused(&refused, "Order", "user");
        // Once the parent is in the identity map, no load is needed.
        let ann = session.get::<User>(1)?;
        assert_eq!(orders[0].read()?.user.load()?, ann);
        Ok(())
    }

    // ------------------------------------------------------------ lazy = raise

    fn reading_an_unloaded_raise_collection_is_lazy_load_refused(db) -> orm::Result<()> {
        library(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let shelf = session.get::<Shelf>(1)?;
        recorder.clear();

        let refused = shelf.read()?.books.load();
        assert_refused(&refused, "Shelf", "books");
        assert_eq!(recorder.count(), 0);
        assert!(!shelf.read()?.books.is_loaded());
        Ok(())
    }

    fn reading_an_unloaded_raise_belongs_to_is_lazy_load_refused(db) -> orm::Result<()> {
        library(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let book = session.get::<Book>(1)?;
        recorder.clear();

        let refused = book.read()?.shelf.load();
        assert_refused(&refused, "Book", "shelf");
        assert_eq!(recorder.count(), 0);
        assert_eq!(book.read()?.shelf.key(), Some(1), "the key needs no load");
        Ok(())
    }

    fn preloading_a_raise_collection_makes_it_and_its_back_references_readable(db) -> orm::Result<()> {
        library(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let shelves = session.query::<Shelf>().preload(Shelf::BOOKS).all()?;
        assert_eq!(statements(&recorder), ["SELECT shelves", "SELECT books"]);

        let books = shelves[0].read()?.books.load()?;
        assert_eq!(ids(&books), [1, 2]);
        for book in &books {
            assert_eq!(book.read()?.shelf.load()?, shelves[0]);
        }
        assert_eq!(recorder.count(), 2);
        Ok(())
    }

    fn preloading_a_raise_belongs_to_makes_it_readable(db) -> orm::Result<()> {
        library(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let books = session.query::<Book>().preload(Book::SHELF).all()?;
        assert_eq!(statements(&recorder), ["SELECT books", "SELECT shelves"]);

        let shelf = books[0].read()?.shelf.load()?;
        assert_eq!(books[1].read()?.shelf.load()?, shelf);
        assert_eq!(shelf.read()?.label, "fiction");
        assert_eq!(recorder.count(), 2);
        Ok(())
    }
}

// No database takes part: nothing here differs between the backends.
#[test]
fn linking_two_objects_in_no_session_links_them_in_memory_only() -> orm::Result<()> {
    let order = Handle::new(Order::new(1));
    let user = Handle::new(User::new("nobody"));
    order.read()?.user.set(&user)?;
    assert_eq!(order.read()?.user.load()?, user);
    assert_eq!(user.read()?.orders.load()?, vec![order.clone()]);
    assert_eq!(order.state(), State::Transient);
    assert_eq!(user.state(), State::Transient);
    Ok(())
}

// ------------------------------------------------------------------ sizes

#[test]
fn relationship_fields_take_four_or_five_words() {
    // Every loaded object carries its relationship fields, so their size is
    // what memory per row is made of: a `HasMany` is its owner's pointer
    // (two words) and its members (two), a `BelongsTo` the owner's pointer,
    // the parent's and the key.
    assert_eq!(std::mem::size_of::<HasMany<Order>>(), 32);
    assert_eq!(std::mem::size_of::<BelongsTo<User>>(), 40);
}
