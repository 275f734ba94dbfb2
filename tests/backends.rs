//! What the backends must agree on at their edges (constraint errors named
//! the same way, whatever the driver says), and what only a server has: a
//! connection the server closes, many threads with a session each on one
//! server, and the isolation of their transactions.

#[macro_use]
mod common;

use orm::prelude::*;
use orm::{ConstraintKind, Error};

#[derive(Model, Debug)]
#[orm(table = "owners")]
pub struct Owner {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub email: String,
    #[orm(back_populates = "owner")]
    pub pets: HasMany<Pet>,
}

#[derive(Model, Debug)]
#[orm(table = "pets")]
pub struct Pet {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "pets")]
    pub owner: BelongsTo<Owner>,
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

fn constraint(result: orm::Result<()>) -> (String, ConstraintKind) {
    match result {
        Err(Error::Constraint { table, kind, .. }) => (table, kind),
        other => panic!("expected a constraint error, got {other:?}"),
    }
}

backend_tests! {
    fn a_duplicate_unique_value_is_a_unique_constraint_error_naming_the_table(db) -> orm::Result<()> {
        db.create_all::<(Owner, Pet)>()?;
        let session = db.session();
        session.add(Owner::new("ann@example.com"));
        session.commit()?;
        session.add(Owner::new("ann@example.com"));
        assert_eq!(
            constraint(session.commit()),
            ("owners".to_owned(), ConstraintKind::Unique)
        );
        // Nothing half-written, and the session goes on.
        session.rollback()?;
        let count: Vec<i64> = session.sql_values("SELECT count(*) FROM owners", &[])?;
        assert_eq!(count, [1]);
        Ok(())
    }

    fn a_key_that_matches_no_row_is_a_foreign_key_error(db) -> orm::Result<()> {
        db.create_all::<(Owner, Pet)>()?;
        let session = db.session();
        let changed = session.execute(
            "INSERT INTO pets (name, owner_id) VALUES ($1, $2)",
            &[&"rex", &99_i64],
        );
        assert!(matches!(
            changed,
            Err(Error::Constraint { kind: ConstraintKind::ForeignKey, .. })
        ), "{changed:?}");
        Ok(())
    }

    fn null_in_a_not_null_column_is_a_not_null_error(db) -> orm::Result<()> {
        db.create_all::<(Owner, Pet)>()?;
        let session = db.session();
        let changed = session.execute("INSERT INTO owners (email) VALUES ($1)", &[&None::<String>]);
        assert!(matches!(
            changed,
            Err(Error::Constraint { kind: ConstraintKind::NotNull, .. })
        ), "{changed:?}");
        Ok(())
    }

    fn keys_are_assigned_by_the_database_and_read_back_into_the_objects(db) -> orm::Result<()> {
        db.create_all::<(Owner, Pet)>()?;
        let session = db.session();
        let ann = session.add(Owner::new("ann@example.com"));
        let bob = session.add(Owner::new("bob@example.com"));
        let rex = session.add(Pet::new("rex"));
        rex.read()?.owner.set(&bob)?;
        session.commit()?;
        assert_eq!((ann.read()?.id, bob.read()?.id, rex.read()?.id), (1, 2, 1));
        let pairs: Vec<(String, i64)> = session.sql_values(
            "SELECT pets.name, owners.id FROM pets JOIN owners ON owners.id = pets.owner_id",
            &[],
        )?;
        assert_eq!(pairs, [("rex".to_owned(), 2)]);
        Ok(())
    }
}

/// A fresh PostgreSQL database, or `None` (the test then returns) where
/// no server is configured.
fn server() -> Option<common::backend::TestDb> {
    common::backend::postgres()
}

#[test]
fn a_connection_the_server_closes_is_a_typed_error_and_the_session_goes_on() -> orm::Result<()> {
    let Some(db) = server() else { return Ok(()) };
    db.create_all::<(Owner, Pet)>()?;
    let session = db.session();
    session.add(Owner::new("ann@example.com"));
    session.commit()?;
    let pid: Vec<i32> = session.sql_values("SELECT pg_backend_pid()", &[])?;
    let killer = db.session();
    let _: Vec<bool> = killer.sql_values("SELECT pg_terminate_backend($1)", &[&pid[0]])?;

    let lost = session.sql_values::<i64>("SELECT count(*) FROM owners", &[]);
    assert!(
        matches!(lost, Err(Error::ConnectionLost { .. })),
        "{lost:?}"
    );
    // The next statement runs on a new connection.
    let count: Vec<i64> = session.sql_values("SELECT count(*) FROM owners", &[])?;
    assert_eq!(count, [1]);
    let ann = session.get::<Owner>(1)?;
    assert_eq!(ann.read()?.email, "ann@example.com");
    Ok(())
}

#[test]
fn a_transaction_lost_with_its_connection_is_not_committed_by_the_next_one() -> orm::Result<()> {
    let Some(db) = server() else { return Ok(()) };
    db.create_all::<(Owner, Pet)>()?;
    let session = db.session();
    let ann = session.add(Owner::new("ann@example.com"));
    session.flush()?;
    let pid: Vec<i32> = session.sql_values("SELECT pg_backend_pid()", &[])?;
    let killer = db.session();
    let _: Vec<bool> = killer.sql_values("SELECT pg_terminate_backend($1)", &[&pid[0]])?;

    assert!(matches!(
        session.commit(),
        Err(Error::ConnectionLost { .. })
    ));
    // Memory follows the database, as after a rollback: the object added
    // in the lost transaction is out of the session again, and adding and
    // committing it now writes it for real.
    assert_eq!(ann.state(), orm::State::Transient);
    assert_eq!(session.len(), 0);
    session.add_handle(&ann)?;
    session.commit()?;
    let other = db.session();
    let emails: Vec<String> = other.sql_values("SELECT email FROM owners", &[])?;
    assert_eq!(emails, ["ann@example.com"]);
    Ok(())
}

#[test]
fn many_threads_each_with_a_session_share_one_server() -> orm::Result<()> {
    let Some(db) = server() else { return Ok(()) };
    db.create_all::<(Owner, Pet)>()?;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db: Database = (*db).clone();
            std::thread::spawn(move || -> orm::Result<()> {
                for i in 0..10 {
                    let session = db.session();
                    let owner = session.add(Owner::new(format!("owner-{t}-{i}@example.com")));
                    let pet = session.add(Pet::new(format!("pet-{t}-{i}")));
                    pet.read()?.owner.set(&owner)?;
                    session.commit()?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("the thread does not panic")?;
    }
    let session = db.session();
    let counts: Vec<(i64, i64)> = session.sql_values(
        "SELECT (SELECT count(*) FROM owners), (SELECT count(*) FROM pets WHERE owner_id IS NOT NULL)",
        &[],
    )?;
    assert_eq!(counts, [(80, 80)]);
    Ok(())
}

#[test]
fn two_sessions_updating_one_versioned_row_the_second_is_stale() -> orm::Result<()> {
    let Some(db) = server() else { return Ok(()) };
    db.create_all::<Account>()?;
    let setup = db.session();
    setup.add(Account::new(100));
    setup.commit()?;

    let first = db.session();
    let second = db.session();
    let a = first.get::<Account>(1)?;
    let b = second.get::<Account>(1)?;
    a.write()?.balance = 150;
    first.commit()?;
    b.write()?.balance = 50;
    assert!(matches!(second.commit(), Err(Error::StaleRow { .. })));
    let balances: Vec<(i64, i64)> = db
        .session()
        .sql_values("SELECT balance, version FROM accounts", &[])?;
    assert_eq!(balances, [(150, 2)]);
    Ok(())
}

#[test]
fn a_row_locked_by_another_transaction_past_the_timeout_is_busy() -> orm::Result<()> {
    let Some(test_db) = server() else {
        return Ok(());
    };
    test_db.create_all::<Account>()?;
    let setup = test_db.session();
    setup.add(Account::new(100));
    setup.commit()?;

    let holder = test_db.session();
    holder.get::<Account>(1)?.write()?.balance = 1;
    holder.flush()?; // holds the row's lock until it ends
    test_db.set_busy_timeout(std::time::Duration::from_millis(100))?;
    let waiter = test_db.session();
    let changed = waiter.execute("UPDATE accounts SET balance = 2 WHERE id = 1", &[]);
    holder.rollback()?;
    assert!(matches!(changed, Err(Error::Busy { .. })), "{changed:?}");
    Ok(())
}
