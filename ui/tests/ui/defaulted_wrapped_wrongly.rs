use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
}

#[derive(Model)]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(default = "'draft'")]
    pub status: Option<Defaulted<String>>,
    #[orm(default = "1")]
    pub author: Defaulted<BelongsTo<User>>,
}

fn main() {}
