//! Chapter 3: relationships, users and orders. `cargo run --example 03_relationships`;
//! on a PostgreSQL server, in a database without `users` and `orders` tables:
//! `cargo run --example 03_relationships --features postgres -- postgresql://user@host/db`.

#[path = "chapters/03_relationships.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    match std::env::args().nth(1) {
        Some(url) => chapter::run_on(&orm::Database::open(url)?),
        None => chapter::run(),
    }
}
