//! Versioned migration files hold no transaction control: each runs inside
//! the migration's own transaction, so a `COMMIT` of its own would make the
//! files before it permanent and leave them unrecorded. A file with one is
//! refused before anything of the run is applied, naming the file and line.
//!
//! Each test starts from a database file that holds rows, made with plain
//! SQL, and reads it back with plain rusqlite afterwards.

mod common;

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
