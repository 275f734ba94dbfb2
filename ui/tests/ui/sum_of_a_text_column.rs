use orm::prelude::*;

#[derive(Model)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
}

fn main() {
    let db = Database::in_memory().unwrap();
    let session = db.session();
    let _: Vec<Option<i64>> = session.query::<User>().select(User::NAME.sum()).all().unwrap();
}
