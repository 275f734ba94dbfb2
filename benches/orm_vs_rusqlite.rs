//! The ORM against hand-written rusqlite code, workload by workload, in the
//! same run (design.md, "Performance"; the method is in BENCHMARKS.md).
//!
//! Every criterion group is named `<workload>/<size>` and holds two
//! functions: `orm` (through sessions, the identity map, queries) and
//! `rusqlite` (prepared, cached statements, rows mapped by position into the
//! same model structs, or into the same tuples for a projection). Both sides
//! get the same schema (`Model::ddl()`, with `PRAGMA foreign_keys = ON`) and
//! the same rows (one seeding SQL script run on each), each in its own
//! in-memory database: `Database::in_memory()` for the ORM,
//! `Connection::open_in_memory()` for the hand-written code.
//!
//! What is timed: the workload and the drop of the objects it made (a
//! session, a `Vec` of structs); not the creation or drop of a database.
//!
//! The clock is criterion's wall clock, or with `ORM_BENCH_CLOCK=cpu` the
//! benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, Linux), which a
//! busy machine disturbs much less. `python3 benches/report.py` prints the
//! table of medians and ratios.

use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;
use std::time::Duration;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode};
use orm::prelude::*;
use rusqlite::{Connection, Row, TransactionBehavior};
#[path = "shared/seed.rs"]
mod seed;
#[path = "shared/mod.rs"]
mod shared;

use seed::seed_sql;
use shared::{Comment, Post, ThreadCpuTime, User};

const POSTS_PER_USER: usize = 10;
const COMMENTS_PER_POST: usize = 5;
const LOOKUPS: usize = 10_000;
/// The join workload keeps users with `age >= MIN_AGE`: half of them.
const MIN_AGE: i64 = 58;
/// The projected join keeps posts with `score > MIN_SCORE`. Post `x` scores
/// `x % 100`, so 10 in every 100 posts pass: 1,000 rows for 1,000 users of
/// 10 posts each (they fall on 200 of the users: 9 rows for each user whose
/// id ends in 0, 1 row for each whose id ends in 9).
const MIN_SCORE: i64 = 89;

// ---------------------------------------------------------------------------
// Setup shared by both sides

/// An ORM database with the schema and, if `users > 0`, the seeded rows.
fn orm_db(users: usize, posts: usize, comments: usize) -> Database {
    let db = Database::in_memory().expect("in-memory database");
    db.create_all::<(User, Post, Comment)>()
        .expect("create_all");
    if users > 0 {
        db.execute_batch(&seed_sql(users, posts, comments))
            .expect("seed");
    }
    db
}

/// The hand-written side's connection: same DDL, same rows.
fn raw_db(users: usize, posts: usize, comments: usize) -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory connection");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("foreign_keys");
    conn.set_prepared_statement_cache_capacity(128);
    let ddl = format!("{}{}{}", User::ddl(), Post::ddl(), Comment::ddl());
    conn.execute_batch(&ddl).expect("ddl");
    if users > 0 {
        conn.execute_batch(&seed_sql(users, posts, comments))
            .expect("seed");
    }
    conn
}

// ---------------------------------------------------------------------------
// Hand-written row mapping: by position, into the same structs

const USER_COLUMNS: &str = "id, name, email, age";
const POST_COLUMNS: &str = "id, title, score, user_id";
const COMMENT_COLUMNS: &str = "id, body, post_id";

fn user_at(row: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        email: row.get(at + 2)?,
        age: row.get(at + 3)?,
        posts: HasMany::unloaded(),
    })
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

fn post_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Post> {
    Ok(Post {
        id: row.get(at)?,
        title: row.get(at + 1)?,
        score: row.get(at + 2)?,
        user: BelongsTo::from_key(Some(row.get(at + 3)?)),
        comments: HasMany::unloaded(),
    })
}

fn post_row(row: &Row<'_>) -> rusqlite::Result<Post> {
    post_at(row, 0)
}

fn comment_row(row: &Row<'_>) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: row.get(0)?,
        body: row.get(1)?,
        post: BelongsTo::from_key(Some(row.get(2)?)),
    })
}

/// A tree of users, posts and comments loaded by hand.
struct UserTree {
    user: User,
    posts: Vec<PostTree>,
}

struct PostTree {
    post: Post,
    comments: Vec<Comment>,
}

/// `[1,2,3]`: the keys bound as one parameter to `IN (SELECT value FROM
/// json_each(?))`, the statement shape the ORM's preload uses.
fn json_keys(keys: impl Iterator<Item = i64>) -> String {
    let mut json = String::from("[");
    for (i, key) in keys.enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&key.to_string());
    }
    json.push(']');
    json
}

fn new_user(i: usize) -> User {
    User::new(
        format!("user {i}"),
        format!("user{i}@example.com"),
        (i % 80 + 18) as i64,
    )
}

/// The lookup order: every key 1..=n once, shuffled (xorshift, fixed seed).
fn shuffled_keys(n: usize) -> Vec<i64> {
    let mut keys: Vec<i64> = (1..=n as i64).collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..keys.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        keys.swap(i, (state % (i as u64 + 1)) as usize);
    }
    keys
}

// ---------------------------------------------------------------------------
// The workloads, each side as a function returning a checksum

fn orm_insert(db: &Database, n: usize) -> i64 {
    let session = db.session();
    let handles: Vec<Handle<User>> = (1..=n).map(|i| session.add(new_user(i))).collect();
    session.commit().expect("commit");
    handles.last().map_or(0, |h| h.read().expect("read").id)
}

fn raw_insert(conn: &mut Connection, n: usize) -> i64 {
    let mut users: Vec<User> = (1..=n).map(new_user).collect();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .expect("begin");
    {
        let mut insert = tx
            .prepare_cached("INSERT INTO users (name, email, age) VALUES (?1, ?2, ?3)")
            .expect("prepare");
        for user in &mut users {
            insert
                .execute((&user.name, &user.email, user.age))
                .expect("insert");
            user.id = tx.last_insert_rowid();
        }
    }
    tx.commit().expect("commit");
    users.last().map_or(0, |u| u.id)
}

fn orm_load_all(db: &Database) -> i64 {
    let session = db.session();
    let users = session.query::<User>().all().expect("query");
    users.iter().map(|u| u.read().expect("read").age).sum()
}

fn raw_load_all(conn: &Connection) -> i64 {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare");
    let users: Vec<User> = stmt
        .query_map([], user_row)
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    users.iter().map(|u| u.age).sum()
}

fn orm_lookups(session: &Session, keys: &[i64]) -> i64 {
    keys.iter()
        .map(|&k| {
            session
                .get::<User>(k)
                .expect("get")
                .read()
                .expect("read")
                .age
        })
        .sum()
}

fn raw_lookups(conn: &Connection, keys: &[i64]) -> i64 {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .expect("prepare");
    let users: Vec<User> = keys
        .iter()
        .map(|&k| stmt.query_row([k], user_row).expect("row"))
        .collect();
    users.iter().map(|u| u.age).sum()
}

/// Sums comment body lengths over the tree, reading every level.
fn orm_walk(users: &[Handle<User>]) -> usize {
    let mut total = 0;
    for user in users {
        let user = user.read().expect("read");
        for post in user.posts.load().expect("posts") {
            let post = post.read().expect("read");
            for comment in post.comments.load().expect("comments") {
                total += comment.read().expect("read").body.len();
            }
        }
    }
    total
}

fn raw_walk(tree: &[UserTree]) -> usize {
    tree.iter()
        .flat_map(|u| &u.posts)
        .flat_map(|p| &p.comments)
        .map(|c| c.body.len())
        .sum()
}

fn orm_tree_preload(db: &Database) -> usize {
    let session = db.session();
    let users = session
        .query::<User>()
        .preload(User::POSTS.then(Post::COMMENTS))
        .all()
        .expect("query");
    orm_walk(&users)
}

/// Three statements, as the ORM's preload: users, then the posts of those
/// users, then the comments of those posts, assembled into a tree.
fn raw_tree_preload(conn: &Connection) -> usize {
    let mut users = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare");
    let mut tree: Vec<UserTree> = users
        .query_map([], |row| {
            Ok(UserTree {
                user: user_row(row)?,
                posts: Vec::new(),
            })
        })
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let user_at: HashMap<i64, usize> = tree
        .iter()
        .enumerate()
        .map(|(i, u)| (u.user.id, i))
        .collect();

    let mut posts = conn
        .prepare_cached(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE user_id IN (SELECT value FROM json_each(?1))"
        ))
        .expect("prepare");
    let keys = json_keys(tree.iter().map(|u| u.user.id));
    let mut post_at: HashMap<i64, (usize, usize)> = HashMap::new();
    let mut rows = posts.query([keys]).expect("query");
    while let Some(row) = rows.next().expect("row") {
        let post = post_row(row).expect("post");
        let Some(&u) = post.user.key().and_then(|k| user_at.get(&k)) else {
            continue;
        };
        post_at.insert(post.id, (u, tree[u].posts.len()));
        tree[u].posts.push(PostTree {
            post,
            comments: Vec::new(),
        });
    }

    let mut comments = conn
        .prepare_cached(&format!(
            "SELECT {COMMENT_COLUMNS} FROM comments WHERE post_id IN (SELECT value FROM json_each(?1))"
        ))
        .expect("prepare");
    let keys = json_keys(tree.iter().flat_map(|u| u.posts.iter().map(|p| p.post.id)));
    let mut rows = comments.query([keys]).expect("query");
    while let Some(row) = rows.next().expect("row") {
        let comment = comment_row(row).expect("comment");
        if let Some(&(u, p)) = comment.post.key().and_then(|k| post_at.get(&k)) {
            tree[u].posts[p].comments.push(comment);
        }
    }
    raw_walk(&tree)
}

fn orm_tree_lazy(db: &Database) -> usize {
    let session = db.session();
    let users = session.query::<User>().all().expect("query");
    orm_walk(&users)
}

/// N+1 by hand: the users, then one SELECT per user for its posts and one
/// per post for its comments.
fn raw_tree_lazy(conn: &Connection) -> usize {
    let mut users = conn
        .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare");
    let mut posts = conn
        .prepare_cached(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE user_id = ?1"
        ))
        .expect("prepare");
    let mut comments = conn
        .prepare_cached(&format!(
            "SELECT {COMMENT_COLUMNS} FROM comments WHERE post_id = ?1"
        ))
        .expect("prepare");
    let users: Vec<User> = users
        .query_map([], user_row)
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    let tree: Vec<UserTree> = users
        .into_iter()
        .map(|user| {
            let posts = posts
                .query_map([user.id], post_row)
                .expect("query")
                .map(|post| {
                    let post = post.expect("post");
                    let comments = comments
                        .query_map([post.id], comment_row)
                        .expect("query")
                        .collect::<rusqlite::Result<_>>()
                        .expect("rows");
                    PostTree { post, comments }
                })
                .collect();
            UserTree { user, posts }
        })
        .collect();
    raw_walk(&tree)
}

/// Users of `age >= MIN_AGE` with their posts: the ORM's way is a filtered
/// query plus a preload (it has no join API), two statements.
fn orm_join(db: &Database) -> i64 {
    let session = db.session();
    let users = session
        .query::<User>()
        .filter(User::AGE.ge(MIN_AGE))
        .preload(User::POSTS)
        .all()
        .expect("query");
    let mut total = 0;
    for user in &users {
        for post in user.read().expect("read").posts.load().expect("posts") {
            total += post.read().expect("read").score;
        }
    }
    total
}

/// The same by hand: one JOIN, rows grouped into users with their posts.
fn raw_join(conn: &Connection) -> i64 {
    let mut stmt = conn
        .prepare_cached(
            "SELECT u.id, u.name, u.email, u.age, p.id, p.title, p.score, p.user_id \
             FROM users u JOIN posts p ON p.user_id = u.id \
             WHERE u.age >= ?1 ORDER BY u.id, p.id",
        )
        .expect("prepare");
    let mut grouped: Vec<(User, Vec<Post>)> = Vec::new();
    let mut rows = stmt.query([MIN_AGE]).expect("query");
    while let Some(row) = rows.next().expect("row") {
        let user_id: i64 = row.get(0).expect("id");
        if grouped.last().is_none_or(|(u, _)| u.id != user_id) {
            grouped.push((user_at(row, 0).expect("user"), Vec::new()));
        }
        if let Some((_, posts)) = grouped.last_mut() {
            posts.push(post_at(row, 4).expect("post"));
        }
    }
    grouped
        .iter()
        .flat_map(|(_, posts)| posts)
        .map(|p| p.score)
        .sum()
}

const JOIN_SQL: &str = "SELECT p.id, p.title, p.score, p.user_id \
     FROM posts p JOIN users u ON u.id = p.user_id WHERE u.age >= ?1";

/// The same join as raw SQL through the ORM (`Session::sql`): posts only.
fn orm_join_sql(db: &Database) -> i64 {
    let session = db.session();
    let posts = session.sql::<Post>(JOIN_SQL, &[&MIN_AGE]).expect("sql");
    posts.iter().map(|p| p.read().expect("read").score).sum()
}

fn raw_join_sql(conn: &Connection) -> i64 {
    let mut stmt = conn.prepare_cached(JOIN_SQL).expect("prepare");
    let posts: Vec<Post> = stmt
        .query_map([MIN_AGE], post_row)
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    posts.iter().map(|p| p.score).sum()
}

/// Users joined with their posts scoring over `MIN_SCORE`, read as
/// `(name, title)` values in one statement: no objects, no identity map.
/// Both sides return the rows themselves, which the check compares whole.
fn orm_join_select(db: &Database) -> Vec<(String, String)> {
    let session = db.session();
    session
        .query::<User>()
        .join(User::POSTS)
        .filter(Post::SCORE.gt(MIN_SCORE))
        .select((User::NAME, Post::TITLE))
        .all()
        .expect("query")
}

const JOIN_SELECT_SQL: &str = "SELECT u.name, p.title \
     FROM users u JOIN posts p ON p.user_id = u.id WHERE p.score > ?1";

fn raw_join_select(conn: &Connection) -> Vec<(String, String)> {
    let mut stmt = conn.prepare_cached(JOIN_SELECT_SQL).expect("prepare");
    stmt.query_map([MIN_SCORE], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

// ---------------------------------------------------------------------------
// Criterion groups

/// A group named `<workload>/<size>`; `heavy` groups (one iteration takes
/// milliseconds) get 10 flat samples so the suite stays within minutes.
fn group<'a, M: Measurement>(
    c: &'a mut Criterion<M>,
    workload: &str,
    size: usize,
    heavy: bool,
) -> BenchmarkGroup<'a, M> {
    let mut g = c.benchmark_group(format!("{workload}/{size}"));
    if heavy {
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    } else {
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    g
}

fn insert<M: Measurement>(c: &mut Criterion<M>) {
    for n in [100, 1_000, 10_000] {
        let db = orm_db(0, 0, 0);
        let recorder = db.recorder();
        assert_eq!(orm_insert(&db, n), n as i64);
        // From 128 rows: the keys, an INSERT per 32 rows, one per row left.
        let expected = if n < 128 { n } else { 1 + n / 32 + n % 32 };
        assert_eq!(recorder.count(), expected, "statements of the flush");
        drop((recorder, db));
        assert_eq!(raw_insert(&mut raw_db(0, 0, 0), n), n as i64);
        let mut g = group(c, "insert", n, n >= 10_000);
        g.bench_function("orm", |b| {
            b.iter_batched(
                || orm_db(0, 0, 0),
                |db| {
                    black_box(orm_insert(&db, n));
                    db
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("rusqlite", |b| {
            b.iter_batched(
                || raw_db(0, 0, 0),
                |mut conn| {
                    black_box(raw_insert(&mut conn, n));
                    conn
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

fn load_all<M: Measurement>(c: &mut Criterion<M>) {
    for n in [1, 100, 10_000] {
        let db = orm_db(n, 0, 0);
        let conn = raw_db(n, 0, 0);
        assert_eq!(orm_load_all(&db), raw_load_all(&conn));
        let mut g = group(c, "load_all", n, n >= 10_000);
        g.bench_function("orm", |b| b.iter(|| orm_load_all(&db)));
        g.bench_function("rusqlite", |b| b.iter(|| raw_load_all(&conn)));
        g.finish();
    }
}

fn lookups<M: Measurement>(c: &mut Criterion<M>) {
    let n = LOOKUPS;
    let keys = shuffled_keys(n);
    let db = orm_db(n, 0, 0);
    let conn = raw_db(n, 0, 0);

    // A fresh session per iteration: every get is a SELECT.
    {
        let recorder = db.recorder();
        let session = db.session();
        let expected = raw_lookups(&conn, &keys);
        assert_eq!(orm_lookups(&session, &keys), expected);
        assert_eq!(recorder.count(), n, "one SELECT per fresh lookup");
    }
    let mut g = group(c, "get_fresh", n, true);
    g.bench_function("orm", |b| b.iter(|| orm_lookups(&db.session(), &keys)));
    g.bench_function("rusqlite", |b| b.iter(|| raw_lookups(&conn, &keys)));
    g.finish();

    // The same lookups again in a session whose identity map holds every
    // user: no SQL. Hand-written code has no identity map, so it repeats
    // its SELECTs.
    let session = db.session();
    let loaded = session.query::<User>().all().expect("query");
    assert_eq!(loaded.len(), n);
    {
        let recorder = db.recorder();
        orm_lookups(&session, &keys);
        assert_eq!(recorder.count(), 0, "identity-map hits issue no SQL");
    }
    let mut g = group(c, "get_repeated", n, false);
    g.bench_function("orm", |b| b.iter(|| orm_lookups(&session, &keys)));
    g.bench_function("rusqlite", |b| b.iter(|| raw_lookups(&conn, &keys)));
    g.finish();

    // The strict bar for the identity map: a hand-written cache of the
    // same rows, `HashMap<i64, Rc<User>>`, hit 10,000 times.
    let cache: HashMap<i64, Rc<User>> = conn
        .prepare(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare")
        .query_map([], user_row)
        .expect("query")
        .map(|u| {
            let u = u.expect("row");
            (u.id, Rc::new(u))
        })
        .collect();
    let cached =
        |keys: &[i64]| -> i64 { keys.iter().map(|k| Rc::clone(&cache[k]).age).sum::<i64>() };
    assert_eq!(cached(&keys), orm_lookups(&session, &keys));
    let mut g = group(c, "get_cached", n, false);
    g.bench_function("orm", |b| b.iter(|| orm_lookups(&session, &keys)));
    g.bench_function("rusqlite", |b| b.iter(|| cached(&keys)));
    g.finish();
}

fn trees<M: Measurement>(c: &mut Criterion<M>) {
    for users in [100, 1_000] {
        let db = orm_db(users, POSTS_PER_USER, COMMENTS_PER_POST);
        let conn = raw_db(users, POSTS_PER_USER, COMMENTS_PER_POST);
        let expected = raw_tree_preload(&conn);
        assert_eq!(raw_tree_lazy(&conn), expected);
        {
            let recorder = db.recorder();
            assert_eq!(orm_tree_preload(&db), expected);
            assert_eq!(recorder.count(), 3, "preload of three levels");
        }
        {
            let recorder = db.recorder();
            assert_eq!(orm_tree_lazy(&db), expected);
            let posts = users * POSTS_PER_USER;
            assert_eq!(recorder.count(), 1 + users + posts, "N+1");
        }
        let mut g = group(c, "tree_preload", users, true);
        g.bench_function("orm", |b| b.iter(|| orm_tree_preload(&db)));
        g.bench_function("rusqlite", |b| b.iter(|| raw_tree_preload(&conn)));
        g.finish();

        let mut g = group(c, "tree_lazy", users, true);
        g.bench_function("orm", |b| b.iter(|| orm_tree_lazy(&db)));
        g.bench_function("rusqlite", |b| b.iter(|| raw_tree_lazy(&conn)));
        g.finish();
    }
}

fn joins<M: Measurement>(c: &mut Criterion<M>) {
    let users = 1_000;
    let db = orm_db(users, POSTS_PER_USER, 0);
    let conn = raw_db(users, POSTS_PER_USER, 0);
    assert_eq!(orm_join(&db), raw_join(&conn));
    assert_eq!(orm_join_sql(&db), raw_join_sql(&conn));
    assert_eq!(orm_join(&db), orm_join_sql(&db));

    let mut g = group(c, "join_filter", users, true);
    g.bench_function("orm", |b| b.iter(|| orm_join(&db)));
    g.bench_function("rusqlite", |b| b.iter(|| raw_join(&conn)));
    g.finish();

    let mut g = group(c, "join_sql", users, true);
    g.bench_function("orm", |b| b.iter(|| orm_join_sql(&db)));
    g.bench_function("rusqlite", |b| b.iter(|| raw_join_sql(&conn)));
    g.finish();

    {
        let recorder = db.recorder();
        let rows = orm_join_select(&db);
        assert_eq!(recorder.count(), 1, "a projected join is one statement");
        assert_eq!(rows.len(), 1_000, "posts scoring over {MIN_SCORE}");
        assert_eq!(rows, raw_join_select(&conn));
    }
    let mut g = group(c, "join_select", users, true);
    g.bench_function("orm", |b| b.iter(|| orm_join_select(&db)));
    g.bench_function("rusqlite", |b| b.iter(|| raw_join_select(&conn)));
    g.finish();
}

fn run<M: Measurement>(mut c: Criterion<M>) {
    insert(&mut c);
    load_all(&mut c);
    lookups(&mut c);
    trees(&mut c);
    joins(&mut c);
    c.final_summary();
}

fn main() {
    let cpu = std::env::var("ORM_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
    if cpu && cfg!(all(target_os = "linux", target_pointer_width = "64")) {
        run(Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args());
    } else {
        run(Criterion::default()
            .with_measurement(WallTime)
            .configure_from_args());
    }
}
