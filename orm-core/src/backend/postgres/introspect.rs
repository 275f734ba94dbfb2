//! The live schema of a PostgreSQL database, read from its catalogs into
//! the plain values of `schema::live` that the drift report compares with
//! the models: every table of the connection's current schema, three
//! catalog queries for all of them.
//!
//! Does not compare anything (see `migrate::diff`).

use rustc_hash::FxHashMap as HashMap;

use super::PgClient;
use super::value::PgRow;
use crate::error::Result;
use crate::schema::{LiveColumn, LiveForeignKey, LiveIndex, LiveTable};
use crate::value::RowExt;

/// Separates names in one aggregated text (a name may hold a comma).
const SEPARATOR: char = '\u{1f}';

const COLUMNS: &str = "SELECT c.relname::text, a.attname::text, upper(format_type(a.atttypid, a.atttypmod)), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
     WHERE n.nspname = current_schema() AND c.relkind = 'r' \
     ORDER BY c.relname, a.attnum";

const CONSTRAINTS: &str = "SELECT c.relname::text, k.contype::text, k.conname::text, \
     (SELECT string_agg(a.attname::text, chr(31) ORDER BY u.i) FROM unnest(k.conkey) WITH ORDINALITY AS u(n, i) \
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n), \
     f.relname::text, k.confdeltype::text \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     LEFT JOIN pg_class f ON f.oid = k.confrelid \
     WHERE n.nspname = current_schema() AND k.contype IN ('p', 'u', 'f') \
     ORDER BY c.relname, k.conname";

const INDEXES: &str = "SELECT t.relname::text, i.relname::text, x.indisunique, \
     (SELECT string_agg(a.attname::text, chr(31) ORDER BY u.i) FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS u(n, i) \
      JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = u.n) \
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
     JOIN pg_namespace n ON n.oid = t.relnamespace \
     WHERE n.nspname = current_schema() AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) \
     ORDER BY t.relname, i.relname";

const FOREIGN_KEY_NAMES: &str = "SELECT c.relname::text, a.attname::text, k.conname::text \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] \
     WHERE n.nspname = current_schema() AND k.contype = 'f' AND cardinality(k.conkey) = 1 \
     ORDER BY c.relname, k.conname";

/// The name of a one-column foreign key constraint, which dropping it needs.
#[derive(Debug, Clone)]
pub(crate) struct ForeignKeyName {
    pub table: String,
    pub column: String,
    pub name: String,
}

/// The names of the one-column foreign keys of the current schema's tables.
pub(crate) fn foreign_key_names(conn: &mut PgClient) -> Result<Vec<ForeignKeyName>> {
    conn.query(FOREIGN_KEY_NAMES, &[], "")?
        .iter()
        .map(|row| {
            let row = PgRow::new(row);
            Ok(ForeignKeyName {
                table: text(&row, 0)?,
                column: text(&row, 1)?,
                name: text(&row, 2)?,
            })
        })
        .collect()
}

/// Every table of the current schema.
pub(crate) fn read_tables(conn: &mut PgClient) -> Result<Vec<LiveTable>> {
    let mut tables: Vec<LiveTable> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::default();
    for row in conn.query(COLUMNS, &[], "")? {
        let row = PgRow::new(&row);
        let table = text(&row, 0)?;
        let at = *position.entry(table.clone()).or_insert_with(|| {
            tables.push(LiveTable {
                name: table.clone(),
                original: table.clone(),
                columns: Vec::new(),
                foreign_keys: Vec::new(),
                indexes: Vec::new(),
            });
            tables.len() - 1
        });
        let name = text(&row, 1)?;
        tables[at].columns.push(LiveColumn {
            original: name.clone(),
            name,
            sql_type: text(&row, 2)?,
            not_null: row.get::<bool>(3)?,
            primary_key: 0,
            default: row.get::<Option<String>>(4)?.map(|d| without_cast(&d)),
        });
    }
    for row in conn.query(CONSTRAINTS, &[], "")? {
        let row = PgRow::new(&row);
        let Some(&at) = position.get(&text(&row, 0)?) else {
            continue;
        };
        let table = &mut tables[at];
        let kind = text(&row, 1)?;
        let name = text(&row, 2)?;
        let columns = names(row.get::<Option<String>>(3)?);
        match kind.as_str() {
            "f" => {
                if let [column] = columns.as_slice() {
                    table.foreign_keys.push(LiveForeignKey {
                        column: column.clone(),
                        target: row.get::<Option<String>>(4)?.unwrap_or_default(),
                        on_delete: on_delete(&text(&row, 5)?).to_owned(),
                    });
                }
            }
            "p" => {
                for (i, key) in columns.iter().enumerate() {
                    if let Some(column) = table.columns.iter_mut().find(|c| &c.name == key) {
                        column.primary_key = i64::try_from(i).unwrap_or(i64::MAX) + 1;
                    }
                }
                table.indexes.push(LiveIndex {
                    name,
                    columns,
                    unique: true,
                    origin: "pk".to_owned(),
                });
            }
            _ => table.indexes.push(LiveIndex {
                name,
                columns,
                unique: true,
                origin: "u".to_owned(),
            }),
        }
    }
    for row in conn.query(INDEXES, &[], "")? {
        let row = PgRow::new(&row);
        let Some(&at) = position.get(&text(&row, 0)?) else {
            continue;
        };
        tables[at].indexes.push(LiveIndex {
            name: text(&row, 1)?,
            unique: row.get::<bool>(2)?,
            columns: names(row.get::<Option<String>>(3)?),
            origin: "c".to_owned(),
        });
    }
    Ok(tables)
}

fn text(row: &PgRow<'_>, index: usize) -> Result<String> {
    row.get::<String>(index)
}

fn names(joined: Option<String>) -> Vec<String> {
    joined.map_or_else(Vec::new, |j| {
        j.split(SEPARATOR).map(str::to_owned).collect()
    })
}

/// SQLite's words for PostgreSQL's `confdeltype` codes.
fn on_delete(code: &str) -> &'static str {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

/// A default as the model writes it: PostgreSQL stores `DEFAULT 'draft'`
/// as `'draft'::text` and `DEFAULT -1` as `'-1'::integer`.
fn without_cast(default: &str) -> String {
    let Some(literal) = default
        .strip_prefix('\'')
        .and_then(|rest| rest.rfind("'::").map(|end| &rest[..end]))
    else {
        return default.to_owned();
    };
    let is_number = !literal.is_empty() && literal.parse::<f64>().is_ok();
    if is_number {
        literal.to_owned()
    } else {
        format!("'{literal}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_lose_the_casts_postgresql_adds() {
        assert_eq!(without_cast("'draft'::text"), "'draft'");
        assert_eq!(without_cast("'-1'::integer"), "-1");
        assert_eq!(without_cast("0"), "0");
        assert_eq!(without_cast("CURRENT_TIMESTAMP"), "CURRENT_TIMESTAMP");
    }
}
