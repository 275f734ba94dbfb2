//! Hostile input (design point 15): values that look like SQL, identifiers
//! with quotes and spaces, strings and blobs of several MiB, and filters
//! nested deep or wide. Values must always be bound and identifiers always
//! quoted, so that all of them round-trip unchanged and none changes a
//! statement; limits SQLite enforces must come back as typed errors.
//!
//! What is stored is checked with a plain rusqlite connection on the same
//! file, so the ORM never grades its own homework.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use orm::prelude::*;
use orm::{Error, Expr, ModelSet};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

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

/// A database file in the temp dir, removed when the test ends.
struct Fixture {
    db: Database,
    path: PathBuf,
}

impl Fixture {
    fn new<S: ModelSet>(name: &str) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "orm-hostile-{}-{}-{name}.db",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        remove_files(&path);
        let db = Database::open(&path).expect("a database file in the temp dir opens");
        db.create_all::<S>().expect("the tables are created");
        Fixture { db, path }
    }

    fn plain(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).expect("the test database opens")
    }

    /// The names of the tables, as SQLite lists them.
    fn tables(&self) -> Vec<String> {
        let conn = self.plain();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .expect("the schema reads");
        stmt.query_map([], |r| r.get(0))
            .expect("the schema reads")
            .collect::<rusqlite::Result<_>>()
            .expect("the schema reads")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        remove_files(&self.path);
    }
}

fn remove_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
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

// ------------------------------------------------------- values like SQL

#[test]
fn values_that_look_like_sql_round_trip_unchanged() -> orm::Result<()> {
    let fx = Fixture::new::<Note>("values");
    let session = fx.db.session();
    for (i, text) in HOSTILE.iter().enumerate() {
        let note = session.add(Note::new(*text, i as i64));
        note.write()?.body = Some(format!("{text}{text}"));
        note.write()?.data = Some(text.as_bytes().to_vec());
    }
    session.commit()?;

    // Read back by a plain connection: the bytes stored are the bytes given.
    let conn = fx.plain();
    let mut stmt = conn
        .prepare("SELECT title, body, data FROM notes ORDER BY rank")
        .expect("notes read");
    let stored: Vec<(String, Option<String>, Option<Vec<u8>>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("notes read")
        .collect::<rusqlite::Result<_>>()
        .expect("notes read");
    assert_eq!(stored.len(), HOSTILE.len());
    for (text, (title, body, data)) in HOSTILE.iter().zip(&stored) {
        assert_eq!(title, text);
        assert_eq!(body.as_deref(), Some(format!("{text}{text}").as_str()));
        assert_eq!(data.as_deref(), Some(text.as_bytes()));
    }
    assert_eq!(fx.tables(), ["notes"], "no statement was changed");

    // And through a new session, by equality, IN and LIKE on each value.
    let session = fx.db.session();
    for (i, text) in HOSTILE.iter().enumerate() {
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
    }
    let like_semicolon = session
        .query::<Note>()
        .filter(Note::TITLE.like("%;%"))
        .count()?;
    let expected = HOSTILE.iter().filter(|t| t.contains(';')).count();
    assert_eq!(like_semicolon, expected);
    Ok(())
}

#[test]
fn hostile_values_survive_update_and_identify_rows_to_delete() -> orm::Result<()> {
    let fx = Fixture::new::<Note>("update");
    let session = fx.db.session();
    let notes: Vec<Handle<Note>> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, _)| session.add(Note::new(format!("note {i}"), i as i64)))
        .collect();
    session.commit()?;
    for (note, text) in notes.iter().zip(HOSTILE.iter().rev()) {
        note.write()?.title = (*text).to_owned();
    }
    session.commit()?;
    for (note, text) in notes.iter().zip(HOSTILE.iter().rev()) {
        session.refresh(note)?;
        assert_eq!(note.read()?.title, *text);
    }
    // Delete every note whose title looks like a statement, found by value.
    let doomed = session
        .query::<Note>()
        .filter(Note::TITLE.in_(HOSTILE.iter().filter(|t| t.contains("DROP")).copied()))
        .all()?;
    assert_eq!(doomed.len(), 2);
    for note in &doomed {
        session.delete(note)?;
    }
    session.commit()?;
    let left = fx.db.session().query::<Note>().count()?;
    assert_eq!(left, HOSTILE.len() - 2);
    assert_eq!(fx.tables(), ["notes"]);
    Ok(())
}

// ---------------------------------------------------- hostile identifiers

#[test]
fn identifiers_with_quotes_and_spaces_are_quoted_in_every_statement() -> orm::Result<()> {
    let fx = Fixture::new::<(Weird, WeirdChild, WeirdFriend)>("identifiers");
    let mut tables = fx.tables();
    tables.sort();
    let mut expected = vec![
        "child \" table",
        "friend ' table",
        "link \"table\" ; --",
        "we\"ird ta'ble; -- DROP TABLE x",
    ];
    expected.sort();
    assert_eq!(tables, expected);
    assert!(
        fx.db
            .drift::<(Weird, WeirdChild, WeirdFriend)>()?
            .is_empty()
    );
    fx.db.create_all::<(Weird, WeirdChild, WeirdFriend)>()?;

    let session = fx.db.session();
    let w = session.add(Weird::new("a \"label\"", "t'ag"));
    let child = session.add(WeirdChild::new("kid; --"));
    child.read()?.weird.set(&w)?;
    let friend = session.add(WeirdFriend::new("pal"));
    w.read()?.friends.add(&friend)?;
    session.commit()?;

    let conn = fx.plain();
    let (id, label, tag): (i64, String, String) = conn
        .query_row(
            r#"SELECT "the ""id""", "select * from", "ind'ex ""col""" FROM "we""ird ta'ble; -- DROP TABLE x""#,
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("the row is where the names say");
    assert_eq!(
        (id, label.as_str(), tag.as_str()),
        (1, "a \"label\"", "t'ag")
    );
    let parent: i64 = conn
        .query_row(r#"SELECT "weird_id" FROM "child "" table""#, [], |r| {
            r.get(0)
        })
        .expect("the child row is there");
    assert_eq!(parent, 1);

    // Read back through every path: get, filter, count, lazy and eager loads.
    let session = fx.db.session();
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
    let eager = fx.db.session();
    let recorder = fx.db.recorder();
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
    let remaining: i64 = fx
        .plain()
        .query_row(r#"SELECT count(*) FROM "child "" table""#, [], |r| r.get(0))
        .expect("the child table is there");
    assert_eq!(
        remaining, 0,
        "ON DELETE CASCADE reached the child by its quoted names"
    );
    Ok(())
}

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

// -------------------------------------------------------- large values

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

#[test]
fn strings_and_blobs_of_several_mib_round_trip() -> orm::Result<()> {
    const MIB: usize = 1 << 20;
    let fx = Fixture::new::<Note>("large");
    let text: String = "abc'\"; DROP TABLE notes; -- 🦀\0"
        .chars()
        .cycle()
        .take(6 * MIB)
        .collect();
    let blob = noise(8 * MIB, 1);
    let session = fx.db.session();
    let note = session.add(Note::new(text.clone(), 1));
    note.write()?.data = Some(blob.clone());
    session.commit()?;

    let (stored_text, stored_blob): (String, Vec<u8>) = fx
        .plain()
        .query_row("SELECT title, data FROM notes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the note is stored");
    assert!(stored_text == text, "the 6 MiB string is stored unchanged");
    assert!(stored_blob == blob, "the 8 MiB blob is stored unchanged");

    // Read by another session, then replaced by other large values.
    let session = fx.db.session();
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
    let (body_len, data): (i64, Vec<u8>) = fx
        .plain()
        .query_row("SELECT length(body), data FROM notes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("the note is stored");
    assert_eq!(body_len, 4 * MIB as i64);
    assert!(data == other);
    Ok(())
}

// ------------------------------------------------------------- filters

/// Six notes with hostile titles and bodies, one without a body.
fn filter_fixture(name: &str) -> orm::Result<Fixture> {
    let fx = Fixture::new::<Note>(name);
    let session = fx.db.session();
    for (rank, title) in ROWS.iter().enumerate() {
        let note = session.add(Note::new(*title, rank as i64));
        note.write()?.body = (rank % 3 != 0).then(|| format!("{title}!"));
    }
    session.commit()?;
    Ok(fx)
}

const ROWS: [&str; 6] = ["a'b", "%", "x\"y; --", "", "DROP", "zoë"];

#[test]
fn a_filter_nested_hundreds_deep_binds_every_value() -> orm::Result<()> {
    let fx = filter_fixture("deep")?;
    let session = fx.db.session();
    // ((((rank = 0) OR title = 'a''b 1') OR ...) with 400 levels of nesting.
    let mut filter = Note::RANK.eq(0);
    for i in 0..400 {
        let value = format!("{}{i}", HOSTILE[i % HOSTILE.len()]);
        filter = if i % 2 == 0 {
            filter.or(Note::TITLE.eq(value))
        } else {
            !(!filter.and(Note::TITLE.ne(value)))
        };
    }
    let filter = filter.or(Note::TITLE.eq("DROP"));
    let recorder = fx.db.recorder();
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

#[test]
fn a_filter_deeper_than_sqlite_allows_is_an_error_not_a_crash() -> orm::Result<()> {
    let fx = filter_fixture("too-deep")?;
    let session = fx.db.session();
    let mut filter = Note::RANK.eq(0);
    for i in 0..5_000 {
        filter = filter.or(Note::RANK.eq(i));
    }
    let error = session
        .query::<Note>()
        .filter(filter)
        .all()
        .expect_err("SQLite limits expressions to a depth of 1000");
    assert!(matches!(error, Error::TooDeep { limit: 1000 }), "{error:?}");
    // The session is unharmed.
    assert_eq!(session.query::<Note>().count()?, ROWS.len());
    Ok(())
}

#[test]
fn a_filter_with_more_values_than_sqlite_binds_is_an_error_not_a_crash() -> orm::Result<()> {
    let fx = filter_fixture("too-wide")?;
    let session = fx.db.session();
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
    let error = session
        .query::<Note>()
        .filter(Note::RANK.in_(0..100_000))
        .all()
        .expect_err("more than SQLite's 32,766 parameters");
    assert!(matches!(error, Error::Sqlite(_)), "{error:?}");
    assert_eq!(session.query::<Note>().count()?, ROWS.len());
    Ok(())
}

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

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HOSTILE).prop_map(str::to_owned),
        proptest::sample::select(&ROWS[..]).prop_map(str::to_owned),
        proptest::sample::select(&ROWS[..]).prop_map(|r| format!("{r}!")),
        "[%_a-z'\";\\- ]{0,6}",
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        value().prop_map(Filter::TitleEq),
        value().prop_map(Filter::TitleNe),
        value().prop_map(Filter::TitleLt),
        value().prop_map(Filter::TitleLike),
        proptest::collection::vec(value(), 0..4).prop_map(Filter::TitleIn),
        value().prop_map(Filter::BodyEq),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random nested filters over hostile values select exactly the rows
    /// the same filter selects when evaluated in Rust.
    #[test]
    fn random_nested_filters_of_hostile_values_select_what_they_mean(filter in filter()) {
        thread_local! {
            static FIXTURE: Fixture = filter_fixture("random").expect("the notes are seeded");
        }
        FIXTURE.with(|fx| -> Result<(), TestCaseError> {
            let session = fx.db.session();
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
        })?;
    }
}

/// The foreign-key column of a `BelongsTo` may be named like any other
/// column. Checked by compiling and running a program (trybuild), so that
/// the rest of this file still builds while the derive rejects the name.
#[test]
fn a_foreign_key_column_named_with_quotes_and_spaces_compiles_and_round_trips() {
    let dir = std::env::temp_dir().join(format!("orm-hostile-fk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir can be made");
    let program = dir.join("foreign_key_column_with_quotes.rs");
    std::fs::write(&program, FOREIGN_KEY_PROGRAM).expect("the program is written");
    /// Removes the program's directory, pass or fail.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir);
    // Runs when dropped: compiles the program, runs it, panics on failure.
    let cases = trybuild::TestCases::new();
    cases.pass(&program);
    drop(cases);
}

const FOREIGN_KEY_PROGRAM: &str = r##"
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

fn main() -> orm::Result<()> {
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
"##;
