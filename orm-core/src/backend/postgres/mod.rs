//! The PostgreSQL backend's edge: a pool of connections to one server
//! (r2d2), each connection's prepared statements, orm's values into
//! PostgreSQL's and back (in [`value`]), and the classification of the
//! server's errors by SQLSTATE.
//!
//! Does not write SQL: the statements come from `sql`, rendered for
//! [`Dialect::Postgres`](super::Dialect::Postgres).

use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use rustc_hash::FxHashMap as HashMap;

pub(crate) mod value;

use value::PgParam;
pub(crate) use value::PgRow;

use crate::error::{ConstraintKind, Error, Result};
use crate::value::ValueRef;

/// One server connection with the statements prepared on it. A prepared
/// statement lives as long as its connection, so the cache travels with
/// the connection through the pool, not with a session.
pub(crate) struct PgClient {
    client: Client,
    statements: HashMap<Box<str>, Statement>,
    /// Whether a transaction is open: `BEGIN` ran and no `COMMIT` or
    /// `ROLLBACK` since (the client does not report it).
    in_transaction: bool,
    /// Not to be given back to the pool (a rollback failed on it).
    discarded: bool,
}

/// Opens connections for the pool, as the URL says.
#[derive(Debug)]
pub(crate) struct Connector {
    config: postgres::Config,
    lock_timeout: Duration,
}

impl r2d2::ManageConnection for Connector {
    type Connection = PgClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgClient, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // A lock held by another transaction past this fails the statement
        // (55P03, `Error::Busy`), as SQLite's busy timeout does.
        client.batch_execute(&format!(
            "SET lock_timeout = {}",
            self.lock_timeout.as_millis()
        ))?;
        Ok(PgClient {
            client,
            statements: HashMap::default(),
            in_transaction: false,
            discarded: false,
        })
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.discarded || conn.client.is_closed()
    }
}

/// The pool of one database's connections.
pub(crate) type Pool = r2d2::Pool<Connector>;

/// A connection taken from the pool; dropping it gives it back.
pub(crate) type PooledClient = r2d2::PooledConnection<Connector>;

/// A pool of connections to the server `url` names; one connection is
/// opened now, so that a wrong URL fails here.
pub(crate) fn open(url: &str, timeout: Duration) -> Result<Pool> {
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::Connect {
        detail: format!("`{url}` is not a PostgreSQL URL: {e}"),
    })?;
    let connector = Connector {
        config,
        lock_timeout: timeout,
    };
    let pool = r2d2::Pool::builder()
        .connection_timeout(timeout)
        // A broken connection shows as `ConnectionLost` at its first
        // statement; testing each checkout would cost a round trip per
        // session.
        .test_on_check_out(false)
        .build_unchecked(connector);
    drop(take(&pool)?);
    Ok(pool)
}

/// A connection from `pool`, opening one if none is idle.
pub(crate) fn take(pool: &Pool) -> Result<PooledClient> {
    pool.get().map_err(|e| Error::Connect {
        detail: e.to_string(),
    })
}

impl PgClient {
    /// `sql` prepared once per connection.
    fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.into(), statement.clone());
        Ok(statement)
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<u64, postgres::Error> {
        let statement = self.prepared(sql)?;
        let params: Vec<PgParam<'_>> = params.iter().map(|v| PgParam(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.client.execute(&statement, &refs)
    }

    /// Runs a query and returns its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        let statement = self.prepared(sql)?;
        let params: Vec<PgParam<'_>> = params.iter().map(|v| PgParam(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.client.query(&statement, &refs)
    }

    /// The number of parameters `sql` takes and the names of its columns.
    pub(crate) fn describe(&mut self, sql: &str) -> Result<(usize, Vec<String>), postgres::Error> {
        let statement = self.prepared(sql)?;
        let names = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        Ok((statement.params().len(), names))
    }

    /// Runs statements without parameters (transaction control, DDL), and
    /// follows whether a transaction is open.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), postgres::Error> {
        let result = self.client.batch_execute(sql);
        let word = sql
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let ends = word == "COMMIT"
            || word == "END"
            || (word == "ROLLBACK" && !sql.to_ascii_uppercase().contains(" TO "));
        if word == "BEGIN" || word == "START" {
            self.in_transaction = result.is_ok();
        } else if ends {
            // A failed COMMIT ends the transaction too (the server rolls it back).
            self.in_transaction = false;
        }
        result
    }

    /// Whether a transaction is open on this connection.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction && !self.client.is_closed()
    }

    /// Marks the connection to be closed rather than pooled again.
    pub(crate) fn discard(&mut self) {
        self.discarded = true;
    }
}

/// Whether `table` exists in the connection's current schema.
pub(crate) fn table_exists(conn: &mut PgClient, table: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1";
    let rows = conn
        .query(sql, &[ValueRef::Text(table)])
        .map_err(|e| classify(e, table))?;
    Ok(!rows.is_empty())
}

/// Classifies a PostgreSQL error raised by a statement on `table`, by
/// SQLSTATE: the constraint classes, and the failures that another
/// transaction caused (a serialization failure, a deadlock, a lock not
/// granted in time) as [`Error::Busy`], which a retry may cure.
#[cold]
pub(crate) fn classify(err: postgres::Error, table: &str) -> Error {
    if err.is_closed() {
        return Error::ConnectionLost {
            detail: err.to_string(),
        };
    }
    let Some(db) = err.as_db_error() else {
        return Error::Postgres(err);
    };
    let kind = match db.code().code() {
        "23505" => Some(ConstraintKind::Unique),
        "23502" => Some(ConstraintKind::NotNull),
        "23503" => Some(ConstraintKind::ForeignKey),
        "23514" => Some(ConstraintKind::Check),
        "40001" | "40P01" | "55P03" => {
            return Error::Busy {
                table: db.table().unwrap_or(table).to_owned(),
            };
        }
        _ => None,
    };
    let Some(kind) = kind else {
        return Error::Postgres(err);
    };
    let mut detail = db.message().to_owned();
    if let Some(more) = db.detail() {
        detail.push_str(": ");
        detail.push_str(more);
    }
    Error::Constraint {
        table: db.table().unwrap_or(table).to_owned(),
        kind,
        detail,
    }
}
