//! Helpers shared by the integration tests: a database file per test that
//! plain rusqlite can read behind the ORM's back, and readers of what a
//! `Recorder` saw. Each test file uses a part of it, hence the allow.
#![allow(dead_code)]

#[macro_use]
pub mod backend;
pub mod shop;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use orm::Value;
use orm::prelude::*;
use orm::{Migrations, ModelSet, Recorder};

/// How many cases a property test runs: `sqlite` or `postgres` (sized so
/// the suite stays quick on two cores; PostgreSQL's cases cost round
/// trips) times `ORM_PROPTEST_SCALE` (default 1; CI runs 5, a longer hunt
/// more).
pub fn proptest_cases(db: &Database, sqlite: u32, postgres: u32) -> u32 {
    let base = match db.backend() {
        orm::Backend::Postgres => postgres,
        _ => sqlite,
    };
    base.saturating_mul(proptest_scale())
}

/// `ORM_PROPTEST_SCALE`, the factor on every property test's cases.
pub fn proptest_scale() -> u32 {
    std::env::var("ORM_PROPTEST_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

/// A database file in the temp dir, removed when the test ends.
pub struct Fixture {
    pub db: Database,
    path: PathBuf,
}

impl Fixture {
    /// A database file with no tables yet.
    pub fn empty(name: &str) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "orm-{}-{}-{}-{name}.db",
            env!("CARGO_CRATE_NAME"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        remove_files(&path);
        let db = Database::open(&path).expect("a database file in the temp dir opens");
        Fixture { db, path }
    }

    /// A database file with the tables of `S` (link tables included).
    pub fn new<S: ModelSet>(name: &str) -> Fixture {
        let fx = Fixture::empty(name);
        fx.db.create_all::<S>().expect("the tables are created");
        fx
    }

    /// A plain rusqlite connection: what the database holds, as committed.
    pub fn plain(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).expect("the test database opens");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .expect("a busy timeout can be set");
        conn
    }

    pub fn seed(&self, sql: &str) {
        self.plain()
            .execute_batch(sql)
            .expect("the seed SQL is valid");
    }

    /// Rows of two integer columns, such as `SELECT id, user_id FROM orders`.
    pub fn pairs(&self, sql: &str) -> Vec<(i64, Option<i64>)> {
        self.rows(sql, |row| Ok((row.get(0)?, row.get(1)?)))
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.plain()
            .query_row(sql, [], |row| row.get(0))
            .expect("the count query is valid")
    }

    pub fn rows<R>(
        &self,
        sql: &str,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    ) -> Vec<R> {
        let conn = self.plain();
        let mut statement = conn.prepare(sql).expect("the test query is valid");
        statement
            .query_map([], map)
            .expect("the test query runs")
            .collect::<rusqlite::Result<Vec<R>>>()
            .expect("the rows convert")
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

/// Each statement the recorder saw (transaction control left out) as its
/// verb and table: `SELECT orders`, `INSERT item_keywords`. The read of
/// new keys is `SELECT` of its table on both backends.
pub fn statements(recorder: &Recorder) -> Vec<String> {
    recorder
        .sql()
        .iter()
        .map(|sql| {
            let words: Vec<&str> = sql.split_whitespace().collect();
            let verb = words.first().copied().unwrap_or("").to_uppercase();
            let after = |keyword: &str| {
                words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(keyword))
                    .and_then(|i| words.get(i + 1).copied())
            };
            // PostgreSQL takes new keys from the sequence of `table`'s key.
            let sequence_of = sql
                .split_once("pg_get_serial_sequence('")
                .and_then(|(_, rest)| rest.split('\'').next());
            let table = match verb.as_str() {
                "SELECT" if sequence_of.is_some() => sequence_of,
                "SELECT" | "DELETE" => after("FROM"),
                "INSERT" => after("INTO"),
                "UPDATE" => words.get(1).copied(),
                _ => None,
            };
            format!("{verb} {}", table.unwrap_or("?").trim_matches('"'))
        })
        .collect()
}

/// The bound values of each statement that read or wrote rows.
pub fn params(recorder: &Recorder) -> Vec<Vec<Value>> {
    recorder
        .statements()
        .into_iter()
        .filter(|s| !s.is_transaction_control())
        .map(|s| s.params)
        .collect()
}

/// The sorted primary keys of some objects.
pub fn ids<T: Model<Key = i64>>(handles: &[Handle<T>]) -> Vec<i64> {
    let mut ids: Vec<i64> = handles
        .iter()
        .map(|h| h.key().expect("not being written"))
        .collect();
    ids.sort_unstable();
    ids
}

/// The object with primary key `id` among `handles`.
pub fn by_id<T: Model<Key = i64>>(handles: &[Handle<T>], id: i64) -> Handle<T> {
    handles
        .iter()
        .find(|h| h.key().expect("not being written") == id)
        .cloned()
        .unwrap_or_else(|| panic!("no object with key {id} among {} objects", handles.len()))
}

/// A database file `app.db` in a temp folder of its own (with room for a
/// `migrations` folder), removed when dropped: for migrations, where an
/// "older program" made the database.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "orm-scratch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir can be created");
        Scratch { dir }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("app.db")
    }

    /// The database, made by an older program running `sql`.
    pub fn database(&self, sql: &str) -> orm::Result<Database> {
        let db = Database::open(self.db_path())?;
        db.execute_batch(sql)?;
        Ok(db)
    }

    pub fn inspect(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db_path()).expect("database file opens")
    }

    pub fn migrations(&self) -> Migrations {
        Migrations::new(self.dir.join("migrations"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every row of a query, as values.
pub fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).expect("query prepares");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        (0..n)
            .map(|i| r.get::<_, rusqlite::types::Value>(i))
            .collect()
    })
    .expect("query runs")
    .collect::<rusqlite::Result<_>>()
    .expect("rows read")
}

/// The whole schema and every row of every table: equal before and after
/// means nothing changed.
pub fn snapshot(conn: &rusqlite::Connection) -> Vec<Vec<rusqlite::types::Value>> {
    let mut all = rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name",
    );
    let tables: Vec<String> = rows(
        conn,
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
    )
    .into_iter()
    .filter_map(|r| match &r[0] {
        rusqlite::types::Value::Text(name) => Some(name.clone()),
        _ => None,
    })
    .collect();
    for table in tables {
        all.extend(rows(
            conn,
            &format!("SELECT * FROM \"{table}\" ORDER BY rowid"),
        ));
    }
    all
}

/// An integer as plain rusqlite reads it.
pub fn int(i: i64) -> rusqlite::types::Value {
    rusqlite::types::Value::Integer(i)
}

/// Text as plain rusqlite reads it.
pub fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_owned())
}
