//! Optimistic locking with `#[orm(version)]`: a stale UPDATE or DELETE is a
//! typed error naming the table and key, and the session can reload and retry.

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

fn database(name: &str) -> orm::Result<Database> {
    let path =
        std::env::temp_dir().join(format!("orm-versioning-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let db = Database::open(&path)?;
    db.create_all::<Account>()?;
    let session = db.session();
    session.add(Account::new("ann", 100));
    session.commit()?;
    Ok(db)
}

fn row(db: &Database) -> orm::Result<(i64, i64)> {
    let session = db.session();
    let account = session.get::<Account>(1)?;
    let a = account.read()?;
    Ok((a.balance, a.version))
}

#[test]
fn an_insert_starts_the_version_at_one() -> orm::Result<()> {
    let db = database("insert")?;
    assert_eq!(row(&db)?, (100, 1));
    Ok(())
}

#[test]
fn an_update_checks_and_bumps_the_version() -> orm::Result<()> {
    let db = database("bump")?;
    let session = db.session();
    let account = session.get::<Account>(1)?;
    account.write()?.balance = 150;
    let recorder = db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
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

#[test]
fn a_stale_update_is_an_error_and_a_refresh_lets_it_be_retried() -> orm::Result<()> {
    let db = database("stale")?;
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

#[test]
fn a_stale_delete_is_an_error_and_deletes_nothing() -> orm::Result<()> {
    let db = database("delete")?;
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

#[test]
fn an_unchanged_object_with_a_version_costs_no_statement() -> orm::Result<()> {
    let db = database("unchanged")?;
    let session = db.session();
    let account = session.get::<Account>(1)?;
    let balance = account.read()?.balance;
    account.write()?.balance = balance;
    let recorder = db.recorder();
    session.commit()?;
    assert_eq!(recorder.count(), 0);
    Ok(())
}

#[test]
fn concurrent_writers_with_retries_lose_no_update_and_fail_only_with_typed_errors()
-> orm::Result<()> {
    const THREADS: i64 = 4;
    const INCREMENTS: i64 = 25;
    let db = database("threads")?;
    db.set_busy_timeout(std::time::Duration::from_millis(20))
        .expect("a busy timeout SQLite accepts");
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
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
