//! Threads: one `Database` shared by threads, a session per thread, the
//! isolation between them, and a busy database (a write waiting for a lock
//! another session holds) as a typed error that loses nothing. Each test
//! runs on SQLite (a database file, whose WAL lets readers read while a
//! writer writes) and on PostgreSQL.

use crate::common;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use common::Fixture;
use orm::prelude::*;
use orm::{Backend, Error, State};

#[derive(Model, Debug)]
#[orm(table = "events")]
pub struct Event {
    #[orm(primary_key)]
    pub id: i64,
    pub source: String,
    pub n: i64,
}

/// A server keeps one `Database` and hands clones to its threads.
const _: () = {
    const fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Database>();
};

/// `db` with the events table: on PostgreSQL `db` itself; on SQLite a
/// new database file, kept in `file` (an in-memory database has no WAL:
/// its readers would wait for the writer).
fn events_database<'a>(
    db: &'a Database,
    file: &'a mut Option<Fixture>,
) -> orm::Result<&'a Database> {
    let db = match db.backend() {
        Backend::Postgres => db,
        _ => &file.insert(Fixture::empty("threads")).db,
    };
    db.create_all::<Event>()?;
    Ok(db)
}

/// Waits for the other thread to reach a step. Fails (instead of hanging)
/// when the other thread stopped early: its sender is gone then.
fn wait_for(steps: &Receiver<&'static str>, expected: &str) {
    let step = steps
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the other thread did not reach `{expected}`: {e}"));
    assert_eq!(step, expected);
}

fn tell(steps: &Sender<&'static str>, step: &'static str) {
    // The other thread may have failed and gone; its own error reports that.
    let _ = steps.send(step);
}

/// (source, n) of every committed event, in id order, read by a new session.
fn committed_events(db: &Database) -> orm::Result<Vec<(String, i64)>> {
    let session = db.session();
    let events = session.query::<Event>().order_by(Event::ID.asc()).all()?;
    events
        .iter()
        .map(|e| {
            let e = e.read()?;
            Ok((e.source.clone(), e.n))
        })
        .collect()
}

/// Commits the event ("existing", 1), id 1, and sets a busy timeout of
/// 100 ms.
fn existing_event(db: &Database) -> orm::Result<()> {
    let setup = db.session();
    setup.add(Event::new("existing", 1));
    setup.commit()?;
    drop(setup);
    db.set_busy_timeout(Duration::from_millis(100))
        .expect("a busy timeout SQLite accepts");
    Ok(())
}

/// Runs `blocked` in this thread while another session, in another thread,
/// holds a write transaction open: it flushed a change of the existing
/// event (n = 10, which locks the row on PostgreSQL; on SQLite any write
/// locks the database) and a new row ("holder", 0), and has not
/// committed. Afterwards the holder commits.
fn while_another_thread_holds_the_write_lock(
    db: &Database,
    blocked: impl FnOnce() -> orm::Result<()>,
) -> orm::Result<()> {
    let (to_main, from_holder) = channel();
    let (to_holder, from_main) = channel();
    let holder = {
        let db = db.clone();
        thread::spawn(move || -> orm::Result<()> {
            let session = db.session();
            session.get::<Event>(1)?.write()?.n = 10;
            session.add(Event::new("holder", 0));
            session.flush()?;
            tell(&to_main, "holding");
            wait_for(&from_main, "done");
            session.commit()
        })
    };
    wait_for(&from_holder, "holding");
    let result = blocked();
    tell(&to_holder, "done");
    holder.join().expect("the holder did not panic")?;
    result
}

backend_tests! {
    fn sessions_in_two_threads_both_commit(db) -> orm::Result<()> {
        let mut file = None;
        let db = events_database(&db, &mut file)?;
        let workers: Vec<_> = ["left", "right"]
            .into_iter()
            .map(|source| {
                let db = db.clone();
                thread::spawn(move || -> orm::Result<()> {
                    for n in 0..25 {
                        let session = db.session();
                        session.add(Event::new(source, n));
                        session.add(Event::new(source, n + 100));
                        session.commit()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("the worker did not panic")?;
        }
        let session = db.session();
        for source in ["left", "right"] {
            let count = session
                .query::<Event>()
                .filter(Event::SOURCE.eq(source))
                .count()?;
            assert_eq!(count, 50, "{source}");
        }
        Ok(())
    }

    fn neither_session_sees_the_other_sessions_uncommitted_rows(db) -> orm::Result<()> {
        let mut file = None;
        let db = events_database(&db, &mut file)?;
        let (to_b, from_a) = channel();
        let (to_a, from_b) = channel();

        let a = {
            let db = db.clone();
            thread::spawn(move || -> orm::Result<Vec<usize>> {
                let session = db.session();
                let mut seen = Vec::new();
                session.add(Event::new("a", 1));
                session.flush()?;
                tell(&to_b, "a flushed");
                wait_for(&from_b, "b looked");
                session.commit()?;
                tell(&to_b, "a committed");
                wait_for(&from_b, "b flushed");
                seen.push(session.query::<Event>().count()?);
                tell(&to_b, "a looked");
                wait_for(&from_b, "b committed");
                seen.push(session.query::<Event>().count()?);
                Ok(seen)
            })
        };

        let session = db.session();
        wait_for(&from_a, "a flushed");
        let before_a_commits = session.query::<Event>().count()?;
        tell(&to_a, "b looked");
        wait_for(&from_a, "a committed");
        let after_a_commits = session.query::<Event>().all()?;
        session.add(Event::new("b", 2));
        session.flush()?;
        tell(&to_a, "b flushed");
        wait_for(&from_a, "a looked");
        session.commit()?;
        tell(&to_a, "b committed");

        let seen_by_a = a.join().expect("thread a did not panic")?;
        assert_eq!(before_a_commits, 0, "b does not see a's flushed row");
        assert_eq!(after_a_commits.len(), 1, "b sees a's committed row");
        assert_eq!(after_a_commits[0].read()?.source, "a");
        assert_eq!(
            seen_by_a,
            [1, 2],
            "a sees b's row only once b has committed"
        );
        assert_eq!(
            committed_events(db)?,
            [("a".to_owned(), 1), ("b".to_owned(), 2)]
        );
        Ok(())
    }

    fn a_write_blocked_past_the_busy_timeout_is_busy_and_loses_nothing(db) -> orm::Result<()> {
        let mut file = None;
        let db = events_database(&db, &mut file)?;
        existing_event(db)?;

        let session = db.session();
        let existing = session.get::<Event>(1)?;
        let mut added = None;
        while_another_thread_holds_the_write_lock(db, || {
            existing.write()?.n = 2;
            let event = session.add(Event::new("blocked", 3));
            let started = Instant::now();
            let error = session
                .commit()
                .expect_err("the other session holds the lock");
            assert!(matches!(error, Error::Busy { .. }), "{error:?}");
            assert!(
                started.elapsed() >= Duration::from_millis(100),
                "it waited for the busy timeout"
            );
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "it did not wait for the default timeout"
            );
            assert_eq!(event.state(), State::Pending);
            assert_eq!(event.read()?.id, 0);
            assert_eq!(existing.changes()?.len(), 1, "the change still waits");
            added = Some(event);
            Ok(())
        })?;

        // The lock is free again: the same session writes everything it held.
        session.commit()?;
        let event = added.expect("the blocked write ran");
        assert_eq!(event.state(), State::Persistent);
        assert!(existing.changes()?.is_empty());
        assert_eq!(
            committed_events(db)?,
            [
                ("existing".to_owned(), 2),
                ("holder".to_owned(), 0),
                ("blocked".to_owned(), 3)
            ],
            "the blocked session's change came last"
        );
        Ok(())
    }

    fn a_busy_flush_names_the_table_it_was_writing(db) -> orm::Result<()> {
        let mut file = None;
        let db = events_database(&db, &mut file)?;
        existing_event(db)?;
        let session = db.session();
        let existing = session.get::<Event>(1)?;
        while_another_thread_holds_the_write_lock(db, || {
            existing.write()?.n = 2;
            session.add(Event::new("blocked", 1));
            match session.flush() {
                Err(Error::Busy { table }) => assert_eq!(table, "events"),
                other => panic!("expected Busy, got {other:?}"),
            }
            Ok(())
        })?;
        session.commit()?;
        assert_eq!(
            committed_events(db)?,
            [
                ("existing".to_owned(), 2),
                ("holder".to_owned(), 0),
                ("blocked".to_owned(), 1)
            ]
        );
        Ok(())
    }

    fn readers_are_not_blocked_by_a_writer_in_another_thread(db) -> orm::Result<()> {
        let mut file = None;
        let db = events_database(&db, &mut file)?;
        existing_event(db)?;
        let session = db.session();
        while_another_thread_holds_the_write_lock(db, || {
            let events = session.query::<Event>().all()?;
            assert_eq!(events.len(), 1, "the holder's row is not committed");
            let existing = session.get::<Event>(1)?;
            assert_eq!(existing.read()?.source, "existing");
            assert_eq!(existing.read()?.n, 1, "the holder's change is not committed");
            Ok(())
        })?;
        assert_eq!(
            committed_events(db)?,
            [("existing".to_owned(), 10), ("holder".to_owned(), 0)]
        );
        Ok(())
    }

    /// The database `db` is (in memory, on SQLite) is the one sessions in
    /// other threads of the process see.
    fn an_in_memory_database_is_shared_with_sessions_in_other_threads(db) -> orm::Result<()> {
        db.create_all::<Event>()?;
        let writer = {
            let db = db.clone();
            thread::spawn(move || -> orm::Result<()> {
                let session = db.session();
                session.add(Event::new("thread", 7));
                session.commit()
            })
        };
        writer.join().expect("the writer did not panic")?;
        assert_eq!(committed_events(&db)?, [("thread".to_owned(), 7)]);
        Ok(())
    }
}
