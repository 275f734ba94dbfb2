//! Chapter 2: create, read, update, delete, and the identity map: one
//! object per row per session, so a second `get` costs nothing.

use orm::Recorder;
use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub email: String,
}

/// Prints how many statements ran since the last call, and starts over.
/// BEGIN, COMMIT and ROLLBACK only frame the work and are not counted.
fn cost(recorder: &Recorder) -> usize {
    let n = recorder.count();
    println!("   = {n} statement{}", if n == 1 { "" } else { "s" });
    recorder.clear();
    n
}

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<User>()?;
    db.set_echo(true);
    let recorder = db.recorder();
    let session = db.session();

    println!("\n>> let alice = session.add(User::new(\"Alice\", ...))");
    println!("   The session remembers alice as pending. Nothing is sent yet.");
    let alice = session.add(User::new("Alice", "alice@example.com"));
    assert_eq!(cost(&recorder), 0);

    println!("\n>> session.commit()");
    println!("   The flush sends the pending INSERT (its cause ends the [sql] line).");
    println!("   Its id is NULL: SQLite assigns one, and the session copies it back.");
    session.commit()?;
    assert_eq!(recorder.causes(), ["commit: insert into users"]);
    assert_eq!(cost(&recorder), 1);
    assert_eq!(alice.read()?.id, 1);
    println!("   alice.id is now {}", alice.read()?.id);

    println!("\n>> session.get::<User>(1)");
    println!("   Row 1 is already in this session's identity map: no SQL, and the");
    println!("   handle returned is alice herself (== compares identity, not values).");
    let again = session.get::<User>(1)?;
    assert_eq!(cost(&recorder), 0);
    assert_eq!(again, alice);

    println!("\n>> let other = db.session(); other.get::<User>(1)");
    println!("   A new session starts with an empty identity map.");
    let other = db.session();
    let first = other.get::<User>(1)?;
    assert_eq!(recorder.causes(), ["get of users 1"]);
    assert_eq!(cost(&recorder), 1);
    println!("   It is a different object from the first session's alice.");
    assert_ne!(first, alice);

    println!("\n>> other.get::<User>(1)  (again)");
    println!("   Now it is in `other`'s map: no SQL, the same object as before.");
    let second = other.get::<User>(1)?;
    assert_eq!(cost(&recorder), 0);
    assert_eq!(second, first);

    println!("\n>> other.query::<User>().filter(User::NAME.eq(\"Alice\")).one()");
    println!("   A query always asks the database (only the database knows which");
    println!("   rows match), but the row it finds maps to the object already in");
    println!("   the map: the same handle again, its values untouched.");
    println!("   (`one` asks for 2 rows: enough to tell one match from several.)");
    let found = other.query::<User>().filter(User::NAME.eq("Alice")).one()?;
    assert_eq!(cost(&recorder), 1);
    assert_eq!(found, first);
    drop(other);

    println!("\n>> alice.write()?.email = \"alice@work.example\"; session.commit()");
    println!("   The first write remembers alice's values, so the flush can compare");
    println!("   and update only the columns that changed (the cause lists them).");
    alice.write()?.email = "alice@work.example".into();
    session.commit()?;
    assert_eq!(recorder.causes(), ["commit: update of users 1: email"]);
    assert_eq!(cost(&recorder), 1);

    println!("\n>> alice.write()?.name = \"Alice\".into(); session.commit()");
    println!("   Written, but to the value it already had: nothing changed,");
    println!("   so there is nothing to update.");
    alice.write()?.name = "Alice".into();
    session.commit()?;
    assert_eq!(cost(&recorder), 0);

    println!("\n>> session.delete(&alice)?; session.commit()");
    println!("   delete only marks alice; nothing is sent before the flush.");
    session.delete(&alice)?;
    assert_eq!(recorder.count(), 0);
    session.commit()?;
    assert_eq!(recorder.causes(), ["commit: delete of users 1"]);
    assert_eq!(cost(&recorder), 1);

    println!("\n>> session.find::<User>(1)");
    println!("   The deleted row left the identity map, so find asks the database,");
    println!("   which has no row 1 any more: None.");
    let gone = session.find::<User>(1)?;
    assert_eq!(cost(&recorder), 1);
    assert!(gone.is_none());
    Ok(())
}
