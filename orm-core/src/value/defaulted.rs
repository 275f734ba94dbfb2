//! [`Defaulted`]: a field whose column the database may fill on insert.

use super::{Bound, ColumnType, FromValueError, ToValue, ValueRef};

/// A column value that may be left to the database's `DEFAULT`.
///
/// A field of type `Defaulted<T>` (with `#[orm(default = "...")]`, which the
/// derive requires for it) is in one of three states:
///
/// - [`Defaulted::Unset`]: the database chooses. The INSERT leaves the
///   column out, so its `DEFAULT` applies, and reads the value back
///   (`RETURNING`): after the flush the field is `Set` to what the row
///   holds. `new(...)` starts every `Defaulted` field here and takes no
///   parameter for it.
/// - `Set(v)`: this value is written, whatever the default.
/// - `Set(None)`, for a `Defaulted<Option<T>>`: NULL is written. Unset is
///   not NULL: a nullable column whose default is a value gets that value
///   when unset, and NULL only when set to `None`.
///
/// The column's SQL type and nullability are `T`'s: `Defaulted<String>` is
/// `TEXT NOT NULL`, `Defaulted<Option<String>>` is `TEXT`. A row read from
/// the database is always `Set`. An object in the database cannot go back
/// to `Unset` (SQLite has no `UPDATE ... SET column = DEFAULT`): setting a
/// persistent object's field to `Unset` makes the next flush fail with
/// [`Error::OutOfRange`](crate::Error::OutOfRange) naming the column, before
/// it writes anything.
///
/// ```
/// use orm::prelude::*;
///
/// #[derive(Model, Debug)]
/// #[orm(table = "posts")]
/// struct Post {
///     #[orm(primary_key)]
///     id: i64,
///     title: String,
///     #[orm(default = "CURRENT_TIMESTAMP")]
///     created_at: Defaulted<String>,      // TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
///     #[orm(default = "0")]
///     score: Defaulted<i64>,              // INTEGER NOT NULL DEFAULT 0
///     #[orm(default = "'draft'")]
///     status: Defaulted<Option<String>>,  // TEXT DEFAULT 'draft'
/// }
///
/// # fn main() -> orm::Result<()> {
/// let db = Database::in_memory()?;
/// db.create_all::<Post>()?;
/// let recorder = db.recorder();
/// let session = db.session();
///
/// // Every `Defaulted` field starts unset: the database chooses.
/// let post = session.add(Post::new("Hello"));
/// assert!(!post.read()?.score.is_set());
/// // A value set overrides the default; `Set(None)` writes NULL.
/// post.write()?.status = Defaulted::Set(None);
/// session.flush()?;
/// assert_eq!(
///     recorder.sql(),
///     [r#"INSERT INTO "posts" ("id", "title", "status") VALUES (?, ?, ?) RETURNING "created_at", "score""#]
/// );
///
/// // The database's choices are read back into the object.
/// let post = post.read()?;
/// assert!(post.created_at.get().is_some());
/// assert_eq!(post.score, Defaulted::Set(0));
/// assert_eq!(post.status.get(), Some(&None));
///
/// // Left unset, a nullable column takes its default, not NULL.
/// let other = session.add(Post::new("Draft"));
/// session.flush()?;
/// assert_eq!(other.read()?.status.clone().into_option(), Some(Some("draft".to_owned())));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Defaulted<T> {
    /// The database chooses: the INSERT leaves the column out.
    #[default]
    Unset,
    /// This value is written.
    Set(T),
}

impl<T> Defaulted<T> {
    /// The value, if one is set.
    ///
    /// ```
    /// # use orm::Defaulted;
    /// assert_eq!(Defaulted::Set(3).get(), Some(&3));
    /// assert_eq!(Defaulted::<i64>::Unset.get(), None);
    /// ```
    pub fn get(&self) -> Option<&T> {
        match self {
            Defaulted::Set(value) => Some(value),
            Defaulted::Unset => None,
        }
    }

    /// The value, mutably, if one is set.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            Defaulted::Set(value) => Some(value),
            Defaulted::Unset => None,
        }
    }

    /// Whether a value is set (`Set(None)` is: it writes NULL).
    pub fn is_set(&self) -> bool {
        matches!(self, Defaulted::Set(_))
    }

    /// Sets the value, which the next INSERT or UPDATE writes.
    ///
    /// ```
    /// # use orm::Defaulted;
    /// let mut score = Defaulted::Unset;
    /// score.set(5);
    /// assert_eq!(score, Defaulted::Set(5));
    /// ```
    pub fn set(&mut self, value: T) {
        *self = Defaulted::Set(value);
    }

    /// The value, if one is set.
    pub fn into_option(self) -> Option<T> {
        match self {
            Defaulted::Set(value) => Some(value),
            Defaulted::Unset => None,
        }
    }
}

impl<T> From<T> for Defaulted<T> {
    /// `Set(value)`.
    fn from(value: T) -> Self {
        Defaulted::Set(value)
    }
}

impl<T: ToValue> ToValue for Defaulted<T> {
    /// The value set; NULL when unset (an INSERT leaves an unset column
    /// out, so this NULL is never written).
    fn to_value(&self) -> Bound<'_> {
        match self {
            Defaulted::Set(value) => value.to_value(),
            Defaulted::Unset => Bound::Ref(ValueRef::Null),
        }
    }
}

impl<T: ColumnType> ColumnType for Defaulted<T> {
    const SQL_TYPE: &'static str = T::SQL_TYPE;
    const POSTGRES_TYPE: &'static str = T::POSTGRES_TYPE;
    const NULLABLE: bool = T::NULLABLE;
    type Value = T::Value;

    /// `Set` to `T`'s reading of the value: a row always holds one.
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        T::from_value(value).map(Defaulted::Set)
    }
}
