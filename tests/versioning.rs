//! Optimistic locking with `#[orm(version)]`: a stale UPDATE or DELETE is a
//! typed error naming the table and key, and the session can reload and retry.

use crate::common;

use common::backend;
use orm::prelude::*;
use orm::{Error, State};

#[derive(Model, Debug)]
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    pub owner: String,
    pub balance: i64,
    #[orm(version)]
    pub version: i64,
}

/// Fills `db` with one account: ann's (key 1), balance 100.
fn seed(db: &Database) -> orm::Result<()> {
    db.create_all::<Account>()?;
    let session = db.session();
    session.add(Account::new("ann", 100));
    session.commit()?;
    Ok(())
}

fn row(db: &Database) -> orm::Result<(i64, i64)> {
    let session = db.session();
    let account = session.get::<Account>(1)?;
    let a = account.read()?;
    Ok((a.balance, a.version))
}

/// Threads adding 1 to ann's balance, each increment retried until it
/// commits: none is lost, and the only failures are typed.
fn concurrent_increments(db: &Database) -> orm::Result<()> {
    const THREADS: i64 = 4;
    const INCREMENTS: i64 = 25;
    seed(db)?;
    db.set_busy_timeout(std::time::Duration::from_millis(20))
        .expect("a busy timeout SQLite accepts");
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = (*db).clone();
            std::thread::spawn(move || -> orm::Result<(i64, Vec<String>)> {
                let mut retries = 0;
                let mut failures = Vec::new();
                for i in 0..INCREMENTS {
                    // One attempt: a session that inserts a row of its own and
                    // adds 1 to the shared balance; a conflict discards it.
                    loop {
                        let attempt = || -> orm::Result<()> {
                            let session = db.session();
                            session.add(Account::new(format!("t{t}-{i}"), 0));
                            let account = session.get::<Account>(1)?;
                            account.write()?.balance += 1;
                            session.commit()
                        };
                        match attempt() {
                            Ok(()) => break,
                            Err(error @ (Error::StaleRow { .. } | Error::Busy { .. })) => {
                                failures.push(error.to_string());
                                retries += 1;
                            }
                            Err(other) => return Err(other),
                        }
                    }
                }
                Ok((retries, failures))
            })
        })
        .collect();
    let mut retries = 0;
    for worker in workers {
        let (r, failures) = worker.join().expect("a writer thread panicked")?;
        retries += r;
        assert!(failures.iter().all(|f| !f.is_empty()));
    }
    let session = db.session();
    let account = session.get::<Account>(1)?;
    assert_eq!(
        account.read()?.balance,
        100 + THREADS * INCREMENTS,
        "no increment lost ({retries} retries)"
    );
    assert_eq!(account.read()?.version, 1 + THREADS * INCREMENTS);
    // One row per successful increment, none lost, none duplicated.
    let rows = session.query::<Account>().count()?;
    assert_eq!(rows as i64, 1 + THREADS * INCREMENTS);
    let names: std::collections::HashSet<String> = session
        .query::<Account>()
        .all()?
        .iter()
        .map(|a| a.read().map(|a| a.owner.clone()))
        .collect::<orm::Result<_>>()?;
    assert_eq!(names.len() as i64, 1 + THREADS * INCREMENTS);
    Ok(())
}

/// The same on a database file in WAL mode, where readers do not wait for
/// the writer (SQLite only: the matrix's SQLite database is in memory).
#[test]
fn concurrent_writers_on_a_wal_file_lose_no_update() -> orm::Result<()> {
    let fx = common::Fixture::empty("versioning-threads");
    concurrent_increments(&fx.db)
}

backend_tests! {
    fn an_insert_starts_the_version_at_one(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(row(&db)?, (100, 1));
        Ok(())
    }

    fn an_update_checks_and_bumps_the_version(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let account = session.get::<Account>(1)?;
        account.write()?.balance = 150;
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(
            backend::sql(&recorder),
            [r#"UPDATE "accounts" SET "balance" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#]
        );
        let params = &recorder.statements()[1].params;
        assert_eq!(
            params,
            &[
                orm::Value::Integer(150),
                orm::Value::Integer(2),
                orm::Value::Integer(1),
                orm::Value::Integer(1),
            ]
        );
        assert_eq!(account.read()?.version, 2);
        assert_eq!(row(&db)?, (150, 2));
        Ok(())
    }

    fn a_stale_update_is_an_error_and_a_refresh_lets_it_be_retried(db) -> orm::Result<()> {
        seed(&db)?;
        let mine = db.session();
        let theirs = db.session();
        let account = mine.get::<Account>(1)?;
        let other = theirs.get::<Account>(1)?;

        other.write()?.balance = 90;
        theirs.commit()?;

        account.write()?.balance = 120;
        let error = mine
            .commit()
            .expect_err("the row changed since it was loaded");
        match &error {
            Error::StaleRow { table, key } => {
                assert_eq!(table, "accounts");
                assert_eq!(key, "1");
            }
            other => panic!("expected StaleRow, got {other:?}"),
        }
        assert_eq!(row(&db)?, (90, 2), "the stale write changed nothing");

        // Reload (discarding the stale change), apply it again, commit.
        mine.refresh(&account)?;
        assert_eq!(account.read()?.balance, 90);
        assert_eq!(account.read()?.version, 2);
        account.write()?.balance += 30;
        mine.commit()?;
        assert_eq!(row(&db)?, (120, 3));
        Ok(())
    }

    fn a_stale_delete_is_an_error_and_deletes_nothing(db) -> orm::Result<()> {
        seed(&db)?;
        let mine = db.session();
        let theirs = db.session();
        let account = mine.get::<Account>(1)?;
        let other = theirs.get::<Account>(1)?;
        other.write()?.owner = "ann b.".into();
        theirs.commit()?;

        mine.delete(&account)?;
        assert!(matches!(mine.commit(), Err(Error::StaleRow { .. })));
        assert_eq!(row(&db)?, (100, 2));
        assert_eq!(
            account.state(),
            State::Deleted,
            "still marked, nothing written"
        );
        Ok(())
    }

    fn an_unchanged_object_with_a_version_costs_no_statement(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let account = session.get::<Account>(1)?;
        let balance = account.read()?.balance;
        account.write()?.balance = balance;
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn concurrent_writers_with_retries_lose_no_update_and_fail_only_with_typed_errors(db)
    -> orm::Result<()> {
        concurrent_increments(&db)
    }
}
