#[derive(orm::ColumnType)]
pub union Bits {
    pub int: i64,
    pub real: f64,
}

fn main() {}
