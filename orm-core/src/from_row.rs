//! Rows read as plain values: a tuple of column types, one per column of
//! the result, as [`Session::sql_values`](crate::Session::sql_values)
//! returns them. Values, not objects: they go through no identity map and
//! nothing tracks them.

use crate::value::{ColumnType, ReadError, Row, read};

/// A type built from a whole result row, column by column: a
/// [`ColumnType`] for a one-column result, a tuple of up to twelve, or a
/// struct with `#[derive(FromRow)]` (its fields in order, each a column
/// type; the derive also makes it `From` the tuple, for a query's
/// `select(...).all_as::<S>()`).
///
/// ```
/// # use orm::prelude::*;
/// # #[derive(Model, Debug)]
/// # #[orm(table = "users")]
/// # struct User { #[orm(primary_key)] id: i64, name: String, age: i64 }
/// #[derive(orm::FromRow, Debug, PartialEq)]
/// struct NameAge {
///     name: String,
///     age: i64,
/// }
/// # fn main() -> orm::Result<()> {
/// # let db = Database::in_memory()?;
/// # db.create_all::<User>()?;
/// let session = db.session();
/// session.add(User::new("Ann", 31));
/// let rows = session
///     .query::<User>()
///     .select((User::NAME, User::AGE))
///     .all_as::<NameAge>()?;
/// assert_eq!(rows, [NameAge { name: "Ann".into(), age: 31 }]);
/// let same: Vec<NameAge> = session.sql_values("SELECT name, age FROM users", &[])?;
/// assert_eq!(same, rows);
/// # Ok(()) }
/// ```
///
/// ```
/// use orm::FromRow;
/// assert_eq!(<(String, Option<i64>)>::COLUMNS, 2);
/// assert_eq!(<i64>::COLUMNS, 1);
/// ```
pub trait FromRow: Sized {
    /// How many columns the row has.
    const COLUMNS: usize;

    /// Reads the row's columns in order.
    ///
    /// # Errors
    /// [`ReadError`] naming the first column that does not convert.
    fn from_row<R: Row + ?Sized>(row: &R) -> Result<Self, ReadError>;
}

impl<T: ColumnType> FromRow for T {
    const COLUMNS: usize = 1;

    fn from_row<R: Row + ?Sized>(row: &R) -> Result<Self, ReadError> {
        read(row, 0)
    }
}

macro_rules! tuples {
    ($(($($t:ident $i:tt),+)),* $(,)?) => {$(
        impl<$($t: ColumnType),+> FromRow for ($($t,)+) {
            const COLUMNS: usize = [$($i),+].len();

            fn from_row<R: Row + ?Sized>(row: &R) -> Result<Self, ReadError> {
                Ok(($(read::<$t, R>(row, $i)?,)+))
            }
        }
    )*};
}

tuples! {
    (A 0),
    (A 0, B 1),
    (A 0, B 1, C 2),
    (A 0, B 1, C 2, D 3),
    (A 0, B 1, C 2, D 3, E 4),
    (A 0, B 1, C 2, D 3, E 4, F 5),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10),
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11),
}
