//! Tokenizer for the rule language (a subset of Go expression syntax).

use crate::error::{RuleError, column};

/// One token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub kind: Tok<'a>,
    pub offset: usize,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Str(String),
    LParen,
    RParen,
    Comma,
    And,
    Or,
    Not,
    Eof,
    /// A lexical error; tokenizing stopped here.
    Bad(Box<RuleError>),
}

impl Tok<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::And => "`&&`".into(),
            Tok::Or => "`||`".into(),
            Tok::Not => "`!`".into(),
            Tok::Eof => "end of rule".into(),
            Tok::Bad(e) => e.to_string(),
        }
    }
}

/// Splits `src` into tokens, ending with [`Tok::Eof`], or with [`Tok::Bad`]
/// at the first lexical error (so that the parser reports whichever
/// problem comes first in the rule).
pub(crate) fn tokenize(src: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    if let Err((offset, e)) = scan(src, &mut out) {
        out.push(Token {
            kind: Tok::Bad(Box::new(e)),
            offset,
        });
    }
    out
}

fn scan<'a>(src: &'a str, out: &mut Vec<Token<'a>>) -> Result<(), (usize, RuleError)> {
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'!' => {
                i += 1;
                Tok::Not
            }
            b'&' | b'|' => {
                if bytes.get(i + 1) != Some(&c) {
                    let op = if c == b'&' { "`&&`" } else { "`||`" };
                    return Err((
                        i,
                        RuleError::Unexpected {
                            column: column(src, i),
                            expected: if c == b'&' {
                                "`&&` (single `&` is not an operator)"
                            } else {
                                "`||` (single `|` is not an operator)"
                            },
                            found: format!("`{}` instead of {op}", c as char),
                        },
                    ));
                }
                i += 2;
                if c == b'&' { Tok::And } else { Tok::Or }
            }
            b'`' => {
                let (s, next) = raw_string(src, i).map_err(|e| (start, e))?;
                i = next;
                Tok::Str(s)
            }
            b'"' => {
                let (s, next) = quoted_string(src, i).map_err(|e| (start, e))?;
                i = next;
                Tok::Str(s)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\0');
                if ch == '_' || ch.is_alphabetic() {
                    let end = src[i..]
                        .char_indices()
                        .find(|&(_, c)| !(c == '_' || c.is_alphanumeric()))
                        .map_or(src.len(), |(n, _)| i + n);
                    i = end;
                    Tok::Ident(&src[start..end])
                } else {
                    let found = if ch == '\'' {
                        "`'` (single quotes are not allowed: use backticks or double quotes)"
                            .to_string()
                    } else {
                        format!("`{ch}`")
                    };
                    return Err((
                        i,
                        RuleError::Unexpected {
                            column: column(src, i),
                            expected: "a matcher, `(`, `)`, `!`, `&&`, `||` or a quoted string",
                            found,
                        },
                    ));
                }
            }
        };
        out.push(Token {
            kind,
            offset: start,
        });
    }
    out.push(Token {
        kind: Tok::Eof,
        offset: src.len(),
    });
    Ok(())
}

/// A backtick string: no escapes, carriage returns dropped (as in Go).
fn raw_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let body_start = start + 1;
    match src[body_start..].find('`') {
        Some(n) => {
            let body = &src[body_start..body_start + n];
            Ok((body.replace('\r', ""), body_start + n + 1))
        }
        None => Err(RuleError::UnterminatedString {
            column: column(src, start),
            quote: '`',
        }),
    }
}

/// A double-quoted string with Go escape sequences.
fn quoted_string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let bytes = src.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = start + 1;
    let unterminated = || RuleError::UnterminatedString {
        column: column(src, start),
        quote: '"',
    };
    loop {
        let Some(&c) = bytes.get(i) else {
            return Err(unterminated());
        };
        match c {
            b'"' => {
                i += 1;
                break;
            }
            b'\n' => return Err(unterminated()),
            b'\\' => {
                let esc_start = i;
                let bad = |len: usize| RuleError::InvalidEscape {
                    column: column(src, esc_start),
                    sequence: src
                        .get(esc_start..(esc_start + len).min(src.len()))
                        .unwrap_or("\\")
                        .to_string(),
                };
                let Some(&e) = bytes.get(i + 1) else {
                    return Err(unterminated());
                };
                i += 2;
                match e {
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(0x0b),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'0'..=b'7' => {
                        let digits = src.get(i - 1..i + 2).ok_or_else(|| bad(4))?;
                        let v = u32::from_str_radix(digits, 8).map_err(|_| bad(4))?;
                        let v = u8::try_from(v).map_err(|_| bad(4))?;
                        out.push(v);
                        i += 2;
                    }
                    b'x' => {
                        let digits = src.get(i..i + 2).ok_or_else(|| bad(4))?;
                        let v = u8::from_str_radix(digits, 16).map_err(|_| bad(4))?;
                        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(bad(4));
                        }
                        out.push(v);
                        i += 2;
                    }
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let digits = src.get(i..i + n).ok_or_else(|| bad(n + 2))?;
                        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(bad(n + 2));
                        }
                        let v = u32::from_str_radix(digits, 16).map_err(|_| bad(n + 2))?;
                        let ch = char::from_u32(v).ok_or_else(|| bad(n + 2))?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += n;
                    }
                    _ => return Err(bad(2)),
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    let s = String::from_utf8(out).map_err(|_| RuleError::InvalidEscape {
        column: column(src, start),
        sequence: "byte escapes that do not form valid UTF-8".into(),
    })?;
    Ok((s, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok<'_>> {
        tokenize(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds("!Host(`a`, \"b\") && (x || y)"),
            vec![
                Tok::Not,
                Tok::Ident("Host"),
                Tok::LParen,
                Tok::Str("a".into()),
                Tok::Comma,
                Tok::Str("b".into()),
                Tok::RParen,
                Tok::And,
                Tok::LParen,
                Tok::Ident("x"),
                Tok::Or,
                Tok::Ident("y"),
                Tok::RParen,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn go_escapes() {
        assert_eq!(
            kinds(r#""a\tb\x41\101\u00e9\"\\""#)[0],
            Tok::Str("a\tbAAé\"\\".into())
        );
        assert_eq!(kinds("`a\\d\r`")[0], Tok::Str("a\\d".into()));
    }

    fn lex_err(src: &str) -> RuleError {
        match tokenize(src).pop().map(|t| t.kind) {
            Some(Tok::Bad(e)) => *e,
            other => panic!("no error: {other:?}"),
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(
            lex_err("Host(`a)"),
            RuleError::UnterminatedString { column: 6, .. }
        ));
        assert!(matches!(
            lex_err(r#"Host("\q")"#),
            RuleError::InvalidEscape { column: 7, .. }
        ));
        assert!(matches!(
            lex_err("a & b"),
            RuleError::Unexpected { column: 3, .. }
        ));
        assert!(matches!(
            lex_err("Host('a')"),
            RuleError::Unexpected { column: 6, .. }
        ));
        assert!(matches!(
            lex_err(r#""\xff""#),
            RuleError::InvalidEscape { .. }
        ));
    }
}
