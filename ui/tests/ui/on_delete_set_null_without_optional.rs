use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(on_delete = "set null")]
    pub user: BelongsTo<User>,
}

fn main() {}
