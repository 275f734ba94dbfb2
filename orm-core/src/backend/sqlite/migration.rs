//! How SQLite migrates: the frame every migration runs in, the check that a
//! value survives a type change, and the table rebuild that makes the
//! changes `ALTER TABLE` cannot (a type, a foreign key, a constraint).

use crate::schema::{ColumnDef, LiveColumn, LiveTable, TableDef};
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

/// SQLite's table rebuild: the new table made from the model, every row
/// copied, the old table dropped, the new one renamed, the indexes made.
/// Foreign keys are off meanwhile (see [`OPENING`]), so dropping the old
/// table neither fails nor cascades to rows that point at it. `taken` are
/// the table names in use, which the temporary name avoids.
pub(crate) fn rebuild(table: &TableDef, live: &LiveTable, taken: &[String]) -> Vec<String> {
    let mut temporary = format!("new_{}", table.name);
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&temporary)) {
        temporary.insert(0, '_');
    }
    let definitions: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("    {}", c.definition()))
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
    sql.push(format!("DROP TABLE {}", quote(table.name)));
    sql.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        quote(&temporary),
        quote(table.name)
    ));
    sql.extend(table.create_index_sql());
    sql
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
