#[derive(orm::ColumnType)]
#[orm(repr = "integer", rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[orm(rename = "HIGH")]
    High,
}

fn main() {}
