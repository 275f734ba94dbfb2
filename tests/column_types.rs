//! Column types of the user's own, derived with `#[derive(orm::ColumnType)]`:
//! an enum stored as TEXT (its variants' names, renamed) or as INTEGER (its
//! discriminants), and newtypes stored as their field. They round-trip
//! through models, compare with their own type in queries, serve as primary
//! keys and as keys a `BelongsTo` points at, and a stored value that is no
//! variant is a conversion error naming table, column, key and value.

use crate::common;

use common::backend::is_postgres;

use orm::prelude::*;
use orm::{Backend, Error};

#[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq, Eq)]
#[orm(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    #[orm(rename = "done")]
    Closed,
}

#[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq, Eq)]
#[orm(repr = "integer")]
pub enum Priority {
    Low = 1,
    Normal,
    Urgent = 10,
}

#[derive(Model, Debug)]
#[orm(table = "tickets")]
pub struct Ticket {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub status: Status,
    pub priority: Priority,
    pub reopened_from: Option<Status>,
}

#[derive(orm::ColumnType, Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

#[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cents(i64);

#[derive(Model, Debug)]
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: AccountId,
    pub name: String,
    #[orm(back_populates = "account")]
    pub orders: HasMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total: Cents,
    #[orm(back_populates = "orders")]
    pub account: BelongsTo<Account>,
}

/// Fills `db` with tickets 1 (open, urgent), 2 (in progress, normal) and 3
/// (closed, low, reopened from closed).
fn tickets(db: &Database) -> orm::Result<()> {
    db.create_all::<Ticket>()?;
    let session = db.session();
    session.add(Ticket::new("login fails", Status::Open, Priority::Urgent));
    session.add(Ticket::new(
        "slow page",
        Status::InProgress,
        Priority::Normal,
    ));
    let closed = session.add(Ticket::new("typo", Status::Closed, Priority::Low));
    closed.write()?.reopened_from = Some(Status::Closed);
    session.commit()
}

fn key(id: &str) -> AccountId {
    AccountId(id.to_owned())
}

#[test]
fn the_ddl_stores_enums_as_text_and_integer_and_newtypes_as_their_field() {
    let ddl = Ticket::ddl();
    assert!(ddl.contains(r#""status" TEXT NOT NULL,"#), "{ddl}");
    assert!(ddl.contains(r#""priority" INTEGER NOT NULL,"#), "{ddl}");
    assert!(ddl.contains("\"reopened_from\" TEXT\n"), "{ddl}");
    let ddl = Account::ddl();
    assert!(ddl.contains(r#""id" TEXT NOT NULL PRIMARY KEY"#), "{ddl}");
    let ddl = Order::ddl();
    assert!(ddl.contains(r#""total" INTEGER NOT NULL,"#), "{ddl}");
    assert!(
        ddl.contains(r#""account_id" TEXT NOT NULL REFERENCES "accounts" ("id")"#),
        "{ddl}"
    );
    // PostgreSQL's types: an integer enum and a newtype of an i64 are BIGINT.
    let ddl = Ticket::TABLE.ddl_for(Backend::Postgres);
    assert!(ddl.contains(r#""status" TEXT NOT NULL,"#), "{ddl}");
    assert!(ddl.contains(r#""priority" BIGINT NOT NULL,"#), "{ddl}");
    assert!(ddl.contains("\"reopened_from\" TEXT\n"), "{ddl}");
    let ddl = Account::TABLE.ddl_for(Backend::Postgres);
    assert!(ddl.contains(r#""id" TEXT NOT NULL PRIMARY KEY"#), "{ddl}");
    let ddl = Order::TABLE.ddl_for(Backend::Postgres);
    assert!(ddl.contains(r#""total" BIGINT NOT NULL,"#), "{ddl}");
    assert!(
        ddl.contains(r#""account_id" TEXT NOT NULL REFERENCES "accounts" ("id")"#),
        "{ddl}"
    );
}

/// Fills `db` with accounts acme (orders 1 and 2) and globex (3 and 4).
fn accounts(db: &Database) -> orm::Result<()> {
    db.create_all::<(Account, Order)>()?;
    let session = db.session();
    for (id, totals) in [("acme", [1500, 250]), ("globex", [900, 40])] {
        let account = session.add(Account::new(key(id), id));
        for total in totals {
            let order = session.add(Order::new(Cents(total)));
            order.read()?.account.set(&account)?;
        }
    }
    session.commit()
}

backend_tests! {
    fn an_enum_stored_as_text_round_trips_and_filters_by_variant(db) -> orm::Result<()> {
        tickets(&db)?;
        let session = db.session();
        let ticket = session.get::<Ticket>(2)?;
        assert_eq!(ticket.read()?.status, Status::InProgress);

        let recorder = db.recorder();
        let open = session
            .query::<Ticket>()
            .filter(Ticket::STATUS.eq(Status::Open))
            .all()?;
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].read()?.title, "login fails");
        let statements = recorder.statements();
        assert_eq!(statements[0].params, [orm::Value::Text("open".to_owned())]);

        let rows = session
            .query::<Ticket>()
            .select((Ticket::TITLE, Ticket::STATUS))
            .order_by(Ticket::ID)
            .all()?;
        assert_eq!(
            rows,
            [
                ("login fails".to_owned(), Status::Open),
                ("slow page".to_owned(), Status::InProgress),
                ("typo".to_owned(), Status::Closed),
            ]
        );
        Ok(())
    }

    fn renamed_variants_store_the_renamed_text(db) -> orm::Result<()> {
        tickets(&db)?;
        let session = db.session();
        let stored = session.sql_values::<String>("SELECT status FROM tickets ORDER BY id", &[])?;
        assert_eq!(stored, ["open", "in_progress", "done"]);
        Ok(())
    }

    fn an_enum_stored_as_integer_round_trips_by_discriminant(db) -> orm::Result<()> {
        tickets(&db)?;
        let session = db.session();
        let stored = session.sql_values::<i64>("SELECT priority FROM tickets ORDER BY id", &[])?;
        assert_eq!(stored, [10, 2, 1], "explicit and implicit discriminants");

        let urgent = session
            .query::<Ticket>()
            .filter(Ticket::PRIORITY.eq(Priority::Urgent))
            .all()?;
        assert_eq!(urgent.len(), 1);
        assert_eq!(urgent[0].read()?.priority, Priority::Urgent);
        let above_low = session
            .query::<Ticket>()
            .select(Ticket::PRIORITY)
            .filter(Ticket::PRIORITY.gt(Priority::Low))
            .order_by(Ticket::ID)
            .all()?;
        assert_eq!(above_low, [Priority::Urgent, Priority::Normal]);
        Ok(())
    }

    fn an_optional_enum_column_holds_null_and_filters_by_variant(db) -> orm::Result<()> {
        tickets(&db)?;
        let session = db.session();
        let reopened = session
            .query::<Ticket>()
            .filter(Ticket::REOPENED_FROM.eq(Status::Closed))
            .all()?;
        assert_eq!(reopened.len(), 1);
        assert_eq!(reopened[0].read()?.reopened_from, Some(Status::Closed));
        let never = session
            .query::<Ticket>()
            .filter(Ticket::REOPENED_FROM.is_null())
            .all()?;
        assert_eq!(never.len(), 2);
        assert_eq!(never[0].read()?.reopened_from, None);
        Ok(())
    }

    fn unknown_stored_text_is_a_conversion_error_naming_the_row_and_value(db) -> orm::Result<()> {
        tickets(&db)?;
        db.execute_batch("INSERT INTO tickets (title, status, priority) VALUES ('odd', 'pending', 1)")?;
        let session = db.session();
        let error = session
            .get::<Ticket>(4)
            .expect_err("`pending` is no status");
        let Error::Conversion {
            table,
            column,
            key,
            detail,
        } = &error
        else {
            panic!("expected a conversion error, got {error:?}");
        };
        assert_eq!(
            (table.as_str(), column.as_str(), key.as_str()),
            ("tickets", "status", "4")
        );
        assert_eq!(
            detail,
            r#""pending" is not a `Status` (stored as one of "open", "in_progress", "done")"#
        );
        assert_eq!(
            error.to_string(),
            r#"cannot read `tickets`.`status` of the row with key 4: "pending" is not a `Status` (stored as one of "open", "in_progress", "done")"#
        );
        Ok(())
    }

    fn unknown_stored_discriminant_is_a_conversion_error_naming_the_row_and_value(db) -> orm::Result<()> {
        tickets(&db)?;
        db.execute_batch("INSERT INTO tickets (title, status, priority) VALUES ('odd', 'open', 3)")?;
        let session = db.session();
        let error = session
            .query::<Ticket>()
            .all()
            .expect_err("3 is no priority");
        assert_eq!(
            error.to_string(),
            "cannot read `tickets`.`priority` of the row with key 4: 3 is not a `Priority` (stored as one of 1, 2, 10)"
        );
        Ok(())
    }

    fn an_enum_read_from_a_value_of_another_sql_type_is_a_conversion_error(db) -> orm::Result<()> {
        tickets(&db)?;
        if is_postgres(&db) {
            // A PostgreSQL column holds values of its own type only: another
            // program made `status` a BYTEA column.
            db.execute_batch(
                r"ALTER TABLE tickets ALTER COLUMN status TYPE BYTEA USING convert_to(status, 'UTF8');
                  INSERT INTO tickets (title, status, priority) VALUES ('odd', '\x04', 1)",
            )?;
        } else {
            // SQLite keeps the bytes in the TEXT column.
            db.execute_batch("INSERT INTO tickets (title, status, priority) VALUES ('odd', x'04', 1)")?;
        }
        let session = db.session();
        match session.get::<Ticket>(4) {
            Err(Error::Conversion { column, detail, .. }) => {
                assert_eq!(column, "status");
                assert_eq!(detail, "found a value of type BLOB, expected TEXT");
            }
            other => panic!("expected a conversion error, got {other:?}"),
        }
        Ok(())
    }

    fn a_newtype_key_serves_get_lazy_loads_and_preloads(db) -> orm::Result<()> {
        accounts(&db)?;
        let stored: Vec<String> = db
            .session()
            .sql_values("SELECT account_id FROM orders ORDER BY id", &[])?;
        assert_eq!(stored, ["acme", "acme", "globex", "globex"]);

        let session = db.session();
        let recorder = db.recorder();
        let acme = session.get::<Account>(key("acme"))?;
        assert_eq!(acme.read()?.name, "acme");
        let orders = acme.read()?.orders.load()?;
        assert_eq!(orders.len(), 2);
        assert_eq!(recorder.count(), 2, "the get, then the lazy load");
        let order = session.get::<Order>(3)?;
        let globex = order.read()?.account.load()?;
        assert_eq!(globex.read()?.id, key("globex"));
        assert_eq!(order.read()?.account.key(), Some(key("globex")));

        let fresh = db.session();
        recorder.clear();
        let all = fresh
            .query::<Account>()
            .preload(Account::ORDERS)
            .order_by(Account::ID)
            .all()?;
        assert_eq!(recorder.count(), 2, "one query, one preload");
        for account in &all {
            assert_eq!(account.read()?.orders.load()?.len(), 2);
        }
        assert_eq!(recorder.count(), 2, "preloaded: no SQL");
        let acme_again = fresh.get::<Account>(key("acme"))?;
        assert_eq!(acme_again, all[0], "one object per key");
        Ok(())
    }

    fn a_newtype_column_compares_with_its_own_type(db) -> orm::Result<()> {
        accounts(&db)?;
        let session = db.session();
        let big = session
            .query::<Order>()
            .select(Order::TOTAL)
            .filter(Order::TOTAL.gt(Cents(500)))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(big, [Cents(1500), Cents(900)]);
        let acme = session
            .query::<Order>()
            .filter(Order::ACCOUNT_ID.eq(key("acme")))
            .all()?;
        assert_eq!(acme.len(), 2);
        Ok(())
    }
}
