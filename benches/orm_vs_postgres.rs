//! The ORM against hand-written `postgres` code on a PostgreSQL server,
//! workload by workload, in the same run: the SQLite benchmark's workloads
//! (`orm_vs_rusqlite.rs`), with sizes suited to a network round trip per
//! statement (BENCHMARKS.md, "PostgreSQL").
//!
//! The server is `ORM_BENCH_POSTGRES` (default
//! `postgresql://postgres@127.0.0.1:5432/test`). A run works in a schema of
//! its own, `orm_bench_<pid>`, made with a plain client and dropped at the
//! end; the ORM opens it with `?options=-csearch_path%3D<schema>`. Where the
//! server cannot be reached, the bench says so and exits 0 without
//! benchmarking.
//!
//! Every criterion group is named `pg_<workload>/<size>` and holds two
//! functions: `orm` (sessions, the identity map, queries; public API only)
//! and `postgres` (the synchronous client, statements prepared once per
//! workload and reused, rows mapped by hand into plain structs). Both read
//! and write the same tables, made by the ORM's `create_all` and seeded with
//! the same `generate_series` SQL, so keys are 1..n.
//!
//! What is timed: making the session (or the hand-written structs), the
//! work, and reading what it returned. Not timed: seeding, truncating before
//! an insert, the result checks (every iteration's result is checked) and
//! the drop of the session and objects (`iter_custom`, one clock reading
//! around each iteration's work). The clock is the wall clock, or with
//! `ORM_BENCH_CLOCK=cpu` the bench thread's CPU time, which leaves out the
//! server's work and the waits for it: the client's share alone.
//!
//! With `ORM_BENCH_PAIRED=1`, criterion is left out: each workload runs ORM
//! and hand-written iterations alternately for 3 s (after 0.5 s of
//! warm-up) and prints a table of the medians, their ratio and the median
//! of the pairs' ratios. On a shared machine, where the load changes
//! between one criterion function and the next, the pairs' ratio is the
//! figure to read. One argument filters workloads by `<workload>/<size>`.

use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, WallTime};
use criterion::{Criterion, SamplingMode};
use orm::prelude::*;
use postgres::{Client, NoTls, Row, Statement};
#[path = "shared/mod.rs"]
mod shared;

use shared::{Comment, Post, ThreadCpuTime, User};

const URL_VAR: &str = "ORM_BENCH_POSTGRES";
const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

const POSTS_PER_USER: usize = 10;
const COMMENTS_PER_POST: usize = 5;
/// W3: lookups of every key of this many users, in a shuffled order.
const LOOKUPS: usize = 1_000;
/// W4: users of the tree (x 10 posts x 5 comments).
const TREE_USERS: usize = 100;
/// W5: users of the join (x 10 posts); post `x` scores `x % 100`, so 1,000
/// of the 10,000 posts score over `MIN_SCORE`.
const JOIN_USERS: usize = 1_000;
const MIN_SCORE: i64 = 89;

// ---------------------------------------------------------------------------
// The server and the run's schema

/// The run's schema on the server, dropped (with everything in it) when
/// this is dropped, after the ORM's connections and the hand-written one.
struct Scratch {
    admin: Client,
    schema: String,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let drop = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        if let Err(e) = self.admin.batch_execute(&drop) {
            eprintln!("could not drop schema {}: {e}", self.schema);
        }
    }
}

/// Both sides' connections to the run's schema. Fields drop in order: the
/// ORM's pool, the hand-written client, then the schema.
struct Bench {
    db: Database,
    client: Client,
    _scratch: Scratch,
}

/// Connects, makes the schema and the tables; `None` (after saying why)
/// where the server cannot be reached.
fn setup() -> Option<Bench> {
    let url = std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let mut config: postgres::Config = match url.parse() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{URL_VAR}={url} is not a PostgreSQL URL ({e}): not benchmarking");
            return None;
        }
    };
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    let mut admin = match config.connect(NoTls) {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!(
                "the PostgreSQL server at {url} cannot be reached ({e}): not benchmarking; \
                 set {URL_VAR} to a server's URL to run orm_vs_postgres"
            );
            return None;
        }
    };
    let schema = format!("orm_bench_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .expect("the bench schema can be created");
    let scratch = Scratch { admin, schema };
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-csearch_path%3D{}", scratch.schema);
    let db = Database::open(&scoped).expect("the ORM opens the bench schema");
    db.create_all::<(User, Post, Comment)>()
        .expect("create_all");
    let client = Client::connect(&scoped, NoTls).expect("the hand-written client connects");
    println!("orm_vs_postgres: {url}, schema {}", scratch.schema);
    Some(Bench {
        db,
        client,
        _scratch: scratch,
    })
}

/// Empties the tables (keys start again at 1) and fills them: `users`
/// users, each with `posts` posts, each with `comments` comments, keys
/// 1..n in each table.
fn seed(client: &mut Client, users: usize, posts: usize, comments: usize) {
    let n_posts = users * posts;
    let n_comments = n_posts * comments;
    let posts = posts.max(1);
    let comments = comments.max(1);
    client
        .batch_execute(&format!(
            "TRUNCATE comments, posts, users RESTART IDENTITY;
             INSERT INTO users (id, name, email, age)
             SELECT x, 'user ' || x, 'user' || x || '@example.com', x % 80 + 18
             FROM generate_series(1, {users}) x;
             INSERT INTO posts (id, title, score, user_id)
             SELECT x, 'post ' || x, x % 100, (x - 1) / {posts} + 1
             FROM generate_series(1, {n_posts}) x;
             INSERT INTO comments (id, body, post_id)
             SELECT x, 'comment number ' || x, (x - 1) / {comments} + 1
             FROM generate_series(1, {n_comments}) x;
             ANALYZE users, posts, comments;"
        ))
        .expect("seed");
}

fn truncate(client: &mut Client) {
    client
        .batch_execute("TRUNCATE comments, posts, users RESTART IDENTITY")
        .expect("truncate");
}

// ---------------------------------------------------------------------------
// Hand-written rows: plain structs, mapped by position (every column is
// mapped, as the ORM maps it, though the checks read only some)

#[derive(Debug)]
struct RawUser {
    id: i64,
    name: String,
    email: String,
    age: i64,
}

#[derive(Debug)]
#[allow(dead_code, reason = "mapped whole; the walk reads the comments")]
struct RawPost {
    id: i64,
    title: String,
    score: i64,
    user_id: i64,
}

#[derive(Debug)]
#[allow(dead_code, reason = "mapped whole; the walk reads the bodies")]
struct RawComment {
    id: i64,
    body: String,
    post_id: i64,
}

const USER_COLUMNS: &str = "id, name, email, age";
const POST_COLUMNS: &str = "id, title, score, user_id";
const COMMENT_COLUMNS: &str = "id, body, post_id";

fn raw_user(row: &Row) -> RawUser {
    RawUser {
        id: row.get(0),
        name: row.get(1),
        email: row.get(2),
        age: row.get(3),
    }
}

fn raw_post(row: &Row) -> RawPost {
    RawPost {
        id: row.get(0),
        title: row.get(1),
        score: row.get(2),
        user_id: row.get(3),
    }
}

fn raw_comment(row: &Row) -> RawComment {
    RawComment {
        id: row.get(0),
        body: row.get(1),
        post_id: row.get(2),
    }
}

struct UserTree {
    user: RawUser,
    posts: Vec<PostTree>,
}

struct PostTree {
    post: RawPost,
    comments: Vec<RawComment>,
}

fn new_user(i: usize) -> User {
    User::new(
        format!("user {i}"),
        format!("user{i}@example.com"),
        (i % 80 + 18) as i64,
    )
}

fn new_raw_user(i: usize) -> RawUser {
    RawUser {
        id: 0,
        name: format!("user {i}"),
        email: format!("user{i}@example.com"),
        age: (i % 80 + 18) as i64,
    }
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

/// The sum of the ages of the users `1..=n` as seeded (`x % 80 + 18`).
fn age_sum(n: usize) -> i64 {
    (1..=n).map(|x| (x % 80 + 18) as i64).sum()
}

// ---------------------------------------------------------------------------
// The workloads. Each returns what it made (dropped after the clock stops)
// with a figure the check compares.

/// W1, ORM: `session.add` x n, one `commit`.
fn orm_insert(db: &Database, n: usize) -> (Session, Vec<Handle<User>>) {
    let session = db.session();
    let handles: Vec<Handle<User>> = (1..=n).map(|i| session.add(new_user(i))).collect();
    session.commit().expect("commit");
    (session, handles)
}

/// W1, by hand: one transaction, the prepared `INSERT ... RETURNING id` x n.
fn raw_insert(client: &mut Client, insert: &Statement, n: usize) -> Vec<RawUser> {
    let mut users: Vec<RawUser> = (1..=n).map(new_raw_user).collect();
    let mut tx = client.transaction().expect("begin");
    for user in &mut users {
        let row = tx
            .query_one(insert, &[&user.name, &user.email, &user.age])
            .expect("insert");
        user.id = row.get(0);
    }
    tx.commit().expect("commit");
    users
}

/// W2, ORM: a new session loads every user; each age is read.
fn orm_load_all(db: &Database) -> (Session, Vec<Handle<User>>, i64) {
    let session = db.session();
    let users = session.query::<User>().all().expect("query");
    let sum = users.iter().map(|u| u.read().expect("read").age).sum();
    (session, users, sum)
}

fn raw_load_all(client: &mut Client, select: &Statement) -> (Vec<RawUser>, i64) {
    let users: Vec<RawUser> = client
        .query(select, &[])
        .expect("query")
        .iter()
        .map(raw_user)
        .collect();
    let sum = users.iter().map(|u| u.age).sum();
    (users, sum)
}

/// W3, ORM: `get` of each key in `session`; returns the sum of the ages.
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

/// W3, by hand: the prepared `SELECT ... WHERE id = $1` per key.
fn raw_lookups(client: &mut Client, select: &Statement, keys: &[i64]) -> (Vec<RawUser>, i64) {
    let users: Vec<RawUser> = keys
        .iter()
        .map(|k| raw_user(&client.query_one(select, &[k]).expect("row")))
        .collect();
    let sum = users.iter().map(|u| u.age).sum();
    (users, sum)
}

/// Sums comment body lengths over the tree, reading every level (with
/// `load()`, which issues the lazy loads where nothing was preloaded).
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

/// W4, ORM: users with `preload(User::POSTS.then(Post::COMMENTS))`, walked.
fn orm_tree_preload(db: &Database) -> (Session, Vec<Handle<User>>, usize) {
    let session = db.session();
    let users = session
        .query::<User>()
        .preload(User::POSTS.then(Post::COMMENTS))
        .all()
        .expect("query");
    let total = orm_walk(&users);
    (session, users, total)
}

/// W4 by lazy loading, ORM: the users, then `load()` at each level.
fn orm_tree_lazy(db: &Database) -> (Session, Vec<Handle<User>>, usize) {
    let session = db.session();
    let users = session.query::<User>().all().expect("query");
    let total = orm_walk(&users);
    (session, users, total)
}

/// The hand-written tree's statements, prepared once.
struct TreeStatements {
    users: Statement,
    posts_any: Statement,
    comments_any: Statement,
    posts_of: Statement,
    comments_of: Statement,
}

impl TreeStatements {
    fn prepare(client: &mut Client) -> TreeStatements {
        let mut prepare = |sql: String| client.prepare(&sql).expect("prepare");
        TreeStatements {
            users: prepare(format!("SELECT {USER_COLUMNS} FROM users")),
            posts_any: prepare(format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE user_id = ANY($1)"
            )),
            comments_any: prepare(format!(
                "SELECT {COMMENT_COLUMNS} FROM comments WHERE post_id = ANY($1)"
            )),
            posts_of: prepare(format!(
                "SELECT {POST_COLUMNS} FROM posts WHERE user_id = $1"
            )),
            comments_of: prepare(format!(
                "SELECT {COMMENT_COLUMNS} FROM comments WHERE post_id = $1"
            )),
        }
    }
}

/// W4, by hand: three statements, as the ORM's preload (the users, the
/// posts of their keys, the comments of those posts' keys, keys bound as
/// one `BIGINT[]`), assembled into a tree, walked.
fn raw_tree_preload(client: &mut Client, s: &TreeStatements) -> (Vec<UserTree>, usize) {
    let mut tree: Vec<UserTree> = client
        .query(&s.users, &[])
        .expect("query")
        .iter()
        .map(|row| UserTree {
            user: raw_user(row),
            posts: Vec::new(),
        })
        .collect();
    let user_at: HashMap<i64, usize> = tree
        .iter()
        .enumerate()
        .map(|(i, u)| (u.user.id, i))
        .collect();

    let keys: Vec<i64> = tree.iter().map(|u| u.user.id).collect();
    let mut post_at: HashMap<i64, (usize, usize)> = HashMap::new();
    for row in client.query(&s.posts_any, &[&keys]).expect("query") {
        let post = raw_post(&row);
        let Some(&u) = user_at.get(&post.user_id) else {
            continue;
        };
        post_at.insert(post.id, (u, tree[u].posts.len()));
        tree[u].posts.push(PostTree {
            post,
            comments: Vec::new(),
        });
    }

    let keys: Vec<i64> = tree
        .iter()
        .flat_map(|u| u.posts.iter().map(|p| p.post.id))
        .collect();
    for row in client.query(&s.comments_any, &[&keys]).expect("query") {
        let comment = raw_comment(&row);
        if let Some(&(u, p)) = post_at.get(&comment.post_id) {
            tree[u].posts[p].comments.push(comment);
        }
    }
    let total = raw_walk(&tree);
    (tree, total)
}

/// W4 by lazy loading, by hand: the users, then one `WHERE user_id = $1`
/// per user and one `WHERE post_id = $1` per post.
fn raw_tree_lazy(client: &mut Client, s: &TreeStatements) -> (Vec<UserTree>, usize) {
    let users: Vec<RawUser> = client
        .query(&s.users, &[])
        .expect("query")
        .iter()
        .map(raw_user)
        .collect();
    let mut tree = Vec::with_capacity(users.len());
    for user in users {
        let mut posts = Vec::new();
        for row in client.query(&s.posts_of, &[&user.id]).expect("query") {
            let post = raw_post(&row);
            let comments = client
                .query(&s.comments_of, &[&post.id])
                .expect("query")
                .iter()
                .map(raw_comment)
                .collect();
            posts.push(PostTree { post, comments });
        }
        tree.push(UserTree { user, posts });
    }
    let total = raw_walk(&tree);
    (tree, total)
}

/// W5, ORM: users joined to their posts scoring over `MIN_SCORE`, read as
/// `(name, title)` in one statement.
fn orm_join_select(db: &Database) -> (Session, Vec<(String, String)>) {
    let session = db.session();
    let rows = session
        .query::<User>()
        .join(User::POSTS)
        .filter(Post::SCORE.gt(MIN_SCORE))
        .select((User::NAME, Post::TITLE))
        .all()
        .expect("query");
    (session, rows)
}

const JOIN_SELECT_SQL: &str = "SELECT u.name, p.title \
     FROM users u JOIN posts p ON p.user_id = u.id WHERE p.score > $1";

fn raw_join_select(client: &mut Client, select: &Statement) -> Vec<(String, String)> {
    client
        .query(select, &[&MIN_SCORE])
        .expect("query")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

// ---------------------------------------------------------------------------
// Measuring

/// A criterion measurement whose values are durations and which can be
/// made outside criterion.
trait Clock: Measurement<Value = Duration> + 'static {
    fn make() -> Self;
}

impl Clock for WallTime {
    fn make() -> Self {
        WallTime
    }
}

/// One iteration of one side, on clock `M`: `setup` (not timed), `work`
/// (timed), then the `check` of what `work` returned and its drop (not
/// timed). Returns the time of `work`.
fn side<M: Clock, I, O>(
    mut setup: impl FnMut(&mut Bench) -> I,
    mut work: impl FnMut(&mut Bench, I) -> O,
    mut check: impl FnMut(&O),
) -> impl FnMut(&mut Bench) -> Duration {
    let clock = M::make();
    move |bench| {
        let input = setup(bench);
        let start = clock.start();
        let out = black_box(work(bench, black_box(input)));
        let time = clock.end(start);
        check(&out);
        drop(out);
        time
    }
}

/// A side without setup.
fn work<M: Clock, O>(
    work: impl FnMut(&mut Bench, ()) -> O,
    check: impl FnMut(&O),
) -> impl FnMut(&mut Bench) -> Duration {
    side::<M, _, _>(|_| (), work, check)
}

/// Paired mode's times: warm-up, then pairs for `PAIRED_TIME` (at least
/// `MIN_PAIRS`, at most `MAX_PAIRS`).
const PAIRED_WARM_UP: Duration = Duration::from_millis(500);
const PAIRED_TIME: Duration = Duration::from_secs(3);
const MIN_PAIRS: usize = 10;
const MAX_PAIRS: usize = 10_000;

/// Runs each workload's two sides: under criterion (a group of two
/// functions), or in paired mode (`ORM_BENCH_PAIRED=1`), where ORM and
/// hand-written iterations alternate (which goes first alternates too), so
/// that a burst of load on the shared machine falls on both sides alike.
struct Runner<M: Measurement> {
    criterion: Option<Criterion<M>>,
    /// Paired mode: run only workloads whose `<workload>/<size>` contains
    /// one of these (none: all).
    filters: Vec<String>,
    rows: Vec<String>,
}

impl<M: Clock> Runner<M> {
    fn compare(
        &mut self,
        bench: &mut Bench,
        workload: &str,
        size: usize,
        mut orm: impl FnMut(&mut Bench) -> Duration,
        mut hand: impl FnMut(&mut Bench) -> Duration,
    ) {
        let Some(c) = &mut self.criterion else {
            let name = format!("{workload}/{size}");
            if self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str())) {
                let row = paired(bench, &name, &mut orm, &mut hand);
                eprintln!("{row}");
                self.rows.push(row);
            }
            return;
        };
        let mut g = c.benchmark_group(format!("pg_{workload}/{size}"));
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g.bench_function("orm", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| orm(bench)).sum())
        });
        g.bench_function("postgres", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| hand(bench)).sum())
        });
        g.finish();
    }
}

/// Paired mode for one workload: a Markdown row with each side's median
/// iteration, the ratio of the medians, the median of the pairs' ratios,
/// and the number of pairs.
fn paired(
    bench: &mut Bench,
    name: &str,
    orm: &mut impl FnMut(&mut Bench) -> Duration,
    hand: &mut impl FnMut(&mut Bench) -> Duration,
) -> String {
    let warm_up = Instant::now();
    while warm_up.elapsed() < PAIRED_WARM_UP {
        orm(bench);
        hand(bench);
    }
    let (mut orm_times, mut hand_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let start = Instant::now();
    while (start.elapsed() < PAIRED_TIME || orm_times.len() < MIN_PAIRS)
        && orm_times.len() < MAX_PAIRS
    {
        let (o, h) = if orm_times.len() % 2 == 0 {
            let o = orm(bench);
            (o, hand(bench))
        } else {
            let h = hand(bench);
            (orm(bench), h)
        };
        orm_times.push(o);
        hand_times.push(h);
        ratios.push(o.as_secs_f64() / h.as_secs_f64().max(1e-12));
    }
    let pairs = orm_times.len();
    let o = median(orm_times);
    let h = median(hand_times);
    let ratio = o.as_secs_f64() / h.as_secs_f64().max(1e-12);
    let pair_ratio = median(ratios);
    format!("| {name} | {o:.2?} | {h:.2?} | {ratio:.2} | {pair_ratio:.2} | {pairs} |")
}

fn median<T: PartialOrd + Copy>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values[values.len() / 2]
}

/// The statements the ORM sent while `run` ran: how many read or wrote
/// rows, how many in all (transaction control too), each distinct text
/// with its count. Printed beside the hand-written count.
fn statements<R>(db: &Database, workload: &str, hand: usize, run: impl FnOnce() -> R) -> usize {
    let recorder = db.recorder();
    drop(run());
    let all = recorder.statements();
    let data = recorder.count();
    println!(
        "{workload}: ORM {data} statements ({} in all with transaction control), \
         hand-written {hand}",
        all.len()
    );
    let mut texts: Vec<(String, usize)> = Vec::new();
    for statement in &all {
        match texts.iter_mut().find(|(t, _)| *t == statement.sql) {
            Some((_, n)) => *n += 1,
            None => texts.push((statement.sql.clone(), 1)),
        }
    }
    for (text, n) in texts {
        println!("    {n:>5} x {text}");
    }
    data
}

fn insert<M: Clock>(r: &mut Runner<M>, bench: &mut Bench) {
    let insert = bench
        .client
        .prepare("INSERT INTO users (name, email, age) VALUES ($1, $2, $3) RETURNING id")
        .expect("prepare");
    for n in [100, 1_000] {
        truncate(&mut bench.client);
        let count = statements(&bench.db, &format!("insert/{n}"), n, || {
            orm_insert(&bench.db, n)
        });
        assert_eq!(
            count,
            1 + n.div_ceil(32),
            "the keys, then an INSERT per 32 rows"
        );
        let orm = side::<M, _, _>(
            |bench| truncate(&mut bench.client),
            |bench, ()| orm_insert(&bench.db, n),
            |(_, handles)| {
                assert_eq!(handles.len(), n);
                let last = handles.last().expect("users").read().expect("read").id;
                assert_eq!(last, n as i64, "keys 1..n");
            },
        );
        let hand = side::<M, _, _>(
            |bench| truncate(&mut bench.client),
            |bench, ()| raw_insert(&mut bench.client, &insert, n),
            |users| {
                assert_eq!(users.len(), n);
                assert_eq!(users.last().expect("users").id, n as i64, "keys 1..n");
            },
        );
        r.compare(bench, "insert", n, orm, hand);
    }
}

fn load_all<M: Clock>(r: &mut Runner<M>, bench: &mut Bench) {
    let select = bench
        .client
        .prepare(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare");
    for n in [100, 10_000] {
        seed(&mut bench.client, n, 0, 0);
        let expected = age_sum(n);
        let count = statements(&bench.db, &format!("load_all/{n}"), 1, || {
            orm_load_all(&bench.db)
        });
        assert_eq!(count, 1);
        let orm = work::<M, _>(
            |bench, ()| orm_load_all(&bench.db),
            |(_, users, sum)| {
                assert_eq!(users.len(), n);
                assert_eq!(*sum, expected);
            },
        );
        let hand = work::<M, _>(
            |bench, ()| raw_load_all(&mut bench.client, &select),
            |(users, sum)| {
                assert_eq!(users.len(), n);
                assert_eq!(*sum, expected);
            },
        );
        r.compare(bench, "load_all", n, orm, hand);
    }
}

fn lookups<M: Clock>(r: &mut Runner<M>, bench: &mut Bench) {
    let n = LOOKUPS;
    let keys = shuffled_keys(n);
    let expected = age_sum(n);
    seed(&mut bench.client, n, 0, 0);
    let select = bench
        .client
        .prepare(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .expect("prepare");
    let check_hand = |(users, sum): &(Vec<RawUser>, i64)| {
        assert_eq!(users.len(), n);
        assert_eq!(*sum, expected);
    };
    let check_sum = |sum: &i64| assert_eq!(*sum, expected);

    // A new session per iteration: every get is a SELECT.
    let count = statements(&bench.db, "get_fresh", n, || {
        let session = bench.db.session();
        assert_eq!(orm_lookups(&session, &keys), expected);
        session
    });
    assert_eq!(count, n, "one SELECT per lookup in a new session");
    let orm = work::<M, _>(
        |bench, ()| {
            let session = bench.db.session();
            let sum = orm_lookups(&session, &keys);
            (session, sum)
        },
        |(session, sum)| {
            assert_eq!(session.len(), n);
            assert_eq!(*sum, expected);
        },
    );
    let hand = work::<M, _>(
        |bench, ()| raw_lookups(&mut bench.client, &select, &keys),
        check_hand,
    );
    r.compare(bench, "get_fresh", n, orm, hand);

    // Each lookup in a session of its own (a request per lookup): a pool
    // checkout and a SELECT per get. The session's drop, which gives its
    // connection back, is inside the clock here, since the next session
    // needs it.
    let count = statements(&bench.db, "get_own_session", n, || {
        let sum: i64 = keys
            .iter()
            .map(|&k| orm_lookups(&bench.db.session(), &[k]))
            .sum();
        assert_eq!(sum, expected);
    });
    assert_eq!(count, n, "one SELECT per lookup");
    let orm = work::<M, _>(
        |bench, ()| {
            keys.iter()
                .map(|&k| orm_lookups(&bench.db.session(), &[k]))
                .sum::<i64>()
        },
        check_sum,
    );
    let hand = work::<M, _>(
        |bench, ()| raw_lookups(&mut bench.client, &select, &keys),
        check_hand,
    );
    r.compare(bench, "get_own_session", n, orm, hand);

    // The same lookups in one session whose identity map already holds
    // every user: no SQL. Hand-written code has no identity map: it repeats
    // its SELECTs (`get_repeated`), or keeps a `HashMap<i64, Rc<RawUser>>`
    // of the same rows (`get_cached`, the strict bar).
    let session = bench.db.session();
    let loaded = session.query::<User>().all().expect("query");
    assert_eq!(loaded.len(), n);
    let count = statements(&bench.db, "get_repeated", n, || {
        assert_eq!(orm_lookups(&session, &keys), expected);
    });
    assert_eq!(count, 0, "identity-map hits issue no SQL");
    let orm = work::<M, _>(|_, ()| orm_lookups(&session, &keys), check_sum);
    let hand = work::<M, _>(
        |bench, ()| raw_lookups(&mut bench.client, &select, &keys),
        check_hand,
    );
    r.compare(bench, "get_repeated", n, orm, hand);

    let select_all = bench
        .client
        .prepare(&format!("SELECT {USER_COLUMNS} FROM users"))
        .expect("prepare");
    let cache: HashMap<i64, Rc<RawUser>> = raw_load_all(&mut bench.client, &select_all)
        .0
        .into_iter()
        .map(|u| (u.id, Rc::new(u)))
        .collect();
    let orm = work::<M, _>(|_, ()| orm_lookups(&session, &keys), check_sum);
    let hand = work::<M, _>(
        |_, ()| -> i64 { keys.iter().map(|k| Rc::clone(&cache[k]).age).sum() },
        check_sum,
    );
    r.compare(bench, "get_cached", n, orm, hand);
    drop(loaded);
    drop(session);
}

fn trees<M: Clock>(r: &mut Runner<M>, bench: &mut Bench) {
    let users = TREE_USERS;
    let posts = users * POSTS_PER_USER;
    let comments = posts * COMMENTS_PER_POST;
    seed(&mut bench.client, users, POSTS_PER_USER, COMMENTS_PER_POST);
    let s = TreeStatements::prepare(&mut bench.client);
    let (tree, expected) = raw_tree_preload(&mut bench.client, &s);
    assert_eq!(tree.len(), users);
    let loaded: usize = tree
        .iter()
        .flat_map(|u| &u.posts)
        .map(|p| p.comments.len())
        .sum();
    assert_eq!(loaded, comments);
    assert_eq!(raw_tree_lazy(&mut bench.client, &s).1, expected);
    // The checked figures: the number of objects of each level, and the
    // sum of the comments' body lengths.
    let check_orm = |(session, users_, total): &(Session, Vec<Handle<User>>, usize)| {
        assert_eq!(users_.len(), users);
        assert_eq!(session.len(), users + posts + comments);
        assert_eq!(*total, expected);
    };
    let check_hand = |(tree, total): &(Vec<UserTree>, usize)| {
        assert_eq!(tree.len(), users);
        assert_eq!(*total, expected);
    };

    let count = statements(&bench.db, &format!("tree_preload/{users}"), 3, || {
        orm_tree_preload(&bench.db)
    });
    assert_eq!(count, 3, "preload of three levels");
    let orm = work::<M, _>(|bench, ()| orm_tree_preload(&bench.db), check_orm);
    let hand = work::<M, _>(
        |bench, ()| raw_tree_preload(&mut bench.client, &s),
        check_hand,
    );
    r.compare(bench, "tree_preload", users, orm, hand);

    let n_plus_1 = 1 + users + posts;
    let count = statements(&bench.db, &format!("tree_lazy/{users}"), n_plus_1, || {
        orm_tree_lazy(&bench.db)
    });
    assert_eq!(count, n_plus_1, "N+1");
    let orm = work::<M, _>(|bench, ()| orm_tree_lazy(&bench.db), check_orm);
    let hand = work::<M, _>(|bench, ()| raw_tree_lazy(&mut bench.client, &s), check_hand);
    r.compare(bench, "tree_lazy", users, orm, hand);
}

fn joins<M: Clock>(r: &mut Runner<M>, bench: &mut Bench) {
    let users = JOIN_USERS;
    seed(&mut bench.client, users, POSTS_PER_USER, 0);
    let select = bench.client.prepare(JOIN_SELECT_SQL).expect("prepare");
    let mut expected = raw_join_select(&mut bench.client, &select);
    assert_eq!(expected.len(), 1_000, "posts scoring over {MIN_SCORE}");
    expected.sort();
    let count = statements(&bench.db, &format!("join_select/{users}"), 1, || {
        let (session, mut rows) = orm_join_select(&bench.db);
        rows.sort();
        assert_eq!(rows, expected);
        session
    });
    assert_eq!(count, 1, "a projected join is one statement");
    let orm = work::<M, _>(
        |bench, ()| orm_join_select(&bench.db),
        |(_, rows)| assert_eq!(rows.len(), expected.len()),
    );
    let hand = work::<M, _>(
        |bench, ()| raw_join_select(&mut bench.client, &select),
        |rows| assert_eq!(rows.len(), expected.len()),
    );
    r.compare(bench, "join_select", users, orm, hand);
}

/// Runs every workload; connects only after criterion has read the
/// arguments (it exits on a bad one, which would leave the schema behind).
fn run<M: Clock>(criterion: Criterion<M>) {
    let Some(mut bench) = setup() else {
        return;
    };
    let bench = &mut bench;
    let paired = std::env::var("ORM_BENCH_PAIRED").is_ok_and(|v| v == "1");
    let mut r = Runner {
        criterion: (!paired).then_some(criterion),
        filters: std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect(),
        rows: Vec::new(),
    };
    insert(&mut r, bench);
    load_all(&mut r, bench);
    lookups(&mut r, bench);
    trees(&mut r, bench);
    joins(&mut r, bench);
    if let Some(c) = r.criterion {
        c.final_summary();
    } else {
        println!("\n| workload | ORM median | postgres median | ratio | pair ratio | pairs |");
        println!("|---|---:|---:|---:|---:|---:|");
        for row in &r.rows {
            println!("{row}");
        }
    }
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

impl Clock for ThreadCpuTime {
    fn make() -> Self {
        ThreadCpuTime
    }
}
