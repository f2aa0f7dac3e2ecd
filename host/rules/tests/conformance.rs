//! Conformance with Traefik's own rule tests (transcribed as JSON data).
//!
//! The data lives outside the repository; set `WASMGATE_CONFORMANCE_DIR`
//! or place it at `<workspace>/../shared/conformance/traefik`. Without it
//! the tests print a "skipped" line and pass.

#![allow(clippy::print_stdout)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use common::{data_dir, load, s};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use wasmgate_rules::{
    Expr, HttpRule, RequestInfo, Route, RouteTable, Syntax, default_priority, parse_domains,
    parse_expr, request_host, request_host_of, routing_path,
};

/// Cases that no real client can trigger, matched by source and desc.
///
/// Traefik's header tests put a lower-case key straight into Go's
/// `http.Header` map, bypassing Go's canonicalisation, and expect the
/// canonical-key lookup to miss it. On the wire header names are
/// case-insensitive (and Go's server canonicalises them), so a real request
/// with that header does match; `http::HeaderMap` has the same semantics.
const GO_HEADER_MAP_ARTEFACT: &str =
    "lower-case key inserted directly into Go's header map; real requests match";
const EXCLUDED: &[(&str, &str, &str)] = &[
    (
        "pkg/muxer/http/matcher_test.go:695",
        "valid Header matcher",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_test.go:706",
        "valid Header matcher (non-canonical form)",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_test.go:787",
        "valid HeaderRegexp matcher",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_test.go:799",
        "valid HeaderRegexp matcher (non-canonical form)",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_v2_test.go:638",
        "valid Header matcher",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_v2_test.go:649",
        "valid Header matcher (non-canonical form)",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_v2_test.go:730",
        "valid HeaderRegexp matcher",
        GO_HEADER_MAP_ARTEFACT,
    ),
    (
        "pkg/muxer/http/matcher_v2_test.go:742",
        "valid HeaderRegexp matcher (non-canonical form)",
        GO_HEADER_MAP_ARTEFACT,
    ),
];

/// An owned request built from a case; [`Req::info`] borrows it.
struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    client_ip: Option<IpAddr>,
}

impl Req {
    fn from_case(r: &Value) -> Req {
        let method = Method::from_bytes(s(r, "method").as_bytes()).expect("method");
        let mut headers = HeaderMap::new();
        if let Some(h) = r["headers"].as_object() {
            for (name, values) in h {
                let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
                for v in values.as_array().into_iter().flatten() {
                    let v = HeaderValue::from_str(v.as_str().unwrap_or("")).expect("value");
                    headers.append(name.clone(), v);
                }
            }
        }
        let host = match r["request_target"].as_str() {
            // Raw request: the authority of an absolute-form target wins.
            Some(target) => {
                let uri: http::Uri = target.parse().unwrap_or_else(|_| {
                    // `http://@/` (empty host) is not a valid `http::Uri`.
                    "/".parse().expect("uri")
                });
                request_host_of(&uri, &headers).into_owned()
            }
            None => request_host(s(r, "host")).into_owned(),
        };
        let client_ip = match r["remote_addr"].as_str() {
            None => Some(IpAddr::from([192, 0, 2, 1])),
            Some(a) => a
                .parse::<SocketAddr>()
                .map(|sa| sa.ip())
                .ok()
                .or_else(|| a.parse::<IpAddr>().ok()),
        };
        Req {
            method,
            host,
            path: routing_path(s(r, "path")).into_owned(),
            query: r["query"].as_str().map(str::to_string),
            headers,
            client_ip,
        }
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

/// Runs one rule case; `Err` describes the failure.
fn run_case(c: &Value) -> Result<(), String> {
    let syntax: Syntax = s(c, "syntax").parse().map_err(|e| format!("{e}"))?;
    let parsed = HttpRule::parse(s(c, "rule"), syntax);
    if c["expect_parse_error"].as_bool() == Some(true) {
        return match parsed {
            Err(_) => Ok(()),
            Ok(_) => Err("expected a parse error, rule was accepted".into()),
        };
    }
    let rule = parsed.map_err(|e| format!("unexpected parse error: {e}"))?;
    let req = Req::from_case(&c["request"]);
    let expected = c["expect_match"].as_bool() == Some(true);
    let got = rule.matches(&req.info());
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "expected match={expected}, got {got}; request {}",
            c["request"]
        ))
    }
}

#[test]
fn http_rule_cases() {
    let Some(dir) = data_dir() else { return };
    let data = load(&dir, "http_rule_cases.json");
    let cases = data["cases"].as_array().expect("cases");
    let mut unexpected = Vec::new();
    let mut excluded_hits = vec![0; EXCLUDED.len()];
    for syntax in ["v3", "v2"] {
        let (mut pass, mut total) = (0, 0);
        for c in cases.iter().filter(|c| s(c, "syntax") == syntax) {
            total += 1;
            match run_case(c) {
                Ok(()) => pass += 1,
                Err(why) => {
                    let excluded = EXCLUDED
                        .iter()
                        .position(|(src, desc, _)| *src == s(c, "source") && *desc == s(c, "desc"));
                    let tag = match excluded {
                        Some(i) => {
                            excluded_hits[i] += 1;
                            format!("EXCLUDED ({})", EXCLUDED[i].2)
                        }
                        None => {
                            unexpected.push(s(c, "source").to_string());
                            "FAIL".to_string()
                        }
                    };
                    eprintln!(
                        "{tag} [{syntax}] {} | {} | {}: {why}",
                        s(c, "source"),
                        s(c, "desc"),
                        s(c, "rule")
                    );
                }
            }
        }
        println!("http rule conformance: {pass}/{total} ({syntax})");
    }
    assert!(unexpected.is_empty(), "failing cases: {unexpected:?}");
    for (i, hits) in excluded_hits.iter().enumerate() {
        assert_eq!(
            *hits, 1,
            "exclusion {:?} should match exactly one failing case",
            EXCLUDED[i]
        );
    }
}

#[test]
fn http_priority_cases() {
    let Some(dir) = data_dir() else { return };
    let data = load(&dir, "http_rule_cases.json");
    let cases = data["priority_cases"].as_array().expect("priority_cases");
    let mut failures = Vec::new();
    for c in cases {
        let precedence: Vec<&str> = c["providers_precedence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let routes = c["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .map(|r| {
                let rule = HttpRule::parse(s(r, "rule"), Syntax::V3).expect("rule");
                let rank = precedence
                    .iter()
                    .position(|p| *p == s(r, "provider"))
                    .map_or(u32::MAX, |i| i as u32);
                let priority = r["priority"].as_i64().unwrap_or(0);
                Route::new(s(r, "id"), Arc::new(rule), priority, ()).with_rank(rank)
            })
            .collect();
        let table = RouteTable::new(routes);
        let req = Req::from_case(&c["request"]);
        let got = table.find(&req.info()).map(|r| r.name.as_str());
        if got != Some(s(c, "expect_route")) {
            eprintln!(
                "FAIL priority {} ({}): got {got:?}",
                s(c, "desc"),
                s(c, "source")
            );
            failures.push(s(c, "desc").to_string());
        }
    }
    println!(
        "http priority conformance: {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn http_small_cases() {
    let Some(dir) = data_dir() else { return };
    let data = load(&dir, "http_rule_cases.json");
    for c in data["routing_path_cases"]
        .as_array()
        .expect("routing_path_cases")
    {
        assert_eq!(
            routing_path(s(c, "request_path")),
            s(c, "expected_routing_path"),
            "{}",
            s(c, "desc")
        );
    }
    for c in data["rule_priority_length_cases"]
        .as_array()
        .expect("lengths")
    {
        assert_eq!(
            Some(default_priority(s(c, "rule"))),
            c["expected_priority"].as_i64()
        );
    }
    for c in data["parse_domains_cases"].as_array().expect("domains") {
        let got = parse_domains(s(c, "rule"));
        if c["expect_error"].as_bool() == Some(true) {
            assert!(got.is_err(), "{}", s(c, "desc"));
            continue;
        }
        let expected: Vec<String> = c["expected_domains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        assert_eq!(got.expect("domains"), expected, "{}", s(c, "desc"));
    }
    println!("http small cases: routing path, priority length and parse domains pass");
}

/// Traefik's parser tree: `!` pushed to the leaves, binary and/or.
fn tree(e: &Expr, not: bool) -> Value {
    match e {
        Expr::Call(c) => serde_json::json!({
            "matcher": c.name.to_lowercase(),
            "not": not,
            "value": c.args,
            "check_err": c.args.is_empty() || c.args.iter().any(String::is_empty),
        }),
        Expr::Not(inner) => tree(inner, !not),
        Expr::And(v) | Expr::Or(v) => {
            let and = matches!(e, Expr::And(_)) != not;
            let mut it = v.iter().map(|x| tree(x, not));
            let first = it.next().expect("operand");
            it.fold(first, |left, right| {
                serde_json::json!({"matcher": if and { "and" } else { "or" }, "left": left, "right": right})
            })
        }
    }
}

/// Drops fields our tree does not model (and/or `check_err`, null children).
fn normalise(v: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let m = v["matcher"].as_str().unwrap_or("");
    out.insert("matcher".into(), Value::from(m));
    if m == "and" || m == "or" {
        out.insert("left".into(), normalise(&v["left"]));
        out.insert("right".into(), normalise(&v["right"]));
    } else {
        for k in ["not", "value", "check_err"] {
            out.insert(k.into(), v[k].clone());
        }
    }
    Value::Object(out)
}

fn leaf_values(v: &Value, name: &str, out: &mut Vec<String>) {
    match v["matcher"].as_str() {
        Some("and" | "or") => {
            leaf_values(&v["left"], name, out);
            leaf_values(&v["right"], name, out);
        }
        Some(m) if m == name => {
            out.extend(
                v["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(str::to_string)),
            );
        }
        _ => {}
    }
}

#[test]
fn rule_parser_cases() {
    let Some(dir) = data_dir() else { return };
    let data = load(&dir, "http_rule_cases.json");
    let cases = data["rule_parser_cases"]
        .as_array()
        .expect("rule_parser_cases");
    let mut failures = Vec::new();
    for c in cases {
        let known: Vec<&str> = c["known_matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let parsed = parse_expr(s(c, "rule")).and_then(|e| {
            let t = tree(&e, false);
            let mut names = Vec::new();
            collect_names(&t, &mut names);
            match names
                .iter()
                .find(|n| !known.iter().any(|k| k.eq_ignore_ascii_case(n)))
            {
                Some(n) => Err(wasmgate_rules::RuleError::UnknownMatcher {
                    column: 1,
                    name: n.clone(),
                    hint: None,
                }),
                None => Ok(t),
            }
        });
        let ok = match (&parsed, c["expect_parse_error"].as_bool() == Some(true)) {
            (Err(_), true) => true,
            (Ok(t), false) => {
                let mut ok = normalise(t) == normalise(&c["expected_tree"]);
                if let Some(query) = c["parse_matchers_query"].as_array() {
                    let mut got = Vec::new();
                    for q in query.iter().filter_map(Value::as_str) {
                        leaf_values(t, q, &mut got);
                    }
                    let expected: Vec<String> = c["parse_matchers_expected_values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect();
                    ok &= got == expected;
                }
                ok
            }
            _ => false,
        };
        if !ok {
            eprintln!(
                "FAIL parser {} ({}): {parsed:?}",
                s(c, "desc"),
                s(c, "rule")
            );
            failures.push(s(c, "desc").to_string());
        }
    }
    println!(
        "rule parser conformance: {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
}

fn collect_names(v: &Value, out: &mut Vec<String>) {
    match v["matcher"].as_str() {
        Some("and" | "or") => {
            collect_names(&v["left"], out);
            collect_names(&v["right"], out);
        }
        Some(m) => out.push(m.to_string()),
        None => {}
    }
}
