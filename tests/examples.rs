//! The course in `examples/` checks its own claims (statement counts,
//! identity, values) with assertions; running each chapter here makes a
//! broken claim fail the build.

use crate::common;

#[path = "../examples/chapters/01_models.rs"]
mod models;

#[path = "../examples/chapters/02_crud_and_identity_map.rs"]
mod crud_and_identity_map;

#[path = "../examples/chapters/03_relationships.rs"]
mod relationships;

#[path = "../examples/chapters/04_eager_loading.rs"]
mod eager_loading;

#[path = "../examples/chapters/05_unit_of_work.rs"]
mod unit_of_work;

#[path = "../examples/chapters/06_schema_drift.rs"]
mod schema_drift;

#[path = "../examples/chapters/08_queries.rs"]
mod queries;

#[path = "../examples/chapters/07_migrations.rs"]
mod migrations;

#[test]
fn chapter_01_models_claims_hold() -> orm::Result<()> {
    models::run()
}

#[test]
fn chapter_02_crud_and_identity_map_claims_hold() -> orm::Result<()> {
    crud_and_identity_map::run()
}

#[test]
fn chapter_03_relationships_claims_hold() -> orm::Result<()> {
    relationships::run()
}

/// The lecture chapter on PostgreSQL, where `ORM_TEST_POSTGRES` names a
/// server (see `common::backend`).
#[test]
fn chapter_03_relationships_claims_hold_on_postgresql() -> orm::Result<()> {
    match common::backend::postgres() {
        Some(db) => relationships::run_on(&db),
        None => Ok(()),
    }
}

#[test]
fn chapter_04_eager_loading_claims_hold() -> orm::Result<()> {
    eager_loading::run()
}

#[test]
fn chapter_05_unit_of_work_claims_hold() -> orm::Result<()> {
    unit_of_work::run()
}

#[test]
fn chapter_06_schema_drift_claims_hold() -> orm::Result<()> {
    schema_drift::run()
}

#[test]
fn chapter_07_migrations_claims_hold() -> orm::Result<()> {
    migrations::run()
}

#[test]
fn chapter_08_queries_claims_hold() -> orm::Result<()> {
    queries::run()
}
