use orm::prelude::*;

#[derive(Model)]
#[orm(table = "notes")]
pub struct Note {
    #[orm(primary_key)]
    pub id: i64,
    pub title: String,
}

#[derive(Model)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
}

fn main() {
    let db = Database::in_memory().unwrap();
    let session = db.session();
    // `Tag` is neither queried nor joined: this would filter the wrong table.
    let _ = session.query::<Note>().filter(Tag::ID.eq(1)).all();
}
