//! The query builder: every kind of filter, ordering, limit and offset,
//! `count`, `first` and `one`, and exactly one statement per query.

use crate::common;

use common::backend::{self, is_postgres};
use orm::Value;
use orm::prelude::*;
use orm::scope::{InScope, Only};
use orm::{Error, Expr};

#[derive(Model, Debug)]
#[orm(table = "people")]
pub struct Person {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub age: i64,
    pub nickname: Option<String>,
}

const SELECT: &str = r#"SELECT "id", "name", "age", "nickname" FROM "people""#;

/// Fills `db` with five people, ids 1 to 5 in this order.
fn seed(db: &Database) -> orm::Result<()> {
    db.create_all::<Person>()?;
    let session = db.session();
    for (name, age, nickname) in [
        ("Ann", 31, Some("annie")),
        ("Bob", 17, None),
        ("Cid", 45, Some("cid")),
        ("Dee", 31, None),
        ("Eve", 62, Some("evie")),
    ] {
        let person = session.add(Person::new(name, age));
        person.write()?.nickname = nickname.map(str::to_owned);
    }
    session.commit()?;
    Ok(())
}

fn names(people: &[Handle<Person>]) -> orm::Result<Vec<String>> {
    people.iter().map(|p| Ok(p.read()?.name.clone())).collect()
}

/// The names of the people matching `filter`, by id, checking that the
/// query ran as exactly one statement.
fn matching<S, I>(db: &Database, filter: Expr<S, bool>) -> orm::Result<Vec<String>>
where
    S: InScope<Only<Person>, I>,
{
    let session = db.session();
    let recorder = db.recorder();
    let found = session
        .query::<Person>()
        .filter(filter)
        .order_by(Person::ID.asc())
        .all()?;
    assert_eq!(recorder.count(), 1, "{:?}", backend::sql(&recorder));
    names(&found)
}

backend_tests! {
    fn eq_keeps_equal_values(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(matching(&db, Person::AGE.eq(31))?, ["Ann", "Dee"]);
        assert_eq!(matching(&db, Person::NAME.eq("Cid"))?, ["Cid"]);
        assert_eq!(matching(&db, Person::NICKNAME.eq("evie"))?, ["Eve"]);
        Ok(())
    }

    fn ne_keeps_other_values(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(matching(&db, Person::AGE.ne(31))?, ["Bob", "Cid", "Eve"]);
        Ok(())
    }

    fn lt_le_gt_ge_compare_in_order(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(matching(&db, Person::AGE.lt(31))?, ["Bob"]);
        assert_eq!(matching(&db, Person::AGE.le(31))?, ["Ann", "Bob", "Dee"]);
        assert_eq!(matching(&db, Person::AGE.gt(31))?, ["Cid", "Eve"]);
        assert_eq!(matching(&db, Person::AGE.ge(45))?, ["Cid", "Eve"]);
        assert_eq!(matching(&db, Person::NAME.lt("C"))?, ["Ann", "Bob"]);
        Ok(())
    }

    fn like_matches_patterns(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(matching(&db, Person::NAME.like("_o_"))?, ["Bob"]);
        assert_eq!(matching(&db, Person::NAME.like("%e"))?, ["Dee", "Eve"]);
        assert_eq!(matching(&db, Person::NICKNAME.like("%ie"))?, ["Ann", "Eve"]);
        // Case-insensitive (for ASCII) on both backends.
        assert_eq!(matching(&db, Person::NAME.like("b%"))?, ["Bob"]);
        assert_eq!(matching(&db, Person::NICKNAME.like("EVIE"))?, ["Eve"]);
        Ok(())
    }

    fn in_keeps_listed_values_and_an_empty_list_matches_nothing(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(
            matching(&db, Person::AGE.in_([17, 45, 99]))?,
            ["Bob", "Cid"]
        );
        assert_eq!(
            matching(&db, Person::NAME.in_(["Eve", "Ann"]))?,
            ["Ann", "Eve"]
        );
        assert!(matching(&db, Person::AGE.in_(Vec::<i64>::new()))?.is_empty());
        Ok(())
    }

    fn is_null_and_is_not_null_test_optional_columns(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(matching(&db, Person::NICKNAME.is_null())?, ["Bob", "Dee"]);
        assert_eq!(
            matching(&db, Person::NICKNAME.is_not_null())?,
            ["Ann", "Cid", "Eve"]
        );
        Ok(())
    }

    fn and_or_and_not_combine_conditions(db) -> orm::Result<()> {
        seed(&db)?;
        assert_eq!(
            matching(&db, Person::AGE.ge(31).and(Person::NICKNAME.is_null()))?,
            ["Dee"]
        );
        assert_eq!(
            matching(&db, Person::AGE.lt(18).or(Person::AGE.gt(60)))?,
            ["Bob", "Eve"]
        );
        assert_eq!(matching(&db, !Person::AGE.eq(31))?, ["Bob", "Cid", "Eve"]);
        // SQL's three-valued logic: NOT (NULL = 'annie') is NULL, so the rows
        // without a nickname match neither the condition nor its negation.
        assert_eq!(
            matching(&db, !Person::NICKNAME.eq("annie"))?,
            ["Cid", "Eve"]
        );
        Ok(())
    }

    fn combined_conditions_keep_their_grouping(db) -> orm::Result<()> {
        seed(&db)?;
        // (age < 18 OR age > 60) AND name = 'Eve', not age < 18 OR (age > 60 AND name = 'Eve').
        let grouped = Person::AGE
            .lt(18)
            .or(Person::AGE.gt(60))
            .and(Person::NAME.eq("Eve"));
        assert_eq!(
            grouped.sql(),
            r#"(("age" < ?) OR ("age" > ?)) AND ("name" = ?)"#
        );
        assert_eq!(matching(&db, grouped)?, ["Eve"]);
        let negated = !Person::AGE.lt(18).or(Person::AGE.gt(60));
        assert_eq!(negated.sql(), r#"NOT (("age" < ?) OR ("age" > ?))"#);
        assert_eq!(matching(&db, negated)?, ["Ann", "Cid", "Dee"]);
        Ok(())
    }

    fn successive_filters_all_apply(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let found = session
            .query::<Person>()
            .filter(Person::AGE.ge(18))
            .filter(Person::NICKNAME.is_not_null())
            .filter(Person::NAME.ne("Cid"))
            .order_by(Person::ID.asc())
            .all()?;
        assert_eq!(names(&found)?, ["Ann", "Eve"]);
        Ok(())
    }

    fn a_filtered_query_is_one_select_with_bound_values(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let found = session
            .query::<Person>()
            .filter(Person::AGE.ge(18).and(Person::NAME.like("%e%")))
            .order_by(Person::AGE.desc())
            .limit(2)
            .offset(1)
            .all()?;
        assert_eq!(names(&found)?, ["Dee"]);
        let statements = recorder.statements();
        assert_eq!(statements.len(), 1);
        // PostgreSQL's LIKE is case-sensitive and escapes with `\`; its ILIKE
        // with no escape character matches as SQLite's LIKE does.
        let like = if is_postgres(&db) {
            "ILIKE ? ESCAPE ''"
        } else {
            "LIKE ?"
        };
        assert_eq!(
            backend::sql(&recorder),
            [format!(
                r#"{SELECT} WHERE ("age" >= ?) AND ("name" {like}) ORDER BY "age" DESC LIMIT ? OFFSET ?"#
            )]
        );
        assert_eq!(
            statements[0].params,
            [
                Value::Integer(18),
                Value::Text("%e%".into()),
                Value::Integer(2),
                Value::Integer(1)
            ]
        );
        Ok(())
    }

    fn values_that_look_like_sql_are_only_compared(db) -> orm::Result<()> {
        seed(&db)?;
        assert!(matching(&db, Person::NAME.eq("x' OR '1'='1"))?.is_empty());
        assert!(matching(&db, Person::NAME.eq("Ann'; DELETE FROM people; --"))?.is_empty());
        assert_eq!(db.session().query::<Person>().count()?, 5);
        Ok(())
    }

    fn order_by_sorts_by_each_term_in_turn(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let by_age_then_name = session
            .query::<Person>()
            .order_by(Person::AGE.desc())
            .order_by(Person::NAME.desc())
            .all()?;
        assert_eq!(
            names(&by_age_then_name)?,
            ["Eve", "Cid", "Dee", "Ann", "Bob"]
        );
        let by_name = session
            .query::<Person>()
            .order_by(Person::NAME.asc())
            .all()?;
        assert_eq!(names(&by_name)?, ["Ann", "Bob", "Cid", "Dee", "Eve"]);
        Ok(())
    }

    fn limit_and_offset_page_through_the_rows(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let page = |offset: i64| -> orm::Result<Vec<String>> {
            let found = session
                .query::<Person>()
                .order_by(Person::ID.asc())
                .limit(2)
                .offset(offset)
                .all()?;
            names(&found)
        };
        assert_eq!(page(0)?, ["Ann", "Bob"]);
        assert_eq!(page(2)?, ["Cid", "Dee"]);
        assert_eq!(page(4)?, ["Eve"]);
        assert!(page(6)?.is_empty());
        let recorder = db.recorder();
        let rest = session
            .query::<Person>()
            .order_by(Person::ID.asc())
            .offset(3)
            .all()?;
        assert_eq!(names(&rest)?, ["Dee", "Eve"], "offset without a limit");
        // SQLite has no OFFSET without a LIMIT (it renders LIMIT -1).
        let paging = if is_postgres(&db) {
            "OFFSET ?"
        } else {
            "LIMIT ? OFFSET ?"
        };
        assert_eq!(
            backend::sql(&recorder),
            [format!(r#"{SELECT} ORDER BY "id" ASC {paging}"#)]
        );
        let none = session.query::<Person>().limit(0).all()?;
        assert!(none.is_empty());
        Ok(())
    }

    fn count_counts_matching_rows_ignoring_limit_and_offset(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        assert_eq!(session.query::<Person>().count()?, 5);
        assert_eq!(
            session
                .query::<Person>()
                .filter(Person::AGE.eq(31))
                .count()?,
            2
        );
        assert_eq!(
            session
                .query::<Person>()
                .filter(Person::AGE.gt(100))
                .count()?,
            0
        );
        assert_eq!(session.query::<Person>().limit(1).offset(1).count()?, 5);
        assert_eq!(
            backend::sql(&recorder),
            [
                r#"SELECT count(*) FROM "people""#,
                r#"SELECT count(*) FROM "people" WHERE "age" = ?"#,
                r#"SELECT count(*) FROM "people" WHERE "age" > ?"#,
                r#"SELECT count(*) FROM "people""#,
            ]
        );
        assert_eq!(session.len(), 0, "counting loads no objects");
        Ok(())
    }

    fn first_returns_the_first_row_in_order_or_none(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let youngest = session
            .query::<Person>()
            .order_by(Person::AGE.asc())
            .first()?
            .expect("there are people");
        assert_eq!(youngest.read()?.name, "Bob");
        let nobody = session
            .query::<Person>()
            .filter(Person::AGE.gt(100))
            .first()?;
        assert!(nobody.is_none());
        assert_eq!(
            backend::sql(&recorder),
            [
                format!(r#"{SELECT} ORDER BY "age" ASC LIMIT ?"#),
                format!(r#"{SELECT} WHERE "age" > ? LIMIT ?"#),
            ]
        );
        assert_eq!(
            recorder.statements()[0].params,
            [Value::Integer(1)],
            "first asks for one row"
        );
        Ok(())
    }

    fn one_returns_the_only_match(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let cid = session
            .query::<Person>()
            .filter(Person::NAME.eq("Cid"))
            .one()?;
        assert_eq!(cid.read()?.age, 45);
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn one_without_a_match_is_not_found(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        match session
            .query::<Person>()
            .filter(Person::NAME.eq("Zed"))
            .one()
        {
            Err(Error::NotFound { table, what }) => {
                assert_eq!(table, "people");
                assert_eq!(what, "matching the query");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn one_with_several_matches_is_not_one(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        match session.query::<Person>().filter(Person::AGE.eq(31)).one() {
            Err(Error::NotOne { table, found }) => {
                assert_eq!(table, "people");
                assert_eq!(found, 2);
            }
            other => panic!("expected NotOne, got {other:?}"),
        }
        assert_eq!(recorder.count(), 1);
        Ok(())
    }

    fn a_query_returns_loaded_objects_from_the_identity_map(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let first = session.query::<Person>().order_by(Person::ID.asc()).all()?;
        let again = session.query::<Person>().order_by(Person::ID.asc()).all()?;
        assert_eq!(first, again);
        assert_eq!(session.len(), 5);
        Ok(())
    }

    fn queries_see_objects_added_to_the_session(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let fay = session.add(Person::new("Fay", 28));
        let recorder = db.recorder();
        let found = session
            .query::<Person>()
            .filter(Person::AGE.lt(30))
            .order_by(Person::AGE.asc())
            .all()?;
        assert_eq!(names(&found)?, ["Bob", "Fay"]);
        assert_eq!(found[1], fay);
        assert_eq!(recorder.count(), 2, "autoflush INSERT, then the SELECT");
        Ok(())
    }

    fn a_query_run_again_binds_its_new_values(db) -> orm::Result<()> {
        seed(&db)?;
        // One shape, each time in a new session (on SQLite, on the pooled
        // connection that ran it before, which keeps its text) with other
        // values.
        let recorder = db.recorder();
        assert_eq!(matching(&db, Person::AGE.gt(31))?, ["Cid", "Eve"]);
        assert_eq!(matching(&db, Person::AGE.gt(50))?, ["Eve"]);
        assert_eq!(
            matching(&db, Person::AGE.gt(10))?,
            ["Ann", "Bob", "Cid", "Dee", "Eve"]
        );
        let texts = backend::sql(&recorder);
        assert_eq!(texts.len(), 3);
        assert!(texts.iter().all(|t| *t == texts[0]), "{texts:?}");
        // A limit's value is a parameter too.
        for limit in [1, 3, 0, 5] {
            let session = db.session();
            let found = session
                .query::<Person>()
                .order_by(Person::ID.asc())
                .limit(limit)
                .all()?;
            let all = ["Ann", "Bob", "Cid", "Dee", "Eve"];
            assert_eq!(names(&found)?, all[..limit as usize]);
        }
        Ok(())
    }

    fn more_query_shapes_than_a_connection_keeps_all_run_right(db) -> orm::Result<()> {
        seed(&db)?;
        let people = [(1, "Ann", 31), (2, "Bob", 17), (3, "Cid", 45), (4, "Dee", 31), (5, "Eve", 62)];
        let session = db.session();
        let recorder = db.recorder();
        // 420 shapes, 384 of them kept (a connection keeps 256, then
        // starts over), lists of up to 70 values (one of more than 64 is
        // rendered each time, never kept).
        let mut shapes = 0;
        for n in 1..=70_i64 {
            for descending in [false, true] {
                for limit in [None, Some(2), Some(4)] {
                    let order = if descending { Person::ID.desc() } else { Person::ID.asc() };
                    let mut query = session
                        .query::<Person>()
                        .filter(Person::AGE.in_(0..n))
                        .order_by(order);
                    if let Some(limit) = limit {
                        query = query.limit(limit);
                    }
                    let mut expected: Vec<&str> = people
                        .iter()
                        .filter(|(_, _, age)| *age < n)
                        .map(|(_, name, _)| *name)
                        .collect();
                    if descending {
                        expected.reverse();
                    }
                    expected.truncate(limit.unwrap_or(5) as usize);
                    assert_eq!(names(&query.all()?)?, expected, "n {n}, {descending}, {limit:?}");
                    shapes += 1;
                }
            }
        }
        assert_eq!(recorder.count(), shapes);
        Ok(())
    }
}
