#[derive(orm::ColumnType)]
#[orm(rename_al = "snake_case", table = "statuses")]
pub enum Status {
    #[orm(alias = "opened")]
    Open,
    Closed,
}

fn main() {}
