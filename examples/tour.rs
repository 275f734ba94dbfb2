//! The tour: users and orders, narrated by the SQL each line costs.

use orm::prelude::*;

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

fn main() -> orm::Result<()> {
    let db = Database::in_memory()?;
    db.set_echo(true);
    println!(
        "-- the DDL the derive generated:\n{}{}",
        User::ddl(),
        Order::ddl()
    );
    db.create_all::<(User, Order)>()?;
    let session = db.session();
    let alice = session.add(User::new("Alice"));
    let order = session.add(Order::new(1299));
    println!("-- order.user = alice: no SQL, both sides updated in memory");
    order.read()?.user.set(&alice)?;
    println!("-- commit: parents first, the order's user_id filled from alice's new id");
    session.commit()?;
    assert_eq!(order.read()?.user.load()?, alice);
    println!("-- order.user.load(): the same object, no SQL");
    Ok(())
}
