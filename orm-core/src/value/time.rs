//! `time::OffsetDateTime` as a column type (feature `time`), stored as RFC
//! 3339 text in UTC (`2024-05-01T12:30:00Z`), so that values sort and
//! compare as the instants they are; read back in UTC. On PostgreSQL it is
//! a `TIMESTAMP WITH TIME ZONE` (to the microsecond).

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::{Bound, ColumnType, FromValueError, ToValue, Value, ValueRef, wrong_type};

impl ToValue for OffsetDateTime {
    fn to_value(&self) -> Bound<'_> {
        let utc = self.to_offset(UtcOffset::UTC);
        // RFC 3339 covers years 0 to 9999. A date outside them is stored as
        // its `Display` text, which does not read back: a conversion error
        // naming the row, rather than a value silently lost.
        let text = utc.format(&Rfc3339).unwrap_or_else(|_| format!("{utc}"));
        Bound::Owned(Value::Text(text))
    }
}

impl ColumnType for OffsetDateTime {
    const SQL_TYPE: &'static str = "TEXT";
    const POSTGRES_TYPE: &'static str = "TIMESTAMP WITH TIME ZONE";
    type Value = OffsetDateTime;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        match value {
            ValueRef::Text(s) => OffsetDateTime::parse(s, &Rfc3339)
                .map(|t| t.to_offset(UtcOffset::UTC))
                .map_err(|_| {
                    FromValueError::Invalid(format!("`{s}` is not an RFC 3339 date and time"))
                }),
            other => Err(wrong_type("TEXT (a date and time)", other)),
        }
    }
}
