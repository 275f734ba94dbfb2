//! Finds transaction control (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`,
//! `SAVEPOINT`, `RELEASE`) among the statements of a migration file, which
//! runs inside the migration's own transaction: a `COMMIT` there would end
//! it half-way, with the files before it applied and none recorded.
//!
//! Read through SQLite's tokens (`backend::sqlite::tokens`), not a pattern over the text: string
//! literals, quoted identifiers and comments are skipped whole, so a
//! `'COMMIT'` or `-- rollback` is not seen. Only the first word of a
//! statement can be transaction control (SQLite has no other place for
//! it), so `CASE ... END` and a column named `end` are never mistaken for
//! one. The one statement with `;` inside it is `CREATE TRIGGER`: its body
//! runs from `BEGIN` to an `END` that follows a `;`, as SQLite's parser
//! and `sqlite3_complete` read it. Does not check the rest of the SQL:
//! the database does that when the file runs.
//!
//! On PostgreSQL the words are the same, with `START` (`START
//! TRANSACTION`) and `ABORT`; `ROLLBACK PREPARED` and `COMMIT PREPARED`
//! start with theirs. Dollar-quoted strings (`$$...$$`, `$tag$...$tag$`,
//! a function's body) and escape strings (`E'...'`) are read as one
//! literal each (`backend::postgres::migration::plain_literals`), and a
//! `CREATE TRIGGER` has no body of its own there. Not supported: a
//! function body written in SQL-standard form (`BEGIN ATOMIC ... END`),
//! whose `END` is reported; write it with a dollar-quoted body instead.
//! `PREPARE TRANSACTION` is not recognised (the server refuses it inside
//! the migration's transaction only when it runs).

use crate::backend::Backend;
use crate::backend::sqlite::tokens::{Kind, tokens};

/// The words that start a transaction-control statement.
const CONTROL: [&str; 6] = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];

/// PostgreSQL's words for it besides [`CONTROL`].
const POSTGRES_CONTROL: [&str; 2] = ["START", "ABORT"];

/// A transaction-control statement found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// The word that starts it, in capitals.
    pub keyword: &'static str,
    /// Its line, counted from 1.
    pub line: usize,
}

/// The first transaction-control statement of `sql`, if any, read as
/// `backend` reads it.
pub(super) fn find(sql: &str, backend: Backend) -> Option<Found> {
    #[cfg(feature = "postgres")]
    if backend == Backend::Postgres {
        return find_tokens(
            &crate::backend::postgres::migration::plain_literals(sql),
            backend,
        );
    }
    find_tokens(sql, backend)
}

fn find_tokens(sql: &str, backend: Backend) -> Option<Found> {
    let mut statement = Statement::new(backend);
    for token in tokens(sql) {
        match token.kind {
            Kind::Punct(';') => statement.end_of_command(),
            Kind::Word => {
                if let Some(keyword) = statement.word(&sql[token.start..token.end]) {
                    let line = 1 + sql[..token.start].matches('\n').count();
                    return Some(Found { keyword, line });
                }
            }
            _ => statement.other(),
        }
    }
    None
}

/// Where the scanner stands in the statement being read.
#[derive(Debug)]
struct Statement {
    /// Whose SQL it is.
    backend: Backend,
    /// Words read of the statement so far (only the first three matter).
    words: usize,
    /// Whether the statement started `CREATE [TEMP|TEMPORARY]`.
    create: bool,
    /// Whether it is a `CREATE TRIGGER`.
    trigger: bool,
    /// Inside the trigger's body, a `;` was the last token: the next word
    /// starts one of its commands, or is the `END` that closes the body.
    body_command_starts: bool,
    /// The trigger's closing `END` was read; the next `;` ends it.
    body_closed: bool,
}

impl Statement {
    /// Before the first word of a statement.
    fn new(backend: Backend) -> Statement {
        Statement {
            backend,
            words: 0,
            create: false,
            trigger: false,
            body_command_starts: false,
            body_closed: false,
        }
    }

    /// A `;`: the end of the statement, or inside a trigger's body the end
    /// of one of its commands.
    fn end_of_command(&mut self) {
        if self.trigger && !self.body_closed {
            self.body_command_starts = true;
        } else {
            *self = Statement::new(self.backend);
        }
    }

    /// Punctuation, a literal or a quoted name.
    fn other(&mut self) {
        self.words += 1;
        self.body_command_starts = false;
    }

    /// A bare word; returns it if it makes the statement transaction control.
    fn word(&mut self, word: &str) -> Option<&'static str> {
        let position = self.words;
        self.words += 1;
        if self.body_command_starts {
            self.body_command_starts = false;
            if word.eq_ignore_ascii_case("END") {
                self.body_closed = true;
                return None;
            }
            // SQLite would refuse it inside a trigger anyway; say so early.
            return control(word, self.backend);
        }
        match position {
            0 => {
                self.create = word.eq_ignore_ascii_case("CREATE");
                control(word, self.backend)
            }
            1 | 2 if self.create => {
                // PostgreSQL's trigger runs a function: no body here.
                if word.eq_ignore_ascii_case("TRIGGER") && self.backend == Backend::Sqlite {
                    self.trigger = true;
                } else if !(position == 1
                    && (word.eq_ignore_ascii_case("TEMP")
                        || word.eq_ignore_ascii_case("TEMPORARY")))
                {
                    self.create = false;
                }
                None
            }
            _ => None,
        }
    }
}

/// `word` as one of [`CONTROL`] (or, on PostgreSQL, [`POSTGRES_CONTROL`]),
/// if it is one.
fn control(word: &str, backend: Backend) -> Option<&'static str> {
    let extra: &[&'static str] = match backend {
        Backend::Sqlite => &[],
        Backend::Postgres => &POSTGRES_CONTROL,
    };
    CONTROL
        .iter()
        .chain(extra)
        .copied()
        .find(|keyword| word.eq_ignore_ascii_case(keyword))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(sql: &str) -> Option<(&'static str, usize)> {
        find(sql, Backend::Sqlite).map(|f| (f.keyword, f.line))
    }

    #[test]
    fn each_control_statement_is_found_with_its_line() {
        assert_eq!(found("COMMIT;"), Some(("COMMIT", 1)));
        assert_eq!(found("SELECT 1;\n  begin transaction;"), Some(("BEGIN", 2)));
        assert_eq!(found("SELECT 1;\n\nEnd;"), Some(("END", 3)));
        assert_eq!(found("SELECT 1;rollback to x"), Some(("ROLLBACK", 1)));
        assert_eq!(found("savepoint a;"), Some(("SAVEPOINT", 1)));
        assert_eq!(found("SELECT 1;\n/* x */ RELEASE a;"), Some(("RELEASE", 2)));
    }

    #[test]
    fn literals_names_and_comments_are_not_statements() {
        let sql = "INSERT INTO t VALUES ('a;\nCOMMIT;');\n\
                   -- COMMIT;\n\
                   /* ROLLBACK;\n END; */\n\
                   SELECT \"x;COMMIT\", [y;COMMIT], `z;COMMIT` FROM t;\n\
                   SELECT 'it''s; COMMIT';";
        assert_eq!(found(sql), None);
        assert_eq!(found("SELECT 'a''b';\nCOMMIT;"), Some(("COMMIT", 2)));
        assert_eq!(found("/* open\ncomment */ COMMIT"), Some(("COMMIT", 2)));
    }

    #[test]
    fn end_or_begin_inside_a_statement_is_not_control() {
        let sql = "CREATE TABLE spans (begin INTEGER, end INTEGER);\n\
                   SELECT CASE WHEN end > begin THEN 1 ELSE 0 END FROM spans;";
        assert_eq!(found(sql), None);
    }

    #[test]
    fn a_trigger_body_is_not_control_but_what_follows_it_may_be() {
        let trigger = "CREATE TEMP TRIGGER IF NOT EXISTS audit AFTER UPDATE OF begin, end ON spans\n\
                       WHEN new.end > 0 BEGIN\n\
                         INSERT INTO log VALUES (CASE WHEN new.end > 1 THEN 'x' END);\n\
                         UPDATE spans SET end = 0 WHERE begin = 1;\n\
                       END;\n";
        assert_eq!(found(trigger), None);
        assert_eq!(
            found(&format!("{trigger}SELECT 1;\nCOMMIT;")),
            Some(("COMMIT", 7))
        );
        assert_eq!(
            found("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; COMMIT; END;"),
            Some(("COMMIT", 1))
        );
    }

    #[test]
    fn a_table_named_like_a_trigger_is_not_one() {
        assert_eq!(
            found("CREATE TABLE trigger (a); SELECT 1; END;"),
            Some(("END", 1))
        );
    }

    #[cfg(feature = "postgres")]
    fn found_on_postgres(sql: &str) -> Option<(&'static str, usize)> {
        find(sql, Backend::Postgres).map(|f| (f.keyword, f.line))
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_function_bodies_are_literals_and_its_own_words_are_control() {
        let function = "CREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\
                        CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION f();\n\
                        DO $do$ BEGIN PERFORM 1; COMMIT; END $do$;\n";
        assert_eq!(found_on_postgres(function), None);
        assert_eq!(
            found_on_postgres(&format!("{function}END;")),
            Some(("END", 8))
        );
        assert_eq!(
            found_on_postgres("SELECT E'it\\'s; COMMIT';\nSTART TRANSACTION;"),
            Some(("START", 2))
        );
        assert_eq!(found_on_postgres("abort;"), Some(("ABORT", 1)));
        // SQLite knows neither word.
        assert_eq!(found("START TRANSACTION; ABORT;"), None);
    }
}
