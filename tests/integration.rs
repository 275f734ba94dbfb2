//! The integration tests, one module per concept (`session`, `identity`,
//! `relation`, ...), built as one test binary: one link instead of one per
//! file, and every test in one harness, run in parallel.
//!
//! `postgres.rs` (a note on whether the PostgreSQL half ran, without the
//! harness) and `tracing.rs` (a global `tracing` subscriber, which would
//! watch every other test's statements) are binaries of their own.

#[macro_use]
mod common;

pub mod all_or_nothing;
pub mod backends;
pub mod bulk;
pub mod causes;
#[cfg(feature = "cli")]
pub mod cli;
pub mod collections;
pub mod column_types;
pub mod conversion;
pub mod defaults;
pub mod diagram;
pub mod ecosystem_types;
#[cfg(feature = "cli")]
pub mod examples;
pub mod expire;
pub mod faults;
pub mod has_one;
pub mod hostile_input;
pub mod identity;
pub mod joins;
pub mod keys;
pub mod leaks;
pub mod many_to_many;
pub mod migrate;
pub mod migrate_postgres;
pub mod migration_files;
pub mod multi_row_insert;
pub mod n_plus_one;
pub mod no_panics;
pub mod open_options;
pub mod projections;
pub mod query;
pub mod query_properties;
pub mod raw_sql;
pub mod rebuild;
pub mod relation;
pub mod savepoints;
pub mod schema;
pub mod session;
pub mod smoke;
pub mod sqlalchemy_ports;
pub mod state_machine;
pub mod threads;
pub mod transient_graphs;
pub mod types;
pub mod unit_of_work;
pub mod upsert;
pub mod versioning;
