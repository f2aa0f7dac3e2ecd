//! Errors reported when a rule cannot be parsed or compiled.

/// Why a rule was rejected.
///
/// Every variant that points into the rule carries `column`: the 1-based
/// character position in the rule string where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The rule string is empty or only whitespace.
    #[error("rule is empty: expected a matcher such as Host(`example.com`)")]
    Empty,
    /// A token that does not fit the grammar at this point.
    #[error("at column {column}: expected {expected}, found {found}")]
    Unexpected {
        /// 1-based character column.
        column: usize,
        /// What the grammar allows here.
        expected: &'static str,
        /// What the rule contains instead.
        found: String,
    },
    /// A string argument that is never closed.
    #[error("at column {column}: unterminated string: missing closing {quote}")]
    UnterminatedString {
        /// 1-based character column of the opening quote.
        column: usize,
        /// The quote character that opened the string.
        quote: char,
    },
    /// A bad escape sequence inside a double-quoted string.
    #[error(
        "at column {column}: invalid escape {sequence:?} in double-quoted string (use a backtick string to avoid escapes)"
    )]
    InvalidEscape {
        /// 1-based character column of the backslash.
        column: usize,
        /// The offending sequence.
        sequence: String,
    },
    /// Parentheses or `!` nested deeper than the parser allows.
    #[error("at column {column}: rule is nested too deeply (more than {limit} levels)")]
    TooDeep {
        /// 1-based character column.
        column: usize,
        /// The nesting limit.
        limit: usize,
    },
    /// A matcher name that is not known for this rule kind and syntax.
    #[error("at column {column}: unknown matcher `{name}`{}", hint_suffix(.hint))]
    UnknownMatcher {
        /// 1-based character column of the matcher name.
        column: usize,
        /// The name as written.
        name: String,
        /// Closest valid name, or advice about the other rule syntax.
        hint: Option<String>,
    },
    /// A matcher called with the wrong number of arguments.
    #[error("at column {column}: {matcher} expects {expected}, got {got}")]
    ArgumentCount {
        /// 1-based character column of the matcher name.
        column: usize,
        /// Matcher name.
        matcher: &'static str,
        /// Accepted argument counts, in words.
        expected: &'static str,
        /// Number of arguments given.
        got: usize,
    },
    /// A matcher called with no arguments or with an empty string argument.
    #[error("at column {column}: {matcher} needs at least one argument, and no empty argument")]
    EmptyArgument {
        /// 1-based character column of the matcher name.
        column: usize,
        /// Matcher name as written.
        matcher: String,
    },
    /// An argument that the matcher cannot use (bad regexp, bad IP, ...).
    #[error("at column {column}: invalid argument {value:?} for {matcher}: {reason}")]
    InvalidArgument {
        /// 1-based character column of the matcher name.
        column: usize,
        /// Matcher name.
        matcher: String,
        /// The argument.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A custom matcher whose resolver rejected the arguments.
    #[error("at column {column}: matcher {matcher} rejected its arguments: {message}")]
    Custom {
        /// 1-based character column of the matcher name.
        column: usize,
        /// Matcher name as written.
        matcher: String,
        /// The resolver's message.
        message: String,
    },
    /// A rule syntax name other than `v3` or `v2`.
    #[error("unknown rule syntax {0:?}: expected \"v3\" or \"v2\"")]
    UnknownSyntax(String),
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!("; {h}"),
        None => String::new(),
    }
}

/// 1-based character column of byte `offset` in `src`.
pub(crate) fn column(src: &str, offset: usize) -> usize {
    let offset = offset.min(src.len());
    src.get(..offset)
        .map_or(offset, |prefix| prefix.chars().count())
        + 1
}

/// Levenshtein distance between two ASCII-case-folded names.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters() {
        assert_eq!(column("abc", 0), 1);
        assert_eq!(column("é(x", 2), 2);
        assert_eq!(column("abc", 99), 4);
    }

    #[test]
    fn closest_finds_typos() {
        let names = ["Host", "HostRegexp", "Path", "PathPrefix"];
        assert_eq!(closest("Hots", &names), Some("Host"));
        assert_eq!(closest("pathprefx", &names), Some("PathPrefix"));
        assert_eq!(closest("Completely", &names), None);
    }

    #[test]
    fn unknown_matcher_message_has_hint() {
        let e = RuleError::UnknownMatcher {
            column: 1,
            name: "Hots".into(),
            hint: Some("did you mean `Host`?".into()),
        };
        assert_eq!(
            e.to_string(),
            "at column 1: unknown matcher `Hots`; did you mean `Host`?"
        );
    }
}
