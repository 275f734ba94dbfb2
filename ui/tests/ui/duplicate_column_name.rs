use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(column = "email")]
    pub address: String,
    pub email: String,
}

fn main() {}
