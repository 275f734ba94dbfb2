//! Upsert: insert, or update the row already holding the unique key
//! (`ON CONFLICT ... DO UPDATE` / `DO NOTHING`), for one object (the
//! identity map ends with one object for the row) and for many rows at
//! once (nothing loaded that was not).

use crate::common;

use common::backend::{self, is_postgres};
use orm::prelude::*;
use orm::{Error, Misuse, State};

#[derive(Model, Debug)]
#[orm(table = "members")]
pub struct Member {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub email: String,
    pub name: String,
    #[orm(version)]
    pub version: i64,
}

#[derive(Model, Debug)]
#[orm(table = "settings")]
pub struct Setting {
    #[orm(primary_key)]
    pub key: String,
    pub value: String,
}

/// Creates the tables in `db` and commits members ann (1) and bob (2),
/// their keys left to the database.
fn database(db: &Database) -> orm::Result<()> {
    db.create_all::<(Member, Setting)>()?;
    db.execute_batch(
        "INSERT INTO members (email, name, version) VALUES ('ann@x', 'Ann', 1), ('bob@x', 'Bob', 1)",
    )?;
    Ok(())
}

fn names(db: &Database) -> orm::Result<Vec<(String, String, i64)>> {
    db.session()
        .query::<Member>()
        .select((Member::EMAIL, Member::NAME, Member::VERSION))
        .order_by(Member::ID)
        .all()
}

backend_tests! {
    fn upsert_of_a_new_key_inserts_the_row_in_one_statement(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let cid = session.upsert(Member::new("cid@x", "Cid"), Member::EMAIL)?;
        // The key is unassigned: SQLite binds it as NULL, PostgreSQL leaves
        // the identity column out.
        let columns = if is_postgres(&db) {
            r#""email", "name", "version") VALUES (?, ?, ?)"#
        } else {
            r#""id", "email", "name", "version") VALUES (?, ?, ?, ?)"#
        };
        assert_eq!(
            backend::sql(&recorder),
            [format!(
                r#"INSERT INTO "members" ({columns} ON CONFLICT ("email") DO UPDATE SET "name" = excluded."name", "version" = "members"."version" + 1 RETURNING "id", "email", "name", "version""#
            )]
        );
        assert_eq!(cid.state(), State::Persistent);
        assert_eq!(cid.read()?.id, 3);
        assert_eq!(cid.read()?.version, 1);
        session.commit()?;
        assert_eq!(names(&db)?.len(), 3);
        Ok(())
    }

    fn upsert_of_a_loaded_row_updates_that_object_and_returns_it(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let again = session.upsert(Member::new("ann@x", "Ann Lee"), Member::EMAIL)?;
        assert_eq!(again, ann, "one object for the row");
        assert_eq!(session.len(), 1);
        assert_eq!(ann.read()?.name, "Ann Lee");
        assert_eq!(ann.read()?.version, 2, "the update bumped the version");
        assert!(!session.has_changes());
        session.commit()?;
        assert_eq!(
            names(&db)?[0],
            ("ann@x".to_owned(), "Ann Lee".to_owned(), 2)
        );
        Ok(())
    }

    fn upsert_of_a_row_not_loaded_returns_the_identity_maps_object_from_then_on(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let bob = session.upsert(Member::new("bob@x", "Robert"), Member::EMAIL)?;
        assert_eq!(bob.read()?.id, 2, "the existing row's key");
        let recorder = db.recorder();
        assert_eq!(session.get::<Member>(2)?, bob);
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn insert_or_ignore_leaves_an_existing_row_as_it_was(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let ignored = session.insert_or_ignore(Member::new("ann@x", "Other"), Member::EMAIL)?;
        assert!(ignored.is_none());
        let new = session.insert_or_ignore(Member::new("dee@x", "Dee"), Member::EMAIL)?;
        assert!(new.is_some());
        session.commit()?;
        let rows = names(&db)?;
        assert_eq!(rows[0], ("ann@x".to_owned(), "Ann".to_owned(), 1));
        assert_eq!(rows.len(), 3);
        Ok(())
    }

    fn upsert_on_a_text_primary_key(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        session.upsert(Setting::new("theme", "dark"), Setting::KEY)?;
        let theme = session.upsert(Setting::new("theme", "light"), Setting::KEY)?;
        assert_eq!(theme.read()?.value, "light");
        assert_eq!(session.query::<Setting>().count()?, 1);
        Ok(())
    }

    fn upsert_on_a_column_that_is_not_unique_is_an_error_and_runs_nothing(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let error = session
            .upsert(Member::new("x@x", "X"), Member::NAME)
            .expect_err("names are not unique");
        assert!(
            matches!(
                error,
                Error::Misuse(Misuse::NotUnique {
                    table: "members",
                    column: "name"
                })
            ),
            "{error:?}"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn upsert_meeting_a_borrowed_object_is_an_error_and_changes_nothing(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let guard = ann.read()?;
        let error = session
            .upsert(Member::new("ann@x", "Ann Lee"), Member::EMAIL)
            .expect_err("ann is borrowed");
        assert!(matches!(error, Error::Borrowed { .. }), "{error:?}");
        drop(guard);
        assert_eq!(ann.read()?.name, "Ann");
        session.commit()?;
        assert_eq!(names(&db)?[0].1, "Ann");
        Ok(())
    }

    fn rollback_undoes_an_upsert(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        session.upsert(Member::new("ann@x", "Ann Lee"), Member::EMAIL)?;
        let cid = session.upsert(Member::new("cid@x", "Cid"), Member::EMAIL)?;
        session.rollback()?;
        assert_eq!(ann.read()?.name, "Ann");
        assert_ne!(cid.state(), State::Persistent, "its row is gone");
        assert_eq!(names(&db)?.len(), 2);
        Ok(())
    }

    fn upsert_rows_writes_many_rows_and_loads_none(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let rows = vec![
            Member::new("ann@x", "Annie"),
            Member::new("cid@x", "Cid"),
            Member::new("dee@x", "Dee"),
            Member::new("cid@x", "Cidney"),
        ];
        assert_eq!(session.upsert_rows(rows, Member::EMAIL)?, 4);
        assert_eq!(session.len(), 1, "only what was loaded before");
        assert_eq!(ann.read()?.name, "Annie", "the loaded object follows");
        session.commit()?;
        let rows = names(&db)?;
        assert_eq!(
            rows,
            [
                ("ann@x".to_owned(), "Annie".to_owned(), 2),
                ("bob@x".to_owned(), "Bob".to_owned(), 1),
                ("cid@x".to_owned(), "Cidney".to_owned(), 2),
                ("dee@x".to_owned(), "Dee".to_owned(), 1),
            ]
        );
        Ok(())
    }

    fn upsert_rows_is_all_or_nothing(db) -> orm::Result<()> {
        database(&db)?;
        let session = db.session();
        // The second row takes Bob's key under another email: the primary key
        // conflicts, which the email's ON CONFLICT does not cover.
        let mut clash = Member::new("eve@x", "Eve");
        clash.id = 2;
        let rows = vec![Member::new("cid@x", "Cid"), clash];
        let error = session
            .upsert_rows(rows, Member::EMAIL)
            .expect_err("id 2 is taken");
        assert!(matches!(error, Error::Constraint { .. }), "{error:?}");
        session.commit()?;
        assert_eq!(names(&db)?.len(), 2, "the first row was undone too");
        Ok(())
    }
}
