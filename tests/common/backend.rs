//! The backend matrix: each test written once, run on SQLite always and on
//! PostgreSQL when `ORM_TEST_POSTGRES` holds a connection URL (each test
//! then works in a schema of its own, dropped at its end, so tests run in
//! parallel and leave nothing behind).
//!
//! ```ignore
//! backend_tests! {
//!     fn a_behaviour(db) -> orm::Result<()> {
//!         db.create_all::<User>()?;
//!         ...
//!     }
//! }
//! ```
//! makes `sqlite::a_behaviour` and `postgres::a_behaviour`; the second
//! returns at once where no server is configured (the `postgres` test
//! target says so once).

use std::ops::Deref;

use orm::Database;

/// The variable holding the PostgreSQL URL the tests run against.
pub const POSTGRES_URL: &str = "ORM_TEST_POSTGRES";

/// A fresh, empty database for one test.
pub struct TestDb {
    db: Option<Database>,
    #[cfg(feature = "postgres")]
    schema: Option<(String, String)>,
}

impl Deref for TestDb {
    type Target = Database;
    fn deref(&self) -> &Database {
        self.db
            .as_ref()
            .expect("the database lives until the test ends")
    }
}

/// Whether `db` is on a PostgreSQL server, for the few expectations that
/// differ by backend.
pub fn is_postgres(db: &Database) -> bool {
    db.backend() == orm::Backend::Postgres
}

/// A new in-memory SQLite database.
pub fn sqlite() -> TestDb {
    TestDb {
        db: Some(Database::in_memory().expect("an in-memory database opens")),
        #[cfg(feature = "postgres")]
        schema: None,
    }
}

/// A new schema on the configured PostgreSQL server, or `None` where no
/// server is configured. A configured server that cannot be reached fails
/// the test: CI must not pass by skipping.
#[cfg(feature = "postgres")]
pub fn postgres() -> Option<TestDb> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var(POSTGRES_URL).ok().filter(|u| !u.is_empty())?;
    let schema = format!(
        "orm_test_{}_{}_{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    admin(&url, &format!("CREATE SCHEMA \"{schema}\""))
        .unwrap_or_else(|e| panic!("{POSTGRES_URL}={url}: a test schema cannot be created: {e}"));
    let db = Database::open(with_options(&url, &format!("-csearch_path%3D{schema}")))
        .expect("the test schema opens");
    Some(TestDb {
        db: Some(db),
        schema: Some((url, schema)),
    })
}

#[cfg(feature = "postgres")]
impl TestDb {
    /// Another database on this test's PostgreSQL schema, whose connections
    /// act as `role` (`SET ROLE` at connect: the tests' user may, being
    /// the server's superuser). `None` on SQLite.
    pub fn open_as(&self, role: &str) -> Option<orm::Result<Database>> {
        let (url, schema) = self.schema.as_ref()?;
        Some(Database::open(with_options(
            url,
            &format!("-csearch_path%3D{schema}%20-crole%3D{role}"),
        )))
    }

    /// The name of this test's PostgreSQL schema; `None` on SQLite.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_ref().map(|(_, schema)| schema.as_str())
    }
}

/// `url` with the server settings `options` (URL-encoded `-c` flags) for
/// every connection it opens.
#[cfg(feature = "postgres")]
fn with_options(url: &str, options: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options={options}")
}

/// Runs `sql` on the server at `url` through one connection the tests
/// share (a connection per schema made and dropped would cost each test
/// two connects).
#[cfg(feature = "postgres")]
fn admin(url: &str, sql: &str) -> Result<(), postgres::Error> {
    use std::sync::Mutex;
    static ADMIN: Mutex<Option<postgres::Client>> = Mutex::new(None);
    let mut admin = ADMIN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut client = match admin.take() {
        Some(client) if !client.is_closed() => client,
        _ => postgres::Client::connect(url, postgres::NoTls)?,
    };
    let done = client.batch_execute(sql);
    *admin = Some(client);
    done
}

/// Without the `postgres` feature there is no PostgreSQL to test.
#[cfg(not(feature = "postgres"))]
pub fn postgres() -> Option<TestDb> {
    None
}

#[cfg(feature = "postgres")]
impl Drop for TestDb {
    fn drop(&mut self) {
        // Close the database's connections before dropping their schema.
        drop(self.db.take());
        if let Some((url, schema)) = self.schema.take() {
            let _ = admin(&url, &format!("DROP SCHEMA \"{schema}\" CASCADE"));
        }
    }
}

/// Runs each test on both backends; see the module docs.
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$attr:meta])* fn $name:ident($db:ident) -> $ret:ty $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[test]
                fn $name() -> $ret {
                    let $db = $crate::common::backend::sqlite();
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$attr])*
                #[test]
                fn $name() -> $ret {
                    let Some($db) = $crate::common::backend::postgres() else {
                        return Ok(());
                    };
                    $body
                }
            )*
        }
    };
}

/// The statements `recorder` saw, as [`orm::Recorder::sql`] gives them but
/// with PostgreSQL's `$1`, `$2`, ... written `?` and its `NULLS FIRST` /
/// `NULLS LAST` (which put NULLs where SQLite does) left out, so that one
/// expected text serves both backends where the SQL is otherwise the same.
pub fn sql(recorder: &orm::Recorder) -> Vec<String> {
    recorder
        .sql()
        .iter()
        .map(|s| {
            question_marks(s)
                .replace(" NULLS FIRST", "")
                .replace(" NULLS LAST", "")
        })
        .collect()
}

fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote = None;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
                continue;
            }
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(ch);
    }
    out
}
