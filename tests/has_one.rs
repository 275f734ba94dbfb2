//! One-to-one relationships: `HasOne<T>` opposite a unique `BelongsTo`.
//! Lazy loading, back-population from either side, replacing and clearing
//! the child (NULL on flush, or deleted with `delete_orphan`), eager
//! loading, and `ON DELETE CASCADE` (design points 4-9).
//!
//! As in `relation.rs`, every test seeds a database file with plain SQL,
//! counts the statements each step costs with a recorder, and reads the rows
//! back with a plain rusqlite connection.

mod common;

use common::*;
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

/// Ann has profile 1, Bob profile 2, Cy none; profile 3 belongs to nobody.
fn people() -> Fixture {
    let fx = Fixture::new::<(User, Profile)>("people");
    fx.seed(
        "INSERT INTO users (id, name) VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy');
         INSERT INTO profiles (id, bio, user_id) VALUES
             (1, 'writes compilers', 1), (2, 'grows tomatoes', 2), (3, 'loose', NULL);",
    );
    fx
}

/// Ann holds passport 1, Bob passport 2 (`delete_orphan`, key NOT NULL).
fn members() -> Fixture {
    let fx = Fixture::new::<(Member, Passport)>("members");
    fx.seed(
        "INSERT INTO members (id, name) VALUES (1, 'Ann'), (2, 'Bob');
         INSERT INTO passports (id, number, member_id) VALUES (1, 'P-1', 1), (2, 'P-2', 2);",
    );
    fx
}

const SELECT_PROFILE_OF_USER: &str =
    r#"SELECT "id", "bio", "user_id" FROM "profiles" WHERE "user_id" = ?"#;
const UPDATE_PROFILE_USER: &str = r#"UPDATE "profiles" SET "user_id" = ? WHERE "id" = ?"#;
const INSERT_PROFILE: &str = r#"INSERT INTO "profiles" ("id", "bio", "user_id") VALUES (?, ?, ?)"#;

// ------------------------------------------------------------------ schema

#[test]
fn the_foreign_key_of_a_has_one_is_unique_in_the_ddl() {
    assert_eq!(
        Profile::TABLE.create_table_sql(),
        "CREATE TABLE \"profiles\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"bio\" TEXT NOT NULL,\n    \"user_id\" INTEGER UNIQUE REFERENCES \"users\" (\"id\") ON DELETE CASCADE\n)"
    );
}

// ------------------------------------------------------------ lazy loading

#[test]
fn first_access_of_an_unloaded_has_one_issues_one_select_and_later_accesses_none() -> orm::Result<()>
{
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    assert!(!ann.read()?.profile.is_loaded());
    recorder.clear();

    let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
    assert_eq!(recorder.sql(), [SELECT_PROFILE_OF_USER]);
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

#[test]
fn a_user_without_a_profile_loads_none_with_one_select_and_later_none_without_sql()
-> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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

#[test]
fn profile_user_whose_user_is_in_the_identity_map_loads_without_sql() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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

#[test]
fn a_new_user_has_a_loaded_empty_profile() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let dee = session.add(User::new("Dee"));
    assert!(dee.read()?.profile.is_loaded());
    assert_eq!(dee.read()?.profile.load()?, None);
    assert_eq!(recorder.count(), 0, "nothing to load for a new object");
    Ok(())
}

// -------------------------------------------------------- back-population

#[test]
fn setting_user_profile_sets_profile_user_and_the_flush_writes_the_key() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
    assert_eq!(recorder.sql(), [UPDATE_PROFILE_USER]);
    assert_eq!(
        params(&recorder),
        [vec![Value::Integer(3), Value::Integer(3)]]
    );
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, Some(1)), (2, Some(2)), (3, Some(3))]
    );
    Ok(())
}

#[test]
fn setting_profile_user_fills_a_loaded_user_profile_without_sql() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let cy = session.get::<User>(3)?;
    let loose = session.get::<Profile>(3)?;
    assert_eq!(cy.read()?.profile.load()?, None);
    recorder.clear();

    loose.read()?.user.set(&cy)?;
    assert_eq!(cy.read()?.profile.load()?, Some(loose.clone()));
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    assert_eq!(recorder.sql(), [UPDATE_PROFILE_USER]);
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles WHERE id = 3"),
        [(3, Some(3))]
    );
    Ok(())
}

#[test]
fn setting_profile_user_loads_nothing_where_user_profile_is_not_loaded() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        fx.pairs("SELECT id, user_id FROM profiles WHERE id = 3"),
        [(3, Some(3))]
    );
    Ok(())
}

#[test]
fn a_new_user_and_profile_linked_from_the_profile_side_insert_the_user_first_with_the_key_filled()
-> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        fx.pairs("SELECT id, user_id FROM profiles WHERE id = 4"),
        [(4, Some(dee_id))]
    );
    Ok(())
}

// ------------------------------------------------------ replacing the child

#[test]
fn replacing_user_profile_with_a_new_one_nulls_the_old_profiles_key_on_flush() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
    assert_eq!(recorder.sql(), [UPDATE_PROFILE_USER, INSERT_PROFILE]);
    assert_eq!(
        params(&recorder),
        [
            vec![Value::Null, Value::Integer(1)],
            vec![
                Value::Null,
                Value::Text("writes databases".into()),
                Value::Integer(1)
            ]
        ]
    );
    assert_eq!(new.read()?.id, 4);
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, None), (2, Some(2)), (3, None), (4, Some(1))]
    );
    Ok(())
}

#[test]
fn setting_another_profiles_user_replaces_a_loaded_user_profile_and_nulls_the_old_key()
-> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        recorder.sql(),
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
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, None), (2, Some(2)), (3, Some(1))]
    );
    Ok(())
}

#[test]
fn moving_a_profile_to_another_user_empties_the_old_users_loaded_profile() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
    assert_eq!(recorder.sql(), [UPDATE_PROFILE_USER]);
    assert_eq!(
        params(&recorder),
        [vec![Value::Integer(3), Value::Integer(1)]]
    );
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, Some(3)), (2, Some(2)), (3, None)]
    );
    Ok(())
}

#[test]
fn replacing_a_delete_orphan_passport_deletes_the_old_one_on_flush() -> orm::Result<()> {
    let fx = members();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        fx.pairs("SELECT id, member_id FROM passports ORDER BY id"),
        [(2, Some(2)), (3, Some(1))]
    );
    Ok(())
}

#[test]
fn moving_a_delete_orphan_passport_to_another_member_is_an_update_not_a_delete() -> orm::Result<()>
{
    let fx = members();
    fx.seed("INSERT INTO members (id, name) VALUES (3, 'Cy');");
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        fx.pairs("SELECT id, member_id FROM passports ORDER BY id"),
        [(1, Some(3)), (2, Some(2))]
    );
    Ok(())
}

// ---------------------------------------------------------------- clearing

#[test]
fn clearing_an_unloaded_user_profile_loads_it_once_and_the_flush_writes_null() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
    assert_eq!(recorder.sql(), [UPDATE_PROFILE_USER]);
    assert_eq!(params(&recorder), [vec![Value::Null, Value::Integer(1)]]);
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(1, None), (2, Some(2)), (3, None)]
    );
    Ok(())
}

#[test]
fn clearing_a_user_without_a_profile_writes_nothing() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let cy = session.get::<User>(3)?;
    assert_eq!(cy.read()?.profile.load()?, None);
    recorder.clear();

    cy.read()?.profile.clear()?;
    assert!(!session.has_changes());
    session.commit()?;
    assert_eq!(recorder.count(), 0, "{:?}", recorder.sql());
    Ok(())
}

#[test]
fn clearing_a_delete_orphan_passport_deletes_it_on_flush() -> orm::Result<()> {
    let fx = members();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let ann = session.get::<Member>(1)?;
    let passport = ann.read()?.passport.load()?.expect("Ann has a passport");
    recorder.clear();

    ann.read()?.passport.clear()?;
    assert_eq!(ann.read()?.passport.load()?, None);
    assert_eq!(recorder.count(), 0);

    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [r#"DELETE FROM "passports" WHERE "id" = ?"#],
        "the orphan is deleted, not updated first"
    );
    assert_eq!(passport.state(), State::Detached);
    assert_eq!(
        fx.pairs("SELECT id, member_id FROM passports"),
        [(2, Some(2))]
    );
    assert_eq!(session.find::<Passport>(1)?, None);
    Ok(())
}

// ----------------------------------------------------------- eager loading

const USERS: i64 = 100;

/// `USERS` users; the even ones have a profile whose bio names its user.
fn many_people() -> Fixture {
    let fx = Fixture::new::<(User, Profile)>("many-people");
    let mut conn = fx.plain();
    let tx = conn.transaction().expect("a transaction starts");
    for user in 1..=USERS {
        tx.execute(
            "INSERT INTO users (id, name) VALUES (?1, ?2)",
            rusqlite::params![user, format!("user {user}")],
        )
        .expect("user inserted");
        if user % 2 == 0 {
            tx.execute(
                "INSERT INTO profiles (bio, user_id) VALUES (?1, ?2)",
                rusqlite::params![format!("bio of {user}"), user],
            )
            .expect("profile inserted");
        }
    }
    tx.commit().expect("the seed commits");
    fx
}

#[test]
fn preloading_user_profile_costs_one_statement_for_a_hundred_users() -> orm::Result<()> {
    let fx = many_people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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

#[test]
fn lazy_profiles_cost_one_statement_per_user() -> orm::Result<()> {
    let fx = many_people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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

#[test]
fn deleting_a_user_cascades_to_its_profile_in_the_database_and_in_memory() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
    assert_eq!(fx.count("SELECT count(*) FROM users"), 2);
    assert_eq!(
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
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

#[test]
fn deleting_the_profile_empties_the_users_loaded_profile() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
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
        fx.pairs("SELECT id, user_id FROM profiles ORDER BY id"),
        [(2, Some(2)), (3, None)]
    );
    Ok(())
}

#[test]
fn rollback_after_a_cascading_delete_restores_the_user_and_its_profile() -> orm::Result<()> {
    let fx = people();
    let recorder = fx.db.recorder();
    let session = fx.db.session();
    let ann = session.get::<User>(1)?;
    let profile = ann.read()?.profile.load()?.expect("Ann has a profile");
    session.delete(&ann)?;
    session.flush()?;
    assert_eq!(profile.state(), State::Deleted);

    session.rollback()?;
    assert_eq!(ann.state(), State::Persistent);
    assert_eq!(profile.state(), State::Persistent);
    assert_eq!(fx.count("SELECT count(*) FROM profiles"), 3);
    recorder.clear();
    assert_eq!(session.get::<Profile>(1)?, profile);
    assert_eq!(recorder.count(), 0, "back in the identity map");
    assert_eq!(ann.read()?.profile.load()?, Some(profile.clone()));
    assert_eq!(profile.read()?.user.load()?, ann);
    Ok(())
}
