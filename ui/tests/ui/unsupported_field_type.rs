use orm::prelude::*;

#[derive(Model)]
pub struct Job {
    #[orm(primary_key)]
    pub id: i64,
    pub timeout: std::time::Duration,
}

fn main() {}
