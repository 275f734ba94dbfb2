//! Ownership: the session owns its objects strongly and relationships point
//! weakly, so graphs with cycles are freed with the session; a handle that
//! outlives its session keeps its values and reports `SessionClosed` for
//! what needs the session; conflicting borrows are errors, not panics
//! (design point 17).
//!
//! Each model carries a `DropCounter` in a skipped field: it counts the
//! values made and the values dropped on this test's thread, so a test can
//! tell whether every object it caused to exist was freed.
//!
//! Each test runs on SQLite and on PostgreSQL.

use std::cell::Cell;

use orm::prelude::*;
use orm::{Error, State};

thread_local! {
    static MADE: Cell<usize> = const { Cell::new(0) };
    static DROPPED: Cell<usize> = const { Cell::new(0) };
}

/// Counts itself in `MADE` when made and in `DROPPED` when dropped.
#[derive(Debug)]
pub struct DropCounter;

impl Default for DropCounter {
    fn default() -> Self {
        MADE.with(|n| n.set(n.get() + 1));
        DropCounter
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        DROPPED.with(|n| n.set(n.get() + 1));
    }
}

/// Values made and not dropped yet, since `start`.
#[derive(Debug, Clone, Copy)]
struct Census {
    made: usize,
    dropped: usize,
}

impl Census {
    fn now() -> Census {
        Census {
            made: MADE.with(Cell::get),
            dropped: DROPPED.with(Cell::get),
        }
    }

    /// (made, still alive) since `self` was taken.
    fn since(self) -> (usize, usize) {
        let now = Census::now();
        let made = now.made - self.made;
        let dropped = now.dropped - self.dropped;
        (made, made - dropped)
    }
}

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "employees")]
pub struct Employee {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(skip)]
    pub guard: DropCounter,
    #[orm(optional, back_populates = "reports")]
    pub manager: BelongsTo<Employee>,
    #[orm(back_populates = "manager")]
    pub reports: HasMany<Employee>,
}

/// Three users with two orders each (users 1 to 3; orders 1 and 2 are
/// Ann's), committed by a session that is gone.
fn shop(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Order)>()?;
    let session = db.session();
    for name in ["Ann", "Bob", "Cy"] {
        let user = session.add(User::new(name));
        for total in [100, 200] {
            let order = session.add(Order::new(total));
            order.read()?.user.set(&user)?;
        }
    }
    session.commit()?;
    Ok(())
}

/// A boss, two managers, four workers, committed by a session that is gone.
fn company(db: &Database) -> orm::Result<()> {
    db.create_all::<Employee>()?;
    let session = db.session();
    let boss = session.add(Employee::new("boss"));
    for m in 0..2 {
        let manager = session.add(Employee::new(format!("manager {m}")));
        boss.read()?.reports.push(&manager)?;
        for w in 0..2 {
            let worker = session.add(Employee::new(format!("worker {m}.{w}")));
            worker.read()?.manager.set(&manager)?;
        }
    }
    session.commit()?;
    Ok(())
}

backend_tests! {
    // ------------------------------------------------------------------ freeing

    fn objects_built_in_a_session_are_freed_with_it_and_their_handles(db) -> orm::Result<()> {
        let census = Census::now();
        db.create_all::<(User, Order)>()?;
        let session = db.session();
        let ann = session.add(User::new("Ann"));
        let order = session.add(Order::new(100));
        order.read()?.user.set(&ann)?;
        ann.read()?.orders.push(&session.add(Order::new(200)))?;
        session.commit()?;
        assert_eq!(census.since(), (3, 3));

        drop(session);
        assert_eq!(census.since().1, 2, "the handles keep their objects");
        drop((ann, order));
        assert_eq!(census.since(), (3, 0), "every object was freed");
        Ok(())
    }

    fn dropping_the_session_and_handles_frees_users_and_orders_that_point_at_each_other(db) -> orm::Result<()> {
        shop(&db)?;
        let census = Census::now();
        let session = db.session();
        let users = session.query::<User>().preload(User::ORDERS).all()?;
        let mut orders = Vec::new();
        for user in &users {
            for order in user.read()?.orders.load()? {
                // The cycle: user -> orders -> user.
                assert_eq!(&order.read()?.user.load()?, user);
                orders.push(order);
            }
        }
        let loaded_by_query = session.query::<Order>().all()?;
        assert_eq!(loaded_by_query.len(), 6);
        assert_eq!(census.since(), (9, 9));

        drop(session);
        assert_eq!(census.since().1, 9, "the handles still hold all of them");
        drop(loaded_by_query);
        drop(orders);
        assert_eq!(census.since().1, 3, "only the users are held now");
        drop(users);
        assert_eq!(census.since(), (9, 0), "every object was freed");
        Ok(())
    }

    fn a_session_of_thousands_of_objects_frees_those_it_alone_holds(db) -> orm::Result<()> {
        // Above the size from which a session frees a model's objects in
        // address order rather than its map's order.
        const USERS: usize = 3_000;
        db.create_all::<(User, Order)>()?;
        let census = Census::now();
        let session = db.session();
        for i in 0..USERS {
            session.add(User::new(format!("user {i}")));
        }
        session.commit()?;
        drop(session);
        assert_eq!(census.since(), (USERS, 0), "the inserting session freed its users");

        let census = Census::now();
        let session = db.session();
        let users = session.query::<User>().order_by(User::ID.asc()).all()?;
        let kept: Vec<Handle<User>> = users.iter().step_by(100).cloned().collect();
        drop(users);
        drop(session);
        assert_eq!(census.since(), (USERS, USERS / 100), "only the handles kept live on");
        let names: Vec<String> = kept.iter().map(|u| Ok(u.read()?.name.clone())).collect::<orm::Result<_>>()?;
        assert_eq!(names.first().map(String::as_str), Some("user 0"));
        assert_eq!(names.last().map(String::as_str), Some("user 2900"));
        drop(kept);
        assert_eq!(census.since(), (USERS, 0), "every object was freed");
        Ok(())
    }

    fn dropping_the_session_frees_lazily_loaded_users_and_orders(db) -> orm::Result<()> {
        shop(&db)?;
        let census = Census::now();
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let user = order.read()?.user.load()?;
        let orders = user.read()?.orders.load()?;
        assert!(orders.contains(&order));
        assert_eq!(census.since(), (3, 3));

        drop(orders);
        drop(order);
        drop(user);
        assert_eq!(census.since().1, 3, "the session owns what it loaded");
        drop(session);
        assert_eq!(census.since(), (3, 0), "every object was freed");
        Ok(())
    }

    fn dropping_the_session_and_handles_frees_a_self_referential_employee_tree(db) -> orm::Result<()> {
        company(&db)?;
        let census = Census::now();
        let session = db.session();
        let bosses = session
            .query::<Employee>()
            .filter(Employee::MANAGER_ID.is_null())
            .preload(Employee::REPORTS.then(Employee::REPORTS))
            .all()?;
        let mut everyone = bosses.clone();
        for manager in bosses[0].read()?.reports.load()? {
            assert_eq!(manager.read()?.manager.load()?, bosses[0]);
            for worker in manager.read()?.reports.load()? {
                assert_eq!(worker.read()?.manager.load()?, manager);
                everyone.push(worker);
            }
            everyone.push(manager);
        }
        assert_eq!(everyone.len(), 7);
        assert_eq!(census.since(), (7, 7));

        drop(session);
        drop(bosses);
        assert_eq!(census.since().1, 7);
        drop(everyone);
        assert_eq!(census.since(), (7, 0), "every employee was freed");
        Ok(())
    }

    fn objects_pending_flushed_or_deleted_are_freed_when_the_session_is_dropped_without_commit(db) -> orm::Result<()> {
        shop(&db)?;
        let census = Census::now();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let doomed = session.get::<Order>(1)?;
        session.delete(&doomed)?;
        let flushed = session.add(Order::new(300));
        flushed.read()?.user.set(&ann)?;
        session.flush()?;
        let pending = session.add(User::new("Dee"));
        let pending_order = session.add(Order::new(400));
        pending.read()?.orders.push(&pending_order)?;
        assert_eq!(census.since(), (5, 5));

        drop((ann, doomed, flushed, pending, pending_order));
        drop(session);
        assert_eq!(census.since(), (5, 0), "every object was freed");
        let check = db.session();
        assert_eq!(check.query::<Order>().count()?, 6, "nothing was committed");
        Ok(())
    }

    fn session_clear_lets_go_of_every_object(db) -> orm::Result<()> {
        company(&db)?;
        let census = Census::now();
        let session = db.session();
        let all = session.query::<Employee>().all()?;
        for employee in &all {
            employee.read()?.manager.load_optional()?;
            employee.read()?.reports.load()?;
        }
        assert_eq!(census.since(), (7, 7));
        drop(all);
        assert_eq!(census.since().1, 7);
        session.clear();
        assert_eq!(census.since(), (7, 0), "the identity map let go");
        assert!(session.is_empty());
        Ok(())
    }

    // ------------------------------------------------- handles after the session

    fn a_handle_kept_after_its_session_is_dropped_still_reads_its_fields(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let user = order.read()?.user.load()?;
        drop(session);

        assert_eq!(order.state(), State::Detached);
        assert_eq!(user.state(), State::Detached);
        assert_eq!(order.read()?.total_cents, 100);
        assert_eq!(order.read()?.id, 1);
        assert_eq!(user.read()?.name, "Ann");
        assert_eq!(order.read()?.user.key(), Some(1), "the key is a field");
        Ok(())
    }

    fn loading_an_unloaded_belongs_to_after_the_session_is_dropped_is_session_closed(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let order = session.get::<Order>(1)?;
        drop(session);

        let loaded = order.read()?.user.load();
        assert!(
            matches!(&loaded, Err(Error::SessionClosed { table }) if table == "orders"),
            "{loaded:?}"
        );
        assert!(matches!(
            order.read()?.user.load_optional(),
            Err(Error::SessionClosed { .. })
        ));
        Ok(())
    }

    fn loading_a_belongs_to_whose_parent_was_freed_with_the_session_is_session_closed(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let order = session.get::<Order>(1)?;
        order.read()?.user.load()?;
        drop(session);

        // The user was only held by the session: it is gone, and the order
        // cannot fetch it again.
        let loaded = order.read()?.user.load();
        assert!(
            matches!(loaded, Err(Error::SessionClosed { .. })),
            "{loaded:?}"
        );
        Ok(())
    }

    fn loading_an_unloaded_has_many_after_the_session_is_dropped_is_session_closed(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let user = session.get::<User>(1)?;
        drop(session);

        let loaded = user.read()?.orders.load();
        assert!(
            matches!(&loaded, Err(Error::SessionClosed { table }) if table == "users"),
            "{loaded:?}"
        );
        Ok(())
    }

    fn a_loaded_has_many_whose_children_were_freed_with_the_session_is_not_silently_empty(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let user = session.get::<User>(1)?;
        assert_eq!(user.read()?.orders.load()?.len(), 2);
        drop(session);

        // The orders were only held by the session. The collection can either
        // still give both or say the session is gone; an empty list would be a
        // wrong answer given as a right one.
        match user.read()?.orders.load() {
            Err(Error::SessionClosed { .. }) => {}
            Ok(orders) => assert_eq!(orders.len(), 2, "user 1 has two orders"),
            Err(other) => panic!("unexpected error: {other}"),
        }
        Ok(())
    }

    fn changing_a_relationship_after_the_session_is_dropped_is_an_error_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let bob = session.get::<User>(2)?;
        drop(session);

        assert!(order.read()?.user.set(&bob).is_err());
        assert!(bob.read()?.orders.push(&order).is_err());
        assert_eq!(order.read()?.user.key(), Some(1), "nothing changed");
        Ok(())
    }

    // ---------------------------------------------------------------- borrows

    fn write_while_a_read_guard_is_alive_is_borrowed_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let user = session.get::<User>(1)?;
        let reading = user.read()?;

        let conflict = user.write().map(|_| ());
        assert!(
            matches!(conflict, Err(Error::Borrowed { .. })),
            "{conflict:?}"
        );
        assert_eq!(reading.name, "Ann");
        drop(reading);
        user.write()?.name = "Anne".into();
        assert_eq!(user.read()?.name, "Anne");
        Ok(())
    }

    fn read_or_write_while_a_write_guard_is_alive_is_borrowed_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let user = session.get::<User>(1)?;
        let writing = user.write()?;

        assert!(matches!(user.read(), Err(Error::Borrowed { .. })));
        assert!(matches!(
            user.write().map(|_| ()),
            Err(Error::Borrowed { .. })
        ));
        assert!(matches!(user.key(), Err(Error::Borrowed { .. })));
        drop(writing);
        assert_eq!(user.read()?.name, "Ann");
        Ok(())
    }

    fn setting_a_relationship_while_the_parent_is_being_written_is_borrowed_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        let order = session.get::<Order>(1)?;
        bob.read()?.orders.load()?;
        let writing = bob.write()?;

        let conflict = order.read()?.user.set(&bob);
        assert!(
            matches!(conflict, Err(Error::Borrowed { .. })),
            "{conflict:?}"
        );
        drop(writing);
        order.read()?.user.set(&bob)?;
        assert_eq!(order.read()?.user.load()?, bob);
        Ok(())
    }

    fn loading_a_collection_while_a_child_is_being_written_is_borrowed_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let order = session.get::<Order>(1)?;
        let user = session.get::<User>(1)?;
        let writing = order.write()?;

        let conflict = user.read()?.orders.load();
        assert!(
            matches!(conflict, Err(Error::Borrowed { .. })),
            "{conflict:?}"
        );
        drop(writing);
        assert!(user.read()?.orders.load()?.contains(&order));
        Ok(())
    }

    fn committing_while_an_object_is_being_written_is_borrowed_not_a_panic(db) -> orm::Result<()> {
        shop(&db)?;
        let session = db.session();
        let user = session.get::<User>(1)?;
        let mut writing = user.write()?;
        writing.name = "Anne".into();

        let conflict = session.commit();
        assert!(
            matches!(conflict, Err(Error::Borrowed { .. })),
            "{conflict:?}"
        );
        drop(writing);
        session.commit()?;
        let check = db.session();
        assert_eq!(check.get::<User>(1)?.read()?.name, "Anne");
        Ok(())
    }
}
