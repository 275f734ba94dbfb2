use orm::prelude::*;

#[derive(Model)]
pub struct User(i64, String);

fn main() {}
