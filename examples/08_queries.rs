//! Chapter 8: queries beyond one table. `cargo run --example 08_queries`

#[path = "chapters/08_queries.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
