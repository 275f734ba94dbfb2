//! Chapter 5: the unit of work. The session collects what you add, change
//! and delete, and writes it all in one flush: parents before children,
//! only the changed columns, inside one transaction that rollback undoes,
//! in the database and in memory.

use orm::prelude::*;
use orm::{Action, Recorder, State};

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

/// Prints how many statements ran since the last call, and starts over.
/// BEGIN, COMMIT and ROLLBACK only frame the work and are not counted.
fn cost(recorder: &Recorder) -> usize {
    let n = recorder.count();
    println!("   = {n} statement{}", if n == 1 { "" } else { "s" });
    recorder.clear();
    n
}

/// Prints the plan of the next flush, one step per line.
fn show_plan(session: &Session) -> orm::Result<orm::FlushPlan> {
    let plan = session.flush_plan()?;
    for line in plan.to_string().lines() {
        println!("   plan {line}");
    }
    Ok(plan)
}

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.create_all::<(User, Order)>()?;
    db.set_echo(true);
    let recorder = db.recorder();
    let session = db.session();

    println!("\nAn object's state says where it stands (SQLAlchemy's names).");
    println!(">> let alice = Handle::new(User::new(\"Alice\"))");
    let alice = Handle::new(User::new("Alice"));
    println!("   {:?}: in no session, not in the database", alice.state());
    assert_eq!(alice.state(), State::Transient);

    println!(">> session.add_handle(&alice)?");
    session.add_handle(&alice)?;
    println!("   {:?}: the next flush will insert it", alice.state());
    assert_eq!(alice.state(), State::Pending);

    println!("\nNow an order, added before its user on purpose.");
    println!(">> let order = session.add(Order::new(2500));");
    println!(">> let bob = session.add(User::new(\"Bob\"));");
    println!(">> order.read()?.user.set(&bob)?;");
    let order = session.add(Order::new(2500));
    let bob = session.add(User::new("Bob"));
    order.read()?.user.set(&bob)?;

    println!("\n>> session.flush_plan()?  (runs nothing; says what the flush will do)");
    println!("   Each step says why it is where it is: bob goes first, whatever");
    println!("   the order of the add calls.");
    let plan = show_plan(&session)?;
    let steps: Vec<(Action, &str)> = plan.steps.iter().map(|s| (s.action, s.table)).collect();
    assert_eq!(
        steps,
        [
            (Action::Insert, "users"),
            (Action::Insert, "users"),
            (Action::Insert, "orders")
        ]
    );
    assert_eq!(cost(&recorder), 0);

    println!("\n>> session.commit()");
    println!("   One transaction: the plan, statement for statement.");
    session.commit()?;
    assert_eq!(
        recorder.causes(),
        [
            "commit: insert into users",
            "commit: insert into users",
            "commit: insert into orders after users (orders.user_id needs users.id)"
        ]
    );
    assert_eq!(cost(&recorder), 3);
    println!(
        "   alice is now {:?}: in the identity map, with a row",
        alice.state()
    );
    assert_eq!(alice.state(), State::Persistent);

    println!("\n>> alice.write()?.name = \"Alicia\".into()");
    println!("   No SQL. The first write copied alice's values, so the session");
    println!("   can tell what changed:");
    alice.write()?.name = "Alicia".into();
    let changes = alice.changes()?;
    for change in &changes {
        println!("   alice.changes(): {change}");
    }
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].to_string(), "name: 'Alice' -> 'Alicia'");
    println!("   session.has_changes() = {}", session.has_changes());
    assert!(session.has_changes());
    assert_eq!(cost(&recorder), 0);

    println!("\n>> let second = session.add(Order::new(900));");
    println!(">> second.read()?.user.set(&alice)?;");
    println!(">> session.delete(&order)?;");
    let second = session.add(Order::new(900));
    second.read()?.user.set(&alice)?;
    session.delete(&order)?;
    println!(
        "   order is {:?}: its DELETE waits for the flush",
        order.state()
    );
    assert_eq!(order.state(), State::Deleted);

    println!("\n>> session.flush_plan()?");
    println!("   Updates that need no new row first (one that sets a key to NULL");
    println!("   goes before one that takes it), then inserts, parents first, then");
    println!("   updates that point at new rows, then deletes, children first.");
    let plan = show_plan(&session)?;
    let steps: Vec<(Action, &str)> = plan.steps.iter().map(|s| (s.action, s.table)).collect();
    assert_eq!(
        steps,
        [
            (Action::Update, "users"),
            (Action::Insert, "orders"),
            (Action::Delete, "orders")
        ]
    );

    println!("\n>> session.commit()");
    session.commit()?;
    assert_eq!(
        recorder.causes(),
        [
            "commit: update of users 1: name",
            "commit: insert into orders",
            "commit: delete of orders 1"
        ]
    );
    assert_eq!(cost(&recorder), 3);
    println!(
        "   order is now {:?}: its row is gone, the session let it go",
        order.state()
    );
    assert_eq!(order.state(), State::Detached);

    println!("\n>> session.commit()  (nothing changed since)");
    session.commit()?;
    assert_eq!(cost(&recorder), 0);

    println!("\nRollback. First some work: a flush writes inside a transaction");
    println!("that stays open until commit or rollback.");
    println!(">> alice.write()?.name = \"Mallory\".into();");
    println!(">> let temp = session.add(User::new(\"Temp\"));");
    println!(">> session.flush()?");
    alice.write()?.name = "Mallory".into();
    let temp = session.add(User::new("Temp"));
    session.flush()?;
    assert_eq!(
        recorder.causes(),
        ["flush: update of users 1: name", "flush: insert into users"]
    );
    assert_eq!(cost(&recorder), 2);
    println!("   temp is {:?} with id {}", temp.state(), temp.read()?.id);
    assert_eq!(temp.state(), State::Persistent);

    println!("\n>> bob.write()?.name = \"Robert\".into()  (not flushed: memory only)");
    bob.write()?.name = "Robert".into();

    println!("\n>> session.rollback()?");
    println!("   The database drops the flushed UPDATE and INSERT. In memory, every");
    println!("   object gets back the values the database has: alice's flushed");
    println!("   change and bob's unflushed one are both undone, and temp, added");
    println!("   in the transaction, leaves the session.");
    session.rollback()?;
    assert_eq!(cost(&recorder), 0);
    println!(
        "   alice.name = {:?}, bob.name = {:?}, temp is {:?} with id {}",
        alice.read()?.name,
        bob.read()?.name,
        temp.state(),
        temp.read()?.id
    );
    assert_eq!(alice.read()?.name, "Alicia");
    assert_eq!(bob.read()?.name, "Bob");
    assert_eq!(temp.state(), State::Transient);
    assert_eq!(
        temp.read()?.id,
        0,
        "the id of a row that never was is forgotten"
    );
    assert!(!session.has_changes());

    println!("\n>> db.session().query::<User>().count()?  (a fresh look at the database)");
    let users = db.session().query::<User>().count()?;
    assert_eq!(cost(&recorder), 1);
    assert_eq!(users, 2);
    println!("   {users} users: alice and bob, no temp");
    Ok(())
}
