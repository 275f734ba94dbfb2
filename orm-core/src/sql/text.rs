//! The text of every statement built from table metadata: one function per
//! statement kind, so the runtime never formats SQL itself. Identifiers are
//! always quoted; values are always `?` placeholders.

use crate::schema::TableDef;

use super::quote;

/// The statements built from a table's metadata, by kind: the key of the
/// per-connection text cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `SELECT <columns> FROM <table> WHERE <pk> = ?`
    Get,
    /// `INSERT INTO <table> (<columns>) VALUES (...)`
    Insert,
    /// `UPDATE <table> SET <changed columns> WHERE <pk> = ?`, by the bit
    /// set of changed columns.
    Update(u64),
    /// `DELETE FROM <table> WHERE <pk> = ?`
    Delete,
    /// `SELECT ... WHERE <column> = ?` (one parent's children), or with
    /// `many`, `... IN (SELECT value FROM json_each(?))` (a preload).
    Children { column: usize, many: bool },
}

/// The text of `kind` for `table`.
pub(crate) fn build(table: &TableDef, kind: Kind) -> String {
    match kind {
        Kind::Get => get(table),
        Kind::Insert => insert(table),
        Kind::Update(mask) => {
            let changed: Vec<usize> = (0..64).filter(|i| mask & (1 << i) != 0).collect();
            update(table, &changed)
        }
        Kind::Delete => delete(table),
        Kind::Children { column, many } => children(table, column, many),
    }
}

/// The changed columns as a bit set, when they fit in one.
pub(crate) fn changed_mask(changed: &[usize]) -> Option<u64> {
    changed
        .iter()
        .try_fold(0u64, |mask, &i| (i < 64).then(|| mask | (1 << i)))
}

/// `SELECT "c1", "c2", ... FROM "table"`.
pub(crate) fn select(table: &TableDef) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    format!("SELECT {} FROM {}", columns.join(", "), quote(table.name))
}

/// `SELECT ... FROM "table" WHERE "pk" = ?`.
fn get(table: &TableDef) -> String {
    format!(
        "{} WHERE {} = ?",
        select(table),
        quote(table.primary_key().name)
    )
}

/// `SELECT ... WHERE "pk" IN (values of a JSON array)`: one statement and
/// one parameter for any number of keys.
pub(crate) fn select_keys(table: &TableDef) -> String {
    format!(
        "{} WHERE {} IN (SELECT value FROM json_each(?))",
        select(table),
        quote(table.primary_key().name)
    )
}

/// `INSERT INTO "table" (...) VALUES (?, ...)` with every column.
fn insert(table: &TableDef) -> String {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(c.name)).collect();
    let marks = vec!["?"; columns.len()].join(", ");
    format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        quote(table.name),
        columns.join(", ")
    )
}

/// `UPDATE "table" SET <changed> [, version = ?] WHERE pk = ? [AND version = ?]`.
pub(crate) fn update(table: &TableDef, changed: &[usize]) -> String {
    let version = table.version.map(|v| quote(table.columns[v].name));
    let sets: Vec<String> = changed
        .iter()
        .map(|&i| quote(table.columns[i].name))
        .chain(version.clone())
        .map(|column| format!("{column} = ?"))
        .collect();
    let mut sql = format!(
        "UPDATE {} SET {} WHERE {} = ?",
        quote(table.name),
        sets.join(", "),
        quote(table.primary_key().name)
    );
    if let Some(version) = version {
        sql.push_str(&format!(" AND {version} = ?"));
    }
    sql
}

/// `DELETE FROM "table" WHERE pk = ? [AND version = ?]`.
fn delete(table: &TableDef) -> String {
    let mut sql = format!(
        "DELETE FROM {} WHERE {} = ?",
        quote(table.name),
        quote(table.primary_key().name)
    );
    if let Some(v) = table.version {
        sql.push_str(&format!(" AND {} = ?", quote(table.columns[v].name)));
    }
    sql
}

/// The children of one parent (`= ?`, answered from the index), or of
/// many (`IN (SELECT value FROM json_each(?))`, one parameter for all keys).
fn children(table: &TableDef, column: usize, many: bool) -> String {
    let fk = quote(table.columns.get(column).map_or("?", |c| c.name));
    if many {
        format!(
            "{} WHERE {fk} IN (SELECT value FROM json_each(?))",
            select(table)
        )
    } else {
        format!("{} WHERE {fk} = ?", select(table))
    }
}

/// A link row of a many-to-many relationship: `INSERT OR IGNORE` (an add on
/// an unloaded collection may find it there) or `DELETE`.
pub(crate) fn link(table: &str, columns: [&str; 2], insert: bool) -> String {
    let [a, b] = columns;
    if insert {
        format!(
            "INSERT OR IGNORE INTO {} ({}, {}) VALUES (?, ?)",
            quote(table),
            quote(a),
            quote(b)
        )
    } else {
        format!(
            "DELETE FROM {} WHERE {} = ? AND {} = ?",
            quote(table),
            quote(a),
            quote(b)
        )
    }
}

/// The objects linked to many owners through a link table, each row
/// followed by the owner's key.
pub(crate) fn linked(table: &TableDef, link: &str, this: &str, other: &str) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("t.{}", quote(c.name)))
        .collect();
    format!(
        "SELECT {}, l.{} FROM {} AS t JOIN {} AS l ON l.{} = t.{} WHERE l.{} IN (SELECT value FROM json_each(?))",
        columns.join(", "),
        quote(this),
        quote(table.name),
        quote(link),
        quote(other),
        quote(table.primary_key().name),
        quote(this),
    )
}

/// `SELECT count(*) FROM "table"`.
pub(crate) fn count(table: &TableDef) -> String {
    format!("SELECT count(*) FROM {}", quote(table.name))
}
