//! One-to-one relationships: `HasOne<T>` opposite a unique `BelongsTo`.
//! Lazy loading, back-population from either side, replacing and clearing
//! the child (NULL on flush, or deleted with `delete_orphan`), eager
//! loading, and `ON DELETE CASCADE` (design points 4-9).
//!
//! As in `relation.rs`, every test runs on each backend of the matrix (see
//! `common::backend`): it seeds the database with plain SQL, counts the
//! statements each step costs with a recorder, and reads the rows back
//! with plain SQL in a session of its own.

use crate::common;

use common::{
    backend::{self, is_postgres},
    params, statements,
};
use orm::State;
use orm::Value;
use orm::prelude::*;

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub profile: HasOne<Profile>,
}

#[derive(Model, Debug)]
#[orm(table = "profiles")]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    pub bio: String,
    #[orm(unique, optional, on_delete = "cascade", back_populates = "profile")]
    pub user: BelongsTo<User>,
}

/// A parent whose one child cannot live without it.
#[derive(Model, Debug)]
#[orm(table = "members")]
pub struct Member {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "member", delete_orphan)]
    pub passport: HasOne<Passport>,
}

#[derive(Model, Debug)]
#[orm(table = "passports")]
pub struct Passport {
    #[orm(primary_key)]
    pub id: i64,
    pub number: String,
    #[orm(unique, back_populates = "passport")]
    pub member: BelongsTo<Member>,
}

// ---------------------------------------------------------------- fixtures

/// Rows of two integer columns, such as `SELECT id, user_id FROM profiles`,
/// as a session of their own reads them: what the database holds, as
/// committed.
fn pairs(db: &Database, sql: &str) -> Vec<(i64, Option<i64>)> {
    db.session()
        .sql_values(sql, &[])
        .expect("the test query runs")
}

/// The one integer a query such as `SELECT count(*) FROM users` returns.
fn count(db: &Database, sql: &str) -> i64 {
    let counts: Vec<i64> = db
        .session()
        .sql_values(sql, &[])
        .expect("the count query runs");
    counts[0]
}

/// Ann has profile 1, Bob profile 2, Cy none; profile 3 belongs to nobody.
/// Keys are left to the database, which numbers a new table's rows from 1.
fn people(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Profile)>()?;
    db.execute_batch(
        "INSERT INTO users (name) VALUES ('Ann'), ('Bob'), ('Cy');
         INSERT INTO profiles (bio, user_id) VALUES
             ('writes compilers', 1), ('grows tomatoes', 2), ('loose', NULL);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, Some(1)), (2, Some(2)), (3, None)],
        "the keys the tests expect"
    );
    Ok(())
}

/// Ann holds passport 1, Bob passport 2 (`delete_orphan`, key NOT NULL).
fn members(db: &Database) -> orm::Result<()> {
    db.create_all::<(Member, Passport)>()?;
    db.execute_batch(
        "INSERT INTO members (name) VALUES ('Ann'), ('Bob');
         INSERT INTO passports (number, member_id) VALUES ('P-1', 1), ('P-2', 2);",
    )?;
    assert_eq!(
        pairs(db, "SELECT id, member_id FROM passports ORDER BY id"),
        [(1, Some(1)), (2, Some(2))],
        "the keys the tests expect"
    );
    Ok(())
}

const SELECT_PROFILE_OF_USER: &str =
    r#"SELECT "id", "bio", "user_id" FROM "profiles" WHERE "user_id" = ?"#;
const UPDATE_PROFILE_USER: &str = r#"UPDATE "profiles" SET "user_id" = ? WHERE "id" = ?"#;

/// The INSERT of a new profile and its binds (`bio`, `user_id`): SQLite
/// binds the unset key as NULL and takes the rowid; PostgreSQL leaves the
/// identity column out and reads the key back with `RETURNING`.
fn insert_profile(db: &Database, bio: &str, user_id: i64) -> (&'static str, Vec<Value>) {
    let (bio, user_id) = (Value::Text(bio.into()), Value::Integer(user_id));
    if is_postgres(db) {
        (
            r#"INSERT INTO "profiles" ("bio", "user_id") VALUES (?, ?) RETURNING "id""#,
            vec![bio, user_id],
        )
    } else {
        (
            r#"INSERT INTO "profiles" ("id", "bio", "user_id") VALUES (?, ?, ?)"#,
            vec![Value::Null, bio, user_id],
        )
    }
}

const USERS: i64 = 100;

/// `USERS` users; the even ones have a profile whose bio names its user.
fn many_people(db: &Database) -> orm::Result<()> {
    db.create_all::<(User, Profile)>()?;
    let users: Vec<String> = (1..=USERS).map(|user| format!("('user {user}')")).collect();
    let profiles: Vec<String> = (1..=USERS)
        .filter(|user| user % 2 == 0)
        .map(|user| format!("('bio of {user}', {user})"))
        .collect();
    db.execute_batch(&format!(
        "INSERT INTO users (name) VALUES {};
         INSERT INTO profiles (bio, user_id) VALUES {};",
        users.join(", "),
        profiles.join(", ")
    ))?;
    let last: Vec<(i64, String)> = db
        .session()
        .sql_values("SELECT id, name FROM users WHERE id = $1", &[&USERS])?;
    assert_eq!(
        last,
        [(USERS, format!("user {USERS}"))],
        "the keys the tests expect"
    );
    Ok(())
}

backend_tests! {
    // ------------------------------------------------------------------ schema

    fn the_foreign_key_of_a_has_one_is_unique_in_the_ddl(db) -> orm::Result<()> {
        let recorder = db.recorder();
        db.create_all::<(User, Profile)>()?;
        let ddl: Vec<String> = recorder
            .statements()
            .into_iter()
            .filter(|s| s.sql.starts_with("CREATE TABLE \"profiles\""))
            .map(|s| s.sql)
            .collect();
        let (key, key_type) = if is_postgres(&db) {
            ("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT")
        } else {
            assert_eq!(ddl, [Profile::TABLE.create_table_sql()]);
            ("INTEGER PRIMARY KEY", "INTEGER")
        };
        assert_eq!(
            ddl,
            [format!("CREATE TABLE \"profiles\" (\n    \"id\" {key},\n    \"bio\" TEXT NOT NULL,\n    \"user_id\" {key_type} UNIQUE REFERENCES \"users\" (\"id\") ON DELETE CASCADE\n)")]
        );
        Ok(())
    }

    // ------------------------------------------------------------ lazy loading

    fn first_access_of_an_unloaded_has_one_issues_one_select_and_later_accesses_none(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        assert!(!ann.read()?.profile.is_loaded());
        recorder.clear();

        let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
        assert_eq!(backend::sql(&recorder), [SELECT_PROFILE_OF_USER]);
        assert_eq!(params(&recorder), [vec![Value::Integer(1)]]);
        assert_eq!(profile.read()?.bio, "writes compilers");
        assert!(ann.read()?.profile.is_loaded());

        recorder.clear();
        assert_eq!(ann.read()?.profile.load()?, Some(profile.clone()));
        assert_eq!(
            profile.read()?.user.load()?,
            ann,
            "the load pointed it back"
        );
        assert_eq!(
            session.get::<Profile>(1)?,
            profile,
            "the lazy load joined the map"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn a_user_without_a_profile_loads_none_with_one_select_and_later_none_without_sql(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cy = session.get::<User>(3)?;
        recorder.clear();

        assert_eq!(cy.read()?.profile.load()?, None);
        assert_eq!(statements(&recorder), ["SELECT profiles"]);
        assert!(cy.read()?.profile.is_loaded());
        recorder.clear();
        assert_eq!(cy.read()?.profile.load()?, None);
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn profile_user_whose_user_is_in_the_identity_map_loads_without_sql(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let bob = session.get::<User>(2)?;
        let profile = session.get::<Profile>(2)?;
        recorder.clear();

        assert_eq!(profile.read()?.user.load()?, bob);
        assert_eq!(recorder.count(), 0);
        assert!(
            !bob.read()?.profile.is_loaded(),
            "loading the child side does not load the parent's side"
        );
        Ok(())
    }

    fn a_new_user_has_a_loaded_empty_profile(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let dee = session.add(User::new("Dee"));
        assert!(dee.read()?.profile.is_loaded());
        assert_eq!(dee.read()?.profile.load()?, None);
        assert_eq!(recorder.count(), 0, "nothing to load for a new object");
        Ok(())
    }

    // -------------------------------------------------------- back-population

    fn setting_user_profile_sets_profile_user_and_the_flush_writes_the_key(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cy = session.get::<User>(3)?;
        let loose = session.get::<Profile>(3)?;
        assert_eq!(cy.read()?.profile.load()?, None);
        recorder.clear();

        cy.read()?.profile.set(&loose)?;
        assert_eq!(loose.read()?.user.load()?, cy);
        assert_eq!(loose.read()?.user.key(), Some(3));
        assert_eq!(cy.read()?.profile.load()?, Some(loose.clone()));
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_PROFILE_USER]);
        assert_eq!(
            params(&recorder),
            [vec![Value::Integer(3), Value::Integer(3)]]
        );
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(1, Some(1)), (2, Some(2)), (3, Some(3))]
        );
        Ok(())
    }

    fn setting_profile_user_fills_a_loaded_user_profile_without_sql(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cy = session.get::<User>(3)?;
        let loose = session.get::<Profile>(3)?;
        assert_eq!(cy.read()?.profile.load()?, None);
        recorder.clear();

        loose.read()?.user.set(&cy)?;
        assert_eq!(cy.read()?.profile.load()?, Some(loose.clone()));
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_PROFILE_USER]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles WHERE id = 3"),
            [(3, Some(3))]
        );
        Ok(())
    }

    fn setting_profile_user_loads_nothing_where_user_profile_is_not_loaded(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cy = session.get::<User>(3)?;
        let loose = session.get::<Profile>(3)?;
        recorder.clear();

        loose.read()?.user.set(&cy)?;
        assert_eq!(recorder.count(), 0);
        assert!(!cy.read()?.profile.is_loaded());

        // The later load autoflushes first, so the SELECT sees the new key.
        assert_eq!(cy.read()?.profile.load()?, Some(loose.clone()));
        assert_eq!(
            statements(&recorder),
            ["UPDATE profiles", "SELECT profiles"]
        );
        session.commit()?;
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles WHERE id = 3"),
            [(3, Some(3))]
        );
        Ok(())
    }

    fn a_new_user_and_profile_linked_from_the_profile_side_insert_the_user_first_with_the_key_filled(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let profile = session.add(Profile::new("new here"));
        let dee = session.add(User::new("Dee"));
        profile.read()?.user.set(&dee)?;
        assert_eq!(dee.read()?.profile.load()?, Some(profile.clone()));
        assert_eq!(profile.read()?.user.key(), None, "Dee has no key yet");
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(statements(&recorder), ["INSERT users", "INSERT profiles"]);
        let dee_id = dee.read()?.id;
        assert_eq!(dee_id, 4);
        assert_eq!(profile.read()?.user.key(), Some(dee_id));
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles WHERE id = 4"),
            [(4, Some(dee_id))]
        );
        Ok(())
    }

    // ------------------------------------------------------ replacing the child

    fn replacing_user_profile_with_a_new_one_nulls_the_old_profiles_key_on_flush(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let old = ann.read()?.profile.load()?.expect("Ann has a profile");
        recorder.clear();

        let new = session.add(Profile::new("writes databases"));
        ann.read()?.profile.set(&new)?;
        assert_eq!(ann.read()?.profile.load()?, Some(new.clone()));
        assert_eq!(new.read()?.user.load()?, ann);
        assert_eq!(old.read()?.user.key(), None, "let go");
        assert_eq!(old.read()?.user.load_optional()?, None);
        assert_eq!(old.state(), State::Persistent, "no delete_orphan: kept");
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        // The old row lets go of the unique key before the new row takes it.
        let (insert, binds) = insert_profile(&db, "writes databases", 1);
        assert_eq!(backend::sql(&recorder), [UPDATE_PROFILE_USER, insert]);
        assert_eq!(
            params(&recorder),
            [vec![Value::Null, Value::Integer(1)], binds]
        );
        assert_eq!(new.read()?.id, 4);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(1, None), (2, Some(2)), (3, None), (4, Some(1))]
        );
        Ok(())
    }

    fn setting_another_profiles_user_replaces_a_loaded_user_profile_and_nulls_the_old_key(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let old = ann.read()?.profile.load()?.expect("Ann has a profile");
        let loose = session.get::<Profile>(3)?;
        recorder.clear();

        loose.read()?.user.set(&ann)?;
        assert_eq!(ann.read()?.profile.load()?, Some(loose.clone()));
        assert_eq!(old.read()?.user.key(), None);
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [UPDATE_PROFILE_USER, UPDATE_PROFILE_USER],
            "the old row first, so the unique key is free"
        );
        assert_eq!(
            params(&recorder),
            [
                vec![Value::Null, Value::Integer(1)],
                vec![Value::Integer(1), Value::Integer(3)]
            ]
        );
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(1, None), (2, Some(2)), (3, Some(1))]
        );
        Ok(())
    }

    fn moving_a_profile_to_another_user_empties_the_old_users_loaded_profile(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let cy = session.get::<User>(3)?;
        let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
        assert_eq!(cy.read()?.profile.load()?, None);
        recorder.clear();

        cy.read()?.profile.set(&profile)?;
        assert_eq!(ann.read()?.profile.load()?, None);
        assert_eq!(cy.read()?.profile.load()?, Some(profile.clone()));
        assert_eq!(profile.read()?.user.load()?, cy);
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_PROFILE_USER]);
        assert_eq!(
            params(&recorder),
            [vec![Value::Integer(3), Value::Integer(1)]]
        );
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(1, Some(3)), (2, Some(2)), (3, None)]
        );
        Ok(())
    }

    fn replacing_a_delete_orphan_passport_deletes_the_old_one_on_flush(db) -> orm::Result<()> {
        members(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let old = ann.read()?.passport.load()?.expect("Ann has a passport");
        recorder.clear();

        let new = session.add(Passport::new("P-9"));
        ann.read()?.passport.set(&new)?;
        assert_eq!(ann.read()?.passport.load()?, Some(new.clone()));
        assert_eq!(new.read()?.member.load()?, ann);
        // An orphan is decided at flush time (it may find another parent first).
        assert_eq!(old.state(), State::Persistent);
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(
            statements(&recorder),
            ["DELETE passports", "INSERT passports"],
            "the old row goes before the new one takes its unique key"
        );
        assert_eq!(old.state(), State::Detached);
        assert_eq!(
            pairs(&db, "SELECT id, member_id FROM passports ORDER BY id"),
            [(2, Some(2)), (3, Some(1))]
        );
        Ok(())
    }

    fn moving_a_delete_orphan_passport_to_another_member_is_an_update_not_a_delete(db) -> orm::Result<()> {
        members(&db)?;
        db.execute_batch("INSERT INTO members (name) VALUES ('Cy');")?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let cy = session.get::<Member>(3)?;
        let passport = ann.read()?.passport.load()?.expect("Ann has a passport");
        recorder.clear();

        cy.read()?.passport.set(&passport)?;
        assert_eq!(ann.read()?.passport.load()?, None);
        session.commit()?;
        assert_eq!(statements(&recorder), ["UPDATE passports"]);
        assert_eq!(passport.state(), State::Persistent);
        assert_eq!(
            pairs(&db, "SELECT id, member_id FROM passports ORDER BY id"),
            [(1, Some(3)), (2, Some(2))]
        );
        Ok(())
    }

    // ---------------------------------------------------------------- clearing

    fn clearing_an_unloaded_user_profile_loads_it_once_and_the_flush_writes_null(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        recorder.clear();

        ann.read()?.profile.clear()?;
        assert_eq!(
            statements(&recorder),
            ["SELECT profiles"],
            "it must know the child"
        );
        assert_eq!(ann.read()?.profile.load()?, None);
        let old = session.get::<Profile>(1)?;
        assert_eq!(old.read()?.user.key(), None);
        assert_eq!(old.state(), State::Persistent);
        recorder.clear();

        session.commit()?;
        assert_eq!(backend::sql(&recorder), [UPDATE_PROFILE_USER]);
        assert_eq!(params(&recorder), [vec![Value::Null, Value::Integer(1)]]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(1, None), (2, Some(2)), (3, None)]
        );
        Ok(())
    }

    fn clearing_a_user_without_a_profile_writes_nothing(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let cy = session.get::<User>(3)?;
        assert_eq!(cy.read()?.profile.load()?, None);
        recorder.clear();

        cy.read()?.profile.clear()?;
        assert!(!session.has_changes());
        session.commit()?;
        assert_eq!(recorder.count(), 0, "{:?}", backend::sql(&recorder));
        Ok(())
    }

    fn clearing_a_delete_orphan_passport_deletes_it_on_flush(db) -> orm::Result<()> {
        members(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<Member>(1)?;
        let passport = ann.read()?.passport.load()?.expect("Ann has a passport");
        recorder.clear();

        ann.read()?.passport.clear()?;
        assert_eq!(ann.read()?.passport.load()?, None);
        assert_eq!(recorder.count(), 0);

        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"DELETE FROM "passports" WHERE "id" = ?"#],
            "the orphan is deleted, not updated first"
        );
        assert_eq!(passport.state(), State::Detached);
        assert_eq!(
            pairs(&db, "SELECT id, member_id FROM passports"),
            [(2, Some(2))]
        );
        assert_eq!(session.find::<Passport>(1)?, None);
        Ok(())
    }

    // ----------------------------------------------------------- eager loading

    fn preloading_user_profile_costs_one_statement_for_a_hundred_users(db) -> orm::Result<()> {
        many_people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session.query::<User>().preload(User::PROFILE).all()?;
        assert_eq!(users.len(), USERS as usize);
        assert_eq!(statements(&recorder), ["SELECT users", "SELECT profiles"]);

        for user in &users {
            let id = user.read()?.id;
            assert!(user.read()?.profile.is_loaded());
            match user.read()?.profile.load()? {
                Some(profile) => {
                    assert_eq!(id % 2, 0);
                    assert_eq!(profile.read()?.bio, format!("bio of {id}"));
                    assert_eq!(&profile.read()?.user.load()?, user);
                }
                None => assert_eq!(id % 2, 1, "user {id} has a profile"),
            }
        }
        assert_eq!(recorder.count(), 2, "the walk cost nothing");
        Ok(())
    }

    fn lazy_profiles_cost_one_statement_per_user(db) -> orm::Result<()> {
        many_people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let users = session.query::<User>().all()?;
        let mut found = 0;
        for user in &users {
            found += usize::from(user.read()?.profile.load()?.is_some());
        }
        assert_eq!(found, USERS as usize / 2);
        assert_eq!(recorder.count(), 1 + USERS as usize);
        Ok(())
    }

    // ---------------------------------------------------------- ON DELETE

    fn deleting_a_user_cascades_to_its_profile_in_the_database_and_in_memory(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
        let other = session.get::<Profile>(2)?;
        recorder.clear();

        session.delete(&ann)?;
        session.flush()?;
        assert_eq!(
            statements(&recorder),
            ["DELETE users"],
            "the database cascades; memory follows"
        );
        assert_eq!(profile.state(), State::Deleted);
        assert_eq!(other.state(), State::Persistent);

        session.commit()?;
        assert_eq!(profile.state(), State::Detached);
        assert_eq!(count(&db, "SELECT count(*) FROM users"), 2);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(2, Some(2)), (3, None)]
        );
        recorder.clear();
        assert_eq!(session.find::<Profile>(1)?, None);
        assert_eq!(
            statements(&recorder),
            ["SELECT profiles"],
            "not from the map"
        );
        Ok(())
    }

    fn deleting_the_profile_empties_the_users_loaded_profile(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
        recorder.clear();

        session.delete(&profile)?;
        session.flush()?;
        assert_eq!(ann.read()?.profile.load()?, None, "after the flush");
        session.commit()?;
        assert_eq!(profile.state(), State::Detached);
        assert_eq!(ann.read()?.profile.load()?, None, "after the commit");
        drop(profile);
        assert_eq!(
            ann.read()?.profile.load()?,
            None,
            "after the last handle to it is gone"
        );
        assert_eq!(statements(&recorder), ["DELETE profiles"]);
        assert_eq!(
            pairs(&db, "SELECT id, user_id FROM profiles ORDER BY id"),
            [(2, Some(2)), (3, None)]
        );
        Ok(())
    }

    fn rollback_after_a_cascading_delete_restores_the_user_and_its_profile(db) -> orm::Result<()> {
        people(&db)?;
        let recorder = db.recorder();
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
        session.delete(&ann)?;
        session.flush()?;
        assert_eq!(profile.state(), State::Deleted);

        session.rollback()?;
        assert_eq!(ann.state(), State::Persistent);
        assert_eq!(profile.state(), State::Persistent);
        assert_eq!(count(&db, "SELECT count(*) FROM profiles"), 3);
        recorder.clear();
        assert_eq!(session.get::<Profile>(1)?, profile);
        assert_eq!(recorder.count(), 0, "back in the identity map");
        assert_eq!(ann.read()?.profile.load()?, Some(profile.clone()));
        assert_eq!(profile.read()?.user.load()?, ann);
        Ok(())
    }

    fn a_profile_undone_by_a_savepoint_is_the_users_again_once_a_rollback_makes_both_new(db) -> orm::Result<()> {
        db.create_all::<(User, Profile)>()?;
        let session = db.session();
        let ann = session.add(User::new("Ann"));
        session.flush()?;
        let savepoint = session.begin_nested()?;
        let profile = session.add(Profile::new("Writes compilers"));
        ann.read()?.profile.set(&profile)?;
        session.flush()?;
        // The profile's insert is undone; Ann's stays: her profile expires.
        savepoint.rollback()?;
        assert_eq!(profile.state(), State::Transient);
        assert_eq!(ann.state(), State::Persistent);

        // Both are new now, linked as they were built.
        session.rollback()?;
        assert_eq!(ann.state(), State::Transient);
        assert_eq!(profile.read()?.user.load()?, ann);
        assert_eq!(ann.read()?.profile.load()?, Some(profile.clone()));
        Ok(())
    }
}
