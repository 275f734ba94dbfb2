//! A small ORM for SQLite that teaches SQLAlchemy's ideas in Rust: a
//! session with an identity map, a unit of work, relationships as fields
//! that load lazily and stay in sync on both sides.
//!
//! # A first program
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "users")]
//! pub struct User {
//!     #[orm(primary_key)]
//!     pub id: i64,                      // INTEGER PRIMARY KEY, assigned on insert
//!     pub name: String,                 // TEXT NOT NULL
//!     #[orm(unique)]
//!     pub email: String,                // TEXT NOT NULL UNIQUE
//!     pub nickname: Option<String>,     // TEXT (nullable)
//!     #[orm(back_populates = "user")]
//!     pub orders: HasMany<Order>,       // no column; loads lazily
//! }
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "orders")]
//! pub struct Order {
//!     #[orm(primary_key)]
//!     pub id: i64,
//!     pub total_cents: i64,
//!     #[orm(back_populates = "orders")] // column user_id REFERENCES users(id)
//!     pub user: BelongsTo<User>,
//! }
//!
//! fn main() -> orm::Result<()> {
//!     let db = Database::in_memory()?;       // or Database::open("shop.db")
//!     db.create_all::<(User, Order)>()?;     // parents before children
//!     let recorder = db.recorder();          // counts the statements below
//!
//!     let session = db.session();
//!     let alice = session.add(User::new("Alice", "alice@example.com"));
//!     let order = session.add(Order::new(1299));
//!     order.read()?.user.set(&alice)?;       // alice.orders gains it too
//!     session.commit()?;                     // INSERT users; INSERT orders
//!     assert_eq!(recorder.count(), 2);
//!
//!     let o = session.get::<Order>(1)?;      // in the identity map: no SQL
//!     assert_eq!(o, order);                  // the same object
//!     let u = o.read()?.user.load()?;        // alice, from the map: no SQL
//!     let orders = u.read()?.orders.load()?; // already filled by `set`: no SQL
//!     assert_eq!(orders, vec![order.clone()]);
//!     assert_eq!(recorder.count(), 2);
//!
//!     // A new session starts with an empty identity map.
//!     let session = db.session();
//!     let users = session
//!         .query::<User>()
//!         .filter(User::EMAIL.like("%@example.com"))
//!         .preload(User::ORDERS)             // one more statement for any N
//!         .all()?;
//!     assert_eq!(recorder.count(), 4);
//!     let orders = users[0].read()?.orders.load()?; // preloaded: no SQL
//!     assert_eq!(orders[0].read()?.total_cents, 1299);
//!     assert_eq!(recorder.count(), 4);
//!     Ok(())
//! }
//! ```
//!
//! # Queries
//!
//! [`Session::query`] returns objects through the identity map; joins
//! along relationships, `any` / `has` filters, and `select` of columns and
//! aggregates (values, not objects) build on it, checked at compile time
//! against the models the query reads ([`scope`]). `#[derive(FromRow)]`
//! makes a plain struct from a selected row. Bulk writes
//! ([`Session::update_rows`], [`Session::delete_rows`]), upserts
//! ([`Session::upsert`]) and savepoints ([`Session::begin_nested`]) keep the
//! identity map truthful.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug)]
//! # #[orm(table = "users")]
//! # struct User { #[orm(primary_key)] id: i64, name: String,
//! #   #[orm(back_populates = "user")] orders: HasMany<Order> }
//! # #[derive(Model, Debug)]
//! # #[orm(table = "orders")]
//! # struct Order { #[orm(primary_key)] id: i64, total_cents: i64,
//! #   #[orm(back_populates = "orders")] user: BelongsTo<User> }
//! #[derive(orm::FromRow, Debug, PartialEq)]
//! struct Spend {
//!     name: String,
//!     total: i64,
//! }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::in_memory()?;
//! # db.create_all::<(User, Order)>()?;
//! let session = db.session();
//! let ann = session.add(User::new("Ann"));
//! session.add(Order::new(1500)).read()?.user.set(&ann)?;
//! let spends = session
//!     .query::<User>()
//!     .left_join(User::ORDERS)
//!     .select((User::NAME, Order::TOTAL_CENTS.sum().unwrap_or(0)))
//!     .group_by(User::NAME)
//!     .all_as::<Spend>()?;
//! assert_eq!(spends, [Spend { name: "Ann".into(), total: 1500 }]);
//! # Ok(()) }
//! ```
//!
//! # Reading and changing objects
//!
//! A [`Handle`] is a shared pointer to the session's one object for a row.
//! [`Handle::read`] borrows it, [`Handle::write`] borrows it mutably; a
//! conflicting borrow is an [`Error::Borrowed`], never a panic. The first
//! `write` remembers the row's values so that the flush updates exactly the
//! columns that changed.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug)]
//! # struct User { #[orm(primary_key)] id: i64, name: String, age: i64 }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::in_memory()?;
//! # db.create_all::<User>()?;
//! let session = db.session();
//! let ann = session.add(User::new("Ann", 30));
//! session.commit()?;
//! ann.write()?.age += 1;
//! assert_eq!(ann.changes()?[0].to_string(), "age: 30 -> 31");
//! let recorder = db.recorder();
//! session.commit()?;
//! assert_eq!(recorder.sql(), ["UPDATE \"users\" SET \"age\" = ? WHERE \"id\" = ?"]);
//! # Ok(()) }
//! ```
//!
//! # The derive
//!
//! `#[derive(Model)]` on a struct with named fields. Attributes:
//!
//! | on | attribute | meaning |
//! |---|---|---|
//! | struct | `table = "name"` | table name (default: snake-case plural of the struct) |
//! | struct | `index(a, b)`, `unique_index(a, b)` | a multi-column index |
//! | struct | `skip_new` | do not generate `new` |
//! | field | `primary_key` | the primary key (exactly one); an integer key is assigned by SQLite when it is 0 |
//! | field | `column = "name"` | column name (default: the field's; `<field>_id` for `BelongsTo`) |
//! | field | `unique`, `index` | a `UNIQUE` constraint, an index |
//! | field | `default = "SQL"` | the column's SQL `DEFAULT`: on a [`Defaulted`] field (which requires it), what the database chooses when the field is unset (see [Database defaults](#database-defaults)); on a plain field, only for rows written by others and by migrations (the field is still a parameter of `new`, and its value is always inserted) |
//! | field | `sql_type = "NUMERIC"` | the SQL type in `CREATE TABLE`, instead of the one the field's [`ColumnType`] names |
//! | field | `skip` | not persisted; filled with `Default` when loaded |
//! | field | `version` | an integer counter checked and bumped by every UPDATE and DELETE (optimistic locking: a row changed by another connection is [`Error::StaleRow`]) |
//! | `BelongsTo` | `back_populates = "field"` | the `HasMany` on the parent that mirrors it |
//! | `BelongsTo` | `optional` | the foreign key may be NULL |
//! | `BelongsTo` | `on_delete = "cascade" / "set null" / "restrict"` | what deleting the parent does |
//! | `HasMany`, `HasOne` | `back_populates = "field"` | the `BelongsTo` on the child pointing back (required) |
//! | `ManyToMany` | `through = "table"`, `back_populates = "field"` | the link table, and the mirror field on the other model |
//! | `HasMany` | `delete_orphan` | removing a child from the collection deletes it |
//! | both | `lazy = "raise"` | reading it unloaded is an error: it must be preloaded |
//!
//! Field types: the [column types](#column-types), and the relationships
//! `BelongsTo<T>`, `HasMany<T>`, `HasOne<T>` and `ManyToMany<T>`.
//!
//! For `User` above the derive generates, inside `const _: () = { ... }`:
//! - `impl orm::Model for User`: `type Key = i64`, `const TABLE` (the
//!   metadata behind [`Model::ddl`]), and the row mapping: `from_keyed_row`
//!   reads columns by position (the key read first, for the identity map),
//!   `column(i)` binds them, `set_column` restores one.
//! - Column constants for queries, typed by the field:
//!   `User::ID: Column<User, i64>`, `User::NAME`, `User::EMAIL`,
//!   `User::NICKNAME: Column<User, Option<String>>`; for `Order`,
//!   `Order::USER_ID: Column<Order, i64>` for the foreign key.
//! - Relationship constants for `preload`, `join` and `any` / `has`:
//!   `User::ORDERS: Relation<User, Order, ToMany>`, `Order::USER:
//!   Relation<Order, User, ToOne>`.
//! - `User::new(name, email)`: required columns as `impl Into<_>`
//!   parameters; the key is 0 (assigned on insert), options `None`,
//!   `Defaulted` fields unset, collections empty.
//! - A compile-time check that `User.orders` and `Order.user` name each
//!   other in `back_populates`.
//!
//! The module [`generated_code`] shows the whole expansion of the
//! users/orders pair, kept true by a test.
//!
//! ```
//! # use orm::prelude::*;
//! # #[derive(Model, Debug)]
//! # #[orm(table = "users")]
//! # pub struct User { #[orm(primary_key)] pub id: i64, pub name: String,
//! #   #[orm(unique)] pub email: String, pub nickname: Option<String>,
//! #   #[orm(back_populates = "user")] pub orders: HasMany<Order> }
//! # #[derive(Model, Debug)]
//! # #[orm(table = "orders")]
//! # pub struct Order { #[orm(primary_key)] pub id: i64, pub total_cents: i64,
//! #   #[orm(back_populates = "orders")] pub user: BelongsTo<User> }
//! assert_eq!(
//!     Order::ddl(),
//!     "CREATE TABLE \"orders\" (\n    \"id\" INTEGER PRIMARY KEY,\n    \"total_cents\" INTEGER NOT NULL,\n    \"user_id\" INTEGER NOT NULL REFERENCES \"users\" (\"id\")\n);\n"
//! );
//! ```
//!
//! # Column types
//!
//! A field's type decides its column's SQL type and how values convert on
//! the way in and out (its [`ColumnType`]); `Option<T>` makes the column
//! nullable. A column compares in queries with values of its field's type.
//!
//! | field type | SQL type | stored as |
//! |---|---|---|
//! | `i8`-`i64`, `isize`, `u8`-`u32` | INTEGER | the number |
//! | `bool` | INTEGER | 0 or 1 |
//! | `f32`, `f64` | REAL | the number (NaN cannot be written) |
//! | `String` | TEXT | the text |
//! | `Vec<u8>` | BLOB | the bytes |
//! | `Option<T>` | `T`'s, nullable | NULL for `None` |
//! | [`Defaulted<T>`](Defaulted) | `T`'s | see [Database defaults](#database-defaults) |
//! | `chrono::DateTime<Utc>`, `NaiveDateTime`, `NaiveDate` (feature `chrono`) | TEXT | ISO 8601, sorting as the values do |
//! | `time::OffsetDateTime` (feature `time`) | TEXT | RFC 3339 in UTC |
//! | `uuid::Uuid` (feature `uuid`) | BLOB | its 16 bytes |
//! | `serde_json::Value` (feature `serde_json`) | TEXT | JSON |
//! | an enum of unit variants, `#[derive(orm::ColumnType)]` | TEXT, or INTEGER with `#[orm(repr = "integer")]` | the variant's name (`rename`, `rename_all`), or its discriminant |
//! | a newtype, `#[derive(orm::ColumnType)]` | its field's | its field |
//! | any other type: implement [`ColumnType`] and [`ToValue`] | yours | yours |
//!
//! The features re-export their crates (`orm::chrono`, `orm::time`,
//! `orm::uuid`, `orm::serde_json`), so naming the types needs no
//! dependency of your own:
//!
//! ```
//! # #[cfg(all(feature = "chrono", feature = "uuid"))]
//! # fn main() -> orm::Result<()> {
//! use orm::chrono::NaiveDate;
//! use orm::prelude::*;
//! use orm::uuid::Uuid;
//!
//! #[derive(Model, Debug)]
//! struct Member {
//!     #[orm(primary_key)]
//!     id: Uuid,          // BLOB NOT NULL PRIMARY KEY
//!     joined: NaiveDate, // TEXT NOT NULL: '2024-05-01'
//! }
//!
//! let db = Database::in_memory()?;
//! db.create_all::<Member>()?;
//! let session = db.session();
//! let id = Uuid::from_u128(1);
//! let joined = NaiveDate::from_ymd_opt(2024, 5, 1).expect("a valid date");
//! session.add(Member::new(id, joined));
//! session.commit()?;
//! let stored: Vec<String> = session.sql_values("SELECT joined FROM members", &[])?;
//! assert_eq!(stored, ["2024-05-01"]);
//! # Ok(()) }
//! # #[cfg(not(all(feature = "chrono", feature = "uuid")))]
//! # fn main() {}
//! ```
//!
//! An enum of unit variants or a newtype derives its column type; a
//! newtype that also derives `Clone`, `Eq`, `Hash` and `Debug` serves as a
//! primary key and as the key a `BelongsTo` points at (its value is the
//! program's to give: only a plain integer key is assigned by SQLite). A
//! stored value that is no variant is an [`Error::Conversion`] naming the
//! table, the column, the row's key and the value. [`ColumnType`] lists the
//! derive's attributes:
//!
//! ```
//! use orm::prelude::*;
//!
//! #[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq)]
//! #[orm(rename_all = "snake_case")]
//! enum Status {
//!     Open,
//!     InReview,
//!     #[orm(rename = "done")]
//!     Closed,
//! }
//!
//! #[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq)]
//! #[orm(repr = "integer")]
//! enum Priority {
//!     Low = 1,
//!     High = 10,
//! }
//!
//! #[derive(orm::ColumnType, Debug, Clone, PartialEq, Eq, Hash)]
//! struct Sku(String);
//!
//! #[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq)]
//! struct Cents(i64);
//!
//! #[derive(Model, Debug)]
//! #[orm(table = "products")]
//! struct Product {
//!     #[orm(primary_key)]
//!     sku: Sku,                 // TEXT NOT NULL PRIMARY KEY
//!     price: Cents,             // INTEGER NOT NULL
//!     status: Status,           // TEXT NOT NULL: 'open', 'in_review' or 'done'
//!     priority: Priority,       // INTEGER NOT NULL: 1 or 10
//!     previous: Option<Status>, // TEXT
//! }
//!
//! # fn main() -> orm::Result<()> {
//! let db = Database::in_memory()?;
//! db.create_all::<Product>()?;
//! let session = db.session();
//! let sku = Sku("A-1".into());
//! session.add(Product::new(sku.clone(), Cents(1250), Status::InReview, Priority::High));
//! session.commit()?;
//!
//! let in_review = session
//!     .query::<Product>()
//!     .filter(Product::STATUS.eq(Status::InReview))
//!     .select((Product::SKU, Product::PRICE))
//!     .all()?;
//! assert_eq!(in_review, [(sku.clone(), Cents(1250))]);
//! let stored: Vec<(String, i64)> =
//!     session.sql_values("SELECT status, priority FROM products", &[])?;
//! assert_eq!(stored, [("in_review".to_owned(), 10)]);
//! assert_eq!(session.get::<Product>(sku)?.read()?.previous, None);
//! # Ok(()) }
//! ```
//!
//! # Database defaults
//!
//! A field of type [`Defaulted<T>`](Defaulted) with `#[orm(default =
//! "...")]` may be left to the database: `new` does not take it and starts
//! it [`Defaulted::Unset`]; the INSERT leaves its column out, so the
//! `DEFAULT` applies, and reads the value back (`INSERT ... RETURNING`), so
//! after the flush the object holds what the row holds and is clean. A
//! value set with `Defaulted::Set` (or [`Defaulted::set`]) is written as
//! any other; an object whose fields are all set takes the same prepared
//! INSERT as a model without defaults. A failed flush or a rollback puts the
//! fields it filled back to unset.
//!
//! ```
//! # use orm::prelude::*;
//! #[derive(Model, Debug)]
//! struct Post {
//!     #[orm(primary_key)]
//!     id: i64,
//!     title: String,
//!     #[orm(default = "CURRENT_TIMESTAMP")]
//!     created_at: Defaulted<String>,   // TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
//!     #[orm(default = "0")]
//!     score: Defaulted<i64>,           // INTEGER NOT NULL DEFAULT 0
//! }
//! # fn main() -> orm::Result<()> {
//! # let db = Database::in_memory()?;
//! # db.create_all::<Post>()?;
//! let session = db.session();
//! let post = session.add(Post::new("hi"));  // created_at and score: unset
//! let recorder = db.recorder();
//! session.flush()?;
//! assert_eq!(
//!     recorder.sql(),
//!     [r#"INSERT INTO "posts" ("id", "title") VALUES (?, ?) RETURNING "created_at", "score""#]
//! );
//! assert!(post.read()?.created_at.get().is_some());
//! assert_eq!(post.read()?.score, Defaulted::Set(0));
//! # Ok(()) }
//! ```
//!
//! The rules, each a compile error where it can be one:
//! - The derive knows the wrapper by its type's last path segment,
//!   `Defaulted` (as it knows `BelongsTo` and the others), so
//!   `orm::Defaulted<T>` works, and a type of your own by that name is taken
//!   for orm's.
//! - A `Defaulted` field needs `default`: without one the database has
//!   nothing to choose.
//! - The primary key, the `version` column and relationship fields cannot
//!   be `Defaulted`: their values are the session's to decide or come from
//!   the parent. A nullable column is `Defaulted<Option<T>>`, whose
//!   `Set(None)` writes NULL, not `Option<Defaulted<T>>`.
//! - `Defaulted` fields are among a model's first 64 columns (what is
//!   left to the database travels as a bit set).
//! - An object in the database always holds values: setting a field back to
//!   `Unset` afterwards makes the next flush fail with
//!   [`Error::OutOfRange`] naming the column, before it writes anything
//!   (SQLite has no `UPDATE ... SET column = DEFAULT`).
//!
//! # Relationships
//!
//! Relationship fields are interior-mutable, so `order.read()?.user.set(&alice)?`
//! needs only shared borrows of `order` and `alice`: one call updates both
//! sides while the user holds reads of either. They point at other objects
//! weakly (the session owns every object), so a graph with cycles is freed
//! with its session; after that, a relationship access is
//! [`Error::SessionClosed`]. The rules, each one SQLAlchemy users meet:
//!
//! - **Lazy loading**: the first access of an unloaded relationship issues one
//!   SELECT (after an autoflush, so pending changes are seen); later accesses
//!   none. A `BelongsTo` whose target is in the identity map issues none.
//! - **Back-population**: setting `order.user` moves `order` between the
//!   *loaded* collections of the old and new user, and loads neither;
//!   `user.orders.push(&order)` sets `order.user`; `remove` clears it
//!   (written as NULL on flush, or the order deleted with `delete_orphan`).
//!   Loading `user.orders` sets each order's `user` without a query.
//! - **Attaching adds**: linking a new object to one in a session (from
//!   either side) adds it to that session, as SQLAlchemy's save-update cascade.
//! - **Unloaded collections**: a push or remove on a collection that is not
//!   loaded changes the child's foreign key only; the later load autoflushes
//!   first, so it sees them merged, and a push then a remove cancels out.
//! - **All or nothing**: a relationship change that returns an error (a
//!   guard on one of the objects, two sessions) has changed neither object
//!   nor any session.
//!
//! The session's rules (autoflush, what commit and rollback do to loaded
//! objects) are in [`Session`]'s docs.

#![warn(missing_docs)]

pub use orm_core::*;
pub use orm_derive::{ColumnType, FromRow, Model};

#[doc = include_str!("../orm-derive/docs/expansion.md")]
pub mod generated_code {}

/// Guides: topics that span the API, with examples that run as doctests.
pub mod guide {
    #[doc = include_str!("../docs/guide/types.md")]
    pub mod types {}

    #[doc = include_str!("../docs/guide/web_service.md")]
    pub mod web_service {}
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The names most programs need: `use orm::prelude::*;`.
pub mod prelude {
    pub use orm_core::{
        BelongsTo, Database, Defaulted, Expr, Handle, HasMany, HasOne, ManyToMany, Model, Session,
        count_rows,
    };
    pub use orm_derive::Model;
}
