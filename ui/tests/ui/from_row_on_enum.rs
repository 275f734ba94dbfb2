#[derive(orm::FromRow)]
pub enum Status {
    Open,
    Closed,
}

fn main() {}
