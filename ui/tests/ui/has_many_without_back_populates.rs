use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub orders: HasMany<Order>,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
}

fn main() {}
