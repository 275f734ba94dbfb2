//! The text of every statement built from table metadata: one function per
//! statement kind, so the runtime never formats SQL itself. Identifiers are
//! always quoted; values are always placeholders, written `?` here and
//! numbered (`$1`, ...) for PostgreSQL by [`Backend::placeholders`] as each
//! text is finished.
//!
//! The hot texts are written name by name into one buffer, not assembled
//! with `format!` from quoted copies: each new connection (and each
//! PostgreSQL session) builds its texts afresh.

use crate::backend::{Backend, KeyForm};
use crate::schema::{SortKey, TableDef};

use super::{push_quoted, quote};

/// The statements built from a table's metadata, by kind: the key of the
/// per-connection text cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `SELECT <columns> FROM <table> WHERE <pk> = ?`
    Get,
    /// `INSERT INTO <table> (<columns>) VALUES (...), ...`, by the number
    /// of rows.
    Insert(usize),
    /// The same with keys taken from the key's sequence (PostgreSQL):
    /// `... OVERRIDING SYSTEM VALUE VALUES ...`, which an identity column
    /// `GENERATED ALWAYS` needs to take them.
    InsertTakenKeys(usize),
    /// The keys of new rows: on SQLite `SELECT max(<pk>) FROM <table>`,
    /// where it will number them; on PostgreSQL `SELECT nextval(...) FROM
    /// generate_series(1, ?)`, as many keys from the key's sequence.
    NewKeys,
    /// `INSERT INTO <table> (<columns but these>) VALUES (...) RETURNING
    /// <these>`, by the bit set of columns left to the database's default.
    InsertDefaults(u64),
    /// `UPDATE <table> SET <changed columns> WHERE <pk> = ?`, by the bit
    /// set of changed columns.
    Update(u64),
    /// `DELETE FROM <table> WHERE <pk> = ?`
    Delete,
    /// `SELECT ... WHERE <column> = ?` (one parent's children), or with a
    /// `list`, `... IN (<its subquery>)` (a preload's key list); then
    /// `ORDER BY` the relationship's `order`.
    Children {
        column: usize,
        list: Option<KeyForm>,
        order: &'static [SortKey],
    },
}

/// The text of `kind` for `table`, in `dialect`.
pub(crate) fn build(table: &TableDef, kind: Kind, dialect: Backend) -> String {
    let sql = match kind {
        Kind::Get => get(table),
        Kind::Insert(rows) => insert(table, rows, ""),
        Kind::InsertTakenKeys(rows) => insert(table, rows, " OVERRIDING SYSTEM VALUE"),
        Kind::NewKeys => new_keys(table, dialect),
        Kind::InsertDefaults(unset) => insert_defaults(table, unset),
        Kind::Update(mask) => {
            let changed: Vec<usize> = (0..64).filter(|i| mask & (1 << i) != 0).collect();
            update(table, &changed)
        }
        Kind::Delete => delete(table),
        Kind::Children {
            column,
            list,
            order,
        } => children(table, column, list, order, dialect),
    };
    dialect.placeholders(sql)
}

/// The changed columns as a bit set, when they fit in one.
pub(crate) fn changed_mask(changed: &[usize]) -> Option<u64> {
    changed
        .iter()
        .try_fold(0u64, |mask, &i| (i < 64).then(|| mask | (1 << i)))
}

/// Appends the quoted `names` separated by `, `, each followed by `suffix`.
fn push_names<'a>(sql: &mut String, names: impl IntoIterator<Item = &'a str>, suffix: &str) {
    for (i, name) in names.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        push_quoted(sql, name);
        sql.push_str(suffix);
    }
}

/// Appends ` WHERE "column"` and then `condition`.
fn push_where(sql: &mut String, column: &str, condition: &str) {
    sql.push_str(" WHERE ");
    push_quoted(sql, column);
    sql.push_str(condition);
}

/// `SELECT "c1", "c2", ... FROM "table"`.
pub(crate) fn select(table: &TableDef) -> String {
    let mut sql = String::with_capacity(128);
    sql.push_str("SELECT ");
    push_names(&mut sql, table.columns.iter().map(|c| c.name), "");
    sql.push_str(" FROM ");
    push_quoted(&mut sql, table.name);
    sql
}

/// `SELECT ... FROM "table" WHERE "pk" = ?`.
fn get(table: &TableDef) -> String {
    let mut sql = select(table);
    push_where(&mut sql, table.primary_key().name, " = ?");
    sql
}

/// `SELECT ... WHERE "pk" IN (a key list)`: one statement and one
/// parameter for any number of keys.
pub(crate) fn select_keys(table: &TableDef, list: KeyForm, dialect: Backend) -> String {
    let mut sql = select(table);
    push_where(&mut sql, table.primary_key().name, list.condition(dialect));
    dialect.placeholders(sql)
}

/// `SELECT "pk" FROM "table" WHERE "column" IN (a key list)`: the keys of
/// the rows that point at any of the listed parents, for a cascade that
/// passes through rows not loaded.
pub(crate) fn keys_pointing_at(
    table: &TableDef,
    column: usize,
    list: KeyForm,
    dialect: Backend,
) -> String {
    let mut sql = String::with_capacity(96);
    sql.push_str("SELECT ");
    push_quoted(&mut sql, table.primary_key().name);
    sql.push_str(" FROM ");
    push_quoted(&mut sql, table.name);
    push_where(
        &mut sql,
        table.columns[column].name,
        list.condition(dialect),
    );
    dialect.placeholders(sql)
}

/// `DELETE FROM "table" WHERE "pk" IN (a key list) RETURNING "pk"`: the
/// rows a bulk delete read the keys of first, deleted by those keys.
pub(crate) fn delete_by_keys(table: &TableDef, list: KeyForm, dialect: Backend) -> String {
    let key = table.primary_key().name;
    let mut sql = String::with_capacity(96);
    sql.push_str("DELETE FROM ");
    push_quoted(&mut sql, table.name);
    push_where(&mut sql, key, list.condition(dialect));
    sql.push_str(" RETURNING ");
    push_quoted(&mut sql, key);
    dialect.placeholders(sql)
}

/// `INSERT INTO "table" (...)<overriding> VALUES (?, ...), ...` with every
/// column, for `rows` rows.
fn insert(table: &TableDef, rows: usize, overriding: &str) -> String {
    let row = format!("({})", vec!["?"; table.columns.len()].join(", "));
    let mut sql = String::with_capacity(64 + rows * (row.len() + 2));
    sql.push_str("INSERT INTO ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    push_names(&mut sql, table.columns.iter().map(|c| c.name), "");
    sql.push(')');
    sql.push_str(overriding);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

/// `SELECT max("pk") FROM "table"` (SQLite), or `SELECT
/// nextval(pg_get_serial_sequence('"table"', 'pk')) FROM generate_series(1,
/// ?)` (PostgreSQL). The names go into string literals there, each quote
/// doubled.
fn new_keys(table: &TableDef, dialect: Backend) -> String {
    let key = table.primary_key().name;
    match dialect {
        Backend::Sqlite => {
            let mut sql = String::from("SELECT max(");
            push_quoted(&mut sql, key);
            sql.push_str(") FROM ");
            push_quoted(&mut sql, table.name);
            sql
        }
        Backend::Postgres => format!(
            "SELECT nextval(pg_get_serial_sequence('{}', '{}')) FROM generate_series(1, ?)",
            quote(table.name).replace('\'', "''"),
            key.replace('\'', "''"),
        ),
    }
}

/// `INSERT INTO "table" (...) VALUES (?, ...) RETURNING ...`: the columns
/// in the bit set `unset` are left out, so that their `DEFAULT` applies,
/// and read back.
fn insert_defaults(table: &TableDef, unset: u64) -> String {
    let left_out = |i: usize| i < 64 && unset & (1 << i) != 0;
    let names = |keep: bool| {
        table
            .columns
            .iter()
            .enumerate()
            .filter(move |(i, _)| left_out(*i) != keep)
            .map(|(_, c)| c.name)
    };
    let written = names(true).count();
    let mut sql = String::with_capacity(160);
    sql.push_str("INSERT INTO ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    push_names(&mut sql, names(true), "");
    sql.push_str(") VALUES (");
    sql.push_str(&vec!["?"; written].join(", "));
    sql.push_str(") RETURNING ");
    push_names(&mut sql, names(false), "");
    sql
}

/// `UPDATE "table" SET <changed> [, version = ?] WHERE pk = ? [AND version = ?]`
/// (with `?` placeholders: `build` and [`update_in`] finish it).
fn update(table: &TableDef, changed: &[usize]) -> String {
    let version = table.version.map(|v| table.columns[v].name);
    let mut sql = String::with_capacity(128);
    sql.push_str("UPDATE ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" SET ");
    let sets = changed
        .iter()
        .map(|&i| table.columns[i].name)
        .chain(version);
    push_names(&mut sql, sets, " = ?");
    push_where(&mut sql, table.primary_key().name, " = ?");
    push_version_check(&mut sql, version);
    sql
}

/// [`update`] in `dialect`: for changed columns past the 64 of a cached
/// text's bit set.
pub(crate) fn update_in(table: &TableDef, changed: &[usize], dialect: Backend) -> String {
    dialect.placeholders(update(table, changed))
}

/// `DELETE FROM "table" WHERE pk = ? [AND version = ?]`.
fn delete(table: &TableDef) -> String {
    let mut sql = String::with_capacity(64);
    sql.push_str("DELETE FROM ");
    push_quoted(&mut sql, table.name);
    push_where(&mut sql, table.primary_key().name, " = ?");
    push_version_check(&mut sql, table.version.map(|v| table.columns[v].name));
    sql
}

/// Appends ` AND "version" = ?` when the table has a version column.
fn push_version_check(sql: &mut String, version: Option<&str>) {
    if let Some(version) = version {
        sql.push_str(" AND ");
        push_quoted(sql, version);
        sql.push_str(" = ?");
    }
}

/// The children of one parent (`= ?`, answered from the index), or of
/// many (`IN (<key list>)`, one parameter for all keys).
fn children(
    table: &TableDef,
    column: usize,
    list: Option<KeyForm>,
    order: &[SortKey],
    dialect: Backend,
) -> String {
    let fk = table.columns.get(column).map_or("", |c| c.name);
    let mut sql = select(table);
    match list {
        Some(list) => push_where(&mut sql, fk, list.condition(dialect)),
        None => push_where(&mut sql, fk, " = ?"),
    }
    push_order(&mut sql, table, "", order, dialect);
    sql
}

/// Appends ` ORDER BY "a" DESC, ...` for a relationship's `order_by`, the
/// columns prefixed with `alias` (`t.`) if any. A name that is no column
/// is left out: the derive checked every name at compile time.
fn push_order(
    sql: &mut String,
    table: &TableDef,
    alias: &str,
    order: &[SortKey],
    dialect: Backend,
) {
    let mut first = true;
    for key in order {
        let Some(column) = table.column_named(key.column) else {
            continue;
        };
        sql.push_str(if first { " ORDER BY " } else { ", " });
        first = false;
        sql.push_str(alias);
        push_quoted(sql, column.name);
        match dialect {
            // SQLite's own order: ascending, NULLs first.
            Backend::Sqlite if key.descending => sql.push_str(" DESC"),
            Backend::Sqlite => {}
            Backend::Postgres => sql.push_str(dialect.order(key.descending)),
        }
    }
}

/// A link row of a many-to-many relationship: an insert that ignores a
/// row already there (an add on an unloaded collection may find it) or a
/// `DELETE`. Built for every link row a flush writes.
pub(crate) fn link(table: &str, columns: [&str; 2], insert: bool, dialect: Backend) -> String {
    let [a, b] = columns;
    let mut sql = String::with_capacity(96);
    if insert {
        sql.push_str(match dialect {
            Backend::Sqlite => "INSERT OR IGNORE INTO ",
            Backend::Postgres => "INSERT INTO ",
        });
        push_quoted(&mut sql, table);
        sql.push_str(" (");
        push_names(&mut sql, [a, b], "");
        sql.push_str(match dialect {
            Backend::Sqlite => ") VALUES (?, ?)",
            Backend::Postgres => ") VALUES ($1, $2) ON CONFLICT DO NOTHING",
        });
    } else if dialect == Backend::Postgres {
        sql.push_str("DELETE FROM ");
        push_quoted(&mut sql, table);
        push_where(&mut sql, a, " = $1 AND ");
        push_quoted(&mut sql, b);
        sql.push_str(" = $2");
    } else {
        sql.push_str("DELETE FROM ");
        push_quoted(&mut sql, table);
        push_where(&mut sql, a, " = ? AND ");
        push_quoted(&mut sql, b);
        sql.push_str(" = ?");
    }
    sql
}

/// The objects linked to the owners of a key list through a link table,
/// each row followed by the owner's key.
pub(crate) fn linked(
    table: &TableDef,
    link: &str,
    this: &str,
    other: &str,
    list: KeyForm,
    order: &[SortKey],
    dialect: Backend,
) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("t.{}", quote(c.name)))
        .collect();
    let mut sql = format!(
        "SELECT {}, l.{} FROM {} AS t JOIN {} AS l ON l.{} = t.{} WHERE l.{}{}",
        columns.join(", "),
        quote(this),
        quote(table.name),
        quote(link),
        quote(other),
        quote(table.primary_key().name),
        quote(this),
        list.condition(dialect),
    );
    push_order(&mut sql, table, "t.", order, dialect);
    dialect.placeholders(sql)
}

/// `INSERT ... ON CONFLICT ("conflict") DO UPDATE SET ... RETURNING ...`
/// (or `DO NOTHING`): the columns in the bit set `left_out` are not
/// inserted (their `DEFAULT` applies) nor updated; an update sets every
/// other column but the key and the conflict column from the row offered
/// (`excluded`), and bumps a version column.
pub(crate) fn upsert(
    table: &TableDef,
    conflict: &str,
    left_out: u64,
    update: bool,
    dialect: Backend,
) -> String {
    let inserted: Vec<&str> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 64 || left_out & (1 << i) == 0)
        .map(|(_, c)| c.name)
        .collect();
    let mut sql = String::with_capacity(256);
    sql.push_str("INSERT INTO ");
    push_quoted(&mut sql, table.name);
    sql.push_str(" (");
    push_names(&mut sql, inserted.iter().copied(), "");
    sql.push_str(") VALUES (");
    sql.push_str(&vec!["?"; inserted.len()].join(", "));
    sql.push_str(") ON CONFLICT (");
    push_quoted(&mut sql, conflict);
    sql.push(')');
    if update {
        let version = table
            .version
            .and_then(|v| table.columns.get(v))
            .map(|c| c.name);
        let mut set: Vec<String> = Vec::new();
        for name in &inserted {
            if *name == table.primary_key().name || *name == conflict {
                continue;
            }
            let mut term = String::new();
            push_quoted(&mut term, name);
            if Some(*name) == version {
                term.push_str(" = ");
                push_quoted(&mut term, table.name);
                term.push('.');
                push_quoted(&mut term, name);
                term.push_str(" + 1");
            } else {
                term.push_str(" = excluded.");
                push_quoted(&mut term, name);
            }
            set.push(term);
        }
        if set.is_empty() {
            // Nothing else to set: a no-op update, so the row still returns.
            let mut term = String::new();
            push_quoted(&mut term, conflict);
            term.push_str(" = excluded.");
            push_quoted(&mut term, conflict);
            set.push(term);
        }
        sql.push_str(" DO UPDATE SET ");
        sql.push_str(&set.join(", "));
    } else {
        sql.push_str(" DO NOTHING");
    }
    sql.push_str(" RETURNING ");
    push_names(&mut sql, table.columns.iter().map(|c| c.name), "");
    dialect.placeholders(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ColumnDef, named};

    const fn column(name: &'static str, primary_key: bool) -> ColumnDef {
        ColumnDef {
            primary_key,
            ..named(name)
        }
    }

    static ITEMS: TableDef = TableDef {
        name: "items",
        model: "Item",
        module: "tests",
        columns: &[
            column("id", true),
            column("we\"ird", false),
            column("owner_id", false),
            column("version", false),
        ],
        primary_key: 0,
        indexes: &[],
        links: &[],
        version: Some(3),
    };

    #[test]
    fn texts_quote_every_name_and_bind_every_value() {
        let select = r#"SELECT "id", "we""ird", "owner_id", "version" FROM "items""#;
        assert_eq!(self::select(&ITEMS), select);
        assert_eq!(
            build(&ITEMS, Kind::Get, Backend::Sqlite),
            format!(r#"{select} WHERE "id" = ?"#)
        );
        assert_eq!(
            select_keys(&ITEMS, KeyForm::Plain, Backend::Sqlite),
            format!(r#"{select} WHERE "id" IN (SELECT value FROM json_each(?))"#)
        );
        assert_eq!(
            build(
                &ITEMS,
                Kind::Children {
                    column: 2,
                    list: None,
                    order: &[],
                },
                Backend::Sqlite
            ),
            format!(r#"{select} WHERE "owner_id" = ?"#)
        );
        assert_eq!(
            build(
                &ITEMS,
                Kind::Children {
                    column: 2,
                    list: Some(KeyForm::Plain),
                    order: &[
                        SortKey {
                            column: "owner_id",
                            descending: true,
                        },
                        SortKey {
                            column: "id",
                            descending: false,
                        },
                    ],
                },
                Backend::Sqlite
            ),
            format!(
                r#"{select} WHERE "owner_id" IN (SELECT value FROM json_each(?)) ORDER BY "owner_id" DESC, "id""#
            )
        );
        assert_eq!(
            build(&ITEMS, Kind::Insert(1), Backend::Sqlite),
            r#"INSERT INTO "items" ("id", "we""ird", "owner_id", "version") VALUES (?, ?, ?, ?)"#
        );
        assert_eq!(
            build(&ITEMS, Kind::Insert(2), Backend::Postgres),
            r#"INSERT INTO "items" ("id", "we""ird", "owner_id", "version") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)"#
        );
        assert_eq!(
            build(&ITEMS, Kind::InsertTakenKeys(1), Backend::Postgres),
            r#"INSERT INTO "items" ("id", "we""ird", "owner_id", "version") OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4)"#
        );
        assert_eq!(
            build(&ITEMS, Kind::NewKeys, Backend::Sqlite),
            r#"SELECT max("id") FROM "items""#
        );
        assert_eq!(
            build(&ITEMS, Kind::NewKeys, Backend::Postgres),
            r#"SELECT nextval(pg_get_serial_sequence('"items"', 'id')) FROM generate_series(1, $1)"#
        );
        assert_eq!(
            build(&ITEMS, Kind::InsertDefaults(0b0110), Backend::Sqlite),
            r#"INSERT INTO "items" ("id", "version") VALUES (?, ?) RETURNING "we""ird", "owner_id""#
        );
        assert_eq!(
            build(&ITEMS, Kind::Update(0b110), Backend::Sqlite),
            r#"UPDATE "items" SET "we""ird" = ?, "owner_id" = ?, "version" = ? WHERE "id" = ? AND "version" = ?"#
        );
        assert_eq!(
            build(&ITEMS, Kind::Delete, Backend::Sqlite),
            r#"DELETE FROM "items" WHERE "id" = ? AND "version" = ?"#
        );
    }

    #[test]
    fn link_texts_name_both_columns() {
        assert_eq!(
            link("item_tags", ["item_id", "tag_id"], true, Backend::Sqlite),
            r#"INSERT OR IGNORE INTO "item_tags" ("item_id", "tag_id") VALUES (?, ?)"#
        );
        assert_eq!(
            link("item_tags", ["item_id", "tag_id"], false, Backend::Sqlite),
            r#"DELETE FROM "item_tags" WHERE "item_id" = ? AND "tag_id" = ?"#
        );
    }
}
