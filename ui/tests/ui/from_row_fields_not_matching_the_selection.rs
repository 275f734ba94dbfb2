use orm::prelude::*;

#[derive(Model)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
}

#[derive(orm::FromRow)]
pub struct IdName {
    pub id: i64,
    pub name: String,
}

fn main() {
    let db = Database::in_memory().unwrap();
    let session = db.session();
    // The columns come in the other order.
    let _ = session.query::<User>().select((User::NAME, User::ID)).all_as::<IdName>();
}
