//! The unit of work: what a flush writes (only what changed), in which
//! order, inside one transaction, and the plan it shows beforehand.

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

const INSERT: &str =
    r#"INSERT INTO "users" ("id", "name", "email", "age", "nickname") VALUES (?, ?, ?, ?, ?)"#;

/// A database holding ann (1) and bob (2), committed.
fn database() -> orm::Result<Database> {
    let db = Database::in_memory()?;
    db.create_all::<User>()?;
    let session = db.session();
    session.add(User::new("ann", "ann@example.com", 31));
    session.add(User::new("bob", "bob@example.com", 17));
    session.commit()?;
    Ok(db)
}

fn statement_texts(recorder: &orm::Recorder) -> Vec<String> {
    recorder.statements().into_iter().map(|s| s.sql).collect()
}

#[test]
fn an_update_sets_only_the_changed_column() -> orm::Result<()> {
    let db = database()?;
    let session = db.session();
    let ann = session.get::<User>(1)?;
    ann.write()?.age = 32;
    let recorder = db.recorder();
    session.commit()?;
    let statements = recorder.statements();
    let updates: Vec<_> = statements
        .iter()
        .filter(|s| !s.is_transaction_control())
        .collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].sql,
        r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#
    );
    assert_eq!(updates[0].params, [Value::Integer(32), Value::Integer(1)]);
    Ok(())
}

#[test]
fn an_update_sets_every_changed_column_and_no_other() -> orm::Result<()> {
    let db = database()?;
    let session = db.session();
    let bob = session.get::<User>(2)?;
    {
        let mut bob = bob.write()?;
        bob.nickname = Some("bobby".into());
        bob.name = "Bob".into();
    }
    let recorder = db.recorder();
    session.commit()?;
    let statements = recorder.statements();
    let update = statements
        .iter()
        .find(|s| !s.is_transaction_control())
        .expect("one UPDATE");
    assert_eq!(
        update.sql,
        r#"UPDATE "users" SET "name" = ?, "nickname" = ? WHERE "id" = ?"#
    );
    assert_eq!(
        update.params,
        [
            Value::Text("Bob".into()),
            Value::Text("bobby".into()),
            Value::Integer(2)
        ]
    );
    assert_eq!(recorder.count(), 1);
    Ok(())
}

#[test]
fn an_unchanged_object_issues_no_statement_on_commit() -> orm::Result<()> {
    let db = database()?;
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

#[test]
fn a_write_that_changes_nothing_issues_no_statement() -> orm::Result<()> {
    let db = database()?;
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

#[test]
fn loaded_objects_have_no_changes_until_a_field_changes() -> orm::Result<()> {
    let db = database()?;
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

#[test]
fn changes_compare_with_the_database_not_with_the_previous_write() -> orm::Result<()> {
    let db = database()?;
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

#[test]
fn a_flush_clears_the_changes_and_the_next_flush_writes_only_newer_ones() -> orm::Result<()> {
    let db = database()?;
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
        recorder.sql(),
        [
            r#"UPDATE "users" SET "name" = ? WHERE "id" = ?"#,
            r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
        ]
    );
    Ok(())
}

#[test]
fn commit_writes_updates_then_inserts_then_deletes_in_one_transaction() -> orm::Result<()> {
    let db = database()?;
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
            "BEGIN IMMEDIATE",
            r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
            INSERT,
            INSERT,
            r#"DELETE FROM "users" WHERE "id" = ?"#,
            "COMMIT",
        ]
    );
    let inserted: Vec<Value> = recorder
        .statements()
        .iter()
        .filter(|s| s.sql == INSERT)
        .map(|s| s.params[1].clone())
        .collect();
    assert_eq!(
        inserted,
        [Value::Text("cid".into()), Value::Text("dee".into())],
        "inserted in the order they were added"
    );
    Ok(())
}

#[test]
fn the_flush_plan_lists_each_statement_in_order_and_runs_nothing() -> orm::Result<()> {
    let db = database()?;
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
        recorder.sql(),
        [
            r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#,
            INSERT,
            r#"DELETE FROM "users" WHERE "id" = ?"#,
        ]
    );
    assert!(session.flush_plan()?.steps.is_empty());
    Ok(())
}

#[test]
fn the_flush_plan_of_a_session_without_changes_is_empty() -> orm::Result<()> {
    let db = database()?;
    let session = db.session();
    let ann = session.get::<User>(1)?;
    ann.write()?.name = "ann".into();
    let plan = session.flush_plan()?;
    assert_eq!(plan, FlushPlan::default());
    assert_eq!(plan.to_string(), "nothing to flush\n");
    Ok(())
}

#[test]
fn the_flush_plan_leaves_out_objects_changed_back() -> orm::Result<()> {
    let db = database()?;
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

#[test]
fn a_pending_object_written_before_the_flush_is_inserted_with_its_latest_values() -> orm::Result<()>
{
    let db = database()?;
    let session = db.session();
    let cid = session.add(User::new("cid", "cid@example.com", 45));
    cid.write()?.nickname = Some("C".into());
    assert!(
        cid.changes()?.is_empty(),
        "a pending object has no row to differ from"
    );
    let recorder = db.recorder();
    session.commit()?;
    let statements = recorder.statements();
    let insert = statements
        .iter()
        .find(|s| s.sql == INSERT)
        .expect("one INSERT");
    assert_eq!(
        insert.params,
        [
            Value::Null,
            Value::Text("cid".into()),
            Value::Text("cid@example.com".into()),
            Value::Integer(45),
            Value::Text("C".into()),
        ]
    );
    assert_eq!(recorder.count(), 1, "no UPDATE after the INSERT");
    Ok(())
}

#[test]
fn changing_the_primary_key_moves_the_row_or_is_refused_never_ignored() -> orm::Result<()> {
    let db = database()?;
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
            let statements = recorder.statements();
            let update = statements
                .iter()
                .find(|s| !s.is_transaction_control())
                .expect("one UPDATE");
            assert_eq!(update.sql, r#"UPDATE "users" SET "id" = ? WHERE "id" = ?"#);
            assert_eq!(update.params, [Value::Integer(10), Value::Integer(1)]);
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
