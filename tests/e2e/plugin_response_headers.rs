//! Response headers a plugin queues in `on-request` (`set-response-headers`): set by the
//! gateway when the response passes back through the plugin, on the service's response or
//! the plugin's own, in chain order, before the plugin's response phase.

use crate::support::{TestGateway, get_with, lb};
use wasmgate_guest_plugins as guests;
use wasmgate_test_harness::{BACKEND_HEADER, HttpBackend, send};

fn probe(host: &str, headers: &[(&str, &str)]) -> http::Request<wasmgate_test_harness::Body> {
    get_with(&format!("http://{host}/"), headers)
}

fn value<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn queued_response_headers_reach_the_response_in_chain_order() {
    let be = HttpBackend::builder("be").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    chain:
      rule: "Host(`chain.test`)"
      middlewares: [probe, stamp]
      service: s
    answer:
      rule: "Host(`answer.test`)"
      middlewares: [probe]
      service: s
    trap:
      rule: "Host(`trap.test`)"
      middlewares: [probe-open]
      service: s
  middlewares:
    probe: {{ plugin: {{ header-probe: {{}} }} }}
    probe-open: {{ plugin: {{ probe-open: {{}} }} }}
    stamp: {{ plugin: {{ header-stamp: {{ responseHeaders: {{ x-who: stamp }} }} }} }}
  services:
{}
plugins:
  header-probe: {{ source: "{probe}" }}
  probe-open: {{ source: "{probe}", failurePolicy: failOpen }}
  header-stamp: {{ source: "{stamp}" }}
"#,
        lb("s", &[&be.url()]),
        probe = guests::HEADER_PROBE,
        stamp = guests::HEADER_STAMP,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();

    // header-probe (outer) and header-stamp (inner) both queue `x-who`: the response passes
    // back through header-stamp first, so the outer plugin's value is the one sent. A queued
    // header replaces the service's own, and a name queued twice keeps its last value.
    let queue = "x-who=probe;x-probe-order=queued;x-backend=plugin;x-multi=1;x-multi=2";
    let (status, h, _) = send(&client, probe("chain.test", &[("x-probe-queue", queue)]))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(value(&h, "x-who"), Some("probe"), "outer plugin last");
    assert_eq!(
        value(&h, BACKEND_HEADER),
        Some("plugin"),
        "replaces the service's"
    );
    assert_eq!(h.get_all("x-multi").iter().count(), 1, "set, not appended");
    assert_eq!(value(&h, "x-multi"), Some("2"));
    assert_eq!(
        value(&h, "x-plugin-count"),
        Some("1"),
        "header-stamp's queue"
    );
    // Set before the plugin's own response phase, which sees them; queuing from there is
    // refused; a batch with a bad name queues nothing of it.
    assert_eq!(value(&h, "x-probe-order-seen"), Some("queued"));
    assert_eq!(value(&h, "x-probe-queue-in-response"), Some("read-only"));
    let refused = value(&h, "x-probe-queue-refused").unwrap_or_default();
    assert!(
        refused.starts_with("invalid: header name `bad name`"),
        "{refused}"
    );
    assert!(
        h.get("x-probe-never").is_none(),
        "a refused batch adds nothing"
    );

    // Without anything queued by the probe, header-stamp's value stands.
    let (_, h, _) = send(&client, probe("chain.test", &[])).await.unwrap();
    assert_eq!(value(&h, "x-who"), Some("stamp"));
    assert_eq!(value(&h, BACKEND_HEADER), Some("be"));

    // A plugin answering the request itself gets its queued headers on its own response.
    let (status, h, body) = send(
        &client,
        probe(
            "answer.test",
            &[("x-probe-queue", "x-who=probe"), ("x-probe-respond", "418")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 418);
    assert_eq!(&body[..], b"answered by the probe");
    assert_eq!(value(&h, "x-who"), Some("probe"));

    // A call that fails queues nothing: with failOpen the service answers, untouched.
    let (status, h, _) = send(
        &client,
        probe(
            "trap.test",
            &[("x-probe-queue", "x-who=probe"), ("x-probe-trap", "1")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "failOpen continues");
    assert!(h.get("x-who").is_none(), "{h:?}");
    assert_eq!(value(&h, BACKEND_HEADER), Some("be"));
}
