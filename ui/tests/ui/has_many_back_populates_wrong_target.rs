use orm::prelude::*;

#[derive(Model)]
pub struct Shop {
    #[orm(primary_key)]
    pub id: i64,
}

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "shop")]
    pub orders: HasMany<Order>,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub shop: BelongsTo<Shop>,
}

fn main() {}
