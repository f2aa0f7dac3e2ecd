//! Behaviour tests for rules and route tables.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ::http::{HeaderMap, Method};

use crate::*;

struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    client_ip: Option<IpAddr>,
}

impl Req {
    fn new(host: &str, path_and_query: &str) -> Req {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path_and_query, None),
        };
        Req {
            method: Method::GET,
            host: request_host(host).into_owned(),
            path: routing_path(path).into_owned(),
            query,
            headers: HeaderMap::new(),
            client_ip: Some("10.0.0.1".parse().unwrap()),
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Req {
        self.headers.append(name, value.parse().unwrap());
        self
    }

    fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_ip: self.client_ip,
        }
    }
}

fn matches(rule: &str, req: &Req) -> bool {
    HttpRule::parse(rule, Syntax::V3)
        .unwrap()
        .matches(&req.info())
}

fn err(rule: &str, syntax: Syntax) -> String {
    HttpRule::parse(rule, syntax).unwrap_err().to_string()
}

#[test]
fn rules_are_send_and_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<HttpRule>();
    assert::<TcpRule>();
    assert::<RouteTable<String>>();
    assert::<TcpRouteTable<String>>();
}

#[test]
fn boolean_logic() {
    let r = Req::new("example.com", "/css/x");
    assert!(matches("Host(`example.com`) && PathPrefix(`/css`)", &r));
    assert!(!matches("Host(`example.com`) && !PathPrefix(`/css`)", &r));
    assert!(matches("!(Host(`a`) || Host(`b`)) && Method(`get`)", &r));
    assert!(matches(
        "Host(`a`) || Host(`b`) || PATHPREFIX(\"/css\")",
        &r
    ));
    assert!(!matches("!(!(Host(`a`)))", &r));
}

#[test]
fn matchers() {
    let r = Req::new(
        "API.Example.com:8443",
        "/v1/users%20list?id=42&tag=a+b&tag=c",
    )
    .header("x-env", "prod")
    .header("accept", "text/html");
    assert!(matches("Host(`api.example.com`)", &r));
    assert!(matches("Host(`*.example.com`)", &r));
    assert!(matches("HostRegexp(`^api\\.`)", &r));
    assert!(matches("Path(`/v1/users list`)", &r));
    assert!(matches("PathRegexp(`^/v\\d+/`)", &r));
    assert!(matches("Header(`X-Env`, `prod`)", &r));
    assert!(!matches("Header(`X-Env`, `Prod`)", &r));
    assert!(matches("HeaderRegexp(`Accept`, `html`)", &r));
    assert!(matches("Query(`tag`, `a b`) && Query(`tag`, `c`)", &r));
    assert!(matches("QueryRegexp(`id`, `^\\d+$`)", &r));
    assert!(!matches("Query(`id`)", &r));
    assert!(matches("ClientIP(`10.0.0.0/8`)", &r));
    assert!(!matches("ClientIP(`::1`)", &r));
}

#[test]
fn v2_syntax() {
    let r = Req::new("foo.bar.com", "/css-12/x?q=nginx").header("X-A", "1");
    let m = |rule: &str| {
        HttpRule::parse(rule, Syntax::V2)
            .unwrap()
            .matches(&r.info())
    };
    assert!(m("Host(`x`, `FOO.bar.com`)"));
    assert!(m("HostRegexp(`{sub:[a-z]+}.bar.com`)"));
    assert!(m("HostRegexp(`nope`, `{sub:[a-z]+}.bar.com`)"));
    assert!(m("HostRegexp(`foo.bar.com`)"));
    assert!(!m("HostRegexp(`foo.bar.co.`)"));
    assert!(m("PathPrefix(`/css-{n:[0-9]+}`)"));
    assert!(m("Path(`/css-{n}/x`)"));
    assert!(m("Headers(`X-A`, `1`)"));
    assert!(!m("Headers(`X-A`, `1`, `X-B`, `2`)"));
    assert!(m("Query(`q={v:(nginx|traefik)}`)"));
    assert!(m("Query(`q=`)"));
    assert!(!m("Query(`q=other`)"));
}

#[test]
fn errors_are_actionable() {
    assert_eq!(
        err("Hots(`a`)", Syntax::V3),
        "at column 1: unknown matcher `Hots`; did you mean `Host`?"
    );
    assert!(
        err("Host(`a`) && Headers(`X`, `y`)", Syntax::V3)
            .contains("column 14: unknown matcher `Headers`; Headers is not available in rule syntax v3: use Header, or set the router's ruleSyntax to v2")
    );
    assert!(err("PathRegexp(`/x`)", Syntax::V2).contains("ruleSyntax to v3"));
    assert_eq!(
        err("Host(`a`, `b`)", Syntax::V3),
        "at column 1: Host expects exactly one argument, got 2"
    );
    assert!(err("Path(`css`)", Syntax::V3).contains("must start with '/'"));
    assert!(err("PathRegexp(`(x`)", Syntax::V3).contains("invalid regular expression"));
    assert!(err("Host(`é.com`)", Syntax::V3).contains("punycode"));
    assert!(err("Host(``)", Syntax::V3).contains("no empty argument"));
    assert!(err("ClientIP(`1`)", Syntax::V3).contains("CIDR"));
    assert!(err("Host(`a`) &&", Syntax::V3).contains("column 13: expected"));
    assert!(err("Method(`GET`) & Path(`/`)", Syntax::V3).contains("`&&`"));
    assert!("v4".parse::<Syntax>().is_err());
    assert_eq!("V2".parse::<Syntax>().unwrap(), Syntax::V2);
}

struct Canary(bool);

impl CustomMatcher for Canary {
    fn matches(&self, _req: &RequestInfo<'_>) -> bool {
        self.0
    }
}

struct Plugins;

impl CustomResolver for Plugins {
    fn resolve(
        &self,
        name: &str,
        args: &[String],
    ) -> Option<Result<Arc<dyn CustomMatcher>, String>> {
        if !name.eq_ignore_ascii_case("Plugin") {
            return None;
        }
        Some(match args {
            [a] if a == "canary" => Ok(Arc::new(Canary(true))),
            [a] if a == "off" => Ok(Arc::new(Canary(false))),
            _ => Err("expected `canary` or `off`".into()),
        })
    }
}

#[test]
fn custom_matchers() {
    let r = Req::new("a", "/");
    let parse = |rule: &str| HttpRule::parse_with(rule, Syntax::V3, &Plugins);
    assert!(
        parse("Host(`a`) && Plugin(`canary`)")
            .unwrap()
            .matches(&r.info())
    );
    assert!(
        parse("Plugin(`off`) || !Plugin(`off`)")
            .unwrap()
            .matches(&r.info())
    );
    let e = parse("Plugin(`x`)").unwrap_err().to_string();
    assert_eq!(
        e,
        "at column 1: matcher Plugin rejected its arguments: expected `canary` or `off`"
    );
    assert!(matches!(
        parse("Other(`x`)"),
        Err(RuleError::UnknownMatcher { .. })
    ));
    assert!(HttpRule::parse("Plugin(`canary`)", Syntax::V3).is_err());
}

/// Small deterministic generator for the randomized comparison.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn host_index_agrees_with_linear_scan() {
    let hosts = ["a.test", "b.test", "x.a.test", "c.test", "A.TEST.", "other"];
    let shapes = [
        "Host(`{h}`)",
        "Host(`{h}`) && PathPrefix(`/api`)",
        "Host(`{h}`) || Host(`c.test`)",
        "Host(`*.a.test`)",
        "Host(`**.test`) && Method(`POST`)",
        "PathPrefix(`/api`)",
        "!Host(`{h}`) && Path(`/`)",
        "HostRegexp(`^{h}$`)",
        "(Host(`{h}`) && Path(`/x`)) || (Host(`b.test`) && Path(`/`))",
        "Host(`*`) && Query(`debug`)",
    ];
    let mut rng = Lcg(7);
    let mut routes = Vec::new();
    for i in 0..300 {
        let h = hosts[rng.next(hosts.len())].replace('.', "\\.");
        let h_plain = hosts[rng.next(hosts.len())];
        let shape = shapes[rng.next(shapes.len())];
        let rule = if shape.starts_with("HostRegexp") {
            shape.replace("{h}", &h)
        } else {
            shape.replace("{h}", h_plain)
        };
        let priority = [0, 0, 5, 100][rng.next(4)];
        let route = Route::new(
            format!("r{:03}", rng.next(50)),
            Arc::new(HttpRule::parse(&rule, Syntax::V3).unwrap()),
            priority,
            i,
        )
        .with_rank(rng.next(3) as u32);
        routes.push(route);
    }
    let table = RouteTable::new(routes);
    let paths = ["/", "/api/x", "/x", "/?debug"];
    for host in hosts
        .iter()
        .chain(&["", "z.a.test", "q.x.a.test", "C.TEST"])
    {
        for path in paths {
            for method in [Method::GET, Method::POST] {
                let mut r = Req::new(host, path);
                r.method = method;
                let info = r.info();
                let linear = table.routes().iter().find(|rt| rt.rule.matches(&info));
                let indexed = table.find(&info);
                assert_eq!(
                    linear.map(|x| x.value),
                    indexed.map(|x| x.value),
                    "host {host:?} path {path}"
                );
            }
        }
    }
}

struct Counter(Arc<AtomicUsize>);

impl CustomMatcher for Counter {
    fn matches(&self, _req: &RequestInfo<'_>) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

struct Counting(Arc<AtomicUsize>);

impl CustomResolver for Counting {
    fn resolve(
        &self,
        name: &str,
        _args: &[String],
    ) -> Option<Result<Arc<dyn CustomMatcher>, String>> {
        (name == "Count").then(|| Ok(Arc::new(Counter(self.0.clone())) as Arc<dyn CustomMatcher>))
    }
}

#[test]
fn ten_thousand_hosts_cost_one_evaluation() {
    let evaluated = Arc::new(AtomicUsize::new(0));
    let resolver = Counting(evaluated.clone());
    let routes: Vec<Route<usize>> = (0..10_000)
        .map(|i| {
            let rule = format!("Host(`x{i}.example`) && Count()");
            let rule = HttpRule::parse_with(&rule, Syntax::V3, &resolver).unwrap();
            Route::new(format!("r{i}"), Arc::new(rule), 0, i)
        })
        .collect();
    let table = RouteTable::new(routes);
    assert_eq!(table.len(), 10_000);
    let r = Req::new("X7777.example", "/");
    assert_eq!(table.find(&r.info()).map(|x| x.value), Some(7777));
    assert_eq!(evaluated.load(Ordering::Relaxed), 1);
    assert!(table.find(&Req::new("nope.example", "/").info()).is_none());
    assert_eq!(evaluated.load(Ordering::Relaxed), 1);
}

#[test]
fn priorities_and_ties() {
    let rule = |s: &str| Arc::new(HttpRule::parse(s, Syntax::V3).unwrap());
    let table = RouteTable::new(vec![
        Route::new("b", rule("PathPrefix(`/`)"), 10, 1),
        Route::new("a", rule("PathPrefix(`/`)"), 10, 2),
        Route::new("c", rule("PathPrefix(`/`)"), 10, 3).with_rank(0),
        Route::new("long", rule("PathPrefix(`/`) && Method(`GET`)"), 0, 4),
    ]);
    let names: Vec<&str> = table.routes().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["long", "a", "b", "c"]);
    assert_eq!(default_priority("Host(`example.org`)"), 19);
}

#[test]
fn tcp_rules() {
    let rule = |s: &str| TcpRule::parse(s, Syntax::V3).unwrap();
    let info = TcpRequestInfo {
        sni: Some("db.example.com"),
        alpn: &["postgresql"],
        client_ip: Some("10.1.2.3".parse().unwrap()),
    };
    assert!(rule("HostSNI(`*.example.com`) && ALPN(`postgresql`)").matches(&info));
    assert!(rule("HostSNI(`*`)").is_catch_all());
    assert!(!rule("HostSNI(`*`) && ClientIP(`1.2.3.4`)").is_catch_all());
    assert_eq!(default_tcp_priority(&rule("HostSNI(`*`)")), -1);
    let e = TcpRule::parse("Host(`a`)", Syntax::V3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP matcher"), "{e}");
    let table = TcpRouteTable::new(vec![
        TcpRoute::new("all", Arc::new(rule("HostSNI(`*`)")), 0, 0),
        TcpRoute::new("db", Arc::new(rule("HostSNI(`db.example.com`)")), 0, 1),
    ]);
    assert_eq!(table.find(&info).map(|r| r.value), Some(1));
    let plain = TcpRequestInfo::default();
    assert_eq!(table.find(&plain).map(|r| r.value), Some(0));
}
