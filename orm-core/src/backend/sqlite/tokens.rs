//! SQLite's SQL text as tokens: enough to find the clauses of a stored
//! `CREATE TABLE` (its CHECK constraints, collations, `AUTOINCREMENT`) and
//! the names a trigger or view mentions. Not a parser of SQL: strings,
//! quoted identifiers and comments are skipped whole, so that a word inside
//! them is never taken for a keyword or a name.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A keyword, a bare identifier or a number: `CHECK`, `users`, `42`.
    Word,
    /// A quoted identifier (`"x"`, `[x]`, `` `x` ``), unquoted.
    Quoted(String),
    /// A string literal `'...'`.
    Text,
    /// Any other character: `(`, `,`, `;`, `=`.
    Punct(char),
}

/// One token and where it is in the text.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Byte offsets of the token in the text.
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether the token is the keyword `word` (any case).
    pub fn is_word(&self, sql: &str, word: &str) -> bool {
        self.kind == Kind::Word && sql[self.start..self.end].eq_ignore_ascii_case(word)
    }

    /// Whether the token is `c`.
    pub fn is(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    /// The name the token stands for, if it can be one (a bare word or a
    /// quoted identifier).
    pub fn name<'a>(&'a self, sql: &'a str) -> Option<&'a str> {
        match &self.kind {
            Kind::Word => Some(&sql[self.start..self.end]),
            Kind::Quoted(name) => Some(name),
            _ => None,
        }
    }
}

/// The tokens of `sql`, comments and white space left out.
pub(crate) fn tokens(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let kind = match bytes[i] {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'\'' => {
                i = closing(sql, i, '\'');
                Kind::Text
            }
            b'"' | b'`' | b'[' => {
                let close = if bytes[i] == b'[' {
                    ']'
                } else {
                    bytes[i] as char
                };
                i = closing(sql, i, close);
                Kind::Quoted(unquote(&sql[start..i], close))
            }
            b if is_word_byte(b) => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                let Some(c) = sql[i..].chars().next() else {
                    break;
                };
                i += c.len_utf8();
                Kind::Punct(c)
            }
        };
        found.push(Token {
            kind,
            start,
            end: i,
        });
    }
    found
}

/// Letters, digits, `_`, `$` and any byte of a non-ASCII character, as
/// SQLite's identifiers allow.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The offset just past the quote that closes the one at `open`; a doubled
/// quote inside is part of the text (`[...]` has no escape).
fn closing(sql: &str, open: usize, close: char) -> usize {
    let bytes = sql.as_bytes();
    let close = close as u8;
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == close {
            if close != b']' && bytes.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

fn unquote(quoted: &str, close: char) -> String {
    let inner = quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or_default();
    if close == ']' {
        inner.to_owned()
    } else {
        let doubled: String = [close, close].iter().collect();
        inner.replace(&doubled, &close.to_string())
    }
}

/// Whether `sql` names `name` anywhere outside strings and comments (any
/// case, quoted or not).
pub(crate) fn mentions(sql: &str, name: &str) -> bool {
    tokens(sql)
        .iter()
        .any(|t| t.name(sql).is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_quotes_and_comments_are_single_tokens_or_nothing() {
        let sql = "SELECT 'it''s -- no', \"a \"\"b\"\"\", [c d] -- users\n/* users */ FROM t";
        let names: Vec<String> = tokens(sql)
            .iter()
            .filter_map(|t| t.name(sql).map(str::to_owned))
            .collect();
        assert_eq!(names, ["SELECT", "a \"b\"", "c d", "FROM", "t"]);
        assert!(!mentions(sql, "users"));
        assert!(mentions("SELECT * FROM \"Users\"", "users"));
    }
}
