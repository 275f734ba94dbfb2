//! Versioned migration files hold no transaction control: each runs inside
//! the migration's own transaction, so a `COMMIT` of its own would make the
//! files before it permanent and leave them unrecorded. A file with one is
//! refused before anything of the run is applied, naming the file and line.
//!
//! Each test starts from a database file that holds rows, made with plain
//! SQL, and reads it back with plain rusqlite afterwards.

use crate::common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Fixture;
use orm::{Error, MigrationState, Migrations};

/// The database an older program made: people with rows.
const PEOPLE: &str = "
    CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    INSERT INTO people (id, name) VALUES (1, 'Ada'), (2, 'Brian');
";

/// A folder of migration files in the temp dir, removed when the test ends.
struct Folder {
    migrations: Migrations,
}

impl Folder {
    fn new(files: &[(&str, &str)]) -> Folder {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "orm-migration-files-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temp dir can hold a folder");
        for (name, sql) in files {
            std::fs::write(dir.join(name), sql).expect("a migration file can be written");
        }
        Folder {
            migrations: Migrations::new(dir),
        }
    }

    fn path(&self) -> &Path {
        self.migrations.dir()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.path());
    }
}

fn populated(name: &str) -> Fixture {
    let fx = Fixture::empty(name);
    fx.seed(PEOPLE);
    fx
}

/// Each column of `table`, as `PRAGMA table_info` names them.
fn columns(fx: &Fixture, table: &str) -> Vec<String> {
    fx.rows(
        &format!("SELECT name FROM pragma_table_info('{table}')"),
        |row| row.get(0),
    )
}

fn history_exists(fx: &Fixture) -> bool {
    fx.count("SELECT count(*) FROM sqlite_master WHERE name = 'orm_migrations'") > 0
}

const GOOD_FIRST: &str = "ALTER TABLE people ADD COLUMN email TEXT;\n\
                          UPDATE people SET email = lower(name) || '@example.com';\n";

#[test]
fn a_file_with_commit_mid_file_is_refused_naming_file_and_line_and_nothing_runs() -> orm::Result<()>
{
    let fx = populated("commit-mid-file");
    let folder = Folder::new(&[
        ("0001_add_email.sql", GOOD_FIRST),
        (
            "0002_sneaky.sql",
            "-- a comment saying COMMIT; is not a statement\n\
                 INSERT INTO people (id, name) VALUES (3, 'it''s; COMMIT');\n\
                 COMMIT;\n\
                 ALTER TABLE people ADD COLUMN age INTEGER;\n",
        ),
    ]);
    let recorder = fx.db.recorder();

    let error = fx
        .db
        .migrate(&folder.migrations)
        .expect_err("a file holding COMMIT is refused");

    match &error {
        Error::MigrationTransactionControl {
            file,
            line,
            keyword,
        } => {
            assert_eq!(file, "0002_sneaky.sql");
            assert_eq!(*line, 3);
            assert_eq!(*keyword, "COMMIT");
        }
        other => panic!("expected MigrationTransactionControl, got {other:?}"),
    }
    assert!(
        error.to_string().contains("`0002_sneaky.sql`, line 3"),
        "{error}"
    );
    assert!(
        recorder.statements().is_empty(),
        "no statement ran, not even BEGIN: {:?}",
        recorder.statements()
    );
    assert_eq!(
        columns(&fx, "people"),
        ["id", "name"],
        "the first file did not run"
    );
    assert_eq!(fx.count("SELECT count(*) FROM people"), 2);
    assert!(!history_exists(&fx), "nothing was recorded");
    let states: Vec<MigrationState> = fx
        .db
        .migration_status(&folder.migrations)?
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [MigrationState::Pending, MigrationState::Pending]);
    Ok(())
}

#[test]
fn every_kind_of_transaction_control_is_refused_in_any_case() -> orm::Result<()> {
    let fx = populated("every-kind");
    for (statement, keyword) in [
        ("begin transaction;", "BEGIN"),
        ("Commit;", "COMMIT"),
        ("end;", "END"),
        ("ROLLBACK;", "ROLLBACK"),
        ("rollback to sp;", "ROLLBACK"),
        ("savepoint sp;", "SAVEPOINT"),
        ("release sp;", "RELEASE"),
    ] {
        let sql = format!("UPDATE people SET name = 'x';\n\n{statement}\n");
        let folder = Folder::new(&[("0001_control.sql", &sql)]);
        match fx.db.migrate(&folder.migrations) {
            Err(Error::MigrationTransactionControl {
                file,
                line,
                keyword: found,
            }) => {
                assert_eq!(file, "0001_control.sql");
                assert_eq!(line, 3, "{statement}");
                assert_eq!(found, keyword);
            }
            other => panic!("`{statement}`: expected MigrationTransactionControl, got {other:?}"),
        }
    }
    assert_eq!(
        fx.rows("SELECT name FROM people ORDER BY id", |row| row
            .get::<_, String>(0)),
        ["Ada", "Brian"]
    );
    assert!(!history_exists(&fx));
    Ok(())
}

#[test]
fn an_applied_file_is_not_read_again_only_the_pending_ones() -> orm::Result<()> {
    let fx = populated("only-pending");
    let folder = Folder::new(&[("0001_add_email.sql", GOOD_FIRST)]);
    assert_eq!(
        fx.db.migrate(&folder.migrations)?.applied,
        ["0001_add_email.sql"]
    );
    std::fs::write(
        folder.path().join("0002_add_age.sql"),
        "ALTER TABLE people ADD COLUMN age INTEGER;\nSAVEPOINT half;\n",
    )
    .expect("a migration file can be written");

    let error = fx
        .db
        .migrate(&folder.migrations)
        .expect_err("SAVEPOINT refused");
    assert!(
        matches!(&error, Error::MigrationTransactionControl { file, line: 2, .. } if file == "0002_add_age.sql"),
        "{error:?}"
    );
    assert_eq!(columns(&fx, "people"), ["id", "name", "email"]);
    assert_eq!(fx.count("SELECT count(*) FROM orm_migrations"), 1);
    Ok(())
}

#[test]
fn a_file_with_a_trigger_body_is_accepted_and_the_trigger_fires() -> orm::Result<()> {
    let fx = populated("trigger-body");
    let folder = Folder::new(&[
        ("0001_add_email.sql", GOOD_FIRST),
        (
            "0002_audit.sql",
            "CREATE TABLE audit (person INTEGER, note TEXT);\n\
                 CREATE TRIGGER people_renamed AFTER UPDATE OF name ON people\n\
                 BEGIN\n\
                     INSERT INTO audit VALUES (new.id,\n\
                         CASE WHEN old.name = new.name THEN 'same' ELSE 'renamed; END' END);\n\
                     SELECT 1; -- COMMIT;\n\
                 END;\n\
                 SELECT CASE WHEN 1 THEN 'begin' END;\n",
        ),
    ]);

    let report = fx.db.migrate(&folder.migrations)?;

    assert_eq!(report.applied, ["0001_add_email.sql", "0002_audit.sql"]);
    assert_eq!(fx.count("SELECT count(*) FROM orm_migrations"), 2);
    fx.seed("UPDATE people SET name = 'Ada L.' WHERE id = 1;");
    assert_eq!(
        fx.rows("SELECT person, note FROM audit", |row| Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?
        ))),
        [(1, "renamed; END".to_owned())]
    );
    assert_eq!(
        fx.rows("SELECT email FROM people ORDER BY id", |row| row
            .get::<_, String>(0)),
        ["ada@example.com", "brian@example.com"]
    );
    Ok(())
}

/// Adds `email`; its down section drops it again.
const WITH_DOWN: &str = "ALTER TABLE people ADD COLUMN email TEXT;\n\
                         -- down\n\
                         ALTER TABLE people DROP COLUMN email;\n";

fn history_versions(fx: &Fixture) -> Vec<i64> {
    fx.rows(
        "SELECT version FROM orm_migrations ORDER BY version",
        |row| row.get(0),
    )
}

#[test]
fn migrate_runs_only_the_part_above_the_down_marker() -> orm::Result<()> {
    let fx = populated("up-only");
    let folder = Folder::new(&[("0001_add_email.sql", WITH_DOWN)]);

    fx.db.migrate(&folder.migrations)?;

    assert_eq!(columns(&fx, "people"), ["id", "name", "email"]);
    let file = folder.migrations.files()?.remove(0);
    assert_eq!(
        fx.rows("SELECT checksum FROM orm_migrations", |row| row
            .get::<_, String>(0)),
        [file.checksum()]
    );
    Ok(())
}

#[test]
fn revert_runs_the_last_files_down_section_and_deletes_its_history_row() -> orm::Result<()> {
    let fx = populated("revert-last");
    let folder = Folder::new(&[
        (
            "0001_add_age.sql",
            "ALTER TABLE people ADD COLUMN age INTEGER;\n-- down\nALTER TABLE people DROP COLUMN age;\n",
        ),
        ("0002_add_email.sql", WITH_DOWN),
    ]);
    fx.db.migrate(&folder.migrations)?;
    let recorder = fx.db.recorder();

    assert_eq!(fx.db.revert(&folder.migrations)?, "0002_add_email.sql");

    assert_eq!(columns(&fx, "people"), ["id", "name", "age"]);
    assert_eq!(history_versions(&fx), [1]);
    assert_eq!(fx.count("SELECT count(*) FROM people"), 2, "rows are kept");
    let sql: Vec<String> = recorder.statements().into_iter().map(|s| s.sql).collect();
    assert!(
        sql.iter()
            .any(|s| s.contains("ALTER TABLE people DROP COLUMN email")),
        "{sql:?}"
    );
    assert!(
        sql.iter()
            .any(|s| s.starts_with("DELETE FROM \"orm_migrations\"")),
        "{sql:?}"
    );
    let states: Vec<MigrationState> = fx
        .db
        .migration_status(&folder.migrations)?
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [MigrationState::Applied, MigrationState::Pending]);

    assert_eq!(fx.db.revert(&folder.migrations)?, "0001_add_age.sql");
    assert_eq!(columns(&fx, "people"), ["id", "name"]);
    assert!(matches!(
        fx.db.revert(&folder.migrations),
        Err(Error::NothingToRevert)
    ));

    assert_eq!(fx.db.migrate(&folder.migrations)?.applied.len(), 2);
    assert_eq!(columns(&fx, "people"), ["id", "name", "age", "email"]);
    Ok(())
}

#[test]
fn revert_with_nothing_applied_is_refused() {
    let fx = populated("revert-nothing");
    let folder = Folder::new(&[("0001_add_email.sql", WITH_DOWN)]);
    let error = fx
        .db
        .revert(&folder.migrations)
        .expect_err("nothing is applied");
    assert!(matches!(error, Error::NothingToRevert), "{error:?}");
    assert_eq!(
        error.to_string(),
        "nothing to revert: no migration file is applied"
    );
}

#[test]
fn revert_of_a_file_without_a_down_section_is_refused_and_changes_nothing() -> orm::Result<()> {
    let fx = populated("revert-no-down");
    let folder = Folder::new(&[
        ("0001_add_email.sql", GOOD_FIRST),
        (
            "0002_placeholder.sql",
            "ALTER TABLE people ADD COLUMN age INTEGER;\n-- down\n-- (not known: write it)\n",
        ),
    ]);
    fx.db.migrate(&folder.migrations)?;

    let error = fx
        .db
        .revert(&folder.migrations)
        .expect_err("a down section of comments only");
    assert!(
        matches!(&error, Error::NoDownSection { file } if file == "0002_placeholder.sql"),
        "{error:?}"
    );
    assert_eq!(columns(&fx, "people"), ["id", "name", "email", "age"]);
    assert_eq!(history_versions(&fx), [1, 2]);

    let plain = populated("revert-no-marker");
    let without = Folder::new(&[("0001_add_email.sql", GOOD_FIRST)]);
    plain.db.migrate(&without.migrations)?;
    assert!(matches!(
        plain.db.revert(&without.migrations),
        Err(Error::NoDownSection { .. })
    ));
    assert_eq!(history_versions(&plain), [1]);
    assert_eq!(history_versions(&fx), [1, 2]);
    Ok(())
}

#[test]
fn a_down_section_added_after_the_file_was_applied_is_an_edit_and_revert_refuses_it()
-> orm::Result<()> {
    let fx = populated("down-added-later");
    let folder = Folder::new(&[(
        "0001_add_email.sql",
        "ALTER TABLE people ADD COLUMN email TEXT;\n",
    )]);
    fx.db.migrate(&folder.migrations)?;

    std::fs::write(folder.path().join("0001_add_email.sql"), WITH_DOWN).expect("file written");

    assert_eq!(
        fx.db.migration_status(&folder.migrations)?[0].state,
        MigrationState::Edited,
        "the checksum covers the down section too"
    );
    assert!(matches!(
        fx.db.revert(&folder.migrations),
        Err(Error::RevertEdited { .. })
    ));
    assert_eq!(columns(&fx, "people"), ["id", "name", "email"]);
    Ok(())
}

#[test]
fn revert_of_a_file_edited_since_it_was_applied_is_refused() -> orm::Result<()> {
    let fx = populated("revert-edited");
    let folder = Folder::new(&[("0001_add_email.sql", WITH_DOWN)]);
    fx.db.migrate(&folder.migrations)?;
    std::fs::write(
        folder.path().join("0001_add_email.sql"),
        WITH_DOWN.replace("email TEXT", "email TEXT NOT NULL DEFAULT ''"),
    )
    .expect("file written");

    let error = fx
        .db
        .revert(&folder.migrations)
        .expect_err("the file changed");
    assert!(
        matches!(&error, Error::RevertEdited { file } if file == "0001_add_email.sql"),
        "{error:?}"
    );
    assert_eq!(columns(&fx, "people"), ["id", "name", "email"]);
    assert_eq!(history_versions(&fx), [1]);
    Ok(())
}

#[test]
fn a_failing_statement_of_a_down_section_rolls_back_the_whole_revert() -> orm::Result<()> {
    let fx = populated("revert-fails");
    let folder = Folder::new(&[(
        "0001_add_email.sql",
        "ALTER TABLE people ADD COLUMN email TEXT;\n\
         -- down\n\
         ALTER TABLE people DROP COLUMN email;\n\
         DROP TABLE no_such_table;\n",
    )]);
    fx.db.migrate(&folder.migrations)?;

    let error = fx
        .db
        .revert(&folder.migrations)
        .expect_err("the second statement fails");
    assert!(
        matches!(&error, Error::RevertFailed { file, .. } if file == "0001_add_email.sql"),
        "{error:?}"
    );
    assert!(error.to_string().contains("no_such_table"), "{error}");
    assert_eq!(
        columns(&fx, "people"),
        ["id", "name", "email"],
        "the first statement rolled back"
    );
    assert_eq!(history_versions(&fx), [1]);
    Ok(())
}

#[test]
fn a_down_section_with_commit_is_refused_naming_its_line_in_the_file() -> orm::Result<()> {
    let fx = populated("revert-commit");
    let folder = Folder::new(&[(
        "0001_add_email.sql",
        "ALTER TABLE people ADD COLUMN email TEXT;\n\
         -- down\n\
         ALTER TABLE people DROP COLUMN email;\n\
         COMMIT;\n",
    )]);
    fx.db.migrate(&folder.migrations)?;
    let recorder = fx.db.recorder();

    let error = fx
        .db
        .revert(&folder.migrations)
        .expect_err("COMMIT in the down section");
    assert!(
        matches!(
            &error,
            Error::MigrationTransactionControl {
                line: 4,
                keyword: "COMMIT",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        recorder
            .statements()
            .iter()
            .all(|s| !s.sql.contains("DROP COLUMN")),
        "nothing of the down section ran"
    );
    assert_eq!(columns(&fx, "people"), ["id", "name", "email"]);
    Ok(())
}

#[test]
fn revert_of_a_last_file_gone_from_the_folder_is_refused() -> orm::Result<()> {
    let fx = populated("revert-missing");
    let folder = Folder::new(&[("0001_add_email.sql", WITH_DOWN)]);
    fx.db.migrate(&folder.migrations)?;
    std::fs::remove_file(folder.path().join("0001_add_email.sql")).expect("file removed");

    let error = fx.db.revert(&folder.migrations).expect_err("no file");
    assert!(
        matches!(&error, Error::MigrationFile { file, .. } if file == "0001_add_email.sql"),
        "{error:?}"
    );
    assert_eq!(history_versions(&fx), [1]);
    Ok(())
}

/// People made by a first file, an email column by a second; each with the
/// down section that undoes it, in SQL both backends read.
const TWO_FILES: [(&str, &str); 2] = [
    (
        "0001_people.sql",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
         INSERT INTO people (id, name) VALUES (1, 'Ada');\n\
         -- down\n\
         DROP TABLE people;\n",
    ),
    (
        "0002_email.sql",
        "ALTER TABLE people ADD COLUMN email TEXT;\n\
         -- down\n\
         ALTER TABLE people DROP COLUMN email;\n",
    ),
];

fn states(db: &orm::Database, migrations: &Migrations) -> orm::Result<Vec<MigrationState>> {
    Ok(db
        .migration_status(migrations)?
        .into_iter()
        .map(|s| s.state)
        .collect())
}

backend_tests! {
    fn revert_undoes_the_last_file_only_on_either_backend(db) -> orm::Result<()> {
        let folder = Folder::new(&TWO_FILES);
        db.migrate(&folder.migrations)?;

        assert_eq!(db.revert(&folder.migrations)?, "0002_email.sql");

        let session = db.session();
        assert_eq!(session.sql_values::<String>("SELECT name FROM people", &[])?, ["Ada"]);
        assert!(session.sql_values::<String>("SELECT email FROM people", &[]).is_err());
        drop(session);
        assert_eq!(
            states(&db, &folder.migrations)?,
            [MigrationState::Applied, MigrationState::Pending]
        );
        db.migrate(&folder.migrations)?;
        assert_eq!(states(&db, &folder.migrations)?, [MigrationState::Applied; 2]);
        Ok(())
    }

    fn a_failing_down_section_rolls_back_the_whole_revert_on_either_backend(db) -> orm::Result<()> {
        let folder = Folder::new(&[(
            "0001_people.sql",
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
             -- down\n\
             DROP TABLE people;\n\
             DROP TABLE no_such_table;\n",
        )]);
        db.migrate(&folder.migrations)?;

        let failed = db.revert(&folder.migrations);

        assert!(
            matches!(&failed, Err(Error::RevertFailed { file, .. }) if file == "0001_people.sql"),
            "{failed:?}"
        );
        let session = db.session();
        assert!(
            session.sql_values::<i64>("SELECT count(*) FROM people", &[])? == [0],
            "the DROP TABLE before the failure rolled back"
        );
        drop(session);
        assert_eq!(states(&db, &folder.migrations)?, [MigrationState::Applied]);
        Ok(())
    }
}
