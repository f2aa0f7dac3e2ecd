//! Go (RE2) regular expressions on top of the `regex` crate.
//!
//! Traefik rules use Go's regexp syntax. The `regex` crate is close, but a
//! few constructs differ; [`translate`] rewrites a Go pattern into a Rust
//! pattern with the same meaning:
//!
//! * `{` that does not start a valid repeat (`{n}`, `{n,}`, `{n,m}`) is a
//!   literal in Go (so `{name:re}` is literal text); Rust rejects it.
//! * `\d`, `\s`, `\w` and `\b` are ASCII-only in Go, Unicode in Rust.
//! * `\Q...\E` literal text and octal escapes (`\012`) exist only in Go.
//! * Inside a class `[`, `&&`, `--` and `~~` are literals in Go but nested
//!   classes and set operations in Rust.
//! * `\<` and `\>` are literal characters in Go, word boundaries in Rust.
//! * Go accepts only the `i`, `m`, `s` and `U` flags.

use regex::Regex;

/// Compiles a Go regular expression.
pub(crate) fn compile(go: &str) -> Result<Regex, String> {
    let rust = translate(go)?;
    Regex::new(&rust).map_err(|e| describe(&e))
}

/// Last line of a `regex` error: the part that says what is wrong.
fn describe(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().trim_start_matches("error: ").to_string())
        .unwrap_or(text)
}

const DIGIT: &str = "0-9";
const SPACE: &str = r"\t\n\x0C\r ";
const WORD: &str = "0-9A-Za-z_";

/// Rewrites a Go pattern into an equivalent `regex` crate pattern.
pub(crate) fn translate(go: &str) -> Result<String, String> {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => i = escape(&chars, i, &mut out, false)?,
            '[' => i = class(&chars, i, &mut out)?,
            '{' => {
                if let Some(end) = repeat_end(&chars, i)? {
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                } else {
                    out.push_str(r"\{");
                    i += 1;
                }
            }
            '}' | ']' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '(' => i = group(&chars, i, &mut out)?,
            _ => {
                push_literal(&mut out, c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Pushes `c` so that it matches itself (meta characters escaped), except
/// for the operators that mean the same in both dialects.
fn push_literal(out: &mut String, c: char) {
    match c {
        '#' | '&' | '~' => {
            out.push('\\');
            out.push(c);
        }
        _ => out.push(c),
    }
}

/// Pushes `c` as an escaped literal.
fn push_escaped(out: &mut String, c: char) {
    if regex_meta(c) {
        out.push('\\');
    }
    out.push(c);
}

fn regex_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// If `chars[at]` is `{` starting a valid Go repeat, the index of its `}`.
fn repeat_end(chars: &[char], at: usize) -> Result<Option<usize>, String> {
    let mut i = at + 1;
    let number = |i: &mut usize| -> Option<Option<u32>> {
        let start = *i;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return Some(None);
        }
        if *i - start >= 2 && chars[start] == '0' {
            return None; // Go refuses leading zeros: the brace is literal.
        }
        let text: String = chars[start..*i].iter().collect();
        Some(Some(text.parse::<u32>().unwrap_or(u32::MAX)))
    };
    let Some(Some(min)) = number(&mut i) else {
        return Ok(None);
    };
    let mut max = Some(min);
    if chars.get(i) == Some(&',') {
        i += 1;
        match number(&mut i) {
            None => return Ok(None),
            Some(m) => max = m,
        }
    }
    if chars.get(i) != Some(&'}') {
        return Ok(None);
    }
    if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
        let text: String = chars[at..=i].iter().collect();
        return Err(format!("invalid repeat count {text}"));
    }
    Ok(Some(i))
}

/// A group opener: checks flags (Go knows only `imsU`) and turns named
/// groups into plain groups (names do not matter for matching).
fn group(chars: &[char], at: usize, out: &mut String) -> Result<usize, String> {
    if chars.get(at + 1) != Some(&'?') {
        out.push('(');
        return Ok(at + 1);
    }
    let named_start = match (chars.get(at + 2), chars.get(at + 3)) {
        (Some('P'), Some('<')) => Some(at + 4),
        (Some('<'), _) => Some(at + 3),
        (Some('P'), _) => return Err("invalid named capture: expected (?P<name>...)".into()),
        _ => None,
    };
    if let Some(start) = named_start {
        let mut i = start;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        if i == start || chars.get(i) != Some(&'>') {
            return Err("invalid named capture group name".into());
        }
        out.push_str("(?:");
        return Ok(i + 1);
    }
    let mut i = at + 2;
    while let Some(&c) = chars.get(i) {
        match c {
            'i' | 'm' | 's' | 'U' | '-' => i += 1,
            ')' | ':' => {
                if i == at + 2 && c == ')' {
                    return Err("missing flags in (?...)".into());
                }
                out.extend(&chars[at..=i]);
                return Ok(i + 1);
            }
            _ => return Err(format!("invalid or unsupported Perl syntax (?{c}")),
        }
    }
    Err("missing closing )".into())
}

/// An escape at `chars[at]` (a backslash). Returns the index after it.
fn escape(chars: &[char], at: usize, out: &mut String, in_class: bool) -> Result<usize, String> {
    let Some(&c) = chars.get(at + 1) else {
        return Err("trailing backslash at end of expression".into());
    };
    let mut next = at + 2;
    match c {
        'd' | 's' | 'w' => {
            let set = match c {
                'd' => DIGIT,
                's' => SPACE,
                _ => WORD,
            };
            if in_class {
                out.push_str(set);
            } else {
                out.push('[');
                out.push_str(set);
                out.push(']');
            }
        }
        'D' | 'S' | 'W' => {
            let set = match c {
                'D' => DIGIT,
                'S' => SPACE,
                _ => WORD,
            };
            out.push_str("[^");
            out.push_str(set);
            out.push(']');
        }
        'b' | 'B' | 'A' | 'z' if !in_class => {
            if c == 'b' || c == 'B' {
                out.push_str("(?-u:\\");
                out.push(c);
                out.push(')');
            } else {
                out.push('\\');
                out.push(c);
            }
        }
        'Q' if !in_class => {
            let mut i = next;
            while i < chars.len() {
                if chars[i] == '\\' && chars.get(i + 1) == Some(&'E') {
                    return Ok(i + 2);
                }
                push_escaped(out, chars[i]);
                i += 1;
            }
            return Ok(i);
        }
        'p' | 'P' => {
            out.push('\\');
            out.push(c);
            if chars.get(next) == Some(&'{') {
                let close = chars[next..]
                    .iter()
                    .position(|&x| x == '}')
                    .ok_or("missing closing } in \\p{...}")?;
                out.extend(&chars[next..=next + close]);
                next += close + 1;
            } else if let Some(&n) = chars.get(next) {
                out.push(n);
                next += 1;
            } else {
                return Err("missing class name after \\p".into());
            }
        }
        'x' => {
            out.push_str("\\x");
            if chars.get(next) == Some(&'{') {
                let close = chars[next..]
                    .iter()
                    .position(|&x| x == '}')
                    .ok_or("missing closing } in \\x{...}")?;
                out.extend(&chars[next..=next + close]);
                next += close + 1;
            } else {
                let hex = chars.get(next..next + 2).ok_or("invalid \\x escape")?;
                if !hex.iter().all(char::is_ascii_hexdigit) {
                    return Err("invalid \\x escape".into());
                }
                out.extend(hex);
                next += 2;
            }
        }
        '0'..='7' => {
            let followed_by_octal = chars.get(next).is_some_and(|d| ('0'..='7').contains(d));
            if c != '0' && !followed_by_octal {
                return Err(format!(
                    "invalid escape \\{c} (backreferences are not supported)"
                ));
            }
            let mut value = c as u32 - '0' as u32;
            for _ in 0..2 {
                match chars.get(next) {
                    Some(d @ '0'..='7') => {
                        value = value * 8 + (*d as u32 - '0' as u32);
                        next += 1;
                    }
                    _ => break,
                }
            }
            out.push_str(&format!("\\x{{{value:X}}}"));
        }
        'a' => out.push_str("\\x{7}"),
        'f' | 'n' | 'r' | 't' | 'v' => {
            out.push('\\');
            out.push(c);
        }
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => push_escaped(out, c),
        _ => return Err(format!("invalid escape sequence \\{c}")),
    }
    Ok(next)
}

/// A character class starting at `chars[at]` (a `[`).
fn class(chars: &[char], at: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    let mut i = at + 1;
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str(r"\]");
        i += 1;
    }
    let mut prev_dash = false;
    while let Some(&c) = chars.get(i) {
        let mut dash = false;
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' => {
                if let Some(end) = posix_class_end(chars, i) {
                    out.extend(&chars[i..=end]);
                    i = end + 1;
                } else {
                    out.push_str(r"\[");
                    i += 1;
                }
            }
            '\\' => i = escape(chars, i, out, true)?,
            '&' | '~' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' => {
                if prev_dash {
                    out.push_str(r"\-");
                } else {
                    out.push('-');
                    dash = true;
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
        prev_dash = dash;
    }
    Err("missing closing ] in character class".into())
}

/// If `chars[at..]` starts `[:name:]` or `[:^name:]`, the index of the final `]`.
fn posix_class_end(chars: &[char], at: usize) -> Option<usize> {
    if chars.get(at + 1) != Some(&':') {
        return None;
    }
    let mut i = at + 2;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    let start = i;
    while chars.get(i).is_some_and(char::is_ascii_lowercase) {
        i += 1;
    }
    (i > start && chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&']')).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(go: &str, text: &str) -> bool {
        compile(go).unwrap().is_match(text)
    }

    #[test]
    fn braces_that_are_not_repeats_are_literal() {
        assert_eq!(
            translate("/{path:(css|js)}").unwrap(),
            r"/\{path:(css|js)\}"
        );
        assert!(m("/{path:(css|js)}", "/{path:css}/"));
        assert!(!m("/{path:(css|js)}", "/css"));
        assert!(m("http{secure:s?}", "http{secure:}"));
        assert!(m("^a{2}$", "aa"));
        assert!(m("^a{2,}$", "aaa"));
        assert!(m("^a{1,2}$", "aa"));
        assert!(m("^a{,2}$", "a{,2}"));
        assert!(m("^a{01}$", "a{01}"));
        assert!(compile("a{1001}").is_err());
        assert!(compile("{2}").is_err());
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d$", "٣"));
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"^[\d.]+$", "1.2"));
        assert!(m(r"^[^\d]$", "é"));
        assert!(m(r"^[\D]$", "x"));
        assert!(m(r"\bfoo\b", "a foo b"));
        assert!(m(r"^\s$", "\t"));
    }

    #[test]
    fn go_only_syntax() {
        assert!(m(r"^\Q.*+\E$", ".*+"));
        assert!(m(r"^\101$", "A"));
        assert!(m(r"^\0$", "\0"));
        assert!(compile(r"\1").is_err());
        assert!(m(r"^\<a\>$", "<a>"));
        assert!(m(r"^[a&&b]+$", "&&ab"));
        assert!(m(r"^[[]$", "["));
        assert!(m(r"^[]a]+$", "]a"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
        assert!(m(r"^a#b~c$", "a#b~c"));
        assert!(m(r"^(?P<x>a)(?<y>b)$", "ab"));
        assert!(m(r"(?i)^ABC$", "abc"));
        assert!(compile("(?x)a").is_err());
        assert!(m(r"^\pL+\p{Greek}$", "aα"));
        assert!(m(r"^\x41\x{42}$", "AB"));
    }

    #[test]
    fn invalid_patterns() {
        assert!(compile("(example.com").is_err());
        assert!(compile("[a").is_err());
        assert!(compile("a\\").is_err());
        assert!(compile(r"\k").is_err());
        let e = compile("(x").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
