//! The tour: every chapter of the course, in order. Each one prints the SQL
//! that ran (the echo, on stderr) and why (on stdout), and checks its own
//! claims. `cargo run --example tour`; one chapter alone:
//! `cargo run --example 03_relationships`.

#[path = "chapters/01_models.rs"]
mod models;

#[path = "chapters/02_crud_and_identity_map.rs"]
mod crud_and_identity_map;

#[path = "chapters/03_relationships.rs"]
mod relationships;

#[path = "chapters/04_eager_loading.rs"]
mod eager_loading;

#[path = "chapters/05_unit_of_work.rs"]
mod unit_of_work;

#[path = "chapters/06_schema_drift.rs"]
mod schema_drift;

#[path = "chapters/07_migrations.rs"]
mod migrations;

#[path = "chapters/08_queries.rs"]
mod queries;

type Chapter = fn() -> orm::Result<()>;

const CHAPTERS: [(&str, Chapter); 8] = [
    ("1. Models and the DDL they generate", models::run),
    ("2. CRUD and the identity map", crud_and_identity_map::run),
    ("3. Relationships: users and orders", relationships::run),
    ("4. Eager loading: N+1 versus preload", eager_loading::run),
    ("5. The unit of work", unit_of_work::run),
    ("6. Schema drift", schema_drift::run),
    ("7. Migrations", migrations::run),
    ("8. Queries beyond one table", queries::run),
];

fn main() -> orm::Result<()> {
    for (title, run) in CHAPTERS {
        println!("\n{title}\n{}", "=".repeat(title.len()));
        run()?;
    }
    Ok(())
}
