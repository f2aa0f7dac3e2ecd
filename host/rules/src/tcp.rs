//! TCP router rules: HostSNI, HostSNIRegexp, ClientIP and ALPN.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use regex::Regex;

use crate::error::{RuleError, closest, column};
use crate::host::HostPattern;
use crate::http::Args;
use crate::index::HostKey;
use crate::ip::IpSet;
use crate::parser::{Call, Expr, parse_expr};
use crate::rule::{V2_HTTP, V3_HTTP, canonical, check_args, unknown_hint};
use crate::template::{self, Kind, Template};
use crate::tree::{Leaf, Node};
use crate::{Syntax, default_priority};

/// TCP matchers (the same in both syntaxes; v2 takes several values).
pub(crate) const TCP: &[&str] = &["HostSNI", "HostSNIRegexp", "ClientIP", "ALPN"];

/// ALPN protocol reserved for ACME TLS challenges; routers may not claim it.
const ACME_TLS_ALPN: &str = "acme-tls/1";

/// What TCP rules look at in a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpRequestInfo<'a> {
    /// TLS server name, see [`TcpRequestInfo::canonical_sni`]; `None` or
    /// empty when the client sent none (or the connection is not TLS).
    pub sni: Option<&'a str>,
    /// ALPN protocols offered by the client.
    pub alpn: &'a [&'a str],
    /// Address of the client, if known.
    pub client_ip: Option<IpAddr>,
}

impl TcpRequestInfo<'_> {
    /// Normalises a TLS server name for [`TcpRequestInfo::sni`]: trimmed
    /// and lower-cased. Borrows when nothing changes.
    pub fn canonical_sni(server_name: &str) -> Cow<'_, str> {
        crate::host::lowercase(server_name.trim())
    }

    fn server_name(&self) -> &str {
        self.sni.unwrap_or("")
    }
}

/// One compiled TCP matcher.
#[derive(Debug)]
pub(crate) enum TcpMatcher {
    /// SNI equal to a pattern; `any_even_empty` also accepts no SNI.
    HostSni {
        patterns: Box<[HostPattern]>,
        any_even_empty: bool,
    },
    /// SNI matching the regexp.
    HostSniRegexp(Regex),
    /// Client address in the set.
    ClientIp(IpSet),
    /// One of the offered protocols is one of these.
    Alpn(Box<[Box<str>]>),
}

impl Leaf<TcpRequestInfo<'_>> for TcpMatcher {
    fn eval(&self, req: &TcpRequestInfo<'_>) -> bool {
        match self {
            TcpMatcher::HostSni {
                patterns,
                any_even_empty,
            } => *any_even_empty || patterns.iter().any(|p| p.matches(req.server_name())),
            TcpMatcher::HostSniRegexp(re) => re.is_match(req.server_name()),
            TcpMatcher::ClientIp(set) => req.client_ip.is_some_and(|ip| set.contains(ip)),
            TcpMatcher::Alpn(protos) => req
                .alpn
                .iter()
                .any(|offered| protos.iter().any(|p| **p == **offered)),
        }
    }

    fn cost(&self) -> u32 {
        match self {
            TcpMatcher::HostSni { .. } | TcpMatcher::Alpn(_) => 1,
            TcpMatcher::ClientIp(_) => 2,
            TcpMatcher::HostSniRegexp(_) => 10,
        }
    }
}

/// Checks a HostSNI value: a host name, an IP address, or (v3) `*.name`.
fn sni_pattern(a: &Args<'_>, value: &str, wildcards: bool) -> Result<HostPattern, RuleError> {
    a.ascii(value)?;
    if value == "*" {
        return Ok(HostPattern::Any);
    }
    let name = if wildcards {
        value.strip_prefix("*.").unwrap_or(value)
    } else {
        value
    };
    let hostname = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !hostname && name.parse::<IpAddr>().is_err() {
        let what = if wildcards {
            "expected a host name, an IP address, `*` or `*.example.com`"
        } else {
            "expected a host name, an IP address or `*`"
        };
        return Err(a.invalid(value, what));
    }
    HostPattern::parse(value, wildcards).map_err(|e| a.invalid(value, e))
}

fn build(a: &Args<'_>, syntax: Syntax) -> Result<TcpMatcher, RuleError> {
    if syntax == Syntax::V3 {
        a.count(&[1], "exactly one argument")?;
    }
    let args = a.args;
    Ok(match a.name {
        "HostSNI" => {
            let patterns = args
                .iter()
                .map(|v| sni_pattern(a, v, syntax == Syntax::V3))
                .collect::<Result<Box<[_]>, _>>()?;
            TcpMatcher::HostSni {
                any_even_empty: matches!(patterns.first(), Some(HostPattern::Any)),
                patterns,
            }
        }
        "HostSNIRegexp" => {
            for v in args {
                a.ascii(v)?;
            }
            if syntax == Syntax::V3 {
                TcpMatcher::HostSniRegexp(a.regex(&args[0])?)
            } else {
                let mut patterns = Vec::with_capacity(args.len());
                for v in args {
                    patterns.push(match template::compile(v, Kind::Host) {
                        Ok(Template::Pattern(p)) => p,
                        Ok(Template::Literal(l)) => format!("(?i)^{}$", regex::escape(&l)),
                        Err(e) => return Err(a.invalid(v, e)),
                    });
                }
                let re = template::alternation(&patterns).map_err(|e| a.invalid(&args[0], e))?;
                TcpMatcher::HostSniRegexp(re)
            }
        }
        "ClientIP" => TcpMatcher::ClientIp(a.ips()?),
        "ALPN" => {
            if let Some(bad) = args.iter().find(|p| p.as_str() == ACME_TLS_ALPN) {
                return Err(a.invalid(bad, "this protocol is reserved for ACME TLS challenges"));
            }
            TcpMatcher::Alpn(args.iter().map(|p| p.as_str().into()).collect())
        }
        other => unreachable!("not a TCP matcher: {other}"),
    })
}

/// A compiled TCP router rule. `Send + Sync`.
pub struct TcpRule {
    source: Box<str>,
    syntax: Syntax,
    root: Node<TcpMatcher>,
    catch_all: bool,
}

impl fmt::Debug for TcpRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpRule")
            .field("source", &self.source)
            .field("syntax", &self.syntax)
            .field("catch_all", &self.catch_all)
            .finish_non_exhaustive()
    }
}

impl TcpRule {
    /// Parses and compiles a TCP rule.
    pub fn parse(rule: &str, syntax: Syntax) -> Result<TcpRule, RuleError> {
        let expr = parse_expr(rule)?;
        let mut leaf = |call: &Call| -> Result<TcpMatcher, RuleError> {
            let col = column(rule, call.offset);
            let Some(name) = canonical(&call.name, TCP) else {
                let http =
                    canonical(&call.name, V3_HTTP).or_else(|| canonical(&call.name, V2_HTTP));
                let hint = match http {
                    Some(n) => Some(format!(
                        "{n} is an HTTP matcher; TCP rules accept {}",
                        TCP.join(", ")
                    )),
                    None => unknown_hint(&call.name, TCP, &[], syntax, &[]),
                };
                return Err(RuleError::UnknownMatcher {
                    column: col,
                    name: call.name.clone(),
                    hint,
                });
            };
            check_args(call, rule)?;
            build(
                &Args {
                    name,
                    args: &call.args,
                    column: col,
                },
                syntax,
            )
        };
        let root = Node::compile::<TcpRequestInfo<'_>>(&expr, &mut leaf)?;
        let catch_all = matches!(&expr, Expr::Call(c)
            if c.name.eq_ignore_ascii_case("HostSNI") && c.args.len() == 1 && c.args[0] == "*");
        Ok(TcpRule {
            source: rule.into(),
            syntax,
            root,
            catch_all,
        })
    }

    /// Whether the connection matches.
    #[inline]
    pub fn matches(&self, req: &TcpRequestInfo<'_>) -> bool {
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

    /// Whether the rule is exactly ``HostSNI(`*`)``: the catch-all that also
    /// accepts non-TLS connections.
    pub fn is_catch_all(&self) -> bool {
        self.catch_all
    }

    /// Host names one of which the SNI must be for the rule to match.
    pub(crate) fn host_keys(&self) -> Option<Vec<HostKey>> {
        host_keys(&self.root)
    }
}

fn host_keys(node: &Node<TcpMatcher>) -> Option<Vec<HostKey>> {
    match node {
        Node::Leaf(
            TcpMatcher::HostSni {
                patterns,
                any_even_empty: false,
            },
            false,
        ) => patterns
            .iter()
            .map(|p| match p {
                HostPattern::Exact(h) => Some(HostKey::Exact(h.clone())),
                HostPattern::OneLabel(s) => Some(HostKey::Parent(s.clone())),
                HostPattern::Any | HostPattern::AnyLabels(_) => None,
            })
            .collect(),
        Node::Leaf(..) => None,
        Node::All(children) => children.iter().filter_map(host_keys).min_by_key(Vec::len),
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

/// Default TCP router priority: the rule length, except `-1` for the
/// catch-all ``HostSNI(`*`)`` so that it is tried last.
pub fn default_tcp_priority(rule: &TcpRule) -> i64 {
    if rule.is_catch_all() {
        -1
    } else {
        default_priority(rule.source())
    }
}

/// Server names named by `HostSNI` matchers in a TCP rule, lower-cased.
///
/// Does not check arguments; fails on a grammar error or an unknown
/// matcher name.
pub fn parse_host_sni(rule: &str) -> Result<Vec<String>, RuleError> {
    fn walk(e: &Expr, rule: &str, out: &mut Vec<String>) -> Result<(), RuleError> {
        match e {
            Expr::Call(c) => {
                if canonical(&c.name, TCP).is_none() {
                    return Err(RuleError::UnknownMatcher {
                        column: column(rule, c.offset),
                        name: c.name.clone(),
                        hint: closest(&c.name, TCP).map(|n| format!("did you mean `{n}`?")),
                    });
                }
                if c.name.eq_ignore_ascii_case("HostSNI") {
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
