//! Route tables: priority order plus a host index.

use std::sync::Arc;

use crate::index::{HostIndex, sort_routes};
use crate::{HttpRule, RequestInfo, default_priority};

/// One HTTP router.
#[derive(Debug, Clone)]
pub struct Route<T> {
    /// Router name; breaks ties between equal priority and rank.
    pub name: String,
    /// The compiled rule.
    pub rule: Arc<HttpRule>,
    /// Configured priority; `0` means unset, and the table then uses
    /// [`default_priority`] of the rule (its length). Higher wins.
    pub priority: i64,
    /// Tie-break among equal priorities; lower wins. Use it for provider
    /// precedence (the provider's index in the precedence list, and
    /// `u32::MAX` for unlisted providers). Defaults to `0`.
    pub rank: u32,
    /// What the caller attaches to the router (service, middlewares...).
    pub value: T,
}

impl<T> Route<T> {
    /// A route with rank `0`.
    pub fn new(name: impl Into<String>, rule: Arc<HttpRule>, priority: i64, value: T) -> Self {
        Route {
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

    /// The priority the table sorts by: `priority`, or the rule length when
    /// `priority` is `0`.
    pub fn effective_priority(&self) -> i64 {
        if self.priority == 0 {
            default_priority(self.rule.source())
        } else {
            self.priority
        }
    }
}

/// HTTP routes in priority order, with a host index.
///
/// [`RouteTable::find`] returns the first route, in order of effective
/// priority (descending), then rank (ascending), then name (ascending),
/// then insertion order, whose rule matches. Routes whose rule requires
/// one of a set of hosts (``Host(`a`)``, ``Host(`a`) && Path(`/x`)``,
/// ``Host(`a`) || Host(`*.b`)``...) are indexed by host, so a lookup only
/// evaluates the routes of the request's host plus the routes that do not
/// pin a host. The answer is the same as a linear scan.
#[derive(Debug)]
pub struct RouteTable<T> {
    routes: Vec<Route<T>>,
    index: HostIndex,
}

impl<T> RouteTable<T> {
    /// Sorts the routes and builds the index.
    pub fn new(routes: Vec<Route<T>>) -> Self {
        let routes = sort_routes(routes, |r| (r.effective_priority(), r.rank, &r.name));
        let index = HostIndex::build(routes.iter().map(|r| r.rule.host_keys()));
        RouteTable { routes, index }
    }

    /// The highest-priority route whose rule matches `req`.
    pub fn find(&self, req: &RequestInfo<'_>) -> Option<&Route<T>> {
        self.index
            .first(req.host, |i| self.routes[i].rule.matches(req))
            .map(|i| &self.routes[i])
    }

    /// Routes in the order `find` tries them.
    pub fn routes(&self) -> &[Route<T>] {
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

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable::new(Vec::new())
    }
}
