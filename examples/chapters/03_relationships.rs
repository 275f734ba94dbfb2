//! Chapter 3: relationships, the classic users-and-orders lesson. The
//! foreign key speaks in table terms, the relationship in type terms; both
//! sides stay in sync in memory; unloaded sides load lazily, once.

use orm::prelude::*;
use orm::{Backend, Recorder};

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
}

/// Prints how many statements ran since the last call, and starts over.
/// BEGIN, COMMIT and ROLLBACK only frame the work and are not counted.
fn cost(recorder: &Recorder) -> usize {
    let n = recorder.count();
    println!("   = {n} statement{}", if n == 1 { "" } else { "s" });
    recorder.clear();
    n
}

/// Runs the chapter on a new in-memory SQLite database.
pub fn run() -> orm::Result<()> {
    run_on(&Database::in_memory()?)
}

/// Runs the chapter on `db`, which holds no `users` or `orders` tables
/// yet: SQLite, or a PostgreSQL server (`cargo run --example
/// 03_relationships --features postgres -- postgresql://...`).
pub fn run_on(db: &Database) -> orm::Result<()> {
    let backend = db.backend();
    println!("Two ways to say \"this order is Alice's\":");
    println!("- the table says it with a number: the column user_id REFERENCES users(id);");
    println!("- the struct says it with a type: `user: BelongsTo<User>`.");
    println!("You write the second; the derive makes the first ({backend:?}'s DDL):");
    let ddl = Order::TABLE.ddl_for(backend);
    print!("{ddl}");
    let integer = if backend == Backend::Postgres {
        "BIGINT"
    } else {
        "INTEGER"
    };
    assert!(ddl.contains(&format!(
        r#""user_id" {integer} NOT NULL REFERENCES "users" ("id")"#
    )));
    println!("`User.orders: HasMany<Order>` is the same link seen from the user;");
    println!("`back_populates` pairs the two fields, so setting one fills the other.");

    db.create_all::<(User, Order)>()?;
    db.set_echo(true);
    let recorder = db.recorder();
    let session = db.session();

    println!("\n>> let alice = session.add(User::new(\"Alice\"));");
    println!(">> let order = session.add(Order::new(1299));");
    println!(">> order.read()?.user.set(&alice)?;");
    println!("   In memory only: order.user is alice, and alice.orders gains order");
    println!("   (alice is new, so her orders are known: none until now).");
    println!("   Alice has no id yet, so order.user.key() is None for now.");
    let alice = session.add(User::new("Alice"));
    let order = session.add(Order::new(1299));
    order.read()?.user.set(&alice)?;
    assert_eq!(cost(&recorder), 0);
    assert_eq!(order.read()?.user.key(), None);

    println!("\n>> order.read()?.user.load()?.read()?.orders.load()?");
    println!("   order.user.orders is already loaded, because `set` filled both");
    println!("   sides: no SQL, and it holds the very same order.");
    let owner = order.read()?.user.load()?;
    let orders = owner.read()?.orders.load()?;
    assert_eq!(cost(&recorder), 0);
    assert_eq!(owner, alice);
    assert_eq!(orders, vec![order.clone()]);

    println!("\n>> session.commit()");
    println!("   (Read the causes at the end of each line: what ran, and why in");
    println!("   this order.)");
    session.commit()?;
    assert_eq!(
        recorder.causes(),
        [
            "commit: insert into users",
            "commit: insert into orders after users (orders.user_id needs users.id)"
        ]
    );
    assert_eq!(cost(&recorder), 2);
    let alice_id = alice.read()?.id;
    assert_eq!(order.read()?.user.key(), Some(alice_id));
    println!("   order.user.key() is now Some({alice_id})");

    println!("\nA new session knows nothing yet: relationships load lazily.");
    let session = db.session();

    println!("\n>> let order = session.get::<Order>(1)?");
    println!("   The order's user_id comes with its row, so order.user.key()");
    println!("   answers without loading the user.");
    let order = session.get::<Order>(1)?;
    assert_eq!(recorder.causes(), ["get of orders 1"]);
    assert_eq!(cost(&recorder), 1);
    assert_eq!(order.read()?.user.key(), Some(alice_id));
    assert!(!order.read()?.user.is_loaded());

    println!("\n>> let alice = order.read()?.user.load()?");
    println!("   The first access of an unloaded relationship loads it.");
    let alice = order.read()?.user.load()?;
    assert_eq!(recorder.causes(), ["lazy load of Order.user (orders 1)"]);
    assert_eq!(cost(&recorder), 1);

    println!("\n>> order.read()?.user.load()?  (again)");
    println!("   Loaded now: no SQL, the same alice.");
    assert_eq!(order.read()?.user.load()?, alice);
    assert_eq!(cost(&recorder), 0);

    println!("\n>> let orders = alice.read()?.orders.load()?");
    println!("   Loading alice did not load her orders. The row this finds is");
    println!("   already in the identity map, so it is our `order`.");
    let orders = alice.read()?.orders.load()?;
    assert_eq!(recorder.causes(), ["lazy load of User.orders (users 1)"]);
    assert_eq!(cost(&recorder), 1);
    assert_eq!(orders, vec![order.clone()]);

    println!("\n>> orders[0].read()?.user.load()?");
    println!("   Loading alice.orders pointed each order's `user` at alice: no SQL.");
    assert_eq!(orders[0].read()?.user.load()?, alice);
    assert_eq!(cost(&recorder), 0);

    println!("\nAnother new session, and this time the user comes first.");
    let session = db.session();
    println!("\n>> let alice = session.get::<User>(1)?; let order = session.get::<Order>(1)?");
    let alice = session.get::<User>(1)?;
    let order = session.get::<Order>(1)?;
    assert_eq!(cost(&recorder), 2);

    println!("\n>> order.read()?.user.load()?");
    println!("   Not loaded, but user 1 is in the identity map: found there, no SQL.");
    assert_eq!(order.read()?.user.load()?, alice);
    assert_eq!(cost(&recorder), 0);

    println!("\n>> alice.read()?.orders.load()?");
    println!("   Order 1 is in the map, but only the database knows all of alice's orders.");
    assert_eq!(alice.read()?.orders.load()?, vec![order.clone()]);
    assert_eq!(recorder.causes(), ["lazy load of User.orders (users 1)"]);
    assert_eq!(cost(&recorder), 1);

    println!("\n>> let bob = session.add(User::new(\"Bob\")); order.read()?.user.set(&bob)?");
    println!("   Moving the order between users, in memory: it leaves alice.orders");
    println!("   and joins bob.orders (bob is new, so his orders are known: none).");
    let bob = session.add(User::new("Bob"));
    order.read()?.user.set(&bob)?;
    assert_eq!(cost(&recorder), 0);

    println!("\n>> alice.read()?.orders.load()?; bob.read()?.orders.load()?");
    println!("   Both loaded already, and both up to date: no SQL.");
    assert!(alice.read()?.orders.load()?.is_empty());
    assert_eq!(bob.read()?.orders.load()?, vec![order.clone()]);
    assert_eq!(cost(&recorder), 0);

    println!("\n>> session.commit()");
    session.commit()?;
    assert_eq!(
        recorder.causes(),
        [
            "commit: insert into users",
            "commit: update of orders 1 after users (orders.user_id needs users.id): user_id"
        ]
    );
    assert_eq!(cost(&recorder), 2);

    println!("\nA graph can be built before any session, the way you would build");
    println!("plain values, and added in one go:");
    println!(">> let cy = Handle::new(User::new(\"Cy\"));");
    println!(
        ">> let first = Handle::new(Order::new(100)); let second = Handle::new(Order::new(250));"
    );
    println!(">> cy.read()?.orders.push(&first)?; cy.read()?.orders.push(&second)?;");
    println!("   No session, no SQL: both sides are in sync in memory all the same,");
    println!("   and cy keeps her orders alive (nobody else holds them yet).");
    let cy = Handle::new(User::new("Cy"));
    let first = Handle::new(Order::new(100));
    let second = Handle::new(Order::new(250));
    cy.read()?.orders.push(&first)?;
    cy.read()?.orders.push(&second)?;
    assert_eq!(first.read()?.user.load()?, cy);
    assert_eq!(cost(&recorder), 0);

    println!("\n>> session.add_handle(&cy)?; session.commit()");
    println!("   Adding cy adds what is reachable from her, her orders too");
    println!("   (SQLAlchemy's save-update cascade).");
    session.add_handle(&cy)?;
    assert_eq!(first.state(), orm::State::Pending);
    session.commit()?;
    let after_users = "commit: insert into orders after users (orders.user_id needs users.id)";
    assert_eq!(
        recorder.causes(),
        ["commit: insert into users", after_users, after_users]
    );
    assert_eq!(second.read()?.user.key(), Some(cy.read()?.id));
    assert_eq!(cost(&recorder), 3);
    Ok(())
}
