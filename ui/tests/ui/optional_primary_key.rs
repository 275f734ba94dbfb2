use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: Option<i64>,
    pub name: String,
}

fn main() {}
