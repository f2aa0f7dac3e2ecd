//! Conformance of TCP rules with Traefik's own tests (JSON data); see
//! `conformance.rs` for where the data is looked up.

#![allow(clippy::print_stdout)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use common::{data_dir, load, s};
use serde_json::Value;
use wasmgate_rules::{
    Syntax, TcpRequestInfo, TcpRoute, TcpRouteTable, TcpRule, default_tcp_priority, parse_host_sni,
};

/// An owned TCP connection built from a case; [`Conn::info`] borrows it.
struct Conn {
    sni: String,
    alpn: Vec<String>,
    client_ip: Option<IpAddr>,
}

impl Conn {
    fn from_case(c: &Value, notes: &str) -> Conn {
        let conn = &c["connection"];
        let raw_sni = s(conn, "server_name");
        // Traefik's NewConnData canonicalises the server name and splits the
        // remote address; tests that build ConnData directly do neither.
        let built = notes.contains("NewConnData");
        let sni = if built {
            TcpRequestInfo::canonical_sni(raw_sni).into_owned()
        } else {
            raw_sni.to_string()
        };
        let client_ip = conn["remote_addr"].as_str().and_then(|a| {
            a.parse::<SocketAddr>()
                .map(|sa| sa.ip())
                .ok()
                .or_else(|| a.parse::<IpAddr>().ok())
        });
        let alpn = conn["alpn"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        Conn {
            sni,
            alpn,
            client_ip,
        }
    }
}

fn notes(c: &Value) -> String {
    c["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_tcp_case(c: &Value) -> Result<(), String> {
    let syntax: Syntax = s(c, "syntax").parse().map_err(|e| format!("{e}"))?;
    let parsed = TcpRule::parse(s(c, "rule"), syntax);
    if c["expect_parse_error"].as_bool() == Some(true) {
        return match parsed {
            Err(_) => Ok(()),
            Ok(_) => Err("expected a parse error, rule was accepted".into()),
        };
    }
    let rule = parsed.map_err(|e| format!("unexpected parse error: {e}"))?;
    let conn = Conn::from_case(c, &notes(c));
    let alpn: Vec<&str> = conn.alpn.iter().map(String::as_str).collect();
    let info = TcpRequestInfo {
        sni: Some(&conn.sni),
        alpn: &alpn,
        client_ip: conn.client_ip,
    };
    let expected = c["expect_match"].as_bool() == Some(true);
    let got = rule.matches(&info);
    if got != expected {
        return Err(format!(
            "expected match={expected}, got {got}; connection {}",
            c["connection"]
        ));
    }
    if s(c, "test").starts_with("Test_HostSNICatchAll") {
        let expected = c["expect_catch_all"].as_bool() == Some(true);
        if rule.is_catch_all() != expected {
            return Err(format!("expected catch-all={expected}"));
        }
    }
    Ok(())
}

#[test]
fn tcp_rule_cases() {
    let Some(dir) = data_dir() else { return };
    if !dir.join("tcp_rule_cases.json").is_file() {
        println!(
            "skipped: tcp_rule_cases.json not found in {}",
            dir.display()
        );
        return;
    }
    let data = load(&dir, "tcp_rule_cases.json");
    let cases = data["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for syntax in ["v3", "v2"] {
        let (mut pass, mut total) = (0, 0);
        for c in cases.iter().filter(|c| s(c, "syntax") == syntax) {
            total += 1;
            match run_tcp_case(c) {
                Ok(()) => pass += 1,
                Err(why) => {
                    eprintln!(
                        "FAIL [{syntax}] {} | {} | {}: {why}",
                        s(c, "source"),
                        s(c, "desc"),
                        s(c, "rule")
                    );
                    failures.push(s(c, "source").to_string());
                }
            }
        }
        println!("tcp rule conformance: {pass}/{total} ({syntax})");
    }

    let mut small = 0;
    for c in data["priority_cases"].as_array().expect("priority_cases") {
        let precedence: Vec<&str> = c["providers_precedence"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let routes: Vec<TcpRoute<String>> = c["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let rule = TcpRule::parse(s(r, "rule"), Syntax::V3).expect("rule");
                let rank = precedence
                    .iter()
                    .position(|p| *p == s(r, "provider"))
                    .map_or(u32::MAX, |i| i as u32);
                let priority = r["priority"].as_i64().unwrap_or(0);
                TcpRoute::new(
                    format!("r{i}"),
                    Arc::new(rule),
                    priority,
                    s(r, "provider").to_string(),
                )
                .with_rank(rank)
            })
            .collect();
        let table = TcpRouteTable::new(routes);
        let conn = Conn::from_case(c, "");
        let info = TcpRequestInfo {
            sni: Some(&conn.sni),
            alpn: &[],
            client_ip: conn.client_ip,
        };
        let got = table
            .find(&info)
            .map(|r| (r.rule.source(), r.value.as_str()));
        if got != Some((s(c, "expect_rule"), s(c, "expect_provider"))) {
            eprintln!("FAIL tcp priority {}: got {got:?}", s(c, "desc"));
            failures.push(s(c, "desc").to_string());
        }
        small += 1;
    }
    for c in data["rule_priority_length_cases"]
        .as_array()
        .expect("lengths")
    {
        let rule = TcpRule::parse(s(c, "rule"), Syntax::V3).expect("rule");
        if Some(default_tcp_priority(&rule)) != c["expected_priority"].as_i64() {
            eprintln!("FAIL tcp default priority of {}", s(c, "rule"));
            failures.push(s(c, "rule").to_string());
        }
        small += 1;
    }
    for c in data["parse_hostsni_cases"].as_array().expect("hostsni") {
        let got = parse_host_sni(s(c, "rule"));
        let expected: Vec<String> = c["expected_domains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        let ok = match got {
            Err(_) => c["expect_error"].as_bool() == Some(true),
            Ok(d) => c["expect_error"].as_bool() != Some(true) && d == expected,
        };
        if !ok {
            eprintln!("FAIL parse HostSNI {}: {}", s(c, "desc"), s(c, "rule"));
            failures.push(s(c, "desc").to_string());
        }
        small += 1;
    }
    println!("tcp priority, default priority and HostSNI parsing cases: {small} run");
    assert!(failures.is_empty(), "failing TCP cases: {failures:?}");
}
