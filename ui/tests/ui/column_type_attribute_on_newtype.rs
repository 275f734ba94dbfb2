#[derive(orm::ColumnType)]
#[orm(repr = "text")]
pub struct Email(#[orm(rename = "email")] String);

fn main() {}
