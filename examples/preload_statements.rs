//! What SQLite pays for the rows of a preload, by the shape of its
//! statement: the question behind choosing between a key list and a scan.
//! Counted by callgrind, on hand-written rusqlite, so that only SQLite's
//! work differs between the shapes.
//!
//! ```text
//! cargo build --release --example preload_statements
//! for shape in none keys keys_scan subquery subquery_scan; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/preload_statements $shape 1000 2>&1 | grep Collected
//! done
//! ```
//!
//! The database is the benchmark's tree (`users` users, 10 posts each, 5
//! comments a post, the index on `comments.post_id`). Each shape reads the
//! comments of every post twice, with their ids and bodies; `none` only
//! builds the database, so a shape's cost is the difference with it,
//! halved:
//! - `keys`: the ORM's preload, `post_id IN (SELECT value FROM
//!   json_each(?1))` with the posts' keys, through the index;
//! - `keys_scan`: the same with the index disabled (`+post_id`), so that
//!   SQLite scans the table and tests each row against the key list;
//! - `subquery`, `subquery_scan`: the parent query as a subquery instead
//!   of a key list, through the index or by a scan.

use rusqlite::Connection;

/// The benchmarks' models, for their DDL, and their rows.
#[path = "../benches/shared/models.rs"]
mod models;
#[path = "../benches/shared/seed.rs"]
mod seed;

use orm::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shape = std::env::args().nth(1).unwrap_or_default();
    let users: usize = match std::env::args().nth(2) {
        Some(users) => users.parse()?,
        None => 1_000,
    };
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&format!(
        "{}{}{}",
        models::User::ddl(),
        models::Post::ddl(),
        models::Comment::ddl()
    ))?;
    conn.execute_batch(&seed::seed_sql(users, 10, 5))?;
    let posts = users * 10;
    let keys = (1..=posts)
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let keys = format!("[{keys}]");
    let filter = match shape.as_str() {
        "none" => return Ok(()),
        "keys" => "post_id IN (SELECT value FROM json_each(?1))",
        "keys_scan" => "+post_id IN (SELECT value FROM json_each(?1))",
        "subquery" => "post_id IN (SELECT id FROM posts WHERE user_id IN (SELECT id FROM users))",
        "subquery_scan" => {
            "+post_id IN (SELECT id FROM posts WHERE +user_id IN (SELECT id FROM users))"
        }
        other => return Err(format!("no shape {other:?}").into()),
    };
    let sql = format!("SELECT id, body, post_id FROM comments WHERE {filter}");
    let mut stmt = conn.prepare(&sql)?;
    for _ in 0..2 {
        let mut rows = if sql.contains("?1") {
            stmt.query([&keys])?
        } else {
            stmt.query([])?
        };
        let mut read = 0;
        while let Some(row) = rows.next()? {
            let _id: i64 = row.get(0)?;
            let _body: String = row.get(1)?;
            read += 1;
        }
        assert_eq!(read, posts * 5, "every comment");
    }
    Ok(())
}
