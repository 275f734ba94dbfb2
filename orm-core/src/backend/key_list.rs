//! Key lists: the keys of many objects bound as one parameter, for the
//! `IN (...)` of a preload: one statement text and one parameter for any
//! number of keys. PostgreSQL has array parameters (`= ANY($1)`), sent as
//! an array literal in its text format. SQLite has none, so there the list
//! is a JSON array read back by `json_each`.
//!
//! JSON has numbers and strings but no bytes, so BLOB keys (a UUID's 16
//! bytes) are written as hex strings and turned back into blobs by
//! `unhex` (SQLite 3.41+, bundled). Every value must read back as exactly
//! the value a lazy load binds with `= ?`: text with quotes, unicode or NUL,
//! reals to the last bit. Does not build the statements around the list
//! (`sql::text` does).

use std::fmt::Write;

use super::Backend;
use crate::value::Value;

/// How the keys of one list are written, and read back (by `json_each` on
/// SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyForm {
    /// Integers, reals and text, as JSON numbers and strings.
    Plain,
    /// Bytes, as hex strings that `unhex` makes blobs again.
    Blob,
}

impl KeyForm {
    fn of(value: &Value) -> KeyForm {
        match value {
            Value::Blob(_) => KeyForm::Blob,
            _ => KeyForm::Plain,
        }
    }

    /// The condition a column meets when its value is in the list bound to
    /// its one parameter: ` IN (<subquery>)` on SQLite, ` = ANY(?)` on
    /// PostgreSQL.
    pub(crate) fn condition(self, dialect: Backend) -> &'static str {
        match (dialect, self) {
            (Backend::Sqlite, KeyForm::Plain) => " IN (SELECT value FROM json_each(?))",
            (Backend::Sqlite, KeyForm::Blob) => " IN (SELECT unhex(value) FROM json_each(?))",
            (Backend::Postgres, _) => " = ANY(?)",
        }
    }
}

/// Keys of one form, as the text bound to [`KeyForm::condition`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyList {
    /// How the keys are written.
    pub(crate) form: KeyForm,
    /// The JSON array (SQLite) or the array literal (PostgreSQL).
    pub(crate) json: String,
}

/// `keys` as lists of one form each, so one statement per list. Every key
/// type orm knows gives one list (its keys are all of one SQL type); only
/// a key type of the user's whose values mix blobs with other types gives
/// two, rather than a list whose blobs match nothing.
pub(crate) fn key_lists(keys: &[Value], dialect: Backend) -> Vec<KeyList> {
    let (open, close) = match dialect {
        Backend::Sqlite => ("[", ']'),
        Backend::Postgres => ("{", '}'),
    };
    let mut lists: Vec<KeyList> = Vec::new();
    for key in keys {
        let form = KeyForm::of(key);
        let list = match lists.iter().position(|l| l.form == form) {
            Some(i) => &mut lists[i],
            None => {
                lists.push(KeyList {
                    form,
                    json: String::from(open),
                });
                let last = lists.len() - 1;
                &mut lists[last]
            }
        };
        if list.json.len() > 1 {
            list.json.push(',');
        }
        match dialect {
            Backend::Sqlite => push_json(&mut list.json, key),
            Backend::Postgres => push_array_element(&mut list.json, key),
        }
    }
    for list in &mut lists {
        list.json.push(close);
    }
    lists
}

/// Appends `value` as JSON (a blob as a hex string).
fn push_json(json: &mut String, value: &Value) {
    // Writing to a String cannot fail.
    match value {
        Value::Integer(n) => {
            let _ = write!(json, "{n}");
        }
        // `{:?}` is the shortest text that reads back as the same bits;
        // 9e999 is how JSON spells infinity to SQLite. NaN equals nothing,
        // as with `= ?`, and SQLite stores it as NULL anyway.
        Value::Real(f) if f.is_finite() => {
            let _ = write!(json, "{f:?}");
        }
        Value::Real(f) if f.is_infinite() => {
            json.push_str(if *f > 0.0 { "9e999" } else { "-9e999" });
        }
        Value::Real(_) | Value::Null => json.push_str("null"),
        Value::Text(s) => push_json_string(json, s),
        Value::Blob(bytes) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            json.push('"');
            for byte in bytes {
                json.push(char::from(HEX[usize::from(byte >> 4)]));
                json.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
            json.push('"');
        }
    }
}

/// Appends `value` as an element of a PostgreSQL array literal: numbers
/// bare, text and bytes (`\\x` hex, as `bytea` reads it) in double
/// quotes with `"` and `\` escaped.
fn push_array_element(list: &mut String, value: &Value) {
    match value {
        Value::Integer(n) => {
            let _ = write!(list, "{n}");
        }
        Value::Real(f) if f.is_finite() => {
            let _ = write!(list, "{f:?}");
        }
        Value::Real(f) if f.is_infinite() => {
            list.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" });
        }
        Value::Real(_) | Value::Null => list.push_str("NULL"),
        Value::Text(s) => {
            list.push('"');
            for ch in s.chars() {
                if ch == '"' || ch == '\\' {
                    list.push('\\');
                }
                list.push(ch);
            }
            list.push('"');
        }
        Value::Blob(bytes) => {
            list.push_str("\"\\\\x");
            for byte in bytes {
                let _ = write!(list, "{byte:02x}");
            }
            list.push('"');
        }
    }
}

fn push_json_string(json: &mut String, s: &str) {
    json.push('"');
    for ch in s.chars() {
        match ch {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(json, "\\u{:04x}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(keys: &[Value]) -> Vec<(KeyForm, String)> {
        key_lists(keys, Backend::Sqlite)
            .into_iter()
            .map(|l| (l.form, l.json))
            .collect()
    }

    #[test]
    fn integers_and_text_make_one_plain_list() {
        assert_eq!(
            lists(&[Value::Integer(1), Value::Integer(-20)]),
            [(KeyForm::Plain, "[1,-20]".to_owned())]
        );
        assert_eq!(
            lists(&[Value::Text("a\"b\\c\0d\u{e9}".into())]),
            [(KeyForm::Plain, r#"["a\"b\\c\u0000dé"]"#.to_owned())]
        );
    }

    #[test]
    fn reals_are_written_to_read_back_exactly() {
        assert_eq!(
            lists(&[
                Value::Real(0.1),
                Value::Real(1e300),
                Value::Real(f64::NEG_INFINITY),
                Value::Real(f64::NAN)
            ]),
            [(KeyForm::Plain, "[0.1,1e300,-9e999,null]".to_owned())]
        );
    }

    #[test]
    fn blobs_are_hex_in_a_list_of_their_own() {
        assert_eq!(
            lists(&[
                Value::Blob(vec![0, 0xff, 0x1a]),
                Value::Integer(3),
                Value::Blob(vec![])
            ]),
            [
                (KeyForm::Blob, r#"["00ff1a",""]"#.to_owned()),
                (KeyForm::Plain, "[3]".to_owned())
            ]
        );
        assert_eq!(lists(&[]), []);
    }

    /// The promise of the module, checked against the bundled SQLite: each
    /// key reads back through its list's subquery as the very value bound.
    #[test]
    fn every_key_reads_back_from_sqlite_as_the_value_bound() -> rusqlite::Result<()> {
        let conn = rusqlite::Connection::open_in_memory()?;
        let keys = [
            Value::Real(0.1),
            Value::Real(-1e300),
            Value::Real(5e-324),
            Value::Real(f64::INFINITY),
            Value::Real(std::f64::consts::PI),
            Value::Text("it's \"x\" \\ 🦀 \0 \u{7f}".into()),
            Value::Blob(vec![0, 0xff, 0x80, 0x7f]),
            Value::Integer(i64::MIN),
        ];
        for key in keys {
            let list = key_lists(std::slice::from_ref(&key), Backend::Sqlite).remove(0);
            let condition = list.form.condition(Backend::Sqlite).replace('?', "?2");
            let sql = format!("SELECT ?1{condition}");
            let bound = rusqlite::types::ToSqlOutput::Borrowed(crate::backend::sqlite::to_driver(
                key.as_ref(),
            ));
            let found: bool =
                conn.query_row(&sql, rusqlite::params![bound, list.json], |row| row.get(0))?;
            assert!(found, "{key:?} as {}", list.json);
        }
        Ok(())
    }

    #[test]
    fn postgres_lists_are_array_literals() {
        let lists = key_lists(
            &[
                Value::Integer(3),
                Value::Text("a\"b\\c".into()),
                Value::Blob(vec![0, 0xff]),
                Value::Real(f64::INFINITY),
            ],
            Backend::Postgres,
        );
        let texts: Vec<&str> = lists.iter().map(|l| l.json.as_str()).collect();
        assert_eq!(texts, [r#"{3,"a\"b\\c",Infinity}"#, r#"{"\\x00ff"}"#]);
    }
}
