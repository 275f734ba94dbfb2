//! orm's values into PostgreSQL's and back. PostgreSQL types every
//! parameter (from where it stands in the statement) and every result
//! column, where orm's values are SQLite's five kinds; the conversion
//! follows the type the server names, so one `Value::Integer` binds to a
//! `SMALLINT`, an `INTEGER`, a `BIGINT`, a `BOOLEAN` or a `DOUBLE
//! PRECISION` alike (out of range is an error, never a wrapped number).
//!
//! Values the binary format has no direct match for (text for a
//! `TIMESTAMPTZ` or `UUID` parameter, a preload's key list for a
//! `BIGINT[]`) go in PostgreSQL's text format, which the server parses as
//! it parses a literal.

use std::cell::OnceCell;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::value::{FromValueError, Row, ValueRef};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter as the `postgres` crate binds it.
#[derive(Debug)]
pub(crate) struct PgParam<'a>(pub ValueRef<'a>);

/// How a value is sent for a parameter of type `ty`.
fn format_for(value: ValueRef<'_>, ty: &Type) -> Format {
    let binary = match value {
        ValueRef::Null => true,
        ValueRef::Integer(_) => matches!(
            *ty,
            Type::INT2 | Type::INT4 | Type::INT8 | Type::BOOL | Type::FLOAT4 | Type::FLOAT8
        ),
        ValueRef::Real(_) => matches!(*ty, Type::FLOAT4 | Type::FLOAT8),
        ValueRef::Text(_) => is_text(ty) || *ty == Type::JSONB,
        ValueRef::Blob(_) => true,
    };
    if binary { Format::Binary } else { Format::Text }
}

/// Types whose binary form is the UTF-8 text itself.
fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
    )
}

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let text = matches!(format_for(self.0, ty), Format::Text);
        match self.0 {
            ValueRef::Null => return Ok(IsNull::Yes),
            ValueRef::Integer(i) if text => out.put_slice(i.to_string().as_bytes()),
            ValueRef::Integer(i) => match *ty {
                Type::INT2 => out.put_i16(narrow(i, ty)?),
                Type::INT4 => out.put_i32(narrow(i, ty)?),
                Type::BOOL => out.put_u8(u8::from(i != 0)),
                // Integers in floating-point columns, as SQLite converts them.
                Type::FLOAT4 => out.put_f32(i as f32),
                Type::FLOAT8 => out.put_f64(i as f64),
                _ => out.put_i64(i),
            },
            ValueRef::Real(f) if text => out.put_slice(float_text(f).as_bytes()),
            ValueRef::Real(f) if *ty == Type::FLOAT4 => out.put_f32(f as f32),
            ValueRef::Real(f) => out.put_f64(f),
            ValueRef::Text(s) if *ty == Type::UUID_ARRAY => {
                // A key list of UUIDs, written as bytes (`"\\x..."`, what
                // `BYTEA[]` reads); `UUID[]` reads the bare hex digits.
                out.put_slice(s.replace("\"\\\\x", "\"").as_bytes());
            }
            ValueRef::Text(s) => {
                if *ty == Type::JSONB && !text {
                    // The binary JSONB form: a version byte, then the text.
                    out.put_u8(1);
                }
                out.put_slice(s.as_bytes());
            }
            ValueRef::Blob(b) => {
                if *ty != Type::BYTEA && !(*ty == Type::UUID && b.len() == 16) {
                    return Err(format!("bytes cannot be bound to a {ty} parameter").into());
                }
                out.put_slice(b);
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        // Every type: `to_sql` decides per value, and refuses what does not fit.
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        format_for(self.0, ty)
    }

    to_sql_checked!();
}

/// `i` for a parameter of the narrower integer type `ty`.
fn narrow<T: TryFrom<i64>>(i: i64, ty: &Type) -> Result<T, BoxError> {
    T::try_from(i).map_err(|_| format!("{i} is out of range for a {ty} parameter").into())
}

/// A float as PostgreSQL reads it in text: the shortest text that reads
/// back as the same bits, and its names for the infinities.
fn float_text(f: f64) -> String {
    if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// A result column as orm reads it, borrowed from the row.
pub(crate) struct PgValue<'a>(pub ValueRef<'a>);

impl<'a> FromSql<'a> for PgValue<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let value = match *ty {
            Type::INT2 => ValueRef::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => ValueRef::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => ValueRef::Integer(i64::from_sql(ty, raw)?),
            Type::OID => ValueRef::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::BOOL => ValueRef::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA | Type::UUID => ValueRef::Blob(raw),
            Type::JSONB => match raw.split_first() {
                Some((1, json)) => ValueRef::Text(std::str::from_utf8(json)?),
                _ => return Err("a JSONB value of an unknown version".into()),
            },
            _ if is_text(ty) || matches!(ty.kind(), Kind::Enum(_)) => {
                ValueRef::Text(std::str::from_utf8(raw)?)
            }
            _ => return Err(format!("orm does not read PostgreSQL's {ty} type").into()),
        };
        Ok(PgValue(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgValue(ValueRef::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A NUMERIC (what `sum` and `avg` of integers return): an integer when it
/// has no fraction and fits, else the nearest float.
///
/// The binary form is a sign, a weight and base-10000 digits.
fn numeric(raw: &[u8]) -> Result<ValueRef<'static>, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated NUMERIC".into())
    };
    let (count, weight, sign, scale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    match sign {
        0xC000 => return Ok(ValueRef::Real(f64::NAN)),
        0xD000 => return Ok(ValueRef::Real(f64::INFINITY)),
        0xF000 => return Ok(ValueRef::Real(f64::NEG_INFINITY)),
        _ => {}
    }
    let negative = sign == 0x4000;
    let digits: Vec<i16> = (0..usize::try_from(count)?)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    if scale == 0 {
        let mut value: i128 = 0;
        for (i, &digit) in digits.iter().enumerate() {
            let exponent = i32::from(weight) - i32::try_from(i)?;
            if exponent < 0 {
                break;
            }
            let place = 10_000i128
                .checked_pow(u32::try_from(exponent)?)
                .ok_or("a NUMERIC too large for an integer")?;
            value += i128::from(digit) * place;
        }
        let value = if negative { -value } else { value };
        if let Ok(value) = i64::try_from(value) {
            return Ok(ValueRef::Integer(value));
        }
    }
    // The nearest float: written out in decimal and parsed, which rounds
    // once (summing the digits as floats would round at every step).
    let mut text = String::from(if negative { "-0" } else { "0" });
    let digit_at = |exponent: i32| {
        usize::try_from(i32::from(weight) - exponent)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    for exponent in (0..=i32::from(weight).max(0)).rev() {
        text.push_str(&format!("{:04}", digit_at(exponent)));
    }
    text.push('.');
    let last = i32::try_from(digits.len())? - 1 - i32::from(weight);
    for exponent in 1..=last.max(1) {
        text.push_str(&format!("{:04}", digit_at(-exponent)));
    }
    Ok(ValueRef::Real(text.parse::<f64>()?))
}

/// A PostgreSQL row, read through orm's [`Row`].
pub(crate) struct PgRow<'r> {
    row: &'r postgres::Row,
    /// The text of each date and time column, made on first read: orm's
    /// date and time types read the text SQLite stores, and PostgreSQL
    /// sends a count of microseconds (or days).
    times: OnceCell<Box<[OnceCell<String>]>>,
}

impl<'r> PgRow<'r> {
    pub(crate) fn new(row: &'r postgres::Row) -> Self {
        PgRow {
            row,
            times: OnceCell::new(),
        }
    }

    /// Column `index`, a date or time, as text.
    fn time(&self, index: usize) -> Result<ValueRef<'_>, FromValueError> {
        let cells = self
            .times
            .get_or_init(|| (0..self.row.len()).map(|_| OnceCell::new()).collect());
        let Some(cell) = cells.get(index) else {
            return Err(FromValueError::Invalid(format!("no column {index}")));
        };
        if let Some(text) = cell.get() {
            return Ok(ValueRef::Text(text));
        }
        let time = self
            .row
            .try_get::<_, Option<PgTime>>(index)
            .map_err(|e| FromValueError::Invalid(e.to_string()))?;
        Ok(match time {
            None => ValueRef::Null,
            Some(time) => ValueRef::Text(cell.get_or_init(|| time.text())),
        })
    }
}

impl Row for PgRow<'_> {
    fn value(&self, index: usize) -> Result<ValueRef<'_>, FromValueError> {
        let column = self.row.columns().get(index);
        if column.is_some_and(|c| PgTime::is_time(c.type_())) {
            return self.time(index);
        }
        match self.row.try_get::<_, PgValue<'_>>(index) {
            Ok(value) => Ok(value.0),
            Err(e) => Err(FromValueError::Invalid(
                e.source()
                    .map_or_else(|| e.to_string(), ToString::to_string),
            )),
        }
    }
}

/// A date or time as PostgreSQL sends it: microseconds (or days) since
/// 2000-01-01.
enum PgTime {
    /// `TIMESTAMP WITH TIME ZONE`, in UTC.
    Instant(i64),
    /// `TIMESTAMP WITHOUT TIME ZONE`.
    Local(i64),
    /// `DATE`.
    Date(i32),
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

impl PgTime {
    fn is_time(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMPTZ | Type::TIMESTAMP | Type::DATE)
    }

    /// The text orm's date and time types read: `2024-05-01T12:30:00.000000Z`,
    /// the same without the `Z`, `2024-05-01`; PostgreSQL's infinities as
    /// `infinity` and `-infinity` (which no Rust type reads: a conversion
    /// error naming the row).
    fn text(&self) -> String {
        let micros = match *self {
            PgTime::Date(i32::MAX) | PgTime::Instant(i64::MAX) | PgTime::Local(i64::MAX) => {
                return "infinity".to_owned();
            }
            PgTime::Date(i32::MIN) | PgTime::Instant(i64::MIN) | PgTime::Local(i64::MIN) => {
                return "-infinity".to_owned();
            }
            PgTime::Date(days) => {
                let (y, m, d) = civil(i64::from(days) + EPOCH_DAYS);
                return format!("{y:04}-{m:02}-{d:02}");
            }
            PgTime::Instant(micros) | PgTime::Local(micros) => micros,
        };
        let days = micros.div_euclid(MICROS_PER_DAY);
        let of_day = micros.rem_euclid(MICROS_PER_DAY);
        let (y, m, d) = civil(days + EPOCH_DAYS);
        let seconds = of_day / 1_000_000;
        let (h, min, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        let zone = if matches!(self, PgTime::Instant(_)) {
            "Z"
        } else {
            ""
        };
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{:06}{zone}",
            of_day % 1_000_000
        )
    }
}

/// The civil date (year, month, day) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::DATE => PgTime::Date(i32::from_sql(&Type::INT4, raw)?),
            Type::TIMESTAMPTZ => PgTime::Instant(i64::from_sql(&Type::INT8, raw)?),
            _ => PgTime::Local(i64::from_sql(&Type::INT8, raw)?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        PgTime::is_time(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the value goes as text, and its bytes.
    fn encoded(value: ValueRef<'_>, ty: &Type) -> Result<(bool, Vec<u8>), BoxError> {
        let param = PgParam(value);
        let mut out = BytesMut::new();
        param.to_sql(ty, &mut out)?;
        Ok((
            matches!(param.encode_format(ty), Format::Text),
            out.to_vec(),
        ))
    }

    #[test]
    fn integers_bind_to_the_parameter_type_the_server_names() {
        let int4 = encoded(ValueRef::Integer(7), &Type::INT4).expect("fits");
        assert_eq!(int4, (false, vec![0, 0, 0, 7]));
        let boolean = encoded(ValueRef::Integer(1), &Type::BOOL).expect("a bool");
        assert_eq!(boolean, (false, vec![1]));
        assert!(encoded(ValueRef::Integer(70_000), &Type::INT2).is_err());
        let text = encoded(ValueRef::Integer(42), &Type::TEXT).expect("as text");
        assert_eq!(text, (true, b"42".to_vec()));
    }

    #[test]
    fn text_for_other_types_goes_in_text_format() {
        let array = encoded(ValueRef::Text("{1,2}"), &Type::INT8_ARRAY).expect("a literal");
        assert_eq!(array, (true, b"{1,2}".to_vec()));
        let uuids = encoded(ValueRef::Text(r#"{"\\x00ff"}"#), &Type::UUID_ARRAY).expect("uuids");
        assert_eq!(uuids, (true, br#"{"00ff"}"#.to_vec()));
        let jsonb = encoded(ValueRef::Text("{}"), &Type::JSONB).expect("jsonb");
        assert_eq!(jsonb, (false, vec![1, b'{', b'}']));
    }

    #[test]
    fn dates_and_times_read_as_the_text_sqlite_keeps() {
        assert_eq!(PgTime::Instant(0).text(), "2000-01-01T00:00:00.000000Z");
        // 2024-02-29T12:30:05.000250, a leap day.
        let micros = (8825 * 86_400 + 12 * 3600 + 30 * 60 + 5) * 1_000_000 + 250;
        assert_eq!(PgTime::Local(micros).text(), "2024-02-29T12:30:05.000250");
        assert_eq!(PgTime::Date(-1).text(), "1999-12-31");
        assert_eq!(PgTime::Instant(i64::MAX).text(), "infinity");
    }

    #[test]
    fn numerics_read_as_integers_when_whole() {
        // 12345678: weight 1, digits 1234 5678.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(
            numeric(&raw).expect("a numeric"),
            ValueRef::Integer(12_345_678)
        );
        // -2.5: weight 0, scale 1, digits 2 5000.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 2, 0x13, 0x88];
        assert_eq!(numeric(&raw).expect("a numeric"), ValueRef::Real(-2.5));
        // avg(100, 100, 200) = 133.3333 3333 3333 3333 3333: the float
        // nearest the decimal, as 400.0 / 3.0 is.
        let mut raw = vec![0, 6, 0, 0, 0, 0, 0, 20, 0, 133];
        for _ in 0..5 {
            raw.extend_from_slice(&3333u16.to_be_bytes());
        }
        assert_eq!(
            numeric(&raw).expect("a numeric"),
            ValueRef::Real(400.0 / 3.0)
        );
        // 0.0005: weight -1, the one base-10000 digit 5 just after the point.
        let raw = [0, 1, 0xff, 0xff, 0, 0, 0, 4, 0, 5];
        assert_eq!(numeric(&raw).expect("a numeric"), ValueRef::Real(0.0005));
    }
}
