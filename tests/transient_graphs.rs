//! Graphs built before a session: relationships between objects that are
//! in no session work as between persistent ones (both sides kept in sync
//! in memory); adding any object of such a graph adds everything reachable
//! from it (SQLAlchemy's save-update cascade) and the flush inserts it in a
//! valid order with keys filled. A graph lives as long as a handle reaches
//! it (a parent keeps its children) and is freed when the last goes.
//!
//! Every test that writes runs on each backend of the matrix (see
//! `common::backend`) and reads the rows back in a session of its own.

use crate::common;

use std::cell::Cell;

use common::statements;
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

/// Rows of two integer columns, such as `SELECT id, user_id FROM orders`,
/// as a session of their own reads them: what the database holds, as
/// committed.
fn pairs(db: &Database, sql: &str) -> Vec<(i64, Option<i64>)> {
    db.session()
        .sql_values(sql, &[])
        .expect("the test query runs")
}

/// The one integer a query such as `SELECT count(*) FROM users` returns.
fn count(db: &Database, sql: &str) -> i64 {
    let counts: Vec<i64> = db
        .session()
        .sql_values(sql, &[])
        .expect("the count query runs");
    counts[0]
}

fn user(name: &str) -> Handle<User> {
    Handle::new(User::new(name))
}

fn order(total: i64) -> Handle<Order> {
    Handle::new(Order::new(total))
}

backend_tests! {
    fn a_user_built_with_its_orders_joins_the_session_whole(db) -> orm::Result<()> {
        db.create_all::<All>()?;
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

        let session = db.session();
        session.add_handle(&alice)?;
        assert_eq!(first.state(), State::Pending, "added with alice");
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(
            statements(&recorder),
            ["INSERT users", "INSERT orders", "INSERT orders"]
        );
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM orders ORDER BY id"),
            [(1, Some(1)), (2, Some(1))]
        );
        assert_eq!(
            session.get::<Order>(1)?,
            first,
            "the same objects, now persistent"
        );
        Ok(())
    }

    fn adding_a_child_adds_the_parent_it_was_given(db) -> orm::Result<()> {
        db.create_all::<All>()?;
        let alice = user("Alice");
        let order = order(700);
        order.read()?.user.set(&alice)?;
        assert_eq!(alice.read()?.orders.load()?, vec![order.clone()]);
        let session = db.session();
        session.add_handle(&order)?;
        assert_eq!(alice.state(), State::Pending);
        session.commit()?;
        assert_eq!(pairs(&db, "SELECT id, user_id FROM orders"), [(1, Some(1))]);
        Ok(())
    }

    fn moves_and_removals_before_a_session_keep_both_sides_in_sync(db) -> orm::Result<()> {
        db.create_all::<All>()?;
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

        let session = db.session();
        session.add_handle(&bob)?;
        assert_eq!(alice.state(), State::Transient, "alice no longer reachable");
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM users"), 1);
        assert_eq!(pairs(&db, "SELECT id, user_id FROM orders"), [(1, Some(1))]);
        Ok(())
    }

    fn many_to_many_and_one_to_one_links_made_before_a_session_are_written(db) -> orm::Result<()> {
        db.create_all::<All>()?;
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

        let session = db.session();
        session.add_handle(&red)?;
        let recorder = db.recorder();
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
            count(&db, "SELECT count(*) FROM order_tags WHERE order_id = 1"),
            2
        );
        assert_eq!(pairs(&db, "SELECT id, user_id FROM profiles"), [(1, Some(1))]);
        Ok(())
    }

    fn links_across_sessions_are_misuse_and_a_graph_joins_the_session_it_touches(db) -> orm::Result<()> {
        db.create_all::<All>()?;
        let first = db.session();
        let second = db.session();
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

    fn a_graph_added_to_a_session_is_freed_with_it(db) -> orm::Result<()> {
        db.create_all::<All>()?;
        let before = alive();
        {
            let session = db.session();
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
}

// No database takes part: nothing here differs between the backends.
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
fn many_children_moved_between_parents_before_a_session_are_kept_by_their_new_parent()
-> orm::Result<()> {
    // Forty children: past the count from which a parent finds what it
    // keeps alive by address instead of a scan; the rules stay the same.
    let before = alive();
    {
        let alice = user("Alice");
        let bob = user("Bob");
        for total in 0..40 {
            alice.read()?.orders.push(&order(total))?;
        }
        assert_eq!(alive() - before, 42, "alice keeps her orders alive");
        let orders = alice.read()?.orders.load()?;
        for o in orders
            .iter()
            .filter(|o| o.read().is_ok_and(|o| o.total_cents % 2 == 0))
        {
            o.read()?.user.set(&bob)?;
            alice.read()?.orders.push(o)?; // and back: kept once, by alice
            o.read()?.user.set(&bob)?;
        }
        alice.read()?.orders.remove(&orders[1])?;
        drop(orders);
        // Bob keeps the even ones, alice the odd ones but the one removed.
        assert_eq!(alive() - before, 41);
        let totals = |u: &Handle<User>| -> orm::Result<Vec<i64>> {
            let mut t: Vec<i64> = (u.read()?.orders.load()?.iter())
                .map(|o| o.read().map(|o| o.total_cents))
                .collect::<orm::Result<_>>()?;
            t.sort();
            Ok(t)
        };
        assert_eq!(totals(&bob)?, (0..40).step_by(2).collect::<Vec<_>>());
        assert_eq!(totals(&alice)?, (3..40).step_by(2).collect::<Vec<_>>());
        drop(bob);
        assert_eq!(alive() - before, 20, "bob's orders went with him");
    }
    assert_eq!(alive(), before, "every object freed");
    Ok(())
}
