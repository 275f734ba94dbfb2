//! The workloads' models: users, their posts, the posts' comments.

use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(unique)]
    pub email: String,
    pub age: i64,
    #[orm(back_populates = "user")]
    pub posts: HasMany<Post>,
}

#[derive(Model, Debug)]
#[orm(table = "posts")]
pub struct Post {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
    pub score: i64,
    #[orm(back_populates = "posts", index)]
    pub user: BelongsTo<User>,
    #[orm(back_populates = "post")]
    pub comments: HasMany<Comment>,
}

#[derive(Model, Debug)]
#[orm(table = "comments")]
pub struct Comment {
    #[orm(primary_key)]
    pub id: i64,
    pub body: String,
    #[orm(back_populates = "comments", index)]
    pub post: BelongsTo<Post>,
}
