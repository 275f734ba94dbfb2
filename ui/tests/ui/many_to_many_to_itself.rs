use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(through = "follows")]
    pub follows: ManyToMany<User>,
}

fn main() {}
