//! `uuid::Uuid` as a column type (feature `uuid`), stored as its 16 bytes
//! (a BLOB: half the size of its text, and compared byte for byte), so it
//! serves as a primary key and as a key that `BelongsTo` points at. Reading
//! also accepts the hyphenated text form other programs may have written.
//! On PostgreSQL it is a `UUID` (the same 16 bytes).

use uuid::Uuid;

use super::{Bound, ColumnType, FromValueError, ToValue, ValueRef, wrong_type};

impl ToValue for Uuid {
    fn to_value(&self) -> Bound<'_> {
        Bound::Ref(ValueRef::Blob(self.as_bytes()))
    }
}

impl ColumnType for Uuid {
    const SQL_TYPE: &'static str = "BLOB";
    const POSTGRES_TYPE: &'static str = "UUID";
    type Value = Uuid;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Blob(bytes) => Uuid::from_slice(bytes).map_err(|_| {
                FromValueError::Invalid(format!("{} bytes are not a UUID (16 are)", bytes.len()))
            }),
            ValueRef::Text(s) => Uuid::parse_str(s)
                .map_err(|_| FromValueError::Invalid(format!("`{s}` is not a UUID"))),
            other => Err(wrong_type("BLOB (a UUID)", other)),
        }
    }
}
