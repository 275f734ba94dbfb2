//! The session: adding, getting, finding and deleting objects, the states an
//! object goes through, commit and rollback, autoflush, and flushes that
//! fail as a whole.

use crate::common;

use common::backend::{self, is_postgres};
use orm::prelude::*;
use orm::{ConstraintKind, Error, Misuse, State};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(unique)]
    pub email: String,
}

/// Creates the `users` table in `db`.
fn setup(db: &Database) -> orm::Result<()> {
    db.create_all::<User>()
}

/// The INSERT of a new user: SQLite binds the unset key as NULL and takes
/// the rowid; PostgreSQL leaves the identity column out and reads the key
/// back with `RETURNING`.
fn insert(db: &Database) -> &'static str {
    if is_postgres(db) {
        r#"INSERT INTO "users" ("name", "email") VALUES (?, ?) RETURNING "id""#
    } else {
        r#"INSERT INTO "users" ("id", "name", "email") VALUES (?, ?, ?)"#
    }
}

/// Commits one user per name (email `<name>@example.com`), ids 1, 2, ...
fn seed(db: &Database, names: &[&str]) -> orm::Result<()> {
    let session = db.session();
    for name in names {
        session.add(User::new(*name, format!("{name}@example.com")));
    }
    session.commit()
}

/// The committed rows, read by a session of their own (which sees only
/// what other sessions committed).
fn committed_rows(db: &Database) -> orm::Result<Vec<(i64, String, String)>> {
    let session = db.session();
    let users = session.query::<User>().order_by(User::ID.asc()).all()?;
    users
        .iter()
        .map(|user| {
            let user = user.read()?;
            Ok((user.id, user.name.clone(), user.email.clone()))
        })
        .collect()
}

/// How the backend of `db` opens a write transaction.
fn begin(db: &Database) -> &'static str {
    if is_postgres(db) {
        "BEGIN"
    } else {
        "BEGIN IMMEDIATE"
    }
}

/// Every statement the recorder saw, transaction control included, with
/// placeholders written `?` (as [`backend::sql`] writes them).
fn statement_texts(recorder: &orm::Recorder) -> Vec<String> {
    let mut data = backend::sql(recorder).into_iter();
    recorder
        .statements()
        .into_iter()
        .map(|s| {
            if s.is_data() {
                data.next().expect("backend::sql has each data statement")
            } else {
                s.sql
            }
        })
        .collect()
}

fn row(id: i64, name: &str) -> (i64, String, String) {
    (id, name.to_owned(), format!("{name}@example.com"))
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("orm-test-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir can be created");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Two structs named `Person` in two modules, on one table: the one
/// without `email` reads and writes only the columns it has.
mod staff {
    #[derive(orm::Model, Debug)]
    #[orm(table = "people")]
    pub struct Person {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub email: Option<String>,
    }
}

mod visitors {
    #[derive(orm::Model, Debug)]
    #[orm(table = "people")]
    pub struct Person {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
    }
}

backend_tests! {
    fn two_structs_of_one_name_on_one_table_keep_their_own_statements(db) -> orm::Result<()> {
        db.create_all::<staff::Person>()?;
        // Each session may take the connection the other used: the texts
        // cached with it must be told apart by module, not only by name.
        for round in 0..3 {
            let session = db.session();
            let mut ann = staff::Person::new(format!("Ann {round}"));
            ann.email = Some(format!("ann{round}@example.com"));
            let ann = session.add(ann);
            session.commit()?;
            let key = ann.read()?.id;
            drop(session);
            let session = db.session();
            let read = session.get::<visitors::Person>(key)?;
            assert_eq!(read.read()?.name, format!("Ann {round}"));
            let bob = session.add(visitors::Person::new(format!("Bob {round}")));
            session.commit()?;
            let key = bob.read()?.id;
            drop(session);
            let session = db.session();
            let read = session.get::<staff::Person>(key)?;
            assert_eq!(read.read()?.email, None);
        }
        assert_eq!(db.session().query::<staff::Person>().count()?, 6);
        Ok(())
    }

    fn add_then_commit_inserts_the_row_and_assigns_the_key(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        assert_eq!(ann.read()?.id, 0, "the key is assigned by the insert");
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [insert(&db)]
        );
        assert_eq!(ann.read()?.id, 1);
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);
        Ok(())
    }

    fn get_loads_a_committed_row_in_another_session(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        let session = db.session();
        let recorder = db.recorder();
        let bob = session.get::<User>(2)?;
        assert_eq!(recorder.count(), 1);
        assert_eq!(bob.read()?.name, "bob");
        assert_eq!(bob.read()?.email, "bob@example.com");
        assert_eq!(bob.state(), State::Persistent);
        Ok(())
    }

    fn get_of_a_missing_key_is_not_found_and_find_is_none(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        match session.get::<User>(42) {
            Err(Error::NotFound { table, what }) => {
                assert_eq!(table, "users");
                assert_eq!(what, "with key 42");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert!(session.find::<User>(42)?.is_none());
        assert!(session.find::<User>(1)?.is_some());
        Ok(())
    }

    fn objects_go_from_transient_to_pending_to_persistent_to_deleted_to_detached(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = Handle::new(User::new("ann", "ann@example.com"));
        assert_eq!(ann.state(), State::Transient);
        session.add_handle(&ann)?;
        assert_eq!(ann.state(), State::Pending);
        session.flush()?;
        assert_eq!(ann.state(), State::Persistent);
        session.commit()?;
        assert_eq!(ann.state(), State::Persistent);
        session.delete(&ann)?;
        assert_eq!(ann.state(), State::Deleted);
        session.flush()?;
        assert_eq!(ann.state(), State::Deleted);
        session.commit()?;
        assert_eq!(ann.state(), State::Detached);
        assert!(committed_rows(&db)?.is_empty());
        Ok(())
    }

    fn dropping_the_session_detaches_its_objects_which_keep_their_values(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        session.commit()?;
        drop(session);
        assert_eq!(ann.state(), State::Detached);
        assert_eq!(ann.read()?.id, 1);
        assert_eq!(ann.read()?.name, "ann");
        Ok(())
    }

    fn delete_removes_the_row_on_commit(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        session.delete(&ann)?;
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(backend::sql(&recorder), [r#"DELETE FROM "users" WHERE "id" = ?"#]);
        assert_eq!(committed_rows(&db)?, [row(2, "bob")]);
        assert!(db.session().find::<User>(1)?.is_none());
        Ok(())
    }

    fn deleting_a_pending_object_takes_it_out_of_the_session_without_sql(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        session.delete(&ann)?;
        assert_eq!(ann.state(), State::Transient);
        let recorder = db.recorder();
        session.commit()?;
        assert!(recorder.statements().is_empty(), "{:?}", recorder.sql());
        assert!(committed_rows(&db)?.is_empty());
        Ok(())
    }

    fn deleting_an_object_of_another_session_is_misuse(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let first = db.session();
        let second = db.session();
        let ann = first.get::<User>(1)?;
        assert!(matches!(
            second.delete(&ann),
            Err(Error::Misuse(Misuse::OtherSession { model: "User" }))
        ));
        assert_eq!(ann.state(), State::Persistent);
        let transient = Handle::new(User::new("bob", "bob@example.com"));
        assert!(matches!(
            second.delete(&transient),
            Err(Error::Misuse(Misuse::NotInSession {
                model: "User",
                state: "transient"
            }))
        ));
        Ok(())
    }

    fn adding_an_object_of_another_session_is_misuse(db) -> orm::Result<()> {
        setup(&db)?;
        let first = db.session();
        let second = db.session();
        let ann = first.add(User::new("ann", "ann@example.com"));
        assert!(matches!(
            second.add_handle(&ann),
            Err(Error::Misuse(Misuse::OtherSession { model: "User" }))
        ));
        assert!(!second.has_changes());
        Ok(())
    }

    fn commit_makes_the_rows_visible_to_other_sessions_and_keeps_the_values(db) -> orm::Result<()> {
        // On SQLite a file database: there, readers in other sessions do not
        // wait for the writer, so they can be asked what they see while it is
        // mid-transaction. On PostgreSQL each session has a connection of its
        // own, and READ COMMITTED readers do not wait either.
        let dir = TempDir::new("commit-visibility");
        let file;
        let db: &Database = if is_postgres(&db) {
            &db
        } else {
            file = Database::open(dir.0.join("app.db"))?;
            &file
        };
        setup(db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        session.flush()?;
        assert!(
            committed_rows(db)?.is_empty(),
            "flushed but not committed rows are not visible to other sessions"
        );
        session.commit()?;
        assert_eq!(committed_rows(db)?, [row(1, "ann")]);
        assert_eq!(ann.read()?.name, "ann", "commit does not expire values");
        Ok(())
    }

    fn rollback_restores_changed_values_flushed_or_not(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.name = "Ann Flushed".into();
        session.flush()?;
        ann.write()?.email = "changed-after-flush@example.com".into();
        bob.write()?.name = "Bob Unflushed".into();

        session.rollback()?;

        assert_eq!(ann.read()?.name, "ann");
        assert_eq!(ann.read()?.email, "ann@example.com");
        assert_eq!(bob.read()?.name, "bob");
        assert!(ann.changes()?.is_empty());
        assert!(bob.changes()?.is_empty());
        assert!(!session.has_changes());
        assert_eq!(ann.state(), State::Persistent);
        assert_eq!(committed_rows(&db)?, [row(1, "ann"), row(2, "bob")]);
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0, "{:?}", recorder.sql());
        Ok(())
    }

    fn rollback_removes_objects_added_in_the_transaction(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let bob = session.add(User::new("bob", "bob@example.com"));
        session.flush()?;
        assert_eq!(bob.read()?.id, 2);
        let cid = session.add(User::new("cid", "cid@example.com"));

        session.rollback()?;

        assert_eq!(bob.state(), State::Transient);
        assert_eq!(cid.state(), State::Transient);
        assert_eq!(
            bob.read()?.id,
            0,
            "the key the rolled-back insert got is forgotten"
        );
        assert_eq!(session.len(), 0, "the identity map no longer holds them");
        assert!(!session.has_changes());
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);

        // A rolled-back object can be added again. It gets a new key: SQLite
        // takes the next rowid, 2 again; a PostgreSQL sequence does not give
        // back the 2 the rolled-back insert took.
        session.add_handle(&bob)?;
        session.commit()?;
        let key = if is_postgres(&db) { 3 } else { 2 };
        assert_eq!(bob.read()?.id, key);
        assert_eq!(committed_rows(&db)?, [row(1, "ann"), row(key, "bob")]);
        assert_eq!(bob.state(), State::Persistent);
        Ok(())
    }

    fn rollback_of_an_object_added_flushed_and_then_changed_forgets_its_key(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        session.flush()?;
        ann.write()?.name = "Ann".into();

        session.rollback()?;

        assert_eq!(ann.state(), State::Transient);
        assert_eq!(
            ann.read()?.id,
            0,
            "the key the rolled-back insert got is forgotten"
        );
        assert_eq!(session.len(), 0);
        assert!(!session.has_changes());
        assert!(committed_rows(&db)?.is_empty());
        Ok(())
    }

    fn rollback_brings_back_deleted_objects(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        session.delete(&ann)?;
        session.flush()?;
        session.delete(&bob)?;

        session.rollback()?;

        assert_eq!(ann.state(), State::Persistent);
        assert_eq!(bob.state(), State::Persistent);
        let recorder = db.recorder();
        assert_eq!(session.get::<User>(1)?, ann);
        assert_eq!(session.get::<User>(2)?, bob);
        assert_eq!(recorder.count(), 0, "both are back in the identity map");
        session.commit()?;
        assert_eq!(recorder.count(), 0, "nothing left to delete");
        assert_eq!(committed_rows(&db)?, [row(1, "ann"), row(2, "bob")]);
        Ok(())
    }

    fn query_flushes_pending_changes_first(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "Ann".into();
        let bob = session.add(User::new("bob", "bob@example.com"));
        let recorder = db.recorder();

        let found = session
            .query::<User>()
            .filter(User::NAME.eq("Ann").or(User::NAME.eq("bob")))
            .order_by(User::ID.asc())
            .all()?;

        assert_eq!(found, [ann, bob]);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"UPDATE "users" SET "name" = ? WHERE "id" = ?"#,
                insert(&db),
                r#"SELECT "id", "name", "email" FROM "users" WHERE ("name" = ?) OR ("name" = ?) ORDER BY "id" ASC"#,
            ]
        );
        Ok(())
    }

    fn get_that_misses_the_identity_map_flushes_first(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        session.add(User::new("ann", "ann@example.com"));
        let recorder = db.recorder();
        let ann = session.get::<User>(1)?;
        assert_eq!(ann.read()?.name, "ann");
        assert_eq!(
            recorder.count(),
            2,
            "INSERT, then SELECT: {:?}",
            recorder.sql()
        );
        Ok(())
    }

    fn without_autoflush_a_query_does_not_see_pending_objects(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        session.add(User::new("ann", "ann@example.com"));
        let recorder = db.recorder();
        assert!(session.query::<User>().all()?.is_empty());
        assert_eq!(session.query::<User>().count()?, 0);
        assert_eq!(recorder.count(), 2, "two SELECTs, no INSERT");
        assert!(session.has_changes());
        Ok(())
    }

    fn a_flush_that_violates_unique_writes_nothing_and_leaves_the_session_usable(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["taken"])?;
        let session = db.session();
        let users: Vec<Handle<User>> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|name| session.add(User::new(*name, format!("{name}@example.com"))))
            .collect();
        users[2].write()?.email = "taken@example.com".into();
        let recorder = db.recorder();

        let error = session
            .commit()
            .expect_err("the third insert violates UNIQUE");

        match &error {
            Error::Constraint {
                table,
                kind: ConstraintKind::Unique,
                detail,
            } => {
                assert_eq!(table, "users");
                // Each backend names the column its own way.
                let column = if is_postgres(&db) {
                    "Key (email)=(taken@example.com) already exists"
                } else {
                    "users.email"
                };
                assert!(detail.contains(column), "detail: {detail}");
            }
            other => panic!("expected a UNIQUE constraint error, got {other:?}"),
        }
        let insert = insert(&db);
        if is_postgres(&db) {
            // Five keys from the sequence, then one INSERT of the five rows.
            let rows = ["(?, ?, ?)"; 5].join(", ");
            assert_eq!(
                statement_texts(&recorder),
                [
                    begin(&db).to_owned(),
                    r#"SELECT nextval(pg_get_serial_sequence('"users"', 'id')) FROM generate_series(1, ?)"#.to_owned(),
                    format!(r#"INSERT INTO "users" ("id", "name", "email") OVERRIDING SYSTEM VALUE VALUES {rows}"#),
                    "ROLLBACK".to_owned(),
                ],
                "the one INSERT of the five rows fails whole"
            );
        } else {
            assert_eq!(
                statement_texts(&recorder),
                [begin(&db), insert, insert, insert, "ROLLBACK"],
                "the two inserts before the failing one are rolled back with it"
            );
        }
        assert_eq!(committed_rows(&db)?, [row(1, "taken")]);
        for user in &users {
            assert_eq!(user.state(), State::Pending);
            assert_eq!(user.read()?.id, 0, "no key survives the failed flush");
        }
        assert_eq!(session.len(), 0);

        users[2].write()?.email = "c@example.com".into();
        session.commit()?;

        // SQLite hands out rowids 2.. again; a PostgreSQL sequence does not
        // give back the 2 to 6 the rolled-back flush took.
        let first = if is_postgres(&db) { 7 } else { 2 };
        assert_eq!(
            committed_rows(&db)?,
            [
                row(1, "taken"),
                row(first, "a"),
                row(first + 1, "b"),
                row(first + 2, "c"),
                row(first + 3, "d"),
                row(first + 4, "e")
            ]
        );
        for (key, user) in (first..).zip(&users) {
            assert_eq!(user.state(), State::Persistent);
            assert_eq!(user.read()?.id, key);
        }
        Ok(())
    }

    fn a_failed_flush_inside_a_transaction_keeps_the_earlier_flush(db) -> orm::Result<()> {
        setup(&db)?;
        let session = db.session();
        let ann = session.add(User::new("ann", "ann@example.com"));
        session.flush()?;
        let clash = session.add(User::new("clash", "ann@example.com"));

        let error = session
            .flush()
            .expect_err("the second flush violates UNIQUE");
        assert!(
            matches!(
                &error,
                Error::Constraint { table, kind: ConstraintKind::Unique, .. } if table == "users"
            ),
            "{error:?}"
        );
        assert_eq!(ann.state(), State::Persistent);
        assert_eq!(clash.state(), State::Pending);

        session.delete(&clash)?;
        session.commit()?;
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);
        Ok(())
    }

    fn a_failed_update_keeps_the_change_for_the_next_flush(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        bob.write()?.email = "ann@example.com".into();

        let error = session.commit().expect_err("the update violates UNIQUE");
        assert!(
            matches!(
                &error,
                Error::Constraint {
                    kind: ConstraintKind::Unique,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(committed_rows(&db)?, [row(1, "ann"), row(2, "bob")]);
        assert_eq!(
            bob.changes()?.len(),
            1,
            "the change waits for the next flush"
        );

        bob.write()?.email = "robert@example.com".into();
        session.commit()?;
        assert_eq!(
            committed_rows(&db)?,
            [
                row(1, "ann"),
                (2, "bob".to_owned(), "robert@example.com".to_owned())
            ]
        );
        Ok(())
    }

    fn refresh_discards_unflushed_changes(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "Ann".into();
        session.refresh(&ann)?;
        assert_eq!(ann.read()?.name, "ann");
        assert!(ann.changes()?.is_empty());
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn clear_detaches_every_object_and_drops_pending_changes(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.add(User::new("bob", "bob@example.com"));
        session.clear();
        assert!(session.is_empty());
        assert!(!session.has_changes());
        assert_eq!(ann.state(), State::Detached);
        assert_eq!(bob.state(), State::Transient);
        session.commit()?;
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);
        let again = session.get::<User>(1)?;
        assert_ne!(again, ann, "a cleared session loads a new object");
        Ok(())
    }

    fn a_failed_delete_undoes_the_inserts_and_updates_of_its_flush(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann", "bob"])?;
        // A table made by hand whose foreign key keeps bob's row from being deleted.
        db.execute_batch(
            "CREATE TABLE badges (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users (id));
             INSERT INTO badges (id, user_id) VALUES (1, 2);",
        )?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.name = "Ann".into();
        session.delete(&bob)?;
        let cid = session.add(User::new("cid", "cid@example.com"));

        let error = session.commit().expect_err("a badge still points at bob");

        assert!(
            matches!(
                &error,
                Error::Constraint { table, kind: ConstraintKind::ForeignKey, .. } if table == "users"
            ),
            "{error:?}"
        );
        assert_eq!(committed_rows(&db)?, [row(1, "ann"), row(2, "bob")]);
        assert_eq!(cid.state(), State::Pending);
        assert_eq!(cid.read()?.id, 0);
        assert_eq!(ann.changes()?.len(), 1, "the change still waits");
        assert_eq!(bob.state(), State::Deleted, "still marked for deletion");

        session.rollback()?;
        assert_eq!(ann.read()?.name, "ann");
        assert_eq!(bob.state(), State::Persistent);
        assert_eq!(cid.state(), State::Transient);
        assert!(!session.has_changes());
        Ok(())
    }

    fn inserting_a_key_that_exists_is_a_unique_constraint_error(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let copy = session.add(User {
            id: 1,
            name: "copy".into(),
            email: "copy@example.com".into(),
        });
        let error = session.commit().expect_err("id 1 is taken");
        assert!(
            matches!(
                &error,
                Error::Constraint { table, kind: ConstraintKind::Unique, .. } if table == "users"
            ),
            "{error:?}"
        );
        assert_eq!(copy.state(), State::Pending);
        assert_eq!(
            session.get::<User>(1)?,
            ann,
            "the map still holds the loaded object"
        );
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);
        Ok(())
    }

    fn a_conflicting_borrow_is_an_error_not_a_panic(db) -> orm::Result<()> {
        setup(&db)?;
        seed(&db, &["ann"])?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        {
            let reading = ann.read()?;
            assert!(matches!(ann.write(), Err(Error::Borrowed { .. })));
            assert_eq!(reading.name, "ann");
        }
        {
            let mut writing = ann.write()?;
            writing.name = "Ann".into();
            assert!(matches!(ann.read(), Err(Error::Borrowed { .. })));
            assert!(matches!(ann.write(), Err(Error::Borrowed { .. })));
            // The flush needs to read the object being written.
            assert!(matches!(session.flush(), Err(Error::Borrowed { .. })));
        }
        assert_eq!(committed_rows(&db)?, [row(1, "ann")]);
        session.commit()?;
        assert_eq!(
            committed_rows(&db)?,
            [(1, "Ann".to_owned(), "ann@example.com".to_owned())]
        );
        Ok(())
    }
}
