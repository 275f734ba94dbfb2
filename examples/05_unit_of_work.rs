//! Chapter 5: the unit of work. `cargo run --example 05_unit_of_work`

#[path = "chapters/05_unit_of_work.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
