//! The identity map: one object per row per session, whichever way the row
//! is loaded, and loading never overwrites changes not yet flushed.

use crate::common;

use common::backend;
use orm::Value;
use orm::prelude::*;
use orm::{Change, Error};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub age: i64,
}

/// Fills `db` with ann (1, 31) and bob (2, 17), committed.
fn seed(db: &Database) -> orm::Result<()> {
    db.create_all::<User>()?;
    let session = db.session();
    session.add(User::new("ann", 31));
    session.add(User::new("bob", 17));
    session.commit()?;
    Ok(())
}

backend_tests! {
    fn get_query_and_sql_return_the_same_object_for_one_row(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let by_get = session.get::<User>(1)?;
        let by_query = session.query::<User>().filter(User::NAME.eq("ann")).one()?;
        let by_sql = session.sql::<User>("SELECT * FROM users WHERE id = $1", &[&1_i64])?;
        let by_all = session.query::<User>().order_by(User::ID.asc()).all()?;

        assert!(Handle::ptr_eq(&by_get, &by_query));
        assert_eq!(by_sql.len(), 1);
        assert!(Handle::ptr_eq(&by_get, &by_sql[0]));
        assert!(Handle::ptr_eq(&by_get, &by_all[0]));
        assert!(!Handle::ptr_eq(&by_get, &by_all[1]));
        assert_eq!(session.len(), 2);
        Ok(())
    }

    fn loading_a_row_first_by_query_then_by_get_gives_the_same_object(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let by_sql = session.sql::<User>("SELECT * FROM users ORDER BY id", &[])?;
        let by_query = session.query::<User>().order_by(User::ID.asc()).all()?;
        let by_get = session.get::<User>(2)?;
        assert_eq!(by_sql, by_query);
        assert_eq!(by_get, by_sql[1]);
        Ok(())
    }

    fn an_added_object_is_the_one_get_returns_after_the_flush(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let cid = session.add(User::new("cid", 45));
        session.commit()?;
        let again = session.get::<User>(3)?;
        assert_eq!(again, cid);
        let queried = session.query::<User>().filter(User::NAME.eq("cid")).one()?;
        assert_eq!(queried, cid);
        Ok(())
    }

    fn get_of_a_key_in_the_identity_map_issues_no_sql(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let bob = session.query::<User>().filter(User::ID.eq(2)).one()?;
        let recorder = db.recorder();

        for _ in 0..3 {
            assert_eq!(session.get::<User>(1)?, ann);
            assert_eq!(session.get::<User>(2)?, bob);
            assert_eq!(session.find::<User>(1)?, Some(ann.clone()));
        }

        assert_eq!(recorder.count(), 0);
        assert!(recorder.statements().is_empty());
        Ok(())
    }

    fn get_of_a_key_in_the_identity_map_issues_no_sql_even_with_changes_pending(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.age = 32;
        let recorder = db.recorder();
        assert_eq!(session.get::<User>(1)?, ann);
        assert_eq!(
            recorder.count(),
            0,
            "a hit in the map needs no autoflush: {:?}",
            recorder.sql()
        );
        assert_eq!(ann.read()?.age, 32);
        Ok(())
    }

    fn a_write_through_one_handle_is_seen_through_every_handle_of_the_row(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let first = session.get::<User>(1)?;
        let second = session.query::<User>().filter(User::ID.eq(1)).one()?;
        second.write()?.name = "Ann".into();
        assert_eq!(first.read()?.name, "Ann");
        assert_eq!(first.changes()?, second.changes()?);
        Ok(())
    }

    fn two_sessions_hold_two_different_objects_for_one_row(db) -> orm::Result<()> {
        seed(&db)?;
        let first = db.session();
        let second = db.session();
        let in_first = first.get::<User>(1)?;
        let in_second = second.get::<User>(1)?;
        assert!(!Handle::ptr_eq(&in_first, &in_second));
        in_first.write()?.name = "changed in the first session".into();
        assert_eq!(in_second.read()?.name, "ann");
        Ok(())
    }

    fn a_query_does_not_overwrite_unflushed_changes(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "Ann (unflushed)".into();

        // The row still says "ann" in the database; the query finds it by that
        // value and hands back the object as it is in memory.
        let found = session.query::<User>().filter(User::NAME.eq("ann")).all()?;

        assert_eq!(found.len(), 1);
        assert_eq!(found[0], ann);
        assert_eq!(ann.read()?.name, "Ann (unflushed)");
        assert_eq!(
            ann.changes()?,
            [Change {
                column: "name",
                database: Value::Text("ann".into()),
                current: Value::Text("Ann (unflushed)".into()),
            }]
        );
        Ok(())
    }

    fn sql_and_get_do_not_overwrite_unflushed_changes(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let bob = session.get::<User>(2)?;
        bob.write()?.age = 18;

        let by_sql = session.sql::<User>("SELECT * FROM users WHERE id = 2", &[])?;
        let by_get = session.get::<User>(2)?;

        assert_eq!(by_sql.len(), 1);
        assert_eq!(by_sql[0], bob);
        assert_eq!(by_get, bob);
        assert_eq!(bob.read()?.age, 18);
        assert_eq!(bob.changes()?.len(), 1);

        // The change is still flushed as a change.
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"UPDATE "users" SET "age" = ? WHERE "id" = ?"#]
        );
        Ok(())
    }

    fn a_query_keeps_the_in_memory_values_of_an_object_changed_elsewhere(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;

        // Another session commits a new name for the same row.
        let other = db.session();
        other.get::<User>(1)?.write()?.name = "Anne".into();
        other.commit()?;

        // This session already holds the row: the identity map returns its
        // object as it is (SQLAlchemy does the same until the object is refreshed).
        let found = session.query::<User>().filter(User::ID.eq(1)).one()?;
        assert_eq!(found, ann);
        assert_eq!(ann.read()?.name, "ann");
        session.refresh(&ann)?;
        assert_eq!(ann.read()?.name, "Anne");
        Ok(())
    }

    fn a_deleted_and_committed_row_is_no_longer_found(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        session.delete(&ann)?;
        session.commit()?;
        assert!(matches!(
            session.get::<User>(1),
            Err(Error::NotFound { .. })
        ));
        Ok(())
    }
}
