#[derive(orm::ColumnType)]
pub struct Timeout(std::time::Duration);

fn main() {}
