use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
}

#[derive(Model)]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(sql_type = "INTEGER")]
    pub user: BelongsTo<User>,
}

fn main() {}
