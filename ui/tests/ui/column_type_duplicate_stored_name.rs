#[derive(orm::ColumnType)]
#[orm(rename_all = "lowercase")]
pub enum Status {
    Open,
    #[orm(rename = "open")]
    Reopened,
    InProgress,
    Inprogress,
}

fn main() {}
