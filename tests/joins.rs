//! Queries across relationships: joins along `BelongsTo`, `HasMany`,
//! `HasOne` and `ManyToMany` (inner and left, chained), and `any` / `has`
//! filters that need no join. Each against rows worked out by hand from the
//! shop fixture, with the statements counted and, for a few, their text.

use crate::common;
use crate::common::shop;

use common::backend;
use orm::prelude::*;
use orm::{Error, Misuse};
use shop::*;

fn ids<T: Model<Key = i64>>(handles: &[Handle<T>]) -> Vec<i64> {
    handles.iter().map(|h| h.key().expect("a key")).collect()
}

backend_tests! {
    fn a_join_along_belongs_to_filters_on_the_parents_columns(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let orders = session
            .query::<Order>()
            .join(Order::USER)
            .filter(User::NAME.eq("Ann"))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(ids(&orders), [1, 2]);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT "orders"."id", "orders"."total_cents", "orders"."note", "orders"."user_id" FROM "orders" JOIN "users" ON "users"."id" = "orders"."user_id" WHERE "users"."name" = ? ORDER BY "orders"."id" ASC"#
            ]
        );
        Ok(())
    }

    fn a_join_along_has_many_returns_each_parent_once(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        // Ann matches through orders 1 and 2, Bob through 5, Dee through 4.
        let query = || {
            session
                .query::<User>()
                .join(User::ORDERS)
                .filter(Order::TOTAL_CENTS.gt(1000))
        };
        assert_eq!(ids(&query().order_by(User::ID).all()?), [1, 2, 4]);
        assert_eq!(query().count()?, 3);
        assert_eq!(recorder.count(), 2);
        assert_eq!(
            backend::sql(&recorder)[1],
            r#"SELECT count(DISTINCT "users"."id") FROM "users" JOIN "orders" ON "orders"."user_id" = "users"."id" WHERE "orders"."total_cents" > ?"#
        );
        Ok(())
    }

    fn a_join_along_has_one_filters_on_the_childs_columns(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let users = session
            .query::<User>()
            .join(User::PROFILE)
            .filter(Profile::BIO.eq("b-bio"))
            .all()?;
        assert_eq!(ids(&users), [2]);
        Ok(())
    }

    fn a_join_along_many_to_many_goes_through_the_link_table(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let orders = session
            .query::<Order>()
            .join(Order::TAGS)
            .filter(Tag::LABEL.eq("bulk"))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(ids(&orders), [3, 4]);
        assert!(
            backend::sql(&recorder)[0].contains(
                r#"FROM "orders" JOIN "order_tags" ON "order_tags"."order_id" = "orders"."id" JOIN "tags" ON "tags"."id" = "order_tags"."tag_id""#
            ),
            "{:?}",
            backend::sql(&recorder)
        );
        Ok(())
    }

    fn joins_chain_through_several_relationships(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let users = session
            .query::<User>()
            .join(User::ORDERS)
            .join(Order::ITEMS)
            .filter(Item::SKU.eq("pen"))
            .order_by(User::NAME.desc())
            .all()?;
        assert_eq!(ids(&users), [2, 1]);
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn a_left_join_keeps_rows_without_a_match_and_reads_their_columns_as_none(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let rows: Vec<(String, Option<i64>)> = session
            .query::<User>()
            .left_join(User::ORDERS)
            .select((User::NAME, Order::TOTAL_CENTS))
            .order_by(User::ID)
            .order_by(Order::ID)
            .all()?;
        let expected = [
            ("Ann", Some(1200)),
            ("Ann", Some(5000)),
            ("Bob", Some(800)),
            ("Bob", Some(1500)),
            ("Cid", None),
            ("Dee", Some(3000)),
        ];
        let expected: Vec<(String, Option<i64>)> =
            expected.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        assert_eq!(rows, expected);
        Ok(())
    }

    fn a_left_joined_objects_query_returns_parents_without_children_too(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let users = session
            .query::<User>()
            .left_join(User::ORDERS)
            .filter(Order::ID.is_null())
            .all()?;
        assert_eq!(ids(&users), [3]);
        Ok(())
    }

    fn joined_queries_return_the_objects_of_the_identity_map(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let ann = session.get::<User>(1)?;
        ann.write()?.name = "Annie".to_owned();
        let recorder = db.recorder();
        let found = session
            .query::<User>()
            .join(User::ORDERS)
            .filter(Order::ID.eq(2))
            .one()?;
        assert_eq!(found, ann);
        // The autoflush wrote the rename before the query read.
        assert_eq!(recorder.count(), 2);
        assert_eq!(found.read()?.name, "Annie");
        Ok(())
    }

    fn any_keeps_parents_with_a_matching_child_in_one_statement(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let users = session
            .query::<User>()
            .filter(User::ORDERS.any(Order::TOTAL_CENTS.gt(1000)))
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&users), [1, 2, 4]);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT "users"."id", "users"."name" FROM "users" WHERE EXISTS (SELECT 1 FROM "orders" WHERE ("orders"."user_id" = "users"."id") AND ("orders"."total_cents" > ?)) ORDER BY "users"."id" ASC"#
            ]
        );
        Ok(())
    }

    fn any_nests_through_further_relationships(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let users = session
            .query::<User>()
            .filter(User::ORDERS.any(Order::ITEMS.any(Item::SKU.eq("pen"))))
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&users), [1, 2]);
        let big_items = session
            .query::<User>()
            .filter(User::ORDERS.any(Order::ITEMS.any(Item::PRICE_CENTS.ge(3000))))
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&big_items), [1, 4]);
        Ok(())
    }

    fn has_tests_the_parent_of_a_many_to_one(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let orders = session
            .query::<Order>()
            .filter(Order::USER.has(User::NAME.eq("Bob")))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(ids(&orders), [3, 5]);
        let items = session
            .query::<Item>()
            .filter(Item::ORDER.has(Order::USER.has(User::NAME.eq("Ann"))))
            .order_by(Item::ID)
            .all()?;
        assert_eq!(ids(&items), [1, 2, 3]);
        Ok(())
    }

    fn any_on_a_many_to_many_goes_through_the_link_table(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let tags = session
            .query::<Tag>()
            .filter(Tag::ORDERS.any(Order::TOTAL_CENTS.ge(3000)))
            .all()?;
        assert_eq!(ids(&tags), [2]);
        let gift_orders = session
            .query::<Order>()
            .filter(Order::TAGS.any(Tag::LABEL.eq("gift")))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(ids(&gift_orders), [1, 3]);
        Ok(())
    }

    fn is_not_empty_and_is_set_test_a_relationship_without_a_condition(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let buyers = session
            .query::<User>()
            .filter(User::ORDERS.is_not_empty())
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&buyers), [1, 2, 4]);
        let others = session
            .query::<User>()
            .filter(!User::ORDERS.is_not_empty())
            .all()?;
        assert_eq!(ids(&others), [3]);
        let profiled = session
            .query::<User>()
            .filter(User::PROFILE.is_set())
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&profiled), [1, 2]);
        let managed = session
            .query::<Employee>()
            .filter(Employee::MANAGER.is_set())
            .order_by(Employee::ID)
            .all()?;
        assert_eq!(ids(&managed), [2, 3, 4]);
        Ok(())
    }

    fn any_and_has_over_a_model_related_to_itself_alias_the_inner_table(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        // Managers of someone named Wu: Yan.
        let managers = session
            .query::<Employee>()
            .filter(Employee::REPORTS.any(Employee::NAME.eq("Wu")))
            .all()?;
        assert_eq!(ids(&managers), [2]);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT "employees"."id", "employees"."name", "employees"."manager_id" FROM "employees" WHERE EXISTS (SELECT 1 FROM "employees" AS "employees_1" WHERE ("employees_1"."manager_id" = "employees"."id") AND ("employees_1"."name" = ?))"#
            ]
        );
        // Employees whose manager has a manager: Wu (Yan reports to Zed).
        let deep = session
            .query::<Employee>()
            .filter(Employee::MANAGER.has(Employee::MANAGER.is_set()))
            .all()?;
        assert_eq!(ids(&deep), [4]);
        Ok(())
    }

    fn conditions_over_several_models_combine_with_both_and_either(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let orders = session
            .query::<Order>()
            .join(Order::USER)
            .filter(Expr::either(
                User::NAME.eq("Dee"),
                Order::TOTAL_CENTS.lt(1000),
            ))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(ids(&orders), [3, 4]);
        let orders = session
            .query::<Order>()
            .join(Order::USER)
            .filter(Expr::both(User::NAME.eq("Ann"), Order::NOTE.is_null()))
            .all()?;
        assert_eq!(ids(&orders), [2]);
        Ok(())
    }

    fn filters_built_in_a_loop_keep_one_type(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let wanted = ["Ann", "Dee", "Nobody"];
        let users = session
            .query::<User>()
            .filter(Expr::any_of(wanted.iter().map(|n| User::NAME.eq(*n))))
            .order_by(User::ID)
            .all()?;
        assert_eq!(ids(&users), [1, 4]);
        let none: [&str; 0] = [];
        assert_eq!(
            session
                .query::<User>()
                .filter(Expr::any_of(none.iter().map(|n| User::NAME.eq(*n))))
                .count()?,
            0
        );
        assert_eq!(
            session
                .query::<User>()
                .filter(Expr::all_of(none.iter().map(|n| User::NAME.eq(*n))))
                .count()?,
            4
        );
        Ok(())
    }

    fn joining_a_model_already_in_the_query_is_an_error_and_runs_nothing(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let error = session
            .query::<User>()
            .join(User::ORDERS)
            .join(Order::USER)
            .all()
            .expect_err("users twice");
        assert!(
            matches!(error, Error::Misuse(Misuse::JoinedTwice { table: "users" })),
            "{error:?}"
        );
        assert_eq!(recorder.count(), 0);
        Ok(())
    }
}
