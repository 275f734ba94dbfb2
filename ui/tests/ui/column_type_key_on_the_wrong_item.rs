#[derive(orm::ColumnType)]
#[orm(rename = "status")]
pub enum Status {
    #[orm(repr = "integer")]
    Open,
    #[orm(rename_all = "lowercase")]
    Closed,
}

fn main() {}
