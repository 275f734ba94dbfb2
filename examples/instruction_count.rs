//! Instructions the ORM costs per workload, counted by callgrind: a figure
//! that repeats exactly for the same binary, whatever else the machine does,
//! so two commits can be compared without timing noise.
//!
//! ```text
//! cargo build --release --example instruction_count
//! for phase in setup insert load get; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/instruction_count $phase 2>&1 | grep Collected
//! done
//! ```
//!
//! Each phase runs the ones before it, so a workload's cost is the
//! difference between its count and the previous one: `insert` adds 10,000
//! users in one commit, `load` reads them all in a new session, `get` looks
//! each up by key in a new session of its own (a SELECT each).

use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub email: String,
}

const ROWS: i64 = 10_000;

fn main() -> orm::Result<()> {
    let phase = std::env::args().nth(1).unwrap_or_default();
    let db = Database::in_memory()?;
    db.create_all::<User>()?;
    if phase == "setup" {
        return Ok(());
    }
    let session = db.session();
    for i in 0..ROWS {
        session.add(User::new(format!("user {i}"), format!("u{i}@example.com")));
    }
    session.commit()?;
    drop(session);
    if phase == "insert" {
        return Ok(());
    }
    let session = db.session();
    let users = session.query::<User>().all()?;
    assert_eq!(users.len() as i64, ROWS, "every user loads");
    if phase == "load" {
        return Ok(());
    }
    for key in 1..=ROWS {
        let fresh = db.session();
        let user = fresh.get::<User>(key)?;
        assert_eq!(user.read()?.id, key, "the right row");
    }
    Ok(())
}
