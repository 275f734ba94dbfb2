//! Chapter 4: eager loading, N+1 versus `preload`. `cargo run --example 04_eager_loading`

#[path = "chapters/04_eager_loading.rs"]
mod chapter;

fn main() -> orm::Result<()> {
    chapter::run()
}
