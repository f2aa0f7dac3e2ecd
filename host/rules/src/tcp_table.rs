//! TCP route tables.

use std::sync::Arc;

use crate::index::{HostIndex, sort_routes};
use crate::{TcpRequestInfo, TcpRule, default_tcp_priority};

/// One TCP router.
#[derive(Debug, Clone)]
pub struct TcpRoute<T> {
    /// Router name; breaks ties between equal priority and rank.
    pub name: String,
    /// The compiled rule.
    pub rule: Arc<TcpRule>,
    /// Configured priority; `0` means unset, and the table then uses
    /// [`default_tcp_priority`]. Higher wins.
    pub priority: i64,
    /// Tie-break among equal priorities; lower wins (e.g. provider
    /// precedence index). Defaults to `0`.
    pub rank: u32,
    /// What the caller attaches to the router.
    pub value: T,
}

impl<T> TcpRoute<T> {
    /// A route with rank `0`.
    pub fn new(name: impl Into<String>, rule: Arc<TcpRule>, priority: i64, value: T) -> Self {
        TcpRoute {
            name: name.into(),
            rule,
            priority,
            rank: 0,
            value,
        }
    }

    /// Sets the tie-break rank (lower wins).
    pub fn with_rank(mut self, rank: u32) -> Self {
        self.rank = rank;
        self
    }

    /// The priority the table sorts by.
    pub fn effective_priority(&self) -> i64 {
        if self.priority == 0 {
            default_tcp_priority(&self.rule)
        } else {
            self.priority
        }
    }
}

/// TCP routes in priority order with an SNI index; see [`crate::RouteTable`]
/// for the ordering and indexing rules.
#[derive(Debug)]
pub struct TcpRouteTable<T> {
    routes: Vec<TcpRoute<T>>,
    index: HostIndex,
}

impl<T> TcpRouteTable<T> {
    /// Sorts the routes and builds the index.
    pub fn new(routes: Vec<TcpRoute<T>>) -> Self {
        let routes = sort_routes(routes, |r| (r.effective_priority(), r.rank, &r.name));
        let index = HostIndex::build(routes.iter().map(|r| r.rule.host_keys()));
        TcpRouteTable { routes, index }
    }

    /// The highest-priority route whose rule matches `req`. Check
    /// `rule.is_catch_all()` on the result to know whether only the
    /// ``HostSNI(`*`)`` catch-all matched.
    pub fn find(&self, req: &TcpRequestInfo<'_>) -> Option<&TcpRoute<T>> {
        self.index
            .first(req.sni.unwrap_or(""), |i| self.routes[i].rule.matches(req))
            .map(|i| &self.routes[i])
    }

    /// Routes in the order `find` tries them.
    pub fn routes(&self) -> &[TcpRoute<T>] {
        &self.routes
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl<T> Default for TcpRouteTable<T> {
    fn default() -> Self {
        TcpRouteTable::new(Vec::new())
    }
}
