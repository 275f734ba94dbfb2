#[derive(orm::ColumnType)]
pub struct Email {
    pub address: String,
}

fn main() {}
