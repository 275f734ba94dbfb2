//! `chrono`'s dates and times as column types (feature `chrono`), stored as
//! ISO 8601 text that sorts as the values do and that SQLite's date
//! functions read: `DateTime<Utc>` as `2024-05-01T12:30:00.000000Z`,
//! `NaiveDateTime` as `2024-05-01T12:30:00.000000`, `NaiveDate` as
//! `2024-05-01`. Reading also accepts SQLite's own `2024-05-01 12:30:00`
//! (what `CURRENT_TIMESTAMP` writes), as UTC. On PostgreSQL they are its
//! `TIMESTAMP WITH TIME ZONE`, `TIMESTAMP WITHOUT TIME ZONE` and `DATE`
//! (microseconds, as the text keeps them).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::{Bound, ColumnType, FromValueError, ToValue, Value, ValueRef, wrong_type};

const DATE_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// The text of a value read, or why it is not one.
fn text<'a>(value: ValueRef<'a>, expected: &'static str) -> Result<&'a str, FromValueError> {
    match value {
        ValueRef::Text(s) => Ok(s),
        other => Err(wrong_type(expected, other)),
    }
}

fn invalid(what: &str, text: &str) -> FromValueError {
    FromValueError::Invalid(format!("`{text}` is not {what}"))
}

fn naive(s: &str) -> Option<NaiveDateTime> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
}

impl ToValue for DateTime<Utc> {
    fn to_value(&self) -> Bound<'_> {
        Bound::Owned(Value::Text(format!("{}Z", self.format(DATE_TIME))))
    }
}

impl ColumnType for DateTime<Utc> {
    const SQL_TYPE: &'static str = "TEXT";
    const POSTGRES_TYPE: &'static str = "TIMESTAMP WITH TIME ZONE";
    type Value = DateTime<Utc>;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        let s = text(value, "TEXT (a date and time)")?;
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| naive(s).map(|n| n.and_utc()))
            .ok_or_else(|| invalid("a date and time", s))
    }
}

impl ToValue for NaiveDateTime {
    fn to_value(&self) -> Bound<'_> {
        Bound::Owned(Value::Text(self.format(DATE_TIME).to_string()))
    }
}

impl ColumnType for NaiveDateTime {
    const SQL_TYPE: &'static str = "TEXT";
    const POSTGRES_TYPE: &'static str = "TIMESTAMP WITHOUT TIME ZONE";
    type Value = NaiveDateTime;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        let s = text(value, "TEXT (a date and time)")?;
        naive(s).ok_or_else(|| invalid("a date and time", s))
    }
}

impl ToValue for NaiveDate {
    fn to_value(&self) -> Bound<'_> {
        Bound::Owned(Value::Text(self.format("%Y-%m-%d").to_string()))
    }
}

impl ColumnType for NaiveDate {
    const SQL_TYPE: &'static str = "TEXT";
    const POSTGRES_TYPE: &'static str = "DATE";
    type Value = NaiveDate;
    fn from_value(value: ValueRef<'_>) -> Result<Self, FromValueError> {
        let s = text(value, "TEXT (a date)")?;
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| invalid("a date", s))
    }
}
