#[derive(orm::ColumnType)]
pub enum Never {}

fn main() {}
