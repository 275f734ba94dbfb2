//! `serde_json::Value` as a column type (feature `serde_json`), stored as
//! JSON text, which SQLite's JSON functions read (`json_extract(data,
//! '$.a')`). Declared `TEXT`: a declared `JSON` type would get SQLite's
//! NUMERIC affinity and turn `"1"` into `1`. On PostgreSQL it is `JSONB`
//! (which keeps the value, not the text: keys come back sorted, spaces
//! gone).

use serde_json::Value as Json;

use super::{Bound, ColumnType, FromValueError, ToValue, Value, ValueRef, wrong_type};

impl ToValue for Json {
    fn to_value(&self) -> Bound<'_> {
        Bound::Owned(Value::Text(self.to_string()))
    }
}

impl ColumnType for Json {
    const SQL_TYPE: &'static str = "TEXT";
    const POSTGRES_TYPE: &'static str = "JSONB";
    type Value = Json;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Text(s) => serde_json::from_str(s)
                .map_err(|e| FromValueError::Invalid(format!("not JSON: {e}"))),
            other => Err(wrong_type("TEXT (JSON)", other)),
        }
    }
}
