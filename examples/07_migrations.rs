//! Chapter 7: migrations. `cargo run --example 07_migrations`

#[path = "chapters/07_migrations.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
