//! How SQLite migrates: the frame every migration runs in, the check that a
//! value survives a type change, and the table rebuild that makes the
//! changes `ALTER TABLE` cannot (a type, a foreign key, a constraint).

use crate::schema::{ColumnDef, LiveColumn, LiveObject, LiveTable, TableDef};
use crate::sql::quote;

/// Statements before a migration's steps: foreign keys off (so that a
/// rebuild can drop a table others point at; `PRAGMA foreign_keys` cannot
/// change inside a transaction), then the transaction, taking the write
/// lock at once.
pub(crate) const OPENING: [&str; 2] = ["PRAGMA foreign_keys = OFF", "BEGIN IMMEDIATE"];

/// Statements after the steps: the check of every foreign key (any row
/// found rolls everything back), then the commit, then foreign keys back on
/// for the connection.
pub(crate) const CLOSING: [&str; 3] = [
    "PRAGMA foreign_key_check",
    "COMMIT",
    "PRAGMA foreign_keys = ON",
];

/// SQL that is true when the value of `column` survives conversion to `to`:
/// cast to the new type and back to its own storage class, it is unchanged.
/// `'12'` survives INTEGER, `'abc'` does not; `3` survives REAL and TEXT.
pub(crate) fn survives(column: &str, to: &str) -> String {
    let converted = format!("CAST({column} AS {to})");
    format!(
        "CASE typeof({column}) \
         WHEN 'integer' THEN CAST({converted} AS INTEGER) = {column} \
         WHEN 'real' THEN CAST({converted} AS REAL) = {column} \
         WHEN 'text' THEN CAST({converted} AS TEXT) = {column} \
         ELSE CAST({converted} AS BLOB) = {column} END"
    )
}

/// What a rebuild keeps of the table besides what the model declares.
#[derive(Debug, Default)]
pub(crate) struct CarryOver {
    /// `AUTOINCREMENT` on the key.
    pub autoincrement: bool,
    /// CHECK constraints, as their SQL.
    pub checks: Vec<String>,
    /// (column, collation).
    pub collations: Vec<(String, String)>,
    /// Views and triggers that read the table: dropped before the old table
    /// goes, as SQLite checks them when the new one takes its name.
    pub dropped: Vec<LiveObject>,
    /// Views and triggers made again afterwards, in order: the table's own
    /// triggers and the dropped ones that can be.
    pub recreated: Vec<LiveObject>,
}

impl CarryOver {
    /// Each thing kept, in the words of a plan: "trigger `audit`".
    pub fn describe(&self) -> Vec<String> {
        let mut kept = Vec::new();
        if self.autoincrement {
            kept.push("AUTOINCREMENT".to_owned());
        }
        kept.extend(self.checks.iter().cloned());
        kept.extend(
            self.collations
                .iter()
                .map(|(column, collation)| format!("COLLATE {collation} on `{column}`")),
        );
        kept.extend(
            self.recreated
                .iter()
                .map(|o| format!("{} `{}`", o.kind.word(), o.name)),
        );
        kept
    }

    /// The model's definition of `column` with what the table kept for it.
    fn definition(&self, column: &ColumnDef) -> String {
        let mut sql = column.definition();
        if self.autoincrement && column.primary_key {
            // The key is a rowid alias (checked by the caller), whose
            // definition ends its key clause with `PRIMARY KEY`.
            sql = sql.replacen(" PRIMARY KEY", " PRIMARY KEY AUTOINCREMENT", 1);
        }
        for (_, collation) in self
            .collations
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(column.name))
        {
            sql.push_str(" COLLATE ");
            sql.push_str(&quote(collation));
        }
        sql
    }
}

/// Whether a column of SQL type `sql_type` stores what it is given as text
/// (SQLite's TEXT affinity: the type names `CHAR`, `CLOB` or `TEXT`), so
/// that bytes copied into it become text.
pub(crate) fn holds_text(sql_type: &str) -> bool {
    let upper = sql_type.to_ascii_uppercase();
    !upper.contains("INT") && ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t))
}

/// SQLite's table rebuild: the new table made from the model (with what
/// `carry` keeps), every row copied, the views and triggers that read the
/// table dropped, the old table dropped, the new one renamed, the indexes
/// made, the views and triggers made again. Foreign keys are off meanwhile
/// (see [`OPENING`]), so dropping the old table neither fails nor cascades
/// to rows that point at it. `taken` are the table names in use, which the
/// temporary name avoids.
pub(crate) fn rebuild(
    table: &TableDef,
    live: &LiveTable,
    taken: &[String],
    carry: &CarryOver,
) -> Vec<String> {
    let mut temporary = format!("new_{}", table.name);
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&temporary)) {
        temporary.insert(0, '_');
    }
    let definitions: Vec<String> = table
        .columns
        .iter()
        .map(|c| carry.definition(c))
        .chain(carry.checks.iter().cloned())
        .map(|d| format!("    {d}"))
        .collect();
    let mut sql = vec![format!(
        "CREATE TABLE {} (\n{}\n)",
        quote(&temporary),
        definitions.join(",\n")
    )];
    let copied: Vec<(&ColumnDef, &LiveColumn)> = table
        .columns
        .iter()
        .filter_map(|c| live.column(c.name).map(|found| (c, found)))
        .collect();
    if !copied.is_empty() {
        let names: Vec<String> = copied.iter().map(|(c, _)| quote(c.name)).collect();
        let values: Vec<String> = copied
            .iter()
            .map(|(c, found)| copy_value(c, found))
            .collect();
        sql.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote(&temporary),
            names.join(", "),
            values.join(", "),
            quote(table.name)
        ));
    }
    if carry.autoincrement {
        sql.extend(keep_sequence(table.name, &temporary));
    }
    for object in carry.dropped.iter().rev() {
        sql.push(format!(
            "DROP {} {}",
            object.kind.word().to_uppercase(),
            quote(&object.name)
        ));
    }
    sql.push(format!("DROP TABLE {}", quote(table.name)));
    sql.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&temporary),
        quote(table.name)
    ));
    sql.extend(table.create_index_sql());
    sql.extend(carry.recreated.iter().filter_map(|o| o.sql.clone()));
    sql
}

/// The new table takes over the old one's `AUTOINCREMENT` counter, so that
/// a key handed out once (and deleted since) is never handed out again;
/// copying the rows alone would set it to the largest key copied.
fn keep_sequence(old: &str, new: &str) -> [String; 2] {
    let (old, new) = (literal(old), literal(new));
    [
        format!(
            "UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence WHERE name IN ({old}, {new})) WHERE name = {new}"
        ),
        format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT {new}, seq FROM sqlite_sequence WHERE name = {old} AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = {new})"
        ),
    ]
}

/// A name as an SQL string literal.
fn literal(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}

/// The value copied into a column: converted where the type changes, and
/// NULL replaced by the default where the column becomes NOT NULL (the
/// hazard check decides beforehand whether that may happen).
fn copy_value(column: &ColumnDef, found: &LiveColumn) -> String {
    let mut value = quote(&found.name);
    if !found.sql_type.eq_ignore_ascii_case(column.sql_type) {
        value = format!("CAST({value} AS {})", column.sql_type);
    }
    let becomes_not_null = !column.primary_key && !column.nullable && !found.not_null;
    if let (true, Some(default)) = (becomes_not_null, column.default) {
        value = format!("COALESCE({value}, {default})");
    }
    value
}
