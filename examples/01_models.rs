//! Chapter 1: models and the DDL they generate. `cargo run --example 01_models`

#[path = "chapters/01_models.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
