//! Model: the trait `#[derive(Model)]` implements, the [`Key`] bound of
//! primary keys, and [`ModelSet`] for naming several models at once. The
//! Rust-to-SQL type mapping is `value`'s [`ColumnType`].
//!
//! Does not hold objects (see `state`) or run SQL (see `session`).

use std::any::Any;
use std::fmt::Debug;
use std::hash::Hash;

use crate::relation::{Owner, RelationField};
use crate::schema::{ModelSet, TableDef};
use crate::value::{Bound, ColumnType, FromValueError, ReadError, Row, ValueRef};

/// A primary key type: compared and hashed by the identity map, stored in
/// one column.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a primary key",
    label = "not usable as a key",
    note = "a primary key must be Clone + Eq + Hash + Debug and a column type: use `i64` (assigned by SQLite on insert) or `String`"
)]
pub trait Key: ColumnType + Clone + Eq + Hash + Debug + 'static {}

impl<T: ColumnType + Clone + Eq + Hash + Debug + 'static> Key for T {}

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
    fn column(&self, index: usize) -> Bound<'_>;

    /// Overwrites column `index` with a value read from the database.
    ///
    /// # Errors
    /// [`FromValueError`] when the value does not fit the field.
    fn set_column(&mut self, index: usize, value: ValueRef<'_>) -> Result<(), FromValueError>;

    /// The columns whose [`Defaulted`](crate::Defaulted) field is unset, as
    /// a bit set (bit `i` for column `i`; the derive keeps `Defaulted`
    /// fields among the first 64 columns). The INSERT leaves them out and
    /// reads back what the database chose. Models without `Defaulted`
    /// fields keep this default: none.
    fn unset_columns(&self) -> u64 {
        0
    }

    /// Sets column `index`, a [`Defaulted`](crate::Defaulted) field, back to
    /// unset: the undo of an insert that filled it. Nothing for any other
    /// column.
    fn unset_column(&mut self, index: usize) {
        let _ = index;
    }

    /// Builds an object from a row whose columns are in `TABLE.columns` order.
    /// Generic over the row type, so that each backend's rows are read
    /// without a virtual call per column.
    ///
    /// # Errors
    /// [`ReadError`] naming the first column that does not fit its field.
    fn from_row<R: Row + ?Sized>(row: &R) -> Result<Self, ReadError> {
        let key = crate::value::read(row, Self::TABLE.primary_key)?;
        Self::from_keyed_row(row, key)
    }

    /// Like [`Model::from_row`], with the primary key already read (loading
    /// reads it first, to look the row up in the identity map): every
    /// column but the key's.
    ///
    /// # Errors
    /// [`ReadError`] naming the first column that does not fit its field.
    fn from_keyed_row<R: Row + ?Sized>(row: &R, key: Self::Key) -> Result<Self, ReadError>;

    /// Connects the relationship fields to the object that owns them.
    fn wire(&self, owner: &Owner) {
        let _ = owner;
    }

    /// Writes into `out` the description of the relationship field that
    /// lies `offset` bytes into the struct, if `out` is what that field
    /// asks with: a field finds its description through its object this
    /// way, instead of holding a pointer to it. Nothing for any other
    /// offset.
    fn describe_field(offset: usize, out: &mut dyn Any) {
        let _ = (offset, out);
    }

    /// Calls `visit` with each relationship field.
    fn for_each_relation(&self, visit: &mut dyn FnMut(&dyn RelationField)) {
        let _ = visit;
    }
}

impl<M: Model> ModelSet for M {
    fn tables() -> Vec<&'static TableDef> {
        vec![M::TABLE]
    }
}

/// Adds `more` to `tables`; a model named twice (in two nested sets)
/// counts once.
fn add_tables(tables: &mut Vec<&'static TableDef>, more: Vec<&'static TableDef>) {
    for table in more {
        if !tables
            .iter()
            .any(|t| t.model == table.model && t.name == table.name)
        {
            tables.push(table);
        }
    }
}

macro_rules! model_tuples {
    ($(($($m:ident),+)),* $(,)?) => {$(
        impl<$($m: ModelSet),+> ModelSet for ($($m,)+) {
            fn tables() -> Vec<&'static TableDef> {
                let mut tables = Vec::new();
                $(add_tables(&mut tables, $m::tables());)+
                tables
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
