//! Model: the trait `#[derive(Model)]` implements, the Rust-to-SQL type
//! mapping ([`ColumnType`]), and [`ModelSet`] for naming several models at once.
//!
//! Does not hold objects (see `state`) or run SQL (see `session`).

use std::fmt::Debug;
use std::hash::Hash;

use rusqlite::ToSql;
use rusqlite::types::{FromSql, FromSqlResult, ValueRef};

use crate::relation::{Owner, RelationField};
use crate::schema::TableDef;

/// A primary key type: compared and hashed by the identity map, bound and
/// read by SQLite.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a primary key",
    label = "not usable as a key",
    note = "a primary key must be Clone + Eq + Hash + Debug and a column type: use `i64` (assigned by SQLite on insert) or `String`"
)]
pub trait Key: Clone + Eq + Hash + Debug + ToSql + FromSql + 'static {}

impl<T: Clone + Eq + Hash + Debug + ToSql + FromSql + 'static> Key for T {}

/// A struct mapped to a table. Implemented by `#[derive(Model)]`; the
/// methods are the generated plumbing and rarely called directly.
pub trait Model: Sized + 'static {
    /// The primary key's Rust type.
    type Key: Key;

    /// The table's metadata: name, columns, keys, indexes.
    const TABLE: &'static TableDef;

    /// The DDL the table is created with: `CREATE TABLE` and its indexes.
    fn ddl() -> String {
        Self::TABLE.ddl()
    }

    /// The primary key's current value.
    fn key(&self) -> Self::Key;

    /// Stores the rowid SQLite assigned on insert (only for `INTEGER PRIMARY
    /// KEY` columns). `None` resets the key to its unassigned value. Returns
    /// false, changing nothing, when the rowid does not fit the key's type.
    fn set_rowid(&mut self, rowid: Option<i64>) -> bool;

    /// Whether the key is still unassigned, so the insert asks SQLite for one.
    fn key_unassigned(&self) -> bool;

    /// The value of column `index` (position in `TABLE.columns`), for binding.
    fn column(&self, index: usize) -> &dyn ToSql;

    /// Overwrites column `index` with a value read from the database.
    fn set_column(&mut self, index: usize, value: ValueRef<'_>) -> FromSqlResult<()>;

    /// Builds an object from a row whose columns are in `TABLE.columns` order.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;

    /// Connects the relationship fields to the object that owns them.
    fn wire(&self, owner: &Owner) {
        let _ = owner;
    }

    /// Calls `visit` with each relationship field.
    fn for_each_relation(&self, visit: &mut dyn FnMut(&dyn RelationField)) {
        let _ = visit;
    }
}

/// A Rust type stored in one column, and the SQL type it gets.
///
/// Implemented for the integer types, `bool`, `f32`, `f64`, `String`,
/// `Vec<u8>` and `Option` of each. For another type, implement rusqlite's
/// `ToSql` and `FromSql` and name the SQL type on the field:
/// `#[orm(sql_type = "TEXT")]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column type orm knows",
    label = "unsupported column type",
    note = "supported: integers, bool, f32, f64, String, Vec<u8> and Option of each; for another type implement rusqlite's ToSql + FromSql and add #[orm(sql_type = \"TEXT\")] (or the SQL type you want) to the field"
)]
pub trait ColumnType: ToSql + FromSql {
    /// The SQL type in `CREATE TABLE`.
    const SQL_TYPE: &'static str;
    /// Whether the column accepts NULL.
    const NULLABLE: bool = false;
    /// The type a query compares the column with (`T` for `Option<T>`).
    type Value: ToSql;

    /// Binds the value (generated code calls this, so that a type that is
    /// not a column type is reported once, at the field's type).
    #[doc(hidden)]
    fn bind(&self) -> &dyn ToSql
    where
        Self: Sized,
    {
        self
    }

    /// Reads the value from column `index` of a row.
    #[doc(hidden)]
    fn read(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self>
    where
        Self: Sized,
    {
        row.get(index)
    }

    /// Converts a value read from the database.
    #[doc(hidden)]
    fn restore(value: ValueRef<'_>) -> FromSqlResult<Self>
    where
        Self: Sized,
    {
        Self::column_result(value)
    }
}

macro_rules! column_types {
    ($($ty:ty => $sql:literal),* $(,)?) => {$(
        impl ColumnType for $ty {
            const SQL_TYPE: &'static str = $sql;
            type Value = $ty;
        }
    )*};
}

column_types! {
    i8 => "INTEGER", i16 => "INTEGER", i32 => "INTEGER", i64 => "INTEGER",
    u8 => "INTEGER", u16 => "INTEGER", u32 => "INTEGER",
    isize => "INTEGER",
    bool => "INTEGER",
    f32 => "REAL", f64 => "REAL",
    String => "TEXT",
    Vec<u8> => "BLOB",
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: &'static str = T::SQL_TYPE;
    const NULLABLE: bool = true;
    type Value = T::Value;
}

/// One model or a tuple of models, as `create_all::<(User, Order)>()` takes.
pub trait ModelSet {
    /// The tables of the models, in the order given.
    fn tables() -> Vec<&'static TableDef>;
}

impl<M: Model> ModelSet for M {
    fn tables() -> Vec<&'static TableDef> {
        vec![M::TABLE]
    }
}

macro_rules! model_tuples {
    ($(($($m:ident),+)),* $(,)?) => {$(
        impl<$($m: Model),+> ModelSet for ($($m,)+) {
            fn tables() -> Vec<&'static TableDef> {
                vec![$($m::TABLE),+]
            }
        }
    )*};
}

model_tuples! {
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
    (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J),
    (A, B, C, D, E, F, G, H, I, J, K),
    (A, B, C, D, E, F, G, H, I, J, K, L),
}
