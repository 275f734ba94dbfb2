//! Instructions the ORM costs per workload, counted by callgrind: a figure
//! that repeats exactly for the same binary, whatever else the machine does,
//! so two commits can be compared without timing noise.
//!
//! ```text
//! cargo build --release --example instruction_count
//! for phase in setup insert setup_raw insert_raw load_raw get_raw load get get_session \
//!     join_seed join_select join_raw tree_seed tree_preload tree_lazy tree_raw \
//!     one_seed one_load one_raw; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/instruction_count $phase 2>&1 | grep Collected
//! done
//! ```
//!
//! A workload's cost is the difference between two phases' counts, the
//! second doing all the first does and the workload after it. `insert`
//! adds 10,000 users in one commit (after `setup`); `load` then reads them
//! all in a new session; `get` then looks each up by key in a new session
//! of its own (a SELECT each); `get_session` then looks each up again in
//! one new session (a SELECT each: the benchmark's `get_fresh`). A second
//! argument changes the 10,000. `insert_raw` is the insert by hand
//! (rusqlite, one cached INSERT per row) and `setup_raw` all of it but the
//! rows: `(insert - setup) / (insert_raw - setup_raw)` is the ORM's cost
//! against hand-written code. `load_raw` and `get_raw` go on by hand as
//! `load` and `get` do (one SELECT of all users into a `Vec`; a cached
//! SELECT by key per user): `(load - insert) / (load_raw - insert_raw)`,
//! and `(get - load)` or `(get_session - get)` against
//! `(get_raw - load_raw)`.
//!
//! The filtered join (the benchmark's `join_select`) runs on a database of
//! its own (and none of the phases above), 1,000 users with 10 posts each.
//! `join_seed` fills it and, by
//! hand, an `open_in_memory` connection with the same rows, and runs each
//! side's query once, so that both statements are prepared and cached.
//! `join_select` then runs the ORM's query `JOIN_RUNS` times (a new session
//! each, as the benchmark does), and `join_raw` the hand-written one as many
//! times: one run costs a phase's difference divided by `JOIN_RUNS`.
//!
//! The tree (the benchmark's `tree_preload` and `tree_lazy` at 1,000 users:
//! 10 posts each, 5 comments a post, 61,000 objects) also has a database of
//! its own: `tree_seed` fills it and, by hand, an `open_in_memory`
//! connection with the same rows, and walks each side's preloaded tree
//! once;
//! `tree_preload` then loads and walks it `TREE_RUNS` times with
//! `preload` (3 statements a run), and `tree_lazy`, instead, as many times
//! by lazy loading (11,001 statements a run), and `tree_raw`, instead, as
//! many times by hand (rusqlite, the same three statements as the
//! preload, plain structs with their children in `Vec`s; the benchmark's
//! hand-written side maps into the models' structs instead). Each is
//! compared with `tree_seed`.
//!
//! The one-row load (the benchmark's `load_all` at one user: a new session
//! and a query each time, where the session and the query's text cost
//! most) has a database of its own too: `one_seed` seeds one user on each
//! side and loads it once; `one_load` then loads it `ONE_RUNS` times
//! through the ORM, and `one_raw`, instead, as many times by hand. Each is
//! compared with `one_seed`.

use std::collections::HashMap;

use orm::prelude::*;
use rusqlite::Connection;

/// The benchmarks' rows.
#[path = "../benches/shared/seed.rs"]
mod seed;
/// The benchmarks' models, for the tree phases.
#[path = "../benches/shared/models.rs"]
mod tree;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub email: String,
}

const ROWS: i64 = 10_000;

/// The benchmark's schema for the joins: users with their posts.
mod blog {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "users")]
    pub struct User {
        #[orm(primary_key)]
        pub id: i64,
        pub name: String,
        #[orm(unique)]
        pub email: String,
        pub age: i64,
        #[orm(back_populates = "user")]
        pub posts: HasMany<Post>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "posts")]
    pub struct Post {
        #[orm(primary_key)]
        pub id: i64,
        pub title: String,
        pub score: i64,
        #[orm(back_populates = "posts", index)]
        pub user: BelongsTo<User>,
    }
}

use blog::Post;

const JOIN_RUNS: usize = 10;
/// Post `x` scores `x % 100`: 1,000 of the 10,000 posts score over 89.
const MIN_SCORE: i64 = 89;
const JOIN_ROWS: usize = 1_000;

fn orm_join_select(db: &Database) -> orm::Result<Vec<(String, String)>> {
    let session = db.session();
    session
        .query::<blog::User>()
        .join(blog::User::POSTS)
        .filter(Post::SCORE.gt(MIN_SCORE))
        .select((blog::User::NAME, Post::TITLE))
        .all()
}

fn raw_join_select(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.name, p.title \
         FROM users u JOIN posts p ON p.user_id = u.id WHERE p.score > ?1",
    )?;
    stmt.query_map([MIN_SCORE], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

/// The phases from `join_seed` on: the join's two databases, seeded, each
/// query run once, then `JOIN_RUNS` runs of one side or the other.
fn joins(phase: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::in_memory()?;
    db.create_all::<(blog::User, Post)>()?;
    db.execute_batch(&seed::seed_sql(1_000, 10, 0))?;
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&format!("{}{}", blog::User::ddl(), Post::ddl()))?;
    conn.execute_batch(&seed::seed_sql(1_000, 10, 0))?;
    let rows = orm_join_select(&db)?;
    assert_eq!(rows.len(), JOIN_ROWS, "posts scoring over {MIN_SCORE}");
    assert_eq!(
        rows,
        raw_join_select(&conn)?,
        "both sides read the same rows"
    );
    if phase == "join_seed" {
        return Ok(());
    }
    for _ in 0..JOIN_RUNS {
        assert_eq!(orm_join_select(&db)?.len(), JOIN_ROWS);
    }
    if phase == "join_select" {
        return Ok(());
    }
    for _ in 0..JOIN_RUNS {
        assert_eq!(raw_join_select(&conn)?.len(), JOIN_ROWS);
    }
    Ok(())
}

/// The `insert` phase by hand, for the ratio: the same users into a plain
/// connection with the same table, one cached INSERT per row, each key read
/// back into its struct (as the benchmark's hand-written side).
fn raw_insert(rows: i64, phase: &str) -> Result<(), Box<dyn std::error::Error>> {
    #[derive(Debug)]
    struct Plain {
        id: i64,
        name: String,
        email: String,
    }
    let mut conn = Connection::open_in_memory()?;
    conn.execute_batch(&User::ddl())?;
    if rows == 0 {
        return Ok(());
    }
    let mut users: Vec<Plain> = (0..rows)
        .map(|i| Plain {
            id: 0,
            name: format!("user {i}"),
            email: format!("u{i}@example.com"),
        })
        .collect();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached("INSERT INTO users (name, email) VALUES (?1, ?2)")?;
        for user in &mut users {
            insert.execute((&user.name, &user.email))?;
            user.id = tx.last_insert_rowid();
        }
    }
    tx.commit()?;
    assert_eq!(users.last().map(|u| u.id), Some(rows), "keys 1..n");
    drop(users);
    if phase == "insert_raw" {
        return Ok(());
    }
    let plain = |row: &rusqlite::Row<'_>| {
        Ok(Plain {
            id: row.get(0)?,
            name: row.get(1)?,
            email: row.get(2)?,
        })
    };
    let users: Vec<Plain> = conn
        .prepare_cached("SELECT id, name, email FROM users")?
        .query_map([], plain)?
        .collect::<rusqlite::Result<_>>()?;
    assert_eq!(users.len() as i64, rows, "every user loads");
    drop(users);
    if phase == "load_raw" {
        return Ok(());
    }
    let mut get = conn.prepare_cached("SELECT id, name, email FROM users WHERE id = ?1")?;
    for key in 1..=rows {
        let user = get.query_row([key], plain)?;
        assert_eq!(user.id, key, "the right row");
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let phase = std::env::args().nth(1).unwrap_or_default();
    // The users `insert` adds (and later phases read): 10,000 unless given.
    let rows: i64 = match std::env::args().nth(2) {
        Some(rows) => rows.parse()?,
        None => ROWS,
    };
    let db = Database::in_memory()?;
    db.create_all::<User>()?;
    if phase == "setup" {
        return Ok(());
    }
    if phase.starts_with("join") {
        return joins(&phase);
    }
    if phase.starts_with("tree") {
        return trees(&phase);
    }
    if phase.starts_with("one") {
        return one_row(&phase);
    }
    match phase.as_str() {
        "setup_raw" => return raw_insert(0, &phase),
        "insert_raw" | "load_raw" | "get_raw" => return raw_insert(rows, &phase),
        _ => {}
    }
    let session = db.session();
    for i in 0..rows {
        session.add(User::new(format!("user {i}"), format!("u{i}@example.com")));
    }
    session.commit()?;
    drop(session);
    if phase == "insert" {
        return Ok(());
    }
    let session = db.session();
    let users = session.query::<User>().all()?;
    assert_eq!(users.len() as i64, rows, "every user loads");
    if phase == "load" {
        return Ok(());
    }
    for key in 1..=rows {
        let fresh = db.session();
        let user = fresh.get::<User>(key)?;
        assert_eq!(user.read()?.id, key, "the right row");
    }
    if phase == "get" {
        return Ok(());
    }
    let fresh = db.session();
    for key in 1..=rows {
        let user = fresh.get::<User>(key)?;
        assert_eq!(user.read()?.id, key, "the right row");
    }
    if phase == "get_session" {
        return Ok(());
    }
    Err(format!("no phase {phase:?}").into())
}

const TREE_RUNS: usize = 3;

/// Loads the users (with both levels preloaded, or not) in a new session
/// and walks every level; returns the comments' total body length.
fn walk_tree(db: &Database, preload: bool) -> orm::Result<usize> {
    let session = db.session();
    let query = session.query::<tree::User>();
    let users = if preload {
        query
            .preload(tree::User::POSTS.then(tree::Post::COMMENTS))
            .all()?
    } else {
        query.all()?
    };
    let mut length = 0;
    for user in &users {
        for post in user.read()?.posts.load()? {
            for comment in post.read()?.comments.load()? {
                length += comment.read()?.body.len();
            }
        }
    }
    Ok(length)
}

/// The tree by hand, as plain structs: each level's rows with their
/// children in `Vec`s. Every column is read into them, as the ORM reads
/// its objects; the walk, like the ORM's, reads only the comments' bodies.
#[allow(dead_code)]
struct PlainUser {
    id: i64,
    name: String,
    email: String,
    age: i64,
    posts: Vec<PlainPost>,
}

#[allow(dead_code)]
struct PlainPost {
    id: i64,
    title: String,
    score: i64,
    comments: Vec<PlainComment>,
}

#[allow(dead_code)]
struct PlainComment {
    id: i64,
    body: String,
}

/// `[1,2,3]`: keys for `IN (SELECT value FROM json_each(?1))`, as the
/// ORM's preload binds them.
fn json_keys(keys: impl Iterator<Item = i64>) -> String {
    let keys: Vec<String> = keys.map(|k| k.to_string()).collect();
    format!("[{}]", keys.join(","))
}

/// The preloaded tree by hand: the same three statements as the ORM's, the
/// rows grouped under their parents by key; returns the comments' total
/// body length.
fn walk_tree_by_hand(conn: &Connection) -> rusqlite::Result<usize> {
    let mut users: Vec<PlainUser> = conn
        .prepare_cached("SELECT id, name, email, age FROM users")?
        .query_map([], |row| {
            Ok(PlainUser {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
                age: row.get(3)?,
                posts: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let user_at: HashMap<i64, usize> = users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    let mut post_at: HashMap<i64, (usize, usize)> = HashMap::new();
    let mut posts = conn.prepare_cached(
        "SELECT id, title, score, user_id FROM posts \
         WHERE user_id IN (SELECT value FROM json_each(?1))",
    )?;
    let mut rows = posts.query([json_keys(users.iter().map(|u| u.id))])?;
    while let Some(row) = rows.next()? {
        let Some(&u) = user_at.get(&row.get::<_, i64>(3)?) else {
            continue;
        };
        let post = PlainPost {
            id: row.get(0)?,
            title: row.get(1)?,
            score: row.get(2)?,
            comments: Vec::new(),
        };
        post_at.insert(post.id, (u, users[u].posts.len()));
        users[u].posts.push(post);
    }
    let keys = json_keys(users.iter().flat_map(|u| u.posts.iter().map(|p| p.id)));
    let mut comments = conn.prepare_cached(
        "SELECT id, body, post_id FROM comments \
         WHERE post_id IN (SELECT value FROM json_each(?1))",
    )?;
    let mut rows = comments.query([keys])?;
    while let Some(row) = rows.next()? {
        if let Some(&(u, p)) = post_at.get(&row.get::<_, i64>(2)?) {
            users[u].posts[p].comments.push(PlainComment {
                id: row.get(0)?,
                body: row.get(1)?,
            });
        }
    }
    let length = users
        .iter()
        .flat_map(|u| &u.posts)
        .flat_map(|p| &p.comments)
        .map(|c| c.body.len())
        .sum();
    Ok(length)
}

/// The phases from `tree_seed` on.
fn trees(phase: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::in_memory()?;
    db.create_all::<(tree::User, tree::Post, tree::Comment)>()?;
    db.execute_batch(&seed::seed_sql(1_000, 10, 5))?;
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON;{}{}{}",
        tree::User::ddl(),
        tree::Post::ddl(),
        tree::Comment::ddl()
    ))?;
    conn.execute_batch(&seed::seed_sql(1_000, 10, 5))?;
    let length = walk_tree(&db, true)?;
    assert!(length > 0, "every comment read");
    assert_eq!(
        walk_tree_by_hand(&conn)?,
        length,
        "both sides read the same tree"
    );
    if phase == "tree_seed" {
        return Ok(());
    }
    for _ in 0..TREE_RUNS {
        let walked = match phase {
            "tree_raw" => walk_tree_by_hand(&conn)?,
            _ => walk_tree(&db, phase == "tree_preload")?,
        };
        assert_eq!(walked, length, "the same tree");
    }
    Ok(())
}

const ONE_RUNS: usize = 10_000;

/// The benchmark's `load_all` at one user: a new session, every user loaded.
fn load_all(db: &Database) -> orm::Result<i64> {
    let session = db.session();
    let users = session.query::<tree::User>().all()?;
    users.iter().map(|u| Ok(u.read()?.age)).sum()
}

/// The same by hand, as the benchmark writes it: the text made and the
/// statement found in rusqlite's cache per load, each row into a struct.
fn load_all_by_hand(conn: &Connection) -> rusqlite::Result<i64> {
    struct Plain {
        #[allow(dead_code)] // read only to make the row
        id: i64,
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        email: String,
        age: i64,
    }
    let mut stmt = conn.prepare_cached(&format!("SELECT {} FROM users", "id, name, email, age"))?;
    let users = stmt
        .query_map([], |row| {
            Ok(Plain {
                id: row.get(0)?,
                name: row.get(1)?,
                email: row.get(2)?,
                age: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<Plain>>>()?;
    Ok(users.iter().map(|u| u.age).sum())
}

/// The phases from `one_seed` on: one user on each side, loaded once;
/// then `ONE_RUNS` loads of one side or the other.
fn one_row(phase: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::in_memory()?;
    db.create_all::<(tree::User, tree::Post, tree::Comment)>()?;
    db.execute_batch(&seed::seed_sql(1, 0, 0))?;
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(&tree::User::ddl())?;
    conn.execute_batch(&seed::seed_sql(1, 0, 0))?;
    let age = load_all(&db)?;
    assert_eq!(
        load_all_by_hand(&conn)?,
        age,
        "both sides read the same user"
    );
    if phase == "one_seed" {
        return Ok(());
    }
    for _ in 0..ONE_RUNS {
        let read = match phase {
            "one_raw" => load_all_by_hand(&conn)?,
            _ => load_all(&db)?,
        };
        assert_eq!(read, age, "the same user");
    }
    Ok(())
}
