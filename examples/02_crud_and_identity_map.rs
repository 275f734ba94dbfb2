//! Chapter 2: CRUD and the identity map. `cargo run --example 02_crud_and_identity_map`

#[path = "chapters/02_crud_and_identity_map.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
