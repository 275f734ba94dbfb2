#[derive(orm::ColumnType)]
pub struct Id<T>(T);

fn main() {}
