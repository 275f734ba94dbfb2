//! Column types: every supported Rust type round-trips unchanged, strings
//! included whatever they contain; values that cannot be written (NaN) or
//! read (NULL or another type in a field) are typed errors naming where.

use crate::common;

use common::backend::is_postgres;

use orm::Error;
use orm::prelude::*;

#[derive(Model, Debug, Clone, PartialEq)]
#[orm(table = "everything")]
pub struct Everything {
    #[orm(primary_key)]
    pub id: i64,
    pub a_i8: i8,
    pub a_i16: i16,
    pub a_i32: i32,
    pub a_i64: i64,
    pub a_u8: u8,
    pub a_u16: u16,
    pub a_u32: u32,
    pub a_bool: bool,
    pub a_f32: f32,
    pub a_f64: f64,
    pub a_string: String,
    pub a_bytes: Vec<u8>,
    pub o_i8: Option<i8>,
    pub o_i16: Option<i16>,
    pub o_i32: Option<i32>,
    pub o_i64: Option<i64>,
    pub o_u8: Option<u8>,
    pub o_u16: Option<u16>,
    pub o_u32: Option<u32>,
    pub o_bool: Option<bool>,
    pub o_f32: Option<f32>,
    pub o_f64: Option<f64>,
    pub o_string: Option<String>,
    pub o_bytes: Option<Vec<u8>>,
}

#[derive(Model, Debug)]
#[orm(table = "notes")]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub text: String,
    pub tag: Option<String>,
}

#[derive(Model, Debug)]
#[orm(table = "measurements")]
pub struct Measurement {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    pub value: f64,
    pub spread: Option<f32>,
}

/// Mapped onto a table made by hand, whose columns accept what the model's
/// fields cannot hold.
#[derive(Model, Debug)]
#[orm(table = "readings")]
pub struct Reading {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    pub count: i64,
    pub small: u8,
}

#[derive(Model, Debug)]
#[orm(table = "codes")]
pub struct Code {
    #[orm(primary_key)]
    pub code: String,
    pub size: i64,
}

/// Commits `value` in one session and reads it back in another (so from
/// the database, not from the identity map).
fn round_trip(db: &Database, value: Everything) -> orm::Result<()> {
    db.create_all::<Everything>()?;
    let writer = db.session();
    let written = writer.add(value.clone());
    writer.commit()?;
    let id = written.read()?.id;
    let reader = db.session();
    let read = reader.get::<Everything>(id)?;
    assert_eq!(*read.read()?, Everything { id, ..value });
    Ok(())
}

fn lows() -> Everything {
    Everything {
        id: 0,
        a_i8: i8::MIN,
        a_i16: i16::MIN,
        a_i32: i32::MIN,
        a_i64: i64::MIN,
        a_u8: u8::MIN,
        a_u16: u16::MIN,
        a_u32: u32::MIN,
        a_bool: false,
        a_f32: f32::MIN,
        a_f64: f64::MIN,
        a_string: String::new(),
        a_bytes: Vec::new(),
        o_i8: Some(i8::MIN),
        o_i16: Some(i16::MIN),
        o_i32: Some(i32::MIN),
        o_i64: Some(i64::MIN),
        o_u8: Some(u8::MIN),
        o_u16: Some(u16::MIN),
        o_u32: Some(u32::MIN),
        o_bool: Some(false),
        o_f32: Some(f32::MIN_POSITIVE),
        o_f64: Some(f64::MIN_POSITIVE),
        o_string: Some(String::new()),
        o_bytes: Some(Vec::new()),
    }
}

fn highs() -> Everything {
    Everything {
        id: 0,
        a_i8: i8::MAX,
        a_i16: i16::MAX,
        a_i32: i32::MAX,
        a_i64: i64::MAX,
        a_u8: u8::MAX,
        a_u16: u16::MAX,
        a_u32: u32::MAX,
        a_bool: true,
        a_f32: f32::MAX,
        a_f64: f64::MAX,
        a_string: "x".repeat(100_000),
        a_bytes: (0..=255).collect(),
        o_i8: Some(i8::MAX),
        o_i16: Some(i16::MAX),
        o_i32: Some(i32::MAX),
        o_i64: Some(i64::MAX),
        o_u8: Some(u8::MAX),
        o_u16: Some(u16::MAX),
        o_u32: Some(u32::MAX),
        o_bool: Some(true),
        o_f32: Some(f32::MAX),
        o_f64: Some(f64::MAX),
        o_string: Some("y".repeat(10)),
        o_bytes: Some(vec![0, 0, 0]),
    }
}

fn nones() -> Everything {
    Everything {
        o_i8: None,
        o_i16: None,
        o_i32: None,
        o_i64: None,
        o_u8: None,
        o_u16: None,
        o_u32: None,
        o_bool: None,
        o_f32: None,
        o_f64: None,
        o_string: None,
        o_bytes: None,
        ..highs()
    }
}

#[test]
fn column_sql_types_follow_the_rust_types() {
    let expected = |name: &str| {
        let base = &name[2..];
        let sqlite = match base {
            "f32" | "f64" => "REAL",
            "string" => "TEXT",
            "bytes" => "BLOB",
            _ => "INTEGER",
        };
        let postgres = match base {
            "i8" | "i16" | "u8" => "SMALLINT",
            "i32" | "u16" => "INTEGER",
            "i64" | "u32" => "BIGINT",
            "bool" => "BOOLEAN",
            "f32" => "REAL",
            "f64" => "DOUBLE PRECISION",
            "string" => "TEXT",
            "bytes" => "BYTEA",
            other => panic!("no column type for {other}"),
        };
        (sqlite, postgres)
    };
    for column in &Everything::TABLE.columns[1..] {
        let name = column.name;
        assert_eq!(
            (column.sql_type, column.postgres_type),
            (expected(name).0, Some(expected(name).1)),
            "{name}"
        );
        assert_eq!(column.nullable, name.starts_with("o_"), "{name}");
    }
}

/// `name: TYPE` or `name: TYPE NOT NULL`, each column as the database says
/// it made it.
fn live_columns(db: &Database, table: &str) -> orm::Result<Vec<String>> {
    let columns: Vec<(String, String, bool)> = if is_postgres(db) {
        db.session().sql_values(
            "SELECT column_name::text, upper(data_type::text), is_nullable = 'NO' \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )?
    } else {
        db.session().sql_values(
            "SELECT name, type, \"notnull\" FROM pragma_table_info($1) ORDER BY cid",
            &[&table],
        )?
    };
    Ok(columns
        .into_iter()
        .map(|(name, ty, not_null)| {
            format!("{name}: {ty}{}", if not_null { " NOT NULL" } else { "" })
        })
        .collect())
}

const AWKWARD_STRINGS: &[&str] = &[
    "O'Brien",
    "''",
    "\"double quoted\"",
    "semi; colon;",
    "'); DROP TABLE notes; --",
    "a\0b",
    "\0",
    "a",
    "Zoë ✓ 漢字 🦀",
    "\u{202e}right-to-left",
    "",
    "back\\slash",
    "line\nbreak\ttab\r",
    "%_ wildcards",
    "?1 ?2 :name @name $name",
];

/// An error and each of its sources, one after another.
fn sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(" / ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The awkward strings `db` can hold: PostgreSQL's text holds no NUL
/// character (see `a_nul_character_in_text_...`).
fn awkward_strings(db: &Database) -> Vec<&'static str> {
    AWKWARD_STRINGS
        .iter()
        .copied()
        .filter(|s| !(is_postgres(db) && s.contains('\0')))
        .collect()
}

fn measurement_rows(db: &Database) -> orm::Result<Vec<(String, f64)>> {
    let session = db.session();
    let rows = session
        .query::<Measurement>()
        .order_by(Measurement::ID.asc())
        .all()?;
    rows.iter()
        .map(|m| {
            let m = m.read()?;
            Ok((m.label.clone(), m.value))
        })
        .collect()
}

fn assert_not_a_number(error: &Error, column: &str) {
    match error {
        Error::NotANumber { table, column: c } => {
            assert_eq!(table, "measurements");
            assert_eq!(c, column);
        }
        other => panic!("expected NotANumber, got {other:?}"),
    }
}

/// Fills `db` with a `readings` table, made by hand, holding one row per
/// way a value can fail to fit `Reading` (a NULL label, a `small` beyond a
/// `u8`), and one good row (10).
fn readings(db: &Database) -> orm::Result<()> {
    db.execute_batch(
        "CREATE TABLE readings (id BIGINT PRIMARY KEY, label TEXT, count BIGINT, small INTEGER);
         INSERT INTO readings VALUES (7, NULL, 1, 1);
         INSERT INTO readings VALUES (9, 'too big for u8', 1, 300);
         INSERT INTO readings VALUES (10, 'good', 1, 1);",
    )
}

fn assert_conversion(error: &Error, column: &str, key: &str) {
    match error {
        Error::Conversion {
            table,
            column: c,
            key: k,
            ..
        } => {
            assert_eq!(table, "readings");
            assert_eq!(c, column);
            assert_eq!(k, key);
        }
        other => panic!("expected Conversion, got {other:?}"),
    }
}

backend_tests! {
    fn every_type_round_trips_at_its_lowest_values(db) -> orm::Result<()> {
        round_trip(&db, lows())
    }

    fn every_type_round_trips_at_its_highest_values(db) -> orm::Result<()> {
        round_trip(&db, highs())
    }

    fn every_option_round_trips_as_none(db) -> orm::Result<()> {
        round_trip(&db, nones())
    }

    fn ordinary_values_round_trip(db) -> orm::Result<()> {
        round_trip(&db, Everything {
            a_i8: -7,
            a_i16: 1234,
            a_i32: -123_456,
            a_i64: 9_007_199_254_740_993, // not representable as f64
            a_u8: 200,
            a_u16: 40_000,
            a_u32: 3_000_000_000,
            a_f32: 3.25,
            a_f64: 0.1,
            a_string: "hello".into(),
            a_bytes: vec![0xde, 0xad, 0xbe, 0xef],
            o_f32: Some(-1.5),
            o_f64: Some(-2.0e-300),
            ..lows()
        })
    }

    fn infinite_floats_round_trip(db) -> orm::Result<()> {
        round_trip(&db, Everything {
            a_f32: f32::INFINITY,
            a_f64: f64::NEG_INFINITY,
            o_f32: Some(f32::NEG_INFINITY),
            o_f64: Some(f64::INFINITY),
            ..lows()
        })
    }

    fn the_created_columns_have_the_backends_types_for_the_rust_types(db) -> orm::Result<()> {
        db.create_all::<Everything>()?;
        let expected: Vec<String> = Everything::TABLE
            .columns
            .iter()
            .map(|c| {
                let ty = if is_postgres(&db) {
                    c.postgres_type.expect("a PostgreSQL type")
                } else {
                    c.sql_type
                };
                // The key is NOT NULL on PostgreSQL; SQLite's rowid alias
                // does not say so.
                let rowid = c.primary_key && !is_postgres(&db);
                let not_null = !c.nullable && !rowid;
                format!("{}: {ty}{}", c.name, if not_null { " NOT NULL" } else { "" })
            })
            .collect();
        // The types the plain test above pins to the Rust types, as the
        // database made them.
        assert_eq!(live_columns(&db, "everything")?, expected);
        Ok(())
    }

    fn strings_with_quotes_semicolons_nul_and_unicode_round_trip(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let strings = awkward_strings(&db);
        let writer = db.session();
        for text in &strings {
            let note = writer.add(Note::new(*text));
            note.write()?.tag = Some(format!("[{text}]"));
        }
        writer.commit()?;

        let reader = db.session();
        let notes = reader.query::<Note>().order_by(Note::ID.asc()).all()?;
        assert_eq!(notes.len(), strings.len());
        for (note, text) in notes.iter().zip(&strings) {
            let note = note.read()?;
            assert_eq!(note.text, *text);
            assert_eq!(note.tag.as_deref(), Some(format!("[{text}]").as_str()));
        }
        Ok(())
    }

    fn a_nul_character_in_text_round_trips_on_sqlite_and_is_refused_on_postgres(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let session = db.session();
        session.add(Note::new("before"));
        session.commit()?;
        let nul = session.add(Note::new("a\0b"));
        if is_postgres(&db) {
            // PostgreSQL's text cannot hold the character: the flush fails
            // and writes nothing; fixed, the object flushes.
            let error = session.commit().expect_err("text holds no NUL on PostgreSQL");
            // The server's reason is in the error's sources (its text says
            // only `postgres: db error`).
            let reasons = sources(&error);
            assert!(
                reasons.contains(r#"invalid byte sequence for encoding "UTF8": 0x00"#),
                "{reasons}"
            );
            let texts: Vec<String> = db.session().sql_values("SELECT text FROM notes ORDER BY id", &[])?;
            assert_eq!(texts, ["before"]);
            nul.write()?.text = "a b".to_owned();
            session.commit()?;
        } else {
            session.commit()?;
        }
        let texts: Vec<String> = db.session().sql_values("SELECT text FROM notes ORDER BY id", &[])?;
        let expected = if is_postgres(&db) { "a b" } else { "a\0b" };
        assert_eq!(texts, ["before", expected]);
        Ok(())
    }

    fn a_filter_on_an_awkward_string_finds_exactly_its_row(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let strings = awkward_strings(&db);
        let writer = db.session();
        for text in &strings {
            writer.add(Note::new(*text));
        }
        writer.commit()?;

        let reader = db.session();
        for text in &strings {
            let by_query = reader.query::<Note>().filter(Note::TEXT.eq(*text)).one()?;
            assert_eq!(by_query.read()?.text, *text);
            let by_sql = reader.sql::<Note>("SELECT * FROM notes WHERE text = $1", &[text])?;
            assert_eq!(by_sql, [by_query]);
        }
        assert_eq!(reader.query::<Note>().count()?, strings.len());
        Ok(())
    }

    fn an_update_to_an_awkward_string_round_trips(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let session = db.session();
        let note = session.add(Note::new("plain"));
        session.commit()?;
        for text in awkward_strings(&db) {
            note.write()?.text = text.to_owned();
            session.commit()?;
            let reader = db.session();
            assert_eq!(reader.get::<Note>(1)?.read()?.text, text);
        }
        Ok(())
    }

    fn extreme_integer_keys_round_trip(db) -> orm::Result<()> {
        db.create_all::<Note>()?;
        let writer = db.session();
        for id in [i64::MIN, -1, 1, i64::MAX] {
            writer.add(Note {
                id,
                text: format!("key {id}"),
                tag: None,
            });
        }
        writer.commit()?;
        let reader = db.session();
        for id in [i64::MIN, -1, 1, i64::MAX] {
            let note = reader.get::<Note>(id)?;
            assert_eq!(note.read()?.id, id);
            assert_eq!(note.read()?.text, format!("key {id}"));
        }
        let ordered = reader.query::<Note>().order_by(Note::ID.asc()).all()?;
        let ids: Vec<i64> = ordered
            .iter()
            .map(|n| Ok(n.read()?.id))
            .collect::<orm::Result<_>>()?;
        assert_eq!(ids, [i64::MIN, -1, 1, i64::MAX]);
        Ok(())
    }

    fn text_keys_round_trip(db) -> orm::Result<()> {
        db.create_all::<Code>()?;
        let codes: Vec<&str> = ["it's", "Zoë", "a\0b"]
            .into_iter()
            .filter(|c| !(is_postgres(&db) && c.contains('\0')))
            .collect();
        let writer = db.session();
        for code in &codes {
            writer.add(Code::new(*code, 1));
        }
        writer.commit()?;
        let reader = db.session();
        for code in &codes {
            assert_eq!(reader.get::<Code>((*code).to_owned())?.read()?.code, *code);
        }
        Ok(())
    }

    fn inserting_nan_is_an_error_naming_table_and_column_and_writes_nothing(db) -> orm::Result<()> {
        db.create_all::<Measurement>()?;
        let session = db.session();
        session.add(Measurement::new("fine", 1.5));
        let broken = session.add(Measurement::new("broken", f64::NAN));

        let error = session.commit().expect_err("NaN cannot be stored");

        assert_not_a_number(&error, "value");
        assert!(
            error.to_string().contains("`measurements`.`value`"),
            "{error}"
        );
        assert!(
            measurement_rows(&db)?.is_empty(),
            "the flush wrote nothing, the valid row included"
        );
        broken.write()?.value = 2.5;
        session.commit()?;
        assert_eq!(
            measurement_rows(&db)?,
            [("fine".to_owned(), 1.5), ("broken".to_owned(), 2.5)]
        );
        Ok(())
    }

    fn updating_to_nan_is_an_error_and_leaves_the_row(db) -> orm::Result<()> {
        db.create_all::<Measurement>()?;
        let session = db.session();
        let m = session.add(Measurement::new("m", 1.5));
        session.commit()?;
        m.write()?.value = f64::NAN;

        let error = session.commit().expect_err("NaN cannot be stored");

        assert_not_a_number(&error, "value");
        assert_eq!(measurement_rows(&db)?, [("m".to_owned(), 1.5)]);
        m.write()?.value = 3.0;
        session.commit()?;
        assert_eq!(measurement_rows(&db)?, [("m".to_owned(), 3.0)]);
        Ok(())
    }

    fn an_optional_f32_nan_is_an_error_naming_its_column(db) -> orm::Result<()> {
        db.create_all::<Measurement>()?;
        let session = db.session();
        let m = session.add(Measurement::new("m", 1.5));
        m.write()?.spread = Some(f32::NAN);
        let error = session.commit().expect_err("NaN cannot be stored");
        assert_not_a_number(&error, "spread");
        assert!(measurement_rows(&db)?.is_empty());
        Ok(())
    }

    fn comparing_with_nan_is_an_error_not_an_empty_result(db) -> orm::Result<()> {
        db.create_all::<Measurement>()?;
        let session = db.session();
        let error = session
            .query::<Measurement>()
            .filter(Measurement::VALUE.eq(f64::NAN))
            .all()
            .expect_err("NaN compares with nothing");
        assert_not_a_number(&error, "value");
        Ok(())
    }

    fn null_in_a_non_option_field_is_an_error_naming_table_column_and_key(db) -> orm::Result<()> {
        readings(&db)?;
        let session = db.session();
        let error = session.get::<Reading>(7).expect_err("label is NULL");
        assert_conversion(&error, "label", "7");
        match &error {
            Error::Conversion { detail, .. } => assert!(detail.contains("NULL"), "{detail}"),
            other => panic!("expected Conversion, got {other:?}"),
        }
        assert_eq!(
            error.to_string(),
            "cannot read `readings`.`label` of the row with key 7: NULL in a field that is not an Option"
        );
        assert!(session.is_empty(), "nothing half-read was kept");
        Ok(())
    }

    fn text_in_an_integer_field_is_an_error_naming_table_column_and_key(db) -> orm::Result<()> {
        // A table whose `count` another program made TEXT (on SQLite, any
        // column can hold text; on PostgreSQL, only a text column can).
        db.execute_batch(
            "CREATE TABLE readings (id BIGINT PRIMARY KEY, label TEXT, count TEXT, small INTEGER);
             INSERT INTO readings VALUES (8, 'text in count', 'abc', 1);
             INSERT INTO readings VALUES (11, 'real in count', '1.5', 1);",
        )?;
        let session = db.session();
        let error = session
            .query::<Reading>()
            .filter(Reading::ID.eq(8))
            .all()
            .expect_err("count holds text");
        assert_conversion(&error, "count", "8");
        match &error {
            Error::Conversion { detail, .. } => {
                assert_eq!(detail, "found a value of type TEXT, expected INTEGER");
            }
            other => panic!("expected Conversion, got {other:?}"),
        }
        let error = session
            .sql::<Reading>(
                "SELECT id, label, CAST(count AS DOUBLE PRECISION) AS count, small FROM readings WHERE id = 11",
                &[],
            )
            .expect_err("count holds a real");
        assert_conversion(&error, "count", "11");
        match &error {
            Error::Conversion { detail, .. } => {
                assert_eq!(detail, "found a value of type REAL, expected INTEGER");
            }
            other => panic!("expected Conversion, got {other:?}"),
        }
        assert!(session.is_empty());
        Ok(())
    }

    fn an_integer_out_of_the_fields_range_is_an_error_naming_table_column_and_key(db) -> orm::Result<()> {
        readings(&db)?;
        let session = db.session();
        let error = session
            .get::<Reading>(9)
            .expect_err("300 does not fit a u8");
        assert_conversion(&error, "small", "9");
        Ok(())
    }

    fn the_session_stays_usable_after_a_conversion_error(db) -> orm::Result<()> {
        readings(&db)?;
        let session = db.session();
        assert!(session.query::<Reading>().all().is_err());
        let good = session.get::<Reading>(10)?;
        assert_eq!(good.read()?.label, "good");
        assert_eq!(session.len(), 1);
        Ok(())
    }

    fn a_conversion_error_renders_a_text_key_as_sql(db) -> orm::Result<()> {
        db.execute_batch(
            "CREATE TABLE codes (code TEXT PRIMARY KEY, size BIGINT);
             INSERT INTO codes VALUES ('it''s', NULL);",
        )?;
        let session = db.session();
        let error = session
            .get::<Code>("it's".to_owned())
            .expect_err("size is NULL");
        match &error {
            Error::Conversion {
                table, column, key, ..
            } => {
                assert_eq!(table, "codes");
                assert_eq!(column, "size");
                assert_eq!(key, "'it''s'");
            }
            other => panic!("expected Conversion, got {other:?}"),
        }
        Ok(())
    }
}
