//! Compiled HTTP rules.

use std::fmt;

use crate::error::{RuleError, closest, column};
use crate::host::{HostPattern, strip_dot};
use crate::http::{Args, HttpMatcher, build_v3};
use crate::index::HostKey;
use crate::parser::{Call, Expr, parse_expr};
use crate::tree::Node;
use crate::v2::build_v2;
use crate::{CustomResolver, RequestInfo, Syntax};

/// HTTP matchers of rule syntax v3.
pub(crate) const V3_HTTP: &[&str] = &[
    "ClientIP",
    "Method",
    "Host",
    "HostRegexp",
    "Path",
    "PathRegexp",
    "PathPrefix",
    "Header",
    "HeaderRegexp",
    "Query",
    "QueryRegexp",
];

/// HTTP matchers of rule syntax v2.
pub(crate) const V2_HTTP: &[&str] = &[
    "Host",
    "HostHeader",
    "HostRegexp",
    "ClientIP",
    "Path",
    "PathPrefix",
    "Method",
    "Headers",
    "HeadersRegexp",
    "Query",
];

/// What to use in v3 instead of a v2-only matcher, and vice versa.
const V2_TO_V3: &[(&str, &str)] = &[
    ("Headers", "Header"),
    ("HeadersRegexp", "HeaderRegexp"),
    ("HostHeader", "Host"),
];
const V3_TO_V2: &[(&str, &str)] = &[
    ("Header", "Headers"),
    ("HeaderRegexp", "HeadersRegexp"),
    (
        "PathRegexp",
        "Path or PathPrefix with a {name:regexp} template",
    ),
    ("QueryRegexp", "Query with a {name:regexp} template"),
];

/// The canonical spelling of `name` in `set` (names are case-insensitive).
pub(crate) fn canonical(name: &str, set: &[&'static str]) -> Option<&'static str> {
    set.iter().copied().find(|n| n.eq_ignore_ascii_case(name))
}

/// Advice for an unknown matcher name.
pub(crate) fn unknown_hint(
    name: &str,
    this: &[&'static str],
    other: &[&'static str],
    other_syntax: Syntax,
    replacements: &[(&str, &str)],
) -> Option<String> {
    if let Some(n) = canonical(name, other) {
        let instead = replacements
            .iter()
            .find(|(from, _)| *from == n)
            .map_or(String::new(), |(_, to)| format!("use {to}, or "));
        let current = match other_syntax {
            Syntax::V2 => "v3",
            Syntax::V3 => "v2",
        };
        return Some(format!(
            "{n} is not available in rule syntax {current}: {instead}set the router's \
             ruleSyntax to {}",
            other_syntax.as_str()
        ));
    }
    closest(name, this).map(|c| format!("did you mean `{c}`?"))
}

/// Rejects a built-in matcher with no arguments or an empty argument.
pub(crate) fn check_args(call: &Call, src: &str) -> Result<(), RuleError> {
    if call.args.is_empty() || call.args.iter().any(String::is_empty) {
        return Err(RuleError::EmptyArgument {
            column: column(src, call.offset),
            matcher: call.name.clone(),
        });
    }
    Ok(())
}

/// A compiled HTTP router rule. Cheap to evaluate; `Send + Sync`.
pub struct HttpRule {
    source: Box<str>,
    syntax: Syntax,
    root: Node<HttpMatcher>,
}

impl fmt::Debug for HttpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRule")
            .field("source", &self.source)
            .field("syntax", &self.syntax)
            .finish_non_exhaustive()
    }
}

/// A resolver that knows no custom matchers.
struct NoCustom;

impl CustomResolver for NoCustom {
    fn resolve(
        &self,
        _name: &str,
        _args: &[String],
    ) -> Option<Result<std::sync::Arc<dyn crate::CustomMatcher>, String>> {
        None
    }
}

impl HttpRule {
    /// Parses and compiles `rule` with the built-in matchers of `syntax`.
    pub fn parse(rule: &str, syntax: Syntax) -> Result<HttpRule, RuleError> {
        Self::parse_with(rule, syntax, &NoCustom)
    }

    /// Like [`HttpRule::parse`], asking `custom` about names that are not
    /// built-in matchers (e.g. ``Plugin(`canary`)``). Built-in names win.
    /// Custom matchers receive their arguments as written, even empty ones.
    pub fn parse_with(
        rule: &str,
        syntax: Syntax,
        custom: &dyn CustomResolver,
    ) -> Result<HttpRule, RuleError> {
        let expr = parse_expr(rule)?;
        let (set, other, replacements) = match syntax {
            Syntax::V3 => (V3_HTTP, V2_HTTP, V2_TO_V3),
            Syntax::V2 => (V2_HTTP, V3_HTTP, V3_TO_V2),
        };
        let mut leaf = |call: &Call| -> Result<HttpMatcher, RuleError> {
            let col = column(rule, call.offset);
            let Some(name) = canonical(&call.name, set) else {
                return match custom.resolve(&call.name, &call.args) {
                    Some(Ok(m)) => Ok(HttpMatcher::Custom(m)),
                    Some(Err(message)) => Err(RuleError::Custom {
                        column: col,
                        matcher: call.name.clone(),
                        message,
                    }),
                    None => Err(RuleError::UnknownMatcher {
                        column: col,
                        name: call.name.clone(),
                        hint: unknown_hint(&call.name, set, other, syntax.other(), replacements),
                    }),
                };
            };
            check_args(call, rule)?;
            let args = Args {
                name,
                args: &call.args,
                column: col,
            };
            match syntax {
                Syntax::V3 => build_v3(&args),
                Syntax::V2 => build_v2(&args),
            }
        };
        let root = Node::compile::<RequestInfo<'_>>(&expr, &mut leaf)?;
        Ok(HttpRule {
            source: rule.into(),
            syntax,
            root,
        })
    }

    /// Whether the request matches. Never allocates for Host, Path*,
    /// Method, Header (exact), ClientIP and Query on unescaped values.
    #[inline]
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        self.root.eval(req)
    }

    /// The rule as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax the rule was parsed with.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// Hosts one of which the request must have for the rule to match,
    /// or `None` when the rule does not pin the host.
    pub(crate) fn host_keys(&self) -> Option<Vec<HostKey>> {
        host_keys(&self.root)
    }
}

fn host_keys(node: &Node<HttpMatcher>) -> Option<Vec<HostKey>> {
    match node {
        Node::Leaf(HttpMatcher::Host(patterns), false) => patterns
            .iter()
            .map(|p| match p {
                HostPattern::Exact(h) => Some(HostKey::Exact(h.clone())),
                HostPattern::OneLabel(s) => Some(HostKey::Parent(s.clone())),
                HostPattern::Any | HostPattern::AnyLabels(_) => None,
            })
            .collect(),
        Node::Leaf(HttpMatcher::HostLiteral(hosts), false) => Some(
            hosts
                .iter()
                .map(|h| HostKey::Exact(strip_dot(&h.to_ascii_lowercase()).into()))
                .collect(),
        ),
        Node::Leaf(..) => None,
        // Any conjunct that pins the host pins the whole conjunction.
        Node::All(children) => children.iter().filter_map(host_keys).min_by_key(Vec::len),
        // A disjunction pins the host only if every branch does.
        Node::Any(children) => {
            let mut keys = Vec::new();
            for c in children.iter() {
                keys.extend(host_keys(c)?);
            }
            keys.sort();
            keys.dedup();
            Some(keys)
        }
    }
}

/// Domains named by `Host` matchers in `rule`, lower-cased, in order.
///
/// Accepts matcher names of both syntaxes and does not check arguments;
/// fails on a grammar error or an unknown matcher name. Useful to know
/// which certificates a router needs.
pub fn parse_domains(rule: &str) -> Result<Vec<String>, RuleError> {
    fn walk(e: &Expr, rule: &str, out: &mut Vec<String>) -> Result<(), RuleError> {
        match e {
            Expr::Call(c) => {
                if canonical(&c.name, V3_HTTP).is_none() && canonical(&c.name, V2_HTTP).is_none() {
                    return Err(RuleError::UnknownMatcher {
                        column: column(rule, c.offset),
                        name: c.name.clone(),
                        hint: closest(&c.name, V3_HTTP).map(|n| format!("did you mean `{n}`?")),
                    });
                }
                if c.name.eq_ignore_ascii_case("Host") {
                    out.extend(c.args.iter().map(|a| a.to_lowercase()));
                }
                Ok(())
            }
            Expr::Not(inner) => walk(inner, rule, out),
            Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|x| walk(x, rule, out)),
        }
    }
    let mut out = Vec::new();
    walk(&parse_expr(rule)?, rule, &mut out)?;
    Ok(out)
}
