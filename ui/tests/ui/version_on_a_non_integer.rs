use orm::prelude::*;

#[derive(Model)]
pub struct Account {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(version)]
    pub stamp: String,
    #[orm(version)]
    pub revision: i64,
}

fn main() {}
