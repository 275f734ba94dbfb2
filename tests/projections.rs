//! Values instead of objects: `select` of columns and aggregates into
//! tuples and structs, `group_by` / `having`, `distinct`, subqueries
//! (`in_select`, scalar, `exists`), and LIKE that matches literally. Each
//! against rows worked out by hand from the shop fixture.

use crate::common;
use crate::common::shop;

use common::backend;
use orm::Error;
use orm::prelude::*;
use shop::*;

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[derive(Debug, PartialEq)]
struct Spend {
    name: String,
    orders: i64,
}

impl From<(String, i64)> for Spend {
    fn from((name, orders): (String, i64)) -> Self {
        Spend { name, orders }
    }
}

#[derive(orm::FromRow, Debug, PartialEq)]
struct Line {
    sku: String,
    quantity: i64,
    note: Option<String>,
}

#[derive(orm::FromRow, Debug, PartialEq)]
struct Pair(String, i64);

backend_tests! {
    fn select_of_one_column_reads_plain_values_in_one_statement(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let names: Vec<String> = session
            .query::<User>()
            .filter(User::ID.ge(2))
            .select(User::NAME)
            .order_by(User::NAME.desc())
            .all()?;
        assert_eq!(names, strings(&["Dee", "Cid", "Bob"]));
        assert_eq!(
            backend::sql(&recorder),
            [r#"SELECT "name" FROM "users" WHERE "id" >= ? ORDER BY "name" DESC"#]
        );
        // Values, not objects: nothing entered the identity map.
        assert!(session.is_empty());
        Ok(())
    }

    fn select_of_a_tuple_over_a_join_reads_each_row(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let rows: Vec<(String, String, i64)> = session
            .query::<User>()
            .join(User::ORDERS)
            .join(Order::ITEMS)
            .filter(Item::QUANTITY.gt(1))
            .select((User::NAME, Item::SKU, Item::QUANTITY))
            .order_by(Item::ID)
            .all()?;
        assert_eq!(
            rows,
            [
                ("Ann".to_owned(), "pen".to_owned(), 2),
                ("Bob".to_owned(), "pen".to_owned(), 4)
            ]
        );
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn nullable_columns_select_as_option(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let notes: Vec<(i64, Option<String>)> = session
            .query::<Order>()
            .select((Order::ID, Order::NOTE))
            .order_by(Order::ID)
            .all()?;
        assert_eq!(notes[0], (1, Some("gift".to_owned())));
        assert_eq!(notes[1], (2, None));
        Ok(())
    }

    fn aggregates_over_the_whole_table(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let row = session
            .query::<Order>()
            .select((
                Order::TOTAL_CENTS.sum(),
                Order::TOTAL_CENTS.avg(),
                Order::TOTAL_CENTS.min(),
                Order::TOTAL_CENTS.max(),
                Order::NOTE.count(),
                Order::USER_ID.count_distinct(),
                count_rows(),
            ))
            .one()?;
        // 1200 + 5000 + 800 + 3000 + 1500 = 11500 over 5 orders; 3 notes; users 1, 2, 4.
        assert_eq!(
            row,
            (Some(11500), Some(2300.0), Some(800), Some(5000), 3, 3, 5)
        );
        Ok(())
    }

    fn aggregates_of_no_rows_are_none_and_counts_zero(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let row = session
            .query::<Order>()
            .filter(Order::TOTAL_CENTS.gt(1_000_000))
            .select((
                Order::TOTAL_CENTS.sum(),
                Order::TOTAL_CENTS.max(),
                count_rows(),
            ))
            .one()?;
        assert_eq!(row, (None, None, 0));
        Ok(())
    }

    fn group_by_and_having_over_a_join(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        // Orders over 1000: Ann 1200 + 5000 = 6200, Bob 1500, Dee 3000.
        let rows: Vec<(String, Option<i64>)> = session
            .query::<User>()
            .join(User::ORDERS)
            .filter(Order::TOTAL_CENTS.gt(1000))
            .select((User::NAME, Order::TOTAL_CENTS.sum()))
            .group_by(User::NAME)
            .having(Order::TOTAL_CENTS.sum().gt(5000))
            .order_by(User::NAME)
            .all()?;
        assert_eq!(rows, [("Ann".to_owned(), Some(6200))]);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT "users"."name", sum("orders"."total_cents") FROM "users" JOIN "orders" ON "orders"."user_id" = "users"."id" WHERE "orders"."total_cents" > ? GROUP BY "users"."name" HAVING sum("orders"."total_cents") > ? ORDER BY "users"."name" ASC"#
            ]
        );
        Ok(())
    }

    fn a_left_join_counts_zero_for_parents_without_children(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let rows: Vec<(String, i64, Option<i64>)> = session
            .query::<User>()
            .left_join(User::ORDERS)
            .select((User::NAME, Order::ID.count(), Order::TOTAL_CENTS.max()))
            .group_by((User::ID, User::NAME))
            .order_by(User::ID)
            .all()?;
        assert_eq!(
            rows,
            [
                ("Ann".to_owned(), 2, Some(5000)),
                ("Bob".to_owned(), 2, Some(1500)),
                ("Cid".to_owned(), 0, None),
                ("Dee".to_owned(), 1, Some(3000)),
            ]
        );
        Ok(())
    }

    fn ordering_by_an_aggregate_ranks_the_groups(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let ranked: Vec<(String, i64)> = session
            .query::<Item>()
            .select((Item::SKU, Item::QUANTITY.sum().unwrap_or(0)))
            .group_by(Item::SKU)
            .order_by(Item::QUANTITY.sum().desc())
            .order_by(Item::SKU)
            .limit(2)
            .all()?;
        // pen 2 + 4 = 6, then desk, ink, lamp with 1 each (by name: desk).
        assert_eq!(ranked, [("pen".to_owned(), 6), ("desk".to_owned(), 1)]);
        Ok(())
    }

    fn distinct_limit_and_offset_shape_the_rows(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let skus: Vec<String> = session
            .query::<Item>()
            .select(Item::SKU)
            .distinct()
            .order_by(Item::SKU)
            .all()?;
        assert_eq!(skus, strings(&["desk", "ink", "lamp", "pen"]));
        let page: Vec<String> = session
            .query::<Item>()
            .select(Item::SKU)
            .distinct()
            .order_by(Item::SKU)
            .limit(2)
            .offset(1)
            .all()?;
        assert_eq!(page, strings(&["ink", "lamp"]));
        assert_eq!(
            session
                .query::<Item>()
                .select(Item::SKU)
                .order_by(Item::ID)
                .first()?,
            Some("pen".to_owned())
        );
        Ok(())
    }

    fn rows_go_into_a_struct_made_from_the_tuple(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let spends = session
            .query::<User>()
            .join(User::ORDERS)
            .select((User::NAME, count_rows()))
            .group_by(User::NAME)
            .order_by(User::NAME)
            .all_as::<Spend>()?;
        assert_eq!(
            spends,
            [
                Spend {
                    name: "Ann".into(),
                    orders: 2
                },
                Spend {
                    name: "Bob".into(),
                    orders: 2
                },
                Spend {
                    name: "Dee".into(),
                    orders: 1
                },
            ]
        );
        Ok(())
    }

    fn one_is_an_error_for_no_row_and_for_several(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let none = session
            .query::<User>()
            .filter(User::NAME.eq("Nobody"))
            .select(User::ID)
            .one();
        assert!(matches!(none, Err(Error::NotFound { .. })), "{none:?}");
        let several = session.query::<User>().select(User::ID).one();
        assert!(
            matches!(several, Err(Error::NotOne { found: 2, .. })),
            "{several:?}"
        );
        Ok(())
    }

    fn in_select_filters_by_the_values_of_a_subquery(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let cheap_buyers = session
            .query::<User>()
            .filter(
                User::ID.in_select(
                    session
                        .query::<Order>()
                        .filter(Order::TOTAL_CENTS.lt(1000))
                        .select(Order::USER_ID),
                ),
            )
            .all()?;
        assert_eq!(cheap_buyers.len(), 1);
        assert_eq!(cheap_buyers[0].read()?.name, "Bob");
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT "users"."id", "users"."name" FROM "users" WHERE "users"."id" IN (SELECT "orders"."user_id" FROM "orders" WHERE "orders"."total_cents" < ?)"#
            ]
        );
        Ok(())
    }

    fn a_scalar_subquery_compares_with_a_value_the_database_works_out(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let biggest = session
            .query::<Order>()
            .filter(
                Order::TOTAL_CENTS.eq_expr(
                    session
                        .query::<Order>()
                        .select(Order::TOTAL_CENTS.max())
                        .scalar(),
                ),
            )
            .all()?;
        assert_eq!(biggest.len(), 1);
        assert_eq!(biggest[0].read()?.id, 2);
        // Items whose line costs more than the cheapest order.
        let cheapest = session
            .query::<Order>()
            .select(Order::TOTAL_CENTS.min())
            .scalar();
        let items: Vec<String> = session
            .query::<Item>()
            .filter(Item::PRICE_CENTS.gt_expr(cheapest))
            .select(Item::SKU)
            .order_by(Item::ID)
            .all()?;
        assert_eq!(items, strings(&["desk", "lamp"]));
        Ok(())
    }

    fn columns_compare_with_columns(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        // Items that are the whole of their order's total.
        let whole: Vec<String> = session
            .query::<Item>()
            .join(Item::ORDER)
            .filter(Item::PRICE_CENTS.eq_expr(Order::TOTAL_CENTS))
            .select(Item::SKU)
            .order_by(Item::ID)
            .all()?;
        assert_eq!(whole, strings(&["desk", "lamp"]));
        Ok(())
    }

    fn exists_of_an_uncorrelated_subquery_keeps_all_rows_or_none(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let tagged = |label: &str| {
            session
                .query::<Tag>()
                .filter(Tag::LABEL.eq(label))
                .select(Tag::ID)
                .exists()
        };
        assert_eq!(session.query::<User>().filter(tagged("bulk")).count()?, 4);
        assert_eq!(session.query::<User>().filter(tagged("nope")).count()?, 0);
        Ok(())
    }

    fn contains_starts_with_and_ends_with_match_wildcards_literally(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let notes = |filter: Expr<Order, bool>| -> orm::Result<Vec<i64>> {
            session
                .query::<Order>()
                .filter(filter)
                .select(Order::ID)
                .order_by(Order::ID)
                .all()
        };
        // As raw LIKE, `%` and `_` are wildcards: every note matches.
        assert_eq!(notes(Order::NOTE.like("%_%"))?, [1, 3, 5]);
        // Matched literally, only the notes holding them do.
        assert_eq!(notes(Order::NOTE.contains("%"))?, [3]);
        assert_eq!(notes(Order::NOTE.contains("_"))?, [5]);
        assert_eq!(notes(Order::NOTE.starts_with("50%"))?, [3]);
        assert_eq!(notes(Order::NOTE.ends_with("_order"))?, [5]);
        assert_eq!(notes(Order::NOTE.ends_with("%"))?, Vec::<i64>::new());
        // The escape character itself is escaped too.
        let tags: Vec<String> = session
            .query::<Tag>()
            .filter(Tag::LABEL.contains(r":\t"))
            .select(Tag::LABEL)
            .all()?;
        assert_eq!(tags, strings(&[r"c:\temp"]));
        assert_eq!(
            Order::NOTE.contains("50%").sql(),
            r#""note" LIKE ? ESCAPE '\'"#
        );
        Ok(())
    }

    fn select_autoflushes_so_it_sees_pending_changes(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let cid = session.get::<User>(3)?;
        session.add(Order::new(700)).read()?.user.set(&cid)?;
        let total: Option<i64> = session
            .query::<Order>()
            .join(Order::USER)
            .filter(User::NAME.eq("Cid"))
            .select(Order::TOTAL_CENTS.sum())
            .one()?;
        assert_eq!(total, Some(700));
        Ok(())
    }

    fn a_derived_row_struct_reads_a_projection_and_raw_sql_alike(db) -> orm::Result<()> {
        fill(&db)?;
        let session = db.session();
        let lines = session
            .query::<Item>()
            .left_join(Item::ORDER)
            .select((Item::SKU, Item::QUANTITY, Order::NOTE))
            .order_by(Item::ID)
            .limit(2)
            .all_as::<Line>()?;
        let expected = [
            Line {
                sku: "pen".into(),
                quantity: 2,
                note: Some("gift".into()),
            },
            Line {
                sku: "ink".into(),
                quantity: 1,
                note: Some("gift".into()),
            },
        ];
        assert_eq!(lines, expected);
        let raw: Vec<Line> = session.sql_values(
            "SELECT sku, quantity, note FROM items JOIN orders ON orders.id = items.order_id ORDER BY items.id LIMIT 2",
            &[],
        )?;
        assert_eq!(raw, expected);
        let pairs = session
            .query::<Item>()
            .select((Item::SKU, Item::QUANTITY))
            .order_by(Item::ID)
            .first()?
            .map(|(sku, quantity)| Pair(sku, quantity));
        assert_eq!(pairs, Some(Pair("pen".into(), 2)));
        let tuples: Vec<Pair> = session
            .query::<Item>()
            .select((Item::SKU, Item::QUANTITY))
            .filter(Item::SKU.eq("desk"))
            .all_as()?;
        assert_eq!(tuples, [Pair("desk".into(), 1)]);
        Ok(())
    }
}
