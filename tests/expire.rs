//! Expire (SQLAlchemy's `expire`, `expire_all`, `expire_on_commit`,
//! `populate_existing`): forgetting costs no SQL; the next use of an
//! expired object reads it again with exactly one SELECT; a query that
//! returns its row overwrites it; expiring discards unflushed changes.
//! And after a rollback, a versioned object shows the database's state.
//!
//! Every test runs on each backend of the matrix (see `common::backend`);
//! "another program" changing rows is `Database::execute_batch`, which
//! runs on a connection of its own, outside the session's.

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

/// Users 1 ann and 2 bob; posts 1 first and 2 second (ann's); account 1
/// with balance 100 at version 1. Keys are left to the database, which
/// numbers a new table's rows from 1.
fn seeded(db: &Database) -> orm::Result<()> {
    db.create_all::<All>()?;
    db.execute_batch(
        "INSERT INTO users (name) VALUES ('ann'), ('bob');
         INSERT INTO posts (title, user_id) VALUES ('first', 1), ('second', 1);
         INSERT INTO accounts (balance, version) VALUES (100, 1);",
    )?;
    let posts: Vec<(i64, String, i64)> = db
        .session()
        .sql_values("SELECT id, title, user_id FROM posts ORDER BY id", &[])?;
    assert_eq!(
        posts,
        [(1, "first".to_owned(), 1), (2, "second".to_owned(), 1)],
        "the keys the tests expect"
    );
    Ok(())
}

backend_tests! {
    fn expiring_costs_no_sql_and_the_next_read_costs_one_select(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        db.execute_batch("UPDATE users SET name = 'anna' WHERE id = 1")?;
        let recorder = db.recorder();
        session.expire(&ann)?;
        assert_eq!(recorder.count(), 0);
        assert_eq!(ann.read()?.name, "anna");
        assert_eq!(recorder.count(), 1);
        assert_eq!(ann.read()?.name, "anna");
        assert_eq!(recorder.count(), 1, "read once");
        assert_eq!(session.get::<User>(1)?, ann, "still the one object");
        Ok(())
    }

    fn expiring_discards_unflushed_changes(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "changed".into();
        session.expire(&ann)?;
        assert!(!session.has_changes());
        assert_eq!(ann.read()?.name, "ann");
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0, "nothing to write");
        Ok(())
    }

    fn an_expired_collection_loads_again_on_next_access(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        assert_eq!(ann.read()?.posts.load()?.len(), 2);
        db.execute_batch("INSERT INTO posts (title, user_id) VALUES ('third', 1)")?;
        session.expire(&ann)?;
        let recorder = db.recorder();
        let _ = ann.read()?;
        assert_eq!(ann.read()?.posts.load()?.len(), 3);
        assert_eq!(recorder.count(), 2, "the row, then the collection");
        Ok(())
    }

    fn a_query_overwrites_an_expired_object_with_no_further_select(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        db.execute_batch("UPDATE users SET name = 'anna' WHERE id = 1")?;
        session.expire_all()?;
        let recorder = db.recorder();
        let users = session.query::<User>().order_by(User::ID.asc()).all()?;
        assert_eq!(users[0], ann);
        assert_eq!(ann.read()?.name, "anna");
        assert_eq!(recorder.count(), 1, "the query alone");
        Ok(())
    }

    fn expire_is_refused_while_a_guard_is_alive_and_changes_nothing(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.name = "changed".into();
        let guard = bob.read()?;
        assert!(matches!(session.expire(&bob), Err(Error::Borrowed { .. })));
        assert!(matches!(session.expire_all(), Err(Error::Borrowed { .. })));
        drop(guard);
        assert!(session.has_changes(), "ann's change is still there");
        let recorder = db.recorder();
        assert_eq!(ann.read()?.name, "changed");
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn only_persistent_objects_of_the_session_expire(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let new = session.add(User::new("cy".to_owned()));
        assert!(matches!(
            session.expire(&new),
            Err(Error::Misuse(Misuse::NotInSession { .. }))
        ));
        let other = db.session();
        let ann = other.get::<User>(1)?;
        assert!(matches!(
            session.expire(&ann),
            Err(Error::Misuse(Misuse::OtherSession { .. }))
        ));
        Ok(())
    }

    fn an_expired_object_whose_row_is_gone_is_not_found(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        session.expire(&bob)?;
        db.execute_batch("DELETE FROM users WHERE id = 2")?;
        assert!(matches!(bob.read(), Err(Error::NotFound { .. })));
        Ok(())
    }

    fn expire_on_commit_makes_the_next_use_read_the_database(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_expire_on_commit(true);
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "ann 2".into();
        session.commit()?;
        db.execute_batch("UPDATE users SET name = 'ann 3' WHERE id = 1")?;
        let recorder = db.recorder();
        assert_eq!(ann.read()?.name, "ann 3");
        assert_eq!(recorder.count(), 1);

        // Off (the default): committed objects keep their values, no SQL.
        let keeping = db.session();
        let bob = keeping.get::<User>(2)?;
        bob.write()?.name = "bob 2".into();
        keeping.commit()?;
        db.execute_batch("UPDATE users SET name = 'bob 3' WHERE id = 2")?;
        recorder.clear();
        assert_eq!(bob.read()?.name, "bob 2");
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn populate_existing_overwrites_unchanged_objects_and_keeps_changed_ones(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        bob.write()?.name = "bobby".into();
        db.execute_batch("UPDATE users SET name = name || '!'")?;
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

    fn after_a_stale_commit_and_rollback_a_versioned_object_is_usable_again(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let account = session.get::<Account>(1)?;
        // Another program changes the row: version 2.
        db.execute_batch("UPDATE accounts SET balance = 150, version = 2 WHERE id = 1")?;
        account.write()?.balance += 10;
        assert!(matches!(session.commit(), Err(Error::StaleRow { .. })));
        session.rollback()?;
        // The database's state, version included, without a refresh.
        assert_eq!(account.read()?.balance, 150);
        assert_eq!(account.read()?.version, 2);
        account.write()?.balance += 10;
        session.commit()?;
        let rows: Vec<(i64, i64)> = db
            .session()
            .sql_values("SELECT balance, version FROM accounts", &[])?;
        assert_eq!(rows, [(160, 3)]);
        Ok(())
    }
}
