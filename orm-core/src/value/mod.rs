//! Values: what one column of one row holds, in orm's own types. Models,
//! queries, the recorder and the unit of work speak these; the backend
//! converts them to and from its driver's types at its edge, so nothing
//! above it depends on the driver.

use std::fmt;

use crate::error::Error;

#[cfg(feature = "chrono")]
mod chrono;
mod defaulted;
#[cfg(feature = "serde_json")]
mod json;
#[cfg(feature = "time")]
mod time;
#[cfg(feature = "uuid")]
mod uuid;

pub use defaulted::Defaulted;

/// An owned column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer (also booleans: 0 or 1).
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A row as a foreign key names it: its table and its key, hashable, so
/// that sets of rows (deleted by a flush, inserted with keys given) are
/// looked up, not scanned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowKey(pub &'static str, pub Value);

/// Keys compare as values do; a REAL key that is NaN matches nothing, as
/// in SQL.
impl Eq for RowKey {}

impl std::hash::Hash for RowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
        match &self.1 {
            Value::Null => state.write_u8(0),
            Value::Integer(i) => {
                state.write_u8(1);
                i.hash(state);
            }
            Value::Real(r) => {
                state.write_u8(2);
                // 0.0 and -0.0 are equal, so they hash alike.
                let r = if *r == 0.0 { 0.0 } else { *r };
                r.to_bits().hash(state);
            }
            Value::Text(t) => {
                state.write_u8(3);
                t.hash(state);
            }
            Value::Blob(b) => {
                state.write_u8(4);
                b.hash(state);
            }
        }
    }
}

/// A borrowed column value: what a model binds without copying, and what a
/// row hands over to be converted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl Value {
    /// Borrows the value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(s) => Value::Text(s.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl ValueRef<'_> {
    /// The SQL name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            ValueRef::Null => "NULL",
            ValueRef::Integer(_) => "INTEGER",
            ValueRef::Real(_) => "REAL",
            ValueRef::Text(_) => "TEXT",
            ValueRef::Blob(_) => "BLOB",
        }
    }
}

/// A value bound to a statement: borrowed from the object where it can be,
/// owned where it is computed (a foreign key read from the parent object).
#[derive(Debug, Clone, PartialEq)]
pub enum Bound<'a> {
    /// Borrowed from the object.
    Ref(ValueRef<'a>),
    /// Computed for this statement.
    Owned(Value),
}

impl Bound<'_> {
    /// The value, borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Bound::Ref(value) => *value,
            Bound::Owned(value) => value.as_ref(),
        }
    }

    /// The value, owned.
    pub fn into_value(self) -> Value {
        Value::from(self)
    }
}

impl From<Bound<'_>> for Value {
    fn from(bound: Bound<'_>) -> Value {
        match bound {
            Bound::Ref(value) => Value::from(value),
            Bound::Owned(value) => value,
        }
    }
}

/// Why a value read from the database does not fit a Rust type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromValueError {
    /// NULL read into a type that is not an `Option`.
    Null,
    /// A value of another SQL type.
    WrongType {
        /// What the Rust type accepts.
        expected: &'static str,
        /// What the database held.
        found: &'static str,
    },
    /// A number outside the Rust type's range.
    OutOfRange(String),
    /// Text that is not valid UTF-8.
    NotUtf8,
    /// A user type's own reason.
    Invalid(String),
}

impl fmt::Display for FromValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromValueError::Null => f.write_str("NULL in a field that is not an Option"),
            FromValueError::WrongType { expected, found } => {
                write!(f, "found a value of type {found}, expected {expected}")
            }
            FromValueError::OutOfRange(value) => {
                write!(f, "{value} is out of range for the field's type")
            }
            FromValueError::NotUtf8 => f.write_str("the text is not valid UTF-8"),
            FromValueError::Invalid(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for FromValueError {}

/// A row being read: each column's value by position. The backend
/// implements it over its driver's row.
pub trait Row {
    /// The value of column `index`.
    ///
    /// # Errors
    /// [`FromValueError`] when the database's value cannot be represented
    /// (text that is not UTF-8).
    fn value(&self, index: usize) -> Result<ValueRef<'_>, FromValueError>;
}

/// A column of a row that did not convert: its position and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The column's position in the row.
    pub index: usize,
    /// Why it did not convert.
    pub error: FromValueError,
}

/// A value that can be bound to a statement as a parameter: every column
/// type, and `str` and byte slices.
pub trait ToValue {
    /// The value: borrowed where the type holds it as stored
    /// ([`Bound::Ref`]), made for the statement where it is stored in
    /// another form ([`Bound::Owned`]: a date as text, JSON as text).
    fn to_value(&self) -> Bound<'_>;
}

/// A Rust type stored in one column, and the SQL type it gets.
///
/// Implemented for the integer types up to `i64`, `bool`, `f32`, `f64`,
/// `String`, `Vec<u8>`, and `Option` and [`Defaulted`] of each; the
/// features `chrono`, `time`, `uuid` and `serde_json` add those crates'
/// dates, times, UUIDs and JSON. Derive it for enums and newtypes
/// (`#[derive(orm::ColumnType)]`), implement it by hand for anything else.
///
/// # Deriving
///
/// `#[derive(orm::ColumnType)]` takes an enum of unit variants or a
/// newtype (a tuple struct of one field), and generates this trait and
/// [`ToValue`], with `type Value = Self`: a query compares the column with
/// the type itself (`Ticket::STATUS.eq(Status::Open)`), and an
/// `Option<Status>` field is a nullable column of it.
///
/// | on | attribute | meaning |
/// |---|---|---|
/// | enum | (none) | stored as TEXT, each variant as its name |
/// | enum | `repr = "integer"` | stored as INTEGER, each variant as its discriminant (explicit, `Low = 1`, or implicit), read back by value |
/// | enum | `rename_all = "snake_case"` | the stored names respelled: `"lowercase"`, `"snake_case"` or `"SCREAMING_SNAKE_CASE"` (TEXT only) |
/// | variant | `rename = "text"` | this variant's stored name (TEXT only; wins over `rename_all`) |
/// | newtype | (none) | stored as its field: the field type's SQL type, nullability and conversions |
///
/// A stored value that is no variant reads as [`FromValueError::Invalid`]
/// showing it (a load reports it as [`Error::Conversion`], naming table,
/// column and key). Two variants stored as the same name, data-carrying
/// variants, generic types and unknown keys are compile errors. A newtype
/// with `Clone`, `Eq`, `Hash` and `Debug` derived is a [`Key`](crate::Key):
/// a primary key, and a key that `BelongsTo` points at (the program gives
/// its value: only a plain integer key is assigned by SQLite).
///
/// ```
/// use orm::{ColumnType, ToValue, Value, ValueRef};
///
/// #[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq)]
/// #[orm(rename_all = "snake_case")]
/// enum Status {
///     Open,
///     InReview,
///     #[orm(rename = "done")]
///     Closed,
/// }
///
/// #[derive(orm::ColumnType, Debug, Clone, Copy, PartialEq)]
/// #[orm(repr = "integer")]
/// enum Priority {
///     Low = 1,
///     High = 10,
/// }
///
/// #[derive(orm::ColumnType, Debug, Clone, PartialEq, Eq, Hash)]
/// struct Email(String);
///
/// assert_eq!(Status::SQL_TYPE, "TEXT");
/// assert_eq!(Status::InReview.to_value().into_value(), Value::Text("in_review".into()));
/// assert_eq!(Status::from_value(ValueRef::Text("done")), Ok(Status::Closed));
/// assert!(Status::from_value(ValueRef::Text("Closed")).is_err());
///
/// assert_eq!(Priority::SQL_TYPE, "INTEGER");
/// assert_eq!(Priority::High.to_value().into_value(), Value::Integer(10));
/// assert_eq!(Priority::from_value(ValueRef::Integer(1)), Ok(Priority::Low));
///
/// assert_eq!(Email::SQL_TYPE, "TEXT");
/// assert_eq!(
///     Email::from_value(ValueRef::Text("ann@example.com")),
///     Ok(Email("ann@example.com".into()))
/// );
/// ```
///
/// # By hand
///
/// Implement it (and [`ToValue`]) in terms of one of the stored forms. A
/// value stored in another form than the type holds binds an owned value
/// ([`Bound::Owned`]):
///
/// ```
/// use orm::{Bound, ColumnType, FromValueError, ToValue, Value, ValueRef};
///
/// /// A colour, stored as `#rrggbb` text.
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub struct Rgb {
///     pub r: u8,
///     pub g: u8,
///     pub b: u8,
/// }
///
/// impl ToValue for Rgb {
///     fn to_value(&self) -> Bound<'_> {
///         let text = format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b);
///         Bound::Owned(Value::Text(text))
///     }
/// }
///
/// impl ColumnType for Rgb {
///     const SQL_TYPE: &'static str = "TEXT";
///     type Value = Rgb;
///     fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
///         let text = String::from_value(value)?;
///         let invalid = || FromValueError::Invalid(format!("`{text}` is not a #rrggbb colour"));
///         let hex = text.strip_prefix('#').filter(|hex| hex.len() == 6).ok_or_else(invalid)?;
///         let channel = |at: usize| {
///             hex.get(at..at + 2)
///                 .and_then(|pair| u8::from_str_radix(pair, 16).ok())
///                 .ok_or_else(invalid)
///         };
///         Ok(Rgb { r: channel(0)?, g: channel(2)?, b: channel(4)? })
///     }
/// }
///
/// let orange = Rgb { r: 255, g: 136, b: 0 };
/// assert_eq!(orange.to_value().into_value(), Value::Text("#ff8800".into()));
/// assert_eq!(Rgb::from_value(ValueRef::Text("#ff8800")), Ok(orange));
/// assert!(Rgb::from_value(ValueRef::Text("orange")).is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column type orm knows",
    label = "unsupported column type",
    note = "supported: integers up to i64, bool, f32, f64, String, Vec<u8>, and Option and Defaulted of each; the features `chrono`, `time`, `uuid` and `serde_json` of orm add those crates' dates, times, UUIDs and JSON; for an enum of unit variants or a newtype write #[derive(orm::ColumnType)]; for another type implement orm::ColumnType and orm::ToValue"
)]
pub trait ColumnType: ToValue + Sized {
    /// The SQL type in `CREATE TABLE` on SQLite.
    const SQL_TYPE: &'static str;
    /// The SQL type in `CREATE TABLE` on PostgreSQL, which has a type for
    /// each width and kind where SQLite has five storage classes. By
    /// default SQLite's type read the PostgreSQL way: `INTEGER` is
    /// `BIGINT` (SQLite's integers are 8 bytes), `REAL` is `DOUBLE
    /// PRECISION`, `BLOB` is `BYTEA`, anything else as it is.
    ///
    /// ```
    /// use orm::ColumnType;
    /// assert_eq!(<bool as ColumnType>::POSTGRES_TYPE, "BOOLEAN");
    /// assert_eq!(<i32 as ColumnType>::POSTGRES_TYPE, "INTEGER");
    /// assert_eq!(<Option<f64> as ColumnType>::POSTGRES_TYPE, "DOUBLE PRECISION");
    /// ```
    const POSTGRES_TYPE: &'static str = postgres_type_of(Self::SQL_TYPE);
    /// Whether the column accepts NULL.
    const NULLABLE: bool = false;
    /// The type a query compares the column with (`T` for `Option<T>`;
    /// `Self` for a type that is not an `Option`). A column of a
    /// left-joined model reads as `Option<Value>`.
    type Value: ColumnType;

    /// Converts a value read from the database.
    ///
    /// # Errors
    /// [`FromValueError`] when the value does not fit the type.
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError>;

    /// Binds the value (generated code calls this, so that a type that is
    /// not a column type is reported once, at the field's type).
    #[doc(hidden)]
    fn bind(&self) -> Bound<'_> {
        self.to_value()
    }

    /// Reads the value from column `index` of a row.
    #[doc(hidden)]
    fn read<R: Row + ?Sized>(row: &R, index: usize) -> Result<Self, ReadError> {
        read(row, index)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Bound<'_> {
        (**self).to_value()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Text(self))
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Blob(self))
    }
}

fn wrong_type(expected: &'static str, found: ValueRef<'_>) -> FromValueError {
    match found {
        ValueRef::Null => FromValueError::Null,
        other => FromValueError::WrongType {
            expected,
            found: other.type_name(),
        },
    }
}

macro_rules! integer_types {
    ($($ty:ty => $postgres:literal),* $(,)?) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Bound<'_> {
                Bound::Ref(ValueRef::Integer(i64::from(*self)))
            }
        }
        impl ColumnType for $ty {
            const SQL_TYPE: &'static str = "INTEGER";
            const POSTGRES_TYPE: &'static str = $postgres;
            type Value = $ty;
            #[inline]
            fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
                match value {
                    ValueRef::Integer(i) => <$ty>::try_from(i)
                        .map_err(|_| FromValueError::OutOfRange(i.to_string())),
                    other => Err(wrong_type("INTEGER", other)),
                }
            }
        }
    )*};
}

integer_types!(
    i8 => "SMALLINT",
    i16 => "SMALLINT",
    i32 => "INTEGER",
    i64 => "BIGINT",
    u8 => "SMALLINT",
    u16 => "INTEGER",
    u32 => "BIGINT",
);

/// SQLite's name of a type read the PostgreSQL way; see
/// [`ColumnType::POSTGRES_TYPE`].
#[doc(hidden)]
pub const fn postgres_type_of(sql_type: &'static str) -> &'static str {
    if same_name(sql_type, "INTEGER") {
        "BIGINT"
    } else if same_name(sql_type, "REAL") {
        "DOUBLE PRECISION"
    } else if same_name(sql_type, "BLOB") {
        "BYTEA"
    } else {
        sql_type
    }
}

/// Whether two names are equal but for ASCII case (a `const fn`, so that
/// types can be named at compile time).
const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

impl ToValue for isize {
    fn to_value(&self) -> Bound<'_> {
        // isize is at most 64 bits on every platform Rust supports.
        Bound::Ref(ValueRef::Integer(*self as i64))
    }
}

impl ColumnType for isize {
    const SQL_TYPE: &'static str = "INTEGER";
    type Value = isize;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Integer(i) => {
                isize::try_from(i).map_err(|_| FromValueError::OutOfRange(i.to_string()))
            }
            other => Err(wrong_type("INTEGER", other)),
        }
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Integer(i64::from(*self)))
    }
}

impl ColumnType for bool {
    const SQL_TYPE: &'static str = "INTEGER";
    const POSTGRES_TYPE: &'static str = "BOOLEAN";
    type Value = bool;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(wrong_type("INTEGER", other)),
        }
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Real(*self))
    }
}

impl ColumnType for f64 {
    const SQL_TYPE: &'static str = "REAL";
    type Value = f64;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(wrong_type("REAL", other)),
        }
    }
}

impl ToValue for f32 {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Real(f64::from(*self)))
    }
}

impl ColumnType for f32 {
    const SQL_TYPE: &'static str = "REAL";
    const POSTGRES_TYPE: &'static str = "REAL";
    type Value = f32;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        let wide = f64::from_value(value)?;
        let narrow = wide as f32;
        // A finite value too large for f32 would become infinity.
        if wide.is_finite() && narrow.is_infinite() {
            return Err(FromValueError::OutOfRange(wide.to_string()));
        }
        Ok(narrow)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Text(self))
    }
}

impl ColumnType for String {
    const SQL_TYPE: &'static str = "TEXT";
    type Value = String;
    #[inline]
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(wrong_type("TEXT", other)),
        }
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Blob(self))
    }
}

impl ColumnType for Vec<u8> {
    const SQL_TYPE: &'static str = "BLOB";
    type Value = Vec<u8>;
    #[inline]
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(wrong_type("BLOB", other)),
        }
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Bound<'_> {
        match self {
            Some(value) => value.to_value(),
            None => Bound::Ref(ValueRef::Null),
        }
    }
}

impl<T: ColumnType> ColumnType for Option<T> {
    const SQL_TYPE: &'static str = T::SQL_TYPE;
    const POSTGRES_TYPE: &'static str = T::POSTGRES_TYPE;
    const NULLABLE: bool = true;
    type Value = T::Value;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Reads column `index` of a row as `T`.
pub(crate) fn read<T: ColumnType, R: Row + ?Sized>(row: &R, index: usize) -> Result<T, ReadError> {
    row.value(index)
        .and_then(T::from_value)
        .map_err(|error| ReadError { index, error })
}

/// Reads of the database's own tables (schema introspection, migration
/// history), with errors as [`Error`]s.
pub(crate) trait RowExt: Row {
    /// Column `index` as `T`.
    fn get<T: ColumnType>(&self, index: usize) -> Result<T, Error>;
}

impl<R: Row + ?Sized> RowExt for R {
    fn get<T: ColumnType>(&self, index: usize) -> Result<T, Error> {
        read(self, index).map_err(|e| Error::Conversion {
            table: String::new(),
            column: format!("column {}", e.index),
            key: "(none)".to_owned(),
            detail: e.error.to_string(),
        })
    }
}

/// Renders a value as SQL literal text, for echo and error messages.
pub fn render(value: &Value) -> String {
    match value {
        Value::Null => "NULL".to_owned(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for ch in s.chars() {
                match ch {
                    '\'' => out.push_str("''"),
                    '\0' => out.push_str("\\0"),
                    _ => out.push(ch),
                }
            }
            out.push('\'');
            out
        }
        Value::Blob(b) => {
            let hex: String = b
                .iter()
                .take(32)
                .map(|byte| format!("{byte:02x}"))
                .collect();
            if b.len() > 32 {
                format!("x'{hex}...' ({} bytes)", b.len())
            } else {
                format!("x'{hex}'")
            }
        }
    }
}

impl fmt::Display for Value {
    /// As SQL literal text: see [`render`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_escapes_text_and_shortens_blobs() {
        assert_eq!(render(&Value::Text("O'Brien".into())), "'O''Brien'");
        assert_eq!(render(&Value::Blob(vec![1, 255])), "x'01ff'");
        assert_eq!(render(&Value::Null), "NULL");
    }

    #[test]
    fn a_row_key_is_found_by_its_table_and_its_value() {
        use rustc_hash::FxHashSet;
        let rows: FxHashSet<RowKey> = [
            RowKey("users", Value::Integer(1)),
            RowKey("users", Value::Text("ann".into())),
            RowKey("users", Value::Real(-0.0)),
            RowKey("users", Value::Blob(vec![1])),
            RowKey("users", Value::Null),
        ]
        .into_iter()
        .collect();
        for found in [
            RowKey("users", Value::Integer(1)),
            RowKey("users", Value::Text("ann".into())),
            RowKey("users", Value::Real(0.0)),
            RowKey("users", Value::Blob(vec![1])),
        ] {
            assert!(rows.contains(&found), "{found:?}");
        }
        for missing in [
            RowKey("posts", Value::Integer(1)),
            RowKey("users", Value::Integer(2)),
            RowKey("users", Value::Real(1.0)),
            RowKey("users", Value::Text("1".into())),
            RowKey("users", Value::Real(f64::NAN)),
        ] {
            assert!(!rows.contains(&missing), "{missing:?}");
        }
    }
}
