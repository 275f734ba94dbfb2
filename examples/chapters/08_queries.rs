//! Chapter 8: queries beyond one table. Joins along relationships, filters
//! across them without a join (`any` / `has`), values instead of objects
//! (`select`), aggregates with `group_by` / `having`, subqueries, LIKE that
//! matches literally, bulk writes that keep the identity map truthful,
//! upsert, and savepoints. Each step prints its SQL with its cause (the
//! echo, on stderr) and the statements it cost, checked.

use orm::prelude::*;
use orm::{Recorder, State};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub email: String,
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
    pub note: Option<String>,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(through = "order_tags", back_populates = "orders")]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(through = "order_tags", back_populates = "tags")]
    pub orders: ManyToMany<Order>,
}

/// Ann (orders of 1200 and 5000 cents), Bob (800 and 1500), Cid (none);
/// order 1 is tagged "gift".
fn shop() -> orm::Result<Database> {
    let db = Database::in_memory()?;
    db.create_all::<(User, Order, Tag)>()?;
    let session = db.session();
    let gift = session.add(Tag::new("gift"));
    for (email, name, totals) in [
        ("ann@example.com", "Ann", &[1200, 5000][..]),
        ("bob@example.com", "Bob", &[800, 1500][..]),
        ("cid@example.com", "Cid", &[][..]),
    ] {
        let user = session.add(User::new(email, name));
        for &cents in totals {
            let order = session.add(Order::new(cents));
            order.read()?.user.set(&user)?;
            if cents == 1200 {
                order.read()?.tags.add(&gift)?;
            }
        }
    }
    session.commit()?;
    Ok(db)
}

/// Prints and checks how many statements the step since the last call cost.
fn cost(recorder: &Recorder, expected: usize) {
    let n = recorder.count();
    assert_eq!(n, expected, "{:?}", recorder.sql());
    println!("   = {n} statement{}", if n == 1 { "" } else { "s" });
    recorder.clear();
}

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    let db = shop()?;
    db.set_echo(true);
    let recorder = db.recorder();
    let session = db.session();

    println!("\n>> query::<Order>().join(Order::USER).filter(User::NAME.eq(\"Ann\"))");
    println!("   A join along a relationship: the ON clause comes from the");
    println!("   foreign key, and the filter may read the joined model.");
    let anns = session
        .query::<Order>()
        .join(Order::USER)
        .filter(User::NAME.eq("Ann"))
        .all()?;
    assert_eq!(anns.len(), 2);
    cost(&recorder, 1);
    println!("   A column of a model that is neither queried nor joined does not");
    println!("   compile: `query::<Order>().filter(Tag::LABEL.eq(..))` is an error.");

    println!("\n>> query::<User>().filter(User::ORDERS.any(Order::TOTAL_CENTS.gt(1000)))");
    println!("   `any` needs no join: a correlated EXISTS, one object per user.");
    let big = session
        .query::<User>()
        .filter(User::ORDERS.any(Order::TOTAL_CENTS.gt(1000)))
        .all()?;
    assert_eq!(big.len(), 2);
    cost(&recorder, 1);

    println!("\n>> query::<Order>().filter(Order::TAGS.any(Tag::LABEL.eq(\"gift\")))");
    println!("   Through the link table of a many-to-many.");
    let gifts = session
        .query::<Order>()
        .filter(Order::TAGS.any(Tag::LABEL.eq("gift")))
        .all()?;
    assert_eq!(gifts.len(), 1);
    cost(&recorder, 1);

    println!("\n>> .left_join(User::ORDERS).select((User::NAME, Order::TOTAL_CENTS.sum()))");
    println!("   .group_by(User::NAME): values, not objects. A left-joined column");
    println!("   reads as Option; a sum of no rows is None.");
    let totals: Vec<(String, Option<i64>)> = session
        .query::<User>()
        .left_join(User::ORDERS)
        .select((User::NAME, Order::TOTAL_CENTS.sum()))
        .group_by(User::NAME)
        .order_by(User::NAME)
        .all()?;
    println!("   {totals:?}");
    assert_eq!(
        totals,
        [
            ("Ann".to_owned(), Some(6200)),
            ("Bob".to_owned(), Some(2300)),
            ("Cid".to_owned(), None),
        ]
    );
    cost(&recorder, 1);

    println!("\n>> ... .having(Order::TOTAL_CENTS.sum().gt(5000))");
    let rich: Vec<String> = session
        .query::<User>()
        .join(User::ORDERS)
        .select(User::NAME)
        .group_by(User::NAME)
        .having(Order::TOTAL_CENTS.sum().gt(5000))
        .all()?;
    assert_eq!(rich, ["Ann"]);
    cost(&recorder, 1);

    println!(
        "\n>> Order::TOTAL_CENTS.eq_expr(query::<Order>().select(Order::TOTAL_CENTS.max()).scalar())"
    );
    println!("   A scalar subquery: the database works the value out.");
    let biggest = session
        .query::<Order>()
        .filter(
            Order::TOTAL_CENTS.eq_expr(
                session
                    .query::<Order>()
                    .select(Order::TOTAL_CENTS.max())
                    .scalar(),
            ),
        )
        .one()?;
    assert_eq!(biggest.read()?.total_cents, 5000);
    cost(&recorder, 1);

    println!("\n>> Order::NOTE.contains(\"50%\")");
    println!("   `%` and `_` in the text are escaped, so it matches literally;");
    println!("   `like` takes a pattern as written.");
    let (three, four) = (session.get::<Order>(3)?, session.get::<Order>(4)?);
    recorder.clear();
    three.write()?.note = Some("50% off".to_owned());
    four.write()?.note = Some("500 off".to_owned());
    let literal = session
        .query::<Order>()
        .filter(Order::NOTE.contains("50%"))
        .count()?;
    assert_eq!(literal, 1);
    assert_eq!(
        recorder.causes(),
        [
            "autoflush before the count of orders: update of orders 3: note",
            "autoflush before the count of orders: update of orders 4: note",
            "count of orders"
        ]
    );
    println!("   (the causes say why two UPDATEs come first)");
    cost(&recorder, 3);

    println!(
        "\n>> update_rows::<Order>().filter(Order::TOTAL_CENTS.lt(1000)).set(Order::NOTE, ..)"
    );
    println!("   One UPDATE for every matching row, loaded or not; the loaded");
    println!("   objects it changed take the new values (RETURNING says which).");
    let small = session.get::<Order>(3)?;
    recorder.clear();
    let changed = session
        .update_rows::<Order>()
        .filter(Order::TOTAL_CENTS.lt(1000))
        .set(Order::NOTE, Some("small".to_owned()))
        .execute()?;
    assert_eq!(changed, 1);
    assert_eq!(small.read()?.note.as_deref(), Some("small"));
    cost(&recorder, 1);

    println!("\n>> upsert(User::new(\"ann@example.com\", \"Ann Lee\"), User::EMAIL)");
    println!("   INSERT ... ON CONFLICT (email) DO UPDATE: the row exists, so it is");
    println!("   updated, and the session still has one object for it.");
    let ann = session.get::<User>(1)?;
    recorder.clear();
    let again = session.upsert(User::new("ann@example.com", "Ann Lee"), User::EMAIL)?;
    assert_eq!(again, ann);
    assert_eq!(ann.read()?.name, "Ann Lee");
    cost(&recorder, 1);

    println!("\n>> let sp = session.begin_nested()?; ... sp.rollback()?");
    println!("   A savepoint: rolling back to it restores what changed since,");
    println!("   in memory and in the database, and nothing before it.");
    let savepoint = session.begin_nested()?;
    let doomed = session.add(User::new("dee@example.com", "Dee"));
    ann.write()?.name = "Annie".to_owned();
    session.flush()?;
    savepoint.rollback()?;
    assert_eq!(ann.read()?.name, "Ann Lee");
    assert_ne!(doomed.state(), State::Persistent);
    println!("   Ann is \"Ann Lee\" again; Dee left the session.");
    session.commit()?;
    recorder.clear();
    Ok(())
}
