//! Savepoints (SQLAlchemy's `begin_nested`) and the transaction helper
//! (`with session.begin():`): rolling back to a savepoint restores exactly
//! what changed since it, in memory and in the database, and nothing from
//! before it; savepoints nest; dropping a guard rolls back; commit waits for
//! open savepoints; `Session::transaction` commits on `Ok` and rolls back
//! on `Err`, in a savepoint when a transaction is open already.
//!
//! Each test checks objects' values and states, the rows (committed ones
//! through a session of their own, the transaction's own through the
//! session) and the exact statements, transaction control included. Each
//! runs on SQLite and on PostgreSQL.

use crate::common;

use common::backend::is_postgres;

use common::Fixture;
use orm::prelude::*;
use orm::{Error, Misuse, Recorder, State};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
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
    #[orm(on_delete = "cascade", back_populates = "posts")]
    pub user: BelongsTo<User>,
}

/// Creates the tables in `db` and commits users ann (1) and bob (2); ann
/// wrote posts 1 and 2. The keys are left to the database.
fn seeded(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Post)>()?;
    db.execute_batch(
        "INSERT INTO users (name) VALUES ('ann'), ('bob');
         INSERT INTO posts (title, user_id) VALUES ('hello', 1), ('again', 1);",
    )
}

/// How the backend of `db` opens a write transaction.
fn begin(db: &Database) -> &'static str {
    if is_postgres(db) {
        "BEGIN"
    } else {
        "BEGIN IMMEDIATE"
    }
}

/// Every statement the recorder saw: transaction control as its SQL
/// (`SAVEPOINT orm_sp_1`), the others as verb and table (`UPDATE users`).
fn log(recorder: &Recorder) -> Vec<String> {
    recorder
        .statements()
        .into_iter()
        .map(|s| {
            if s.is_transaction_control() {
                return s.sql;
            }
            let words: Vec<&str> = s.sql.split_whitespace().collect();
            let verb = words.first().copied().unwrap_or("").to_uppercase();
            let after = |keyword: &str| {
                words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(keyword))
                    .and_then(|i| words.get(i + 1).copied())
            };
            let table = match verb.as_str() {
                "SELECT" | "DELETE" => after("FROM"),
                "INSERT" => after("INTO"),
                "UPDATE" => words.get(1).copied(),
                _ => None,
            };
            format!("{verb} {}", table.unwrap_or("?").trim_matches('"'))
        })
        .collect()
}

/// The committed users, as a session of their own reads them.
fn committed_users(db: &Database) -> Vec<(i64, String)> {
    db.session()
        .sql_values("SELECT id, name FROM users ORDER BY id", &[])
        .expect("the test query runs")
}

/// `db` on PostgreSQL; on SQLite a new file database, kept in `file`.
/// There, other sessions read what is committed while a transaction is
/// open (as READ COMMITTED readers on PostgreSQL do); in an in-memory
/// SQLite database, without WAL, they would wait for the writer instead.
fn on_a_file_for_sqlite<'a>(db: &'a Database, file: &'a mut Option<Fixture>) -> &'a Database {
    if is_postgres(db) {
        db
    } else {
        &file.insert(Fixture::empty("savepoints")).db
    }
}

/// The one integer a query such as `SELECT count(*) FROM posts` returns,
/// as a session of its own reads it.
fn count(db: &Database, sql: &str) -> i64 {
    let counts: Vec<i64> = db
        .session()
        .sql_values(sql, &[])
        .expect("the count query runs");
    counts[0]
}

/// The users as the session's own transaction sees them.
fn users_in_transaction(session: &Session) -> orm::Result<Vec<(i64, String)>> {
    session.sql_values("SELECT id, name FROM users ORDER BY id", &[])
}

fn users(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
    rows.iter()
        .map(|(id, name)| (*id, name.to_string()))
        .collect()
}

fn name(user: &Handle<User>) -> orm::Result<String> {
    Ok(user.read()?.name.clone())
}

/// An application's own reason to end a transaction.
#[derive(Debug)]
enum AppError {
    Orm(Error),
    Refused,
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError::Orm(error)
    }
}

backend_tests! {
    // ------------------------------------------------------- what rolls back

    fn rollback_to_a_savepoint_restores_updated_objects_to_their_savepoint_values_and_rows(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "anna".into();
        let recorder = db.recorder();
        let savepoint = session.begin_nested()?;
        ann.write()?.name = "annie".into();
        session.flush()?;
        ann.write()?.name = "unflushed".into();
        savepoint.rollback()?;

        assert_eq!(
            name(&ann)?,
            "anna",
            "the value at the savepoint, not at BEGIN"
        );
        assert!(!session.has_changes());
        assert_eq!(ann.state(), State::Persistent);
        assert_eq!(
            log(&recorder),
            [
                begin(&db),
                "UPDATE users",
                "SAVEPOINT orm_sp_1",
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "RELEASE orm_flush",
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
            ]
        );
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "anna"), (2, "bob")])
        );
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "anna"), (2, "bob")]));
        Ok(())
    }

    fn objects_inserted_since_the_savepoint_leave_the_session_and_their_rows_are_gone(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let savepoint = session.begin_nested()?;
        let carl = session.add(User::new("carl"));
        session.flush()?;
        assert_eq!(carl.key()?, 3);
        savepoint.rollback()?;

        assert_eq!(carl.state(), State::Transient);
        assert_eq!(carl.key()?, 0, "the key the database assigned is forgotten");
        assert!(session.is_empty());
        assert_eq!(session.find::<User>(3)?, None);
        assert_eq!(
            log(&recorder),
            [
                begin(&db),
                "SAVEPOINT orm_sp_1",
                "SAVEPOINT orm_flush",
                "INSERT users",
                "RELEASE orm_flush",
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
                "SELECT users",
            ]
        );
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        // Let go of, it can be added again.
        session.add_handle(&carl)?;
        session.commit()?;
        assert_eq!(committed_users(&db).len(), 3);
        Ok(())
    }

    fn objects_deleted_since_the_savepoint_come_back_with_their_savepoint_values(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        bob.write()?.name = "robert".into();
        let savepoint = session.begin_nested()?;
        bob.write()?.name = "bobby".into();
        session.delete(&bob)?;
        session.flush()?;
        assert_eq!(users_in_transaction(&session)?, users(&[(1, "ann")]));
        let recorder = db.recorder();
        savepoint.rollback()?;

        assert_eq!(bob.state(), State::Persistent);
        assert_eq!(name(&bob)?, "robert");
        assert_eq!(session.get::<User>(2)?, bob, "back in the identity map");
        assert_eq!(log(&recorder), ["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1"]);
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "robert")]));
        Ok(())
    }

    fn a_cascade_since_the_savepoint_is_undone_with_the_delete_that_caused_it(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let posts = ann.read()?.posts.load()?;
        let savepoint = session.begin_nested()?;
        session.delete(&ann)?;
        session.flush()?;
        assert!(posts.iter().all(|p| p.state() == State::Deleted));
        savepoint.rollback()?;

        assert_eq!(ann.state(), State::Persistent);
        assert!(posts.iter().all(|p| p.state() == State::Persistent));
        assert_eq!(session.get::<Post>(1)?, posts[0]);
        let recorder = db.recorder();
        assert_eq!(ann.read()?.posts.load()?.len(), 2, "expired, loaded again");
        assert_eq!(log(&recorder), ["SELECT posts"]);
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM posts"), 2);
        Ok(())
    }

    // ------------------------------------------------------ loaded collections

    fn a_rollback_to_a_savepoint_expires_every_loaded_collection_old_or_new(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        // Inserted and committed by this session in an earlier transaction:
        // its (empty) collection has been loaded since it was new.
        let dan = session.add(User::new("dan"));
        session.commit()?;
        let ann = session.get::<User>(1)?;
        assert_eq!(ann.read()?.posts.load()?.len(), 2);
        let savepoint = session.begin_nested()?;
        let bob = session.get::<User>(2)?;
        assert!(bob.read()?.posts.load()?.is_empty());
        let carl = session.add(User::new("carl"));
        session.flush()?;
        savepoint.rollback()?;

        assert_eq!(carl.state(), State::Transient);
        let recorder = db.recorder();
        assert_eq!(ann.read()?.posts.load()?.len(), 2);
        assert!(bob.read()?.posts.load()?.is_empty());
        assert!(dan.read()?.posts.load()?.is_empty());
        assert_eq!(
            log(&recorder),
            ["SELECT posts", "SELECT posts", "SELECT posts"],
            "each collection expired, loaded again"
        );
        recorder.clear();
        assert_eq!(ann.read()?.posts.load()?.len(), 2);
        assert!(recorder.statements().is_empty(), "loaded now");
        Ok(())
    }

    fn a_child_moved_between_parents_not_loaded_is_back_with_its_parent_after_a_rollback(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        let post = session.get::<Post>(1)?;
        let savepoint = session.begin_nested()?;
        // Neither parent's collection is loaded: each notes the move.
        post.read()?.user.set(&bob)?;
        session.flush()?;
        savepoint.rollback()?;

        assert_eq!(common::ids(&ann.read()?.posts.load()?), [1, 2]);
        assert!(bob.read()?.posts.load()?.is_empty());
        assert_eq!(post.read()?.user.load()?, ann);
        session.commit()?;
        assert_eq!(count(&db, "SELECT count(*) FROM posts WHERE user_id = 1"), 2);
        Ok(())
    }

    fn a_child_moved_and_not_flushed_is_back_with_its_parent_after_a_rollback(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        let post = session.get::<Post>(2)?;
        let savepoint = session.begin_nested()?;
        post.read()?.user.set(&bob)?;
        savepoint.rollback()?;

        assert!(!session.has_changes());
        assert_eq!(common::ids(&ann.read()?.posts.load()?), [1, 2]);
        assert!(bob.read()?.posts.load()?.is_empty());
        Ok(())
    }

    fn an_object_deleted_before_a_savepoint_gets_back_the_values_it_had_at_it(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        session.delete(&bob)?;
        session.flush()?;
        // Changes to a deleted object are never flushed: "robert" is older
        // than the savepoint, though no row holds it.
        bob.write()?.name = "robert".into();
        let savepoint = session.begin_nested()?;
        bob.write()?.name = "rob".into();
        savepoint.rollback()?;

        assert_eq!(name(&bob)?, "robert");
        assert_eq!(bob.state(), State::Deleted);
        session.rollback()?;
        assert_eq!(name(&bob)?, "bob");
        assert_eq!(bob.state(), State::Persistent);
        Ok(())
    }

    fn an_object_changed_then_deleted_since_the_savepoint_gets_back_its_values_at_it(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        let savepoint = session.begin_nested()?;
        bob.write()?.name = "robert".into();
        session.delete(&bob)?;
        bob.write()?.name = "rob".into();
        savepoint.rollback()?;

        assert_eq!(name(&bob)?, "bob");
        assert_eq!(bob.state(), State::Persistent);
        Ok(())
    }

    fn a_guard_on_a_deleted_object_changed_since_the_savepoint_stops_its_rollback(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        session.delete(&bob)?;
        let savepoint = session.begin_nested()?;
        bob.write()?.name = "rob".into();
        session.add(User::new("carl"));
        session.flush()?;
        let guard = bob.read()?;
        let recorder = db.recorder();
        assert!(matches!(savepoint.rollback(), Err(Error::Borrowed { .. })));
        assert!(recorder.statements().is_empty(), "nothing sent");
        assert_eq!(guard.name, "rob");
        drop(guard);

        // Rolled back as soon as it can be: at commit.
        session.commit()?;
        assert_eq!(name(&bob)?, "bob");
        assert_eq!(committed_users(&db), users(&[(1, "ann")]));
        Ok(())
    }

    fn unflushed_changes_made_since_the_savepoint_are_discarded_without_sql(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<User>(1)?;
        let savepoint = session.begin_nested()?;
        ann.write()?.name = "changed".into();
        let carl = session.add(User::new("carl"));
        let bob = session.get::<User>(2)?;
        session.delete(&bob)?;
        let recorder = db.recorder();
        savepoint.rollback()?;

        assert_eq!(name(&ann)?, "ann");
        assert_eq!(carl.state(), State::Transient);
        assert_eq!(bob.state(), State::Persistent);
        assert!(!session.has_changes());
        assert_eq!(
            log(&recorder),
            ["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1", "SELECT users"],
            "bob, first read since the savepoint, is read again"
        );
        Ok(())
    }

    fn changes_before_the_savepoint_survive_its_rollback_and_commit(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "anna".into();
        let dora = session.add(User::new("dora"));
        let recorder = db.recorder();
        let savepoint = session.begin_nested()?; // flushes the two changes first
        dora.write()?.name = "dorothy".into();
        session.add(User::new("eve"));
        session.flush()?;
        savepoint.rollback()?;

        assert_eq!(name(&ann)?, "anna");
        assert_eq!(name(&dora)?, "dora");
        assert_eq!(dora.state(), State::Persistent);
        assert_eq!(
            log(&recorder)[..4],
            [
                begin(&db),
                "UPDATE users",
                "INSERT users",
                "SAVEPOINT orm_sp_1"
            ]
        );
        session.commit()?;
        assert_eq!(
            committed_users(&db),
            users(&[(1, "anna"), (2, "bob"), (3, "dora")])
        );
        Ok(())
    }

    fn objects_read_since_the_savepoint_are_read_again_and_older_ones_are_not(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let savepoint = session.begin_nested()?;
        session.execute("UPDATE users SET name = upper(name)", &[])?;
        let bob = session.get::<User>(2)?;
        assert_eq!(name(&bob)?, "BOB");
        session.refresh(&ann)?;
        assert_eq!(name(&ann)?, "ANN");
        let recorder = db.recorder();
        savepoint.rollback()?;

        assert_eq!((name(&ann)?, name(&bob)?), ("ann".into(), "bob".into()));
        assert_eq!(
            log(&recorder),
            [
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
                "SELECT users",
                "SELECT users"
            ]
        );

        // Loaded before the next savepoint and not read since: not read again.
        let savepoint = session.begin_nested()?;
        recorder.clear();
        savepoint.rollback()?;
        assert_eq!(log(&recorder), ["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1"]);
        Ok(())
    }

    fn an_object_read_in_nested_savepoints_is_read_again_once_per_rollback(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let outer = session.begin_nested()?;
        let ann = session.get::<User>(1)?;
        let inner = session.begin_nested()?;
        let bob = session.get::<User>(2)?;
        session.refresh(&ann)?;
        // Both are the outer savepoint's reads now, Ann once.
        inner.release()?;
        let inner = session.begin_nested()?;
        session.refresh(&bob)?;
        let recorder = db.recorder();
        inner.rollback()?;
        assert_eq!(
            log(&recorder),
            ["ROLLBACK TO orm_sp_2", "RELEASE orm_sp_2", "SELECT users"],
            "Bob, read since the inner savepoint"
        );
        // Read again, but noted since the outer savepoint already.
        session.refresh(&ann)?;
        recorder.clear();
        outer.rollback()?;
        assert_eq!(
            log(&recorder),
            [
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
                "SELECT users",
                "SELECT users"
            ],
            "Ann and Bob, once each"
        );
        Ok(())
    }

    // ---------------------------------------------------- nesting and guards

    fn nested_savepoints_roll_back_each_to_its_own_values(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let outer = session.begin_nested()?;
        ann.write()?.name = "one".into();
        let inner = session.begin_nested()?;
        assert_eq!((outer.name(), inner.name()), ("orm_sp_1", "orm_sp_2"));
        ann.write()?.name = "two".into();
        let carl = session.add(User::new("carl"));
        session.flush()?;
        let recorder = db.recorder();
        inner.rollback()?;
        assert_eq!(name(&ann)?, "one");
        assert_eq!(carl.state(), State::Transient);
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "one"), (2, "bob")])
        );
        outer.rollback()?;
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        // On PostgreSQL the raw reads run in a savepoint of their own, so
        // that a failing one would not abort the transaction.
        let read: &[&str] = if is_postgres(&db) {
            &["SAVEPOINT orm_raw", "SELECT users", "RELEASE orm_raw"]
        } else {
            &["SELECT users"]
        };
        let expected: Vec<&str> = ["ROLLBACK TO orm_sp_2", "RELEASE orm_sp_2"]
            .iter()
            .chain(read)
            .chain(&["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1"])
            .chain(read)
            .copied()
            .collect();
        assert_eq!(log(&recorder), expected);
        Ok(())
    }

    fn releasing_an_inner_savepoint_hands_its_changes_to_the_outer_one(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        let outer = session.begin_nested()?;
        ann.write()?.name = "one".into();
        let inner = session.begin_nested()?;
        ann.write()?.name = "two".into();
        bob.write()?.name = "robert".into();
        let recorder = db.recorder();
        inner.release()?;
        assert_eq!(
            log(&recorder),
            [
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "UPDATE users",
                "RELEASE orm_flush",
                "RELEASE orm_sp_2"
            ]
        );
        assert_eq!((name(&ann)?, name(&bob)?), ("two".into(), "robert".into()));
        outer.rollback()?;
        assert_eq!(
            (name(&ann)?, name(&bob)?),
            ("ann".into(), "bob".into()),
            "back to the outer savepoint's values, bob's kept by the inner one"
        );
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        Ok(())
    }

    fn a_released_savepoint_commits_with_the_transaction(db) -> orm::Result<()> {
        let mut file = None;
        let db = on_a_file_for_sqlite(&db, &mut file);
        seeded(db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let savepoint = session.begin_nested()?;
        ann.write()?.name = "anna".into();
        session.add(User::new("carl"));
        savepoint.release()?;
        assert_eq!(committed_users(db), users(&[(1, "ann"), (2, "bob")]));
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(log(&recorder), ["COMMIT"]);
        assert_eq!(
            committed_users(db),
            users(&[(1, "anna"), (2, "bob"), (3, "carl")])
        );
        Ok(())
    }

    fn the_session_rollback_after_savepoints_restores_the_transaction_start(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.name = "one".into();
        let first = session.begin_nested()?;
        ann.write()?.name = "two".into();
        bob.write()?.name = "robert".into();
        session.flush()?;
        first.rollback()?;
        assert_eq!((name(&ann)?, name(&bob)?), ("one".into(), "bob".into()));
        let second = session.begin_nested()?;
        ann.write()?.name = "three".into();
        second.release()?;
        session.rollback()?;
        assert_eq!((name(&ann)?, name(&bob)?), ("ann".into(), "bob".into()));
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        // Nothing of the rolled-back savepoint lingers for later transactions.
        bob.write()?.name = "bobby".into();
        session.commit()?;
        bob.write()?.name = "robby".into();
        session.flush()?;
        session.rollback()?;
        assert_eq!(name(&bob)?, "bobby");
        Ok(())
    }

    fn dropping_a_savepoint_guard_rolls_it_back(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        {
            let _savepoint = session.begin_nested()?;
            ann.write()?.name = "anna".into();
            session.flush()?;
        }
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn a_failed_flush_inside_a_savepoint_undoes_only_itself(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let savepoint = session.begin_nested()?;
        let carl = session.add(User::new("carl"));
        session.flush()?;
        let again = session.add(User::new("bob"));
        let recorder = db.recorder();
        assert!(matches!(session.flush(), Err(Error::Constraint { .. })));
        assert_eq!(
            log(&recorder),
            [
                "SAVEPOINT orm_flush",
                "INSERT users",
                "ROLLBACK TO orm_flush",
                "RELEASE orm_flush"
            ]
        );
        assert_eq!(carl.state(), State::Persistent);
        assert_eq!(again.state(), State::Pending);
        session.delete(&again)?;
        savepoint.release()?;
        session.commit()?;
        assert_eq!(committed_users(&db).len(), 3);
        Ok(())
    }

    fn a_failed_release_rolls_the_savepoint_back(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let savepoint = session.begin_nested()?;
        ann.write()?.name = "anna".into();
        session.flush()?;
        let duplicate = session.add(User::new("bob"));
        let recorder = db.recorder();
        assert!(matches!(savepoint.release(), Err(Error::Constraint { .. })));
        assert_eq!(
            log(&recorder)[4..],
            ["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1"],
            "after the flush's own savepoint, as a dropped guard does"
        );
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(duplicate.state(), State::Transient);
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    // ---------------------------------------------------------------- misuse

    fn a_guard_on_a_new_object_taken_out_since_the_savepoint_stops_its_rollback(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<User>(1)?;
        let post = session.get::<Post>(1)?;
        let savepoint = session.begin_nested()?;
        let cara = session.add(User::new("cara"));
        post.read()?.user.set(&cara)?;
        session.delete(&cara)?;
        let guard = cara.write()?;
        let recorder = db.recorder();
        assert!(matches!(savepoint.rollback(), Err(Error::Borrowed { .. })));
        assert!(recorder.statements().is_empty());
        assert!(session.has_changes(), "the move is still pending");
        drop(guard);

        session.rollback()?;
        assert_eq!(post.read()?.user.load()?, ann);
        assert!(cara.read()?.posts.load()?.is_empty(), "the post is ann's again");
        assert_eq!(common::ids(&ann.read()?.posts.load()?), [1, 2]);
        Ok(())
    }

    fn a_borrow_held_during_a_savepoint_rollback_fails_it_and_changes_nothing(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let savepoint = session.begin_nested()?;
        ann.write()?.name = "anna".into();
        session.flush()?;
        let guard = ann.read()?;
        let recorder = db.recorder();
        assert!(matches!(savepoint.rollback(), Err(Error::Borrowed { .. })));
        assert!(recorder.statements().is_empty());
        assert_eq!(guard.name, "anna");
        drop(guard);
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "anna"), (2, "bob")])
        );

        // Its guard is gone: the savepoint rolls back as soon as it can, here
        // at commit, and the commit goes on.
        recorder.clear();
        session.commit()?;
        assert_eq!(
            log(&recorder),
            ["ROLLBACK TO orm_sp_1", "RELEASE orm_sp_1", "COMMIT"]
        );
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn commit_while_a_savepoint_is_open_is_a_misuse_and_changes_nothing(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let savepoint = session.begin_nested()?;
        let carl = session.add(User::new("carl"));
        let recorder = db.recorder();
        match session.commit() {
            Err(Error::Misuse(Misuse::SavepointOpen { savepoint })) => {
                assert_eq!(savepoint, "orm_sp_1");
            }
            other => panic!("expected SavepointOpen, got {other:?}"),
        }
        assert!(recorder.statements().is_empty());
        assert_eq!(carl.state(), State::Pending);
        savepoint.release()?;
        session.commit()?;
        assert_eq!(committed_users(&db).len(), 3);
        Ok(())
    }

    fn session_rollback_ends_every_savepoint_and_leaves_their_guards_inert(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "anna".into();
        let outer = session.begin_nested()?;
        let inner = session.begin_nested()?;
        let carl = session.add(User::new("carl"));
        session.flush()?;
        let recorder = db.recorder();
        session.rollback()?;
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(carl.state(), State::Transient);
        assert_eq!(log(&recorder), ["ROLLBACK"]);

        match inner.release() {
            Err(Error::Misuse(Misuse::SavepointClosed { savepoint })) => {
                assert_eq!(savepoint, "orm_sp_2");
            }
            other => panic!("expected SavepointClosed, got {other:?}"),
        }
        drop(outer);
        assert_eq!(log(&recorder), ["ROLLBACK"], "inert guards issue nothing");
        // A new savepoint is the outermost again.
        assert_eq!(session.begin_nested()?.name(), "orm_sp_1");
        Ok(())
    }

    fn closing_a_savepoint_that_is_not_the_innermost_is_a_misuse(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let outer = session.begin_nested()?;
        ann.write()?.name = "one".into();
        let inner = session.begin_nested()?;
        ann.write()?.name = "two".into();
        let recorder = db.recorder();
        match outer.release() {
            Err(Error::Misuse(Misuse::SavepointNotInnermost {
                savepoint,
                innermost,
            })) => assert_eq!(
                (savepoint.as_str(), innermost.as_str()),
                ("orm_sp_1", "orm_sp_2")
            ),
            other => panic!("expected SavepointNotInnermost, got {other:?}"),
        }
        assert!(
            recorder.statements().is_empty(),
            "nothing flushed or released"
        );
        assert_eq!(name(&ann)?, "two");

        // The outer guard is gone: its savepoint rolls back once the inner one
        // closes.
        inner.release()?;
        assert_eq!(
            log(&recorder),
            [
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "RELEASE orm_flush",
                "RELEASE orm_sp_2",
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
            ]
        );
        assert_eq!(name(&ann)?, "ann");
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        Ok(())
    }

    fn an_outer_guard_dropped_first_rolls_back_when_the_inner_one_closes(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let outer = session.begin_nested()?;
        ann.write()?.name = "one".into();
        let inner = session.begin_nested()?;
        let recorder = db.recorder();
        drop(outer);
        assert!(recorder.statements().is_empty());
        assert!(matches!(
            session.commit(),
            Err(Error::Misuse(Misuse::SavepointOpen { .. }))
        ));
        inner.rollback()?;
        assert_eq!(
            log(&recorder),
            [
                "ROLLBACK TO orm_sp_2",
                "RELEASE orm_sp_2",
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1",
            ]
        );
        assert_eq!(name(&ann)?, "ann");
        session.commit()?;
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn clearing_the_session_keeps_its_savepoint_which_still_rolls_back_the_database(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let savepoint = session.begin_nested()?;
        session.add(User::new("carl"));
        session.flush()?;
        session.clear();
        savepoint.rollback()?;
        assert_eq!(
            users_in_transaction(&session)?,
            users(&[(1, "ann"), (2, "bob")])
        );
        session.commit()?;
        assert_eq!(committed_users(&db).len(), 2);
        Ok(())
    }

    // ----------------------------------------------------- Session::transaction

    fn transaction_commits_when_the_closure_returns_ok(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let carl = session.transaction(|s| -> orm::Result<Handle<User>> {
            let ann = s.get::<User>(1)?;
            ann.write()?.name = "anna".into();
            Ok(s.add(User::new("carl")))
        })?;
        assert_eq!(carl.state(), State::Persistent);
        assert_eq!(
            log(&recorder),
            [
                begin(&db),
                "SELECT users",
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "INSERT users",
                "RELEASE orm_flush",
                "COMMIT"
            ]
        );
        assert_eq!(
            committed_users(&db),
            users(&[(1, "anna"), (2, "bob"), (3, "carl")])
        );
        Ok(())
    }

    fn transaction_rolls_back_and_returns_the_closures_error(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let recorder = db.recorder();
        let mut carl = None;
        let outcome: Result<(), AppError> = session.transaction(|s| {
            ann.write()?.name = "anna".into();
            carl = Some(s.add(User::new("carl")));
            s.flush()?;
            Err(AppError::Refused)
        });
        assert!(matches!(outcome, Err(AppError::Refused)));
        assert_eq!(name(&ann)?, "ann");
        let carl = carl.expect("the closure ran");
        assert_eq!(carl.state(), State::Transient);
        assert_eq!(
            log(&recorder),
            [
                begin(&db),
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "INSERT users",
                "RELEASE orm_flush",
                "ROLLBACK"
            ]
        );
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn transaction_returns_an_orm_error_of_the_closure_in_the_closures_type(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let outcome: Result<(), AppError> = session.transaction(|s| {
            s.add(User::new("carl"));
            s.get::<User>(99)?; // autoflushes carl, then finds nothing
            Ok(())
        });
        assert!(matches!(
            outcome,
            Err(AppError::Orm(Error::NotFound { .. }))
        ));
        assert!(session.is_empty());
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn transaction_rolls_back_when_its_commit_fails(db) -> orm::Result<()> {
        seeded(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let outcome = session.transaction(|s| -> orm::Result<()> {
            ann.write()?.name = "anna".into();
            s.add(User::new("bob"));
            Ok(())
        });
        assert!(matches!(outcome, Err(Error::Constraint { .. })));
        assert_eq!(name(&ann)?, "ann");
        assert!(!session.has_changes());
        assert_eq!(committed_users(&db), users(&[(1, "ann"), (2, "bob")]));
        Ok(())
    }

    fn transaction_inside_an_open_transaction_uses_a_savepoint(db) -> orm::Result<()> {
        let mut file = None;
        let db = on_a_file_for_sqlite(&db, &mut file);
        seeded(db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.name = "anna".into();
        session.flush()?;
        let recorder = db.recorder();

        let refused: Result<(), AppError> = session.transaction(|_| {
            bob.write()?.name = "robert".into();
            Err(AppError::Refused)
        });
        assert!(matches!(refused, Err(AppError::Refused)));
        assert_eq!((name(&ann)?, name(&bob)?), ("anna".into(), "bob".into()));
        assert_eq!(
            log(&recorder),
            [
                "SAVEPOINT orm_sp_1",
                "ROLLBACK TO orm_sp_1",
                "RELEASE orm_sp_1"
            ]
        );

        recorder.clear();
        session.transaction(|s| -> orm::Result<()> {
            bob.write()?.name = "bobby".into();
            s.add(User::new("carl"));
            Ok(())
        })?;
        assert_eq!(
            log(&recorder),
            [
                "SAVEPOINT orm_sp_1",
                "SAVEPOINT orm_flush",
                "UPDATE users",
                "INSERT users",
                "RELEASE orm_flush",
                "RELEASE orm_sp_1"
            ]
        );
        assert_eq!(
            committed_users(db),
            users(&[(1, "ann"), (2, "bob")]),
            "not yet"
        );
        session.commit()?;
        assert_eq!(
            committed_users(db),
            users(&[(1, "anna"), (2, "bobby"), (3, "carl")])
        );
        Ok(())
    }
}
