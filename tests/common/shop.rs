//! The shop the query tests run against: users with a profile, orders
//! with items and tags, and employees with managers (a relationship of a
//! model to itself). The data is small enough that every expected result
//! is worked out by hand in the tests.
#![allow(dead_code)]

use orm::prelude::*;

#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>,
    #[orm(back_populates = "user")]
    pub profile: HasOne<Profile>,
}

#[derive(Model, Debug)]
#[orm(table = "profiles")]
pub struct Profile {
    #[orm(primary_key)]
    pub id: i64,
    pub bio: String,
    #[orm(unique, back_populates = "profile")]
    pub user: BelongsTo<User>,
}

#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    pub note: Option<String>,
    #[orm(back_populates = "orders")]
    pub user: BelongsTo<User>,
    #[orm(back_populates = "order")]
    pub items: HasMany<Item>,
    #[orm(through = "order_tags", back_populates = "orders")]
    pub tags: ManyToMany<Tag>,
}

#[derive(Model, Debug)]
#[orm(table = "items")]
pub struct Item {
    #[orm(primary_key)]
    pub id: i64,
    pub sku: String,
    pub quantity: i64,
    pub price_cents: i64,
    #[orm(back_populates = "items")]
    pub order: BelongsTo<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "tags")]
pub struct Tag {
    #[orm(primary_key)]
    pub id: i64,
    pub label: String,
    #[orm(through = "order_tags", back_populates = "tags")]
    pub orders: ManyToMany<Order>,
}

#[derive(Model, Debug)]
#[orm(table = "employees")]
pub struct Employee {
    #[orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[orm(optional, back_populates = "reports")]
    pub manager: BelongsTo<Employee>,
    #[orm(back_populates = "manager")]
    pub reports: HasMany<Employee>,
}

/// The models, for `create_all`.
pub type Shop = (User, Profile, Order, Item, Tag, Employee);

/// Users 1 Ann, 2 Bob, 3 Cid (no orders), 4 Dee; profiles for Ann and Bob.
///
/// | order | user | total | note         | items (sku qty price)        | tags      |
/// |-------|------|-------|--------------|------------------------------|-----------|
/// | 1     | Ann  | 1200  | gift         | pen 2 300, ink 1 600         | gift      |
/// | 2     | Ann  | 5000  |              | desk 1 5000                  |           |
/// | 3     | Bob  | 800   | 50% off      | pen 4 200                    | gift, bulk|
/// | 4     | Dee  | 3000  |              | lamp 1 3000                  | bulk      |
/// | 5     | Bob  | 1500  | rush_order   |                              |           |
///
/// Tags 1 gift, 2 bulk, 3 `c:\temp` (on no order). Employees: 1 Zed (no
/// manager), 2 Yan and 3 Xia (managed by Zed), 4 Wu (managed by Yan).
///
/// Creates the tables in `db` (fresh and empty) and fills them. The rows
/// are inserted without their keys, in key order, so the keys above are
/// the ones the database generates (1, 2, ... in a new table on SQLite and
/// PostgreSQL alike) and rows a test adds later get the next keys: on
/// PostgreSQL an explicit key would not advance the identity sequence.
pub fn fill(db: &Database) -> orm::Result<()> {
    db.create_all::<Shop>()?;
    db.execute_batch(
        r"INSERT INTO users (name) VALUES ('Ann'), ('Bob'), ('Cid'), ('Dee');
          INSERT INTO profiles (bio, user_id) VALUES ('a-bio', 1), ('b-bio', 2);
          INSERT INTO orders (total_cents, note, user_id) VALUES
            (1200, 'gift', 1), (5000, NULL, 1), (800, '50% off', 2),
            (3000, NULL, 4), (1500, 'rush_order', 2);
          INSERT INTO items (sku, quantity, price_cents, order_id) VALUES
            ('pen', 2, 300, 1), ('ink', 1, 600, 1), ('desk', 1, 5000, 2),
            ('pen', 4, 200, 3), ('lamp', 1, 3000, 4);
          INSERT INTO tags (label) VALUES ('gift'), ('bulk'), ('c:\temp');
          INSERT INTO order_tags (order_id, tag_id) VALUES (1, 1), (3, 1), (3, 2), (4, 2);
          INSERT INTO employees (name, manager_id) VALUES
            ('Zed', NULL), ('Yan', 1), ('Xia', 1), ('Wu', 2);",
    )?;
    Ok(())
}

/// The shop in a new in-memory SQLite database, for the tests that run on
/// SQLite only.
pub fn shop() -> orm::Result<Database> {
    let db = Database::in_memory()?;
    fill(&db)?;
    Ok(db)
}
