//! The one error type of the library. Every fallible call returns
//! [`Result`]; each variant's doc says when it happens, and its message names
//! the table, column or key involved.

use std::fmt;

mod report;

pub use report::{Difference, DriftReport, ForeignKeyViolations, Hazard, HazardKind, TableDrift};

/// `Result` with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which constraint a failed statement violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// A `UNIQUE` index or constraint (the primary key included).
    Unique,
    /// A `NOT NULL` column received NULL.
    NotNull,
    /// A `FOREIGN KEY` points at a missing row, or a row still referenced was deleted.
    ForeignKey,
    /// A `CHECK` constraint.
    Check,
    /// Any other constraint SQLite reports.
    Other,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Unique => "UNIQUE",
            ConstraintKind::NotNull => "NOT NULL",
            ConstraintKind::ForeignKey => "FOREIGN KEY",
            ConstraintKind::Check => "CHECK",
            ConstraintKind::Other => "a",
        })
    }
}

/// Everything that can go wrong in `orm`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A statement violated a constraint. The flush that ran it was rolled
    /// back as a whole, and the session is still usable.
    #[error("{kind} constraint failed on table `{table}`: {detail}")]
    Constraint {
        /// The table the failing statement wrote to.
        table: String,
        /// Which kind of constraint.
        kind: ConstraintKind,
        /// SQLite's own words (for UNIQUE and NOT NULL they name the column).
        detail: String,
    },

    /// A value read from the database does not fit the field: NULL in a
    /// non-`Option` field, or a value of another type.
    #[error("cannot read `{table}`.`{column}` of the row with key {key}: {detail}")]
    Conversion {
        /// The table read from.
        table: String,
        /// The column whose value did not convert.
        column: String,
        /// The primary key of the row, as SQL text.
        key: String,
        /// What did not fit.
        detail: String,
    },

    /// A value cannot be written as it is: SQLite stores a NaN float as NULL,
    /// so writing one would silently change the row.
    #[error("cannot write NaN to `{table}`.`{column}`: SQLite would store it as NULL")]
    NotANumber {
        /// The table written to.
        table: String,
        /// The float column.
        column: String,
    },

    /// `get` or `one` found no row.
    #[error("no row in `{table}` {what}")]
    NotFound {
        /// The table queried.
        table: String,
        /// Which row was asked for, such as `with key 7`.
        what: String,
    },

    /// `one` found more than one row.
    #[error("expected exactly one row in `{table}`, found more")]
    NotOne {
        /// The table queried.
        table: String,
        /// How many rows were read before giving up: 2 (`one` reads no more).
        found: usize,
    },

    /// In strict N+1 mode ([`NPlusOne::Strict`](crate::NPlusOne)), one
    /// relationship loaded lazily for object after object of one query's
    /// result; the load did not run.
    #[error("{fix}")]
    NPlusOne {
        /// `Model.field`.
        relationship: String,
        /// How many lazy loads it took.
        loads: usize,
        /// What to write instead.
        fix: String,
    },

    /// A query's expression nests deeper than SQLite allows (a filter of
    /// thousands of `or`s built one inside the other): nothing ran. A long
    /// list of alternatives fits in [`Column::in_`](crate::Column::in_).
    #[error("the query's expression nests more than {limit} levels deep")]
    TooDeep {
        /// The deepest nesting allowed.
        limit: usize,
    },

    /// An UPDATE or DELETE of a loaded object matched no row: another
    /// connection deleted (or re-keyed) it since it was loaded. The flush was
    /// rolled back.
    #[error(
        "the `{table}` row with key {key} is gone from the database (changed by another connection since it was loaded)"
    )]
    StaleRow {
        /// The table written to.
        table: String,
        /// The object's primary key, as SQL text.
        key: String,
    },

    /// Another connection held the database lock for longer than the busy
    /// timeout. Nothing of the statement was written.
    ///
    /// Opening a connection can meet it too: switching the journal mode or
    /// reading the schema needs the lock (while another connection holds
    /// `BEGIN EXCLUSIVE` on a file that is not in WAL mode yet, say).
    #[error(
        "database is busy (another connection holds the lock past the busy timeout){}",
        while_writing(table)
    )]
    Busy {
        /// The table the statement was about (for `BEGIN` of a flush, the
        /// first table the flush was to write); empty for `COMMIT` and for
        /// the statements that set up a new connection.
        table: String,
    },

    /// A hook given to [`OpenOptions::on_connect`](crate::OpenOptions::on_connect)
    /// failed on a new connection. That connection was closed, not pooled:
    /// the call that needed it changed nothing, and the next call that needs
    /// a connection opens one and runs the hooks again.
    #[error("the on_connect hook failed, so the new connection was closed: {source}")]
    OnConnect {
        /// What the hook returned. An error of one of its statements is an
        /// [`Error`] inside: `source.downcast_ref::<orm::Error>()`.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// An object was used through a session that no longer exists, such as
    /// loading a relationship after the session was dropped.
    #[error(
        "the session of this `{table}` object is gone; load what you need before dropping the session"
    )]
    SessionClosed {
        /// The table of the object.
        table: String,
    },

    /// An object is already borrowed in a way that conflicts with this access
    /// (for instance `write()` while a `read()` guard of the same object is alive).
    #[error("`{table}` object with key {key} is already borrowed: {detail}")]
    Borrowed {
        /// The table of the object.
        table: String,
        /// Its primary key, as SQL text.
        key: String,
        /// Which access conflicted.
        detail: String,
    },

    /// A relationship was read on an object whose relationship is set to
    /// raise instead of loading lazily.
    #[error(
        "`{model}.{relation}` is not loaded and lazy loading is off for it; preload it with `.preload({model}::{constant})` on the query"
    )]
    LazyLoadRefused {
        /// The model owning the relationship.
        model: &'static str,
        /// The relationship field.
        relation: &'static str,
        /// The constant to pass to `preload`.
        constant: String,
    },

    /// The call makes no sense in the objects' current state, such as
    /// deleting an object that was never added; [`Misuse`] says which rule.
    /// Nothing was changed.
    #[error("{0}")]
    Misuse(Misuse),

    /// A value does not fit where it goes: a key the database assigned beyond the
    /// field's type, a version counter at its maximum, a setting beyond what
    /// SQLite accepts. Nothing was changed (a flush that met it was rolled back).
    #[error("{what} cannot hold {value}: {limit}")]
    OutOfRange {
        /// The column or setting, such as `` `users`.`id` ``.
        what: String,
        /// The value that does not fit.
        value: String,
        /// The limit, and what to do about it.
        limit: String,
    },

    /// `create_all` found tables that exist but differ from their models.
    #[error("the database schema differs from the models:\n{0}")]
    Drift(DriftReport),

    /// A migration step would lose or change stored data (a table or column
    /// dropped, values that do not survive a new type, NULL replaced by a
    /// default) and `Destructive::Allow` was not given. Nothing was changed;
    /// the hazard names the table, the column and the rows.
    #[error(
        "migration refused, nothing was changed: {0}; apply with `Destructive::Allow` to accept it"
    )]
    DestructiveMigration(Box<Hazard>),

    /// A migration step cannot run with the rows its table holds, whatever
    /// is allowed: a new NOT NULL column without a default, or NULL in a
    /// column becoming NOT NULL without one. Nothing was changed; the hazard
    /// names the table, the column and the rows.
    #[error("migration cannot run, nothing was changed: {0}")]
    MigrationBlocked(Box<Hazard>),

    /// After a migration's steps, `PRAGMA foreign_key_check` found rows whose
    /// foreign key matches no row. The migration was rolled back as a whole;
    /// the violations name the table, the column and the rows.
    #[error("migration rolled back: {0}")]
    ForeignKeyCheck(Box<ForeignKeyViolations>),

    /// A migration plan was applied after the schema had changed since it
    /// was made (by another plan, or the same one applied twice). Nothing
    /// was changed; compute the plan again.
    #[error(
        "the schema changed since this migration plan was made (schema version {planned}, now {found}); compute a new plan"
    )]
    StalePlan {
        /// The schema's version when the plan was made: SQLite's `PRAGMA
        /// schema_version`, or on PostgreSQL a fingerprint of the catalogs.
        planned: i64,
        /// The schema's version when it was applied.
        found: i64,
    },

    /// A migration file or folder cannot be read or written, a `.sql` file's
    /// name does not start with a version number, or two files share one.
    #[error("migration file `{file}`: {detail}")]
    MigrationFile {
        /// The file (or folder) involved.
        file: String,
        /// What is wrong.
        detail: String,
    },

    /// A migration file's SQL failed. No file of that run was applied.
    #[error("migration file `{file}` failed, nothing was applied: {source}")]
    MigrationFailed {
        /// The file whose SQL failed.
        file: String,
        /// The error of its statement.
        source: Box<Error>,
    },

    /// [`Database::revert`](crate::Database::revert) found no migration
    /// file applied. Nothing was changed.
    #[error("nothing to revert: no migration file is applied")]
    NothingToRevert,

    /// The last applied migration file has no down section (a line
    /// `-- down` followed by the SQL that undoes the file), or one of
    /// comments only, so [`Database::revert`](crate::Database::revert)
    /// cannot undo it. Nothing was changed.
    #[error(
        "migration file `{file}` has no down section to revert it (a line `-- down`, then the SQL that undoes the file); nothing was reverted"
    )]
    NoDownSection {
        /// The last applied file.
        file: String,
    },

    /// The last applied migration file changed since it was applied (its
    /// checksum, which covers the down section too, differs), so its down
    /// section may not undo what ran;
    /// [`Database::revert`](crate::Database::revert) refuses it. Nothing was
    /// changed.
    #[error(
        "migration file `{file}` changed since it was applied, so its down section may not undo what ran; nothing was reverted (restore the file as it was applied, or write a new migration)"
    )]
    RevertEdited {
        /// The last applied file.
        file: String,
    },

    /// A statement of a migration file's down section failed. The whole
    /// revert rolled back: the file is still applied.
    #[error("reverting migration file `{file}` failed, nothing was reverted: {source}")]
    RevertFailed {
        /// The file whose down section failed.
        file: String,
        /// The error of its statement.
        source: Box<Error>,
    },

    /// The migration command line (`orm::migration_cli`) could not write
    /// its output.
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),

    /// Raw SQL was given a different number of parameters than it has
    /// placeholders (`?`, `?1`, `:name`). Nothing ran.
    #[error("`{sql}` takes {expected} parameter(s), {given} given")]
    Parameters {
        /// The statement.
        sql: String,
        /// Its placeholders.
        expected: usize,
        /// The parameters given.
        given: usize,
    },

    /// A raw query does not return the columns asked for: a column of the
    /// model is missing (`Session::sql`), or there are more or fewer columns
    /// than the tuple holds (`Session::sql_values`). Nothing ran.
    #[error("`{sql}` returns ({}), but {expected} is needed", found.join(", "))]
    ResultColumns {
        /// The statement.
        sql: String,
        /// What was needed: "the column `name` of `users`", "2 columns".
        expected: String,
        /// The columns it returns, by name.
        found: Vec<String>,
    },

    /// A migration file holds a transaction-control statement (`BEGIN`,
    /// `COMMIT`, `END`, `ROLLBACK`, `SAVEPOINT` or `RELEASE`): it would end
    /// the migration's own transaction half-way. Every pending file is read
    /// for them before anything runs, so no file of that run was applied.
    #[error(
        "migration file `{file}`, line {line}: `{keyword}` is transaction control, which a migration file may not hold (it runs inside the migration's own transaction); nothing was applied"
    )]
    MigrationTransactionControl {
        /// The file holding it.
        file: String,
        /// Its line, counted from 1.
        line: usize,
        /// The word that starts the statement, such as `COMMIT`.
        keyword: &'static str,
    },

    /// Any other error from SQLite.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// The connection to the PostgreSQL server was lost (the server went
    /// away, or closed it). The session gives the broken connection up and
    /// takes a new one for its next statement; a transaction that was open
    /// is gone, so the session rolls back in memory first.
    #[error("the connection to the PostgreSQL server was lost: {detail}")]
    ConnectionLost {
        /// The driver's message.
        detail: String,
    },

    /// `COMMIT` of a PostgreSQL transaction that a failed statement had
    /// aborted (the server then rolls back instead, and says so only in
    /// passing): nothing of the transaction was written, and the session
    /// rolled back in memory too. orm's own statements and raw SQL in an
    /// open transaction run in savepoints where they can fail; this is
    /// the backstop.
    #[error(
        "the transaction was aborted by a statement that failed in it ({detail}), so it was rolled back, not committed"
    )]
    TransactionAborted {
        /// The failure that aborted it.
        detail: String,
    },

    /// No connection to the PostgreSQL server could be opened (a wrong
    /// address, user or database; the server down), or none came free in
    /// the pool within the timeout.
    #[error("cannot connect to PostgreSQL: {detail}")]
    Connect {
        /// Why, as the driver or the pool says it.
        detail: String,
    },

    /// What this build of orm cannot do: a PostgreSQL URL without the
    /// `postgres` feature, or a feature one backend does not have yet.
    #[error("{what} is not supported {detail}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// On which backend, or what would make it work.
        detail: &'static str,
    },

    /// Any other error from PostgreSQL.
    #[cfg(feature = "postgres")]
    #[error("postgres: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
}

/// The server's own words for an error it reported (the driver's `Display`
/// says only "db error"): the message, the SQLSTATE and the detail.
#[cfg(feature = "postgres")]
fn postgres_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(": ");
                text.push_str(detail);
            }
            text
        }
        None => error.to_string(),
    }
}

/// The rules of [`Error::Misuse`]: calls that make no sense in the objects'
/// current state. Each names the model involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// An object of one session was given to another session.
    #[error("this `{model}` object belongs to another session")]
    OtherSession {
        /// The object's model.
        model: &'static str,
    },
    /// The object is not in this session (transient, detached, or never added).
    #[error("this `{model}` object is {state}, not in this session")]
    NotInSession {
        /// The object's model.
        model: &'static str,
        /// Its state, in words.
        state: &'static str,
    },
    /// The object was persistent in a session that is gone, so it cannot
    /// join another (its row may have changed since).
    #[error(
        "this `{model}` object was persistent in a session that is gone; it cannot join another"
    )]
    Detached {
        /// The object's model.
        model: &'static str,
    },
    /// A relationship would link objects of two sessions.
    #[error("cannot link objects of two different sessions (`{model}`)")]
    TwoSessions {
        /// The model owning the relationship.
        model: &'static str,
    },
    /// A relationship field was used outside of an object (a bare
    /// `BelongsTo::new()` not inside a model held by a handle, or a field
    /// moved out of its object, as `mem::take` does).
    #[error(
        "this `{kind}<{target}>` is not part of an object: wrap the object in a Handle or add it to a session first (a field moved out of its object is part of none, until the object it is moved into is wrapped in a Handle or added to a session)"
    )]
    Unattached {
        /// `BelongsTo`, `HasMany`, `HasOne` or `ManyToMany`.
        kind: &'static str,
        /// The model it points at.
        target: &'static str,
    },
    /// The primary key of a persistent object was changed.
    #[error(
        "the primary key of a `{model}` row changed from {from} to {to}; keys cannot change: delete the object and add a new one"
    )]
    KeyChanged {
        /// The object's model.
        model: &'static str,
        /// The key the database holds.
        from: String,
        /// The key the object holds now.
        to: String,
    },
    /// New objects point at each other in a cycle, so no insert order can
    /// fill every foreign key.
    #[error(
        "new `{model}` objects point at each other in a cycle; insert one of them first with flush()"
    )]
    Cycle {
        /// The model of an object in the cycle.
        model: &'static str,
    },
    /// A flush was started while one was running (from inside the flush).
    #[error("flush called while flushing")]
    Reentrant,
    /// `commit` was called while a savepoint (`Session::begin_nested`) is
    /// open: its guard has yet to say whether its changes stay, so nothing
    /// was flushed or committed. Release the savepoint or roll it back first
    /// (a session rollback, which ends every savepoint, is allowed).
    #[error(
        "cannot commit while savepoint `{savepoint}` is open; release it or roll it back first"
    )]
    SavepointOpen {
        /// The innermost open savepoint, such as `orm_sp_1`.
        savepoint: String,
    },
    /// A savepoint was released or rolled back while a savepoint begun
    /// after it is still open. Nothing was changed then; the savepoint is
    /// rolled back once the one inside it closes (its guard is gone).
    #[error(
        "savepoint `{savepoint}` is not the innermost open savepoint (`{innermost}` is); release or roll back `{innermost}` first"
    )]
    SavepointNotInnermost {
        /// The savepoint asked to close.
        savepoint: String,
        /// The innermost open savepoint.
        innermost: String,
    },
    /// A savepoint's guard was used after the savepoint had ended without
    /// it: the session rolled back (which ends every savepoint), or SQLite
    /// abandoned the transaction. Nothing was changed.
    #[error(
        "savepoint `{savepoint}` is no longer open: the transaction it was part of was rolled back"
    )]
    SavepointClosed {
        /// The savepoint's name.
        savepoint: String,
    },
    /// `generate` was asked for a migration file of an empty plan.
    #[error("nothing to migrate: the database matches the models")]
    NothingToMigrate,
    /// A declared rename finds both the old and the new name in the database.
    #[error("cannot rename {what} `{from}` to `{to}`: both exist in the database")]
    RenameClash {
        /// `table` or `column`.
        what: &'static str,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// `PRAGMA foreign_keys` could not be switched for a migration, because
    /// a transaction is open on its connection.
    #[error(
        "foreign keys could not be switched {0} for the migration (a transaction is open on its connection)"
    )]
    ForeignKeysStuck(&'static str),
    /// A query joins a table it already reads (a relationship of a model
    /// to itself, or the same relationship twice): each model is in a
    /// query once.
    #[error(
        "this query reads `{table}` twice; each model can be in a query once (test a relationship of a model to itself with `any` / `has`)"
    )]
    JoinedTwice {
        /// The table.
        table: &'static str,
    },
    /// An upsert names a conflict column that is neither the primary key
    /// nor unique, so no row can conflict on it.
    #[error(
        "`{table}`.`{column}` is neither the primary key nor unique, so an upsert cannot conflict on it"
    )]
    NotUnique {
        /// The table.
        table: &'static str,
        /// The column named.
        column: &'static str,
    },
    /// A bulk `update_rows` would set the primary key: keys cannot change.
    #[error("a bulk update cannot set the primary key of `{model}` rows")]
    KeyInBulkUpdate {
        /// The model.
        model: &'static str,
    },
}

/// The end of [`Error::Busy`]'s message: the table, where there is one.
fn while_writing(table: &str) -> String {
    if table.is_empty() {
        String::new()
    } else {
        format!(" while writing `{table}`")
    }
}

impl From<Misuse> for Error {
    fn from(misuse: Misuse) -> Error {
        Error::Misuse(misuse)
    }
}
