use orm::prelude::*;

#[derive(Model)]
#[orm(table = 5)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
}

fn main() {}
