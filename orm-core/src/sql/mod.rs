//! SQL execution: the one place statements reach SQLite. Every statement is
//! prepared through the connection's statement cache, bound by position
//! (values are never spliced into SQL text), echoed and recorded when asked,
//! and its errors classified into [`Error`](crate::Error).
//!
//! The text of statements built from table metadata comes from [`text`];
//! `query` builds the text of user queries.

pub mod echo;
pub(crate) mod text;

pub(crate) use text::Kind;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, Row, ToSql};

use rustc_hash::FxHashMap as HashMap;

use crate::database::Shared;
use crate::error::{Error, Result};

/// Quotes an identifier for SQL: `users` becomes `"users"`, and a `"` inside
/// is doubled, so any name is safe to splice.
pub fn quote(identifier: &str) -> String {
    let mut quoted = String::with_capacity(identifier.len() + 2);
    quoted.push('"');
    for ch in identifier.chars() {
        if ch == '"' {
            quoted.push('"');
        }
        quoted.push(ch);
    }
    quoted.push('"');
    quoted
}

/// A bound parameter with the column it is for (used in NaN errors).
pub(crate) struct Param<'a> {
    pub value: &'a dyn ToSql,
    pub column: &'static str,
}

impl<'a> Param<'a> {
    pub(crate) fn new(value: &'a dyn ToSql, column: &'static str) -> Self {
        Param { value, column }
    }
}

/// A cached statement text: table, model, kind.
type TextKey = (&'static str, &'static str, Kind);

/// A session's connection, with the database's echo and recorders, and
/// the SQL text already built for each table (so that a thousand inserts
/// format their statement once).
pub(crate) struct Conn {
    raw: Connection,
    shared: Arc<Shared>,
    /// Keyed by table and model name: a `&'static TableDef`'s address is
    /// not unique (a constant may be inlined at several addresses).
    texts: RefCell<HashMap<TextKey, Rc<str>>>,
}

impl Conn {
    pub(crate) fn new(raw: Connection, shared: Arc<Shared>) -> Self {
        Conn {
            raw,
            shared,
            texts: RefCell::new(HashMap::default()),
        }
    }

    /// The SQL text of `kind` for `table`, built once per connection.
    pub(crate) fn text(&self, table: &'static crate::schema::TableDef, kind: Kind) -> Rc<str> {
        let key = (table.name, table.model, kind);
        if let Some(text) = self.texts.borrow().get(&key) {
            return Rc::clone(text);
        }
        let text: Rc<str> = text::build(table, kind).into();
        self.texts.borrow_mut().insert(key, Rc::clone(&text));
        text
    }

    pub(crate) fn raw(&self) -> &Connection {
        &self.raw
    }

    pub(crate) fn into_raw(self) -> Connection {
        self.raw
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Param<'_>], table: &str) -> Result<usize> {
        let mut stmt = self
            .raw
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, table))?;
        bind(&mut stmt, params, table)?;
        self.observe(sql, params);
        stmt.raw_execute().map_err(|e| Error::from_sqlite(e, table))
    }

    /// Prepares `sql` once for running it over many rows: a flush's inserts
    /// into one table share one prepared statement, as hand-written code does.
    pub(crate) fn batch<'c>(&'c self, sql: &'c str, table: &'c str) -> Result<Batch<'c>> {
        let stmt = self
            .raw
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, table))?;
        Ok(Batch {
            conn: self,
            stmt,
            sql,
            table,
        })
    }

    /// Runs a transaction-control statement (`BEGIN`, `COMMIT`, ...).
    pub(crate) fn control(&self, sql: &str) -> Result<()> {
        self.observe(sql, &[]);
        self.raw
            .execute_batch(sql)
            .map_err(|e| Error::from_sqlite(e, ""))
    }

    /// Runs a query and hands each row to `each`.
    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
        table: &str,
        each: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.query_rows(sql, params, table, usize::MAX, each)
    }

    /// Runs a query and hands at most `limit` rows to `each`, stepping no
    /// further (a lookup by primary key stops at its one row).
    pub(crate) fn query_rows(
        &self,
        sql: &str,
        params: &[Param<'_>],
        table: &str,
        limit: usize,
        mut each: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self
            .raw
            .prepare_cached(sql)
            .map_err(|e| Error::from_sqlite(e, table))?;
        bind(&mut stmt, params, table)?;
        self.observe(sql, params);
        let mut rows = stmt.raw_query();
        let mut seen = 0;
        while seen < limit {
            let Some(row) = rows.next().map_err(|e| Error::from_sqlite(e, table))? else {
                break;
            };
            each(row)?;
            seen += 1;
        }
        Ok(())
    }

    pub(crate) fn last_insert_rowid(&self) -> i64 {
        self.raw.last_insert_rowid()
    }

    fn observe(&self, sql: &str, params: &[Param<'_>]) {
        if self.shared.observers.active() {
            let values = params.iter().map(|p| owned_value(p.value)).collect();
            self.shared.observers.statement(sql, values);
        }
    }
}

fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Param<'_>], table: &str) -> Result<()> {
    for (i, param) in params.iter().enumerate() {
        bind_one(stmt, i, param, table)?;
    }
    Ok(())
}

/// One statement prepared for many executions; see [`Conn::batch`].
pub(crate) struct Batch<'c> {
    conn: &'c Conn,
    stmt: rusqlite::CachedStatement<'c>,
    sql: &'c str,
    table: &'c str,
}

impl Batch<'_> {
    /// Runs the statement once, with the `count` parameters produced one by
    /// one by `param` (nothing collected: this is the bulk-insert path).
    pub(crate) fn execute_each<'p>(
        &mut self,
        count: usize,
        param: impl Fn(usize) -> Param<'p>,
    ) -> Result<usize> {
        for i in 0..count {
            bind_one(&mut self.stmt, i, &param(i), self.table)?;
        }
        if self.conn.shared.observers.active() {
            let values = (0..count).map(|i| owned_value(param(i).value)).collect();
            self.conn.shared.observers.statement(self.sql, values);
        }
        self.stmt
            .raw_execute()
            .map_err(|e| Error::from_sqlite(e, self.table))
    }

    pub(crate) fn last_insert_rowid(&self) -> i64 {
        self.conn.last_insert_rowid()
    }
}

/// Binds parameter `i` (0-based), refusing NaN, which SQLite would store as NULL.
fn bind_one(
    stmt: &mut rusqlite::Statement<'_>,
    i: usize,
    param: &Param<'_>,
    table: &str,
) -> Result<()> {
    let output = param
        .value
        .to_sql()
        .map_err(|e| Error::from_sqlite(e, table))?;
    if is_nan(&output) {
        return Err(Error::NotANumber {
            table: table.to_owned(),
            column: param.column.to_owned(),
        });
    }
    stmt.raw_bind_parameter(i + 1, output)
        .map_err(|e| Error::from_sqlite(e, table))
}

fn is_nan(output: &ToSqlOutput<'_>) -> bool {
    match output {
        ToSqlOutput::Borrowed(ValueRef::Real(f)) | ToSqlOutput::Owned(Value::Real(f)) => f.is_nan(),
        _ => false,
    }
}

/// The value a parameter binds, owned (for echo, recorders and snapshots).
pub(crate) fn owned_value(value: &dyn ToSql) -> Value {
    match value.to_sql() {
        Ok(ToSqlOutput::Borrowed(v)) => Value::try_from(v).unwrap_or(Value::Null),
        Ok(ToSqlOutput::Owned(v)) => v,
        _ => Value::Null,
    }
}

/// Renders a value as SQL literal text, for echo and error messages.
pub fn render(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for ch in s.chars() {
                match ch {
                    '\'' => out.push_str("''"),
                    '\0' => out.push_str("\\0"),
                    _ => out.push(ch),
                }
            }
            out.push('\'');
            out
        }
        Value::Blob(b) => {
            let hex: String = b
                .iter()
                .take(32)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            if b.len() > 32 {
                format!("x'{hex}...' ({} bytes)", b.len())
            } else {
                format!("x'{hex}'")
            }
        }
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

    #[test]
    fn render_escapes_text_and_shortens_blobs() {
        assert_eq!(render(&Value::Text("O'Brien".into())), "'O''Brien'");
        assert_eq!(render(&Value::Blob(vec![1, 255])), "x'01ff'");
        assert_eq!(render(&Value::Null), "NULL");
    }
}
