//! The ecosystem's column types (features `chrono`, `time`, `uuid`,
//! `serde_json`): plain field types with no `sql_type`, a `Uuid` as a
//! primary key that `BelongsTo`, `HasMany` and preload go through, values
//! that round-trip and compare in queries, and stored text that is not one
//! of them is a conversion error naming table, column and key.
#![cfg(all(
    feature = "chrono",
    feature = "time",
    feature = "uuid",
    feature = "serde_json"
))]

use crate::common;

use common::backend::is_postgres;

use common::Fixture;
use orm::Error;
use orm::chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use orm::prelude::*;
use orm::uuid::Uuid;

#[derive(Model, Debug)]
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: Uuid,
    pub opened: DateTime<Utc>,
    pub birthday: NaiveDate,
    pub last_seen: Option<NaiveDateTime>,
    pub audited: orm::time::OffsetDateTime,
    pub settings: orm::serde_json::Value,
    #[orm(back_populates = "account")]
    pub events: HasMany<Event>,
}

#[derive(Model, Debug)]
#[orm(table = "events")]
pub struct Event {
    #[orm(primary_key)]
    pub id: i64,
    pub what: String,
    #[orm(back_populates = "events")]
    pub account: BelongsTo<Account>,
}

fn account(id: Uuid, day: u32) -> Account {
    Account {
        id,
        opened: Utc
            .with_ymd_and_hms(2024, 5, day, 12, 30, 0)
            .single()
            .expect("a valid date"),
        birthday: NaiveDate::from_ymd_opt(1990, 1, day).expect("a valid date"),
        last_seen: None,
        audited: orm::time::OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::from(day))
            .expect("a valid instant"),
        settings: orm::serde_json::json!({ "theme": "dark", "day": day }),
        events: HasMany::new(),
    }
}

#[test]
fn the_types_are_declared_without_sql_type() {
    let ddl = Account::ddl();
    assert!(ddl.contains(r#""id" BLOB NOT NULL PRIMARY KEY"#), "{ddl}");
    assert!(ddl.contains(r#""opened" TEXT NOT NULL"#), "{ddl}");
    assert!(
        ddl.contains(r#""last_seen" TEXT,"#)
            || ddl.contains(
                r#""last_seen" TEXT
"#
            ),
        "{ddl}"
    );
    assert!(Event::ddl().contains(r#""account_id" BLOB NOT NULL REFERENCES "accounts""#));
}

backend_tests! {
fn the_types_round_trip_and_are_the_backends_own(db) -> orm::Result<()> {
    db.create_all::<(Account, Event)>()?;
    let fx = Holder { db: &db };
    let id = Uuid::from_u128(0x1234_5678_9abc_def0_1234_5678_9abc_def0);
    let session = fx.db.session();
    let ann = session.add(account(id, 1));
    let event = session.add(Event::new("opened".to_owned()));
    event.read()?.account.set(&ann)?;
    session.commit()?;
    assert_eq!(event.read()?.account.key(), Some(id));

    let again = fx.db.session();
    let loaded = again.get::<Account>(id)?;
    let expected = account(id, 1);
    {
        let a = loaded.read()?;
        assert_eq!(a.opened, expected.opened);
        assert_eq!(a.birthday, expected.birthday);
        assert_eq!(a.last_seen, None);
        assert_eq!(a.audited, expected.audited);
        assert_eq!(a.settings["theme"], "dark");
    }
    // The database reads the stored forms: dates as dates, JSON as JSON
    // (SQLite's functions over text; PostgreSQL's own types).
    let stored: Vec<(String, String)> = again.sql_values(
        if is_postgres(&db) {
            "SELECT to_char(opened AT TIME ZONE 'UTC', 'YYYY-MM-DD'), settings ->> 'theme' FROM accounts"
        } else {
            "SELECT date(opened), json_extract(settings, '$.theme') FROM accounts"
        },
        &[],
    )?;
    assert_eq!(stored, [("2024-05-01".to_owned(), "dark".to_owned())]);
    if is_postgres(&db) {
        let types: Vec<(String, String)> = again.sql_values(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'accounts' ORDER BY ordinal_position",
            &[],
        )?;
        let types: Vec<(&str, &str)> = types.iter().map(|(c, t)| (c.as_str(), t.as_str())).collect();
        assert_eq!(
            types,
            [
                ("id", "uuid"),
                ("opened", "timestamp with time zone"),
                ("birthday", "date"),
                ("last_seen", "timestamp without time zone"),
                ("audited", "timestamp with time zone"),
                ("settings", "jsonb"),
            ]
        );
    }
    Ok(())
}

fn a_uuid_key_serves_lazy_loads_preloads_and_queries(db) -> orm::Result<()> {
    db.create_all::<(Account, Event)>()?;
    let fx = Holder { db: &db };
    let session = fx.db.session();
    let ids: Vec<Uuid> = (1..=3).map(|n| Uuid::from_u128(n << 64 | 0xff)).collect();
    for (n, id) in ids.iter().enumerate() {
        let a = session.add(account(*id, n as u32 + 1));
        for what in ["a", "b"] {
            let e = session.add(Event::new(what.to_owned()));
            a.read()?.events.push(&e)?;
        }
    }
    session.commit()?;

    let fresh = fx.db.session();
    let recorder = fx.db.recorder();
    let accounts = fresh.query::<Account>().preload(Account::EVENTS).all()?;
    assert_eq!(recorder.count(), 2, "one query, one preload");
    for a in &accounts {
        assert_eq!(a.read()?.events.load()?.len(), 2);
    }
    let lazy = fx.db.session();
    let second = lazy.get::<Account>(ids[1])?;
    assert_eq!(second.read()?.events.load()?.len(), 2);
    let event = lazy.get::<Event>(1)?;
    assert_eq!(event.read()?.account.load()?.read()?.id, ids[0]);

    let after = Utc
        .with_ymd_and_hms(2024, 5, 2, 0, 0, 0)
        .single()
        .expect("a valid date");
    let later = lazy
        .query::<Account>()
        .filter(Account::OPENED.gt(after))
        .all()?;
    assert_eq!(later.len(), 2, "dates compare as they sort");
    Ok(())
}
}

/// The test's database under the name the tests use.
struct Holder<'d> {
    db: &'d Database,
}

#[test]
fn stored_text_that_is_not_the_type_is_a_conversion_error_naming_the_row() -> orm::Result<()> {
    let fx = Fixture::new::<(Account, Event)>("ecosystem-bad");
    fx.seed(
        "INSERT INTO accounts VALUES (x'00000000000000000000000000000001', 'last tuesday', '1990-01-01', NULL, '2024-01-01T00:00:00Z', '{}')",
    );
    let session = fx.db.session();
    match session.query::<Account>().all() {
        Err(Error::Conversion { table, column, .. }) => {
            assert_eq!((table.as_str(), column.as_str()), ("accounts", "opened"));
        }
        other => panic!("expected a conversion error, got {other:?}"),
    }
    Ok(())
}
