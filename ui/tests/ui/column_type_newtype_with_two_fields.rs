#[derive(orm::ColumnType)]
pub struct Point(i64, i64);

fn main() {}
