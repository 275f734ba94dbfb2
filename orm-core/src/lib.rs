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
//!   frees every object, however the objects point at each other.
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
//!   as SQLAlchemy recommends. SQLite is embedded and synchronous, so there
//!   is no async API.
//!
//! # Modules
//!
//! | module | owns |
//! |---|---|
//! | [`schema`] | table metadata, DDL, dependency order, drift report |
//! | [`diagram`] | ER diagrams (Mermaid, Graphviz) from the metadata |
//! | [`model`] | the `Model` trait the derive implements, column types |
//! | `object` | objects, handles, states, change tracking |
//! | `identity` | one object per (model, key) in a session |
//! | [`session`] | the unit of work's public face: add, get, query, flush, commit, rollback |
//! | [`unit_of_work`] | flush order, statements, undo in memory |
//! | [`relation`] | `BelongsTo`, `HasMany`, lazy and eager loading, back-population |
//! | [`query`] | typed columns, filters, the query builder |
//! | [`sql`] | statement execution, SQL echo, recorders |
//! | [`error`] | the one error enum |

#![warn(missing_docs)]

pub mod database;
pub mod diagram;
pub mod error;
mod identity;
pub mod migrate;
pub mod model;
mod object;
pub mod query;
pub mod relation;
pub mod schema;
pub mod session;
pub mod sql;
pub mod unit_of_work;

pub use database::{DEFAULT_BUSY_TIMEOUT, Database};
pub use error::{ConstraintKind, Error, Result};
pub use migrate::{
    Destructive, ForeignKeyViolations, Hazard, HazardKind, MigrateReport, MigrationFile,
    MigrationPlan, MigrationState, MigrationStatus, MigrationStep, Migrations, Renames,
    SchemaChange, StepKind,
};
pub use model::{ColumnType, Key, Model, ModelSet};
pub use object::{Change, Handle, State, Write};
pub use query::{Column, Expr, OrderBy, Query};
pub use relation::{
    Backref, BelongsTo, HasMany, HasOne, Lazy, ManyToMany, Preload, Relation, RelationField,
};
pub use schema::{ColumnDef, DriftReport, ForeignKeyDef, IndexDef, LinkDef, OnDelete, TableDef};
pub use session::Session;
pub use sql::echo::{Echo, Recorder, Statement};
pub use unit_of_work::{Action, FlushPlan, PlanStep};

/// Items the derive's generated code names. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::relation::{BelongsToDef, HasManyDef, ManyToManyDef, Owner};
    pub use rusqlite;

    /// String equality usable in constants (the `back_populates` pairing check).
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}
