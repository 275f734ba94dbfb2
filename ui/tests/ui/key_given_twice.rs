use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key, primary_key)]
    pub id: i64,
    #[orm(column = "a", column = "b")]
    pub name: String,
}

fn main() {}
