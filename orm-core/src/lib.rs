//! Runtime of the `orm` crate. Users depend on `orm`, which re-exports this
//! crate together with `#[derive(Model)]`; see its docs for the tutorial.
//!
//! # Architecture: how loaded objects are held
//!
//! One decision shapes the whole library: how objects loaded from rows are
//! held, shared, borrowed and changed. It is made once, here:
//!
//! - **The session owns, everything else points.** A session's identity map
//!   holds every object it loaded or was given behind an `Rc` (strong).
//!   Users hold [`Handle`]s (strong too). Relationship fields ([`BelongsTo`],
//!   [`HasMany`]) hold `Weak` pointers plus the foreign key. So the object
//!   graph has no strong cycles: dropping the session and the user's handles
//!   frees every object, however the objects point at each other. Before an
//!   object joins a session, a parent holds the children linked to it
//!   (nobody else would), never the other way round, and lets go when they
//!   join one.
//! - **Identity is pointer identity.** Loading a row that is already in the
//!   map (by `get`, a query, a lazy or an eager load) returns the same `Rc`;
//!   `Handle` equality is `Rc::ptr_eq`.
//! - **Borrows are checked, and conflicts are errors.** A handle gives
//!   [`Handle::read`] and [`Handle::write`] guards over a `RefCell`; a
//!   conflicting borrow is [`Error::Borrowed`], never a panic. Relationship
//!   fields are interior-mutable, so back-population (which writes both sides
//!   of a relationship in one call) needs only shared borrows of the two
//!   objects: a user holding a `read()` of either side does not conflict.
//! - **Dirty tracking starts at the first write.** `write()` (or a
//!   relationship change) copies the object's column values once; the flush
//!   diffs against that copy and updates only the changed columns. Objects
//!   that are only read are never copied.
//! - **Handles outlive sessions safely.** A handle keeps its object's values
//!   after the session is gone (state `Detached`); what needs the session,
//!   such as loading a relationship, returns [`Error::SessionClosed`].
//! - **Threads**: a [`Database`] is `Send + Sync` and cheap to clone; a
//!   [`Session`] is single-threaded (`Rc` inside), one per thread or request,
//!   as SQLAlchemy recommends. SQLite is embedded and synchronous, and
//!   PostgreSQL is reached through the synchronous `postgres` client, so
//!   there is no async API.
//!
//! # Modules
//!
//! Each module is one concept of SQLAlchemy's `orm/` package and owns its
//! state; all are private, and what users need is re-exported here.
//!
//! | module | owns |
//! |---|---|
//! | `state` | objects, handles, guards, object states, change tracking |
//! | `identity` | one live object per (model, key) in a session |
//! | `loading` | rows into objects through the identity map; conversion errors |
//! | `persistence` | INSERT / UPDATE / DELETE / link rows of objects, version checks |
//! | `unit_of_work` | pending, dirty, deleted, orphans, link changes; order; the flush plan |
//! | `transaction` | whether a transaction is open, its savepoints, what it wrote, restore on rollback |
//! | `session` | orchestration of the above; autoflush; the public session API |
//! | `relation` | `BelongsTo`, `HasMany`, `HasOne`, `ManyToMany`; lazy and eager loading; cascades |
//! | `query` | typed columns and expressions, joins, `any`/`has`, projections, aggregates; `query::scope` checks at compile time that a query reads only its models |
//! | `sql` | statement texts, execution, SQL echo, recorders |
//! | `value`, `backend` | orm's own values and rows; what differs per database: [`Backend`] (the SQL dialect), and per backend its connections, values, errors, introspection and migration SQL (SQLite's frame and table rebuild; PostgreSQL's `ALTER TABLE` in place) |
//! | `schema`, `migrate`, [`diagram`] | table metadata, DDL and the live schema's values; diff, plan, apply; pictures |
//! | `model`, `database`, `error` | the `Model` trait; where the data lives, how its connections are opened and pooled; the one error enum and the reports it carries |
//!
//! Layers: `error`, `schema`, `sql`, `backend`, `migrate` and `diagram`
//! import nothing from the runtime above them (session, state, relation,
//! unit of work, loading, persistence, transaction); `error` imports no
//! other module of the crate.

#![warn(missing_docs)]

mod backend;
mod database;
pub mod diagram;
mod error;
mod from_row;
mod identity;
mod loading;
mod migrate;
mod model;
mod persistence;
mod query;
mod relation;
mod schema;
mod session;
mod sql;
mod state;
mod transaction;
mod unit_of_work;
mod value;

pub use backend::Backend;
pub use backend::sqlite::{JournalMode, Synchronous};
pub use database::{DEFAULT_BUSY_TIMEOUT, Database, NewConnection, OpenOptions};
pub use error::{
    ConstraintKind, Difference, DriftReport, Error, ForeignKeyViolations, Hazard, HazardKind,
    Misuse, Result, TableDrift,
};
pub use from_row::FromRow;
/// The migration command line, for a one-line `src/bin/migrate.rs`
/// (feature `cli`, on by default). See the module's docs.
#[cfg(feature = "cli")]
pub use migrate::cli as migration_cli;
pub use migrate::{
    Destructive, MigrateReport, MigrationFile, MigrationPlan, MigrationState, MigrationStatus,
    MigrationStep, Migrations, Renames, SchemaChange, StepKind,
};
pub use model::{Key, Model};
pub use query::scope;
pub use query::{
    Column, DeleteRows, Expr, Holds, Numeric, OrderBy, Query, Scalar, Select, SelectItem,
    Selection, UpdateRows, count_rows,
};
pub use relation::{
    Backref, BelongsTo, HasMany, HasOne, Lazy, ManyToMany, NPlusOne, Preload, Relation,
    RelationField, ToMany, ToOne,
};
pub use schema::{
    ColumnDef, ForeignKeyDef, IndexDef, LinkColumn, LinkDef, ModelSet, OnDelete, TableDef,
    dependency_order,
};
pub use session::{Savepoint, Session};
pub use sql::echo::{Echo, LOG_TARGET, Recorder, Statement};
pub use sql::{quote, render};
pub use state::{Change, Handle, State, Write};
pub use unit_of_work::{Action, FlushPlan, PlanStep};
pub use value::{
    Bound, ColumnType, Defaulted, FromValueError, ReadError, Row, ToValue, Value, ValueRef,
};

/// `chrono`, whose `DateTime<Utc>`, `NaiveDateTime` and `NaiveDate` are
/// column types (stored as ISO 8601 text), re-exported so that naming them
/// needs no dependency of your own at a matching version.
#[cfg(feature = "chrono")]
pub use chrono;
/// `serde_json`, whose `Value` is a column type (stored as JSON text).
#[cfg(feature = "serde_json")]
pub use serde_json;
/// `time`, whose `OffsetDateTime` is a column type (stored as RFC 3339
/// text in UTC).
#[cfg(feature = "time")]
pub use time;
/// `uuid`, whose `Uuid` is a column type (stored as 16 bytes) that serves
/// as a primary key.
#[cfg(feature = "uuid")]
pub use uuid;

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::relation::{
        BelongsToDef, CollectionField, ForeignKeyColumn, ForeignKeyField, HasManyDef,
        ManyToManyDef, Owner, Wire,
    };

    pub use crate::schema::{SortKey, const_str_eq as str_eq, has_column};
}
