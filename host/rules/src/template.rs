//! Legacy (v2) `{name:regexp}` templates, as used by Host, HostRegexp,
//! Path, PathPrefix and Query in rule syntax v2.
//!
//! Text outside braces is literal; `{name}` alone stands for a default
//! pattern (`[^.]+` in hosts, `[^/]+` in paths, `.*` in query values).
//! Host templates match case-insensitively; path and host templates match
//! the whole value, prefix templates only its start.

use crate::goregex;

/// Where a template is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Host,
    Path,
    Prefix,
    Query,
}

/// A template, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Template {
    /// No variables: plain text.
    Literal(String),
    /// A `regex` crate pattern (already anchored as the kind requires).
    Pattern(String),
}

/// Compiles one template.
pub(crate) fn compile(tpl: &str, kind: Kind) -> Result<Template, String> {
    let spans = braces(tpl)?;
    if spans.is_empty() {
        return Ok(Template::Literal(tpl.to_string()));
    }
    let default = match kind {
        Kind::Host => "[^.]+",
        Kind::Path | Kind::Prefix => "[^/]+",
        Kind::Query => ".*",
    };
    let mut go = String::new();
    if kind == Kind::Host {
        go.push_str("(?i)");
    }
    go.push('^');
    let mut end = 0;
    for (open, close) in spans {
        go.push_str(&quote_meta(&tpl[end..open]));
        let inner = &tpl[open + 1..close];
        let (name, pattern) = inner.split_once(':').unwrap_or((inner, default));
        if name.is_empty() || pattern.is_empty() {
            return Err(format!(
                "missing name or pattern in {:?}",
                &tpl[open..=close]
            ));
        }
        // Each variable must be a valid expression on its own.
        goregex::compile(pattern).map_err(|e| format!("in {:?}: {e}", &tpl[open..=close]))?;
        go.push_str("(?:");
        go.push_str(pattern);
        go.push(')');
        end = close + 1;
    }
    go.push_str(&quote_meta(&tpl[end..]));
    if kind != Kind::Prefix {
        go.push('$');
    }
    let rust = goregex::translate(&go)?;
    regex::Regex::new(&rust).map_err(|e| e.to_string())?;
    Ok(Template::Pattern(rust))
}

/// Byte spans `(open, close)` of the top-level `{...}` groups.
fn braces(s: &str) -> Result<Vec<(usize, usize)>, String> {
    let mut level = 0usize;
    let mut open = 0;
    let mut spans = Vec::new();
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'{' => {
                if level == 0 {
                    open = i;
                }
                level += 1;
            }
            b'}' => {
                if level == 0 {
                    return Err(format!("unbalanced braces in {s:?}"));
                }
                level -= 1;
                if level == 0 {
                    spans.push((open, i));
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(format!("unbalanced braces in {s:?}"));
    }
    Ok(spans)
}

/// Escapes Go regexp meta characters, like Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Joins compiled patterns into one alternation.
pub(crate) fn alternation(patterns: &[String]) -> Result<regex::Regex, String> {
    let joined = patterns
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    regex::Regex::new(&joined).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(tpl: &str, kind: Kind) -> regex::Regex {
        match compile(tpl, kind).unwrap() {
            Template::Pattern(p) => regex::Regex::new(&p).unwrap(),
            Template::Literal(l) => panic!("literal {l}"),
        }
    }

    #[test]
    fn templates() {
        let r = re(r"{subdomain:(foo\.)?bar\.com}", Kind::Host);
        assert!(r.is_match("foo.bar.com") && r.is_match("BAR.com"));
        assert!(!r.is_match("fooubar.com"));
        let r = re("/css{path:(/.*)?}", Kind::Path);
        assert!(r.is_match("/css/main.css") && !r.is_match("/css.css"));
        let r = re("/css-{name:[0-9]?}", Kind::Prefix);
        assert!(r.is_match("/css-333333/x") && !r.is_match("/css.css"));
        let r = re("{id}.example.com", Kind::Host);
        assert!(r.is_match("a.example.com") && !r.is_match("a.b.example.com"));
        assert_eq!(
            compile("a.b", Kind::Host).unwrap(),
            Template::Literal("a.b".into())
        );
    }

    #[test]
    fn errors() {
        assert!(compile("{test", Kind::Host).is_err());
        assert!(compile("test}", Kind::Host).is_err());
        assert!(compile("{:x}", Kind::Path).is_err());
        assert!(compile("{x:}", Kind::Path).is_err());
        assert!(compile("{x:(}", Kind::Path).is_err());
    }
}
