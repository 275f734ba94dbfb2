use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "user", order_by = "placed_on desc")]
    pub orders: HasMany<Order>,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
}

fn main() {}
