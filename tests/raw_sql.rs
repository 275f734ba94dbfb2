//! Raw SQL through the session: rows into objects (`sql`), rows as plain
//! values (`sql_values`), statements that change rows (`execute`). All run
//! on the session's connection after autoflush, inside its transaction;
//! each checks parameters and result columns before anything runs. And the
//! recorder counts data statements only.
//!
//! Every test runs on each backend of the matrix (see `common::backend`);
//! what is committed is read by a session of its own.

use crate::common;

use common::{
    Fixture,
    backend::{self, is_postgres},
};
use orm::prelude::*;
use orm::{ConstraintKind, Error};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(unique)]
    pub name: String,
    pub age: i64,
}

/// Creates `users` in `db` with ann (1, 31) and bob (2, 17), committed.
fn seed(db: &Database) -> orm::Result<()> {
    db.create_all::<User>()?;
    db.execute_batch("INSERT INTO users (name, age) VALUES ('ann', 31), ('bob', 17)")
}

/// The one integer `sql` reads, asked by a session of its own: what is
/// committed.
fn committed(db: &Database, sql: &str) -> orm::Result<i64> {
    let values = db.session().sql_values::<i64>(sql, &[])?;
    assert_eq!(values.len(), 1, "{sql} reads one row");
    Ok(values[0])
}

backend_tests! {
    fn sql_values_reads_tuples_and_sees_flushed_uncommitted_rows(db) -> orm::Result<()> {
        // On SQLite a file database: there a reader in another session does
        // not wait for the writer (in a shared in-memory database the
        // table would be locked). On PostgreSQL each session has a
        // connection of its own, and READ COMMITTED readers do not wait.
        let file;
        let db: &Database = if is_postgres(&db) {
            &db
        } else {
            file = Fixture::empty("raw-uncommitted");
            &file.db
        };
        seed(db)?;
        let session = db.session();
        session.add(User::new("cy".to_owned(), 40));
        let recorder = db.recorder();
        let rows: Vec<(String, i64)> = session.sql_values(
            "SELECT name, age FROM users WHERE age > $1 ORDER BY name",
            &[&18_i64],
        )?;
        assert_eq!(rows, [("ann".to_owned(), 31), ("cy".to_owned(), 40)]);
        assert_eq!(
            recorder.count(),
            2,
            "the autoflush's INSERT, then the query"
        );
        let names: Vec<Option<String>> =
            session.sql_values("SELECT max(name) FROM users WHERE age > 100", &[])?;
        assert_eq!(names, [None]);
        assert_eq!(
            committed(db, "SELECT count(*) FROM users")?,
            2,
            "cy is not committed"
        );
        Ok(())
    }

    fn sql_values_with_another_number_of_columns_is_an_error_and_runs_nothing(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let wrong = session.sql_values::<(String, i64, i64)>("SELECT name, age FROM users", &[]);
        match wrong {
            Err(Error::ResultColumns {
                found, expected, ..
            }) => {
                assert_eq!(found, ["name", "age"]);
                assert_eq!(expected, "3 column(s)");
            }
            other => panic!("expected ResultColumns, got {other:?}"),
        }
        assert_eq!(recorder.count(), 0);
        Ok(())
    }

    fn a_value_that_does_not_convert_names_its_column_and_row(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let wrong = session.sql_values::<(i64, i64)>("SELECT id, name FROM users ORDER BY id", &[]);
        match wrong {
            Err(Error::Conversion { column, key, .. }) => {
                assert_eq!(column, "name");
                assert_eq!(key, "#1");
            }
            other => panic!("expected Conversion, got {other:?}"),
        }
        Ok(())
    }

    fn every_raw_entry_point_checks_its_parameters_before_running(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let recorder = db.recorder();
        let too_few = session.sql::<User>("SELECT * FROM users WHERE id = $1 AND age = $2", &[&1_i64]);
        assert!(
            matches!(
                too_few,
                Err(Error::Parameters {
                    expected: 2,
                    given: 1,
                    ..
                })
            ),
            "{too_few:?}"
        );
        let too_many = session.sql_values::<i64>("SELECT count(*) FROM users", &[&1_i64]);
        assert!(
            matches!(
                too_many,
                Err(Error::Parameters {
                    expected: 0,
                    given: 1,
                    ..
                })
            ),
            "{too_many:?}"
        );
        let none = session.execute("DELETE FROM users WHERE id = $1", &[]);
        assert!(
            matches!(
                none,
                Err(Error::Parameters {
                    expected: 1,
                    given: 0,
                    ..
                })
            ),
            "{none:?}"
        );
        assert_eq!(recorder.count(), 0, "nothing ran");
        assert_eq!(committed(&db, "SELECT count(*) FROM users")?, 2);
        Ok(())
    }

    fn sql_into_a_model_is_an_error_when_a_column_is_missing(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let missing = session.sql::<User>("SELECT id, age FROM users", &[]);
        match missing {
            Err(Error::ResultColumns {
                expected, found, ..
            }) => {
                assert_eq!(expected, "the column `name` of `users`");
                assert_eq!(found, ["id", "age"]);
            }
            other => panic!("expected ResultColumns, got {other:?}"),
        }
        assert!(session.is_empty(), "no object was made");
        // Columns by name, in any order, with extra ones ignored.
        let users = session.sql::<User>(
            "SELECT age, 1 AS extra, name, id FROM users ORDER BY id",
            &[],
        )?;
        assert_eq!(users[1].read()?.name, "bob");
        Ok(())
    }

    fn execute_runs_inside_the_session_transaction(db) -> orm::Result<()> {
        // A file database on SQLite, as above: the committed age is read
        // while the session's transaction is open.
        let file;
        let db: &Database = if is_postgres(&db) {
            &db
        } else {
            file = Fixture::empty("raw-execute");
            &file.db
        };
        seed(db)?;
        let session = db.session();
        let changed = session.execute("UPDATE users SET age = age + 1 WHERE age < $1", &[&30_i64])?;
        assert_eq!(changed, 1);
        assert_eq!(
            session.sql_values::<i64>("SELECT age FROM users WHERE id = 2", &[])?,
            [18],
            "the session sees its own change"
        );
        assert_eq!(
            committed(db, "SELECT age FROM users WHERE id = 2")?,
            17,
            "not committed"
        );
        session.rollback()?;
        assert_eq!(committed(db, "SELECT age FROM users WHERE id = 2")?, 17);

        session.execute("UPDATE users SET age = 99 WHERE id = 2", &[])?;
        session.commit()?;
        assert_eq!(committed(db, "SELECT age FROM users WHERE id = 2")?, 99);
        Ok(())
    }

    fn a_failed_execute_changes_nothing_and_leaves_the_session_usable(db) -> orm::Result<()> {
        seed(&db)?;
        let session = db.session();
        let duplicate = session.execute("INSERT INTO users (name, age) VALUES ('ann', 1)", &[]);
        assert!(
            matches!(
                duplicate,
                Err(Error::Constraint {
                    kind: ConstraintKind::Unique,
                    ..
                })
            ),
            "{duplicate:?}"
        );
        // The transaction opened for the statement is closed again: another
        // session can write at once (on SQLite the write lock is free again).
        let other = db.session();
        other.execute("INSERT INTO users (name, age) VALUES ('dee', 5)", &[])?;
        other.commit()?;
        // And this session is not stuck in a failed transaction.
        session.add(User::new("eve".to_owned(), 50));
        session.commit()?;
        assert_eq!(committed(&db, "SELECT count(*) FROM users")?, 4);
        let names: Vec<String> = db
            .session()
            .sql_values("SELECT name FROM users ORDER BY name", &[])?;
        assert_eq!(names, ["ann", "bob", "dee", "eve"]);
        Ok(())
    }

    fn the_recorder_counts_data_statements_only(db) -> orm::Result<()> {
        let recorder = db.recorder();
        db.create_all::<User>()?;
        db.execute_batch("INSERT INTO users (name, age) VALUES ('ann', 31)")?;
        let session = db.session();
        session.add(User::new("bob".to_owned(), 17));
        session.commit()?;
        let insert = if is_postgres(&db) {
            r#"INSERT INTO "users" ("name", "age") VALUES (?, ?) RETURNING "id""#
        } else {
            r#"INSERT INTO "users" ("id", "name", "age") VALUES (?, ?, ?)"#
        };
        assert_eq!(
            backend::sql(&recorder),
            [insert],
            "no DDL, no PRAGMA, no batch, no BEGIN or COMMIT"
        );
        assert_eq!(recorder.count(), 1);
        assert!(
            recorder
                .statements()
                .iter()
                .any(|s| s.sql.starts_with("CREATE TABLE")),
            "statements() keeps everything"
        );
        Ok(())
    }
}
