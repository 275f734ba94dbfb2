//! The migration command line of a project, as it would sit in its
//! `src/bin/migrate.rs`: the models, and one line that names them.
//!
//! ```text
//! cargo run --example migrate -- status              # files and their state
//! cargo run --example migrate -- plan                # what the models need, as SQL
//! cargo run --example migrate -- generate "add user foreign key"
//! cargo run --example migrate -- apply               # pending files, in order
//! cargo run --example migrate -- check               # for CI: exit 1 on drift or pending files
//! cargo run --example migrate -- revert              # undo the last file by its down section
//! cargo run --example migrate -- help
//! ```
//!
//! Options: `--db URL_OR_PATH` (default `app.db`, or `DATABASE_URL`),
//! `--dir DIR` (default `migrations`), `--allow-destructive` for
//! `generate`, and `--rename-table` / `--rename-column` (see
//! `orm::migration_cli`).
//!
//! The workflow: change the models, `plan` to see what that needs, `generate`
//! to write it as the next numbered file, review and commit the file, then
//! `apply` wherever the database lives.

use std::process::ExitCode;

use orm::prelude::*;

/// The models this program's database follows.
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

/// An order, with its user.
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

fn main() -> ExitCode {
    orm::migration_cli::main::<(User, Order)>()
}
