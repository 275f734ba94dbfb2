use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(back_populates = "orders")]
    pub buyer: BelongsTo<User>,
}

fn main() {}
