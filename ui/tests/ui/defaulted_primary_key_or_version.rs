use orm::prelude::*;

#[derive(Model)]
pub struct Post {
    #[orm(primary_key, default = "1")]
    pub id: Defaulted<i64>,
    #[orm(version, default = "1")]
    pub version: Defaulted<i64>,
}

fn main() {}
