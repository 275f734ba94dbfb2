//! The migration command line, `orm::migration_cli::run`, driven with
//! arguments against a database file and a folder in the temp dir: what
//! each command prints, its exit code, and what it leaves in the database
//! and the folder.

use crate::common;

use std::process::ExitCode;

use common::Scratch;
use orm::{Error, MigrationState, ModelSet};

/// The notes as the first version of the program has them.
mod v1 {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "notes")]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        pub body: String,
    }
}

/// The second version: a note may be pinned.
mod v2 {
    use orm::prelude::*;

    #[derive(Model, Debug)]
    #[orm(table = "notes")]
    pub struct Note {
        #[orm(primary_key)]
        pub id: i64,
        pub body: String,
        pub pinned: Option<bool>,
    }
}

/// Runs `migrate --db app.db --dir migrations COMMAND...` of `scratch` for
/// the models `S`: the exit code and what it printed.
fn migrate<S: ModelSet>(scratch: &Scratch, command: &[&str]) -> orm::Result<(ExitCode, String)> {
    let db = scratch.db_path().display().to_string();
    migrate_on::<S>(&db, scratch, command)
}

/// As [`migrate`], with `--db db`.
fn migrate_on<S: ModelSet>(
    db: &str,
    scratch: &Scratch,
    command: &[&str],
) -> orm::Result<(ExitCode, String)> {
    let dir = scratch.migrations().dir().display().to_string();
    let options = ["migrate", "--db", db, "--dir", &dir];
    let mut out = Vec::new();
    let code = orm::migration_cli::run::<S>(options.iter().chain(command), &mut out)?;
    Ok((code, String::from_utf8(out).expect("the output is UTF-8")))
}

fn file_names(scratch: &Scratch) -> orm::Result<Vec<String>> {
    Ok(scratch
        .migrations()
        .files()?
        .into_iter()
        .map(|f| f.name)
        .collect())
}

fn history_rows(scratch: &Scratch) -> i64 {
    scratch
        .inspect()
        .query_row("SELECT count(*) FROM orm_migrations", [], |row| row.get(0))
        .expect("the history table can be counted")
}

fn columns(scratch: &Scratch, table: &str) -> Vec<String> {
    let conn = scratch.inspect();
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .expect("pragma_table_info prepares");
    stmt.query_map([], |row| row.get(0))
        .expect("pragma_table_info runs")
        .collect::<rusqlite::Result<_>>()
        .expect("column names read")
}

#[test]
fn check_fails_on_an_empty_database_naming_each_missing_table() -> orm::Result<()> {
    let scratch = Scratch::new();
    let (code, out) = migrate::<v1::Note>(&scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(
        out,
        "check failed:\n  the database differs from the models in 1 step(s):\n    1. create table `notes`\n"
    );
    Ok(())
}

#[test]
fn generate_writes_the_plan_with_a_down_section_and_check_fails_while_it_is_pending()
-> orm::Result<()> {
    let scratch = Scratch::new();
    let (code, out) = migrate::<v1::Note>(&scratch, &["generate", "create", "notes"])?;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(
        out.starts_with("wrote ") && out.ends_with("0001_create_notes.sql\n"),
        "{out}"
    );
    let file = scratch.migrations().files()?.remove(0);
    assert!(file.up().contains("CREATE TABLE \"notes\""), "{}", file.sql);
    assert_eq!(
        file.down()
            .map(|down| down.lines().filter(|l| !l.starts_with("--")).collect()),
        Some(vec!["DROP TABLE \"notes\";"])
    );

    let (code, out) = migrate::<v1::Note>(&scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("  0001_create_notes.sql is pending\n"),
        "{out}"
    );
    Ok(())
}

#[test]
fn apply_then_check_passes_and_status_lists_each_file_applied() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;

    let (code, out) = migrate::<v1::Note>(&scratch, &["apply"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(out, "applied 0001_create_notes.sql\n");
    assert_eq!(columns(&scratch, "notes"), ["id", "body"]);

    let (code, out) = migrate::<v1::Note>(&scratch, &["check"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        out,
        "ok: 1 migration file(s) applied, the database matches the models\n"
    );

    let (code, out) = migrate::<v1::Note>(&scratch, &["status"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        out,
        format!(
            "{:<40} applied\nthe database matches the models\n",
            "0001_create_notes.sql"
        )
    );

    let (_, out) = migrate::<v1::Note>(&scratch, &["apply"])?;
    assert_eq!(out, "nothing to apply\n");
    Ok(())
}

#[test]
fn plan_prints_the_sql_the_models_need_and_changes_nothing() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;
    migrate::<v1::Note>(&scratch, &["apply"])?;

    let (code, out) = migrate::<v2::Note>(&scratch, &["plan"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        out.contains("ALTER TABLE \"notes\" ADD COLUMN \"pinned\" INTEGER;\n"),
        "{out}"
    );
    assert_eq!(columns(&scratch, "notes"), ["id", "body"]);
    assert_eq!(file_names(&scratch)?, ["0001_create_notes.sql"]);

    let (code, out) = migrate::<v2::Note>(&scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("1. alter table `notes`: add column \"pinned\" INTEGER"),
        "{out}"
    );
    Ok(())
}

#[test]
fn generate_refuses_while_files_are_pending_and_writes_nothing() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;

    let (code, out) = migrate::<v2::Note>(&scratch, &["generate", "pin notes"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.starts_with("not generated: 1 migration file(s) are pending (0001_create_notes.sql)"),
        "{out}"
    );
    assert_eq!(file_names(&scratch)?, ["0001_create_notes.sql"]);
    Ok(())
}

#[test]
fn generate_writes_nothing_when_the_database_matches_the_models() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;
    migrate::<v1::Note>(&scratch, &["apply"])?;
    let (code, out) = migrate::<v1::Note>(&scratch, &["generate", "again"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        out,
        "nothing to generate: the database matches the models\n"
    );
    assert_eq!(file_names(&scratch)?, ["0001_create_notes.sql"]);
    Ok(())
}

#[test]
fn a_destructive_plan_is_written_only_with_allow_destructive() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v2::Note>(&scratch, &["generate", "create notes"])?;
    migrate::<v2::Note>(&scratch, &["apply"])?;

    let (code, out) = migrate::<v1::Note>(&scratch, &["generate", "unpin"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        out.contains("dropping column `notes`.`pinned`")
            && out.ends_with("pass --allow-destructive to write it\n"),
        "{out}"
    );
    assert_eq!(file_names(&scratch)?.len(), 1);

    let (code, out) = migrate::<v1::Note>(&scratch, &["generate", "unpin", "--allow-destructive"])?;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    let file = scratch.migrations().files()?.remove(1);
    assert_eq!(file.name, "0002_unpin.sql");
    assert!(
        file.down()
            .is_some_and(|down| down.contains("write the SQL that undoes this step")),
        "a rebuild's inverse is left to the user: {}",
        file.sql
    );
    Ok(())
}

#[test]
fn revert_undoes_the_last_file_and_it_is_pending_again() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;
    migrate::<v1::Note>(&scratch, &["apply"])?;

    let (code, out) = migrate::<v1::Note>(&scratch, &["revert"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(out, "reverted 0001_create_notes.sql; it is pending again\n");
    assert!(columns(&scratch, "notes").is_empty(), "the table is gone");
    assert_eq!(history_rows(&scratch), 0);
    let db = orm::Database::open(scratch.db_path())?;
    assert_eq!(
        db.migration_status(&scratch.migrations())?[0].state,
        MigrationState::Pending
    );

    let revert = migrate::<v1::Note>(&scratch, &["revert"]);
    assert!(matches!(revert, Err(Error::NothingToRevert)), "{revert:?}");
    Ok(())
}

#[test]
fn check_fails_on_an_applied_file_edited_since() -> orm::Result<()> {
    let scratch = Scratch::new();
    migrate::<v1::Note>(&scratch, &["generate", "create notes"])?;
    migrate::<v1::Note>(&scratch, &["apply"])?;
    let file = scratch.migrations().files()?.remove(0);
    let edited = file.sql.replace("\"body\" TEXT NOT NULL", "\"body\" TEXT");
    std::fs::write(&file.path, edited).expect("the file can be edited");

    let (code, out) = migrate::<v1::Note>(&scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert_eq!(
        out,
        "check failed:\n  0001_create_notes.sql was edited after it was applied (the edit did not run)\n"
    );
    Ok(())
}

#[test]
fn a_declared_rename_makes_the_plan_rename_the_column() -> orm::Result<()> {
    let scratch = Scratch::new();
    scratch.database(r#"CREATE TABLE "notes" ("id" INTEGER PRIMARY KEY, "text" TEXT NOT NULL)"#)?;

    let (_, out) = migrate::<v1::Note>(&scratch, &["--rename-column", "notes.text=body", "plan"])?;
    assert!(
        out.contains(r#"ALTER TABLE "notes" RENAME COLUMN "text" TO "body";"#),
        "{out}"
    );
    Ok(())
}

#[test]
fn a_mistake_on_the_command_line_exits_with_2_and_the_usage() -> orm::Result<()> {
    let scratch = Scratch::new();
    for command in [
        &["frobnicate"][..],
        &["generate"],
        &["--rename-table", "users", "plan"],
    ] {
        let (code, out) = migrate::<v1::Note>(&scratch, command)?;
        assert_eq!(code, ExitCode::from(2), "{command:?}");
        assert!(out.starts_with("error: "), "{command:?}: {out}");
        assert!(out.contains("--help"), "{command:?}: {out}");
    }
    let (code, out) = migrate::<v1::Note>(&scratch, &["--help"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    for word in ["status", "plan", "generate", "apply", "check", "revert"] {
        assert!(out.contains(word), "{word}: {out}");
    }
    Ok(())
}

/// The workflow on PostgreSQL, where `ORM_TEST_POSTGRES` names a server
/// (see `common::backend`): `--db` takes the server's URL, here scoped to
/// a schema of the test's own, dropped at its end.
#[cfg(feature = "postgres")]
#[test]
fn the_workflow_runs_on_postgresql_given_its_url() -> orm::Result<()> {
    let Some(url) = std::env::var(common::backend::POSTGRES_URL)
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return Ok(());
    };
    let schema = format!("orm_test_cli_{}", std::process::id());
    let mut admin =
        postgres::Client::connect(&url, postgres::NoTls).expect("the configured server answers");
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\""
        ))
        .expect("a test schema can be created");
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-csearch_path%3D{schema}");
    let result = workflow_on_postgresql(&scoped);
    let _ = admin.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
    result
}

#[cfg(feature = "postgres")]
fn workflow_on_postgresql(db: &str) -> orm::Result<()> {
    let scratch = Scratch::new();
    let (code, _) = migrate_on::<v1::Note>(db, &scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);

    let (code, out) = migrate_on::<v1::Note>(db, &scratch, &["generate", "create notes"])?;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    let file = scratch.migrations().files()?.remove(0);
    assert!(file.up().contains("rolls\n-- back whole"), "{}", file.sql);
    let (_, out) = migrate_on::<v1::Note>(db, &scratch, &["apply"])?;
    assert_eq!(out, "applied 0001_create_notes.sql\n");
    let (code, out) = migrate_on::<v1::Note>(db, &scratch, &["check"])?;
    assert_eq!(code, ExitCode::SUCCESS, "{out}");

    let (_, out) = migrate_on::<v2::Note>(db, &scratch, &["plan"])?;
    assert!(
        out.contains(r#"ALTER TABLE "notes" ADD COLUMN "pinned" BOOLEAN;"#),
        "{out}"
    );

    let (code, _) = migrate_on::<v1::Note>(db, &scratch, &["revert"])?;
    assert_eq!(code, ExitCode::SUCCESS);
    let (code, out) = migrate_on::<v1::Note>(db, &scratch, &["check"])?;
    assert_eq!(code, ExitCode::FAILURE);
    assert!(out.contains("0001_create_notes.sql is pending"), "{out}");
    assert!(out.contains("1. create table `notes`"), "{out}");
    Ok(())
}
