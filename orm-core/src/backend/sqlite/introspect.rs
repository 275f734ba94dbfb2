//! SQLite's live schema: what `PRAGMA table_info`, `index_list`,
//! `index_info` and `foreign_key_list` report, read into the plain values
//! of `schema::live`; the schema version; the foreign key check that ends
//! a migration; what a stored `CREATE TABLE` holds that the PRAGMAs do not
//! report (CHECK constraints, collations, `AUTOINCREMENT`).

use rusqlite::Connection;

use crate::error::Result;
use crate::schema::{
    LiveColumn, LiveForeignKey, LiveIndex, LiveObject, LiveTable, ObjectKind, TableExtras,
};

use super::tokens::{Token, tokens};

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

/// Every table, index, trigger and view, in the order they were made.
pub(crate) fn schema_objects(conn: &Connection) -> Result<Vec<LiveObject>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )?;
    let rows = stmt.query_map([], |row| {
        let kind = match row.get_ref(0)?.as_str()? {
            "table" => ObjectKind::Table,
            "index" => ObjectKind::Index,
            "trigger" => ObjectKind::Trigger,
            _ => ObjectKind::View,
        };
        Ok(LiveObject {
            kind,
            name: row.get(1)?,
            table: row.get(2)?,
            sql: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The schema objects as they will be once `statements` (renames) have
/// run: they run inside a savepoint that is rolled back, so SQLite itself
/// rewrites the triggers, views and constraints that name what they rename.
pub(crate) fn schema_objects_after(
    conn: &Connection,
    statements: &[String],
) -> Result<Vec<LiveObject>> {
    if statements.is_empty() {
        return schema_objects(conn);
    }
    conn.execute_batch("SAVEPOINT orm_plan")?;
    let objects = statements
        .iter()
        .try_for_each(|sql| conn.execute_batch(sql))
        .map_err(Into::into)
        .and_then(|()| schema_objects(conn));
    // Undone whatever happened: planning changes nothing.
    let undone = conn.execute_batch("ROLLBACK TO orm_plan; RELEASE orm_plan");
    let objects = objects?;
    undone?;
    Ok(objects)
}

/// What the `CREATE TABLE` statement `sql` holds beyond its columns' types,
/// keys and defaults.
pub(crate) fn table_extras(sql: &str) -> TableExtras {
    let tokens = tokens(sql);
    let mut extras = TableExtras::default();
    let Some(open) = tokens.iter().position(|t| t.is('(')) else {
        return extras;
    };
    for definition in definitions(&tokens[open + 1..]) {
        read_definition(sql, definition, &mut extras);
    }
    extras
}

/// The comma-separated definitions between a table's parentheses.
fn definitions(tokens: &[Token]) -> Vec<&[Token]> {
    let mut found = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, token) in tokens.iter().enumerate() {
        if token.is('(') {
            depth += 1;
        } else if depth == 0 && (token.is(')') || token.is(',')) {
            found.push(&tokens[start..i]);
            start = i + 1;
            if token.is(')') {
                break;
            }
        } else if token.is(')') {
            depth -= 1;
        }
    }
    found
}

/// One column definition or table constraint: its CHECKs, its collation,
/// `AUTOINCREMENT`.
fn read_definition(sql: &str, definition: &[Token], extras: &mut TableExtras) {
    let Some(first) = definition.first() else {
        return;
    };
    let is_constraint = ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
        .iter()
        .any(|word| first.is_word(sql, word));
    let column = (!is_constraint)
        .then(|| first.name(sql))
        .flatten()
        .map(str::to_owned);
    let mut i = usize::from(column.is_some());
    while i < definition.len() {
        let token = &definition[i];
        if token.is_word(sql, "AUTOINCREMENT") {
            extras.autoincrement = true;
        } else if token.is_word(sql, "COLLATE") {
            let collation = definition.get(i + 1).and_then(|t| t.name(sql));
            if let (Some(column), Some(collation)) = (&column, collation) {
                extras
                    .collations
                    .push((column.clone(), collation.to_owned()));
            }
        } else if token.is_word(sql, "CHECK") {
            let end = group_end(definition, i + 1);
            let start = match i.checked_sub(2) {
                Some(named) if definition[named].is_word(sql, "CONSTRAINT") => named,
                _ => i,
            };
            extras
                .checks
                .push(sql[definition[start].start..definition[end].end].to_owned());
            i = end;
        }
        i += 1;
    }
}

/// The index of the `)` closing the group that opens at `open` (or the
/// last token, for text that does not close it).
fn group_end(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.is('(') {
            depth += 1;
        } else if token.is(')') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i;
            }
        }
    }
    tokens.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_extras_finds_checks_collations_and_autoincrement() {
        let sql = "CREATE TABLE \"users\" (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                   name TEXT COLLATE NOCASE CONSTRAINT named CHECK (length(name) > 0), \
                   note TEXT DEFAULT 'CHECK (x)', CHECK (id > 0 AND (id < 10)))";
        let extras = table_extras(sql);
        assert!(extras.autoincrement);
        assert_eq!(
            extras.checks,
            [
                "CONSTRAINT named CHECK (length(name) > 0)",
                "CHECK (id > 0 AND (id < 10))"
            ]
        );
        assert_eq!(
            extras.collations,
            [("name".to_owned(), "NOCASE".to_owned())]
        );
        assert_eq!(
            table_extras("CREATE TABLE t (a INTEGER)"),
            TableExtras::default()
        );
    }
}
