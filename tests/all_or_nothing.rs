//! All or nothing: an operation that returns an error has changed nothing,
//! in memory or in the database, so it can be retried or another path taken.
//! Plus the robustness rules that go with it: one object per row even when
//! SQLite reuses a key, no recursion that grows with the data, no panic when
//! a model's `Drop` calls back into the session, and a handle of another
//! session is a misuse rather than a silent loss.
//!
//! Each test checks objects' values and states, the committed rows through a
//! plain rusqlite connection, and the statements a step costs.

mod common;

use std::cell::RefCell;

use common::*;
use orm::Value;
use orm::prelude::*;
use orm::{Error, Recorder, State};

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// Kept by a trigger in the rollback-after-refresh test; 0 elsewhere.
    pub orders_count: i64,
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
}

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
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    pub owner: String,
    pub balance: i64,
    #[orm(version)]
    pub version: i64,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub label: String,
}

/// A chain: each link points at the next one.
#[derive(Model, Debug)]
#[orm(table = "links")]
pub struct Link {
    #[orm(primary_key)]
    pub id: i64,
    pub position: i64,
    #[orm(optional)]
    pub next: BelongsTo<Link>,
}

/// A model whose `Drop` calls back into the session kept in [`SESSION`].
#[derive(Model, Debug)]
#[orm(table = "noisy")]
pub struct Noisy {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
}

thread_local! {
    /// The session `Noisy::drop` calls into.
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
    /// What each `Noisy::drop` got: `(has_changes(), len())`.
    static SEEN: RefCell<Vec<(bool, usize)>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Noisy {
    fn drop(&mut self) {
        // A second panic while unwinding would abort the whole test binary.
        if std::thread::panicking() {
            return;
        }
        let _ = SESSION.try_with(|cell| {
            if let Ok(session) = cell.try_borrow()
                && let Some(session) = session.as_ref()
            {
                let seen = (session.has_changes(), session.len());
                let _ = SEEN.try_with(|s| s.borrow_mut().push(seen));
            }
        });
    }
}

/// Runs `f` with the session kept in [`SESSION`].
fn with_session<R>(f: impl FnOnce(&Session) -> R) -> R {
    SESSION.with(|cell| f(cell.borrow().as_ref().expect("the test put a session in")))
}

// ---------------------------------------------------------------- fixtures

/// Users ann (1) and bob (2), no orders.
fn people() -> Fixture {
    let fx = Fixture::new::<(User, Order)>("people");
    fx.seed("INSERT INTO users (id, name, orders_count) VALUES (1, 'ann', 0), (2, 'bob', 0);");
    fx
}

/// The committed user names, by id.
fn names(fx: &Fixture) -> Vec<String> {
    fx.rows("SELECT name FROM users ORDER BY id", |row| row.get(0))
}

/// The statements the recorder saw that write rows.
fn writes(recorder: &Recorder) -> Vec<String> {
    statements(recorder)
        .into_iter()
        .filter(|s| s.starts_with("INSERT") || s.starts_with("UPDATE") || s.starts_with("DELETE"))
        .collect()
}

// ---------------------------------------------------------------- rollback

#[test]
fn rollback_refused_by_a_read_guard_changes_nothing_and_can_be_retried() -> orm::Result<()> {
    let fx = people();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    ann.write()?.name = "ann 2".into();
    bob.write()?.name = "bob 2".into();
    session.flush()?;

    let guard = ann.read()?;
    assert!(matches!(session.rollback(), Err(Error::Borrowed { .. })));
    assert_eq!(guard.name, "ann 2");
    drop(guard);
    assert_eq!(
        bob.read()?.name,
        "bob 2",
        "the refused rollback restored nothing"
    );

    session.rollback()?;
    assert_eq!(ann.read()?.name, "ann");
    assert_eq!(bob.read()?.name, "bob");
    assert_eq!(names(&fx), ["ann", "bob"]);

    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(writes(&recorder), Vec::<String>::new());
    assert_eq!(names(&fx), ["ann", "bob"]);
    Ok(())
}

#[test]
fn rollback_refused_by_a_read_guard_leaves_the_transaction_to_commit() -> orm::Result<()> {
    let fx = people();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    ann.write()?.name = "ann 2".into();
    bob.write()?.name = "bob 2".into();
    session.flush()?;

    let guard = ann.read()?;
    assert!(matches!(session.rollback(), Err(Error::Borrowed { .. })));
    drop(guard);

    session.commit()?;
    assert_eq!(
        names(&fx),
        ["ann 2", "bob 2"],
        "the flushed names committed"
    );
    assert_eq!(ann.read()?.name, "ann 2");
    assert_eq!(bob.read()?.name, "bob 2");
    Ok(())
}

// ----------------------------------------------------------------- refresh

#[test]
fn refresh_refused_by_a_read_guard_keeps_the_pending_change() -> orm::Result<()> {
    let fx = people();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    ann.write()?.name = "changed".into();

    let guard = ann.read()?;
    assert!(matches!(session.refresh(&ann), Err(Error::Borrowed { .. })));
    drop(guard);

    assert_eq!(ann.read()?.name, "changed");
    let changes = ann.changes()?;
    assert_eq!(changes.len(), 1, "the change is still pending: {changes:?}");
    assert_eq!(changes[0].column, "name");
    assert_eq!(changes[0].current, Value::Text("changed".into()));

    session.commit()?;
    assert_eq!(names(&fx), ["changed", "bob"]);
    Ok(())
}

#[test]
fn an_object_refreshed_inside_a_transaction_is_brought_back_by_rollback() -> orm::Result<()> {
    let fx = people();
    fx.db.execute_batch(
        "CREATE TRIGGER count_orders AFTER INSERT ON orders BEGIN
             UPDATE users SET orders_count = orders_count + 1 WHERE id = NEW.user_id;
         END;",
    )?;
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    assert_eq!(ann.read()?.orders_count, 0);

    let order = session.add(Order::new(500));
    order.read()?.user.set(&ann)?;
    session.flush()?;
    session.refresh(&ann)?;
    assert_eq!(
        ann.read()?.orders_count,
        1,
        "the trigger ran in the transaction"
    );

    session.rollback()?;
    assert_eq!(
        fx.count("SELECT orders_count FROM users WHERE id = 1"),
        0,
        "the database is back to 0"
    );
    assert_eq!(fx.count("SELECT count(*) FROM orders"), 0);
    assert_eq!(
        ann.read()?.orders_count,
        0,
        "the object is back to the database's value"
    );
    Ok(())
}

// ------------------------------------------------------------ relationships

#[test]
fn belongs_to_set_through_the_childs_own_write_guard_works() -> orm::Result<()> {
    let fx = people();
    fx.seed("INSERT INTO orders (id, total_cents, user_id) VALUES (1, 100, NULL);");
    let session = fx.db.session();
    let order = session.get::<Order>(1)?;
    let cid = Handle::new(User::new("cid", 0));

    {
        let w = order.write()?;
        w.user.set(&cid)
    }?;
    assert_eq!(cid.state(), State::Pending);
    assert_eq!(order.read()?.user.load()?, cid);

    session.commit()?;
    let cid_id = cid.read()?.id;
    assert_eq!(names(&fx), ["ann", "bob", "cid"]);
    assert_eq!(fx.count("SELECT id FROM users WHERE name = 'cid'"), cid_id);
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM orders"),
        [(1, Some(cid_id))]
    );
    Ok(())
}

#[test]
fn has_many_push_through_the_parents_own_write_guard_is_refused_and_changes_nothing()
-> orm::Result<()> {
    let fx = people();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    assert!(ann.read()?.orders.load()?.is_empty());
    assert!(ann.read()?.orders.is_loaded());
    let order = Handle::new(Order::new(700));

    let pushed = {
        let w = ann.write()?;
        w.orders.push(&order)
    };
    assert!(
        matches!(pushed, Err(Error::Borrowed { .. })),
        "expected Borrowed, got {pushed:?}"
    );
    assert_eq!(order.state(), State::Transient);
    assert_eq!(order.read()?.user.key(), None);
    assert!(ann.read()?.orders.load()?.is_empty());

    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(writes(&recorder), Vec::<String>::new());
    assert_eq!(fx.count("SELECT count(*) FROM orders"), 0);
    Ok(())
}

#[test]
fn many_to_many_add_of_an_object_being_written_is_refused_and_changes_nothing() -> orm::Result<()> {
    let fx = Fixture::new::<(Item, Keyword)>("links");
    fx.seed("INSERT INTO items (id, name) VALUES (1, 'pen');");
    let session = fx.db.session();
    let pen = session.get::<Item>(1)?;
    let blue = Handle::new(Keyword::new("blue"));

    let w = pen.write()?;
    let added = blue.read()?.items.add(&pen);
    assert!(
        matches!(added, Err(Error::Borrowed { .. })),
        "expected Borrowed, got {added:?}"
    );
    assert_eq!(blue.state(), State::Transient);
    assert!(blue.read()?.items.load()?.is_empty());
    drop(w);

    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(writes(&recorder), Vec::<String>::new());
    assert_eq!(fx.count("SELECT count(*) FROM keywords"), 0);
    assert_eq!(fx.count("SELECT count(*) FROM item_keywords"), 0);
    Ok(())
}

// ------------------------------------------------------------------- flush

#[test]
fn a_failed_flush_leaves_version_counters_as_they_were() -> orm::Result<()> {
    let fx = Fixture::new::<(Account, Tag)>("versions");
    let session = fx.db.session();
    let account = session.add(Account::new("ann", 100));
    session.add(Tag::new("x"));
    session.commit()?;
    assert_eq!(account.read()?.version, 1);

    account.write()?.balance = 150;
    let bad = session.add(Tag::new("x"));
    let flushed = session.flush();
    assert!(
        matches!(flushed, Err(Error::Constraint { .. })),
        "expected Constraint, got {flushed:?}"
    );
    assert_eq!(
        account.read()?.version,
        1,
        "the failed UPDATE bumped nothing"
    );
    assert_eq!(account.read()?.balance, 150);
    assert!(
        !account.changes()?.is_empty(),
        "the balance change is still pending"
    );

    session.delete(&bad)?;
    session.commit()?;
    assert_eq!(
        fx.pairs("SELECT balance, version FROM accounts"),
        [(150, Some(2))]
    );
    assert_eq!(account.read()?.version, 2);
    assert_eq!(fx.count("SELECT count(*) FROM tags"), 1);
    Ok(())
}

// ---------------------------------------------------------------- identity

#[test]
fn a_key_reused_by_sqlite_gets_a_new_object_and_the_stale_one_cannot_write_it() -> orm::Result<()> {
    let fx = Fixture::new::<(User, Order)>("reuse");
    let session = fx.db.session();
    for name in ["ann", "bob", "cat"] {
        session.add(User::new(name, 0));
    }
    session.commit()?;
    let old3 = session.get::<User>(3)?;
    fx.seed("DELETE FROM users WHERE id = 3;");

    let dan = session.add(User::new("dan", 0));
    session.commit()?;
    assert_eq!(dan.read()?.id, 3, "SQLite handed out 3 again");
    assert_ne!(dan, old3);
    assert_eq!(session.get::<User>(3)?, dan);
    assert_eq!(old3.state(), State::Detached);

    if let Ok(mut stale) = old3.write() {
        stale.name = "stale".into();
    }
    session.commit()?;
    assert_eq!(names(&fx), ["ann", "bob", "dan"]);
    assert_eq!(dan.read()?.name, "dan");
    Ok(())
}

#[test]
fn a_key_reused_by_sqlite_with_the_same_version_is_not_written_by_the_stale_object()
-> orm::Result<()> {
    let fx = Fixture::new::<Account>("reuse-versioned");
    let session = fx.db.session();
    for owner in ["ann", "bob", "cat"] {
        session.add(Account::new(owner, 100));
    }
    session.commit()?;
    let old3 = session.get::<Account>(3)?;
    fx.seed("DELETE FROM accounts WHERE id = 3;");

    let dan = session.add(Account::new("dan", 5));
    session.commit()?;
    assert_eq!(dan.read()?.id, 3, "SQLite handed out 3 again");
    assert_eq!(
        dan.read()?.version,
        1,
        "the same version as the deleted row"
    );
    assert_ne!(dan, old3);
    assert_eq!(session.get::<Account>(3)?, dan);
    assert_eq!(old3.state(), State::Detached);

    if let Ok(mut stale) = old3.write() {
        stale.balance = 999;
    }
    session.commit()?;
    assert_eq!(
        fx.rows(
            "SELECT owner, balance, version FROM accounts WHERE id = 3",
            |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
        ),
        [("dan".to_owned(), 5, 1)],
        "the stale object's change did not reach the new row"
    );
    Ok(())
}

// --------------------------------------------------------------- recursion

#[test]
fn a_chain_of_a_hundred_thousand_new_objects_commits_without_deep_recursion() -> orm::Result<()> {
    const N: i64 = 100_000;
    let fx = Fixture::new::<Link>("chain");
    let session = fx.db.session();
    let links: Vec<Handle<Link>> = (0..N).map(|i| session.add(Link::new(i))).collect();
    // Link i points at link i + 1: the first added needs every later one
    // inserted before it.
    for pair in links.windows(2) {
        pair[0].read()?.next.set(&pair[1])?;
    }

    session.commit()?;
    assert_eq!(fx.count("SELECT count(*) FROM links"), N);
    assert_eq!(
        fx.count(
            "SELECT count(*) FROM links AS a LEFT JOIN links AS b ON b.id = a.next_id
             WHERE a.next_id IS NOT NULL AND (b.id IS NULL OR b.position <> a.position + 1)"
        ),
        0,
        "every link points at the next one"
    );
    assert_eq!(
        fx.pairs("SELECT position, next_id FROM links WHERE next_id IS NULL"),
        [(N - 1, None)]
    );
    Ok(())
}

// ------------------------------------------------------------- re-entrancy

#[test]
fn rollback_dropping_objects_whose_drop_calls_the_session_does_not_panic() -> orm::Result<()> {
    let fx = Fixture::new::<Noisy>("noisy-rollback");
    SESSION.with(|cell| *cell.borrow_mut() = Some(fx.db.session()));
    with_session(|session| {
        for label in ["a", "b", "c"] {
            session.add(Noisy::new(label));
        }
    });
    SEEN.take();

    with_session(|session| session.rollback())?;
    let seen = SEEN.take();
    assert_eq!(seen.len(), 3, "each dropped object reached the session");
    assert!(
        seen.iter().all(|&(_, len)| len == 0),
        "nothing was ever in the identity map: {seen:?}"
    );
    assert!(!with_session(|session| session.has_changes()));
    drop(SESSION.take());
    Ok(())
}

#[test]
fn clear_dropping_objects_whose_drop_calls_the_session_does_not_panic() -> orm::Result<()> {
    let fx = Fixture::new::<Noisy>("noisy-clear");
    SESSION.with(|cell| *cell.borrow_mut() = Some(fx.db.session()));
    with_session(|session| {
        for label in ["a", "b", "c"] {
            session.add(Noisy::new(label));
        }
        session.commit()
    })?;
    assert_eq!(with_session(|session| session.len()), 3);
    SEEN.take();

    with_session(|session| session.clear());
    let seen = SEEN.take();
    assert_eq!(seen.len(), 3, "each dropped object reached the session");
    assert!(
        seen.iter().all(|&(changes, _)| !changes),
        "nothing was left to write: {seen:?}"
    );
    assert_eq!(with_session(|session| session.len()), 0);
    assert_eq!(fx.count("SELECT count(*) FROM noisy"), 3);
    drop(SESSION.take());
    Ok(())
}

// ---------------------------------------------------------------- sessions

#[test]
fn refresh_of_another_sessions_object_is_misuse_and_keeps_its_change() -> orm::Result<()> {
    let fx = people();
    let a = fx.db.session();
    let b = fx.db.session();
    let ann = a.get::<User>(1)?;
    ann.write()?.name = "ann 2".into();

    let refreshed = b.refresh(&ann);
    assert!(
        matches!(refreshed, Err(Error::Misuse(_))),
        "expected Misuse, got {refreshed:?}"
    );
    assert_eq!(ann.read()?.name, "ann 2");
    assert!(
        !ann.changes()?.is_empty(),
        "the change is still pending in A"
    );

    a.commit()?;
    assert_eq!(names(&fx), ["ann 2", "bob"]);
    Ok(())
}

// ------------------------------------------------------- values that don't fit

/// A model whose key is an `i32`: SQLite assigns `i64` rowids.
#[derive(Model, Debug)]
#[orm(table = "small_keys")]
pub struct SmallKey {
    #[orm(primary_key)]
    pub id: i32,
    pub label: String,
}

#[test]
fn a_key_sqlite_assigns_beyond_the_fields_type_is_out_of_range_and_nothing_is_written()
-> orm::Result<()> {
    let fx = Fixture::new::<SmallKey>("small_keys");
    fx.seed("INSERT INTO small_keys (id, label) VALUES (2147483647, 'last that fits');");
    let session = fx.db.session();
    let new = session.add(SmallKey::new("one too many"));
    match session.commit() {
        Err(Error::OutOfRange { what, value, .. }) => {
            assert_eq!(what, "`small_keys`.`id`");
            assert_eq!(value, "2147483648");
        }
        other => panic!("expected OutOfRange, got {other:?}"),
    }
    assert_eq!(new.state(), State::Pending, "still waiting to be inserted");
    assert_eq!(new.read()?.id, 0, "no key was stored");
    assert_eq!(fx.count("SELECT count(*) FROM small_keys"), 1);
    // Nothing half-done: once the rows are gone SQLite assigns key 1, and
    // the same object inserts fine.
    fx.seed("DELETE FROM small_keys;");
    session.commit()?;
    assert_eq!(new.state(), State::Persistent);
    assert_eq!(fx.count("SELECT count(*) FROM small_keys"), 1);
    Ok(())
}

#[test]
fn a_version_counter_at_its_maximum_is_out_of_range_and_nothing_is_written() -> orm::Result<()> {
    let fx = Fixture::new::<Account>("version_max");
    fx.seed(&format!(
        "INSERT INTO accounts (id, owner, balance, version) VALUES (1, 'ann', 10, {});",
        i64::MAX
    ));
    let session = fx.db.session();
    let account = session.get::<Account>(1)?;
    account.write()?.balance = 20;
    assert!(matches!(session.commit(), Err(Error::OutOfRange { .. })));
    assert_eq!(account.read()?.version, i64::MAX);
    assert_eq!(account.changes()?.len(), 1, "the change still waits");
    assert_eq!(
        fx.rows("SELECT balance, version FROM accounts", |r| Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?
        ))),
        vec![(10, i64::MAX)]
    );
    Ok(())
}

#[test]
fn a_busy_timeout_longer_than_sqlite_accepts_is_out_of_range_and_changes_nothing() -> orm::Result<()>
{
    let fx = Fixture::new::<User>("busy_timeout");
    fx.db
        .set_busy_timeout(std::time::Duration::from_millis(200))?;
    let too_long = std::time::Duration::from_millis(i32::MAX as u64 + 1);
    assert!(matches!(
        fx.db.set_busy_timeout(too_long),
        Err(Error::OutOfRange { .. })
    ));
    // Sessions keep working with the setting that was there.
    let session = fx.db.session();
    assert_eq!(session.query::<User>().count()?, 0);
    Ok(())
}

#[test]
fn a_flush_that_meets_a_write_guard_writes_nothing_and_assigns_no_key() -> orm::Result<()> {
    let fx = people();
    let session = fx.db.session();
    let first = session.add(User::new("cy", 0));
    let second = session.add(User::new("di", 0));
    let guard = second.write()?;
    assert!(matches!(session.flush(), Err(Error::Borrowed { .. })));
    drop(guard);
    assert_eq!(
        first.read()?.id,
        0,
        "the key of the rolled-back insert is forgotten"
    );
    assert_eq!(first.state(), State::Pending);
    assert_eq!(fx.count("SELECT count(*) FROM users"), 2);
    session.commit()?;
    assert_eq!(fx.count("SELECT count(*) FROM users"), 4);
    assert_eq!((first.read()?.id, second.read()?.id), (3, 4));
    Ok(())
}

#[test]
fn new_objects_in_a_cycle_are_a_typed_misuse_and_nothing_is_written() -> orm::Result<()> {
    let fx = Fixture::new::<Link>("cycle");
    let session = fx.db.session();
    let a = session.add(Link::new(0));
    let b = session.add(Link::new(1));
    a.read()?.next.set(&b)?;
    b.read()?.next.set(&a)?;
    assert!(matches!(
        session.commit(),
        Err(Error::Misuse(orm::Misuse::Cycle { model: "Link" }))
    ));
    assert_eq!((a.state(), b.state()), (State::Pending, State::Pending));
    assert_eq!(fx.count("SELECT count(*) FROM links"), 0);
    // Broken, the same objects flush.
    b.read()?.next.clear()?;
    session.commit()?;
    assert_eq!(fx.count("SELECT count(*) FROM links"), 2);
    Ok(())
}
