//! SQL defaults on insert: a `Defaulted` field left unset is left out of the
//! INSERT, so the column's `DEFAULT` applies, and read back with
//! `RETURNING`, so the object holds the row's value after the flush. Set
//! values override the default, `Set(None)` writes NULL, and a failed flush
//! or a rollback puts the fields back to unset.

mod common;

use common::Fixture;
use orm::prelude::*;
use orm::{Error, State, Value};

#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub title: String,
    #[orm(default = "CURRENT_TIMESTAMP")]
    pub created_at: Defaulted<String>,
    #[orm(default = "0")]
    pub score: Defaulted<i64>,
    #[orm(default = "'draft'")]
    pub status: Defaulted<Option<String>>,
    #[orm(back_populates = "post")]
    pub comments: HasMany<Comment>,
}

#[derive(Model, Debug)]
#[orm(table = "comments")]
pub struct Comment {
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(default = "1")]
    pub likes: Defaulted<i64>,
    #[orm(back_populates = "comments")]
    pub post: BelongsTo<Post>,
}

/// A plain field with a default: still a parameter of `new`, always written.
#[derive(Model, Debug)]
#[orm(table = "counters")]
pub struct Counter {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(default = "7")]
    pub start: i64,
}

/// A default the field cannot hold: the column is INTEGER, the default text.
#[derive(Model, Debug)]
#[orm(table = "tallies")]
pub struct Tally {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(version)]
    pub version: i64,
    #[orm(default = "'many'")]
    pub count: Defaulted<i64>,
}

const INSERT_ALL: &str = r#"INSERT INTO "posts" ("id", "title", "created_at", "score", "status") VALUES (?, ?, ?, ?, ?)"#;
const INSERT_DEFAULTS: &str = r#"INSERT INTO "posts" ("id", "title") VALUES (?, ?) RETURNING "created_at", "score", "status""#;

fn fixture(name: &str) -> Fixture {
    Fixture::new::<(Post, Comment, Counter, Tally)>(name)
}

/// A post with every `Defaulted` field set.
fn post_with(title: &str, score: i64) -> Post {
    let mut post = Post::new(title);
    post.created_at.set("2024-01-02 03:04:05".to_owned());
    post.score.set(score);
    post.status.set(Some("published".to_owned()));
    post
}

/// The committed rows of `posts`: (id, title, created_at, score, status).
fn post_rows(fx: &Fixture) -> Vec<(i64, String, String, i64, Option<String>)> {
    fx.rows(
        "SELECT id, title, created_at, score, status FROM posts ORDER BY id",
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        },
    )
}

fn assert_unset(post: &Post) {
    assert_eq!(post.id, 0, "the key goes back to unassigned");
    assert_eq!(post.created_at, Defaulted::Unset);
    assert_eq!(post.score, Defaulted::Unset);
    assert_eq!(post.status, Defaulted::Unset);
}

#[test]
fn defaulted_fields_are_not_parameters_of_new_and_start_unset() {
    let post = Post::new("hello");
    assert_eq!(post.title, "hello");
    assert!(!post.created_at.is_set());
    assert_eq!(post.score.get(), None);
    assert_eq!(post.status.clone().into_option(), None);
    // A plain field with a default is still passed.
    assert_eq!(Counter::new(3).start, 3);
}

#[test]
fn ddl_takes_type_and_nullability_from_the_wrapped_type() {
    let ddl = Post::ddl();
    assert!(
        ddl.contains(r#""created_at" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP"#),
        "{ddl}"
    );
    assert!(
        ddl.contains(r#""score" INTEGER NOT NULL DEFAULT 0"#),
        "{ddl}"
    );
    assert!(ddl.contains(r#""status" TEXT DEFAULT 'draft'"#), "{ddl}");
}

#[test]
fn unset_columns_get_the_database_defaults_and_the_object_sees_them() -> orm::Result<()> {
    let fx = fixture("defaults-applied");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    session.commit()?;
    let rows = post_rows(&fx);
    assert_eq!(rows.len(), 1);
    let (id, title, created_at, score, status) = &rows[0];
    assert_eq!((*id, title.as_str()), (1, "hello"));
    // CURRENT_TIMESTAMP: `YYYY-MM-DD HH:MM:SS`.
    assert_eq!(created_at.len(), 19, "{created_at}");
    assert_eq!(*score, 0);
    assert_eq!(status.as_deref(), Some("draft"), "unset is not NULL");
    let post = post.read()?;
    assert_eq!(post.id, 1);
    assert_eq!(post.created_at.get(), Some(created_at));
    assert_eq!(post.score, Defaulted::Set(0));
    assert_eq!(post.status, Defaulted::Set(Some("draft".to_owned())));
    Ok(())
}

#[test]
fn insert_leaves_unset_columns_out_and_returns_them() -> orm::Result<()> {
    let fx = fixture("defaults-text");
    let session = fx.db.session();
    session.add(Post::new("hello"));
    let recorder = fx.db.recorder();
    session.flush()?;
    assert_eq!(recorder.sql(), [INSERT_DEFAULTS]);
    assert_eq!(
        common::params(&recorder),
        [vec![Value::Null, Value::Text("hello".into())]]
    );
    Ok(())
}

#[test]
fn set_none_inserts_null_explicitly() -> orm::Result<()> {
    let fx = fixture("defaults-set-none");
    let session = fx.db.session();
    let mut post = Post::new("quiet");
    post.status = Defaulted::Set(None);
    let post = session.add(post);
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [
            r#"INSERT INTO "posts" ("id", "title", "status") VALUES (?, ?, ?) RETURNING "created_at", "score""#
        ]
    );
    assert_eq!(post_rows(&fx)[0].4, None);
    assert_eq!(post.read()?.status, Defaulted::Set(None));
    assert_eq!(post.read()?.score, Defaulted::Set(0));
    Ok(())
}

#[test]
fn set_values_override_the_defaults_through_the_plain_insert() -> orm::Result<()> {
    let fx = fixture("defaults-overridden");
    let session = fx.db.session();
    let post = session.add(post_with("loud", 5));
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(recorder.sql(), [INSERT_ALL], "nothing to read back");
    assert_eq!(
        post_rows(&fx),
        [(
            1,
            "loud".to_owned(),
            "2024-01-02 03:04:05".to_owned(),
            5,
            Some("published".to_owned())
        )]
    );
    assert_eq!(post.read()?.score, Defaulted::Set(5));
    Ok(())
}

#[test]
fn a_plain_field_with_a_default_is_always_inserted() -> orm::Result<()> {
    let fx = fixture("defaults-plain");
    let session = fx.db.session();
    session.add(Counter::new(3));
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [r#"INSERT INTO "counters" ("id", "start") VALUES (?, ?)"#]
    );
    assert_eq!(fx.count("SELECT start FROM counters"), 3);
    Ok(())
}

#[test]
fn object_is_clean_after_the_flush_so_the_next_flush_writes_nothing() -> orm::Result<()> {
    let fx = fixture("defaults-clean");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    session.flush()?;
    assert_eq!(post.state(), State::Persistent);
    assert!(post.changes()?.is_empty());
    // A write that changes nothing leaves it clean too.
    let score = post.write()?.score;
    post.write()?.score = score;
    assert!(post.changes()?.is_empty());
    let recorder = fx.db.recorder();
    session.flush()?;
    session.commit()?;
    assert_eq!(recorder.count(), 0, "{:?}", recorder.sql());
    Ok(())
}

#[test]
fn setting_a_defaulted_field_after_the_insert_is_an_ordinary_update() -> orm::Result<()> {
    let fx = fixture("defaults-update");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    session.commit()?;
    post.write()?.score.set(42);
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [r#"UPDATE "posts" SET "score" = ? WHERE "id" = ?"#]
    );
    assert_eq!(post_rows(&fx)[0].3, 42);
    Ok(())
}

#[test]
fn setting_a_persistent_object_back_to_unset_fails_the_flush_and_writes_nothing() -> orm::Result<()>
{
    let fx = fixture("defaults-back-to-unset");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    session.commit()?;
    {
        let mut post = post.write()?;
        post.title = "renamed".to_owned();
        post.score = Defaulted::Unset;
    }
    let recorder = fx.db.recorder();
    let error = session
        .flush()
        .expect_err("an unset column cannot be updated");
    assert!(
        matches!(&error, Error::OutOfRange { what, .. } if what.contains("`posts`.`score`")),
        "{error}"
    );
    assert_eq!(recorder.count(), 0, "nothing was written");
    assert_eq!(post_rows(&fx)[0].1, "hello");
    // Set a value again, and the flush goes through.
    post.write()?.score.set(3);
    session.commit()?;
    assert_eq!(post_rows(&fx)[0].1, "renamed");
    assert_eq!(post_rows(&fx)[0].3, 3);
    Ok(())
}

#[test]
fn a_failed_flush_puts_filled_columns_back_to_unset() -> orm::Result<()> {
    let fx = fixture("defaults-failed-flush");
    let session = fx.db.session();
    let first = session.add(Post::new("same"));
    // The same title: UNIQUE fails on the second INSERT, after the first
    // has read its defaults back.
    let second = session.add(post_with("same", 1));
    let recorder = fx.db.recorder();
    let error = session.flush().expect_err("the titles collide");
    assert!(matches!(error, Error::Constraint { .. }), "{error}");
    assert_eq!(recorder.sql(), [INSERT_DEFAULTS, INSERT_ALL]);
    assert_unset(&*first.read()?);
    assert_eq!(first.state(), State::Pending);
    assert_eq!(second.read()?.score, Defaulted::Set(1), "set values stay");
    // Fixed, the same objects flush as new ones.
    second.write()?.title = "other".to_owned();
    session.commit()?;
    assert_eq!(post_rows(&fx).len(), 2);
    assert_eq!(first.read()?.score, Defaulted::Set(0));
    Ok(())
}

#[test]
fn a_default_that_does_not_fit_the_field_fails_the_flush_and_changes_nothing() -> orm::Result<()> {
    let fx = fixture("defaults-misfit");
    let session = fx.db.session();
    let tally = session.add(Tally::new());
    let error = session.flush().expect_err("'many' is no i64");
    assert!(
        matches!(&error, Error::Conversion { table, column, .. } if table == "tallies" && column == "count"),
        "{error}"
    );
    let tally = tally.read()?;
    assert_eq!((tally.id, tally.version), (0, 0), "key and version undone");
    assert_eq!(tally.count, Defaulted::Unset);
    assert_eq!(fx.count("SELECT count(*) FROM tallies"), 0);
    Ok(())
}

#[test]
fn rollback_puts_filled_columns_back_to_unset() -> orm::Result<()> {
    let fx = fixture("defaults-rollback");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    session.flush()?;
    assert!(post.read()?.created_at.is_set());
    // Changed after its insert, in the same transaction.
    post.write()?.score.set(9);
    session.flush()?;
    session.rollback()?;
    assert_eq!(post.state(), State::Transient);
    assert_unset(&*post.read()?);
    assert_eq!(post_rows(&fx).len(), 0);
    // Added again, it takes the defaults again.
    session.add_handle(&post)?;
    session.commit()?;
    assert_eq!(post.read()?.score, Defaulted::Set(0));
    Ok(())
}

#[test]
fn loaded_rows_are_set() -> orm::Result<()> {
    let fx = fixture("defaults-loaded");
    fx.seed(
        "INSERT INTO posts (title, created_at, score, status) VALUES ('a', '2020-01-01 00:00:00', 4, NULL);
         INSERT INTO posts (title) VALUES ('b');",
    );
    let session = fx.db.session();
    let a = session.get::<Post>(1)?;
    let a = a.read()?;
    assert_eq!(
        a.created_at,
        Defaulted::Set("2020-01-01 00:00:00".to_owned())
    );
    assert_eq!(a.score, Defaulted::Set(4));
    assert_eq!(a.status, Defaulted::Set(None), "NULL is set to None");
    let b = session.get::<Post>(2)?;
    assert_eq!(b.read()?.status.get(), Some(&Some("draft".to_owned())));
    Ok(())
}

#[test]
fn one_flush_mixes_objects_with_and_without_unset_columns() -> orm::Result<()> {
    let fx = fixture("defaults-mixed");
    let session = fx.db.session();
    let a = session.add(post_with("a", 1));
    let b = session.add(Post::new("b"));
    let c = session.add(post_with("c", 3));
    let mut only_score = Post::new("d");
    only_score.score.set(4);
    let d = session.add(only_score);
    let e = session.add(Post::new("e"));
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [
            INSERT_ALL,
            INSERT_DEFAULTS,
            INSERT_ALL,
            r#"INSERT INTO "posts" ("id", "title", "score") VALUES (?, ?, ?) RETURNING "created_at", "status""#,
            INSERT_DEFAULTS,
        ]
    );
    let keys: Vec<i64> = [&a, &b, &c, &d, &e]
        .iter()
        .map(|p| p.key())
        .collect::<orm::Result<_>>()?;
    assert_eq!(keys, [1, 2, 3, 4, 5]);
    let scores: Vec<i64> = post_rows(&fx).iter().map(|r| r.3).collect();
    assert_eq!(scores, [1, 0, 3, 4, 0]);
    assert_eq!(d.read()?.status.get(), Some(&Some("draft".to_owned())));
    for post in [&a, &b, &c, &d, &e] {
        assert!(post.changes()?.is_empty());
    }
    Ok(())
}

#[test]
fn a_child_with_unset_columns_gets_its_new_parent_key() -> orm::Result<()> {
    let fx = fixture("defaults-child");
    let session = fx.db.session();
    let post = session.add(Post::new("hello"));
    let comment = session.add(Comment::new("first"));
    comment.read()?.post.set(&post)?;
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [
            INSERT_DEFAULTS,
            r#"INSERT INTO "comments" ("id", "body", "post_id") VALUES (?, ?, ?) RETURNING "likes""#,
        ]
    );
    assert_eq!(
        fx.rows("SELECT post_id, likes FROM comments", |row| Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?
        ))),
        [(1, 1)]
    );
    assert_eq!(comment.read()?.likes, Defaulted::Set(1));
    Ok(())
}

#[test]
fn a_versioned_object_with_unset_columns_starts_at_version_one() -> orm::Result<()> {
    let fx = fixture("defaults-versioned");
    fx.seed("DROP TABLE tallies; CREATE TABLE tallies (id INTEGER PRIMARY KEY, version INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 5);");
    let session = fx.db.session();
    let tally = session.add(Tally::new());
    let recorder = fx.db.recorder();
    session.commit()?;
    assert_eq!(
        recorder.sql(),
        [r#"INSERT INTO "tallies" ("id", "version") VALUES (?, ?) RETURNING "count""#]
    );
    let tally = tally.read()?;
    assert_eq!((tally.id, tally.version), (1, 1));
    assert_eq!(tally.count, Defaulted::Set(5));
    Ok(())
}

#[test]
fn queries_compare_a_defaulted_column_with_the_wrapped_type() -> orm::Result<()> {
    let fx = fixture("defaults-query");
    let session = fx.db.session();
    session.add(Post::new("zero"));
    session.add(post_with("five", 5));
    session.commit()?;
    let found = session.query::<Post>().filter(Post::SCORE.eq(5)).all()?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].read()?.title, "five");
    Ok(())
}
