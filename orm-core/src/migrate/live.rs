//! The live schema as SQLite reports it (`PRAGMA table_info`, `index_list`,
//! `index_info`, `foreign_key_list`), read into plain values that the plan
//! compares with the models. Declared renames are applied to these values
//! in memory, the way SQLite's `ALTER TABLE ... RENAME` rewrites the schema,
//! so that the comparison can go by the models' names.

use rusqlite::Connection;

use crate::error::Result;
use crate::sql::quote;

/// The table that records applied migration files; never part of a plan.
pub(crate) const HISTORY_TABLE: &str = "orm_migrations";

/// One table as it exists in the database.
#[derive(Debug, Clone)]
pub(super) struct LiveTable {
    /// Its name once the declared renames have run.
    pub name: String,
    /// Its name in the database now.
    pub original: String,
    pub columns: Vec<LiveColumn>,
    pub foreign_keys: Vec<LiveForeignKey>,
    pub indexes: Vec<LiveIndex>,
}

/// A column as `PRAGMA table_info` describes it.
#[derive(Debug, Clone)]
pub(super) struct LiveColumn {
    /// Its name once the declared renames have run.
    pub name: String,
    /// Its name in the database now.
    pub original: String,
    pub sql_type: String,
    pub not_null: bool,
    /// Position in the primary key, from 1; 0 when not part of it.
    pub primary_key: i64,
    /// The `DEFAULT` clause's SQL text.
    pub default: Option<String>,
}

/// One column's foreign key, as `PRAGMA foreign_key_list` describes it.
#[derive(Debug, Clone)]
pub(super) struct LiveForeignKey {
    pub column: String,
    pub target: String,
    /// `NO ACTION`, `CASCADE`, `SET NULL`, `RESTRICT` or `SET DEFAULT`.
    pub on_delete: String,
}

/// An index, as `PRAGMA index_list` and `index_info` describe it.
#[derive(Debug, Clone)]
pub(super) struct LiveIndex {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// `c` for `CREATE INDEX`, `u` for a `UNIQUE` constraint, `pk` for the
    /// primary key.
    pub origin: String,
}

/// How rows of a table are named in messages: its primary key column when
/// it has exactly one, else the rowid.
#[derive(Debug, Clone)]
pub(super) struct RowKey {
    /// SQL expression selecting the key.
    pub expr: String,
    /// Its name in messages, such as `id`.
    pub label: String,
}

impl LiveTable {
    pub fn column(&self, name: &str) -> Option<&LiveColumn> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The primary key columns, in key order (empty for a rowid table).
    pub fn primary_key(&self) -> Vec<&LiveColumn> {
        let mut key: Vec<&LiveColumn> = self.columns.iter().filter(|c| c.primary_key > 0).collect();
        key.sort_by_key(|c| c.primary_key);
        key
    }

    /// The row key by the names the table has now (`original`) or after the
    /// renames (`renamed`).
    pub fn row_key(&self, renamed: bool) -> RowKey {
        match self.primary_key().as_slice() {
            [only] => {
                let name = if renamed { &only.name } else { &only.original };
                RowKey {
                    expr: quote(name),
                    label: name.clone(),
                }
            }
            _ => RowKey {
                expr: "rowid".to_owned(),
                label: "rowid".to_owned(),
            },
        }
    }

    /// Renames a column in memory, with the indexes and foreign keys that
    /// name it, as `ALTER TABLE ... RENAME COLUMN` does in the database.
    pub fn rename_column(&mut self, from: &str, to: &str) {
        for column in &mut self.columns {
            if column.name.eq_ignore_ascii_case(from) {
                column.name = to.to_owned();
            }
        }
        for index in &mut self.indexes {
            for column in &mut index.columns {
                if column.eq_ignore_ascii_case(from) {
                    *column = to.to_owned();
                }
            }
        }
        for fk in &mut self.foreign_keys {
            if fk.column.eq_ignore_ascii_case(from) {
                fk.column = to.to_owned();
            }
        }
    }
}

/// The names of the tables in the database, SQLite's own and the
/// migration history left out.
pub(super) fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(names
        .into_iter()
        .filter(|n| !n.eq_ignore_ascii_case(HISTORY_TABLE))
        .collect())
}

/// Reads one table's columns, foreign keys and indexes.
pub(super) fn read_table(conn: &Connection, name: &str) -> Result<LiveTable> {
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
pub(super) fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA schema_version", [], |row| row.get(0))?)
}
