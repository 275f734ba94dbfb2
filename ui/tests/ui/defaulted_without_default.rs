use orm::prelude::*;

#[derive(Model)]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub created_at: Defaulted<String>,
}

fn main() {}
