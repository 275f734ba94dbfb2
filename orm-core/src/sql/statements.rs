//! A SQLite connection as the pool and its sessions hold it: the
//! connection, and the statements of the texts it keeps (built from table
//! metadata, [`super::text`], and per query shape, [`super::shape`])
//! kept prepared with it.
//!
//! rusqlite's statement cache finds a statement by its text: it trims and
//! hashes the text and moves the statement out of and back into an LRU
//! list on every use, about 1,000 instructions a statement, a tenth of a
//! lookup by key. A built text ([`Text`], from [`super::Conn::text`]:
//! lookups by key, loads of a `BelongsTo`, `HasMany` or `HasOne` (lazy or
//! preloaded), a flush's UPDATEs, DELETEs and key reads; and from
//! [`super::Conn::query_text`]: queries, kept per shape) is an `Arc<str>`
//! the connection keeps, so its address names it: the connection keeps
//! each such statement under that address after its first use, and finds
//! it again by a hash of one word. Holding the `Arc` keeps the address from
//! being reused by another text. The statements stay with the connection
//! in the pool, with the texts, so that the next session (often one per
//! request, doing one lookup) finds them prepared. Statements of other
//! texts (queries with long key lists, many-to-many loads) go through
//! rusqlite's cache,
//! and so do a flush's INSERTs, prepared once per run of rows
//! (`Conn::batch`).
//!
//! Does not build texts, bind values or step rows: [`super::Conn`] does.

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::{CachedStatement, Connection, Statement};
use rustc_hash::FxHashMap as HashMap;
use self_cell::self_cell;

use crate::backend::sqlite::classify;
use crate::error::Result;

/// A statement text kept by its connection, built from table metadata
/// or kept for a query's shape ([`super::Conn::text`] and
/// [`super::Conn::query_text`] make them, and nothing else can: a text
/// made once per use, kept statement and all, would pile up).
#[derive(Debug, Clone)]
pub(crate) struct Text(Arc<str>);

impl Text {
    /// Only the `sql` module makes texts (`Conn::text`, `shape`, and tests).
    pub(super) fn built(sql: String) -> Text {
        Text(sql.into())
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// The text of a statement to run: any text, or one the connection keeps
/// (built from metadata or kept for a query's shape), whose statement it
/// keeps prepared.
#[derive(Clone, Copy)]
pub(crate) enum Sql<'a> {
    Given(&'a str),
    Built(&'a Text),
}

impl Sql<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Sql::Given(sql) => sql,
            Sql::Built(sql) => sql,
        }
    }
}

impl<'a> From<&'a str> for Sql<'a> {
    fn from(sql: &'a str) -> Self {
        Sql::Given(sql)
    }
}

impl<'a> From<&'a String> for Sql<'a> {
    fn from(sql: &'a String) -> Self {
        Sql::Given(sql)
    }
}

impl<'a> From<&'a Text> for Sql<'a> {
    fn from(sql: &'a Text) -> Self {
        Sql::Built(sql)
    }
}

/// A kept statement, with the text it was prepared from (held so that no
/// other text can take its address).
struct Kept<'c> {
    _text: Arc<str>,
    /// `None` while the statement runs (a statement sent while another of
    /// the same text steps its rows prepares one of its own).
    statement: Option<CachedStatement<'c>>,
}

/// The statements a connection keeps, by the address of their text.
#[derive(Default)]
pub(crate) struct Statements<'c>(RefCell<HashMap<usize, Kept<'c>>>);

impl std::fmt::Debug for Statements<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} kept statements", self.0.borrow().len())
    }
}

self_cell!(
    /// A SQLite connection with the statements it keeps prepared; see the
    /// [module docs](self).
    pub(crate) struct SqliteConn {
        owner: Connection,
        #[not_covariant]
        dependent: Statements,
    }

    impl {Debug}
);

// SAFETY: a `SqliteConn` is not `Send` by itself only because its kept
// statements hold `&Connection` (a `Connection` is `Send` but not `Sync`).
// Every one of those references points at the connection inside the same
// cell, and none leaves it (`with_dependent` lends them to a closure whose
// result cannot borrow them), so the connection and all that borrows it
// move to another thread together, and are used there by one thread at a
// time: what SQLite's multi-thread mode (`SQLITE_OPEN_NO_MUTEX`) allows for
// a connection and its statements, and the reason rusqlite's own statement
// cache is `Send`.
unsafe impl Send for SqliteConn {}

impl SqliteConn {
    /// The connection, keeping nothing prepared yet.
    pub(crate) fn open(connection: Connection) -> SqliteConn {
        SqliteConn::new(connection, |_| Statements::default())
    }

    /// The connection itself.
    pub(crate) fn connection(&self) -> &Connection {
        self.borrow_owner()
    }

    /// Lets go of every kept statement (the texts they were built from are
    /// being dropped).
    pub(crate) fn forget(&self) {
        self.with_dependent(|_, kept| kept.0.borrow_mut().clear());
    }

    /// Runs `run` on the statement of `sql`, prepared: the kept one if
    /// `sql` is a built text used before on this connection, else from
    /// rusqlite's cache. A built text's statement is kept afterwards, its
    /// bindings cleared (so that it holds no copy of a value).
    ///
    /// # Errors
    /// A statement SQLite cannot prepare, classified for `table`; or what
    /// `run` returns.
    pub(crate) fn run<R>(
        &self,
        sql: Sql<'_>,
        table: &str,
        run: impl FnOnce(&mut Statement<'_>) -> Result<R>,
    ) -> Result<R> {
        self.with_dependent(|connection, kept| {
            let Sql::Built(text) = sql else {
                let mut statement = connection
                    .prepare_cached(sql.as_str())
                    .map_err(|e| classify(e, table))?;
                return run(&mut statement);
            };
            let key = Arc::as_ptr(&text.0).cast::<u8>().addr();
            let taken = kept
                .0
                .borrow_mut()
                .get_mut(&key)
                .and_then(|k| k.statement.take());
            let mut statement = match taken {
                Some(statement) => statement,
                None => connection
                    .prepare_cached(&text.0)
                    .map_err(|e| classify(e, table))?,
            };
            let result = run(&mut statement);
            statement.clear_bindings();
            let mut kept = kept.0.borrow_mut();
            let slot = kept.entry(key).or_insert_with(|| Kept {
                _text: Arc::clone(&text.0),
                statement: None,
            });
            // Where the same text ran again while this statement did, the
            // inner run's statement was kept already: this one goes back
            // to rusqlite's cache on drop.
            if slot.statement.is_none() {
                slot.statement = Some(statement);
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;

    fn connection() -> SqliteConn {
        let raw = Connection::open_in_memory().expect("an in-memory connection");
        raw.execute_batch("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2);")
            .expect("a table");
        SqliteConn::open(raw)
    }

    /// How often the statement `run` is given ran before, and the rows it
    /// returns now.
    fn runs_and_rows(stmt: &mut Statement<'_>) -> Result<(i32, Vec<i64>)> {
        let before = stmt.get_status(StatementStatus::Run);
        let rows = stmt
            .query_map([], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| classify(e, "t"))?;
        Ok((before, rows))
    }

    fn kept(conn: &SqliteConn) -> usize {
        conn.with_dependent(|_, kept| kept.0.borrow().len())
    }

    #[test]
    fn a_built_text_runs_its_kept_statement_again() -> Result<()> {
        let conn = connection();
        let text = Text::built("SELECT a FROM t ORDER BY a".into());
        let first = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        let second = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        assert_eq!(first, (0, vec![1, 2]), "prepared for the first run");
        assert_eq!(
            second,
            (1, vec![1, 2]),
            "the same statement, run once before"
        );
        assert_eq!(kept(&conn), 1);
        Ok(())
    }

    #[test]
    fn a_given_text_is_not_kept() -> Result<()> {
        let conn = connection();
        let text = "SELECT a FROM t ORDER BY a";
        conn.run(Sql::Given(text), "t", runs_and_rows)?;
        assert_eq!(kept(&conn), 0);
        Ok(())
    }

    #[test]
    fn a_text_sent_while_its_statement_runs_gets_a_statement_of_its_own() -> Result<()> {
        let conn = connection();
        let text = Text::built("SELECT a FROM t ORDER BY a".into());
        conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        let (outer, inner) = conn.run(Sql::Built(&text), "t", |stmt| {
            let mut rows = stmt.raw_query();
            let first: i64 = rows
                .next()
                .map_err(|e| classify(e, "t"))?
                .map(|row| row.get(0))
                .transpose()
                .map_err(|e| classify(e, "t"))?
                .unwrap_or_default();
            // The kept statement is stepping: the same text again is
            // prepared anew, and reads every row from the start.
            let inner = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
            Ok((first, inner))
        })?;
        assert_eq!(outer, 1);
        assert_eq!(inner.1, vec![1, 2]);
        assert_eq!(kept(&conn), 1, "one statement kept for the text");
        let again = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        assert_eq!(again.1, vec![1, 2]);
        Ok(())
    }

    #[test]
    fn a_kept_statement_follows_a_schema_change() -> Result<()> {
        let conn = connection();
        let text = Text::built("SELECT * FROM t".into());
        conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        conn.connection()
            .execute_batch("DROP TABLE t; CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (7);")
            .map_err(|e| classify(e, "t"))?;
        let (_, rows) = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        assert_eq!(rows, vec![7], "SQLite prepared it again for the new table");
        Ok(())
    }

    #[test]
    fn forgetting_lets_go_of_every_kept_statement() -> Result<()> {
        let conn = connection();
        let text = Text::built("SELECT a FROM t".into());
        conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        conn.forget();
        assert_eq!(kept(&conn), 0);
        let (runs, _) = conn.run(Sql::Built(&text), "t", runs_and_rows)?;
        assert_eq!(runs, 1, "rusqlite's cache had it back");
        Ok(())
    }

    #[test]
    fn a_kept_statement_holds_no_bound_value() -> Result<()> {
        let conn = connection();
        let text = Text::built("SELECT ?1".into());
        conn.run(Sql::Built(&text), "t", |stmt| {
            stmt.raw_bind_parameter(1, "a long value")
                .map_err(|e| classify(e, "t"))?;
            Ok(())
        })?;
        let value: Option<String> = conn.run(Sql::Built(&text), "t", |stmt| {
            let mut rows = stmt.raw_query();
            let row = rows.next().map_err(|e| classify(e, "t"))?;
            row.map(|row| row.get(0))
                .transpose()
                .map(Option::flatten)
                .map_err(|e| classify(e, "t"))
        })?;
        assert_eq!(value, None, "the binding was cleared");
        Ok(())
    }
}
