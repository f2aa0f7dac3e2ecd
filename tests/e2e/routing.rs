//! Router matching as a user sees it: which backend answers which request.

use crate::support::{TestGateway, lb};
use wasmgate_test_harness::{BACKEND_HEADER, HttpBackend, get};

#[tokio::test]
async fn rules_and_priorities_pick_the_right_backend() {
    let a = HttpBackend::builder("a").start().await;
    let b = HttpBackend::builder("b").start().await;
    let c = HttpBackend::builder("c").start().await;
    let d = HttpBackend::builder("d").start().await;
    let dynamic = format!(
        r#"
http:
  routers:
    host-only:
      rule: "Host(`a.test`)"
      service: a
    host-and-api:
      rule: "Host(`a.test`) && PathPrefix(`/api`)"
      service: b
    fallback:
      rule: "PathPrefix(`/`)"
      priority: 1
      service: c
    admin-explicit:
      rule: "PathPrefix(`/api/admin`) || Header(`X-Admin`, `yes`)"
      priority: 10000
      service: d
    methods:
      rule: "Host(`m.test`) && Method(`POST`) && !Query(`dry`, `1`)"
      service: d
  services:
{}{}{}{}"#,
        lb("a", &[&a.url()]),
        lb("b", &[&b.url()]),
        lb("c", &[&c.url()]),
        lb("d", &[&d.url()])
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let backend = |h: &http::HeaderMap| h[BACKEND_HEADER].to_str().unwrap().to_owned();

    let (_, h, _) = get(&client, "http://a.test/x").await.unwrap();
    assert_eq!(backend(&h), "a", "Host rule");
    let (_, h, _) = get(&client, "http://A.TEST:80/api/users").await.unwrap();
    assert_eq!(
        backend(&h),
        "b",
        "longer rule wins; host is case-insensitive and port-less"
    );
    let (_, h, _) = get(&client, "http://other.test/").await.unwrap();
    assert_eq!(backend(&h), "c", "fallback");
    let (_, h, _) = get(&client, "http://a.test/api/admin/x").await.unwrap();
    assert_eq!(backend(&h), "d", "explicit priority beats rule length");

    let req = http::Request::get("http://other.test/")
        .header("x-admin", "yes")
        .body(wasmgate_test_harness::empty())
        .unwrap();
    let (_, h, _) = wasmgate_test_harness::send(&client, req).await.unwrap();
    assert_eq!(backend(&h), "d", "Header matcher");

    let post = |uri: &str| {
        http::Request::post(uri)
            .body(wasmgate_test_harness::full("x"))
            .unwrap()
    };
    let (_, h, _) = wasmgate_test_harness::send(&client, post("http://m.test/run"))
        .await
        .unwrap();
    assert_eq!(backend(&h), "d", "Method matcher");
    let (_, h, _) = wasmgate_test_harness::send(&client, post("http://m.test/run?dry=1"))
        .await
        .unwrap();
    assert_eq!(backend(&h), "c", "negated Query matcher falls through");
}

#[tokio::test]
async fn no_matching_router_is_404() {
    let a = HttpBackend::builder("a").start().await;
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`only.test`)\"\n      service: a\n  services:\n{}",
        lb("a", &[&a.url()])
    );
    let gw = TestGateway::start(&dynamic).await;
    let (status, _, _) = get(&gw.client(), "http://elsewhere.test/").await.unwrap();
    assert_eq!(status, 404);
    assert_eq!(a.requests(), 0);
}

#[tokio::test]
async fn ten_thousand_host_routers_route_correctly() {
    let a = HttpBackend::builder("a").start().await;
    let b = HttpBackend::builder("b").start().await;
    let mut dynamic = String::from("http:\n  routers:\n");
    for i in 0..10_000 {
        let svc = if i % 2 == 0 { "a" } else { "b" };
        dynamic.push_str(&format!(
            "    r{i}:\n      rule: \"Host(`h{i}.test`)\"\n      service: {svc}\n"
        ));
    }
    dynamic.push_str(&format!(
        "  services:\n{}{}",
        lb("a", &[&a.url()]),
        lb("b", &[&b.url()])
    ));
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    for i in [0, 1, 4_999, 9_998, 9_999] {
        let (status, h, _) = get(&client, &format!("http://h{i}.test/")).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(h[BACKEND_HEADER], if i % 2 == 0 { "a" } else { "b" });
    }
    let (status, _, _) = get(&client, "http://h10000.test/").await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn entrypoint_redirection_and_entrypoint_middlewares() {
    let be = HttpBackend::builder("be").start().await;
    let static_cfg = r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
    http:
      redirections:
        entryPoint:
          to: ":8443"
          scheme: https
  inner:
    address: "127.0.0.1:0"
    http:
      middlewares: [stamp@file]
providers:
  file:
    filename: dynamic.yml
"#;
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  middlewares:\n    stamp:\n      headers:\n        customRequestHeaders:\n          X-Entry: inner\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::with_static(static_cfg, &dynamic).await;
    let (status, h, _) = get(&gw.client(), "http://app.test/x?y=1").await.unwrap();
    assert_eq!(status, 301);
    assert_eq!(h["location"], "https://app.test:8443/x?y=1");
    assert_eq!(be.requests(), 0);

    let inner = gw.gateway.addr("inner").unwrap();
    let client = wasmgate_test_harness::http1_client_via(inner);
    let v = wasmgate_test_harness::get_json(&client, "http://app.test/x")
        .await
        .unwrap();
    assert_eq!(v["headers"]["x-entry"][0], "inner");
}
