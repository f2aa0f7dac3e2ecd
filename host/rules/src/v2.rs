//! HTTP matchers for the legacy rule syntax v2.
//!
//! Differences from v3: matchers take several values (any may match);
//! HostRegexp, Path, PathPrefix and Query values are `{name:regexp}`
//! templates (see [`crate::template`]) rather than Go regexps or plain
//! strings; Host has no wildcards; Headers and
//! HeadersRegexp take `name, value` pairs that must all match; Query takes
//! `key=value` strings and looks only at the first value of each key.

use regex::Regex;

use crate::RuleError;
use crate::host::HostPattern;
use crate::http::{Args, HttpMatcher, V2Value, ValueMatch};
use crate::template::{self, Kind, Template};

/// Builds a v2 matcher. `a.name` is one of [`crate::rule::V2_HTTP`].
pub(crate) fn build_v2(a: &Args<'_>) -> Result<HttpMatcher, RuleError> {
    let args = a.args;
    Ok(match a.name {
        "Host" | "HostHeader" => {
            let mut hosts = Vec::with_capacity(args.len());
            for h in args {
                a.ascii(h)?;
                let p = HostPattern::parse(h, false).map_err(|e| a.invalid(h, e))?;
                hosts.push(p);
            }
            HttpMatcher::Host(hosts.into())
        }
        "HostRegexp" => {
            for h in args {
                a.ascii(h)?;
            }
            match templates(a, Kind::Host)? {
                Compiled::Literals(l) => HttpMatcher::HostLiteral(l),
                Compiled::Regex(re) => HttpMatcher::HostRegexp(re),
            }
        }
        "Path" | "PathPrefix" => {
            for p in args {
                a.path(p)?;
            }
            let kind = if a.name == "Path" {
                Kind::Path
            } else {
                Kind::Prefix
            };
            match (templates(a, kind)?, kind) {
                (Compiled::Literals(l), Kind::Path) => HttpMatcher::Path(l),
                (Compiled::Literals(l), _) => HttpMatcher::PathPrefix(l),
                (Compiled::Regex(re), _) => HttpMatcher::PathRegexp(re),
            }
        }
        "Method" => {
            HttpMatcher::Method(args.iter().map(|m| m.to_ascii_uppercase().into()).collect())
        }
        "ClientIP" => HttpMatcher::ClientIp(a.ips()?),
        "Headers" | "HeadersRegexp" => {
            if !args.len().is_multiple_of(2) {
                return Err(RuleError::ArgumentCount {
                    column: a.column,
                    matcher: a.name,
                    expected: "name and value pairs (an even number of arguments)",
                    got: args.len(),
                });
            }
            let mut pairs = Vec::with_capacity(args.len() / 2);
            for pair in args.chunks(2) {
                let name = a.header_name(&pair[0])?;
                let value = if a.name == "Headers" {
                    ValueMatch::Exact(pair[1].as_str().into())
                } else {
                    ValueMatch::Regex(a.regex(&pair[1])?)
                };
                pairs.push((name, value));
            }
            HttpMatcher::Header(pairs.into())
        }
        "Query" => query(a)?,
        other => unreachable!("not a v2 HTTP matcher: {other}"),
    })
}

/// Templates compiled together: plain strings when none has a variable.
enum Compiled {
    Literals(Box<[Box<str>]>),
    Regex(Regex),
}

/// Compiles every argument as a template: all literals, or one regexp.
fn templates(a: &Args<'_>, kind: Kind) -> Result<Compiled, RuleError> {
    let mut literals = Vec::new();
    let mut patterns = Vec::new();
    for arg in a.args {
        match template::compile(arg, kind).map_err(|e| a.invalid(arg, e))? {
            Template::Literal(l) => literals.push(l),
            Template::Pattern(p) => patterns.push(p),
        }
    }
    if patterns.is_empty() {
        return Ok(Compiled::Literals(
            literals.into_iter().map(Into::into).collect(),
        ));
    }
    // Mixed: literals become anchored patterns too.
    for l in literals {
        patterns.push(literal_pattern(&l, kind));
    }
    let joined = a.args.join("`, `");
    template::alternation(&patterns)
        .map(Compiled::Regex)
        .map_err(|e| a.invalid(&joined, e))
}

/// An anchored pattern matching exactly the literal `l`, per `kind`.
fn literal_pattern(l: &str, kind: Kind) -> String {
    let flags = if kind == Kind::Host { "(?i)" } else { "" };
    let end = if kind == Kind::Prefix { "" } else { "$" };
    format!("{flags}^{}{end}", regex::escape(l))
}

/// `Query(`key=value`, ...)`: the arguments are split at their first `=`
/// and the parts taken as key/value pairs.
fn query(a: &Args<'_>) -> Result<HttpMatcher, RuleError> {
    let parts: Vec<&str> = a
        .args
        .iter()
        .flat_map(|arg| match arg.split_once('=') {
            Some((k, v)) => vec![k, v],
            None => vec![arg.as_str()],
        })
        .collect();
    if !parts.len().is_multiple_of(2) {
        let bad = a
            .args
            .iter()
            .find(|x| !x.contains('='))
            .unwrap_or(&a.args[0]);
        return Err(a.invalid(bad, "expected key=value"));
    }
    let mut pairs = Vec::with_capacity(parts.len() / 2);
    for kv in parts.chunks(2) {
        let (key, value) = (kv[0], kv[1]);
        if key.contains(['{', '}']) {
            return Err(a.invalid(key, "a query key cannot be a template"));
        }
        let value = if value.is_empty() {
            V2Value::Any
        } else {
            match template::compile(value, Kind::Query).map_err(|e| a.invalid(value, e))? {
                Template::Literal(l) => V2Value::Exact(l.into()),
                Template::Pattern(p) => {
                    V2Value::Regex(Regex::new(&p).map_err(|e| a.invalid(value, e.to_string()))?)
                }
            }
        };
        pairs.push((key.into(), value));
    }
    Ok(HttpMatcher::QueryV2(pairs.into()))
}
