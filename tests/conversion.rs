//! Every read path reports a value that does not fit its field as
//! `Error::Conversion` naming the table, the column and the row's key
//! (design point 16): text that is not UTF-8 read into a `String`, a real
//! too large for an `f32`, an integer beyond an `i32` or a `u8`, NULL in a
//! field that is not an `Option`. The paths: `get`, `query().all()` with
//! and without filters, raw SQL, lazy loads of `BelongsTo` and `HasMany`,
//! preload of both, and `refresh`.
//!
//! The bad values are written by hand with raw SQL into tables made by
//! hand, as another program (or a damaged file) would leave them.

use crate::common;

use common::backend::is_postgres;

use orm::prelude::*;
use orm::{Database, Error};

#[derive(Model, Debug)]
#[orm(table = "sensors")]
pub struct Sensor {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "sensor")]
    pub readings: HasMany<Reading>,
}

#[derive(Model, Debug)]
#[orm(table = "readings")]
pub struct Reading {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    pub ratio: f32,
    pub small: u8,
    pub medium: i32,
    #[orm(back_populates = "readings")]
    pub sensor: BelongsTo<Sensor>,
}

/// Text that is not UTF-8, as SQLite keeps it. A PostgreSQL server checks
/// the text it is given against its encoding, so no such value reaches orm
/// there (see `a_conversion_error_says_what_did_not_fit`).
const NOT_UTF8: &str = "CAST(x'ff' AS TEXT)";

/// Each way a value can fail to fit `Reading`: the column, the SQL that
/// writes the value, and what the conversion error says of it.
const BAD_VALUES: [(&str, &str, &str); 5] = [
    ("label", NOT_UTF8, "the text is not valid UTF-8"),
    ("label", "NULL", "NULL in a field that is not an Option"),
    ("ratio", "1e300", "is out of range for the field's type"),
    ("small", "300", "300 is out of range"),
    ("medium", "3000000000", "3000000000 is out of range"),
];

/// The bad values `db` can hold.
fn bad_values(db: &Database) -> Vec<(&'static str, &'static str, &'static str)> {
    BAD_VALUES
        .into_iter()
        .filter(|(_, value, _)| !(is_postgres(db) && *value == NOT_UTF8))
        .collect()
}

/// Fills `db` afresh with sensor 1 ("good"), with readings 10 (good) and
/// 11, whose `column` holds `value`; sensor 2, whose name does not fit a
/// `String` (text that is not UTF-8 on SQLite, NULL on PostgreSQL), with
/// reading 12 (good). Tables made by hand, without the NOT NULL the models
/// would declare, and a `ratio` that holds more than an `f32`.
fn fill(db: &Database, column: &str, value: &str) -> orm::Result<()> {
    let bad_name = if is_postgres(db) {
        "NULL"
    } else {
        "CAST(x'c328' AS TEXT)"
    };
    db.execute_batch(&format!(
        "DROP TABLE IF EXISTS readings;
         DROP TABLE IF EXISTS sensors;
         CREATE TABLE sensors (id BIGINT PRIMARY KEY, name TEXT);
         CREATE TABLE readings (id BIGINT PRIMARY KEY, label TEXT, ratio DOUBLE PRECISION,
             small INTEGER, medium BIGINT, sensor_id BIGINT REFERENCES sensors (id));
         INSERT INTO sensors VALUES (1, 'good'), (2, {bad_name});
         INSERT INTO readings VALUES (10, 'ok', 0.5, 1, 1, 1), (11, 'ok', 0.5, 1, 1, 1),
             (12, 'ok', 0.5, 1, 1, 2);
         UPDATE readings SET {column} = {value} WHERE id = 11;"
    ))
}

/// `result` failed with a conversion error naming `table`, `column`, `key`.
#[track_caller]
fn assert_conversion<T: std::fmt::Debug>(
    result: orm::Result<T>,
    table: &str,
    column: &str,
    key: &str,
    path: &str,
) {
    match result {
        Err(Error::Conversion {
            table: t,
            column: c,
            key: k,
            detail,
        }) => {
            assert_eq!(
                (t.as_str(), c.as_str(), k.as_str()),
                (table, column, key),
                "{path}: {detail}"
            );
        }
        other => panic!("{path}: expected a conversion error, got {other:?}"),
    }
}

backend_tests! {
    fn get_query_filters_and_raw_sql_name_table_column_and_key(db) -> orm::Result<()> {
        for (column, value, _) in bad_values(&db) {
            fill(&db, column, value)?;
            let what = |path: &str| format!("{path} with {column} = {value}");
            let session = db.session();
            assert_conversion(
                session.get::<Reading>(11),
                "readings",
                column,
                "11",
                &what("get"),
            );
            assert_conversion(
                session.query::<Reading>().all(),
                "readings",
                column,
                "11",
                &what("query"),
            );
            assert_conversion(
                session
                    .query::<Reading>()
                    .filter(Reading::ID.gt(10).and(Reading::ID.lt(12)))
                    .all(),
                "readings",
                column,
                "11",
                &what("filtered query"),
            );
            assert_conversion(
                session
                    .query::<Reading>()
                    .filter(Reading::ID.eq(11))
                    .first(),
                "readings",
                column,
                "11",
                &what("first"),
            );
            assert_conversion(
                session.sql::<Reading>("SELECT * FROM readings WHERE id >= $1", &[&11]),
                "readings",
                column,
                "11",
                &what("raw SQL"),
            );
            assert!(
                session.get::<Reading>(10).is_ok() && session.get::<Reading>(12).is_ok(),
                "the good rows still read"
            );
            // Nothing of the bad row was kept (whichever good rows the query
            // without ORDER BY read before it): the session holds the two good
            // rows, and a get of the bad one asks the database again.
            assert_eq!(session.len(), 2, "the good rows only");
            let recorder = db.recorder();
            assert_conversion(
                session.get::<Reading>(11),
                "readings",
                column,
                "11",
                &what("get again"),
            );
            assert_eq!(recorder.count(), 1, "not in the identity map");
        }
        Ok(())
    }

    fn lazy_loads_and_preloads_of_children_name_table_column_and_key(db) -> orm::Result<()> {
        for (column, value, _) in bad_values(&db) {
            fill(&db, column, value)?;
            let what = |path: &str| format!("{path} with {column} = {value}");
            let recorder = db.recorder();

            let session = db.session();
            let sensor = session.get::<Sensor>(1)?;
            recorder.clear();
            assert_conversion(
                sensor.read()?.readings.load(),
                "readings",
                column,
                "11",
                &what("lazy HasMany"),
            );
            assert_eq!(recorder.count(), 1, "one SELECT, then the error");
            assert!(
                !sensor.read()?.readings.is_loaded(),
                "a failed load leaves the collection unloaded"
            );

            let session = db.session();
            assert_conversion(
                session
                    .query::<Sensor>()
                    .filter(Sensor::ID.eq(1))
                    .preload(Sensor::READINGS)
                    .all(),
                "readings",
                column,
                "11",
                &what("preload HasMany"),
            );
        }
        Ok(())
    }

    fn lazy_loads_and_preloads_of_a_parent_name_table_column_and_key(db) -> orm::Result<()> {
        fill(&db, "label", "'ok'")?;
        let session = db.session();
        let reading = session.get::<Reading>(12)?;
        assert_conversion(
            reading.read()?.sensor.load(),
            "sensors",
            "name",
            "2",
            "lazy BelongsTo",
        );
        assert_conversion(
            session
                .query::<Reading>()
                .filter(Reading::ID.eq(12))
                .preload(Reading::SENSOR)
                .all(),
            "sensors",
            "name",
            "2",
            "preload BelongsTo",
        );
        let session = db.session();
        assert_conversion(
            session.get::<Sensor>(2),
            "sensors",
            "name",
            "2",
            "get of the parent",
        );
        Ok(())
    }

    fn refresh_of_a_row_changed_into_a_bad_value_names_it_and_keeps_the_object(db) -> orm::Result<()> {
        for (column, value, _) in bad_values(&db) {
            fill(&db, "label", "'ok'")?;
            let session = db.session();
            let reading = session.get::<Reading>(11)?;
            db.execute_batch(&format!(
                "UPDATE readings SET {column} = {value} WHERE id = 11"
            ))?;
            assert_conversion(
                session.refresh(&reading),
                "readings",
                column,
                "11",
                &format!("refresh with {column} = {value}"),
            );
            let kept = reading.read()?;
            assert_eq!(
                (kept.label.as_str(), kept.ratio, kept.small, kept.medium),
                ("ok", 0.5, 1, 1),
                "the object is as it was"
            );
        }
        Ok(())
    }

    fn a_conversion_error_says_what_did_not_fit(db) -> orm::Result<()> {
        for (column, value, detail) in bad_values(&db) {
            fill(&db, column, value)?;
            let error = db
                .session()
                .get::<Reading>(11)
                .expect_err("the row does not fit");
            let message = error.to_string();
            assert!(
                message.starts_with(&format!(
                    "cannot read `readings`.`{column}` of the row with key 11: "
                )) && message.contains(detail),
                "{message}"
            );
        }
        if is_postgres(&db) {
            // Text that is not UTF-8 never gets into a PostgreSQL table.
            fill(&db, "label", "'ok'")?;
            let refused = db.execute_batch(
                "UPDATE readings SET label = convert_from('\\xff'::bytea, 'UTF8') WHERE id = 11",
            );
            assert!(refused.is_err(), "{refused:?}");
            assert_eq!(
                db.session().get::<Reading>(11)?.read()?.label,
                "ok",
                "the row as it was"
            );
        }
        Ok(())
    }
}
