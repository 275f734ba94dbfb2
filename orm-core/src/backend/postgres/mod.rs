//! The PostgreSQL backend's edge: a pool of connections to one server
//! (r2d2), each connection's prepared statements, orm's values into
//! PostgreSQL's and back (in [`value`]), and the classification of the
//! server's errors by SQLSTATE.
//!
//! Does not write SQL: the statements come from `sql`, rendered for
//! [`Backend::Postgres`](super::Backend::Postgres).

use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use rustc_hash::FxHashMap as HashMap;

pub(crate) mod introspect;
pub(crate) mod migration;
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
    /// How to open it again when the server closes it.
    connector: Connector,
    statements: HashMap<Box<str>, Statement>,
    /// Whether a transaction is open: `BEGIN` ran and no `COMMIT` or
    /// `ROLLBACK` since (the client does not report it).
    in_transaction: bool,
    /// Not to be given back to the pool (a rollback failed on it).
    discarded: bool,
    /// A statement found the connection gone: the client may not say it
    /// is closed until it next polls the socket.
    lost: bool,
    /// The open transaction is aborted by a statement that failed in it
    /// (PostgreSQL ignores everything until `ROLLBACK`, or `ROLLBACK TO`
    /// a savepoint): the failure, to refuse a `COMMIT` with.
    aborted: Option<String>,
    /// The database's count of schema changes when the statements were
    /// prepared (see `PgClient::prepared_since`).
    schema_changes: u64,
    /// The `lock_timeout` set on the connection, if any yet.
    lock_timeout_ms: Option<u64>,
}

/// Opens connections for the pool, as the URL says.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    config: postgres::Config,
}

impl Connector {
    fn client(&self) -> Result<Client, postgres::Error> {
        self.config.connect(NoTls)
    }
}

impl r2d2::ManageConnection for Connector {
    type Connection = PgClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgClient, postgres::Error> {
        Ok(PgClient {
            client: self.client()?,
            connector: self.clone(),
            lock_timeout_ms: None,
            statements: HashMap::default(),
            in_transaction: false,
            discarded: false,
            lost: false,
            aborted: None,
            schema_changes: 0,
        })
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.discarded || conn.lost || conn.client.is_closed()
    }
}

/// The pool of one database's connections.
pub(crate) type Pool = r2d2::Pool<Connector>;

/// A connection taken from the pool; dropping it gives it back.
pub(crate) type PooledClient = r2d2::PooledConnection<Connector>;

/// A pool of connections to the server `url` names (up to ten, opened
/// when sessions need them); one is opened now, so that a wrong URL fails
/// here.
pub(crate) fn open(url: &str, timeout: Duration) -> Result<Pool> {
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| Error::Connect {
        detail: format!("`{url}` is not a PostgreSQL URL: {e}"),
    })?;
    let connector = Connector { config };
    let pool = r2d2::Pool::builder()
        .connection_timeout(timeout)
        // A broken connection shows as `ConnectionLost` at its first
        // statement; testing each checkout would cost a round trip per
        // session.
        .test_on_check_out(false)
        // Connections are opened as sessions need them, as SQLAlchemy's
        // pool does, not ten at once for a program that may use one.
        .min_idle(Some(0))
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
    /// The server connection, opened again if the server closed it. The
    /// statement that met the closed connection failed with
    /// [`Error::ConnectionLost`]; the next one runs on a new connection,
    /// unless a transaction was open on the old one: then it fails too
    /// (its writes are gone, and a `COMMIT` on the new connection would
    /// seem to succeed), and only a `ROLLBACK` goes through.
    fn reconnected(&mut self, rollback: bool) -> Result<()> {
        if !self.lost && !self.client.is_closed() {
            return Ok(());
        }
        self.client = self.connector.client().map_err(|e| classify(e, ""))?;
        self.lost = false;
        self.statements.clear();
        if let Some(millis) = self.lock_timeout_ms {
            self.client
                .batch_execute(&format!("SET lock_timeout = {millis}"))
                .map_err(|e| classify(e, ""))?;
        }
        let lost_transaction = std::mem::replace(&mut self.in_transaction, false);
        if lost_transaction && !rollback {
            return Err(Error::ConnectionLost {
                detail: "the transaction that was open on it is gone".to_owned(),
            });
        }
        Ok(())
    }

    /// `sql` prepared once per connection.
    fn prepared(&mut self, sql: &str, table: &str) -> Result<Statement> {
        self.reconnected(false)?;
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let prepared = self.client.prepare(sql);
        let statement = self.checked(prepared, table)?;
        self.statements.insert(sql.into(), statement.clone());
        Ok(statement)
    }

    /// Runs a statement on `table`; returns the number of rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
        table: &str,
    ) -> Result<u64> {
        self.run(sql, params, table, |client, statement, params| {
            client.execute(statement, params)
        })
    }

    /// Runs a query of `table` and returns its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
        table: &str,
    ) -> Result<Vec<postgres::Row>> {
        self.run(sql, params, table, |client, statement, params| {
            client.query(statement, params)
        })
    }

    /// `sql` prepared (once per connection), run by `call` with `params`
    /// bound, its error classified.
    fn run<T>(
        &mut self,
        sql: &str,
        params: &[ValueRef<'_>],
        table: &str,
        call: impl FnOnce(&mut Client, &Statement, &[&(dyn ToSql + Sync)]) -> Result<T, postgres::Error>,
    ) -> Result<T> {
        check_parameters(params.len())?;
        let statement = self.prepared(sql, table)?;
        let params: Vec<PgParam<'_>> = params.iter().map(|v| PgParam(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let result = call(&mut self.client, &statement, &refs);
        self.checked(result, table)
    }

    /// The number of parameters `sql` takes and the names of its columns.
    pub(crate) fn describe(&mut self, sql: &str) -> Result<(usize, Vec<String>)> {
        let statement = self.prepared(sql, "")?;
        let names = statement
            .columns()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        Ok((statement.params().len(), names))
    }

    /// Runs statements without parameters (transaction control, DDL), and
    /// follows whether a transaction is open.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        let word = sql
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let rolls_back = word == "ROLLBACK" && !sql.to_ascii_uppercase().contains(" TO ");
        self.reconnected(rolls_back)?;
        let commits = word == "COMMIT" || word == "END";
        if let (true, Some(detail)) = (commits, self.aborted.take()) {
            // The server would answer with a rollback dressed as success.
            let rolled_back = self.client.batch_execute("ROLLBACK");
            self.in_transaction = false;
            self.checked(rolled_back, "")?;
            return Err(Error::TransactionAborted { detail });
        }
        let result = self.client.batch_execute(sql);
        let result = self.checked(result, "");
        if word == "BEGIN" || word == "START" {
            self.in_transaction = result.is_ok();
            self.aborted = None;
        } else if commits || rolls_back {
            // A failed COMMIT ends the transaction too (the server rolls it back).
            self.in_transaction = false;
            self.aborted = None;
        } else if word == "ROLLBACK" && result.is_ok() {
            // Back to a savepoint from before the failure: usable again.
            self.aborted = None;
        }
        result
    }

    /// Sets how long a statement waits for a lock another transaction holds
    /// before failing (55P03, [`Error::Busy`]), as SQLite's busy timeout
    /// does; a statement only when it changed since the last time.
    pub(crate) fn set_lock_timeout(&mut self, millis: u64) -> Result<()> {
        if self.lock_timeout_ms == Some(millis) {
            return Ok(());
        }
        self.batch(&format!("SET lock_timeout = {millis}"))?;
        self.lock_timeout_ms = Some(millis);
        Ok(())
    }

    /// The driver's `result`, its error classified; an error that says
    /// the connection is gone marks it lost.
    fn checked<T>(&mut self, result: Result<T, postgres::Error>, table: &str) -> Result<T> {
        result.map_err(|e| {
            let server_said = e.as_db_error().is_some();
            let error = classify(e, table);
            if matches!(error, Error::ConnectionLost { .. }) {
                self.lost = true;
            } else if server_said && self.in_transaction && self.aborted.is_none() {
                self.aborted = Some(error.to_string());
            }
            error
        })
    }

    /// Whether a transaction is open on this connection.
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction && !self.lost && !self.client.is_closed()
    }

    /// Forgets the statements prepared on this connection, after a
    /// migration changed the tables they read: PostgreSQL refuses to run a
    /// prepared statement whose result columns changed type ("cached plan
    /// must not change result type").
    pub(crate) fn forget_statements(&mut self) {
        self.statements.clear();
    }

    /// Keeps the prepared statements only if they were prepared after the
    /// database's `schema_changes`-th schema change.
    pub(crate) fn prepared_since(&mut self, schema_changes: u64) {
        if self.schema_changes != schema_changes {
            self.statements.clear();
            self.schema_changes = schema_changes;
        }
    }

    /// Marks the connection to be closed rather than pooled again.
    pub(crate) fn discard(&mut self) {
        self.discarded = true;
    }
}

/// Whether `table` exists in the connection's current schema.
pub(crate) fn table_exists(conn: &mut PgClient, table: &str) -> Result<bool> {
    let sql = "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1";
    let rows = conn.query(sql, &[ValueRef::Text(table)], table)?;
    Ok(!rows.is_empty())
}

/// Classifies a PostgreSQL error raised by a statement on `table`, by
/// SQLSTATE: the constraint classes, and the failures that another
/// transaction caused (a serialization failure, a deadlock, a lock not
/// granted in time) as [`Error::Busy`], which a retry may cure.
#[cold]
pub(crate) fn classify(err: postgres::Error, table: &str) -> Error {
    let lost = |err: &postgres::Error| Error::ConnectionLost {
        detail: err.to_string(),
    };
    if err.is_closed() || is_socket_error(&err) {
        return lost(&err);
    }
    let Some(db) = err.as_db_error() else {
        return Error::Postgres(err);
    };
    let code = db.code().code();
    // Class 08 (connection exceptions) and the server shutting the
    // connection down (57P01 to 57P03).
    if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
        return lost(&err);
    }
    let kind = match code {
        "23505" => Some(ConstraintKind::Unique),
        "23502" => Some(ConstraintKind::NotNull),
        "23503" => Some(ConstraintKind::ForeignKey),
        "23514" => Some(ConstraintKind::Check),
        "40001" | "40P01" | "55P03" => {
            return Error::Busy {
                table: table_of(db, table),
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
        table: table_of(db, table),
        kind,
        detail,
    }
}

/// Whether the driver's error is the socket failing (reset, closed, cut),
/// rather than a message it could not read.
fn is_socket_error(err: &postgres::Error) -> bool {
    use std::io::ErrorKind;
    let source = std::error::Error::source(err);
    source
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected
                    | ErrorKind::TimedOut
            )
        })
}

/// The most parameters one statement takes: the protocol counts them in
/// 16 bits.
const MAX_PARAMETERS: usize = u16::MAX as usize;

/// Refuses a statement with more parameters than PostgreSQL takes, before
/// it is sent (the server would count them wrapped).
fn check_parameters(count: usize) -> Result<()> {
    if count > MAX_PARAMETERS {
        return Err(Error::OutOfRange {
            what: "a PostgreSQL statement".to_owned(),
            value: format!("{count} parameters"),
            limit: format!("at most {MAX_PARAMETERS}: filter by a subquery, or split the work"),
        });
    }
    Ok(())
}

/// The table an error names: the one the statement wrote, as on SQLite
/// (for a foreign key that refuses a parent's delete, the server names the
/// child's table, which owns the constraint; the detail says that one);
/// the server's where the statement's is not known (raw SQL).
fn table_of(db: &postgres::error::DbError, table: &str) -> String {
    if table.is_empty() {
        db.table().unwrap_or_default().to_owned()
    } else {
        table.to_owned()
    }
}
