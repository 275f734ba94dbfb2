use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primay_key)]
    pub id: i64,
    pub name: String,
}

fn main() {}
