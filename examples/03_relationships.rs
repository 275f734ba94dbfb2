//! Chapter 3: relationships, users and orders. `cargo run --example 03_relationships`

#[path = "chapters/03_relationships.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
