use orm::prelude::*;

#[derive(orm::ColumnType)]
pub enum Shape {
    Point,
    Circle(f64),
    Rect { width: f64, height: f64 },
}

// The type's uses report nothing more.
#[derive(Model)]
pub struct Drawing {
    #[orm(primary_key)]
    pub id: i64,
    pub shape: Shape,
}

fn main() {}
