//! Injected faults (design point 11): a flush or commit that fails leaves the
//! database exactly as it was before, the session usable, and the caller a
//! typed error. Each test injects one real fault.
//!
//! On SQLite and on PostgreSQL (the backend matrix):
//! - a constraint violation at each position of a flush (first, middle and
//!   last statement; outside and inside an open transaction);
//! - a busy database: another session holds a write lock past the busy
//!   timeout (on SQLite the database's write lock, on PostgreSQL a lock on
//!   the row the flush updates, waited for up to `lock_timeout`).
//!
//! "Exactly as before" is read there through a session of its own, in
//! plain SQL that names every column.
//!
//! On a SQLite database file only, as these faults have no PostgreSQL
//! counterpart (a server owns its files):
//! - a full database: `PRAGMA max_page_count` caps the session's connection;
//! - a read-only database file (opened with `mode=ro`, as SQLite does by
//!   itself for a file it may not write; root ignores file permissions);
//! - a connection whose file goes away under the session: a VFS wrapper
//!   (`cut_disk`) makes every read, write and sync of its files fail with
//!   `SQLITE_IOERR`, as a vanished disk or network volume does. The public
//!   API has no way to close a session's connection; this is the nearest
//!   real fault.
//!
//! "Exactly as before" is checked there with a plain rusqlite connection
//! that dumps every row, so the ORM never grades its own homework.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use orm::prelude::*;
use orm::{Action, ConstraintKind, Error, State};
use rusqlite::ErrorCode;

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(unique)]
    pub email: String,
    pub photo: Option<Vec<u8>>,
    #[orm(back_populates = "author")]
    pub posts: HasMany<Post>,
}

/// Deleting a user that still has posts violates the foreign key
/// (`ON DELETE NO ACTION`, the default).
#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(back_populates = "posts")]
    pub author: BelongsTo<User>,
}

/// The session connection's page limit, read through `Session::sql`.
#[derive(Model, Debug)]
#[orm(table = "page_limit", skip_new)]
pub struct PageLimit {
    #[orm(primary_key)]
    pub max_page_count: i64,
}

// ---------------------------------------------------------------- fixtures

/// A database file in the temp dir with the shop's tables and rows,
/// removed when the test ends.
struct Fixture {
    db: Database,
    path: PathBuf,
}

/// Users 1 Ann, 2 Bob, 3 Cy (who wrote post 1), 4 Dee and 5, a user
/// holding `taken@x`: inserted without keys, in key order, so that the
/// database assigns these keys on both backends.
const SEED: &str = "
    INSERT INTO users (name, email) VALUES
        ('ann', 'ann@x'), ('bob', 'bob@x'), ('cy', 'cy@x'),
        ('dee', 'dee@x'), ('tia', 'taken@x');
    INSERT INTO posts (title, author_id) VALUES ('hello', 3);
";

/// The database of a matrix test, with its tables: PostgreSQL's test
/// schema, or on SQLite a database file (`file` keeps it), as an in-memory
/// database blocks reading while a session writes.
fn setup<'a>(db: &'a Database, file: &'a mut Option<common::Fixture>) -> orm::Result<&'a Database> {
    let db = match db.backend() {
        orm::Backend::Postgres => db,
        _ => &file.insert(common::Fixture::empty("faults")).db,
    };
    db.create_all::<(User, Post)>()?;
    Ok(db)
}

/// Empties the tables (PostgreSQL's sequences set back) and seeds them.
fn reset(db: &Database) -> orm::Result<()> {
    match db.backend() {
        orm::Backend::Postgres => {
            db.execute_batch("TRUNCATE posts, users RESTART IDENTITY CASCADE")?;
        }
        _ => db.execute_batch("DELETE FROM posts; DELETE FROM users;")?,
    }
    db.execute_batch(SEED)
}

/// Every committed row, as text, read by a session of its own in plain
/// SQL: what "exactly as before" compares on both backends.
fn dump(db: &Database) -> orm::Result<Vec<String>> {
    let session = db.session();
    let users: Vec<(i64, String, String, Option<i64>)> = session.sql_values(
        "SELECT id, name, email, CAST(length(photo) AS BIGINT) FROM users ORDER BY id",
        &[],
    )?;
    let posts: Vec<(i64, String, i64)> =
        session.sql_values("SELECT id, title, author_id FROM posts ORDER BY id", &[])?;
    Ok(users
        .into_iter()
        .map(|(id, name, email, photo)| format!("user {id} {name} {email} photo:{photo:?}"))
        .chain(
            posts
                .into_iter()
                .map(|(id, title, author)| format!("post {id} {title} by {author}")),
        )
        .collect())
}

/// `sql` with PostgreSQL's `$1`, `$2`, ... written `?`.
fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(ch);
        }
    }
    out
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        Fixture::at(name, |path| path.display().to_string())
    }

    /// Like `new`, with the ORM opening the file through the URI `uri(path)`.
    fn at(name: &str, uri: impl Fn(&Path) -> String) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "orm-faults-{}-{}-{name}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        remove_files(&path);
        let setup = Database::open(&path).expect("a database file in the temp dir opens");
        setup
            .create_all::<(User, Post)>()
            .expect("the tables are created");
        setup.execute_batch(SEED).expect("the seed rows insert");
        let db = Database::open(uri(&path)).expect("the database opens");
        Fixture { db, path }
    }

    /// A plain rusqlite connection, on the default VFS.
    fn plain(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).expect("the test database opens");
        conn.busy_timeout(Duration::from_secs(5))
            .expect("a busy timeout can be set");
        conn
    }

    /// Every committed row, as text: what "exactly as before" compares.
    fn dump(&self) -> Vec<String> {
        let conn = self.plain();
        let mut rows = Vec::new();
        let mut users = conn
            .prepare("SELECT id, name, email, length(photo) FROM users ORDER BY id")
            .expect("users can be read");
        let users = users
            .query_map([], |r| {
                Ok(format!(
                    "user {} {} {} photo:{:?}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?
                ))
            })
            .expect("users can be read");
        rows.extend(users.map(|r| r.expect("a user row reads")));
        let mut posts = conn
            .prepare("SELECT id, title, author_id FROM posts ORDER BY id")
            .expect("posts can be read");
        let posts = posts
            .query_map([], |r| {
                Ok(format!(
                    "post {} {} by {}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?
                ))
            })
            .expect("posts can be read");
        rows.extend(posts.map(|r| r.expect("a post row reads")));
        rows
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        remove_files(&self.path);
    }
}

fn remove_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
}

/// The dump with `changes` applied: `(row prefix, new text or None)`.
fn edited(mut rows: Vec<String>, changes: &[(&str, Option<&str>)]) -> Vec<String> {
    for (prefix, new) in changes {
        match rows.iter().position(|r| r.starts_with(prefix)) {
            Some(i) => match new {
                Some(new) => rows[i] = (*new).to_owned(),
                None => {
                    rows.remove(i);
                }
            },
            None => rows.push(new.expect("a new row has text").to_owned()),
        }
    }
    rows.sort_by_key(|r| {
        let mut words = r.split(' ');
        let table = words.next().unwrap_or("").to_owned();
        let id: i64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        (table != "user", id)
    });
    rows
}

/// Whether `error` is SQLite's own error with this primary code.
fn is_sqlite(error: &Error, code: ErrorCode) -> bool {
    matches!(error, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) if e.code == code)
}

/// What the session knows of an object, to compare before and after a fault.
fn snapshot(user: &Handle<User>) -> orm::Result<String> {
    let changes: Vec<String> = user.changes()?.iter().map(|c| c.to_string()).collect();
    let u = user.read()?;
    Ok(format!(
        "{:?} id={} {} {} photo:{:?} changes:{changes:?}",
        user.state(),
        u.id,
        u.name,
        u.email,
        u.photo.as_ref().map(Vec::len)
    ))
}

fn snapshots(users: &[&Handle<User>]) -> orm::Result<Vec<String>> {
    users.iter().map(|u| snapshot(u)).collect()
}

// ------------------------------------------------ constraint at a position

/// The INSERT of a user on PostgreSQL, which assigns the key and returns it.
const POSTGRES_INSERT: &str =
    r#"INSERT INTO "users" ("name", "email", "photo") VALUES (?, ?, ?) RETURNING "id""#;

/// The five statements of the flush under test, in the order it runs them:
/// two UPDATEs, two INSERTs (as SQLite has them; see `POSTGRES_INSERT`),
/// one DELETE.
const FLUSH: [(Action, &str); 5] = [
    (
        Action::Update,
        r#"UPDATE "users" SET "email" = ? WHERE "id" = ?"#,
    ),
    (
        Action::Update,
        r#"UPDATE "users" SET "email" = ? WHERE "id" = ?"#,
    ),
    (
        Action::Insert,
        r#"INSERT INTO "users" ("id", "name", "email", "photo") VALUES (?, ?, ?, ?)"#,
    ),
    (
        Action::Insert,
        r#"INSERT INTO "users" ("id", "name", "email", "photo") VALUES (?, ?, ?, ?)"#,
    ),
    (Action::Delete, r#"DELETE FROM "users" WHERE "id" = ?"#),
];

/// Runs the flush above with statement `bad` violating a constraint
/// (UNIQUE for the updates and inserts, FOREIGN KEY for the delete), after
/// an earlier successful flush in the same transaction when `nested`.
/// Checks that the failed flush ran statements up to `bad` and undid them,
/// that the database and the objects are as before, and that the session
/// then commits once the violation is fixed.
fn violate_at(db: &Database, bad: usize, nested: bool) -> orm::Result<()> {
    reset(db)?;
    let postgres = db.backend() == orm::Backend::Postgres;
    let before = dump(db)?;
    let session = db.session();
    if nested {
        session.get::<User>(5)?.write()?.name = "tia flushed".into();
        session.flush()?;
    }
    let email = |i: usize, fresh: &str| {
        if i == bad {
            "taken@x".to_owned()
        } else {
            fresh.to_owned()
        }
    };
    // Everything the flush and the fix touch is loaded first, so that no
    // lazy load autoflushes on the way.
    let ann = session.get::<User>(1)?;
    let bob = session.get::<User>(2)?;
    // Cy still has a post, so deleting Cy violates the foreign key.
    let gone = session.get::<User>(if bad == 4 { 3 } else { 4 })?;
    let posts = gone.read()?.posts.load()?;
    ann.write()?.email = email(0, "ann2@x");
    bob.write()?.email = email(1, "bob2@x");
    let eve = session.add(User::new("eve", email(2, "eve@x")));
    let fay = session.add(User::new("fay", email(3, "fay@x")));
    session.delete(&gone)?;

    let plan: Vec<Action> = session
        .flush_plan()?
        .steps
        .iter()
        .map(|s| s.action)
        .collect();
    assert_eq!(
        plan,
        FLUSH.map(|(action, _)| action),
        "the flush runs in this order"
    );
    let objects = [&ann, &bob, &eve, &fay, &gone];
    let known = snapshots(&objects)?;
    let held = session.len();
    let recorder = db.recorder();

    let error = session
        .flush()
        .expect_err("statement `bad` violates a constraint");

    let kind = if bad == 4 {
        ConstraintKind::ForeignKey
    } else {
        ConstraintKind::Unique
    };
    match &error {
        Error::Constraint { table, kind: k, .. } => {
            assert_eq!(table, "users");
            assert_eq!(*k, kind, "{error}");
        }
        other => panic!("expected a {kind} constraint error, got {other:?}"),
    }
    let (open, undo): (&[&str], &[&str]) = match (nested, postgres) {
        (true, _) => (
            &["SAVEPOINT orm_flush"],
            &["ROLLBACK TO orm_flush", "RELEASE orm_flush"],
        ),
        (false, false) => (&["BEGIN IMMEDIATE"], &["ROLLBACK"]),
        (false, true) => (&["BEGIN"], &["ROLLBACK"]),
    };
    let ran: Vec<String> = recorder
        .statements()
        .into_iter()
        .map(|s| question_marks(&s.sql))
        .collect();
    let expected: Vec<&str> = open
        .iter()
        .copied()
        .chain(FLUSH[..=bad].iter().map(|&(action, sql)| {
            if postgres && action == Action::Insert {
                POSTGRES_INSERT
            } else {
                sql
            }
        }))
        .chain(undo.iter().copied())
        .collect();
    assert_eq!(
        ran, expected,
        "statements up to the failing one, then undone"
    );
    assert_eq!(dump(db)?, before, "the database is as before the flush");
    assert_eq!(
        snapshots(&objects)?,
        known,
        "the objects are as before the flush"
    );
    assert_eq!(session.len(), held);
    assert!(session.has_changes());

    // Usable: fix the violation and commit everything.
    match bad {
        0 => ann.write()?.email = "ann2@x".into(),
        1 => bob.write()?.email = "bob2@x".into(),
        2 => eve.write()?.email = "eve@x".into(),
        3 => fay.write()?.email = "fay@x".into(),
        _ => session.delete(&posts[0])?,
    }
    session.commit()?;
    // PostgreSQL's sequence does not give back the keys of the inserts the
    // failed flush ran (the failing one included); SQLite reuses them.
    let used = if postgres { bad.clamp(1, 3) - 1 } else { 0 };
    let (eve_key, fay_key) = (format!("user {} ", 6 + used), format!("user {} ", 7 + used));
    let eve_row = format!("{eve_key}eve eve@x photo:None");
    let fay_row = format!("{fay_key}fay fay@x photo:None");
    let mut changes = vec![
        ("user 1 ", Some("user 1 ann ann2@x photo:None")),
        ("user 2 ", Some("user 2 bob bob2@x photo:None")),
        (eve_key.as_str(), Some(eve_row.as_str())),
        (fay_key.as_str(), Some(fay_row.as_str())),
    ];
    if bad == 4 {
        changes.extend([("user 3 ", None), ("post 1 ", None)]);
    } else {
        changes.push(("user 4 ", None));
    }
    if nested {
        changes.push(("user 5 ", Some("user 5 tia flushed taken@x photo:None")));
    }
    assert_eq!(dump(db)?, edited(before, &changes));
    assert_eq!(eve.read()?.id, 6 + i64::try_from(used).expect("a few keys"));
    assert_eq!(eve.state(), State::Persistent);
    assert_eq!(gone.state(), State::Detached);
    Ok(())
}

// -------------------------------------------------------------------- busy

/// Adds Eve and renames Ann: the work the busy and full tests try to write.
fn some_work(session: &Session) -> orm::Result<(Handle<User>, Handle<User>)> {
    let ann = session.get::<User>(1)?;
    ann.write()?.name = "Ann".into();
    let eve = session.add(User::new("eve", "eve@x"));
    Ok((ann, eve))
}

fn after_some_work(before: Vec<String>) -> Vec<String> {
    edited(
        before,
        &[
            ("user 1 ", Some("user 1 Ann ann@x photo:None")),
            ("user 6 ", Some("user 6 eve eve@x photo:None")),
        ],
    )
}

/// A session that changed Ann's email and flushed it without committing:
/// it holds the write lock (SQLite's of the whole database, PostgreSQL's
/// of Ann's row) until it is dropped, which rolls the change back.
fn blocker(db: &Database) -> orm::Result<Session> {
    let session = db.session();
    session.get::<User>(1)?.write()?.email = "held@x".into();
    session.flush()?;
    Ok(session)
}

backend_tests! {
    fn a_unique_violation_in_the_first_statement_of_a_flush_undoes_the_flush(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        violate_at(db, 0, false)?;
        violate_at(db, 0, true)
    }

    fn a_unique_violation_in_a_middle_statement_of_a_flush_undoes_the_flush(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        violate_at(db, 2, false)?;
        violate_at(db, 2, true)
    }

    fn a_foreign_key_violation_in_the_last_statement_of_a_flush_undoes_the_flush(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        violate_at(db, 4, false)?;
        violate_at(db, 4, true)
    }

    fn a_violation_at_every_position_of_a_flush_undoes_just_that_flush(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        for bad in 0..FLUSH.len() {
            for nested in [false, true] {
                violate_at(db, bad, nested)?;
            }
        }
        Ok(())
    }

    fn a_flush_blocked_past_the_busy_timeout_is_busy_and_writes_nothing(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        reset(db)?;
        let before = dump(db)?;
        db.set_busy_timeout(Duration::from_millis(100))
            .expect("a busy timeout the backend accepts");
        let session = db.session();
        let (ann, eve) = some_work(&session)?;
        let known = snapshots(&[&ann, &eve])?;
        let blocker = blocker(db)?;

        let started = Instant::now();
        let error = session.flush().expect_err("the write lock is held");
        assert!(
            matches!(&error, Error::Busy { table } if table == "users"),
            "{error:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(100), "it waited");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "it did not wait for the default timeout"
        );
        assert_eq!(snapshots(&[&ann, &eve])?, known);
        drop(blocker);
        assert_eq!(dump(db)?, before);

        session.commit()?;
        assert_eq!(dump(db)?, after_some_work(before));
        Ok(())
    }

    fn a_query_whose_autoflush_is_blocked_is_busy_and_loses_nothing(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        reset(db)?;
        let before = dump(db)?;
        db.set_busy_timeout(Duration::from_millis(50))
            .expect("a busy timeout the backend accepts");
        let session = db.session();
        let (ann, eve) = some_work(&session)?;
        let known = snapshots(&[&ann, &eve])?;
        let blocker = blocker(db)?;

        let error = session
            .query::<User>()
            .all()
            .expect_err("the autoflush cannot take the write lock");
        assert!(matches!(error, Error::Busy { .. }), "{error:?}");
        assert_eq!(snapshots(&[&ann, &eve])?, known);
        drop(blocker);
        assert_eq!(dump(db)?, before);

        assert_eq!(session.query::<User>().all()?.len(), 6, "five seeded, Eve");
        session.commit()?;
        assert_eq!(dump(db)?, after_some_work(before));
        Ok(())
    }

    fn a_flush_waits_for_a_lock_released_within_the_busy_timeout(db) -> orm::Result<()> {
        let mut file = None;
        let db = setup(&db, &mut file)?;
        reset(db)?;
        let before = dump(db)?;
        let session = db.session();
        some_work(&session)?;
        let (locked, wait) = std::sync::mpsc::channel();
        let release = {
            let db = db.clone();
            std::thread::spawn(move || -> orm::Result<()> {
                let blocker = blocker(&db)?;
                locked.send(()).expect("the test waits");
                std::thread::sleep(Duration::from_millis(200));
                drop(blocker);
                Ok(())
            })
        };
        wait.recv().expect("the blocker holds the lock");

        let started = Instant::now();
        session.commit()?;
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "it waited for the lock"
        );
        release.join().expect("the blocking thread ends")?;
        assert_eq!(dump(db)?, after_some_work(before));
        Ok(())
    }
}

// ------------------------------------------------------------- full disk

/// Caps the session's connection at its current size plus `spare` pages.
/// `max_page_count` is a per-connection setting: the pool hands the
/// connection that ran the pragma to the next session, which the test
/// checks by reading the limit through that session.
fn cap_pages(fx: &Fixture, session: &Session, spare: i64) -> orm::Result<()> {
    let pages: i64 = fx
        .plain()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .expect("the page count reads");
    fx.db
        .execute_batch(&format!("PRAGMA max_page_count = {}", pages + spare))?;
    let limit =
        session.sql::<PageLimit>("SELECT max_page_count FROM pragma_max_page_count()", &[])?;
    assert_eq!(
        limit[0].read()?.max_page_count,
        pages + spare,
        "the session's connection is capped"
    );
    Ok(())
}

#[test]
fn a_flush_into_a_full_database_writes_nothing_and_the_session_recovers() -> orm::Result<()> {
    let fx = Fixture::new("full");
    let before = fx.dump();
    let session = fx.db.session();
    cap_pages(&fx, &session, 2)?;
    let (ann, eve) = some_work(&session)?;
    eve.write()?.photo = Some(vec![7; 1 << 20]);
    let known = snapshots(&[&ann, &eve])?;

    let error = session
        .flush()
        .expect_err("a 1 MiB photo does not fit in 2 pages");
    assert!(is_sqlite(&error, ErrorCode::DiskFull), "{error:?}");
    assert_eq!(fx.dump(), before);
    assert_eq!(snapshots(&[&ann, &eve])?, known);

    eve.write()?.photo = None;
    session.commit()?;
    assert_eq!(fx.dump(), after_some_work(before));
    Ok(())
}

/// SQLite answers a full database by rolling back the whole transaction,
/// earlier flushes included, so nothing can keep them. What must hold: the
/// error says the database is full, nothing is committed, and rollback
/// brings the session back in line with the database to redo the work.
#[test]
fn a_full_database_in_a_later_flush_is_disk_full_and_rollback_recovers() -> orm::Result<()> {
    let fx = Fixture::new("full-nested");
    let before = fx.dump();
    let session = fx.db.session();
    cap_pages(&fx, &session, 2)?;
    let (ann, eve) = some_work(&session)?;
    session.flush()?;
    let bob = session.get::<User>(2)?;
    bob.write()?.photo = Some(vec![7; 1 << 20]);

    let error = session
        .flush()
        .expect_err("a 1 MiB photo does not fit in 2 pages");
    assert!(is_sqlite(&error, ErrorCode::DiskFull), "{error:?}");
    assert_eq!(fx.dump(), before, "nothing is committed");

    session.rollback()?;
    assert_eq!(ann.read()?.name, "ann");
    assert_eq!(bob.read()?.photo, None);
    assert_eq!(eve.state(), State::Transient);
    ann.write()?.name = "Ann".into();
    bob.write()?.photo = Some(vec![7; 10]);
    session.add_handle(&eve)?;
    session.commit()?;
    let expected = edited(
        after_some_work(before),
        &[("user 2 ", Some("user 2 bob bob@x photo:Some(10)"))],
    );
    assert_eq!(fx.dump(), expected);
    Ok(())
}

// --------------------------------------------------------------- read-only

#[test]
fn a_flush_into_a_read_only_database_file_is_an_error_and_the_session_stays_usable()
-> orm::Result<()> {
    let fx = Fixture::at("read-only", |path| {
        format!("file:{}?mode=ro", path.display())
    });
    let before = fx.dump();
    let session = fx.db.session();
    let (ann, eve) = some_work(&session)?;
    let known = snapshots(&[&ann, &eve])?;

    let error = session.flush().expect_err("the file is read-only");
    assert!(is_sqlite(&error, ErrorCode::ReadOnly), "{error:?}");
    assert_eq!(fx.dump(), before);
    assert_eq!(snapshots(&[&ann, &eve])?, known);

    // Reading still works; the changes that cannot be written are dropped.
    session.rollback()?;
    assert_eq!(ann.read()?.name, "ann");
    assert_eq!(eve.state(), State::Transient);
    assert_eq!(session.query::<User>().count()?, 5);
    assert_eq!(session.get::<User>(3)?.read()?.name, "cy");
    Ok(())
}

// ---------------------------------------------------- the disk goes away

/// The cut is process-wide: one test at a time holds this while cutting.
static CUTTING: Mutex<()> = Mutex::new(());

/// The disk of every `cut_disk` database fails until this is dropped.
struct CutDisk<'a> {
    _one_at_a_time: MutexGuard<'a, ()>,
}

impl CutDisk<'_> {
    fn now() -> CutDisk<'static> {
        let guard = CUTTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cut_disk::CUT.store(true, Ordering::SeqCst);
        CutDisk {
            _one_at_a_time: guard,
        }
    }
}

impl Drop for CutDisk<'_> {
    fn drop(&mut self) {
        cut_disk::CUT.store(false, Ordering::SeqCst);
    }
}

fn on_a_disk_that_can_fail(name: &str) -> Fixture {
    cut_disk::register();
    Fixture::at(name, |path| format!("file:{}?vfs=cut_disk", path.display()))
}

#[test]
fn a_flush_whose_disk_fails_mid_statement_writes_nothing_and_the_session_recovers()
-> orm::Result<()> {
    let fx = on_a_disk_that_can_fail("cut-flush");
    let before = fx.dump();
    let session = fx.db.session();
    let (ann, eve) = some_work(&session)?;
    // More than the page cache holds: the INSERT itself must write pages.
    eve.write()?.photo = Some(vec![7; 8 << 20]);
    let known = snapshots(&[&ann, &eve])?;

    let flushed = {
        let _cut = CutDisk::now();
        session.flush()
    };
    let error = flushed.expect_err("the disk failed under the flush");
    assert!(is_sqlite(&error, ErrorCode::SystemIoFailure), "{error:?}");
    assert_eq!(fx.dump(), before);
    assert_eq!(snapshots(&[&ann, &eve])?, known);

    session.commit()?;
    let expected = edited(
        after_some_work(before),
        &[("user 6 ", Some("user 6 eve eve@x photo:Some(8388608)"))],
    );
    assert_eq!(fx.dump(), expected);
    Ok(())
}

#[test]
fn a_commit_whose_disk_fails_leaves_the_database_as_before_and_the_session_usable()
-> orm::Result<()> {
    let fx = on_a_disk_that_can_fail("cut-commit");
    let before = fx.dump();
    let session = fx.db.session();
    let (ann, eve) = some_work(&session)?;
    session.flush()?;

    let committed = {
        let _cut = CutDisk::now();
        session.commit()
    };
    let error = committed.expect_err("the disk failed under the commit");
    assert!(is_sqlite(&error, ErrorCode::SystemIoFailure), "{error:?}");
    assert_eq!(fx.dump(), before);

    // The transaction is lost: rollback brings the objects back in line
    // with the database, and the same work then commits.
    session.rollback()?;
    assert_eq!(ann.read()?.name, "ann");
    assert_eq!(eve.state(), State::Transient);
    assert_eq!(eve.read()?.id, 0);
    ann.write()?.name = "Ann".into();
    session.add_handle(&eve)?;
    session.commit()?;
    assert_eq!(fx.dump(), after_some_work(before));
    Ok(())
}

/// A VFS that forwards to the default one, except that while `CUT` is set
/// every read, write, sync and truncate of any file fails with an I/O error.
mod cut_disk {
    use std::ffi::{c_char, c_int, c_void};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rusqlite::ffi;

    /// While set, the disk of every `cut_disk` file fails.
    pub static CUT: AtomicBool = AtomicBool::new(false);
    /// The default VFS this one forwards to (its address).
    static REAL: OnceLock<usize> = OnceLock::new();

    /// What SQLite allocates per open file: our header (whose `pMethods`
    /// SQLite calls), then the default VFS's own file struct. Every method
    /// forwards to that inner file; the default VFS's methods are all
    /// present at `iVersion` 3, so unwrapping them cannot fail.
    #[repr(C)]
    struct File {
        base: ffi::sqlite3_file,
        real: *mut ffi::sqlite3_file,
    }

    fn real_vfs() -> *mut ffi::sqlite3_vfs {
        *REAL.get().expect("registered") as *mut ffi::sqlite3_vfs
    }

    unsafe fn real(
        file: *mut ffi::sqlite3_file,
    ) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
        unsafe {
            let real = (*(file as *mut File)).real;
            (real, &*(*real).pMethods)
        }
    }

    fn cut() -> bool {
        CUT.load(Ordering::SeqCst)
    }

    unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xClose.unwrap()(r)
        }
    }
    unsafe extern "C" fn read(
        f: *mut ffi::sqlite3_file,
        buf: *mut c_void,
        n: c_int,
        off: i64,
    ) -> c_int {
        if cut() {
            return ffi::SQLITE_IOERR_READ;
        }
        unsafe {
            let (r, m) = real(f);
            m.xRead.unwrap()(r, buf, n, off)
        }
    }
    unsafe extern "C" fn write(
        f: *mut ffi::sqlite3_file,
        buf: *const c_void,
        n: c_int,
        off: i64,
    ) -> c_int {
        if cut() {
            return ffi::SQLITE_IOERR_WRITE;
        }
        unsafe {
            let (r, m) = real(f);
            m.xWrite.unwrap()(r, buf, n, off)
        }
    }
    unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: i64) -> c_int {
        if cut() {
            return ffi::SQLITE_IOERR_TRUNCATE;
        }
        unsafe {
            let (r, m) = real(f);
            m.xTruncate.unwrap()(r, size)
        }
    }
    unsafe extern "C" fn sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
        if cut() {
            return ffi::SQLITE_IOERR_FSYNC;
        }
        unsafe {
            let (r, m) = real(f);
            m.xSync.unwrap()(r, flags)
        }
    }
    unsafe extern "C" fn file_size(f: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xFileSize.unwrap()(r, size)
        }
    }
    unsafe extern "C" fn lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xLock.unwrap()(r, level)
        }
    }
    unsafe extern "C" fn unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xUnlock.unwrap()(r, level)
        }
    }
    unsafe extern "C" fn check_reserved(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xCheckReservedLock.unwrap()(r, out)
        }
    }
    unsafe extern "C" fn file_control(
        f: *mut ffi::sqlite3_file,
        op: c_int,
        arg: *mut c_void,
    ) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xFileControl.unwrap()(r, op, arg)
        }
    }
    unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xSectorSize.unwrap()(r)
        }
    }
    unsafe extern "C" fn device(f: *mut ffi::sqlite3_file) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xDeviceCharacteristics.unwrap()(r)
        }
    }
    unsafe extern "C" fn shm_map(
        f: *mut ffi::sqlite3_file,
        pg: c_int,
        size: c_int,
        extend: c_int,
        out: *mut *mut c_void,
    ) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xShmMap.unwrap()(r, pg, size, extend, out)
        }
    }
    unsafe extern "C" fn shm_lock(
        f: *mut ffi::sqlite3_file,
        offset: c_int,
        n: c_int,
        flags: c_int,
    ) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xShmLock.unwrap()(r, offset, n, flags)
        }
    }
    unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
        unsafe {
            let (r, m) = real(f);
            m.xShmBarrier.unwrap()(r)
        }
    }
    unsafe extern "C" fn shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xShmUnmap.unwrap()(r, delete)
        }
    }
    unsafe extern "C" fn fetch(
        f: *mut ffi::sqlite3_file,
        off: i64,
        n: c_int,
        out: *mut *mut c_void,
    ) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xFetch.unwrap()(r, off, n, out)
        }
    }
    unsafe extern "C" fn unfetch(f: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
        unsafe {
            let (r, m) = real(f);
            m.xUnfetch.unwrap()(r, off, p)
        }
    }

    static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
        iVersion: 3,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: Some(fetch),
        xUnfetch: Some(unfetch),
    };

    unsafe extern "C" fn open(
        _vfs: *mut ffi::sqlite3_vfs,
        name: *const c_char,
        file: *mut ffi::sqlite3_file,
        flags: c_int,
        out_flags: *mut c_int,
    ) -> c_int {
        unsafe {
            let wrapper = file as *mut File;
            let real = (file as *mut u8).add(std::mem::size_of::<File>()) as *mut ffi::sqlite3_file;
            (*wrapper).real = real;
            (*real).pMethods = std::ptr::null();
            let vfs = real_vfs();
            let rc = (*vfs).xOpen.unwrap()(vfs, name, real, flags, out_flags);
            (*wrapper).base.pMethods = if (*real).pMethods.is_null() {
                std::ptr::null()
            } else {
                &METHODS
            };
            rc
        }
    }

    /// Registers the VFS as "cut_disk" (once).
    pub fn register() {
        REAL.get_or_init(|| unsafe {
            let default = ffi::sqlite3_vfs_find(std::ptr::null());
            let mut vfs: ffi::sqlite3_vfs = *default;
            vfs.zName = c"cut_disk".as_ptr();
            vfs.szOsFile = (*default).szOsFile + std::mem::size_of::<File>() as c_int;
            vfs.xOpen = Some(open);
            vfs.pNext = std::ptr::null_mut();
            let leaked = Box::leak(Box::new(vfs));
            let rc = ffi::sqlite3_vfs_register(leaked, 0);
            assert_eq!(rc, ffi::SQLITE_OK);
            default as usize
        });
    }
}
