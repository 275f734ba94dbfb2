//! The live schema: the tables, columns, foreign keys and indexes a
//! database has, as plain values that the migration plan and the drift
//! report compare with the models. The backend reads them (`backend`'s
//! introspection); declared renames are applied to them in memory, the way
//! `ALTER TABLE ... RENAME` rewrites the schema, so that the comparison can
//! go by the models' names.

use crate::sql::quote;

/// One table as it exists in the database.
#[derive(Debug, Clone)]
pub(crate) struct LiveTable {
    /// Its name once the declared renames have run.
    pub name: String,
    /// Its name in the database now.
    pub original: String,
    pub columns: Vec<LiveColumn>,
    pub foreign_keys: Vec<LiveForeignKey>,
    pub indexes: Vec<LiveIndex>,
}

/// A column of a live table.
#[derive(Debug, Clone)]
pub(crate) struct LiveColumn {
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

/// One column's foreign key.
#[derive(Debug, Clone)]
pub(crate) struct LiveForeignKey {
    pub column: String,
    pub target: String,
    /// `NO ACTION`, `CASCADE`, `SET NULL`, `RESTRICT` or `SET DEFAULT`.
    pub on_delete: String,
}

/// An index, the implicit ones of `UNIQUE` and `PRIMARY KEY` included.
#[derive(Debug, Clone)]
pub(crate) struct LiveIndex {
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
pub(crate) struct RowKey {
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

/// What kind of thing a schema object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectKind {
    Table,
    Index,
    Trigger,
    View,
}

impl ObjectKind {
    /// The word for it in SQL and in messages: `trigger`.
    pub fn word(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Index => "index",
            ObjectKind::Trigger => "trigger",
            ObjectKind::View => "view",
        }
    }
}

/// One object of the schema with the SQL that made it, in the order they
/// were made (a view is made after what it reads).
#[derive(Debug, Clone)]
pub(crate) struct LiveObject {
    pub kind: ObjectKind,
    pub name: String,
    /// The table (or view) it belongs to: a trigger's, an index's.
    pub table: String,
    /// `CREATE ...`; `None` for what the database made itself (the index
    /// of a `UNIQUE` constraint).
    pub sql: Option<String>,
}

/// What a table's stored definition holds beyond what the model declares,
/// and a rebuild must carry over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TableExtras {
    /// `AUTOINCREMENT` on the key: generated keys are never reused.
    pub autoincrement: bool,
    /// `CHECK` constraints, each as its SQL (`CONSTRAINT name CHECK (...)`),
    /// column constraints included.
    pub checks: Vec<String>,
    /// Columns with a collation: (column, collation).
    pub collations: Vec<(String, String)>,
}
