//! Every statement says why it ran: the cause each kind of statement
//! carries in the recorder and the echo, asserted exactly.

use crate::common;

use crate::common::shop;
use common::backend::is_postgres;

use shop::*;

/// A row that counts its writes (`#[orm(version)]`).
#[derive(orm::Model, Debug)]
#[orm(table = "counters")]
pub struct Counter {
    #[orm(primary_key)]
    pub id: i64,
    pub n: i64,
    #[orm(version)]
    pub version: i64,
}

/// A playlist owns its tracks: a track taken out is deleted
/// (`delete_orphan`).
#[derive(orm::Model, Debug)]
#[orm(table = "playlists")]
pub struct Playlist {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "playlist", delete_orphan)]
    pub tracks: orm::HasMany<Track>,
}

#[derive(orm::Model, Debug)]
#[orm(table = "tracks")]
pub struct Track {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(back_populates = "tracks")]
    pub playlist: orm::BelongsTo<Playlist>,
}

backend_tests! {
    fn queries_gets_and_selects_name_their_table_and_key(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session.query::<User>().all()?;
        session.get::<Order>(3)?;
        session.query::<Order>().count()?;
        session.query::<Item>().select(Item::SKU).all()?;
        session.query::<Tag>().filter(Tag::LABEL.eq("x")).first()?;
        assert_eq!(
            recorder.causes(),
            [
                "query of users",
                "get of orders 3",
                "count of orders",
                "select from items",
                "query of tags",
            ]
        );
        Ok(())
    }

    fn lazy_loads_name_the_relationship_and_the_object(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let order = session.get::<Order>(3)?;
        let user = session.get::<User>(1)?;
        let employee = session.get::<Employee>(4)?;
        let recorder = db.recorder();
        order.read()?.items.load()?;
        user.read()?.profile.load()?;
        order.read()?.tags.load()?;
        employee.read()?.manager.load()?;
        order.read()?.user.load()?;
        assert_eq!(
            recorder.causes(),
            [
                "lazy load of Order.items (orders 3)",
                "lazy load of User.profile (users 1)",
                "lazy load of Order.tags (orders 3)",
                "lazy load of Employee.manager (employees 4)",
                "lazy load of Order.user (orders 3)",
            ]
        );
        Ok(())
    }

    fn preloads_name_the_relationship_and_how_many_parents(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session
            .query::<User>()
            .preload(User::ORDERS.then(Order::ITEMS))
            .all()?;
        assert_eq!(
            recorder.causes(),
            [
                "query of users",
                "preload of User.orders for 4 users",
                "preload of Order.items for 5 orders",
            ]
        );
        Ok(())
    }

    fn flush_statements_say_what_they_write_and_what_flushed_them(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let cid = session.get::<User>(3)?;
        let gift = session.get::<Tag>(1)?;
        let recorder = db.recorder();
        ann.write()?.name = "Annie".to_owned();
        let order = session.add(Order::new(10));
        order.read()?.user.set(&cid)?;
        order.read()?.tags.add(&gift)?;
        session.query::<Order>().count()?;
        assert_eq!(
            recorder.causes(),
            [
                "autoflush before the count of orders: update of users 1: name",
                "autoflush before the count of orders: insert into orders",
                "autoflush before the count of orders: link row in order_tags",
                "count of orders",
            ]
        );
        recorder.clear();
        session.delete(&order)?;
        session.commit()?;
        assert_eq!(recorder.causes(), ["commit: delete of orders 6"]);
        recorder.clear();
        cid.write()?.name = "Cidney".to_owned();
        session.flush()?;
        assert_eq!(recorder.causes(), ["flush: update of users 3: name"]);
        Ok(())
    }

    fn orphan_deletes_name_the_collection_that_let_them_go(db) -> orm::Result<()> {
        db.create_all::<(Playlist, Track)>()?;
        db.execute_batch(
            "INSERT INTO playlists (name) VALUES ('road'), ('rain');
             INSERT INTO tracks (title, playlist_id) VALUES ('a', 1), ('b', 1), ('c', 2);",
        )?;
        let session = db.session();
        let road = session.get::<Playlist>(1)?;
        let rain = session.get::<Playlist>(2)?;
        let tracks = road.read()?.tracks.load()?;
        let rainy = rain.read()?.tracks.load()?;
        let recorder = db.recorder();
        road.read()?.tracks.remove(&tracks[1])?;
        // Taken out of one collection and then out of the other: the last
        // collection that let it go is the reason.
        road.read()?.tracks.remove(&tracks[0])?;
        rain.read()?.tracks.push(&tracks[0])?;
        rain.read()?.tracks.remove(&tracks[0])?;
        rain.read()?.tracks.remove(&rainy[0])?;
        session.commit()?;
        let mut causes = recorder.causes();
        causes.sort();
        assert_eq!(
            causes,
            [
                "commit: delete of orphan tracks 1 (removed from Playlist.tracks of playlists 2)",
                "commit: delete of orphan tracks 2 (removed from Playlist.tracks of playlists 1)",
                "commit: delete of orphan tracks 3 (removed from Playlist.tracks of playlists 2)",
            ]
        );
        // Let go by a playlist that has no key yet: the orphan's DELETE
        // runs before the playlist's INSERT.
        let extra = session.add(Track::new("d".to_owned()));
        extra.read()?.playlist.set(&road)?;
        session.commit()?;
        let fresh = session.add(Playlist::new("fresh".to_owned()));
        fresh.read()?.tracks.push(&extra)?;
        fresh.read()?.tracks.remove(&extra)?;
        // SQLite gives the emptied table's keys out again; PostgreSQL does not.
        let key = extra.read()?.id;
        recorder.clear();
        session.commit()?;
        assert_eq!(
            recorder.causes(),
            [
                format!(
                    "commit: delete of orphan tracks {key} (removed from Playlist.tracks of a new playlists)"
                ),
                "commit: insert into playlists".to_owned(),
            ]
        );
        assert_eq!(session.query::<Track>().count()?, 0);
        Ok(())
    }

    fn inserts_say_which_new_parents_they_wait_for(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let dee = session.add(User::new("Dee".to_owned()));
        let order = session.add(Order::new(500));
        order.read()?.user.set(&dee)?;
        let item = session.add(Item::new("sku-9".to_owned(), 1, 500));
        item.read()?.order.set(&order)?;
        session.commit()?;
        assert_eq!(
            recorder.causes(),
            [
                "commit: insert into users",
                "commit: insert into orders after users (orders.user_id needs users.id)",
                "commit: insert into items after orders (items.order_id needs orders.id)",
            ]
        );
        Ok(())
    }

    fn an_update_that_needs_a_new_row_says_which(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let order = session.get::<Order>(3)?;
        let recorder = db.recorder();
        let eve = session.add(User::new("Eve".to_owned()));
        order.read()?.user.set(&eve)?;
        session.commit()?;
        assert_eq!(
            recorder.causes(),
            [
                "commit: insert into users",
                "commit: update of orders 3 after users (orders.user_id needs users.id): user_id",
            ]
        );
        Ok(())
    }

    fn a_preload_for_one_parent_says_one_row(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session
            .query::<User>()
            .filter(User::ID.eq(2))
            .preload(User::ORDERS)
            .all()?;
        assert_eq!(
            recorder.causes(),
            ["query of users", "preload of User.orders for 1 row of users"]
        );
        Ok(())
    }

    fn versioned_writes_name_the_version_they_check(db) -> orm::Result<()> {
        db.create_all::<Counter>()?;
        let session = db.session();
        let counter = session.add(Counter::new(0));
        session.commit()?;
        let recorder = db.recorder();
        counter.write()?.n = 1;
        session.flush()?;
        session.delete(&counter)?;
        session.commit()?;
        assert_eq!(
            recorder.causes(),
            [
                "flush: update of counters 1: n; version check (1)",
                "commit: delete of counters 1: version check (2)",
            ]
        );
        Ok(())
    }

    fn bulk_writes_upserts_raw_sql_and_refresh_say_so(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let recorder = db.recorder();
        session
            .update_rows::<Order>()
            .set(Order::NOTE, None::<String>)
            .execute()?;
        session
            .delete_rows::<Tag>()
            .filter(!Tag::ORDERS.is_not_empty())
            .execute()?;
        session.upsert(Tag::new("new"), Tag::ID)?;
        session.sql_values::<i64>("SELECT count(*) FROM users", &[])?;
        session.execute("UPDATE users SET name = name", &[])?;
        session.refresh(&ann)?;
        assert_eq!(
            recorder.causes(),
            [
                "update_rows of orders",
                "delete_rows of tags",
                "upsert into tags",
                "Session::sql_values",
                "Session::execute",
                "refresh of users 1",
            ]
        );
        Ok(())
    }

    fn transaction_control_carries_the_cause_of_what_opened_or_closed_it(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session.add(Tag::new("fresh"));
        session.commit()?;
        let statements: Vec<(String, Option<String>)> = recorder
            .statements()
            .into_iter()
            .map(|s| (s.sql, s.cause))
            .collect();
        let commit = Some("commit".to_owned());
        let begin = if is_postgres(&db) { "BEGIN" } else { "BEGIN IMMEDIATE" };
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert_eq!(statements[0], (begin.to_owned(), commit.clone()));
        assert_eq!(statements[2], ("COMMIT".to_owned(), commit));
        Ok(())
    }

    fn recorded_statements_say_how_long_they_took(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session.query::<User>().all()?;
        session.get::<User>(1)?.write()?.name = "Annie".to_owned();
        session.commit()?;
        let statements = recorder.statements();
        assert_eq!(statements.len(), 4, "{statements:?}"); // SELECT, BEGIN, UPDATE, COMMIT
        assert!(statements.iter().all(|s| s.duration.is_some()), "{statements:?}");
        // The duration is the database's: not in the text the echo compares.
        assert!(!statements[0].to_string().contains("µs"));
        Ok(())
    }

    fn schema_savepoint_expire_and_rollback_statements_say_so(db) -> orm::Result<()> {
        let recorder = db.recorder();
        db.create_all::<(User, Order, Tag)>()?;
        db.execute_batch("INSERT INTO users (name) VALUES ('Ann'), ('Bob'), ('Cy')")?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        session.expire(&ann)?;
        ann.read()?;
        let bob = session.get::<User>(2)?;
        session.add(Order::new(5)).read()?.user.set(&bob)?;
        let savepoint = session.begin_nested()?;
        savepoint.rollback()?;
        session.begin_nested()?.release()?;
        bob.write()?.name = "Bobby".to_owned();
        session.flush()?;
        // Read in the transaction: rollback reads it again. Bob's values
        // from before it are in memory already.
        session.get::<User>(3)?;
        session.rollback()?;
        session.transaction(|s| s.execute("UPDATE users SET name = name", &[]))?;
        db.drop_all::<(User, Order, Tag)>()?;
        // Each statement's first two words (enough to tell them apart)
        // and its cause.
        let causes: Vec<(String, String)> = recorder
            .statements()
            .into_iter()
            .map(|s| {
                let words: Vec<&str> = s.sql.split_whitespace().take(2).collect();
                (words.join(" "), s.cause.unwrap_or_default())
            })
            .collect();
        let begin = if is_postgres(&db) { "BEGIN" } else { "BEGIN IMMEDIATE" };
        let expected = [
            (begin, "create_all"),
            ("CREATE TABLE", "create_all: create users"),
            ("CREATE TABLE", "create_all: create orders"),
            ("CREATE TABLE", "create_all: create tags"),
            ("CREATE TABLE", "create_all: create order_tags"),
            ("CREATE INDEX", "create_all: create index ix_order_tags_tag_id"),
            ("COMMIT", "create_all"),
            ("INSERT INTO", "Database::execute_batch"),
            ("SELECT \"id\",", "get of users 1"),
            ("SELECT \"id\",", "reload of expired users 1"),
            ("SELECT \"id\",", "get of users 2"),
            (begin, "begin_nested"),
            ("INSERT INTO", "begin_nested: insert into orders"),
            ("SAVEPOINT orm_sp_1", "begin_nested"),
            ("ROLLBACK TO", "rollback to savepoint orm_sp_1"),
            ("RELEASE orm_sp_1", "rollback to savepoint orm_sp_1"),
            ("SAVEPOINT orm_sp_1", "begin_nested"),
            ("RELEASE orm_sp_1", "release of savepoint orm_sp_1"),
            ("SAVEPOINT orm_flush", "flush"),
            ("UPDATE \"users\"", "flush: update of users 2: name"),
            ("RELEASE orm_flush", "flush"),
            ("SELECT \"id\",", "get of users 3"),
            ("ROLLBACK", "rollback"),
            ("SELECT \"id\",", "rollback: reread of users 3"),
            (begin, "transaction"),
        ];
        // PostgreSQL runs raw SQL in a transaction in a savepoint.
        let raw: &[(&str, &str)] = if is_postgres(&db) {
            &[
                ("SAVEPOINT orm_raw", "Session::execute"),
                ("UPDATE users", "Session::execute"),
                ("RELEASE orm_raw", "Session::execute"),
            ]
        } else {
            &[("UPDATE users", "Session::execute")]
        };
        let last = [
            ("COMMIT", "commit"),
            (begin, "drop_all"),
            ("DROP TABLE", "drop_all: drop order_tags"),
            ("DROP TABLE", "drop_all: drop tags"),
            ("DROP TABLE", "drop_all: drop orders"),
            ("DROP TABLE", "drop_all: drop users"),
            ("COMMIT", "drop_all"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .chain(raw)
            .chain(&last)
            .map(|(sql, cause)| ((*sql).to_owned(), (*cause).to_owned()))
            .collect();
        assert_eq!(causes, expected);
        Ok(())
    }

    fn migration_statements_name_their_step(db) -> orm::Result<()> {
        db.create_all::<(User, Profile, Order, Item, Tag, Employee)>()?;
        db.execute_batch(
            r#"DROP TABLE "order_tags"; DROP TABLE "employees";
               ALTER TABLE "orders" DROP COLUMN "note""#,
        )?;
        let plan = db.migration_plan::<Shop>(&orm::Renames::new())?;
        let recorder = db.recorder();
        db.apply(&plan, orm::Destructive::Refuse)?;
        let (frame, steps): (Vec<String>, Vec<String>) = recorder
            .statements()
            .into_iter()
            .filter_map(|s| s.cause)
            .partition(|cause| cause == "migration");
        // The frame (BEGIN, COMMIT, and SQLite's foreign-key PRAGMAs and
        // check) is the migration's; each step's statements are the step's.
        let frame_len = if is_postgres(&db) { 2 } else { 5 };
        assert_eq!(frame.len(), frame_len, "{frame:?}");
        let causes = steps;
        assert_eq!(
            causes,
            [
                r#"migration step 1: alter orders to add column "note" TEXT"#,
                "migration step 2: create employees",
                // The link table and its index.
                "migration step 3: create order_tags",
                "migration step 3: create order_tags",
            ]
        );
        Ok(())
    }

    fn the_echo_line_ends_with_the_cause(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        session.get::<User>(2)?;
        let line = recorder.statements()[0].to_string();
        // The echo shows the SQL as sent: PostgreSQL numbers its placeholders.
        let placeholder = if is_postgres(&db) { "$1" } else { "?" };
        assert_eq!(
            line,
            format!(r#"SELECT "id", "name" FROM "users" WHERE "id" = {placeholder}  -- [2]  -- get of users 2"#)
        );
        Ok(())
    }
}

/// Each record: the message, the cause and the duration in µs.
type Logged = (String, Option<String>, Option<String>);

/// Collects the `cause` and `duration_us` keys of every record logged
/// under orm's target.
struct CauseLogger(std::sync::Mutex<Vec<Logged>>);

impl log::Log for CauseLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == orm::LOG_TARGET
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let key = |name: &str| {
            record
                .key_values()
                .get(log::kv::Key::from_str(name))
                .map(|v| v.to_string())
        };
        let (cause, duration) = (key("cause"), key("duration_us"));
        self.0
            .lock()
            .expect("the logger's lock is not poisoned")
            .push((record.args().to_string(), cause, duration));
    }

    fn flush(&self) {}
}

static LOGGER: CauseLogger = CauseLogger(std::sync::Mutex::new(Vec::new()));

#[test]
fn a_logged_statement_carries_its_cause_and_duration_as_structured_keys() -> orm::Result<()> {
    log::set_logger(&LOGGER).expect("no other logger in this test binary");
    log::set_max_level(log::LevelFilter::Info);
    let db = orm::Database::in_memory()?;
    fill(&db)?;
    db.set_echo(orm::Echo::Log);
    db.session().get::<User>(2)?;
    db.set_echo(false);
    let records = LOGGER
        .0
        .lock()
        .expect("the logger's lock is not poisoned")
        .clone();
    let selects: Vec<&Logged> = records
        .iter()
        .filter(|(message, ..)| message.starts_with("SELECT"))
        .collect();
    assert_eq!(selects.len(), 1, "{records:?}");
    assert_eq!(selects[0].1.as_deref(), Some("get of users 2"));
    let micros: u64 = selects[0]
        .2
        .as_deref()
        .and_then(|d| d.parse().ok())
        .expect("a duration in whole microseconds");
    assert!(
        micros < 60_000_000,
        "a lookup by key takes less than a minute: {micros}"
    );
    Ok(())
}
