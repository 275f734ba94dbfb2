//! How the cost of an operation grows with its size: each scenario runs at
//! N and at 4N rows, and the program prints both times and their ratio. A
//! cost that grows with the rows reads about 4; one that grows with their
//! square, about 16. Wall time, the fastest of three runs: a ratio, not a
//! speed (the speed figures are `cargo bench`'s).
//!
//! ```text
//! cargo run --release --example growth            # N = 10,000
//! cargo run --release --example growth -- 5000    # another N
//! cargo run --release --example growth -- 10000 cascades   # scenarios whose name holds "cascades"
//! ```
//!
//! The scenarios are operations where a session's work once grew with the
//! square of its size: rows loaded inside an open transaction (each noted
//! for a rollback), a many-to-many preload (each object of the next level
//! kept once), many-to-many links recorded before a flush (each change of
//! a link cancelling an earlier one), and recorded then undone (each
//! cancelled change moving those after it), a flush deleting parents
//! whose children are loaded (`ON DELETE CASCADE` done to the objects
//! too), a query whose join repeats its rows (each object returned once),
//! children given to one parent whose collection is loaded (each checked
//! against the members already there), new objects deleted before a flush
//! (each searched for among those waiting), orphans deleted by one flush
//! (each checked against those found before), deletes flushed one at a
//! time (each flush looking at every loaded object for `ON DELETE`
//! effects), a graph built before any session (each child checked
//! against those its parent keeps alive), savepoints rolled back in a
//! session that holds many objects (an insert refused in a savepoint of
//! its own, one in ten: each rollback visited every loaded object to
//! expire its collections; now only those whose collections are loaded),
//! and cascades flushed one at a time (users deleted one by one, their
//! posts loaded: each flush looked at every loaded post for `ON DELETE`
//! effects; now the identity map finds them by their users' keys).

use std::time::{Duration, Instant};

use orm::State;
use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub posts: HasMany<Post>,
}

#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "posts", on_delete = "cascade", index)]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "items")]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(through = "item_tags", back_populates = "items")]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(through = "item_tags", back_populates = "tags")]
    pub items: ManyToMany<Item>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "order", delete_orphan)]
    pub lines: HasMany<Line>,
}

#[derive(Model, Debug)]
#[orm(table = "lines")]
pub struct Line {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "lines", index)]
    pub order: BelongsTo<Order>,
}

type All = (User, Post, Item, Tag, Order, Line);

/// `n` users with a post each, `n` items with a tag each, and one order
/// of `n` lines.
fn seeded(n: i64) -> orm::Result<Database> {
    let db = Database::in_memory()?;
    db.create_all::<All>()?;
    // A few statements over a counter, not one per row: SQLite copies
    // the rest of a batch's text for each statement it prepares.
    db.execute_batch(&format!(
        "BEGIN;
         CREATE TEMP TABLE counter AS
             WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n})
             SELECT i FROM c;
         INSERT INTO users (id, name) SELECT i, 'user ' || i FROM counter;
         INSERT INTO posts (id, user_id) SELECT i, i FROM counter;
         INSERT INTO items (id) SELECT i FROM counter;
         INSERT INTO tags (id) SELECT i FROM counter;
         INSERT INTO item_tags (item_id, tag_id) SELECT i, i FROM counter;
         INSERT INTO orders (id) VALUES (1);
         INSERT INTO lines (id, order_id) SELECT i, 1 FROM counter;
         DROP TABLE counter;
         COMMIT;"
    ))?;
    Ok(db)
}

/// Loads every user after a flush has opened the transaction.
fn load_in_transaction(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    session.add(User::new(format!("user {}", n + 1)));
    session.flush()?;
    let start = Instant::now();
    let users = session.query::<User>().all()?;
    let took = start.elapsed();
    assert_eq!(users.len() as i64, n + 1);
    session.rollback()?;
    Ok(took)
}

/// Every item with its tags, in two statements.
fn many_to_many_preload(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let start = Instant::now();
    let items = session.query::<Item>().preload(Item::TAGS).all()?;
    let took = start.elapsed();
    assert_eq!(items.len() as i64, n);
    Ok(took)
}

/// Every item also tagged with tag 1, recorded, then rolled back.
fn link_changes(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let items = session.query::<Item>().all()?;
    let tag = session.get::<Tag>(1)?;
    let start = Instant::now();
    for item in &items {
        item.read()?.tags.add(&tag)?;
    }
    let took = start.elapsed();
    assert_eq!(items.len() as i64, n);
    session.rollback()?;
    Ok(took)
}

/// Every item tagged with tag 1 and untagged again, in the same order,
/// before any flush; tag 1's `items` not loaded. Then rolled back.
fn links_recorded_and_undone(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let items = session.query::<Item>().all()?;
    let tag = session.get::<Tag>(1)?;
    let start = Instant::now();
    for item in &items {
        tag.read()?.items.add(item)?;
    }
    for item in &items {
        tag.read()?.items.remove(item)?;
    }
    let took = start.elapsed();
    assert_eq!(items.len() as i64, n);
    session.rollback()?;
    Ok(took)
}

/// Half the users deleted in one flush, their posts loaded (and deleted
/// with them), then rolled back.
fn cascade_delete(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let users = session.query::<User>().all()?;
    let posts = session.query::<Post>().all()?;
    let start = Instant::now();
    for user in users.iter().take(users.len() / 2) {
        session.delete(user)?;
    }
    session.flush()?;
    let took = start.elapsed();
    assert_eq!(posts.len() as i64, n);
    session.rollback()?;
    Ok(took)
}

/// Every user through a join along its posts, each returned once.
fn repeated_join(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let start = Instant::now();
    let users = session
        .query::<User>()
        .join(User::POSTS)
        .filter(Post::ID.gt(0))
        .all()?;
    let took = start.elapsed();
    assert_eq!(users.len() as i64, n);
    Ok(took)
}

/// `n` new posts given one new user: each joins the user's loaded (new,
/// empty) `posts`, which looks it up among its members first.
fn children_of_one_parent(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let user = session.add(User::new("new"));
    let posts: Vec<Handle<Post>> = (0..n).map(|_| session.add(Post::new())).collect();
    let start = Instant::now();
    for post in &posts {
        post.read()?.user.set(&user)?;
    }
    let took = start.elapsed();
    assert_eq!(user.read()?.posts.load()?.len() as i64, n);
    Ok(took)
}

/// `n` new users deleted again before any flush, in the order they were
/// added: each taken out of the objects waiting to be inserted.
fn new_objects_deleted(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let users: Vec<Handle<User>> = (0..n)
        .map(|i| session.add(User::new(format!("new {i}"))))
        .collect();
    let start = Instant::now();
    for user in &users {
        session.delete(user)?;
    }
    let took = start.elapsed();
    assert!(!session.has_changes());
    Ok(took)
}

/// Every line taken out of its order, whose `lines` deletes orphans, and
/// the flush that deletes them all; then rolled back.
fn orphans_deleted(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let order = session.get::<Order>(1)?;
    let lines = order.read()?.lines.load()?;
    let start = Instant::now();
    for line in &lines {
        order.read()?.lines.remove(line)?;
    }
    session.flush()?;
    let took = start.elapsed();
    assert_eq!(lines.len() as i64, n);
    assert!(lines.iter().all(|l| l.state() == State::Deleted));
    session.rollback()?;
    Ok(took)
}

/// Half the items deleted one at a time, each in a flush of its own,
/// with every item and tag loaded: no `ON DELETE` reaches a loaded
/// object, so no flush looks at them. Then rolled back.
fn deletes_flushed_one_by_one(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let items = session.query::<Item>().all()?;
    let tags = session.query::<Tag>().all()?;
    let start = Instant::now();
    for item in items.iter().take(items.len() / 2) {
        session.delete(item)?;
        session.flush()?;
    }
    let took = start.elapsed();
    // The tags stayed loaded throughout (held here), and no flush touched them.
    assert_eq!(tags.len() as i64, n);
    assert!(tags.iter().all(|t| t.state() == State::Persistent));
    assert!(
        items[..items.len() / 2]
            .iter()
            .all(|i| i.state() == State::Deleted)
    );
    session.rollback()?;
    Ok(took)
}

/// Every user loaded with their posts (preloaded), then one user in a
/// hundred deleted one at a time, a flush each: `ON DELETE CASCADE` takes
/// each user's post, which the flush finds by the user's key in the
/// identity map's index of posts by user, made (once, for every loaded
/// post) at the first flush; at one in a hundred that one build weighs
/// about as much as the flushes.
fn cascades_flushed_one_by_one(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let users = session.query::<User>().preload(User::POSTS).all()?;
    let posts: Vec<Vec<Handle<Post>>> = users
        .iter()
        .map(|u| u.read()?.posts.load())
        .collect::<orm::Result<_>>()?;
    let start = Instant::now();
    for user in users.iter().take(users.len() / 100) {
        session.delete(user)?;
        session.flush()?;
    }
    let took = start.elapsed();
    assert_eq!(users.len() as i64, n);
    let deleted = users.len() / 100;
    assert!(
        posts[..deleted]
            .iter()
            .flatten()
            .all(|p| p.state() == State::Deleted)
    );
    assert!(
        posts[deleted..]
            .iter()
            .flatten()
            .all(|p| p.state() == State::Persistent)
    );
    session.rollback()?;
    Ok(took)
}

/// A graph built before any session: `n` new posts given one new user,
/// who keeps them alive until the graph joins a session.
fn graph_before_a_session(_db: &Database, n: i64) -> orm::Result<Duration> {
    let user = Handle::new(User::new("new"));
    let posts: Vec<Handle<Post>> = (0..n).map(|_| Handle::new(Post::new())).collect();
    let start = Instant::now();
    for post in &posts {
        post.read()?.user.set(&user)?;
    }
    let took = start.elapsed();
    assert_eq!(user.read()?.posts.load()?.len() as i64, n);
    Ok(took)
}

/// Every user loaded, a flush to open the transaction, then one insert in
/// ten tried in a savepoint of its own and refused (its key is taken):
/// each refusal rolls its savepoint back. Then rolled back.
fn savepoints_rolled_back(db: &Database, n: i64) -> orm::Result<Duration> {
    let session = db.session();
    let users = session.query::<User>().all()?;
    session.add(User::new("new"));
    session.flush()?;
    let start = Instant::now();
    for _ in 0..n / 10 {
        let refused = session.transaction(|s| {
            let taken = User {
                id: 1,
                name: "taken".into(),
                posts: HasMany::default(),
            };
            s.add(taken);
            s.flush()
        });
        assert!(refused.is_err());
    }
    let took = start.elapsed();
    // Every refusal left the loaded user 1 as it was.
    assert_eq!(users.len() as i64, n);
    assert_eq!(session.get::<User>(1)?.read()?.name, "user 1");
    session.rollback()?;
    Ok(took)
}

type Scenario = fn(&Database, i64) -> orm::Result<Duration>;

/// The fastest of three runs.
fn fastest(db: &Database, n: i64, scenario: Scenario) -> orm::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(scenario(db, n)?);
    }
    Ok(best)
}

fn main() -> orm::Result<()> {
    let n: i64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().expect("N is a number of rows"),
        None => 10_000,
    };
    let scenarios: [(&str, Scenario); 13] = [
        ("load in an open transaction", load_in_transaction),
        ("many-to-many preload", many_to_many_preload),
        ("many-to-many links recorded", link_changes),
        ("links recorded, then undone", links_recorded_and_undone),
        ("cascade delete of half", cascade_delete),
        ("join repeating its rows", repeated_join),
        ("children of one loaded parent", children_of_one_parent),
        ("new objects deleted", new_objects_deleted),
        ("orphans deleted in one flush", orphans_deleted),
        ("deletes flushed one by one", deletes_flushed_one_by_one),
        ("cascades flushed one by one", cascades_flushed_one_by_one),
        ("graph built before a session", graph_before_a_session),
        ("savepoints rolled back", savepoints_rolled_back),
    ];
    let wanted = std::env::args().nth(2).unwrap_or_default();
    let (small, large) = (seeded(n)?, seeded(4 * n)?);
    println!(
        "{:<30} {:>12} {:>12} {:>7}",
        "scenario",
        format!("N={n}"),
        format!("4N={}", 4 * n),
        "ratio"
    );
    for (name, scenario) in scenarios
        .into_iter()
        .filter(|(name, _)| name.contains(&wanted))
    {
        let at_n = fastest(&small, n, scenario)?;
        let at_4n = fastest(&large, 4 * n, scenario)?;
        println!(
            "{name:<30} {:>10.1}ms {:>10.1}ms {:>7.1}",
            at_n.as_secs_f64() * 1e3,
            at_4n.as_secs_f64() * 1e3,
            at_4n.as_secs_f64() / at_n.as_secs_f64()
        );
    }
    Ok(())
}
