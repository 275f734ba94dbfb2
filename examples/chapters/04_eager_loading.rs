//! Chapter 4: eager loading. Walking users -> orders -> items lazily costs
//! one statement per object visited (the "N+1" problem); `preload` loads
//! each level for all parents at once: 3 statements for any number of users.

use orm::prelude::*;
use orm::{Error, Lazy, Recorder};

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
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(back_populates = "order")]
    pub items: HasMany<Item>,
}

#[derive(Model, Debug)]
#[orm(table = "items")]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    pub product: String,
    #[orm(back_populates = "items")]
    pub order: BelongsTo<Order>,
}

/// Orders per user and items per order in the sample data.
const ORDERS_EACH: usize = 2;
const ITEMS_EACH: usize = 2;

/// Adds `users` users, each with 2 orders of 2 items, in one commit.
fn add_users(db: &Database, users: usize) -> orm::Result<()> {
    let session = db.session();
    for u in 0..users {
        let user = session.add(User::new(format!("user {u}")));
        for o in 0..ORDERS_EACH {
            let order = session.add(Order::new(100 * (o as i64 + 1)));
            user.read()?.orders.push(&order)?;
            for i in 0..ITEMS_EACH {
                let item = session.add(Item::new(format!("product {i}")));
                order.read()?.items.push(&item)?;
            }
        }
    }
    session.commit()
}

/// Visits every item of every order of every user, loading lazily.
/// Returns how many items it saw.
fn walk_lazily(db: &Database) -> orm::Result<usize> {
    let session = db.session();
    let mut seen = 0;
    for user in session.query::<User>().all()? {
        for order in user.read()?.orders.load()? {
            seen += order.read()?.items.load()?.len();
        }
    }
    Ok(seen)
}

/// The same walk, with both levels preloaded by the query.
fn walk_preloaded(db: &Database) -> orm::Result<usize> {
    let session = db.session();
    let users = session
        .query::<User>()
        .preload(User::ORDERS.then(Order::ITEMS))
        .all()?;
    let mut seen = 0;
    for user in users {
        for order in user.read()?.orders.load()? {
            seen += order.read()?.items.load()?.len();
        }
    }
    Ok(seen)
}

/// Runs a walk and returns how many statements it issued.
fn statements_of(
    recorder: &Recorder,
    walk: impl FnOnce() -> orm::Result<usize>,
) -> orm::Result<usize> {
    recorder.clear();
    walk()?;
    let n = recorder.count();
    recorder.clear();
    Ok(n)
}

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    println!("The models of this chapter, drawn from their metadata by");
    println!("orm::diagram::mermaid::<(User, Order, Item)>() (paste it into any");
    println!("Mermaid viewer; orm::diagram::dot gives Graphviz):\n");
    let diagram = orm::diagram::mermaid::<(User, Order, Item)>();
    println!("{diagram}");
    assert!(diagram.contains("users ||--o{ orders : \"user\""));
    assert!(diagram.contains("orders ||--o{ items : \"order\""));

    let db = Database::in_memory()?;
    db.create_all::<(User, Order, Item)>()?;
    add_users(&db, 3)?;
    db.set_echo(true);
    let recorder = db.recorder();

    println!("\n3 users, each with 2 orders of 2 items. We visit every item.");
    println!("\n>> lazily: query users, then user.orders.load(), order.items.load()");
    println!("   Read the causes, and the `[orm] warning` lines among them.");
    let watch = db.recorder();
    let lazy = statements_of(&recorder, || walk_lazily(&db))?;
    assert_eq!(lazy, 1 + 3 + 3 * ORDERS_EACH);
    let causes = watch.causes();
    let loads_of = |of: &str| causes.iter().filter(|c| c.starts_with(of)).count();
    assert_eq!(causes[0], "query of users");
    assert_eq!(loads_of("lazy load of User.orders (users "), 3);
    assert_eq!(
        loads_of("lazy load of Order.items (orders "),
        3 * ORDERS_EACH
    );
    println!("   = {lazy} statements");
    println!("   The session noticed the pattern and warned once per relationship,");
    println!("   with the fix; the recorder keeps the warnings (`db.set_n_plus_one`");
    println!("   sets the threshold, turns it off, or makes it an error for tests):");
    let warnings = watch.warnings();
    for warning in &warnings {
        println!("   {warning}");
    }
    assert_eq!(warnings.len(), 2);
    assert!(warnings[0].starts_with("3 lazy loads of Order.items, one per row of orders"));
    assert!(warnings[1].starts_with("3 lazy loads of User.orders after one query of users"));
    drop(watch);

    println!("\n>> query::<User>().preload(User::ORDERS.then(Order::ITEMS)).all()");
    println!("   One statement per level, for all the parents at once: the keys");
    println!("   travel as one JSON array parameter, so the statement does not grow");
    println!("   with their number. Walking the tree afterwards costs nothing.");
    let watch = db.recorder();
    let eager = statements_of(&recorder, || walk_preloaded(&db))?;
    assert_eq!(eager, 3);
    assert_eq!(
        watch.causes(),
        [
            "query of users",
            "preload of User.orders for 3 users",
            "preload of Order.items for 6 orders"
        ]
    );
    drop(watch);
    println!("   = {eager} statements");

    db.set_echo(false);
    println!("\nThe same two walks with more users (echo off, just the counts):");
    println!("   users   lazy   preload");
    for users in [3, 10, 30] {
        let have = db.session().query::<User>().count()?;
        add_users(&db, users - have)?;
        let lazy = statements_of(&recorder, || walk_lazily(&db))?;
        let eager = statements_of(&recorder, || walk_preloaded(&db))?;
        println!("   {users:>5}   {lazy:>4}   {eager:>7}");
        assert_eq!(lazy, 1 + users + users * ORDERS_EACH);
        assert_eq!(eager, 3);
    }
    db.set_echo(true);

    println!("\nPreloading also points each child back at its parent.");
    println!(">> query::<User>().preload(User::ORDERS.then(Order::ITEMS)).first()");
    let session = db.session();
    let user = session
        .query::<User>()
        .preload(User::ORDERS.then(Order::ITEMS))
        .first()?
        .expect("there are users");
    assert_eq!(recorder.count(), 3);
    println!("   = 3 statements");
    recorder.clear();

    println!("\n>> item.order.load()?.read()?.user.load()?  (for an item of that user)");
    println!("   Each item's `order` and each order's `user` were set by the preload.");
    let order = user.read()?.orders.load()?[0].clone();
    let item = order.read()?.items.load()?[0].clone();
    assert_eq!(item.read()?.order.load()?, order);
    assert_eq!(order.read()?.user.load()?, user);
    assert_eq!(recorder.count(), 0);
    println!("   = 0 statements");

    println!("\nTo be sure no lazy load hides behind a field access, a query can");
    println!("refuse them for the objects it returns.");
    println!(">> let users = query::<User>().lazy(Lazy::Raise).all()?");
    let session = db.session();
    let users = session.query::<User>().lazy(Lazy::Raise).all()?;
    assert_eq!(recorder.count(), 1);
    println!("   = 1 statement");
    recorder.clear();

    println!("\n>> users[0].read()?.orders.load()");
    println!("   Not preloaded, and lazy loading is refused: an error, no SQL.");
    let refused = users[0].read()?.orders.load();
    assert!(matches!(refused, Err(Error::LazyLoadRefused { .. })));
    assert_eq!(recorder.count(), 0);
    if let Err(error) = refused {
        println!("   Err: {error}");
    }
    println!("   = 0 statements");
    Ok(())
}
