use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(skip, unique)]
    pub cache: String,
}

fn main() {}
