#[derive(orm::ColumnType)]
#[orm(repr = "int", rename_all = "camelCase")]
pub enum Status {
    #[orm(rename = 5)]
    Open,
    #[orm(rename)]
    Closed,
    #[orm(rename = "")]
    Archived,
    #[orm(rename = "gone", rename = "deleted")]
    Deleted,
}

fn main() {}
