use orm::prelude::*;

#[derive(Model)]
#[orm(table = 5)]
pub struct User {
    #[orm(primay_key)]
    pub id: i64,
    #[orm(unique = "yes")]
    pub email: String,
    #[orm(on_delete = "cascade")]
    pub name: String,
    #[orm(column = "email")]
    pub address: String,
}

fn main() {}
