use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(on_delete = "cascade")]
    pub name: String,
}

fn main() {}
