//! Bulk UPDATE and DELETE by filter: one statement over every matching
//! row, and an identity map that stays truthful (loaded rows take the new
//! values or become deleted, `ON DELETE` actions followed in memory,
//! rollback undoes it all, a failure changes nothing).

use crate::common;
use crate::common::shop;

use common::backend;
use orm::prelude::*;
use orm::{ConstraintKind, Error, Misuse, State};
use shop::*;

#[derive(Model, Debug)]
#[orm(table = "accounts")]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    pub balance: i64,
    #[orm(version)]
    pub version: i64,
}

#[derive(Model, Debug)]
#[orm(table = "authors")]
pub struct Author {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "author")]
    pub books: HasMany<Book>,
    #[orm(back_populates = "fan_of")]
    pub fans: HasMany<Fan>,
}

#[derive(Model, Debug)]
#[orm(table = "books")]
pub struct Book {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    #[orm(on_delete = "cascade", back_populates = "books")]
    pub author: BelongsTo<Author>,
}

#[derive(Model, Debug)]
#[orm(table = "fans")]
pub struct Fan {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, on_delete = "set null", back_populates = "fans")]
    pub fan_of: BelongsTo<Author>,
}

fn total(db: &Database, id: i64) -> orm::Result<i64> {
    let session = db.session();
    session
        .query::<Order>()
        .filter(Order::ID.eq(id))
        .select(Order::TOTAL_CENTS)
        .one()
}

backend_tests! {
    fn update_rows_changes_every_matching_row_in_one_statement(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let changed = session
            .update_rows::<Order>()
            .filter(Order::TOTAL_CENTS.lt(1500))
            .set(Order::NOTE, Some("small".to_owned()))
            .execute()?;
        assert_eq!(changed, 2);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"UPDATE "orders" SET "note" = ? WHERE "total_cents" < ? RETURNING "id", "total_cents", "note", "user_id""#
            ]
        );
        // Rows not loaded stay unloaded.
        assert!(session.is_empty());
        session.commit()?;
        let notes: Vec<Option<String>> = db
            .session()
            .query::<Order>()
            .select(Order::NOTE)
            .order_by(Order::ID)
            .all()?;
        let small = Some("small".to_owned());
        assert_eq!(notes[0], small);
        assert_eq!(notes[2], small);
        assert_eq!(notes[1], None);
        Ok(())
    }

    fn loaded_objects_matched_by_update_rows_take_the_new_values_and_stay_clean(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let first = session.get::<Order>(1)?;
        let big = session.get::<Order>(2)?;
        session
            .update_rows::<Order>()
            .filter(Order::TOTAL_CENTS.lt(1500))
            .set(Order::TOTAL_CENTS, 0)
            .execute()?;
        assert_eq!(first.read()?.total_cents, 0);
        assert_eq!(big.read()?.total_cents, 5000, "not matched: unchanged");
        assert!(!session.has_changes());
        let recorder = db.recorder();
        session.commit()?;
        assert_eq!(recorder.count(), 0, "nothing left to write");
        assert_eq!(total(&db, 1)?, 0);
        Ok(())
    }

    fn pending_changes_are_flushed_before_the_bulk_statement(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        session.set_autoflush(false);
        let big = session.get::<Order>(2)?;
        big.write()?.total_cents = 100;
        let changed = session
            .update_rows::<Order>()
            .filter(Order::TOTAL_CENTS.lt(1000))
            .set(Order::NOTE, Some("tiny".to_owned()))
            .execute()?;
        // Order 3 (800) and order 2, changed to 100 in memory.
        assert_eq!(changed, 2);
        assert_eq!(big.read()?.note.as_deref(), Some("tiny"));
        assert_eq!(big.read()?.total_cents, 100);
        Ok(())
    }

    fn rollback_undoes_update_rows_in_the_database_and_in_memory(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let first = session.get::<Order>(1)?;
        session
            .update_rows::<Order>()
            .set(Order::TOTAL_CENTS, 7)
            .execute()?;
        assert_eq!(first.read()?.total_cents, 7);
        session.rollback()?;
        assert_eq!(first.read()?.total_cents, 1200);
        assert_eq!(total(&db, 1)?, 1200);
        assert_eq!(total(&db, 4)?, 3000);
        Ok(())
    }

    fn update_rows_meeting_a_borrowed_object_is_an_error_and_changes_nothing(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let first = session.get::<Order>(1)?;
        let guard = first.read()?;
        let error = session
            .update_rows::<Order>()
            .set(Order::TOTAL_CENTS, 7)
            .execute()
            .expect_err("order 1 is borrowed");
        assert!(matches!(error, Error::Borrowed { .. }), "{error:?}");
        assert_eq!(guard.total_cents, 1200);
        drop(guard);
        session.commit()?;
        assert_eq!(total(&db, 1)?, 1200);
        assert_eq!(total(&db, 2)?, 5000);
        Ok(())
    }

    fn update_rows_bumps_the_version_of_every_row_it_changes(db) -> orm::Result<()> {
        db.create_all::<Account>()?;
        let session = db.session();
        let rich = session.add(Account::new(100));
        session.add(Account::new(5));
        session.commit()?;
        let other = db.session();
        let stale = other.get::<Account>(rich.read()?.id)?;
        assert_eq!(stale.read()?.version, 1);
        session
            .update_rows::<Account>()
            .filter(Account::BALANCE.gt(50))
            .set(Account::BALANCE, 0)
            .execute()?;
        session.commit()?;
        assert_eq!(rich.read()?.version, 2);
        // The other session's copy is now out of date, and the flush says so.
        stale.write()?.balance = 1;
        let error = other.commit().expect_err("version 1 is gone");
        assert!(matches!(error, Error::StaleRow { .. }), "{error:?}");
        Ok(())
    }

    fn setting_a_foreign_key_in_bulk_expires_the_parents_collections(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        let dee = session.get::<User>(4)?;
        assert_eq!(ann.read()?.orders.load()?.len(), 2);
        assert_eq!(dee.read()?.orders.load()?.len(), 1);
        session
            .update_rows::<Order>()
            .filter(Order::USER.has(User::NAME.eq("Ann")))
            .set(Order::USER_ID, 4)
            .execute()?;
        assert!(!ann.read()?.orders.is_loaded());
        assert_eq!(ann.read()?.orders.load()?.len(), 0);
        assert_eq!(dee.read()?.orders.load()?.len(), 3);
        Ok(())
    }

    fn update_rows_cannot_set_the_primary_key(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let error = session
            .update_rows::<Order>()
            .set(Order::ID, 99)
            .execute()
            .expect_err("keys do not change");
        assert!(
            matches!(
                error,
                Error::Misuse(Misuse::KeyInBulkUpdate { model: "Order" })
            ),
            "{error:?}"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn update_rows_without_a_set_runs_nothing(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        assert_eq!(session.update_rows::<Order>().execute()?, 0);
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn delete_rows_deletes_every_matching_row_and_the_loaded_objects_follow(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let bob = session.get::<User>(2)?;
        let bobs = bob.read()?.orders.load()?;
        assert_eq!(bobs.len(), 2);
        let recorder = db.recorder();
        // Order 5 has no items (order 3's would refuse the delete).
        let deleted = session
            .delete_rows::<Order>()
            .filter(!Order::ITEMS.is_not_empty())
            .execute()?;
        assert_eq!(deleted, 1);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"DELETE FROM "orders" WHERE NOT EXISTS (SELECT 1 FROM "items" WHERE "items"."order_id" = "orders"."id") RETURNING "id""#
            ]
        );
        let five = bobs
            .iter()
            .find(|o| o.key().ok() == Some(5))
            .expect("order 5");
        assert_eq!(five.state(), State::Deleted);
        assert_eq!(bob.read()?.orders.load()?.len(), 1);
        session.commit()?;
        assert_eq!(five.state(), State::Detached);
        assert!(session.find::<Order>(5)?.is_none());
        Ok(())
    }

    fn delete_rows_refused_by_a_foreign_key_changes_nothing(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let first = session.get::<Order>(1)?;
        let error = session
            .delete_rows::<Order>()
            .filter(Order::ID.eq(1))
            .execute()
            .expect_err("items point at order 1");
        assert!(
            matches!(
                &error,
                Error::Constraint { table, kind: ConstraintKind::ForeignKey, .. } if table == "orders"
            ),
            "{error:?}"
        );
        assert_eq!(first.state(), State::Persistent);
        // The transaction goes on (on PostgreSQL too, where a failed
        // statement would otherwise abort it).
        assert_eq!(session.query::<Order>().count()?, 5);
        session.commit()?;
        assert_eq!(db.session().query::<Order>().count()?, 5);
        Ok(())
    }

    fn delete_rows_follows_on_delete_cascade_and_set_null_in_memory(db) -> orm::Result<()> {
        db.create_all::<(Author, Book, Fan)>()?;
        let session = db.session();
        let author = session.add(Author::new("Le Guin"));
        let book = session.add(Book::new("The Dispossessed"));
        book.read()?.author.set(&author)?;
        let fan = session.add(Fan::new("Sam"));
        fan.read()?.fan_of.set(&author)?;
        session.commit()?;
        let deleted = session
            .delete_rows::<Author>()
            .filter(Author::NAME.starts_with("Le"))
            .execute()?;
        assert_eq!(deleted, 1);
        assert_eq!(author.state(), State::Deleted);
        assert_eq!(book.state(), State::Deleted, "ON DELETE CASCADE");
        assert_eq!(fan.read()?.fan_of.key(), None, "ON DELETE SET NULL");
        assert!(!session.has_changes());
        session.rollback()?;
        assert_eq!(author.state(), State::Persistent);
        assert_eq!(book.state(), State::Persistent);
        assert_eq!(fan.read()?.fan_of.key(), Some(author.read()?.id));
        assert_eq!(session.query::<Book>().count()?, 1);
        Ok(())
    }
}
