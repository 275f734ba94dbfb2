//! Expire (SQLAlchemy's `expire`, `expire_all`, `expire_on_commit`,
//! `populate_existing`): forgetting costs no SQL; the next use of an
//! expired object reads it again with exactly one SELECT; a query that
//! returns its row overwrites it; expiring discards unflushed changes.
//! And after a rollback, a versioned object shows the database's state.

mod common;

use common::Fixture;
use orm::prelude::*;
use orm::{Error, Misuse};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub posts: HasMany<Post>,
}

#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(back_populates = "posts")]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    pub balance: i64,
    #[orm(version)]
    pub version: i64,
}

type All = (User, Post, Account);

fn seeded() -> Fixture {
    let fx = Fixture::new::<All>("expire");
    fx.seed(
        "INSERT INTO users VALUES (1, 'ann'), (2, 'bob');
         INSERT INTO posts VALUES (1, 'first', 1), (2, 'second', 1);
         INSERT INTO accounts VALUES (1, 100, 1);",
    );
    fx
}

#[test]
fn expiring_costs_no_sql_and_the_next_read_costs_one_select() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    fx.seed("UPDATE users SET name = 'anna' WHERE id = 1");
    let recorder = fx.db.recorder();
    session.expire(&ann)?;
    assert_eq!(recorder.count(), 0);
    assert_eq!(ann.read()?.name, "anna");
    assert_eq!(recorder.count(), 1);
    assert_eq!(ann.read()?.name, "anna");
    assert_eq!(recorder.count(), 1, "read once");
    assert_eq!(session.get::<User>(1)?, ann, "still the one object");
    Ok(())
}

#[test]
fn expiring_discards_unflushed_changes() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    ann.write()?.name = "changed".into();
    session.expire(&ann)?;
    assert!(!session.has_changes());
    assert_eq!(ann.read()?.name, "ann");
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(recorder.count(), 0, "nothing to write");
    Ok(())
}

#[test]
fn an_expired_collection_loads_again_on_next_access() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    assert_eq!(ann.read()?.posts.load()?.len(), 2);
    fx.seed("INSERT INTO posts VALUES (3, 'third', 1)");
    session.expire(&ann)?;
    let recorder = fx.db.recorder();
    let _ = ann.read()?;
    assert_eq!(ann.read()?.posts.load()?.len(), 3);
    assert_eq!(recorder.count(), 2, "the row, then the collection");
    Ok(())
}

#[test]
fn a_query_overwrites_an_expired_object_with_no_further_select() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    fx.seed("UPDATE users SET name = 'anna' WHERE id = 1");
    session.expire_all()?;
    let recorder = fx.db.recorder();
    let users = session.query::<User>().order_by(User::ID.asc()).all()?;
    assert_eq!(users[0], ann);
    assert_eq!(ann.read()?.name, "anna");
    assert_eq!(recorder.count(), 1, "the query alone");
    Ok(())
}

#[test]
fn expire_is_refused_while_a_guard_is_alive_and_changes_nothing() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    ann.write()?.name = "changed".into();
    let guard = bob.read()?;
    assert!(matches!(session.expire(&bob), Err(Error::Borrowed { .. })));
    assert!(matches!(session.expire_all(), Err(Error::Borrowed { .. })));
    drop(guard);
    assert!(session.has_changes(), "ann's change is still there");
    let recorder = fx.db.recorder();
    assert_eq!(ann.read()?.name, "changed");
    assert_eq!(recorder.count(), 0);
    Ok(())
}

#[test]
fn only_persistent_objects_of_the_session_expire() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let new = session.add(User::new("cy".to_owned()));
    assert!(matches!(
        session.expire(&new),
        Err(Error::Misuse(Misuse::NotInSession { .. }))
    ));
    let other = fx.db.session();
    let ann = other.get::<User>(1)?;
    assert!(matches!(
        session.expire(&ann),
        Err(Error::Misuse(Misuse::OtherSession { .. }))
    ));
    Ok(())
}

#[test]
fn an_expired_object_whose_row_is_gone_is_not_found() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let bob = session.get::<User>(2)?;
    session.expire(&bob)?;
    fx.seed("DELETE FROM users WHERE id = 2");
    assert!(matches!(bob.read(), Err(Error::NotFound { .. })));
    Ok(())
}

#[test]
fn expire_on_commit_makes_the_next_use_read_the_database() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    session.set_expire_on_commit(true);
    let ann = session.get::<User>(1)?;
    ann.write()?.name = "ann 2".into();
    session.commit()?;
    fx.seed("UPDATE users SET name = 'ann 3' WHERE id = 1");
    let recorder = fx.db.recorder();
    assert_eq!(ann.read()?.name, "ann 3");
    assert_eq!(recorder.count(), 1);

    // Off (the default): committed objects keep their values, no SQL.
    let keeping = fx.db.session();
    let bob = keeping.get::<User>(2)?;
    bob.write()?.name = "bob 2".into();
    keeping.commit()?;
    fx.seed("UPDATE users SET name = 'bob 3' WHERE id = 2");
    recorder.clear();
    assert_eq!(bob.read()?.name, "bob 2");
    assert_eq!(recorder.count(), 0);
    Ok(())
}

#[test]
fn populate_existing_overwrites_unchanged_objects_and_keeps_changed_ones() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    session.set_autoflush(false);
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    bob.write()?.name = "bobby".into();
    fx.seed("UPDATE users SET name = name || '!'");
    session.query::<User>().all()?;
    assert_eq!(
        ann.read()?.name,
        "ann",
        "a plain query keeps what is loaded"
    );
    session.query::<User>().populate_existing().all()?;
    assert_eq!(ann.read()?.name, "ann!");
    assert_eq!(bob.read()?.name, "bobby", "an unflushed change is kept");
    Ok(())
}

#[test]
fn after_a_stale_commit_and_rollback_a_versioned_object_is_usable_again() -> orm::Result<()> {
    let fx = seeded();
    let session = fx.db.session();
    let account = session.get::<Account>(1)?;
    // Another program changes the row: version 2.
    fx.seed("UPDATE accounts SET balance = 150, version = 2 WHERE id = 1");
    account.write()?.balance += 10;
    assert!(matches!(session.commit(), Err(Error::StaleRow { .. })));
    session.rollback()?;
    // The database's state, version included, without a refresh.
    assert_eq!(account.read()?.balance, 150);
    assert_eq!(account.read()?.version, 2);
    account.write()?.balance += 10;
    session.commit()?;
    assert_eq!(
        fx.pairs("SELECT balance, version FROM accounts"),
        [(160, Some(3))]
    );
    Ok(())
}
