//! Column types: every supported Rust type round-trips unchanged, strings
//! included whatever they contain; values that cannot be written (NaN) or
//! read (NULL or another type in a field) are typed errors naming where.

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
fn round_trip(value: Everything) -> orm::Result<()> {
    let db = Database::in_memory()?;
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
fn every_type_round_trips_at_its_lowest_values() -> orm::Result<()> {
    round_trip(lows())
}

#[test]
fn every_type_round_trips_at_its_highest_values() -> orm::Result<()> {
    round_trip(highs())
}

#[test]
fn every_option_round_trips_as_none() -> orm::Result<()> {
    round_trip(nones())
}

#[test]
fn ordinary_values_round_trip() -> orm::Result<()> {
    round_trip(Everything {
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

#[test]
fn infinite_floats_round_trip() -> orm::Result<()> {
    round_trip(Everything {
        a_f32: f32::INFINITY,
        a_f64: f64::NEG_INFINITY,
        o_f32: Some(f32::NEG_INFINITY),
        o_f64: Some(f64::INFINITY),
        ..lows()
    })
}

#[test]
fn column_sql_types_follow_the_rust_types() {
    let types: Vec<(&str, &str, bool)> = Everything::TABLE
        .columns
        .iter()
        .map(|c| (c.name, c.sql_type, c.nullable))
        .collect();
    let expected_type = |name: &str| {
        let base = &name[2..];
        match base {
            "f32" | "f64" => "REAL",
            "string" => "TEXT",
            "bytes" => "BLOB",
            _ => "INTEGER",
        }
    };
    for (name, sql_type, nullable) in &types[1..] {
        assert_eq!(*sql_type, expected_type(name), "{name}");
        assert_eq!(*nullable, name.starts_with("o_"), "{name}");
    }
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

#[test]
fn strings_with_quotes_semicolons_nul_and_unicode_round_trip() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Note>()?;
    let writer = db.session();
    for text in AWKWARD_STRINGS {
        let note = writer.add(Note::new(*text));
        note.write()?.tag = Some(format!("[{text}]"));
    }
    writer.commit()?;

    let reader = db.session();
    let notes = reader.query::<Note>().order_by(Note::ID.asc()).all()?;
    assert_eq!(notes.len(), AWKWARD_STRINGS.len());
    for (note, text) in notes.iter().zip(AWKWARD_STRINGS) {
        let note = note.read()?;
        assert_eq!(note.text, *text);
        assert_eq!(note.tag.as_deref(), Some(format!("[{text}]").as_str()));
    }
    Ok(())
}

#[test]
fn a_filter_on_an_awkward_string_finds_exactly_its_row() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Note>()?;
    let writer = db.session();
    for text in AWKWARD_STRINGS {
        writer.add(Note::new(*text));
    }
    writer.commit()?;

    let reader = db.session();
    for text in AWKWARD_STRINGS {
        let by_query = reader.query::<Note>().filter(Note::TEXT.eq(*text)).one()?;
        assert_eq!(by_query.read()?.text, *text);
        let by_sql = reader.sql::<Note>("SELECT * FROM notes WHERE text = ?1", &[text])?;
        assert_eq!(by_sql, [by_query]);
    }
    assert_eq!(reader.query::<Note>().count()?, AWKWARD_STRINGS.len());
    Ok(())
}

#[test]
fn an_update_to_an_awkward_string_round_trips() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Note>()?;
    let session = db.session();
    let note = session.add(Note::new("plain"));
    session.commit()?;
    for text in AWKWARD_STRINGS {
        note.write()?.text = (*text).to_owned();
        session.commit()?;
        let reader = db.session();
        assert_eq!(reader.get::<Note>(1)?.read()?.text, *text);
    }
    Ok(())
}

#[test]
fn extreme_integer_keys_round_trip() -> orm::Result<()> {
    let db = Database::in_memory()?;
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

#[test]
fn text_keys_round_trip() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Code>()?;
    let writer = db.session();
    for code in ["it's", "Zoë", "a\0b"] {
        writer.add(Code::new(code, 1));
    }
    writer.commit()?;
    let reader = db.session();
    for code in ["it's", "Zoë", "a\0b"] {
        assert_eq!(reader.get::<Code>(code.to_owned())?.read()?.code, code);
    }
    Ok(())
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

#[test]
fn inserting_nan_is_an_error_naming_table_and_column_and_writes_nothing() -> orm::Result<()> {
    let db = Database::in_memory()?;
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

#[test]
fn updating_to_nan_is_an_error_and_leaves_the_row() -> orm::Result<()> {
    let db = Database::in_memory()?;
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

#[test]
fn an_optional_f32_nan_is_an_error_naming_its_column() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<Measurement>()?;
    let session = db.session();
    let m = session.add(Measurement::new("m", 1.5));
    m.write()?.spread = Some(f32::NAN);
    let error = session.commit().expect_err("NaN cannot be stored");
    assert_not_a_number(&error, "spread");
    assert!(measurement_rows(&db)?.is_empty());
    Ok(())
}

#[test]
fn comparing_with_nan_is_an_error_not_an_empty_result() -> orm::Result<()> {
    let db = Database::in_memory()?;
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

/// A database whose `readings` table, made by hand, holds one row per way
/// a value can fail to fit `Reading`, and one good row (10).
fn readings() -> orm::Result<Database> {
    let db = Database::in_memory()?;
    db.execute_batch(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, label TEXT, count INTEGER, small INTEGER);
         INSERT INTO readings VALUES (7, NULL, 1, 1);
         INSERT INTO readings VALUES (8, 'text in count', 'abc', 1);
         INSERT INTO readings VALUES (9, 'too big for u8', 1, 300);
         INSERT INTO readings VALUES (10, 'good', 1, 1);
         INSERT INTO readings VALUES (11, 'real in count', 1.5, 1);",
    )?;
    Ok(db)
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

#[test]
fn null_in_a_non_option_field_is_an_error_naming_table_column_and_key() -> orm::Result<()> {
    let db = readings()?;
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

#[test]
fn text_in_an_integer_field_is_an_error_naming_table_column_and_key() -> orm::Result<()> {
    let db = readings()?;
    let session = db.session();
    let error = session
        .query::<Reading>()
        .filter(Reading::ID.eq(8))
        .all()
        .expect_err("count holds text");
    assert_conversion(&error, "count", "8");
    let error = session
        .sql::<Reading>("SELECT * FROM readings WHERE id = 11", &[])
        .expect_err("count holds a real");
    assert_conversion(&error, "count", "11");
    assert!(session.is_empty());
    Ok(())
}

#[test]
fn an_integer_out_of_the_fields_range_is_an_error_naming_table_column_and_key() -> orm::Result<()> {
    let db = readings()?;
    let session = db.session();
    let error = session
        .get::<Reading>(9)
        .expect_err("300 does not fit a u8");
    assert_conversion(&error, "small", "9");
    Ok(())
}

#[test]
fn the_session_stays_usable_after_a_conversion_error() -> orm::Result<()> {
    let db = readings()?;
    let session = db.session();
    assert!(session.query::<Reading>().all().is_err());
    let good = session.get::<Reading>(10)?;
    assert_eq!(good.read()?.label, "good");
    assert_eq!(session.len(), 1);
    Ok(())
}

#[test]
fn a_conversion_error_renders_a_text_key_as_sql() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.execute_batch(
        "CREATE TABLE codes (code TEXT PRIMARY KEY, size INTEGER);
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
