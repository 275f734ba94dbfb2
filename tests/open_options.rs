//! Open options: each option is read back, as SQLite reports it, from every
//! connection the database opens (two sessions at once hold two
//! connections); the connect hook runs once per new connection, not per
//! session; a failing hook is a typed error that pools nothing and loses
//! nothing; a lock another connection holds while the database opens is
//! `Error::Busy`.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Scratch;
use orm::prelude::*;
use orm::{Error, FromRow, JournalMode, NewConnection, Synchronous};
use rusqlite::ErrorCode;

#[derive(Model, Debug)]
#[orm(table = "notes")]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub text: String,
}

/// What a session's connection was opened with, as SQLite reports it.
#[derive(Debug, PartialEq)]
struct Pragmas {
    journal_mode: String,
    synchronous: i64,
    foreign_keys: bool,
    busy_timeout: i64,
}

impl Pragmas {
    fn of(session: &Session) -> orm::Result<Pragmas> {
        Ok(Pragmas {
            journal_mode: one(session, "PRAGMA journal_mode")?,
            synchronous: one(session, "PRAGMA synchronous")?,
            foreign_keys: one(session, "PRAGMA foreign_keys")?,
            busy_timeout: one(session, "PRAGMA busy_timeout")?,
        })
    }
}

/// The one value `sql` returns, read through `session`'s connection.
fn one<T: FromRow>(session: &Session, sql: &str) -> orm::Result<T> {
    let mut values = session.sql_values::<T>(sql, &[])?;
    assert_eq!(values.len(), 1, "`{sql}` returns one row");
    Ok(values.remove(0))
}

/// Counts the connections a hook ran on.
#[derive(Clone, Default)]
struct Opened(Arc<AtomicUsize>);

impl Opened {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn is_sqlite(error: &Error, code: ErrorCode) -> bool {
    matches!(error, Error::Sqlite(e) if e.sqlite_error_code() == Some(code))
}

// ---------------------------------------------------------------- defaults

#[test]
fn a_file_opens_in_wal_with_foreign_keys_on_and_a_five_second_busy_timeout() -> orm::Result<()> {
    let scratch = Scratch::new();
    let expected = Pragmas {
        journal_mode: "wal".into(),
        synchronous: 2,
        foreign_keys: true,
        busy_timeout: 5000,
    };
    let db = Database::open(scratch.db_path())?;
    assert_eq!(Pragmas::of(&db.session())?, expected);
    drop(db);
    let db = Database::options().open(scratch.db_path())?;
    assert_eq!(Pragmas::of(&db.session())?, expected);
    Ok(())
}

#[test]
fn an_in_memory_database_keeps_its_journal_in_memory_with_foreign_keys_on() -> orm::Result<()> {
    let expected = Pragmas {
        journal_mode: "memory".into(),
        synchronous: 2,
        foreign_keys: true,
        busy_timeout: 5000,
    };
    assert_eq!(Pragmas::of(&Database::in_memory()?.session())?, expected);
    assert_eq!(
        Pragmas::of(&Database::options().in_memory()?.session())?,
        expected
    );
    Ok(())
}

// ------------------------------------------------------------ each option

#[test]
fn every_option_is_set_on_every_connection_the_database_opens() -> orm::Result<()> {
    let scratch = Scratch::new();
    let opened = Opened::default();
    let counter = opened.clone();
    let db = Database::options()
        .busy_timeout(Duration::from_millis(250))
        .journal_mode(JournalMode::Truncate)
        .synchronous(Synchronous::Normal)
        .foreign_keys(false)
        .on_connect(move |_| {
            counter.count();
            Ok::<_, Error>(())
        })
        .open(scratch.db_path())?;
    let expected = Pragmas {
        journal_mode: "truncate".into(),
        synchronous: 1,
        foreign_keys: false,
        busy_timeout: 250,
    };

    let (first, second) = (db.session(), db.session());
    assert_eq!(Pragmas::of(&first)?, expected);
    assert_eq!(Pragmas::of(&second)?, expected);
    assert_eq!(opened.get(), 2, "the two sessions hold two connections");
    Ok(())
}

#[test]
fn each_journal_mode_is_the_one_sqlite_reports_for_a_file() -> orm::Result<()> {
    let modes = [
        (JournalMode::Wal, "wal"),
        (JournalMode::Delete, "delete"),
        (JournalMode::Truncate, "truncate"),
        (JournalMode::Persist, "persist"),
        (JournalMode::Memory, "memory"),
        (JournalMode::Off, "off"),
    ];
    for (mode, reported) in modes {
        let scratch = Scratch::new();
        let db = Database::options()
            .journal_mode(mode)
            .open(scratch.db_path())?;
        let (first, second) = (db.session(), db.session());
        for session in [&first, &second] {
            assert_eq!(one::<String>(session, "PRAGMA journal_mode")?, reported);
        }
    }
    Ok(())
}

#[test]
fn in_memory_wal_is_not_available_and_off_turns_the_journal_off() -> orm::Result<()> {
    let wal = Database::options()
        .journal_mode(JournalMode::Wal)
        .in_memory()?;
    assert_eq!(
        one::<String>(&wal.session(), "PRAGMA journal_mode")?,
        "memory"
    );
    let off = Database::options()
        .journal_mode(JournalMode::Off)
        .in_memory()?;
    let (first, second) = (off.session(), off.session());
    assert_eq!(one::<String>(&first, "PRAGMA journal_mode")?, "off");
    assert_eq!(one::<String>(&second, "PRAGMA journal_mode")?, "off");
    Ok(())
}

#[test]
fn each_synchronous_level_is_the_one_sqlite_reports() -> orm::Result<()> {
    let levels = [
        (Synchronous::Off, 0),
        (Synchronous::Normal, 1),
        (Synchronous::Full, 2),
        (Synchronous::Extra, 3),
    ];
    for (level, reported) in levels {
        let db = Database::options().synchronous(level).in_memory()?;
        let (first, second) = (db.session(), db.session());
        for session in [&first, &second] {
            assert_eq!(one::<i64>(session, "PRAGMA synchronous")?, reported);
        }
    }
    Ok(())
}

#[test]
fn without_foreign_keys_a_child_may_point_at_a_missing_parent() -> orm::Result<()> {
    let schema = "CREATE TABLE parents (id INTEGER PRIMARY KEY);
                  CREATE TABLE children (id INTEGER PRIMARY KEY,
                                         parent_id INTEGER REFERENCES parents (id))";
    let enforced = Database::in_memory()?;
    enforced.execute_batch(schema)?;
    let refused = enforced
        .session()
        .execute("INSERT INTO children VALUES (1, 99)", &[]);
    assert!(
        matches!(refused, Err(Error::Constraint { .. })),
        "{refused:?}"
    );

    let unenforced = Database::options().foreign_keys(false).in_memory()?;
    unenforced.execute_batch(schema)?;
    let session = unenforced.session();
    session.execute("INSERT INTO children VALUES (1, 99)", &[])?;
    session.commit()?;
    Ok(())
}

#[test]
fn foreign_keys_turned_off_stay_off_after_a_migration() -> orm::Result<()> {
    let scratch = Scratch::new();
    let migrations = scratch.migrations();
    std::fs::create_dir_all(migrations.dir()).expect("the migrations folder can be made");
    std::fs::write(
        migrations.dir().join("1_notes.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);",
    )
    .expect("a migration file can be written");
    let db = Database::options()
        .foreign_keys(false)
        .open(scratch.db_path())?;

    db.migrate(&migrations)?;
    // One connection in the pool: the one the migration ran on.
    assert!(!one::<bool>(&db.session(), "PRAGMA foreign_keys")?);
    Ok(())
}

#[test]
fn a_busy_timeout_changed_after_opening_applies_to_pooled_and_new_connections() -> orm::Result<()> {
    let db = Database::options()
        .busy_timeout(Duration::from_millis(250))
        .in_memory()?;
    db.set_busy_timeout(Duration::from_millis(300))?;
    let (pooled, new) = (db.session(), db.session());
    assert_eq!(one::<i64>(&pooled, "PRAGMA busy_timeout")?, 300);
    assert_eq!(one::<i64>(&new, "PRAGMA busy_timeout")?, 300);
    Ok(())
}

#[test]
fn a_busy_timeout_longer_than_sqlite_accepts_fails_the_opening_and_creates_nothing() {
    let scratch = Scratch::new();
    let opened = Database::options()
        .busy_timeout(Duration::from_secs(u64::from(u32::MAX)))
        .open(scratch.db_path());
    assert!(
        matches!(&opened, Err(Error::OutOfRange { what, .. }) if what == "the busy timeout"),
        "{opened:?}"
    );
    assert!(!scratch.db_path().exists());
}

#[test]
fn a_read_only_database_reads_in_the_files_journal_mode_and_refuses_writes() -> orm::Result<()> {
    let scratch = Scratch::new();
    let writer = Database::open(scratch.db_path())?;
    writer.create_all::<Note>()?;
    writer.execute_batch("INSERT INTO notes (text) VALUES ('kept')")?;
    drop(writer);

    let db = Database::options()
        .read_only(true)
        .journal_mode(JournalMode::Delete)
        .open(scratch.db_path())?;
    let session = db.session();
    assert_eq!(one::<String>(&session, "PRAGMA journal_mode")?, "wal");
    assert_eq!(session.query::<Note>().count()?, 1);
    let note = session.add(Note::new("refused"));
    let error = session.commit().expect_err("the database is read-only");
    assert!(is_sqlite(&error, ErrorCode::ReadOnly), "{error:?}");
    assert_eq!(note.state(), orm::State::Pending);
    Ok(())
}

#[test]
fn a_read_only_database_does_not_create_a_missing_file() {
    let scratch = Scratch::new();
    let opened = Database::options().read_only(true).open(scratch.db_path());
    let error = opened.expect_err("there is no file to read");
    assert!(is_sqlite(&error, ErrorCode::CannotOpen), "{error:?}");
    assert!(!scratch.db_path().exists());
}

#[test]
fn without_create_if_missing_a_missing_file_is_an_error_and_an_existing_one_opens()
-> orm::Result<()> {
    let scratch = Scratch::new();
    let opened = Database::options()
        .create_if_missing(false)
        .open(scratch.db_path());
    let error = opened.expect_err("there is no file");
    assert!(is_sqlite(&error, ErrorCode::CannotOpen), "{error:?}");
    assert!(!scratch.db_path().exists());

    drop(Database::open(scratch.db_path())?);
    let db = Database::options()
        .create_if_missing(false)
        .open(scratch.db_path())?;
    db.create_all::<Note>()?;
    Ok(())
}

// ------------------------------------------------------------------- hook

#[test]
fn the_hook_runs_once_per_new_connection_and_its_pragma_holds_on_each() -> orm::Result<()> {
    let scratch = Scratch::new();
    let opened = Opened::default();
    let counter = opened.clone();
    let db = Database::options()
        .on_connect(move |conn: &NewConnection| {
            counter.count();
            conn.pragma_update("cache_size", -1234)
        })
        .open(scratch.db_path())?;
    assert_eq!(opened.get(), 1, "opening opens one connection");

    let (first, second) = (db.session(), db.session());
    assert_eq!(one::<i64>(&first, "PRAGMA cache_size")?, -1234);
    assert_eq!(one::<i64>(&second, "PRAGMA cache_size")?, -1234);
    assert_eq!(opened.get(), 2);
    drop((first, second));

    // Both connections come back from the pool: the hook does not run.
    let (first, second) = (db.session(), db.session());
    assert_eq!(one::<i64>(&first, "PRAGMA cache_size")?, -1234);
    assert_eq!(one::<i64>(&second, "PRAGMA cache_size")?, -1234);
    assert_eq!(opened.get(), 2);

    let third = db.session();
    assert_eq!(one::<i64>(&third, "PRAGMA cache_size")?, -1234);
    assert_eq!(opened.get(), 3);
    Ok(())
}

#[test]
fn hooks_run_in_the_order_they_were_added() -> orm::Result<()> {
    let db = Database::options()
        .on_connect(|conn| conn.execute_batch("CREATE TEMP TABLE steps (step TEXT)"))
        .on_connect(|conn| conn.execute_batch("INSERT INTO steps VALUES ('second')"))
        .in_memory()?;
    let (first, second) = (db.session(), db.session());
    for session in [&first, &second] {
        assert_eq!(
            session.sql_values::<String>("SELECT step FROM steps", &[])?,
            ["second"]
        );
    }
    Ok(())
}

#[test]
fn a_failing_hook_fails_the_session_with_a_typed_error_pools_nothing_and_loses_nothing()
-> orm::Result<()> {
    let scratch = Scratch::new();
    let failing = Arc::new(AtomicBool::new(false));
    let opened = Opened::default();
    let (fail, counter) = (Arc::clone(&failing), opened.clone());
    let db = Database::options()
        .on_connect(move |conn: &NewConnection| {
            counter.count();
            if fail.load(Ordering::SeqCst) {
                conn.execute_batch("SELECT no_such_function()")?;
            }
            conn.pragma_update("cache_size", -1234)
        })
        .open(scratch.db_path())?;
    db.create_all::<Note>()?;
    let holder = db.session();
    holder.query::<Note>().count()?; // holds the one pooled connection

    failing.store(true, Ordering::SeqCst);
    let session = db.session();
    let note = session.add(Note::new("survives"));
    for attempt in 2..4 {
        let error = session.commit().expect_err("the hook fails");
        let Error::OnConnect { source } = &error else {
            panic!("expected OnConnect, got {error:?}");
        };
        let cause = source
            .downcast_ref::<Error>()
            .expect("the hook's orm error");
        assert!(matches!(cause, Error::Sqlite(_)), "{cause:?}");
        assert!(error.to_string().contains("no such function"), "{error}");
        // Each attempt opened a new connection: the failed one was closed.
        assert_eq!(opened.get(), attempt);
        assert_eq!(note.state(), orm::State::Pending);
    }

    failing.store(false, Ordering::SeqCst);
    session.commit()?;
    assert_eq!(opened.get(), 4);
    assert_eq!(note.state(), orm::State::Persistent);
    assert_eq!(one::<i64>(&session, "PRAGMA cache_size")?, -1234);
    assert_eq!(holder.query::<Note>().count()?, 1);
    Ok(())
}

#[test]
fn a_hook_that_fails_on_the_first_connection_fails_the_opening() {
    let scratch = Scratch::new();
    let refuse = |_: &NewConnection| Err("no licence for this database");
    for opened in [
        Database::options()
            .on_connect(refuse)
            .open(scratch.db_path()),
        Database::options().on_connect(refuse).in_memory(),
    ] {
        let error = opened.expect_err("the hook refuses");
        assert!(
            matches!(&error, Error::OnConnect { source } if source.to_string() == "no licence for this database"),
            "{error:?}"
        );
    }
}

// ------------------------------------------------------------ busy on open

#[test]
fn a_lock_held_while_the_database_opens_is_busy_and_opening_works_once_it_is_released()
-> orm::Result<()> {
    let scratch = Scratch::new();
    // A file in SQLite's default journal mode: switching it to WAL needs
    // the lock the blocker holds.
    let blocker = rusqlite::Connection::open(scratch.db_path()).expect("the file opens");
    blocker
        .execute_batch("CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE")
        .expect("the blocker takes the exclusive lock");

    let started = Instant::now();
    let opened = Database::options()
        .busy_timeout(Duration::from_millis(100))
        .open(scratch.db_path());
    let error = opened.expect_err("the lock is held");
    assert!(
        matches!(&error, Error::Busy { table } if table.is_empty()),
        "{error:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(100), "it waited");
    assert_eq!(
        error.to_string(),
        "database is busy (another connection holds the lock past the busy timeout)"
    );

    blocker
        .execute_batch("ROLLBACK")
        .expect("the lock is released");
    let db = Database::options()
        .busy_timeout(Duration::from_millis(100))
        .open(scratch.db_path())?;
    assert_eq!(one::<String>(&db.session(), "PRAGMA journal_mode")?, "wal");
    Ok(())
}

#[test]
fn a_lock_held_while_the_pool_opens_a_connection_is_busy_for_that_session() -> orm::Result<()> {
    let scratch = Scratch::new();
    let db = Database::options()
        .journal_mode(JournalMode::Delete)
        .busy_timeout(Duration::from_millis(50))
        .open(scratch.db_path())?;
    let holder = db.session();
    one::<String>(&holder, "PRAGMA journal_mode")?; // holds the pooled connection
    let blocker = rusqlite::Connection::open(scratch.db_path()).expect("the file opens");
    blocker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("the blocker takes the exclusive lock");

    let session = db.session();
    let error = one::<String>(&session, "PRAGMA journal_mode").expect_err("the lock is held");
    assert!(
        matches!(&error, Error::Busy { table } if table.is_empty()),
        "{error:?}"
    );

    blocker
        .execute_batch("ROLLBACK")
        .expect("the lock is released");
    assert_eq!(one::<String>(&session, "PRAGMA journal_mode")?, "delete");
    Ok(())
}
