//! Finds transaction control (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`,
//! `SAVEPOINT`, `RELEASE`) among the statements of a migration file, which
//! runs inside the migration's own transaction: a `COMMIT` there would end
//! it half-way, with the files before it applied and none recorded.
//!
//! A small scanner of SQLite's tokens, not a pattern over the text: string
//! literals, quoted identifiers and comments are skipped whole, so a
//! `'COMMIT'` or `-- rollback` is not seen. Only the first word of a
//! statement can be transaction control (SQLite has no other place for
//! it), so `CASE ... END` and a column named `end` are never mistaken for
//! one. The one statement with `;` inside it is `CREATE TRIGGER`: its body
//! runs from `BEGIN` to an `END` that follows a `;`, as SQLite's parser
//! and `sqlite3_complete` read it. Does not check the rest of the SQL:
//! SQLite does that when the file runs.

/// The words that start a transaction-control statement.
const CONTROL: [&str; 6] = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];

/// A transaction-control statement found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// The word that starts it, in capitals.
    pub keyword: &'static str,
    /// Its line, counted from 1.
    pub line: usize,
}

/// The first transaction-control statement of `sql`, if any.
pub(super) fn find(sql: &str) -> Option<Found> {
    let mut statement = Statement::default();
    for token in Tokens::new(sql) {
        match token.kind {
            TokenKind::Semicolon => statement.end_of_command(),
            TokenKind::Other => statement.other(),
            TokenKind::Word(word) => {
                if let Some(keyword) = statement.word(word) {
                    return Some(Found {
                        keyword,
                        line: token.line,
                    });
                }
            }
        }
    }
    None
}

/// Where the scanner stands in the statement being read.
#[derive(Debug, Default)]
struct Statement {
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
    /// A `;`: the end of the statement, or inside a trigger's body the end
    /// of one of its commands.
    fn end_of_command(&mut self) {
        if self.trigger && !self.body_closed {
            self.body_command_starts = true;
        } else {
            *self = Statement::default();
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
            return control(word);
        }
        match position {
            0 => {
                self.create = word.eq_ignore_ascii_case("CREATE");
                control(word)
            }
            1 | 2 if self.create => {
                if word.eq_ignore_ascii_case("TRIGGER") {
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

/// `word` as one of [`CONTROL`], if it is one.
fn control(word: &str) -> Option<&'static str> {
    CONTROL
        .into_iter()
        .find(|keyword| word.eq_ignore_ascii_case(keyword))
}

/// One token, and the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token<'a> {
    kind: TokenKind<'a>,
    line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind<'a> {
    /// A bare word: a keyword, a name, or a number.
    Word(&'a str),
    /// `;`
    Semicolon,
    /// Anything else that is not space or a comment: punctuation, a string
    /// literal, a quoted identifier.
    Other,
}

/// SQLite's tokens of a text, with space and comments left out.
struct Tokens<'a> {
    sql: &'a str,
    at: usize,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(sql: &'a str) -> Self {
        Tokens {
            sql,
            at: 0,
            line: 1,
        }
    }

    fn rest(&self) -> &'a str {
        self.sql.get(self.at..).unwrap_or("")
    }

    /// Moves past `len` bytes, counting the lines they end.
    fn advance(&mut self, len: usize) {
        let end = (self.at + len).min(self.sql.len());
        let passed = self.sql.get(self.at..end).unwrap_or("");
        self.line += passed.matches('\n').count();
        self.at = end;
    }

    /// Moves past text up to and including `close` (the whole rest when it
    /// never comes: SQLite refuses an unterminated literal, and a comment
    /// left open runs to the end).
    fn skip_past(&mut self, open: usize, close: &str) {
        let len = self.rest()[open..]
            .find(close)
            .map_or(self.rest().len(), |i| open + i + close.len());
        self.advance(len);
    }

    /// Moves past a quoted literal or name opened by `quote`, where a
    /// doubled `quote` stands for one.
    fn skip_quoted(&mut self, quote: char) {
        let mut len = quote.len_utf8();
        loop {
            match self.rest()[len..].find(quote) {
                None => {
                    len = self.rest().len();
                    break;
                }
                Some(i) => {
                    len += i + quote.len_utf8();
                    if self.rest()[len..].starts_with(quote) {
                        len += quote.len_utf8();
                    } else {
                        break;
                    }
                }
            }
        }
        self.advance(len);
    }
}

/// SQLite's space: not Unicode's, whose other spaces it reads as part of a name.
fn is_space(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// A character of a bare word: SQLite counts every non-ASCII character in.
fn is_word(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ch == '_' || ch == '$' || !ch.is_ascii()
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = self.rest();
            let ch = rest.chars().next()?;
            let line = self.line;
            let token = |kind| Some(Token { kind, line });
            if is_space(ch) {
                self.advance(ch.len_utf8());
            } else if rest.starts_with("--") {
                self.skip_past(2, "\n");
            } else if rest.starts_with("/*") {
                self.skip_past(2, "*/");
            } else if ch == ';' {
                self.advance(1);
                return token(TokenKind::Semicolon);
            } else if matches!(ch, '\'' | '"' | '`') {
                self.skip_quoted(ch);
                return token(TokenKind::Other);
            } else if ch == '[' {
                self.skip_past(1, "]");
                return token(TokenKind::Other);
            } else if is_word(ch) {
                let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
                self.advance(len);
                return token(TokenKind::Word(&rest[..len]));
            } else {
                self.advance(ch.len_utf8());
                return token(TokenKind::Other);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(sql: &str) -> Option<(&'static str, usize)> {
        find(sql).map(|f| (f.keyword, f.line))
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
}
