//! SQL execution: the one place statements reach the backend (SQLite, or
//! PostgreSQL with the `postgres` feature). Every statement is prepared
//! through a cache (on SQLite, the statements of texts the connection
//! keeps are kept by the connection itself, `statements`), bound by
//! position (values are never spliced into SQL text), echoed and recorded
//! when asked, and its errors classified into [`Error`](crate::Error).
//!
//! The text of statements built from table metadata comes from [`text`];
//! `query` builds user queries as trees, [`tree`] renders them, and the
//! connection keeps each query shape's text ([`shape`]), so that a query
//! run again is not rendered again.

pub mod echo;
pub(crate) mod shape;
pub(crate) mod statements;
pub(crate) mod text;
pub(crate) mod trace;
pub(crate) mod tree;

pub(crate) use statements::{Sql, SqliteConn, Text};
pub(crate) use text::Kind;

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use rustc_hash::FxHashMap as HashMap;

use crate::backend::Backend;
#[cfg(feature = "postgres")]
use crate::backend::postgres::{PgRow, PooledClient};
use crate::backend::sqlite::{SqliteRow, classify, to_driver};
use crate::error::{Error, Result};
use crate::value::{Bound, FromValueError, Row, Value, ValueRef};
use echo::Observers;

pub use crate::value::render;

/// A row of the backend, as the statement functions hand it over: an enum
/// of concrete types, so that reading it is a branch per column rather
/// than a virtual call (with only SQLite built in, not even that).
pub(crate) enum DbRow<'r, 's> {
    Sqlite(SqliteRow<'r, 's>),
    #[cfg(feature = "postgres")]
    Postgres(PgRow<'r>),
}

impl Row for DbRow<'_, '_> {
    #[inline]
    fn value(&self, index: usize) -> Result<ValueRef<'_>, FromValueError> {
        match self {
            DbRow::Sqlite(row) => row.value(index),
            #[cfg(feature = "postgres")]
            DbRow::Postgres(row) => row.value(index),
        }
    }
}

impl DbRow<'_, '_> {
    /// Column `index`, owned, for messages: SQLite text that is not UTF-8
    /// is shown with replacement characters rather than refused.
    pub(crate) fn lossy(&self, index: usize) -> Result<Value> {
        match self {
            DbRow::Sqlite(row) => row.lossy(index),
            #[cfg(feature = "postgres")]
            DbRow::Postgres(row) => {
                row.value(index)
                    .map(Value::from)
                    .map_err(|e| Error::Conversion {
                        table: String::new(),
                        column: index.to_string(),
                        key: String::new(),
                        detail: e.to_string(),
                    })
            }
        }
    }
}

/// Quotes an identifier for SQL: `users` becomes `"users"`, and a `"` inside
/// is doubled, so any name is safe to splice.
pub fn quote(identifier: &str) -> String {
    let mut quoted = String::with_capacity(identifier.len() + 2);
    push_quoted(&mut quoted, identifier);
    quoted
}

/// Appends `identifier` quoted as [`quote`] does, without a `String` of its
/// own (statement texts are built name by name into one buffer).
pub(crate) fn push_quoted(sql: &mut String, identifier: &str) {
    sql.push('"');
    // Names almost never hold a quote: a byte scan, then one copy, costs a
    // fraction of splitting the name at quotes.
    if identifier.bytes().any(|b| b == b'"') {
        sql.push_str(&identifier.replace('"', "\"\""));
    } else {
        sql.push_str(identifier);
    }
    sql.push('"');
}

/// A bound parameter with the column it is for (used in NaN errors).
pub(crate) struct Param<'a> {
    pub value: ValueRef<'a>,
    pub column: &'static str,
}

impl<'a> Param<'a> {
    pub(crate) fn new(value: ValueRef<'a>, column: &'static str) -> Self {
        Param { value, column }
    }
}

/// A cached statement text: table, model (its module and name), kind.
/// Hashed by table name and kind only, and compared name by name with a
/// pointer check first: every statement built from metadata looks its
/// text up here, and the names are `&'static str`s of the generated
/// tables, nearly always the same pointers. Two models of one table
/// share a hash, not an entry.
#[derive(Debug, Clone, Copy, Eq)]
pub(crate) struct TextKey {
    table: &'static str,
    module: &'static str,
    model: &'static str,
    kind: Kind,
}

impl PartialEq for TextKey {
    fn eq(&self, other: &Self) -> bool {
        fn same(a: &str, b: &str) -> bool {
            std::ptr::eq(a, b) || a == b
        }
        self.kind == other.kind
            && same(self.table, other.table)
            && same(self.model, other.model)
            && same(self.module, other.module)
    }
}

impl std::hash::Hash for TextKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.table.hash(state);
        self.kind.hash(state);
    }
}

/// How many texts a connection keeps (see [`Conn::text`]).
const TEXTS_KEPT: usize = 512;

/// The SQL texts a connection keeps: those built from table metadata, by
/// table, model and kind, and those of queries, by shape. They go back
/// to the pool with their connection, so that a session (often one per
/// request, doing one lookup) finds them built.
#[derive(Debug, Default)]
pub(crate) struct Texts {
    built: HashMap<TextKey, Text>,
    shapes: shape::Shapes,
}

/// A query's text and its parameters, in placeholder order (see
/// [`Conn::query_text`]).
pub(crate) struct QueryText {
    text: Shaped,
    params: Vec<(Value, &'static str)>,
}

/// A query's text: kept for its shape, or rendered for one run.
enum Shaped {
    Kept(Text),
    Once(String),
}

impl QueryText {
    /// The text, to run.
    pub(crate) fn sql(&self) -> Sql<'_> {
        match &self.text {
            Shaped::Kept(text) => Sql::Built(text),
            Shaped::Once(text) => Sql::Given(text),
        }
    }

    /// The parameters, bound by position with the column each is for.
    pub(crate) fn params(&self) -> Vec<Param<'_>> {
        tree::params(&self.params)
    }
}

/// A backend's connection, as a session holds it.
pub(crate) enum Raw {
    Sqlite(SqliteConn),
    /// Boxed: a pooled PostgreSQL connection is several times a SQLite
    /// handle's size.
    #[cfg(feature = "postgres")]
    Postgres(Box<RefCell<PooledClient>>),
}

/// A session's connection, with the database's echo and recorders, and
/// the SQL texts it keeps: built for each table (so that a thousand
/// inserts format their statement once) and kept per query shape.
pub(crate) struct Conn {
    raw: Raw,
    observers: Arc<Observers>,
    /// Built texts keyed by table, module and model name (a
    /// `&'static TableDef`'s address is not unique: a constant may be
    /// inlined at several addresses); query texts by shape.
    texts: RefCell<Texts>,
    /// Why the statements being sent run, innermost last, each marked
    /// whether it stands alone (a root) or refines the one around it.
    /// Filled only while someone observes.
    causes: RefCell<Vec<(String, bool)>>,
}

impl Conn {
    pub(crate) fn new(raw: Raw, observers: Arc<Observers>, texts: Texts) -> Self {
        Conn {
            raw,
            observers,
            texts: RefCell::new(texts),
            causes: RefCell::new(Vec::new()),
        }
    }

    /// The SQL dialect of the connection's backend.
    #[inline]
    pub(crate) fn dialect(&self) -> Backend {
        match self.raw {
            Raw::Sqlite(_) => Backend::Sqlite,
            #[cfg(feature = "postgres")]
            Raw::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQL text of `kind` for `table`, built once per connection (and
    /// kept with it while it waits in the pool).
    pub(crate) fn text(&self, table: &'static crate::schema::TableDef, kind: Kind) -> Text {
        let key = TextKey {
            table: table.name,
            module: table.module,
            model: table.model,
            kind,
        };
        let dialect = self.dialect();
        // Building the text calls nothing that could reach this cache
        // again, so one borrow serves the lookup and the insert.
        let mut texts = self.texts.borrow_mut();
        // UPDATEs are built per set of changed columns, so a long-lived
        // connection could gather many: start over past a bound.
        if texts.built.len() >= TEXTS_KEPT && !texts.built.contains_key(&key) {
            texts.built.clear();
            self.forget_statements();
        }
        let text = texts
            .built
            .entry(key)
            .or_insert_with(|| Text::built(text::build(table, kind, dialect)));
        text.clone()
    }

    /// The text and parameters of the query `select`: the text kept for
    /// its shape where this connection ran one of the same shape before
    /// (and its statement with it), else rendered, and kept
    /// ([`shape`]).
    ///
    /// # Errors
    /// As [`tree::render`].
    pub(crate) fn query_text(&self, select: &tree::Select) -> Result<QueryText> {
        let dialect = self.dialect();
        // A PostgreSQL connection's texts do not go back to the pool with
        // it, and its client finds statements by text itself: a shape
        // kept for one session would cost more than it saves.
        if dialect == Backend::Postgres {
            let rendered = tree::render(select, dialect)?;
            return Ok(QueryText {
                text: Shaped::Once(rendered.sql),
                params: rendered.params,
            });
        }
        let (hash, fingerprinted) = tree::fingerprint(select, dialect)?;
        let found = self
            .texts
            .borrow()
            .shapes
            .find(select, hash, fingerprinted.params.len());
        let keep = match found {
            shape::Lookup::Found(text) => {
                return Ok(QueryText {
                    text: Shaped::Kept(text),
                    params: fingerprinted.params,
                });
            }
            shape::Lookup::Keep => true,
            shape::Lookup::Skip => false,
        };
        let rendered = tree::render(select, dialect)?;
        if !keep {
            return Ok(QueryText {
                text: Shaped::Once(rendered.sql),
                params: rendered.params,
            });
        }
        let mut texts = self.texts.borrow_mut();
        if texts.shapes.full() {
            texts.shapes.clear();
            self.forget_statements();
        }
        Ok(QueryText {
            text: Shaped::Kept(texts.shapes.keep(hash, select, rendered.sql)),
            params: rendered.params,
        })
    }

    /// Lets go of the statements kept for texts being forgotten.
    fn forget_statements(&self) {
        match &self.raw {
            Raw::Sqlite(raw) => raw.forget(),
            #[cfg(feature = "postgres")]
            Raw::Postgres(_) => {}
        }
    }

    /// Runs `run` with `cause` as the reason for the statements it sends:
    /// a root cause stands alone (`query of users`), any other refines the
    /// causes around it up to the nearest root (`flush: insert into
    /// users`). The text is built only while someone observes.
    pub(crate) fn because<R>(
        &self,
        root: bool,
        cause: impl FnOnce() -> String,
        run: impl FnOnce() -> R,
    ) -> R {
        if !self.observers.active() {
            return run();
        }
        let text = cause();
        self.causes.borrow_mut().push((text, root));
        let result = run();
        self.causes.borrow_mut().pop();
        result
    }

    /// Like [`Conn::because`] with a root cause, unless a cause is already
    /// given (a `get` inside a lazy load keeps the lazy load's).
    pub(crate) fn because_unless_given<R>(
        &self,
        cause: impl FnOnce() -> String,
        run: impl FnOnce() -> R,
    ) -> R {
        if self.causes.borrow().is_empty() {
            self.because(true, cause, run)
        } else {
            run()
        }
    }

    /// Like [`Conn::because`]: a root cause where none is given, else a
    /// refinement of the given one (`rollback: reread of users 3`).
    pub(crate) fn because_within<R>(
        &self,
        cause: impl FnOnce() -> String,
        run: impl FnOnce() -> R,
    ) -> R {
        let root = self.causes.borrow().is_empty();
        self.because(root, cause, run)
    }

    /// The cause statements sent now would carry, while someone observes
    /// (an autoflush names what it runs before).
    pub(crate) fn current_cause(&self) -> Option<String> {
        self.cause()
    }

    /// The cause of a statement sent now: the causes from the innermost
    /// root on, joined.
    fn cause(&self) -> Option<String> {
        let causes = self.causes.borrow();
        let from = causes.iter().rposition(|(_, root)| *root)?;
        let parts: Vec<&str> = causes[from..].iter().map(|(c, _)| c.as_str()).collect();
        Some(parts.join(": "))
    }

    /// The SQLite connection, for what only SQLite does here (migrations,
    /// schema introspection, PRAGMAs).
    ///
    /// # Errors
    /// [`Error::Unsupported`] on PostgreSQL, naming `what`.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) fn sqlite(&self, what: &'static str) -> Result<&Connection> {
        match &self.raw {
            Raw::Sqlite(raw) => Ok(raw.connection()),
            #[cfg(feature = "postgres")]
            Raw::Postgres(_) => Err(Error::Unsupported {
                what,
                detail: "on PostgreSQL yet",
            }),
        }
    }

    /// The PostgreSQL connection.
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(&self) -> Option<std::cell::RefMut<'_, PooledClient>> {
        match &self.raw {
            Raw::Postgres(client) => Some(client.borrow_mut()),
            Raw::Sqlite(_) => None,
        }
    }

    /// Whether a transaction is open on the connection (SQLite abandons one
    /// itself after some failures; PostgreSQL after a failed `COMMIT`).
    pub(crate) fn in_transaction(&self) -> bool {
        match &self.raw {
            Raw::Sqlite(raw) => !raw.connection().is_autocommit(),
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => client.borrow().in_transaction(),
        }
    }

    /// The rowid SQLite assigned to the row inserted last.
    pub(crate) fn last_insert_rowid(&self) -> Result<i64> {
        Ok(self.sqlite("reading a rowid")?.last_insert_rowid())
    }

    /// The backend connection and the texts built for it, to go back to
    /// the pool together.
    pub(crate) fn into_parts(self) -> (Raw, Texts) {
        (self.raw, self.texts.into_inner())
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    pub(crate) fn execute<'s>(
        &self,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        table: &str,
    ) -> Result<usize> {
        let sql = sql.into();
        match &self.raw {
            Raw::Sqlite(raw) => {
                // Watched from before the prepare, as on PostgreSQL.
                let watch = self.watch(params);
                raw.run(sql, table, |stmt| {
                    bind(stmt, params, table)?;
                    let changed = stmt.raw_execute().map_err(|e| classify(e, table));
                    self.done(watch, sql.as_str(), false);
                    changed
                })
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => {
                let sql = sql.as_str();
                let watch = self.watch(params);
                let values = self.checked(params, table)?;
                let changed = client.borrow_mut().execute(sql, &values, table);
                self.done(watch, sql, false);
                Ok(usize::try_from(changed?).unwrap_or(usize::MAX))
            }
        }
    }

    /// Prepares `sql` once for running it many times: a flush's one-row
    /// inserts into one table share one prepared statement, as hand-written
    /// code does.
    pub(crate) fn batch<'c>(&'c self, sql: &'c str, table: &'c str) -> Result<Batch<'c>> {
        let stmt = match &self.raw {
            Raw::Sqlite(raw) => Some(
                raw.connection()
                    .prepare_cached(sql)
                    .map_err(|e| classify(e, table))?,
            ),
            #[cfg(feature = "postgres")]
            Raw::Postgres(_) => None,
        };
        Ok(Batch {
            conn: self,
            stmt,
            sql,
            table,
        })
    }

    /// Runs a transaction-control statement (`BEGIN`, `COMMIT`, ...).
    pub(crate) fn control(&self, sql: &str) -> Result<()> {
        let watch = self.watch(&[]);
        let result = match &self.raw {
            Raw::Sqlite(raw) => raw
                .connection()
                .execute_batch(sql)
                .map_err(|e| classify(e, "")),
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => client.borrow_mut().batch(sql),
        };
        self.done(watch, sql, true);
        result
    }

    /// Opens a write transaction, as the backend does it.
    pub(crate) fn begin(&self) -> Result<()> {
        self.control(self.dialect().begin())
    }

    /// Runs a query and hands each row to `each`.
    pub(crate) fn query<'s>(
        &self,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        table: &str,
        each: impl FnMut(&DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        self.query_rows(sql, params, table, usize::MAX, each)
    }

    /// Runs a query and hands at most `limit` rows to `each`, stepping no
    /// further (a lookup by primary key stops at its one row).
    pub(crate) fn query_rows<'s>(
        &self,
        sql: impl Into<Sql<'s>>,
        params: &[Param<'_>],
        table: &str,
        limit: usize,
        mut each: impl FnMut(&DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        let sql = sql.into();
        match &self.raw {
            Raw::Sqlite(raw) => {
                let watch = self.watch(params);
                raw.run(sql, table, |stmt| {
                    bind(stmt, params, table)?;
                    let Some(mut watch) = watch else {
                        // Unobserved: the loop hand-written code would write.
                        let mut rows = stmt.raw_query();
                        for _ in 0..limit {
                            let Some(row) = rows.next().map_err(|e| classify(e, table))? else {
                                break;
                            };
                            each(&DbRow::Sqlite(SqliteRow(row)))?;
                        }
                        return Ok(());
                    };
                    let mut rows = stmt.raw_query();
                    let mut stepped = || -> Result<()> {
                        for _ in 0..limit {
                            let Some(row) = rows.next().map_err(|e| classify(e, table))? else {
                                break;
                            };
                            // The time `each` takes is the caller's, not the statement's.
                            let paused = Instant::now();
                            each(&DbRow::Sqlite(SqliteRow(row)))?;
                            watch.paused += paused.elapsed();
                        }
                        Ok(())
                    };
                    let result = stepped();
                    self.done(Some(watch), sql.as_str(), false);
                    result
                })
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => {
                let sql = sql.as_str();
                let watch = self.watch(params);
                let values = self.checked(params, table)?;
                // Rows are read whole before `each` runs, so that `each`
                // may send statements of its own on this connection.
                let rows = client.borrow_mut().query(sql, &values, table);
                self.done(watch, sql, false);
                for row in rows?.iter().take(limit) {
                    each(&DbRow::Postgres(PgRow::new(row)))?;
                }
                Ok(())
            }
        }
    }

    /// The values of `params`, checked as SQLite's binding checks them
    /// (no NaN).
    #[cfg(feature = "postgres")]
    fn checked<'p>(&self, params: &[Param<'p>], table: &str) -> Result<Vec<ValueRef<'p>>> {
        params
            .iter()
            .map(|p| check_number(p.value, p.column, table))
            .collect()
    }

    /// The number of parameters `sql` takes and the names of the columns it
    /// returns, from the prepared statement (cached, so running it next
    /// prepares nothing).
    pub(crate) fn describe(&self, sql: &str) -> Result<(usize, Vec<String>)> {
        match &self.raw {
            Raw::Sqlite(raw) => {
                let stmt = raw
                    .connection()
                    .prepare_cached(sql)
                    .map_err(|e| classify(e, ""))?;
                let names = stmt.column_names().map(str::to_owned).collect();
                Ok((stmt.parameter_count(), names))
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => client.borrow_mut().describe(sql),
        }
    }

    /// Runs a query neither echoed nor recorded: the reads a migration plan
    /// or status makes are not statements the user asked to run.
    pub(crate) fn query_quietly(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut each: impl FnMut(&DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        match &self.raw {
            Raw::Sqlite(raw) => {
                let mut stmt = raw.connection().prepare(sql).map_err(|e| classify(e, ""))?;
                bind(&mut stmt, params, "")?;
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next().map_err(|e| classify(e, ""))? {
                    each(&DbRow::Sqlite(SqliteRow(row)))?;
                }
                Ok(())
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(client) => {
                let values: Vec<ValueRef<'_>> = params.iter().map(|p| p.value).collect();
                let rows = client.borrow_mut().query(sql, &values, "")?;
                for row in &rows {
                    each(&DbRow::Postgres(PgRow::new(row)))?;
                }
                Ok(())
            }
        }
    }

    /// Starts watching a statement, while someone observes: its parameters
    /// and cause now, its duration when [`Conn::done`] is called.
    #[inline]
    fn watch(&self, params: &[Param<'_>]) -> Option<Watch> {
        if !self.observers.active() {
            return None;
        }
        Some(Watch {
            values: params.iter().map(|p| Value::from(p.value)).collect(),
            cause: self.cause(),
            started: Instant::now(),
            paused: Duration::ZERO,
        })
    }

    /// The statement `watch` watched has run (or failed in the database):
    /// it goes to the echo and the recorders, with how long it took. A
    /// statement that could not be prepared or bound is not shown.
    #[inline]
    fn done(&self, watch: Option<Watch>, sql: &str, batch: bool) {
        if let Some(watch) = watch {
            let took = watch.started.elapsed().saturating_sub(watch.paused);
            self.observers
                .statement(sql, watch.values, batch, watch.cause, Some(took));
        }
    }
}

fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Param<'_>], table: &str) -> Result<()> {
    for (i, param) in params.iter().enumerate() {
        bind_one(stmt, i, param.value, param.column, table)?;
    }
    Ok(())
}

/// A statement being watched; see [`Conn::watch`].
struct Watch {
    values: Vec<Value>,
    cause: Option<String>,
    started: Instant,
    /// Time spent outside the statement while it ran (handing rows over).
    paused: Duration,
}

/// One statement prepared for many executions; see [`Conn::batch`].
pub(crate) struct Batch<'c> {
    conn: &'c Conn,
    /// The prepared SQLite statement (PostgreSQL's connection keeps its
    /// prepared statements itself).
    stmt: Option<rusqlite::CachedStatement<'c>>,
    sql: &'c str,
    table: &'c str,
}

impl Batch<'_> {
    /// Runs the statement once, with the `count` parameters produced one by
    /// one by `param`, each with its column's name (nothing collected: this
    /// is the bulk-insert path).
    pub(crate) fn execute_each<'p>(
        &mut self,
        count: usize,
        param: impl Fn(usize) -> (Bound<'p>, &'static str),
    ) -> Result<usize> {
        let Some(stmt) = self.stmt.as_mut() else {
            return self.execute_collected(count, param);
        };
        for i in 0..count {
            let (value, column) = param(i);
            bind_one(stmt, i, value.as_ref(), column, self.table)?;
        }
        let watch = self.conn.observers.active().then(|| Watch {
            values: (0..count)
                .map(|i| Value::from(param(i).0.as_ref()))
                .collect(),
            cause: self.conn.cause(),
            started: Instant::now(),
            paused: Duration::ZERO,
        });
        let changed = stmt.raw_execute().map_err(|e| classify(e, self.table));
        self.conn.done(watch, self.sql, false);
        changed
    }

    /// [`Batch::execute_each`] on a backend that takes the parameters
    /// together.
    #[cold]
    fn execute_collected<'p>(
        &mut self,
        count: usize,
        param: impl Fn(usize) -> (Bound<'p>, &'static str),
    ) -> Result<usize> {
        let bound: Vec<(Bound<'p>, &'static str)> = (0..count).map(param).collect();
        let params: Vec<Param<'_>> = bound
            .iter()
            .map(|(value, column)| Param::new(value.as_ref(), column))
            .collect();
        self.conn.execute(self.sql, &params, self.table)
    }

    /// The rowid SQLite assigned to the row just inserted.
    pub(crate) fn last_insert_rowid(&self) -> Result<i64> {
        self.conn.last_insert_rowid()
    }
}

/// `value`, unless it is NaN, which SQLite would store as NULL (and
/// PostgreSQL would store as a NaN no comparison finds): refused on both.
#[cfg(feature = "postgres")]
fn check_number<'v>(
    value: ValueRef<'v>,
    column: &'static str,
    table: &str,
) -> Result<ValueRef<'v>> {
    if matches!(value, ValueRef::Real(f) if f.is_nan()) {
        return Err(not_a_number(table, column));
    }
    Ok(value)
}

/// Binds parameter `i` (0-based), refusing NaN, which SQLite would store as NULL.
///
/// Inlined, with its failures out of line: an insert binds every column of
/// every row through here.
#[inline]
fn bind_one(
    stmt: &mut rusqlite::Statement<'_>,
    i: usize,
    value: ValueRef<'_>,
    column: &'static str,
    table: &str,
) -> Result<()> {
    if matches!(value, ValueRef::Real(f) if f.is_nan()) {
        return Err(not_a_number(table, column));
    }
    let value = rusqlite::types::ToSqlOutput::Borrowed(to_driver(value));
    match stmt.raw_bind_parameter(i + 1, value) {
        Ok(()) => Ok(()),
        Err(e) => Err(classify(e, table)),
    }
}

#[cold]
fn not_a_number(table: &str, column: &str) -> Error {
    Error::NotANumber {
        table: table.to_owned(),
        column: column.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_doubles_embedded_quotes() {
        assert_eq!(quote("users"), "\"users\"");
        assert_eq!(quote("we\"ird name"), "\"we\"\"ird name\"");
    }

    use std::cell::Cell;

    use echo::Observers;

    #[test]
    fn text_keys_are_equal_by_their_names_not_where_the_names_lie() {
        let key = |table, module, model| TextKey {
            table,
            module,
            model,
            kind: Kind::Get,
        };
        let copied = String::from("users");
        let copied: &'static str = Box::leak(copied.into_boxed_str());
        assert!(key("users", "app", "User") == key(copied, "app", "User"));
        assert!(key("users", "app", "User") != key("users", "app", "Admin"));
        assert!(key("users", "app", "User") != key("users", "other", "User"));
        assert!(
            key("users", "app", "User")
                != TextKey {
                    kind: Kind::Delete,
                    ..key("users", "app", "User")
                }
        );
        let mut texts = Texts::default();
        texts
            .built
            .insert(key("users", "app", "User"), Text::built("a".into()));
        texts
            .built
            .insert(key("users", "app", "Admin"), Text::built("b".into()));
        assert_eq!(texts.built.len(), 2, "two models of one table: two texts");
        assert_eq!(
            texts.built.get(&key(copied, "app", "User")).map(|t| &**t),
            Some("a")
        );
    }

    #[test]
    fn a_query_run_again_finds_its_text_and_statement_kept() -> Result<()> {
        let raw = rusqlite::Connection::open_in_memory().expect("an in-memory connection");
        raw.execute_batch(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, age INTEGER);
             INSERT INTO people (age) VALUES (35), (45);",
        )
        .expect("a table");
        let conn = Conn::new(
            Raw::Sqlite(SqliteConn::open(raw)),
            Arc::new(Observers::default()),
            Texts::default(),
        );
        let older_than = |age: i64| {
            let mut select = tree::Select::from("people");
            select.columns = vec![tree::Node::Column {
                table: "people",
                name: "id",
            }];
            select.and_where(tree::Node::binary(
                tree::Node::Column {
                    table: "people",
                    name: "age",
                },
                ">",
                tree::Node::Value {
                    value: Value::Integer(age),
                    column: "age",
                },
            ));
            select
        };
        let run = |select: &tree::Select| -> Result<(QueryText, usize)> {
            let text = conn.query_text(select)?;
            let mut rows = 0;
            conn.query(text.sql(), &text.params(), "people", |_| {
                rows += 1;
                Ok(())
            })?;
            Ok((text, rows))
        };
        let (first, rows) = run(&older_than(30))?;
        assert_eq!(rows, 2);
        let (again, rows) = run(&older_than(40))?;
        assert_eq!(rows, 1, "the new value bound, not the first");
        assert_eq!(again.params, [(Value::Integer(40), "age")]);
        let (Shaped::Kept(first), Shaped::Kept(again)) = (&first.text, &again.text) else {
            panic!("both texts kept");
        };
        assert!(std::ptr::eq(&**first, &**again), "one text for one shape");
        assert_eq!(conn.texts.borrow().shapes.len(), 1);
        let mut limited = older_than(40);
        limited.limit = Some(1);
        run(&limited)?;
        assert_eq!(
            conn.texts.borrow().shapes.len(),
            2,
            "a LIMIT: another shape"
        );
        Ok(())
    }

    #[test]
    fn no_cause_is_built_while_nobody_observes() {
        let raw = rusqlite::Connection::open_in_memory().expect("an in-memory connection");
        let observers = Arc::new(Observers::default());
        let conn = Conn::new(
            Raw::Sqlite(SqliteConn::open(raw)),
            Arc::clone(&observers),
            Texts::default(),
        );
        let built = Cell::new(0);
        let cause = || {
            built.set(built.get() + 1);
            "query of users".to_owned()
        };
        conn.because(true, cause, || ());
        assert_eq!(built.get(), 0, "echo off, no recorder: nothing built");
        let recorder = observers.recorder();
        conn.because(true, cause, || ());
        assert_eq!(built.get(), 1, "built once someone listens");
        drop(recorder);
    }
}
