//! Traefik-compatible router rule language.
//!
//! Rules such as ``Host(`example.com`) && PathPrefix(`/api`)`` are parsed
//! once into an [`HttpRule`] (or a [`TcpRule`]) and then evaluated per
//! request without allocation in the common case and without compiling
//! regexps. [`RouteTable`] orders routers by priority and indexes them by
//! host so that thousands of host-based routers cost about as much as a
//! few.
//!
//! Two syntaxes are supported, as in Traefik v3: [`Syntax::V3`] (the
//! default; one value per matcher, Go regexps) and the legacy
//! [`Syntax::V2`] (several values per matcher, `{name:regexp}` templates,
//! `Headers`/`HeadersRegexp`/`HostHeader`).
//!
//! Matcher names are case-insensitive. Regexps use Go's RE2 syntax and
//! semantics (ASCII `\d`, `\w`, `\s`, `\b`; a `{` that is not a repeat is a
//! literal), translated for the `regex` crate.
//!
//! # Request inputs
//!
//! [`RequestInfo::host`] must come from [`request_host`] (or
//! [`request_host_of`]) and [`RequestInfo::path`] from [`routing_path`].

mod error;
mod goregex;
mod host;
mod http;
mod index;
mod ip;
mod lexer;
mod parser;
mod query;
mod rule;
mod table;
mod tcp;
mod tcp_table;
mod template;
mod tree;
mod v2;

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

pub use error::RuleError;
pub use host::{HostPattern, request_host, request_host_of, routing_path};
pub use ip::{IpSet, parse_range};
pub use parser::{Call, Expr, parse_expr};
pub use rule::{HttpRule, parse_domains};
pub use table::{Route, RouteTable};
pub use tcp::{TcpRequestInfo, TcpRule, default_tcp_priority, parse_host_sni};
pub use tcp_table::{TcpRoute, TcpRouteTable};

/// Rule syntax of a router (Traefik's `ruleSyntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Syntax {
    /// Current syntax: one value per matcher, Go regexps. The default.
    #[default]
    V3,
    /// Legacy Traefik v2 syntax.
    V2,
}

impl Syntax {
    /// `"v3"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Syntax::V3 => "v3",
            Syntax::V2 => "v2",
        }
    }

    pub(crate) fn other(self) -> Syntax {
        match self {
            Syntax::V3 => Syntax::V2,
            Syntax::V2 => Syntax::V3,
        }
    }
}

impl FromStr for Syntax {
    type Err = RuleError;

    /// Accepts `v3` and `v2`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("v3") {
            Ok(Syntax::V3)
        } else if s.eq_ignore_ascii_case("v2") {
            Ok(Syntax::V2)
        } else {
            Err(RuleError::UnknownSyntax(s.to_string()))
        }
    }
}

impl std::fmt::Display for Syntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What HTTP rules look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// Request method.
    pub method: &'a ::http::Method,
    /// Routing host: lower-cased, port and IPv6 brackets stripped; see
    /// [`request_host`] and [`request_host_of`]. Empty when unknown.
    pub host: &'a str,
    /// Routing path; see [`routing_path`].
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a ::http::HeaderMap,
    /// Address of the client (the TCP peer), if known.
    pub client_ip: Option<IpAddr>,
}

/// A matcher supplied by the embedder, e.g. for ``Plugin(`canary`)``.
///
/// Must be a pure predicate: rules may evaluate matchers in any order and
/// skip them when the outcome is already known.
pub trait CustomMatcher: Send + Sync {
    /// Whether the request matches.
    fn matches(&self, req: &RequestInfo<'_>) -> bool;
}

/// Resolves matcher names that are not built in (see [`HttpRule::parse_with`]).
pub trait CustomResolver {
    /// `None` if `name` is unknown; `Some(Err(message))` if the name is
    /// known but `args` are not acceptable.
    fn resolve(
        &self,
        name: &str,
        args: &[String],
    ) -> Option<Result<Arc<dyn CustomMatcher>, String>>;
}

/// Default HTTP router priority: the length of the rule in bytes.
pub fn default_priority(rule: &str) -> i64 {
    i64::try_from(rule.len()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
