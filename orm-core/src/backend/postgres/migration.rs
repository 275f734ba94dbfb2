//! How PostgreSQL migrates: every change of an existing table in place,
//! by `ALTER TABLE` (its DDL is transactional, so a migration is one
//! `BEGIN` ... `COMMIT` and needs no table rebuild), the fingerprint of the
//! schema that tells a stale plan, and which type changes keep every value.
//!
//! Does not decide what changes (`migrate::diff` does); writes the
//! statement of each change, given the names it needs.

use super::PgClient;
use super::value::PgRow;
use crate::error::Result;
use crate::schema::ColumnDef;
use crate::sql::quote;
use crate::value::RowExt;

/// A fingerprint of the current schema: every column (type, NOT NULL,
/// default), constraint and index of its tables and views, described by
/// the catalogs, sorted, and hashed with `md5` (the first 60 bits). Any
/// change a plan could depend on changes it; PostgreSQL keeps no counter
/// like SQLite's `PRAGMA schema_version`.
const FINGERPRINT: &str = "SELECT ('x' || substr(md5(coalesce(string_agg(d, chr(30) ORDER BY d), '')), 1, 15))::bit(60)::bigint FROM (\
     SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') AS d \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum \
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm') \
     UNION ALL SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) \
     FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE n.nspname = current_schema() \
     UNION ALL SELECT tablename || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()\
     ) AS schema";

/// The schema's fingerprint (see [`FINGERPRINT`]), kept in a plan and
/// compared when it is applied.
pub(crate) fn schema_version(conn: &mut PgClient) -> Result<i64> {
    let rows = conn.query(FINGERPRINT, &[], "")?;
    match rows.first() {
        Some(row) => PgRow::new(row).get::<i64>(0),
        None => Ok(0),
    }
}

/// `ALTER TABLE "table" ADD COLUMN` with the model's definition in
/// PostgreSQL's types (its NOT NULL, UNIQUE, DEFAULT and REFERENCES).
pub(crate) fn add_column(table: &str, column: &ColumnDef) -> String {
    format!(
        "ALTER TABLE {} ADD COLUMN {}",
        quote(table),
        column.definition_in(crate::backend::Backend::Postgres)
    )
}

/// `ALTER TABLE "table" DROP COLUMN`; its indexes and constraints go with it.
pub(crate) fn drop_column(table: &str, column: &str) -> String {
    format!("ALTER TABLE {} DROP COLUMN {}", quote(table), quote(column))
}

/// The type change, each value converted by a cast (bytes and text through
/// UTF-8: a cast of `BYTEA` to `TEXT` would write the bytes' hex form). A
/// value the cast cannot convert fails the statement, and so the migration.
pub(crate) fn change_type(table: &str, column: &str, from: &str, to: &str) -> String {
    let name = quote(column);
    let using = match (base(from).as_str(), base(to).as_str()) {
        ("BYTEA", "TEXT") => format!("convert_from({name}, 'UTF8')"),
        ("TEXT", "BYTEA") => format!("convert_to({name}, 'UTF8')"),
        _ => format!("{name}::{to}"),
    };
    format!(
        "ALTER TABLE {} ALTER COLUMN {name} TYPE {to} USING {using}",
        quote(table)
    )
}

/// `SET NOT NULL`, after NULL is replaced by `default` where there is one
/// (the hazard check decides beforehand whether that may happen); `DROP
/// NOT NULL` when the column becomes nullable.
pub(crate) fn change_nullability(
    table: &str,
    column: &str,
    nullable: bool,
    default: Option<&str>,
) -> Vec<String> {
    let (table, column) = (quote(table), quote(column));
    if nullable {
        return vec![format!(
            "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"
        )];
    }
    let mut sql = Vec::new();
    if let Some(default) = default {
        sql.push(format!(
            "UPDATE {table} SET {column} = {default} WHERE {column} IS NULL"
        ));
    }
    sql.push(format!(
        "ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL"
    ));
    sql
}

/// `SET DEFAULT`, or `DROP DEFAULT` when the model has none.
pub(crate) fn change_default(table: &str, column: &str, default: Option<&str>) -> String {
    let change = match default {
        Some(default) => format!("SET DEFAULT {default}"),
        None => "DROP DEFAULT".to_owned(),
    };
    format!(
        "ALTER TABLE {} ALTER COLUMN {} {change}",
        quote(table),
        quote(column)
    )
}

/// `ALTER TABLE ... DROP CONSTRAINT`: a UNIQUE, a foreign key, a primary
/// key, by the name the catalogs give it.
pub(crate) fn drop_constraint(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT {}",
        quote(table),
        quote(name)
    )
}

/// A UNIQUE constraint on one column, named as PostgreSQL names the one
/// `CREATE TABLE` makes (`users_email_key`).
pub(crate) fn add_unique(table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})",
        quote(table),
        quote(&format!("{table}_{column}_key")),
        quote(column)
    )
}

/// The column's foreign key, named as `CREATE TABLE` names it
/// (`orders_user_id_fkey`). The server checks the rows as it adds it: a
/// key that matches no row fails the statement.
pub(crate) fn add_foreign_key(table: &str, column: &ColumnDef) -> Option<String> {
    let fk = column.references.as_ref()?;
    let target = (fk.target)();
    let mut sql = format!(
        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
        quote(table),
        quote(&format!("{table}_{}_fkey", column.name)),
        quote(column.name),
        quote(target.name),
        quote(target.primary_key().name)
    );
    if let Some(action) = fk.on_delete.sql() {
        sql.push_str(" ON DELETE ");
        sql.push_str(action);
    }
    Some(sql)
}

/// `ADD PRIMARY KEY` on `column` (which makes it NOT NULL).
pub(crate) fn add_primary_key(table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {} ADD PRIMARY KEY ({})",
        quote(table),
        quote(column)
    )
}

/// SQL that is true when a value survives the change from type `from` to
/// `to`, for the probe that counts the values a type change would alter.
/// A widening change (a wider integer, `REAL` to `DOUBLE PRECISION`, any
/// type but `BYTEA` to `TEXT`) keeps every value: `TRUE`. For any other
/// change, PostgreSQL 15 cannot test a conversion without running it (16's
/// `pg_input_is_valid` could), so every non-NULL value counts as changed:
/// `FALSE`, and the step needs consent even where each value would survive.
pub(crate) fn survives(from: &str, to: &str) -> &'static str {
    if keeps_every_value(&base(from), &base(to)) {
        "TRUE"
    } else {
        "FALSE"
    }
}

fn keeps_every_value(from: &str, to: &str) -> bool {
    let width = |t: &str| match t {
        "SMALLINT" => Some(2),
        "INTEGER" => Some(4),
        "BIGINT" => Some(8),
        _ => None,
    };
    match (from, to) {
        ("BYTEA", "TEXT") => false,
        (_, "TEXT") => true,
        ("REAL" | "SMALLINT" | "INTEGER", "DOUBLE PRECISION") | ("SMALLINT", "REAL") => true,
        _ => matches!((width(from), width(to)), (Some(a), Some(b)) if a <= b),
    }
}

/// A type's name without its modifiers, in capitals: `CHARACTER
/// VARYING(20)` is `CHARACTER VARYING`, `VARCHAR` is `TEXT`'s kind.
fn base(sql_type: &str) -> String {
    let upper = sql_type.to_ascii_uppercase();
    let name = upper.split('(').next().unwrap_or_default().trim();
    match name {
        "CHARACTER VARYING" | "VARCHAR" | "CHARACTER" | "CHAR" => "TEXT".to_owned(),
        "INT8" => "BIGINT".to_owned(),
        "INT" | "INT4" => "INTEGER".to_owned(),
        "INT2" => "SMALLINT".to_owned(),
        "FLOAT8" => "DOUBLE PRECISION".to_owned(),
        other => other.to_owned(),
    }
}

/// `sql` with each dollar-quoted string (`$$...$$`, `$body$...$body$`)
/// and each escape string (`E'it\'s'`) written as a plain `'...'` literal
/// of blanks, its lines kept, so that SQLite's tokens read PostgreSQL's
/// text: a function body's `BEGIN ... END;` is then one literal, not
/// statements. Single and double quotes and both kinds of comment (block
/// comments nested, as PostgreSQL nests them) are stepped over whole, so
/// a `$$` inside them opens nothing.
pub(crate) fn plain_literals(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_word = i > 0 && is_word(chars[i - 1]);
        let end = match c {
            '\'' | '"' => Some(closing_quote(&chars, i, c, false)),
            'E' | 'e' if next == Some('\'') && !after_word => {
                let end = closing_quote(&chars, i + 1, '\'', true);
                blank(&mut out, &chars[i + 1..end]);
                i = end;
                continue;
            }
            '-' if next == Some('-') => Some(
                (i..chars.len())
                    .find(|&j| chars[j] == '\n')
                    .unwrap_or(chars.len()),
            ),
            '/' if next == Some('*') => Some(block_comment_end(&chars, i)),
            '$' if !after_word => {
                let end = dollar_end(&chars, i);
                if let Some(end) = end {
                    blank(&mut out, &chars[i..end]);
                }
                end
            }
            _ => None,
        };
        match end {
            Some(end) if c == '$' => i = end,
            Some(end) => {
                out.extend(&chars[i..end]);
                i = end;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// `text` (a whole literal) as `'` blanks `'`, its newlines kept.
fn blank(out: &mut String, text: &[char]) {
    out.push('\'');
    out.extend(
        text.iter()
            .skip(1)
            .take(text.len().saturating_sub(2))
            .map(|&c| if c == '\n' { '\n' } else { ' ' }),
    );
    out.push('\'');
}

/// The index just past the quote that closes the one at `start`; a doubled
/// quote is one character of the literal, and so is an escaped one in an
/// escape string.
fn closing_quote(chars: &[char], start: usize, quote: char, escapes: bool) -> usize {
    let mut j = start + 1;
    while j < chars.len() {
        let escaped = escapes && chars[j] == '\\';
        if escaped || (chars[j] == quote && chars.get(j + 1) == Some(&quote)) {
            j += 2;
        } else if chars[j] == quote {
            return j + 1;
        } else {
            j += 1;
        }
    }
    chars.len()
}

/// The index just past the block comment that opens at `start`.
fn block_comment_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut j = start;
    while j + 1 < chars.len() {
        match (chars[j], chars[j + 1]) {
            ('/', '*') => {
                depth += 1;
                j += 2;
            }
            ('*', '/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return j;
                }
            }
            _ => j += 1,
        }
    }
    chars.len()
}

/// The index just past the dollar-quoted string that opens at `start`, if
/// a tag opens one there (`$1`, a parameter, opens none).
fn dollar_end(chars: &[char], start: usize) -> Option<usize> {
    let tag_end =
        (start + 1..chars.len()).find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_'))?;
    let tag = &chars[start..=tag_end];
    let digit_first = chars.get(start + 1).is_some_and(char::is_ascii_digit);
    if chars[tag_end] != '$' || digit_first {
        return None;
    }
    let body = tag_end + 1;
    let close = (body..chars.len()).find(|&j| chars[j..].starts_with(tag));
    Some(close.map_or(chars.len(), |j| j + tag.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_changes_keep_every_value_and_narrowing_ones_count_them_all() {
        assert_eq!(survives("INTEGER", "BIGINT"), "TRUE");
        assert_eq!(survives("CHARACTER VARYING(20)", "TEXT"), "TRUE");
        assert_eq!(survives("BIGINT", "TEXT"), "TRUE");
        assert_eq!(survives("REAL", "DOUBLE PRECISION"), "TRUE");
        assert_eq!(survives("BIGINT", "INTEGER"), "FALSE");
        assert_eq!(survives("TEXT", "BIGINT"), "FALSE");
        assert_eq!(survives("BYTEA", "TEXT"), "FALSE");
    }

    #[test]
    fn dollar_quotes_and_escape_strings_become_plain_literals() {
        assert_eq!(
            plain_literals("AS $f$\nBEGIN x; END;\n$f$ LANGUAGE plpgsql; SELECT $1"),
            "AS '  \n             \n  ' LANGUAGE plpgsql; SELECT $1"
        );
        assert_eq!(
            plain_literals("SELECT $$a$$, E'it\\'s'"),
            "SELECT '   ', '     '"
        );
        assert_eq!(
            plain_literals("SELECT '$$' /* $$ /* */ $$ */ -- $$"),
            "SELECT '$$' /* $$ /* */ $$ */ -- $$"
        );
        assert_eq!(plain_literals("SELECT a$b$ FROM t"), "SELECT a$b$ FROM t");
    }

    #[test]
    fn bytes_and_text_convert_through_utf8() {
        assert_eq!(
            change_type("t", "b", "BYTEA", "TEXT"),
            r#"ALTER TABLE "t" ALTER COLUMN "b" TYPE TEXT USING convert_from("b", 'UTF8')"#
        );
        assert_eq!(
            change_type("t", "n", "TEXT", "BIGINT"),
            r#"ALTER TABLE "t" ALTER COLUMN "n" TYPE BIGINT USING "n"::BIGINT"#
        );
    }
}
