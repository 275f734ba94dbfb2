//! Hostile input (design point 15): values that look like SQL, identifiers
//! with quotes and spaces, strings and blobs of several MiB, and filters
//! nested deep or wide. Values must always be bound and identifiers always
//! quoted, so that all of them round-trip unchanged and none changes a
//! statement; limits the database enforces must come back as typed errors.
//!
//! Every test with a database runs on each backend of the matrix (see
//! `common::backend`). What is stored is checked with raw SQL read by a
//! session of its own, so the ORM's objects never grade their own
//! homework. PostgreSQL text cannot hold NUL: there the hostile strings
//! with a NUL are left out of what must round-trip, and storing one must
//! be an error that stores nothing.

use crate::common;

use common::backend::is_postgres;

use orm::prelude::*;
use orm::{Error, Expr};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ------------------------------------------------------------------ models

#[derive(Model, Debug)]
#[orm(table = "notes")]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub body: Option<String>,
    pub data: Option<Vec<u8>>,
    pub rank: i64,
}

/// Table, columns, index and foreign key named as badly as SQL allows.
#[derive(Model, Debug)]
#[orm(table = "we\"ird ta'ble; -- DROP TABLE x")]
pub struct Weird {
    #[orm(primary_key, column = "the \"id\"")]
    pub id: i64,
    #[orm(column = "select * from", unique)]
    pub label: String,
    #[orm(column = "ind'ex \"col\"", index)]
    pub tag: String,
    #[orm(back_populates = "weird")]
    pub children: HasMany<WeirdChild>,
    #[orm(through = "link \"table\" ; --", back_populates = "weirds")]
    pub friends: ManyToMany<WeirdFriend>,
}

#[derive(Model, Debug)]
#[orm(table = "child \" table")]
pub struct WeirdChild {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(on_delete = "cascade", back_populates = "children")]
    pub weird: BelongsTo<Weird>,
}

#[derive(Model, Debug)]
#[orm(table = "friend ' table")]
pub struct WeirdFriend {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(through = "link \"table\" ; --", back_populates = "friends")]
    pub weirds: ManyToMany<Weird>,
}

// ---------------------------------------------------------------- fixtures

/// Whether `error` is an error PostgreSQL reported (`Error::Postgres`, the
/// counterpart of `Error::Sqlite`). Without the `postgres` feature no test
/// reaches a server.
#[cfg(feature = "postgres")]
fn is_postgres_error(error: &Error) -> bool {
    matches!(error, Error::Postgres(_))
}

#[cfg(not(feature = "postgres"))]
fn is_postgres_error(_: &Error) -> bool {
    false
}

/// The names of the tables in `db`, sorted, as the database lists them.
fn tables(db: &Database) -> orm::Result<Vec<String>> {
    let sql = if is_postgres(db) {
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    } else {
        "SELECT name FROM sqlite_schema WHERE type = 'table'"
    };
    let mut names: Vec<String> = db.session().sql_values(sql, &[])?;
    names.sort();
    Ok(names)
}

/// The hostile strings `db` can store as text: all of them on SQLite, those
/// without a NUL on PostgreSQL.
fn hostile(db: &Database) -> Vec<&'static str> {
    HOSTILE
        .iter()
        .copied()
        .filter(|text| !(is_postgres(db) && text.contains('\0')))
        .collect()
}

/// Strings that would change a statement if they were spliced into it.
const HOSTILE: &[&str] = &[
    "'; DROP TABLE notes; --",
    "\" OR 1=1 --",
    "Robert'); DROP TABLE notes;--",
    "' OR ''='",
    "1; DELETE FROM notes WHERE 1=1",
    "?",
    "?1 ?2 :name @name $name",
    "%",
    "_",
    "100% _sure_",
    "back\\slash \\' \\\"",
    "semi;colon",
    "NUL\0inside",
    "\0",
    "",
    " ",
    "line\nbreak\r\ncarriage\ttab",
    "/* comment */ -- comment",
    "zoë 日本語 🦀 עברית \u{202E}reversed",
    "\u{FEFF}bom",
    "CHAR(39)||CHAR(59)",
    "x'00ff'",
    "NULL",
    "null",
];

/// A deterministic pseudo-random byte string (every byte value occurs).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Six notes with hostile titles and bodies, one without a body.
fn filter_fixture(db: &Database) -> orm::Result<()> {
    db.create_all::<Note>()?;
    let session = db.session();
    for (rank, title) in ROWS.iter().enumerate() {
        let note = session.add(Note::new(*title, rank as i64));
        note.write()?.body = (rank % 3 != 0).then(|| format!("{title}!"));
    }
    session.commit()
}

const ROWS: [&str; 6] = ["a'b", "%", "x\"y; --", "", "DROP", "zoë"];

/// A filter over `Note` built from hostile values, with its meaning in Rust.
#[derive(Debug, Clone)]
enum Filter {
    TitleEq(String),
    TitleNe(String),
    TitleLt(String),
    TitleLike(String),
    TitleIn(Vec<String>),
    BodyEq(String),
    BodyIsNull,
    RankGe(i64),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    fn expr(&self) -> Expr<Note, bool> {
        match self {
            Filter::TitleEq(v) => Note::TITLE.eq(v.clone()),
            Filter::TitleNe(v) => Note::TITLE.ne(v.clone()),
            Filter::TitleLt(v) => Note::TITLE.lt(v.clone()),
            Filter::TitleLike(v) => Note::TITLE.like(v.clone()),
            Filter::TitleIn(vs) => Note::TITLE.in_(vs.clone()),
            Filter::BodyEq(v) => Note::BODY.eq(v.clone()),
            Filter::BodyIsNull => Note::BODY.is_null(),
            Filter::RankGe(n) => Note::RANK.ge(*n),
            Filter::And(a, b) => a.expr().and(b.expr()),
            Filter::Or(a, b) => a.expr().or(b.expr()),
            Filter::Not(a) => !a.expr(),
        }
    }

    /// SQL's three-valued answer for one row: `None` is NULL.
    fn eval(&self, title: &str, body: Option<&str>, rank: i64) -> Option<bool> {
        match self {
            Filter::TitleEq(v) => Some(title == v),
            Filter::TitleNe(v) => Some(title != v),
            Filter::TitleLt(v) => Some(title.as_bytes() < v.as_bytes()),
            Filter::TitleLike(v) => Some(like(v, title)),
            Filter::TitleIn(vs) => Some(vs.iter().any(|v| v == title)),
            Filter::BodyEq(v) => body.map(|b| b == v),
            Filter::BodyIsNull => Some(body.is_none()),
            Filter::RankGe(n) => Some(rank >= *n),
            Filter::And(a, b) => match (a.eval(title, body, rank), b.eval(title, body, rank)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (a.eval(title, body, rank), b.eval(title, body, rank)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::Not(a) => a.eval(title, body, rank).map(|v| !v),
        }
    }
}

/// SQLite's `LIKE`: `%` any run, `_` one character, ASCII letters match
/// either case; both sides end at a NUL, as C strings do.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t
                .first()
                .is_some_and(|d| c.eq_ignore_ascii_case(d) && go(rest, &t[1..])),
        }
    }
    let p: Vec<char> = pattern.chars().take_while(|&c| c != '\0').collect();
    let t: Vec<char> = text.chars().take_while(|&c| c != '\0').collect();
    go(&p, &t)
}

/// A value to filter by: hostile, a title or body of the rows, or random.
fn value(hostile: &[&'static str]) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        proptest::sample::select(hostile.to_vec()).prop_map(str::to_owned),
        proptest::sample::select(&ROWS[..]).prop_map(str::to_owned),
        proptest::sample::select(&ROWS[..]).prop_map(|r| format!("{r}!")),
        "[%_a-z'\";\\- ]{0,6}",
    ]
}

/// Filters of values from `hostile` and the others [`value`] makes.
fn filter(hostile: Vec<&'static str>) -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        value(&hostile).prop_map(Filter::TitleEq),
        value(&hostile).prop_map(Filter::TitleNe),
        value(&hostile).prop_map(Filter::TitleLt),
        value(&hostile).prop_map(Filter::TitleLike),
        proptest::collection::vec(value(&hostile), 0..4).prop_map(Filter::TitleIn),
        value(&hostile).prop_map(Filter::BodyEq),
        Just(Filter::BodyIsNull),
        (0i64..7).prop_map(Filter::RankGe),
    ];
    leaf.prop_recursive(12, 96, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
}

/// Every note's title, body and data, by rank, read with raw SQL by a
/// session of its own.
type Stored = (String, Option<String>, Option<Vec<u8>>);

fn stored_notes(db: &Database) -> orm::Result<Vec<Stored>> {
    db.session()
        .sql_values("SELECT title, body, data FROM notes ORDER BY rank", &[])
}

backend_tests! {
    // ------------------------------------------------------- values like SQL

    fn values_that_look_like_sql_round_trip_unchanged(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let hostile = hostile(&db);
        let session = db.session();
        for (i, text) in hostile.iter().enumerate() {
            let note = session.add(Note::new(*text, i as i64));
            note.write()?.body = Some(format!("{text}{text}"));
            note.write()?.data = Some(text.as_bytes().to_vec());
        }
        session.commit()?;

        // Read back by raw SQL: the bytes stored are the bytes given.
        let stored = stored_notes(&db)?;
        assert_eq!(stored.len(), hostile.len());
        for (text, (title, body, data)) in hostile.iter().zip(&stored) {
            assert_eq!(title, text);
            assert_eq!(body.as_deref(), Some(format!("{text}{text}").as_str()));
            assert_eq!(data.as_deref(), Some(text.as_bytes()));
        }
        assert_eq!(tables(&db)?, ["notes"], "no statement was changed");

        // And through a new session, by equality, IN and LIKE on each value.
        let session = db.session();
        for (i, text) in hostile.iter().enumerate() {
            let found = session
                .query::<Note>()
                .filter(Note::TITLE.eq(*text))
                .all()?;
            assert_eq!(found.len(), 1, "exactly one title equals {text:?}");
            assert_eq!(found[0].read()?.rank, i as i64);
            assert_eq!(found[0].read()?.title, *text);
            let by_in = session
                .query::<Note>()
                .filter(Note::BODY.in_([format!("{text}{text}"), "nothing".to_owned()]))
                .count()?;
            assert_eq!(by_in, 1, "{text:?}");
            // The value as a pattern: `%` and `_` are wildcards, nothing
            // else is special (SQLite's LIKE has no escape character unless
            // one is given), so it matches at least its own row.
            let by_like = session
                .query::<Note>()
                .filter(Note::TITLE.like(*text))
                .count()?;
            let expected = hostile.iter().filter(|title| like(text, title)).count();
            assert!(expected >= 1, "{text:?} matches itself");
            assert_eq!(by_like, expected, "titles LIKE {text:?}");
        }
        let like_semicolon = session
            .query::<Note>()
            .filter(Note::TITLE.like("%;%"))
            .count()?;
        let expected = hostile.iter().filter(|t| t.contains(';')).count();
        assert_eq!(like_semicolon, expected);

        // PostgreSQL text cannot hold NUL: such a value is an error, not a
        // value cut short, and nothing of the flush is stored.
        if is_postgres(&db) {
            let session = db.session();
            session.add(Note::new("fine", 100));
            session.add(Note::new("NUL\0inside", 101));
            let error = session.commit().expect_err("text with NUL is refused");
            assert!(is_postgres_error(&error), "{error:?}");
            assert_eq!(stored_notes(&db)?, stored, "nothing was stored");
        }
        Ok(())
    }

    fn hostile_values_survive_update_and_identify_rows_to_delete(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let hostile = hostile(&db);
        let session = db.session();
        let notes: Vec<Handle<Note>> = hostile
            .iter()
            .enumerate()
            .map(|(i, _)| session.add(Note::new(format!("note {i}"), i as i64)))
            .collect();
        session.commit()?;
        for (note, text) in notes.iter().zip(hostile.iter().rev()) {
            note.write()?.title = (*text).to_owned();
        }
        session.commit()?;
        for (note, text) in notes.iter().zip(hostile.iter().rev()) {
            session.refresh(note)?;
            assert_eq!(note.read()?.title, *text);
        }
        // Delete every note whose title looks like a statement, found by value.
        let doomed = session
            .query::<Note>()
            .filter(Note::TITLE.in_(hostile.iter().filter(|t| t.contains("DROP")).copied()))
            .all()?;
        assert_eq!(doomed.len(), 2);
        for note in &doomed {
            session.delete(note)?;
        }
        session.commit()?;
        let left = db.session().query::<Note>().count()?;
        assert_eq!(left, hostile.len() - 2);
        let titles: Vec<String> = db
            .session()
            .sql_values("SELECT title FROM notes ORDER BY id", &[])?;
        let expected: Vec<&str> = hostile.iter().rev().copied().filter(|t| !t.contains("DROP")).collect();
        assert_eq!(titles, expected);
        assert_eq!(tables(&db)?, ["notes"]);
        Ok(())
    }

    // ---------------------------------------------------- hostile identifiers

    fn identifiers_with_quotes_and_spaces_are_quoted_in_every_statement(db) -> orm::Result<()> {
        db.create_all::<(Weird, WeirdChild, WeirdFriend)>()?;
        let mut expected = vec![
            "child \" table",
            "friend ' table",
            "link \"table\" ; --",
            "we\"ird ta'ble; -- DROP TABLE x",
        ];
        expected.sort();
        assert_eq!(tables(&db)?, expected);
        // The schema as read back matches the models, so a second
        // `create_all` has nothing to do. SQLite only: PostgreSQL has no
        // drift report yet (`drift`, and `create_all` over existing tables,
        // are `Error::Unsupported` there).
        if !is_postgres(&db) {
            assert!(db.drift::<(Weird, WeirdChild, WeirdFriend)>()?.is_empty());
            db.create_all::<(Weird, WeirdChild, WeirdFriend)>()?;
        }

        let session = db.session();
        let w = session.add(Weird::new("a \"label\"", "t'ag"));
        let child = session.add(WeirdChild::new("kid; --"));
        child.read()?.weird.set(&w)?;
        let friend = session.add(WeirdFriend::new("pal"));
        w.read()?.friends.add(&friend)?;
        session.commit()?;

        let raw = db.session();
        let rows: Vec<(i64, String, String)> = raw.sql_values(
            r#"SELECT "the ""id""", "select * from", "ind'ex ""col""" FROM "we""ird ta'ble; -- DROP TABLE x""#,
            &[],
        )?;
        assert_eq!(rows, [(1, "a \"label\"".to_owned(), "t'ag".to_owned())]);
        let parents: Vec<i64> = raw.sql_values(r#"SELECT "weird_id" FROM "child "" table""#, &[])?;
        assert_eq!(parents, [1]);
        let links: Vec<(i64, i64)> = raw.sql_values(
            r#"SELECT "weird_id", "weird_friend_id" FROM "link ""table"" ; --""#,
            &[],
        )?;
        assert_eq!(links, [(1, 1)]);
        drop(raw);

        // Read back through every path: get, filter, count, lazy and eager loads.
        let session = db.session();
        let again = session.get::<Weird>(1)?;
        assert_eq!(again.read()?.label, "a \"label\"");
        let by_label = session
            .query::<Weird>()
            .filter(Weird::LABEL.eq("a \"label\"").and(Weird::TAG.like("t'%")))
            .order_by(Weird::ID.desc())
            .one()?;
        assert_eq!(by_label, again);
        assert_eq!(session.query::<WeirdChild>().count()?, 1);
        let kids = again.read()?.children.load()?;
        assert_eq!(kids[0].read()?.name, "kid; --");
        assert_eq!(kids[0].read()?.weird.load()?, again);
        assert_eq!(again.read()?.friends.load()?[0].read()?.name, "pal");
        let eager = db.session();
        let recorder = db.recorder();
        let preloaded = eager
            .query::<Weird>()
            .preload(Weird::CHILDREN)
            .preload(Weird::FRIENDS)
            .all()?;
        assert_eq!(recorder.count(), 3, "{:?}", recorder.sql());
        assert_eq!(preloaded[0].read()?.children.load()?.len(), 1);
        assert_eq!(preloaded[0].read()?.friends.load()?.len(), 1);
        assert_eq!(recorder.count(), 3, "both were preloaded");
        drop(recorder);
        drop(eager);

        // Update, unique constraint and cascade delete by the quoted names.
        again.write()?.tag = "new \"tag\"".into();
        session.commit()?;
        let clash = session.add(Weird::new("a \"label\"", "x"));
        let error = session.commit().expect_err("the label is unique");
        assert!(
            matches!(&error, Error::Constraint { table, .. } if table == "we\"ird ta'ble; -- DROP TABLE x"),
            "{error:?}"
        );
        session.delete(&clash)?;
        session.delete(&again)?;
        session.commit()?;
        let raw = db.session();
        let remaining: Vec<i64> = raw.sql_values(r#"SELECT count(*) FROM "child "" table""#, &[])?;
        assert_eq!(
            remaining, [0],
            "ON DELETE CASCADE reached the child by its quoted names"
        );
        let tags: Vec<String> =
            raw.sql_values(r#"SELECT "ind'ex ""col""" FROM "we""ird ta'ble; -- DROP TABLE x""#, &[])?;
        assert!(tags.is_empty(), "{tags:?}");
        Ok(())
    }

    // -------------------------------------------------------- large values

    fn strings_and_blobs_of_several_mib_round_trip(db) -> orm::Result<()> {
        const MIB: usize = 1 << 20;
        db.create_all::<Note>()?;
        // With a NUL in it where the database's text can hold one.
        let pattern = if is_postgres(&db) {
            "abc'\"; DROP TABLE notes; -- 🦀"
        } else {
            "abc'\"; DROP TABLE notes; -- 🦀\0"
        };
        let text: String = pattern.chars().cycle().take(6 * MIB).collect();
        let blob = noise(8 * MIB, 1);
        let session = db.session();
        let note = session.add(Note::new(text.clone(), 1));
        note.write()?.data = Some(blob.clone());
        session.commit()?;

        let stored: Vec<(String, Vec<u8>)> = db
            .session()
            .sql_values("SELECT title, data FROM notes", &[])?;
        assert_eq!(stored.len(), 1);
        assert!(stored[0].0 == text, "the 6 MiB string is stored unchanged");
        assert!(stored[0].1 == blob, "the 8 MiB blob is stored unchanged");

        // Read by another session, then replaced by other large values.
        let session = db.session();
        let again = session
            .query::<Note>()
            .filter(Note::TITLE.eq(text.clone()))
            .one()?;
        assert!(again.read()?.title == text);
        assert!(again.read()?.data.as_deref() == Some(&blob[..]));
        let other = noise(5 * MIB, 2);
        again.write()?.data = Some(other.clone());
        again.write()?.body = Some("x".repeat(4 * MIB));
        session.commit()?;
        let stored: Vec<(i64, Vec<u8>)> = db
            .session()
            .sql_values("SELECT length(body), data FROM notes", &[])?;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, 4 * MIB as i64);
        assert!(stored[0].1 == other);
        Ok(())
    }

    // ------------------------------------------------------------- filters

    fn a_filter_nested_hundreds_deep_binds_every_value(db) -> orm::Result<()> {
        filter_fixture(&db)?;
        let session = db.session();
        // ((((rank = 0) OR title = 'a''b 1') OR ...) with 400 levels of nesting.
        let mut filter = Note::RANK.eq(0);
        for i in 0..400 {
            let value = format!("{}{i}", HOSTILE[i % HOSTILE.len()]);
            // PostgreSQL text cannot hold NUL (see above).
            let value = if is_postgres(&db) {
                value.replace('\0', "NUL")
            } else {
                value
            };
            filter = if i % 2 == 0 {
                filter.or(Note::TITLE.eq(value))
            } else {
                !(!filter.and(Note::TITLE.ne(value)))
            };
        }
        let filter = filter.or(Note::TITLE.eq("DROP"));
        let recorder = db.recorder();
        let found = session
            .query::<Note>()
            .filter(filter)
            .order_by(Note::RANK.asc())
            .all()?;
        let ranks: Vec<i64> = found
            .iter()
            .map(|n| n.read().map(|n| n.rank))
            .collect::<orm::Result<_>>()?;
        assert_eq!(ranks, [0, 4]);
        let statement = &recorder.statements()[0];
        assert_eq!(statement.params.len(), 402, "every value is a parameter");
        assert!(
            !statement.sql.contains("DROP"),
            "no value is in the SQL text"
        );
        Ok(())
    }

    fn a_filter_deeper_than_sqlite_allows_is_an_error_not_a_crash(db) -> orm::Result<()> {
        filter_fixture(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let mut filter = Note::RANK.eq(0);
        for i in 0..5_000 {
            filter = filter.or(Note::RANK.eq(i));
        }
        let error = session
            .query::<Note>()
            .filter(filter)
            .all()
            .expect_err("orm limits expressions to SQLite's depth of 1000, on every backend");
        assert!(matches!(error, Error::TooDeep { limit: 1000 }), "{error:?}");
        assert_eq!(recorder.count(), 0, "nothing was sent");
        // The session is unharmed.
        assert_eq!(session.query::<Note>().count()?, ROWS.len());
        Ok(())
    }

    fn a_filter_with_more_values_than_the_database_binds_is_an_error_not_a_crash(db) -> orm::Result<()> {
        filter_fixture(&db)?;
        let session = db.session();
        let within = session
            .query::<Note>()
            .filter(
                Note::TITLE.in_(
                    (0..30_000)
                        .map(|i| format!("{i}'"))
                        .chain(["DROP".to_owned()]),
                ),
            )
            .count()?;
        assert_eq!(within, 1);
        // More than SQLite's 32,766 parameters, and than the 65,535 a
        // PostgreSQL statement can have.
        let error = session
            .query::<Note>()
            .filter(Note::RANK.in_(0..100_000))
            .all()
            .expect_err("more parameters than the database binds");
        // SQLite's own error, as for any statement it refuses; on
        // PostgreSQL, whose protocol counts parameters in 16 bits, refused
        // before it is sent. The connection is not lost either way.
        if is_postgres(&db) {
            assert!(matches!(error, Error::OutOfRange { .. }), "{error:?}");
        } else {
            assert!(matches!(error, Error::Sqlite(_)), "{error:?}");
        }
        assert_eq!(session.query::<Note>().count()?, ROWS.len());
        Ok(())
    }

    /// Random nested filters over hostile values select exactly the rows
    /// the same filter selects when evaluated in Rust.
    fn random_nested_filters_of_hostile_values_select_what_they_mean(db) -> orm::Result<()> {
        filter_fixture(&db)?;
        let mut runner = TestRunner::new(Config {
            cases: common::proptest_cases(&db, 500, 200),
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&filter(hostile(&db)), |filter| {
            let session = db.session();
            let found = session
                .query::<Note>()
                .filter(filter.expr())
                .order_by(Note::RANK.asc())
                .all()
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let ranks: Vec<i64> = found.iter().map(|n| n.read().map(|n| n.rank).unwrap_or(-1)).collect();
            let expected: Vec<i64> = ROWS
                .iter()
                .enumerate()
                .filter(|(rank, title)| {
                    let body = (rank % 3 != 0).then(|| format!("{title}!"));
                    filter.eval(title, body.as_deref(), *rank as i64) == Some(true)
                })
                .map(|(rank, _)| rank as i64)
                .collect();
            prop_assert_eq!(ranks, expected, "{}", filter.expr().sql());
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
        Ok(())
    }
}

// ------------------------------------------------------ SQLite only

// No database here: the DDL text is SQLite's (`Model::ddl`).
#[test]
fn the_ddl_of_hostile_identifiers_doubles_their_quotes() {
    let ddl = Weird::ddl();
    assert!(
        ddl.starts_with("CREATE TABLE \"we\"\"ird ta'ble; -- DROP TABLE x\" ("),
        "{ddl}"
    );
    assert!(
        ddl.contains("\"the \"\"id\"\"\" INTEGER PRIMARY KEY"),
        "{ddl}"
    );
    assert!(ddl.contains("\"ind'ex \"\"col\"\"\""), "{ddl}");
    let child = WeirdChild::ddl();
    assert!(
        child.contains(
            "\"weird_id\" INTEGER NOT NULL REFERENCES \"we\"\"ird ta'ble; -- DROP TABLE x\" (\"the \"\"id\"\"\") ON DELETE CASCADE"
        ),
        "{child}"
    );
}

/// A foreign-key column named with a quote, a semicolon and a space.
mod quoted_foreign_key {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "parents")]
    pub struct Parent {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(back_populates = "parent")]
        pub kids: HasMany<Kid>,
    }

    #[derive(Model, Debug)]
    #[orm(table = "kids")]
    pub struct Kid {
        #[orm(primary_key)]
        pub id: i64,
        #[orm(column = "parent\"; id", back_populates = "kids")]
        pub parent: BelongsTo<Parent>,
    }
}

/// The foreign-key column of a `BelongsTo` may be named like any other
/// column: quoted wherever it appears, it round-trips.
#[test]
fn a_foreign_key_column_named_with_quotes_and_spaces_compiles_and_round_trips() -> orm::Result<()> {
    use quoted_foreign_key::{Kid, Parent};

    let db = Database::in_memory()?;
    db.create_all::<(Parent, Kid)>()?;
    let session = db.session();
    let parent = session.add(Parent::new());
    let kid = session.add(Kid::new());
    kid.read()?.parent.set(&parent)?;
    session.commit()?;
    let session = db.session();
    let kids = session.get::<Parent>(1)?.read()?.kids.load()?;
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0].read()?.parent.key(), Some(1));
    Ok(())
}
