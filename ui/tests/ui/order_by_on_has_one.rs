use orm::prelude::*;

#[derive(Model)]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "user", order_by = "id")]
    pub profile: HasOne<Profile>,
}

#[derive(Model)]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    #[orm(back_populates = "profile", unique)]
    pub user: BelongsTo<User>,
}

fn main() {}
