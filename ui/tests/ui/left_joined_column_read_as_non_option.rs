use orm::prelude::*;

#[derive(Model)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

fn main() {
    let db = Database::in_memory().unwrap();
    let session = db.session();
    // A user without orders has NULL here: the column reads as Option<i64>.
    let _: Vec<(String, i64)> = session
        .query::<User>()
        .left_join(User::ORDERS)
        .select((User::NAME, Order::TOTAL_CENTS))
        .all()
        .unwrap();
}
