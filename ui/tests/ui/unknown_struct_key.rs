use orm::prelude::*;

#[derive(Model)]
#[orm(tabel = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
}

fn main() {}
