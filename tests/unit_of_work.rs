//! The unit of work: what a flush writes (only what changed), in which
//! order, inside one transaction, and the plan it shows beforehand.

use crate::common;

use common::backend::{self, is_postgres};
use orm::Value;
use orm::prelude::*;
use orm::{Action, Change, FlushPlan, PlanStep};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub email: String,
    pub age: i64,
    pub nickname: Option<String>,
}

/// Fills `db` with ann (1) and bob (2), committed.
fn seed(db: &Database) -> orm::Result<()> {
    db.create_all::<User>()?;
    let session = db.session();
    session.add(User::new("ann", "ann@example.com", 31));
    session.add(User::new("bob", "bob@example.com", 17));
    session.commit()?;
    Ok(())
}

/// The INSERT of a new user: SQLite binds the unset key as NULL and takes
/// the rowid; PostgreSQL leaves the identity column out and reads the key
/// back with `RETURNING`.
fn insert(db: &Database) -> &'static str {
    if is_postgres(db) {
        r#"INSERT INTO "users" ("name", "email", "age", "nickname") VALUES (?, ?, ?, ?) RETURNING "id""#
    } else {
        r#"INSERT INTO "users" ("id", "name", "email", "age", "nickname") VALUES (?, ?, ?, ?, ?)"#
    }
}

/// The values [`insert`] binds for a new user of these column values: on
/// SQLite the unset key (NULL) first.
fn insert_params(db: &Database, columns: [Value; 4]) -> Vec<Value> {
    let key = (!is_postgres(db)).then_some(Value::Null);
    key.into_iter().chain(columns).collect()
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

/// The statements that read or wrote rows: their SQL (placeholders written
/// `?`) and their bound values.
fn data_statements(recorder: &orm::Recorder) -> Vec<(String, Vec<Value>)> {
    let params = recorder
        .statements()
        .into_iter()
        .filter(|s| s.is_data())
        .map(|s| s.params);
    backend::sql(recorder).into_iter().zip(params).collect()
}

backend_tests! {
    fn an_update_sets_only_the_changed_column(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.age = 32;
        let recorder = db.recorder();
        session.commit()?;
        let update = r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#;
        assert_eq!(statement_texts(&recorder), [begin(&db), update, "COMMIT"]);
        let updates = data_statements(&recorder);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].0, update);
        assert_eq!(updates[0].1, [Value::Integer(32), Value::Integer(1)]);
        Ok(())
    }

    fn an_update_sets_every_changed_column_and_no_other(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        {
            let mut bob = bob.write()?;
            bob.nickname = Some("bobby".into());
            bob.name = "Bob".into();
        }
        let recorder = db.recorder();
        session.commit()?;
        let statements = data_statements(&recorder);
        let (sql, params) = statements.first().expect("one UPDATE");
        assert_eq!(
            sql,
            r#"UPDATE "users" SET "name" = ?, "nickname" = ? WHERE "id" = ?"#
        );
        assert_eq!(
            *params,
            [
                Value::Text("Bob".into()),
                Value::Text("bobby".into()),
                Value::Integer(2)
            ]
        );
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn an_unchanged_object_issues_no_statement_on_commit(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        assert_eq!(ann.read()?.name, "ann");
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0);
        assert!(
            recorder.statements().is_empty(),
            "not even a transaction: {:?}",
            statement_texts(&recorder)
        );
        Ok(())
    }

    fn a_write_that_changes_nothing_issues_no_statement(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "ann".into();
        let bob = session.get::<User>(2)?;
        bob.write()?.age = 99;
        bob.write()?.age = 17;
        assert!(!session.has_changes());
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0, "{:?}", recorder.sql());
        Ok(())
    }

    fn an_object_an_idle_autoflush_let_go_of_is_written_once_changed(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "ann".into();
        let recorder = db.recorder();
        // Nothing to write: the query runs alone, and Ann is let go of.
        session.query::<User>().all()?;
        assert_eq!(statement_texts(&recorder).len(), 1);
        // A later write lists her again.
        ann.write()?.name = "anna".into();
        recorder.clear();
        session.commit()?;
        assert_eq!(recorder.count(), 1, "the UPDATE: {:?}", recorder.sql());
        assert_eq!(db.session().get::<User>(1)?.read()?.name, "anna");
        Ok(())
    }

    fn loaded_objects_have_no_changes_until_a_field_changes(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let users = session.query::<User>().all()?;
        for user in &users {
            let _ = user.read()?.name.len();
            assert!(user.changes()?.is_empty());
        }
        assert!(!session.has_changes());
        assert!(session.flush_plan()?.steps.is_empty());

        users[0].write()?.email = "ann@example.org".into();
        assert_eq!(
            users[0].changes()?,
            [Change {
                column: "email",
                database: Value::Text("ann@example.com".into()),
                current: Value::Text("ann@example.org".into()),
            }]
        );
        assert!(users[1].changes()?.is_empty());
        assert!(session.has_changes());
        Ok(())
    }

    fn changes_compare_with_the_database_not_with_the_previous_write(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.age = 40;
        ann.write()?.age = 50;
        assert_eq!(
            ann.changes()?,
            [Change {
                column: "age",
                database: Value::Integer(31),
                current: Value::Integer(50),
            }]
        );
        assert_eq!(ann.changes()?[0].to_string(), "age: 31 -> 50");
        Ok(())
    }

    fn a_flush_clears_the_changes_and_the_next_flush_writes_only_newer_ones(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "Ann".into();
        let recorder = db.recorder();
        session.flush()?;
        assert!(ann.changes()?.is_empty());
        ann.write()?.age = 32;
        session.flush()?;
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"UPDATE "users" SET "name" = ? WHERE "id" = ?"#,
                r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
            ]
        );
        Ok(())
    }

    fn commit_writes_updates_then_inserts_then_deletes_in_one_transaction(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        session.delete(&bob)?;
        ann.write()?.age = 32;
        session.add(User::new("cid", "cid@example.com", 45));
        session.add(User::new("dee", "dee@example.com", 52));
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(
            statement_texts(&recorder),
            [
                begin(&db),
                r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
                insert(&db),
                insert(&db),
                r#"DELETE FROM "users" WHERE "id" = ?"#,
                "COMMIT",
            ]
        );
        // The name is the first value PostgreSQL's INSERT binds, the second
        // (after the NULL key) SQLite's.
        let name_at = if is_postgres(&db) { 0 } else { 1 };
        let inserted: Vec<Value> = data_statements(&recorder)
            .into_iter()
            .filter(|(sql, _)| sql == insert(&db))
            .map(|(_, params)| params[name_at].clone())
            .collect();
        assert_eq!(
            inserted,
            [Value::Text("cid".into()), Value::Text("dee".into())],
            "inserted in the order they were added"
        );
        Ok(())
    }

    fn the_flush_plan_lists_each_statement_in_order_and_runs_nothing(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        session.delete(&bob)?;
        ann.write()?.age = 32;
        session.add(User::new("cid", "cid@example.com", 45));
        let recorder = db.recorder();

        let plan = session.flush_plan()?;

        assert_eq!(recorder.count(), 0, "planning runs no SQL");
        assert_eq!(
            plan,
            FlushPlan {
                steps: vec![
                    PlanStep {
                        action: Action::Update,
                        table: "users",
                        key: "1".into(),
                        reason: "changed columns; needs no new row, so before the inserts".into(),
                    },
                    PlanStep {
                        action: Action::Insert,
                        table: "users",
                        key: "new".into(),
                        reason: "new object; nothing it points to is new".into(),
                    },
                    PlanStep {
                        action: Action::Delete,
                        table: "users",
                        key: "2".into(),
                        reason: "deleted; last, children's tables before their parents'".into(),
                    },
                ],
            }
        );
        assert_eq!(
            plan.to_string(),
            "1. Update users 1 -- changed columns; needs no new row, so before the inserts\n\
             2. Insert users new -- new object; nothing it points to is new\n\
             3. Delete users 2 -- deleted; last, children's tables before their parents'\n"
        );

        // The flush then does what the plan said.
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
                insert(&db),
                r#"DELETE FROM "users" WHERE "id" = ?"#,
            ]
        );
        assert!(session.flush_plan()?.steps.is_empty());
        Ok(())
    }

    fn the_flush_plan_of_a_session_without_changes_is_empty(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "ann".into();
        let plan = session.flush_plan()?;
        assert_eq!(plan, FlushPlan::default());
        assert_eq!(plan.to_string(), "nothing to flush\n");
        Ok(())
    }

    fn the_flush_plan_leaves_out_objects_changed_back(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.get::<User>(2)?;
        ann.write()?.age = 1;
        ann.write()?.age = 31;
        bob.write()?.age = 18;
        let plan = session.flush_plan()?;
        let steps: Vec<(Action, &str)> = plan
            .steps
            .iter()
            .map(|s| (s.action, s.key.as_str()))
            .collect();
        assert_eq!(steps, [(Action::Update, "2")]);
        Ok(())
    }

    fn new_objects_deleted_before_the_flush_are_not_inserted_and_the_rest_keep_their_order(db) -> orm::Result<()> {
        db.create_all::<User>()?;
        let session = db.session();
        let users: Vec<Handle<User>> = (0..6)
            .map(|i| session.add(User::new(format!("u{i}"), format!("u{i}@example.com"), i)))
            .collect();
        session.delete(&users[1])?;
        session.delete(&users[4])?;
        assert!(session.delete(&users[4]).is_err(), "no longer in the session");
        session.add_handle(&users[1])?; // back, now the last one added
        let recorder = db.recorder();
        session.commit()?;
        assert!(
            data_statements(&recorder)
                .iter()
                .all(|(sql, _)| !sql.starts_with("DELETE")),
            "nothing to delete: the deleted ones were never written"
        );
        let names: Vec<(String,)> = db
            .session()
            .sql_values("SELECT name FROM users ORDER BY id", &[])?;
        let names: Vec<&str> = names.iter().map(|(n,)| n.as_str()).collect();
        assert_eq!(names, ["u0", "u2", "u3", "u5", "u1"]);
        assert_eq!(users[4].state(), orm::State::Transient);
        Ok(())
    }

    fn a_pending_object_written_before_the_flush_is_inserted_with_its_latest_values(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let cid = session.add(User::new("cid", "cid@example.com", 45));
        cid.write()?.nickname = Some("C".into());
        assert!(
            cid.changes()?.is_empty(),
            "a pending object has no row to differ from"
        );
        let recorder = db.recorder();
        session.commit()?;
        let statements = data_statements(&recorder);
        let (_, params) = statements
            .iter()
            .find(|(sql, _)| sql == insert(&db))
            .expect("one INSERT");
        assert_eq!(
            *params,
            insert_params(
                &db,
                [
                    Value::Text("cid".into()),
                    Value::Text("cid@example.com".into()),
                    Value::Integer(45),
                    Value::Text("C".into()),
                ]
            )
        );
        assert_eq!(recorder.count(), 1, "no UPDATE after the INSERT");
        Ok(())
    }

    fn changing_the_primary_key_moves_the_row_or_is_refused_never_ignored(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.id = 10;
        let recorder = db.recorder();

        let result = session.commit();

        let reader = db.session();
        let ids: Vec<i64> = reader
            .query::<User>()
            .order_by(User::ID.asc())
            .all()?
            .iter()
            .map(|u| Ok(u.read()?.id))
            .collect::<orm::Result<_>>()?;
        match result {
            Ok(()) => {
                // SQLAlchemy's behaviour: the UPDATE finds the row by the key it
                // was loaded with.
                let statements = data_statements(&recorder);
                let (sql, params) = statements.first().expect("one UPDATE");
                assert_eq!(sql, r#"UPDATE "users" SET "id" = ? WHERE "id" = ?"#);
                assert_eq!(*params, [Value::Integer(10), Value::Integer(1)]);
                assert_eq!(ids, [2, 10], "the row moved to its new key");
                assert_eq!(session.get::<User>(10)?, ann);
            }
            Err(orm::Error::Misuse(_)) => {
                assert_eq!(ids, [1, 2], "a refused change writes nothing");
            }
            Err(other) => panic!("expected the key to change or a Misuse error, got {other:?}"),
        }
        Ok(())
    }
}
