use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "author")]
    pub posts: HasMany<Post>,
}

#[derive(Model)]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "posts")]
    pub author: BelongsTo<User>,
}

#[derive(Model)]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "posts")]
    pub user: BelongsTo<User>,
}

fn main() {}
