//! Migrations: bringing a database that already holds rows to the models,
//! without losing them. SQLAlchemy's `create_all` never alters a table, and
//! Alembic's autogenerate fills the gap; this module is both ideas, for
//! SQLite and PostgreSQL, with one planner and what differs per backend in
//! `backend`.
//!
//! - [`Database::migration_plan`] compares the models with the live schema
//!   and returns a [`MigrationPlan`]: a value listing each step in plain
//!   words with the exact SQL it runs. New tables and indexes are created.
//!   On SQLite, columns are added with `ALTER TABLE ... ADD COLUMN` where
//!   SQLite allows it, and everything its `ALTER TABLE` cannot do (a type,
//!   a NOT NULL, a default, a UNIQUE, a foreign key, a dropped column) goes
//!   through SQLite's documented table rebuild. On PostgreSQL every change
//!   is made in place, one `ALTER TABLE` statement each
//!   ([`StepKind::AlterTable`], never a rebuild). Renames happen only where
//!   [`Renames`] declares them; a plan never guesses one.
//! - [`Database::apply`] runs a plan in one transaction: the whole plan
//!   applies, or nothing does. On SQLite foreign keys are off meanwhile and
//!   checked with `PRAGMA foreign_key_check` before `COMMIT`; PostgreSQL's
//!   DDL is transactional and checks each constraint as it is added. A
//!   step that would lose or change stored data runs only with
//!   [`Destructive::Allow`], and the error names the rows in the way
//!   ([`Hazard`]), on both backends alike.
//! - [`Migrations`] keeps plans as numbered SQL files in the repository;
//!   [`Database::migrate`] applies the pending ones in order and records
//!   each with its checksum; [`Database::revert`] undoes the last one by
//!   its down section (the SQL below a `-- down` line).
//! - With the `cli` feature (a default one), `orm::migration_cli` is the
//!   command line over all of this: `status`, `plan`, `generate`, `apply`,
//!   `check` and `revert`, for a one-line `src/bin/migrate.rs`.
//!
//! Does not write rows (sessions do), nor alter link tables of many-to-many
//! relationships beyond creating missing ones, nor recreate triggers or
//! views on a rebuilt table (SQLite), nor drop or remake views that read a
//! changed column (PostgreSQL refuses the statement, and the plan rolls
//! back).
//!
//! ```
//! use orm::prelude::*;
//! use orm::{Destructive, Renames, StepKind};
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "users")]
//! pub struct User {
//!     #[orm(primary_key)]
//!     pub id: i64,
//!     pub name: String,
//!     #[orm(back_populates = "user")]
//!     pub orders: HasMany<Order>,
//! }
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "orders")]
//! pub struct Order {
//!     #[orm(primary_key)]
//!     pub id: i64,
//!     pub total_cents: i64,
//!     #[orm(back_populates = "orders")]
//!     pub user: BelongsTo<User>,
//! }
//!
//! fn main() -> orm::Result<()> {
//!     let db = Database::in_memory()?;
//!     // An older program made `orders.user_id` a plain integer: no foreign key.
//!     db.execute_batch(
//!         r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);
//!            CREATE TABLE "orders" ("id" INTEGER PRIMARY KEY,
//!                "total_cents" INTEGER NOT NULL, "user_id" INTEGER NOT NULL);
//!            INSERT INTO "users" VALUES (1, 'Alice');
//!            INSERT INTO "orders" VALUES (1, 1299, 1);"#,
//!     )?;
//!
//!     let plan = db.migration_plan::<(User, Order)>(&Renames::new())?;
//!     println!("{plan}"); // the script, with a line in plain words per step
//!     assert_eq!(plan.steps().len(), 1);
//!     assert_eq!(plan.steps()[0].kind(), StepKind::RebuildTable);
//!
//!     db.apply(&plan, Destructive::Refuse)?;
//!     assert!(db.migration_plan::<(User, Order)>(&Renames::new())?.is_empty());
//!
//!     let session = db.session();
//!     let order = session.get::<Order>(1)?;
//!     let alice = order.read()?.user.load()?;
//!     assert_eq!(alice.read()?.name, "Alice");
//!     Ok(())
//! }
//! ```

mod apply;
#[cfg(feature = "cli")]
pub mod cli;
mod diff;
pub(crate) mod drift;
mod hazard;
#[cfg(feature = "postgres")]
mod in_place;
mod plan;
mod rebuild;
mod versioned;

pub use plan::{MigrationPlan, MigrationStep, Renames, SchemaChange, StepKind};
pub use versioned::{MigrateReport, MigrationFile, MigrationState, MigrationStatus, Migrations};

use crate::backend::sqlite::introspect;
use crate::database::Database;
use crate::error::Result;
use crate::schema::{LiveTable, ModelSet};
use crate::sql::Conn;

/// Whether a migration may run steps that lose or change stored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destructive {
    /// Stop at the first such step, change nothing, and name the rows.
    Refuse,
    /// Run them: drop the table or column, convert values that do not fit
    /// the new type, replace NULL by the column's default.
    Allow,
}

impl Database {
    /// The plan that brings the database to the models `S`: every table the
    /// models declare (their link tables included) and no other, so a table
    /// without a model is dropped, with consent (see [`Destructive`]).
    ///
    /// Reads the schema and, for steps that touch rows, counts those rows;
    /// changes nothing.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, name: String, nickname: Option<String> }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.execute_batch(r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL)"#)?;
    /// let plan = db.migration_plan::<User>(&orm::Renames::new())?;
    /// assert_eq!(plan.steps()[0].to_string(), r#"alter table `users`: add column "nickname" TEXT"#);
    /// assert_eq!(plan.steps()[0].sql(), [r#"ALTER TABLE "users" ADD COLUMN "nickname" TEXT"#]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Misuse`](crate::Error::Misuse) when a declared rename finds
    /// both the old and the new name in the database; [`Error::Sqlite`](crate::Error::Sqlite)
    /// (or `Error::Postgres`) when the schema cannot be read.
    pub fn migration_plan<S: ModelSet>(&self, renames: &Renames) -> Result<MigrationPlan> {
        let conn = self.connect()?;
        let plan = diff::plan(&conn, &S::tables(), renames);
        self.release(conn);
        plan
    }

    /// Applies a plan in one transaction: all of it, or none of it. Before
    /// each step that touches rows, looks at them again; a step that would
    /// lose or change data runs only with [`Destructive::Allow`].
    ///
    /// On SQLite, foreign keys are off while the steps run (a rebuild drops
    /// a table that others point at) and `PRAGMA foreign_key_check` runs
    /// before `COMMIT`; the connection goes back to the pool with foreign
    /// keys on. On PostgreSQL the frame is `BEGIN` and `COMMIT`: a statement
    /// that fails (a value its cast cannot convert, a foreign key that
    /// matches no row) rolls back every step. An empty plan sends nothing.
    ///
    /// ```
    /// # use orm::prelude::*;
    /// # #[derive(Model, Debug)]
    /// # #[orm(table = "users")]
    /// # struct User { #[orm(primary_key)] id: i64, name: String }
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::in_memory()?;
    /// db.execute_batch(r#"CREATE TABLE "users" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "age" INTEGER);
    ///                     INSERT INTO "users" VALUES (1, 'ann', 31)"#)?;
    /// let plan = db.migration_plan::<User>(&orm::Renames::new())?; // drops `age`
    /// let refused = db.apply(&plan, orm::Destructive::Refuse);
    /// assert!(matches!(refused, Err(orm::Error::DestructiveMigration(_))));
    /// db.apply(&plan, orm::Destructive::Allow)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Nothing is changed when any of these is returned:
    /// [`Error::DestructiveMigration`](crate::Error::DestructiveMigration)
    /// for a step refused;
    /// [`Error::MigrationBlocked`](crate::Error::MigrationBlocked) for a
    /// step that cannot run with the rows there;
    /// [`Error::ForeignKeyCheck`](crate::Error::ForeignKeyCheck) for rows
    /// whose foreign key points nowhere afterwards (SQLite; PostgreSQL
    /// reports them as [`Error::Constraint`](crate::Error::Constraint));
    /// [`Error::StalePlan`](crate::Error::StalePlan) when the schema changed
    /// since the plan was made; [`Error::Constraint`](crate::Error::Constraint)
    /// when copied rows break a new UNIQUE or NOT NULL;
    /// [`Error::Busy`](crate::Error::Busy) and [`Error::Sqlite`](crate::Error::Sqlite)
    /// (or `Error::Postgres`, for a statement the server refuses).
    pub fn apply(&self, plan: &MigrationPlan, destructive: Destructive) -> Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        self.migration(|conn| {
            apply::in_migration(conn, |conn| apply::run_plan(conn, plan, destructive))
        })
    }

    /// Where each migration file of `migrations` stands in this database.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// let status = db.migration_status(&orm::Migrations::new("no-such-folder"))?;
    /// assert!(status.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::MigrationFile`](crate::Error::MigrationFile) when the folder
    /// cannot be read; [`Error::Sqlite`](crate::Error::Sqlite).
    pub fn migration_status(&self, migrations: &Migrations) -> Result<Vec<MigrationStatus>> {
        let conn = self.connect()?;
        let status = versioned::status(&conn, migrations);
        self.release(conn);
        status
    }

    /// Applies the pending migration files in version order, in one
    /// transaction (framed as [`Database::apply`] frames a plan), recording each with its checksum in the
    /// `orm_migrations` table. Files applied before are not run again; those
    /// edited since are listed in the report.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::in_memory()?;
    /// let report = db.migrate(&orm::Migrations::new("no-such-folder"))?;
    /// assert!(report.applied.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::MigrationFailed`](crate::Error::MigrationFailed) naming the
    /// file whose SQL failed,
    /// [`Error::MigrationTransactionControl`](crate::Error::MigrationTransactionControl)
    /// naming the file and line where a pending file holds transaction
    /// control (`BEGIN`, `COMMIT`, `ROLLBACK`, ...), [`Error::ForeignKeyCheck`](crate::Error::ForeignKeyCheck),
    /// [`Error::MigrationFile`](crate::Error::MigrationFile): nothing is
    /// applied then.
    pub fn migrate(&self, migrations: &Migrations) -> Result<MigrateReport> {
        self.migration(|conn| versioned::migrate(conn, migrations))
    }

    /// Undoes the last applied migration file: runs its down section (the
    /// SQL below its `-- down` line) in one transaction, framed as
    /// [`Database::apply`] frames a plan, and deletes its row of the
    /// `orm_migrations` table, so that it is pending again. Returns the
    /// file's name.
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// # let dir = std::env::temp_dir().join(format!("orm-doc-revert-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).expect("a temp dir");
    /// std::fs::write(
    ///     dir.join("0001_create_notes.sql"),
    ///     "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n-- down\nDROP TABLE notes;\n",
    /// ).expect("the file is written");
    /// let db = orm::Database::in_memory()?;
    /// let migrations = orm::Migrations::new(&dir);
    /// db.migrate(&migrations)?;
    /// assert_eq!(db.revert(&migrations)?, "0001_create_notes.sql");
    /// assert_eq!(db.migration_status(&migrations)?[0].state, orm::MigrationState::Pending);
    /// # std::fs::remove_dir_all(&dir).expect("the temp dir is removed");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Nothing is changed when any of these is returned:
    /// [`Error::NothingToRevert`](crate::Error::NothingToRevert) when no
    /// file is applied; [`Error::NoDownSection`](crate::Error::NoDownSection)
    /// when the last one has no down section (or only comments there);
    /// [`Error::RevertEdited`](crate::Error::RevertEdited) when the file
    /// changed since it was applied (its checksum differs);
    /// [`Error::MigrationFile`](crate::Error::MigrationFile) when it is gone
    /// from the folder or the folder cannot be read;
    /// [`Error::MigrationTransactionControl`](crate::Error::MigrationTransactionControl)
    /// when its down section holds `BEGIN`, `COMMIT` and the like;
    /// [`Error::RevertFailed`](crate::Error::RevertFailed) when a statement
    /// of it fails; [`Error::ForeignKeyCheck`](crate::Error::ForeignKeyCheck)
    /// (SQLite) when rows point nowhere afterwards.
    pub fn revert(&self, migrations: &Migrations) -> Result<String> {
        self.migration(|conn| versioned::revert(conn, migrations))
    }

    /// Runs migration work on a connection of the pool, which goes back to
    /// the pool only if the work says it may (foreign keys back on).
    fn migration<T>(&self, work: impl FnOnce(&Conn) -> (Result<T>, bool)) -> Result<T> {
        let conn = self.connect()?;
        let (result, reusable) = work(&conn);
        if reusable {
            self.release(conn);
        }
        self.schema_changed();
        result
    }
}

/// The schema's version: it changes with every change of the schema, so
/// that `apply` can tell a plan made for another schema.
fn schema_version(conn: &Conn) -> Result<i64> {
    #[cfg(feature = "postgres")]
    if let Some(mut client) = conn.postgres() {
        return crate::backend::postgres::migration::schema_version(&mut client);
    }
    introspect::schema_version(conn.sqlite("migrations")?)
}

/// The database's tables as they are, the migration history left out.
fn live_tables(conn: &Conn) -> Result<Vec<LiveTable>> {
    #[cfg(feature = "postgres")]
    if let Some(mut client) = conn.postgres() {
        let mut tables = crate::backend::postgres::introspect::read_tables(&mut client)?;
        tables.retain(|t| !t.name.eq_ignore_ascii_case(versioned::HISTORY_TABLE));
        return Ok(tables);
    }
    introspect::table_names(conn.sqlite("migrations")?)?
        .iter()
        .filter(|name| !name.eq_ignore_ascii_case(versioned::HISTORY_TABLE))
        .map(|name| introspect::read_table(conn.sqlite("migrations")?, name))
        .collect()
}
