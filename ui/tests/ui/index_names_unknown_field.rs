use orm::prelude::*;

#[derive(Model)]
#[orm(index(name, emial))]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub email: String,
}

fn main() {}
