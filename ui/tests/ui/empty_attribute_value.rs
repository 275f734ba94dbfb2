use orm::prelude::*;

#[derive(Model)]
#[orm(table = "")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(column = " ")]
    pub name: String,
}

fn main() {}
