use orm::prelude::*;

#[derive(Model)]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    pub keywords: ManyToMany<Keyword>,
}

#[derive(Model)]
pub struct Keyword {
    #[orm(primary_key)]
    pub id: i64,
}

fn main() {}
