//! SQLite's live schema: what `PRAGMA table_info`, `index_list`,
//! `index_info` and `foreign_key_list` report, read into the plain values
//! of `schema::live`; the schema version; the foreign key check that ends
//! a migration.

use rusqlite::Connection;

use crate::error::Result;
use crate::schema::{LiveColumn, LiveForeignKey, LiveIndex, LiveTable};

/// The names of the tables in the database, SQLite's own left out.
pub(crate) fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names)
}

/// Whether a table of that name exists.
pub(crate) fn table_exists(conn: &Connection, table: &str) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [table],
        |row| row.get(0),
    )?;
    Ok(n > 0)
}
/// Reads one table's columns, foreign keys and indexes.
pub(crate) fn read_table(conn: &Connection, name: &str) -> Result<LiveTable> {
    Ok(LiveTable {
        name: name.to_owned(),
        original: name.to_owned(),
        columns: read_columns(conn, name)?,
        foreign_keys: read_foreign_keys(conn, name)?,
        indexes: read_indexes(conn, name)?,
    })
}

fn read_columns(conn: &Connection, table: &str) -> Result<Vec<LiveColumn>> {
    let mut stmt =
        conn.prepare("SELECT name, type, \"notnull\", pk, dflt_value FROM pragma_table_info(?1)")?;
    let columns = stmt
        .query_map([table], |row| {
            let name: String = row.get(0)?;
            Ok(LiveColumn {
                original: name.clone(),
                name,
                sql_type: row.get(1)?,
                not_null: row.get(2)?,
                primary_key: row.get(3)?,
                default: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(columns)
}

fn read_foreign_keys(conn: &Connection, table: &str) -> Result<Vec<LiveForeignKey>> {
    let mut stmt = conn.prepare(
        "SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
    )?;
    let keys = stmt
        .query_map([table], |row| {
            Ok(LiveForeignKey {
                column: row.get(0)?,
                target: row.get(1)?,
                on_delete: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(keys)
}

fn read_indexes(conn: &Connection, table: &str) -> Result<Vec<LiveIndex>> {
    let mut list = conn.prepare("SELECT name, \"unique\", origin FROM pragma_index_list(?1)")?;
    let found: Vec<(String, bool, String)> = list
        .query_map([table], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut info = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
    let mut indexes = Vec::with_capacity(found.len());
    for (name, unique, origin) in found {
        // An expression in an index has no column name.
        let columns = info
            .query_map([&name], |row| {
                Ok(row
                    .get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "<expression>".to_owned()))
            })?
            .collect::<rusqlite::Result<_>>()?;
        indexes.push(LiveIndex {
            name,
            columns,
            unique,
            origin,
        });
    }
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(indexes)
}

/// `PRAGMA schema_version`: SQLite adds one at every schema change, so a plan
/// can tell whether the schema it was computed from is still the one there.
pub(crate) fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA schema_version", [], |row| row.get(0))?)
}

/// Whether the connection enforces foreign keys now.
pub(crate) fn foreign_keys_enabled(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row("PRAGMA foreign_keys", [], |row| row.get::<_, bool>(0))?)
}

/// The column of foreign key number `id` of `table`, as
/// `PRAGMA foreign_key_check` numbers them.
pub(crate) fn foreign_key_column(conn: &Connection, table: &str, id: i64) -> Result<String> {
    Ok(conn.query_row(
        "SELECT \"from\" FROM pragma_foreign_key_list(?1) WHERE id = ?2 ORDER BY seq LIMIT 1",
        (table, id),
        |row| row.get(0),
    )?)
}
