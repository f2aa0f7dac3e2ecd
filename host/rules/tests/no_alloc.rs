//! Matching a compiled table allocates nothing once warm.
//!
//! This test binary installs a counting global allocator, so it holds a
//! single test: other tests running in parallel would disturb the count.

use std::alloc::System;
use std::sync::Arc;

use http::{HeaderMap, Method};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use wasmgate_rules::{HttpRule, RequestInfo, Route, RouteTable, Syntax};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn matching_does_not_allocate() {
    let rules = [
        "Host(`api.example.com`) && PathPrefix(`/v1`) && Method(`GET`)",
        "Host(`*.example.com`) && Header(`X-Env`, `prod`)",
        "HostRegexp(`^[a-z]+\\.example\\.org$`) || PathRegexp(`^/static/`)",
        "Query(`debug`, `1`) && QueryRegexp(`id`, `^[0-9]+$`)",
        "ClientIP(`10.0.0.0/8`) && !Path(`/admin`)",
        "HeaderRegexp(`Accept`, `json`)",
    ];
    let routes: Vec<Route<usize>> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rule = HttpRule::parse(r, Syntax::V3).expect("rule");
            Route::new(format!("r{i}"), Arc::new(rule), 0, i)
        })
        .collect();
    let mut many: Vec<Route<usize>> = (0..1000)
        .map(|i| {
            let rule =
                HttpRule::parse(&format!("Host(`h{i}.example.net`)"), Syntax::V3).expect("rule");
            Route::new(format!("h{i}"), Arc::new(rule), 0, 100 + i)
        })
        .collect();
    many.extend(routes);
    let table = RouteTable::new(many);

    let mut headers = HeaderMap::new();
    headers.insert("x-env", "prod".parse().expect("value"));
    headers.insert("accept", "application/json".parse().expect("value"));
    let get = Method::GET;
    let hosts = [
        "api.example.com",
        "Web.Example.com",
        "a.example.org",
        "h500.example.net",
        "x",
    ];
    let paths = ["/v1/users", "/static/app.js", "/admin", "/"];
    let queries = [None, Some("debug=1&id=42"), Some("id=x")];
    let run = || {
        let mut found = 0usize;
        for host in hosts {
            for path in paths {
                for query in queries {
                    let req = RequestInfo {
                        method: &get,
                        host,
                        path,
                        query,
                        headers: &headers,
                        client_ip: Some([10, 1, 2, 3].into()),
                    };
                    found += table.find(&req).map_or(0, |r| r.value);
                }
            }
        }
        found
    };
    // Warm up: the regex engine sets up its per-thread caches on first use.
    let expected = run();
    let region = Region::new(GLOBAL);
    let mut same = true;
    for _ in 0..10 {
        same &= run() == expected;
    }
    let allocated = region.change().allocations;
    assert!(same);
    assert_eq!(allocated, 0, "matching allocated {allocated} times");
}
