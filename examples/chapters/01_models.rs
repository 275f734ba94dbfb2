//! Chapter 1: models. A plain struct with `#[derive(Model)]` is a table;
//! the derive writes its DDL, and `create_all` runs it, parents first.

use orm::prelude::*;

/// A user. Each field is a column, except `orders`, which is a relationship.
#[derive(Model, Debug)]
#[orm(table = "users")]
pub struct User {
    #[orm(primary_key)]
    pub id: i64, // INTEGER PRIMARY KEY: SQLite assigns it on insert
    pub name: String, // TEXT NOT NULL: not an Option, so never NULL
    #[orm(unique)]
    pub email: String, // TEXT NOT NULL UNIQUE
    pub nickname: Option<String>, // TEXT: an Option may be NULL
    #[orm(back_populates = "user")]
    pub orders: HasMany<Order>, // no column: the other side holds the key
}

/// An order. `user` owns the foreign-key column `user_id`.
#[derive(Model, Debug)]
#[orm(table = "orders")]
pub struct Order {
    #[orm(primary_key)]
    pub id: i64,
    pub total_cents: i64,
    #[orm(index)]
    pub placed_on: String, // an index, for "orders of a day"
    #[orm(back_populates = "orders", on_delete = "cascade")]
    pub user: BelongsTo<User>, // user_id INTEGER NOT NULL REFERENCES users
}

const USERS_DDL: &str = r#"CREATE TABLE "users" (
    "id" INTEGER PRIMARY KEY,
    "name" TEXT NOT NULL,
    "email" TEXT NOT NULL UNIQUE,
    "nickname" TEXT
);
"#;

const ORDERS_DDL: &str = r#"CREATE TABLE "orders" (
    "id" INTEGER PRIMARY KEY,
    "total_cents" INTEGER NOT NULL,
    "placed_on" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "ix_orders_placed_on" ON "orders" ("placed_on");
"#;

/// Runs the chapter.
pub fn run() -> orm::Result<()> {
    println!("A model is a struct with #[derive(Model)]. The derive reads the");
    println!("field types and attributes and writes the table's DDL.");

    println!("\nUser::ddl():  i64 -> INTEGER, String -> TEXT NOT NULL,");
    println!("Option<String> -> TEXT (nullable), #[orm(unique)] -> UNIQUE.");
    println!("`orders: HasMany<Order>` has no column: the orders table holds the key.");
    print!("{}", User::ddl());
    assert_eq!(User::ddl(), USERS_DDL);

    println!("\nOrder::ddl():  `user: BelongsTo<User>` becomes the column `user_id`,");
    println!("a FOREIGN KEY to users(id); #[orm(index)] adds a CREATE INDEX.");
    print!("{}", Order::ddl());
    assert_eq!(Order::ddl(), ORDERS_DDL);

    println!("\nThe derive also writes a constructor taking the required columns:");
    println!("User::new(name, email). The key starts at 0 (SQLite assigns one on");
    println!("insert), `nickname` at None, `orders` empty.");
    let ann = User::new("Ann", "ann@example.com");
    println!("  {ann:?}");
    assert_eq!((ann.id, ann.nickname.as_deref()), (0, None));

    let db = Database::in_memory()?;
    db.set_echo(true);
    let recorder = db.recorder();

    println!("\ncreate_all::<(Order, User)>(): we name the child first on purpose;");
    println!("create_all sorts by foreign keys, so users (which orders REFERENCES)");
    println!("comes first. Each [sql] line below ends with its cause: why the ORM");
    println!("sent it. (Counts in this course leave out BEGIN and COMMIT: they");
    println!("frame the work, they are not work.)");
    db.create_all::<(Order, User)>()?;
    // DDL, so not in `recorder.causes()` (rows read or written): every
    // statement but BEGIN and COMMIT.
    let (sql, causes): (Vec<String>, Vec<String>) = recorder
        .statements()
        .into_iter()
        .filter(|s| !s.is_transaction_control())
        .map(|s| (s.sql, s.cause.unwrap_or_default()))
        .unzip();
    assert_eq!(sql.len(), 3);
    assert_eq!(
        causes,
        [
            "create_all: create users",
            "create_all: create orders",
            "create_all: create index ix_orders_placed_on"
        ]
    );
    recorder.clear();

    println!("\ncreate_all again: both tables exist and match their models,");
    println!("so it has nothing to create and sends nothing: 0 statements,");
    println!("not even BEGIN (it only reads the schema to check for drift).");
    db.create_all::<(Order, User)>()?;
    assert_eq!(recorder.statements().len(), 0);

    println!("\n(Chapter 6 shows what happens when a table exists but differs.)");
    Ok(())
}
