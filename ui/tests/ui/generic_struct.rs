use orm::prelude::*;

#[derive(Model)]
pub struct Setting<T> {
    #[orm(primary_key)]
    pub id: i64,
    pub value: T,
}

fn main() {}
