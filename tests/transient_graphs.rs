//! Graphs built before a session: relationships between objects that are
//! in no session work as between persistent ones (both sides kept in sync
//! in memory); adding any object of such a graph adds everything reachable
//! from it (SQLAlchemy's save-update cascade) and the flush inserts it in a
//! valid order with keys filled. A graph lives as long as a handle reaches
//! it (a parent keeps its children) and is freed when the last goes.

mod common;

use std::cell::Cell;

use common::{Fixture, statements};
use orm::prelude::*;
use orm::{Error, Misuse, State};

thread_local! {
    static ALIVE: Cell<isize> = const { Cell::new(0) };
}

/// Counts the values alive on this test's thread.
#[derive(Debug)]
pub struct Alive;

impl Default for Alive {
    fn default() -> Self {
        ALIVE.with(|n| n.set(n.get() + 1));
        Alive
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        ALIVE.with(|n| n.set(n.get() - 1));
    }
}

fn alive() -> isize {
    ALIVE.with(Cell::get)
}

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(skip)]
    pub alive: Alive,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
    #[orm(back_populates = "user")]
    pub profile: HasOne<Profile>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(skip)]
    pub alive: Alive,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(through = "order_tags", back_populates = "orders")]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "profiles")]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    pub bio: String,
    #[orm(skip)]
    pub alive: Alive,
    #[orm(unique, back_populates = "profile")]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(skip)]
    pub alive: Alive,
    #[orm(through = "order_tags", back_populates = "tags")]
    pub orders: ManyToMany<Order>,
}

type All = (User, Order, Profile, Tag);

fn user(name: &str) -> Handle<User> {
    Handle::new(User::new(name))
}

fn order(total: i64) -> Handle<Order> {
    Handle::new(Order::new(total))
}

#[test]
fn a_user_built_with_its_orders_joins_the_session_whole() -> orm::Result<()> {
    let fx = Fixture::new::<All>("whole");
    let alice = user("Alice");
    let first = order(1299);
    let second = order(500);
    alice.read()?.orders.push(&first)?;
    alice.read()?.orders.push(&second)?;
    // Both sides in sync with no session at all.
    assert_eq!(first.read()?.user.load()?, alice);
    assert_eq!(
        alice.read()?.orders.load()?,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(first.state(), State::Transient);

    let session = fx.db.session();
    session.add_handle(&alice)?;
    assert_eq!(first.state(), State::Pending, "added with alice");
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        statements(&recorder),
        ["INSERT users", "INSERT orders", "INSERT orders"]
    );
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM orders ORDER BY id"),
        [(1, Some(1)), (2, Some(1))]
    );
    assert_eq!(
        session.get::<Order>(1)?,
        first,
        "the same objects, now persistent"
    );
    Ok(())
}

#[test]
fn adding_a_child_adds_the_parent_it_was_given() -> orm::Result<()> {
    let fx = Fixture::new::<All>("child-first");
    let alice = user("Alice");
    let order = order(700);
    order.read()?.user.set(&alice)?;
    assert_eq!(alice.read()?.orders.load()?, vec![order.clone()]);
    let session = fx.db.session();
    session.add_handle(&order)?;
    assert_eq!(alice.state(), State::Pending);
    session.commit()?;
    assert_eq!(fx.pairs("SELECT id, user_id FROM orders"), [(1, Some(1))]);
    Ok(())
}

#[test]
fn moves_and_removals_before_a_session_keep_both_sides_in_sync() -> orm::Result<()> {
    let fx = Fixture::new::<All>("moves");
    let alice = user("Alice");
    let bob = user("Bob");
    let order = order(100);
    alice.read()?.orders.push(&order)?;
    order.read()?.user.set(&bob)?;
    assert!(alice.read()?.orders.load()?.is_empty());
    assert_eq!(bob.read()?.orders.load()?, vec![order.clone()]);
    bob.read()?.orders.remove(&order)?;
    assert_eq!(order.read()?.user.load_optional()?, None);
    bob.read()?.orders.push(&order)?;

    let session = fx.db.session();
    session.add_handle(&bob)?;
    assert_eq!(alice.state(), State::Transient, "alice no longer reachable");
    session.commit()?;
    assert_eq!(fx.count("SELECT count(*) FROM users"), 1);
    assert_eq!(fx.pairs("SELECT id, user_id FROM orders"), [(1, Some(1))]);
    Ok(())
}

#[test]
fn many_to_many_and_one_to_one_links_made_before_a_session_are_written() -> orm::Result<()> {
    let fx = Fixture::new::<All>("links");
    let alice = user("Alice");
    let order = order(100);
    let red = Handle::new(Tag::new("red"));
    let blue = Handle::new(Tag::new("blue"));
    let profile = Handle::new(Profile::new("hi"));
    alice.read()?.orders.push(&order)?;
    order.read()?.tags.add(&red)?;
    blue.read()?.orders.add(&order)?;
    alice.read()?.profile.set(&profile)?;
    assert_eq!(red.read()?.orders.load()?, vec![order.clone()]);
    assert_eq!(profile.read()?.user.load()?, alice);

    let session = fx.db.session();
    session.add_handle(&red)?;
    let recorder = fx.db.recorder();
    session.commit()?;
    let mut done = statements(&recorder);
    done.sort();
    assert_eq!(
        done,
        [
            "INSERT order_tags",
            "INSERT order_tags",
            "INSERT orders",
            "INSERT profiles",
            "INSERT tags",
            "INSERT tags",
            "INSERT users",
        ],
        "every object once, each link row once"
    );
    assert_eq!(
        fx.count("SELECT count(*) FROM order_tags WHERE order_id = 1"),
        2
    );
    assert_eq!(fx.pairs("SELECT id, user_id FROM profiles"), [(1, Some(1))]);
    Ok(())
}

#[test]
fn links_across_sessions_are_misuse_and_a_graph_joins_the_session_it_touches() -> orm::Result<()> {
    let fx = Fixture::new::<All>("misuse");
    let first = fx.db.session();
    let second = fx.db.session();
    let ann = first.add(User::new("Ann"));
    let order = second.add(Order::new(1));
    let cy = second.add(User::new("Cy"));
    order.read()?.user.set(&cy)?;
    assert!(matches!(
        ann.read()?.orders.push(&order),
        Err(Error::Misuse(Misuse::TwoSessions { .. }))
    ));
    // A graph linked to an object of a session joins that session whole.
    let bob = user("Bob");
    let loose = self::order(2);
    bob.read()?.orders.push(&loose)?;
    let red = Handle::new(Tag::new("red"));
    red.read()?.orders.add(&loose)?;
    second.commit()?;
    let kept = second.get::<Order>(1)?;
    red.read()?.orders.add(&kept)?;
    assert_eq!(
        (red.state(), loose.state(), bob.state()),
        (State::Pending, State::Pending, State::Pending)
    );
    // An object persistent in a session now gone links to nothing new.
    first.commit()?;
    drop(first);
    let gone = ann;
    let stray = self::order(3);
    assert!(matches!(
        stray.read()?.user.set(&gone),
        Err(Error::Misuse(Misuse::Detached { .. }))
    ));
    assert_eq!(stray.read()?.user.load_optional()?, None, "nothing changed");
    Ok(())
}

#[test]
fn a_graph_dropped_before_it_joins_a_session_is_freed() -> orm::Result<()> {
    let before = alive();
    {
        let alice = user("Alice");
        for total in [1, 2, 3] {
            alice.read()?.orders.push(&order(total))?;
        }
        // The orders' handles are gone: alice's collection keeps them.
        assert_eq!(alive() - before, 4);
        assert_eq!(alice.read()?.orders.load()?.len(), 3);
        let red = Handle::new(Tag::new("red"));
        for o in alice.read()?.orders.load()? {
            o.read()?.tags.add(&red)?;
        }
        // An object its own parent's parent would be a cycle: it stays weak.
        let first = alice.read()?.orders.load()?[0].clone();
        first.read()?.tags.add(&red)?;
    }
    assert_eq!(alive(), before, "every object freed");
    Ok(())
}

#[test]
fn a_graph_added_to_a_session_is_freed_with_it() -> orm::Result<()> {
    let fx = Fixture::new::<All>("freed");
    let before = alive();
    {
        let session = fx.db.session();
        let alice = user("Alice");
        for total in [1, 2] {
            alice.read()?.orders.push(&order(total))?;
        }
        session.add_handle(&alice)?;
        session.commit()?;
        drop(alice);
        assert_eq!(alive() - before, 3, "the session holds them");
    }
    assert_eq!(alive(), before);
    Ok(())
}
