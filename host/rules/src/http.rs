//! HTTP matchers: evaluation, and construction for rule syntax v3.

use std::sync::Arc;

use http::HeaderName;
use regex::Regex;

use crate::host::HostPattern;
use crate::ip::IpSet;
use crate::query;
use crate::tree::Leaf;
use crate::{CustomMatcher, RequestInfo};

/// How a header or query value is compared.
#[derive(Debug)]
pub(crate) enum ValueMatch {
    /// Byte-for-byte equality.
    Exact(Box<str>),
    /// Unanchored regexp search.
    Regex(Regex),
}

/// A v2 `Query` value.
#[derive(Debug)]
pub(crate) enum V2Value {
    /// Key present, any value.
    Any,
    /// Equality with the decoded value.
    Exact(Box<str>),
    /// Anchored template regexp on the decoded value.
    Regex(Regex),
}

/// One compiled HTTP matcher.
pub(crate) enum HttpMatcher {
    /// Host equal to one of the patterns.
    Host(Box<[HostPattern]>),
    /// Host equal (ASCII case-insensitive, dots significant) to one of these.
    HostLiteral(Box<[Box<str>]>),
    /// Host matching the regexp.
    HostRegexp(Regex),
    /// Routing path equal to one of these.
    Path(Box<[Box<str>]>),
    /// Routing path starting with one of these.
    PathPrefix(Box<[Box<str>]>),
    /// Routing path matching the regexp.
    PathRegexp(Regex),
    /// Method equal to one of these (already upper-case).
    Method(Box<[Box<str>]>),
    /// Every `(name, value)` pair must be matched by some value of the header.
    Header(Box<[(HeaderName, ValueMatch)]>),
    /// Some value of the query key matches.
    Query(Box<str>, ValueMatch),
    /// Every pair must match the first value of its key (v2 semantics).
    QueryV2(Box<[(Box<str>, V2Value)]>),
    /// Client address in the set.
    ClientIp(IpSet),
    /// A matcher supplied by a [`crate::CustomResolver`].
    Custom(Arc<dyn CustomMatcher>),
}

impl std::fmt::Debug for HttpMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpMatcher::Host(p) => f.debug_tuple("Host").field(p).finish(),
            HttpMatcher::HostLiteral(p) => f.debug_tuple("HostLiteral").field(p).finish(),
            HttpMatcher::HostRegexp(r) => f.debug_tuple("HostRegexp").field(r).finish(),
            HttpMatcher::Path(p) => f.debug_tuple("Path").field(p).finish(),
            HttpMatcher::PathPrefix(p) => f.debug_tuple("PathPrefix").field(p).finish(),
            HttpMatcher::PathRegexp(r) => f.debug_tuple("PathRegexp").field(r).finish(),
            HttpMatcher::Method(m) => f.debug_tuple("Method").field(m).finish(),
            HttpMatcher::Header(h) => f.debug_tuple("Header").field(h).finish(),
            HttpMatcher::Query(k, v) => f.debug_tuple("Query").field(k).field(v).finish(),
            HttpMatcher::QueryV2(q) => f.debug_tuple("QueryV2").field(q).finish(),
            HttpMatcher::ClientIp(s) => f.debug_tuple("ClientIp").field(s).finish(),
            HttpMatcher::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

fn value_matches(m: &ValueMatch, raw: &[u8]) -> bool {
    match m {
        ValueMatch::Exact(v) => raw == v.as_bytes(),
        ValueMatch::Regex(r) => r.is_match(&String::from_utf8_lossy(raw)),
    }
}

impl Leaf<RequestInfo<'_>> for HttpMatcher {
    fn eval(&self, req: &RequestInfo<'_>) -> bool {
        match self {
            HttpMatcher::Host(patterns) => patterns.iter().any(|p| p.matches(req.host)),
            HttpMatcher::HostLiteral(hosts) => {
                hosts.iter().any(|h| h.eq_ignore_ascii_case(req.host))
            }
            HttpMatcher::HostRegexp(re) => re.is_match(req.host),
            HttpMatcher::Path(paths) => paths.iter().any(|p| **p == *req.path),
            HttpMatcher::PathPrefix(prefixes) => {
                prefixes.iter().any(|p| req.path.starts_with(&**p))
            }
            HttpMatcher::PathRegexp(re) => re.is_match(req.path),
            HttpMatcher::Method(methods) => {
                let m = req.method.as_str();
                methods.iter().any(|x| **x == *m)
            }
            HttpMatcher::Header(pairs) => pairs.iter().all(|(name, value)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| value_matches(value, v.as_bytes()))
            }),
            HttpMatcher::Query(key, value) => {
                let Some(q) = req.query else { return false };
                query::values(q, key).any(|raw| match value {
                    ValueMatch::Exact(v) => query::decoded_eq(raw, v),
                    ValueMatch::Regex(re) => query::decode(raw).is_some_and(|v| re.is_match(&v)),
                })
            }
            HttpMatcher::QueryV2(pairs) => {
                let q = req.query.unwrap_or("");
                pairs.iter().all(|(key, value)| {
                    let Some(raw) = query::first_value_v2(q, key) else {
                        return false;
                    };
                    match value {
                        V2Value::Any => true,
                        V2Value::Exact(v) => query::decoded_eq(raw, v),
                        V2Value::Regex(re) => query::decode(raw).is_some_and(|v| re.is_match(&v)),
                    }
                })
            }
            HttpMatcher::ClientIp(set) => req.client_ip.is_some_and(|ip| set.contains(ip)),
            HttpMatcher::Custom(m) => m.matches(req),
        }
    }

    fn cost(&self) -> u32 {
        match self {
            HttpMatcher::Host(_) | HttpMatcher::HostLiteral(_) | HttpMatcher::Method(_) => 1,
            HttpMatcher::Path(_) | HttpMatcher::PathPrefix(_) | HttpMatcher::ClientIp(_) => 2,
            HttpMatcher::Header(_) => 4,
            HttpMatcher::Query(..) | HttpMatcher::QueryV2(_) => 6,
            HttpMatcher::HostRegexp(_) | HttpMatcher::PathRegexp(_) => 10,
            HttpMatcher::Custom(_) => 50,
        }
    }
}

/// A matcher's name and arguments, and how to report problems with them.
pub(crate) struct Args<'a> {
    /// Canonical matcher name.
    pub name: &'static str,
    /// Arguments (all non-empty).
    pub args: &'a [String],
    /// 1-based column of the matcher in the rule, for errors.
    pub column: usize,
}

impl Args<'_> {
    /// An [`crate::RuleError::InvalidArgument`] for `value`.
    pub fn invalid(&self, value: &str, reason: impl Into<String>) -> crate::RuleError {
        crate::RuleError::InvalidArgument {
            column: self.column,
            matcher: self.name.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Checks the argument count against `allowed`.
    pub fn count(&self, allowed: &[usize], expected: &'static str) -> Result<(), crate::RuleError> {
        if allowed.contains(&self.args.len()) {
            Ok(())
        } else {
            Err(crate::RuleError::ArgumentCount {
                column: self.column,
                matcher: self.name,
                expected,
                got: self.args.len(),
            })
        }
    }

    /// Rejects non-ASCII values (hosts must be punycode).
    pub fn ascii(&self, value: &str) -> Result<(), crate::RuleError> {
        if value.is_ascii() {
            Ok(())
        } else {
            Err(self.invalid(
                value,
                "non-ASCII characters are not allowed (use the punycode form, e.g. xn--...)",
            ))
        }
    }

    /// Compiles a Go regexp argument.
    pub fn regex(&self, value: &str) -> Result<Regex, crate::RuleError> {
        crate::goregex::compile(value)
            .map_err(|e| self.invalid(value, format!("invalid regular expression: {e}")))
    }

    /// Parses a header name.
    pub fn header_name(&self, value: &str) -> Result<HeaderName, crate::RuleError> {
        HeaderName::from_bytes(value.as_bytes())
            .map_err(|_| self.invalid(value, "not a valid HTTP header name"))
    }

    /// Checks that a path starts with `/`.
    pub fn path(&self, value: &str) -> Result<Box<str>, crate::RuleError> {
        if value.starts_with('/') {
            Ok(value.into())
        } else {
            Err(self.invalid(value, "a path must start with '/'"))
        }
    }

    /// Parses addresses and CIDR ranges.
    pub fn ips(&self) -> Result<IpSet, crate::RuleError> {
        IpSet::parse(self.args).map_err(|(i, e)| self.invalid(&self.args[i], e))
    }
}

/// Builds a v3 matcher. `a.name` is one of [`crate::rule::V3_HTTP`].
pub(crate) fn build_v3(a: &Args<'_>) -> Result<HttpMatcher, crate::RuleError> {
    let args = a.args;
    let one = |m: &Args<'_>| m.count(&[1], "exactly one argument");
    Ok(match a.name {
        "ClientIP" => {
            one(a)?;
            HttpMatcher::ClientIp(a.ips()?)
        }
        "Method" => {
            one(a)?;
            HttpMatcher::Method(Box::new([args[0].to_ascii_uppercase().into()]))
        }
        "Host" => {
            one(a)?;
            a.ascii(&args[0])?;
            let p = HostPattern::parse(&args[0], true).map_err(|e| a.invalid(&args[0], e))?;
            HttpMatcher::Host(Box::new([p]))
        }
        "HostRegexp" => {
            one(a)?;
            a.ascii(&args[0])?;
            HttpMatcher::HostRegexp(a.regex(&args[0])?)
        }
        "Path" => {
            one(a)?;
            HttpMatcher::Path(Box::new([a.path(&args[0])?]))
        }
        "PathPrefix" => {
            one(a)?;
            HttpMatcher::PathPrefix(Box::new([a.path(&args[0])?]))
        }
        "PathRegexp" => {
            one(a)?;
            HttpMatcher::PathRegexp(a.regex(&args[0])?)
        }
        "Header" | "HeaderRegexp" => {
            a.count(&[2], "two arguments: a header name and a value")?;
            let name = a.header_name(&args[0])?;
            let value = if a.name == "Header" {
                ValueMatch::Exact(args[1].as_str().into())
            } else {
                ValueMatch::Regex(a.regex(&args[1])?)
            };
            HttpMatcher::Header(Box::new([(name, value)]))
        }
        "Query" | "QueryRegexp" => {
            a.count(&[1, 2], "one or two arguments: a key and an optional value")?;
            let value = match args.get(1) {
                None => ValueMatch::Exact("".into()),
                Some(v) if a.name == "Query" => ValueMatch::Exact(v.as_str().into()),
                Some(v) => ValueMatch::Regex(a.regex(v)?),
            };
            HttpMatcher::Query(args[0].as_str().into(), value)
        }
        other => unreachable!("not a v3 HTTP matcher: {other}"),
    })
}
