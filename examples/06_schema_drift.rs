//! Chapter 6: schema drift. `cargo run --example 06_schema_drift`

#[path = "chapters/06_schema_drift.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
