//! How the cost of an operation grows with its size: each scenario runs at
//! N and at 4N rows, and the program prints both times and their ratio. A
//! cost that grows with the rows reads about 4; one that grows with their
//! square, about 16. Wall time, the fastest of three runs: a ratio, not a
//! speed (the speed figures are `cargo bench`'s).
//!
//! ```text
//! cargo run --release --example growth            # N = 10,000
//! cargo run --release --example growth -- 5000    # another N
//! ```
//!
//! The scenarios are operations where a session's work once grew with the
//! square of its size: rows loaded inside an open transaction (each noted
//! for a rollback), a many-to-many preload (each object of the next level
//! kept once), many-to-many links recorded before a flush (each change of
//! a link cancelling an earlier one), a flush deleting parents whose
//! children are loaded (`ON DELETE CASCADE` done to the objects too), and
//! a query whose join repeats its rows (each object returned once), and
//! children given to one parent whose collection is loaded (each checked
//! against the members already there).

use std::time::{Duration, Instant};

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

type All = (User, Post, Item, Tag);

/// `n` users with a post each, and `n` items with a tag each.
fn seeded(n: i64) -> orm::Result<Database> {
    let db = Database::in_memory()?;
    db.create_all::<All>()?;
    let mut sql = String::from("BEGIN;");
    for i in 1..=n {
        sql.push_str(&format!(
            "INSERT INTO users (id, name) VALUES ({i}, 'user {i}');
             INSERT INTO posts (id, user_id) VALUES ({i}, {i});
             INSERT INTO items (id) VALUES ({i});
             INSERT INTO tags (id) VALUES ({i});
             INSERT INTO item_tags (item_id, tag_id) VALUES ({i}, {i});"
        ));
    }
    sql.push_str("COMMIT;");
    db.execute_batch(&sql)?;
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
    let scenarios: [(&str, Scenario); 6] = [
        ("load in an open transaction", load_in_transaction),
        ("many-to-many preload", many_to_many_preload),
        ("many-to-many links recorded", link_changes),
        ("cascade delete of half", cascade_delete),
        ("join repeating its rows", repeated_join),
        ("children of one loaded parent", children_of_one_parent),
    ];
    let (small, large) = (seeded(n)?, seeded(4 * n)?);
    println!(
        "{:<30} {:>12} {:>12} {:>7}",
        "scenario",
        format!("N={n}"),
        format!("4N={}", 4 * n),
        "ratio"
    );
    for (name, scenario) in scenarios {
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
