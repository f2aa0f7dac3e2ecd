//! The status a client gets when something is wrong, and that each is the right one.

use crate::support::{TestGateway, closed_port, lb};
use wasmgate_test_harness::{HttpBackend, get, raw_http};

#[tokio::test]
async fn each_failure_has_its_status() {
    let be = HttpBackend::builder("be").start().await;
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let dynamic = format!(
        r#"http:
  routers:
    refused:
      rule: "PathPrefix(`/refused`)"
      service: refused
    reset:
      rule: "PathPrefix(`/reset`)"
      service: be
    empty:
      rule: "PathPrefix(`/empty`)"
      service: empty
    zero:
      rule: "PathPrefix(`/zero`)"
      service: zero
    slow:
      rule: "PathPrefix(`/delay`)"
      service: slow
  services:
{}{}    empty:
      loadBalancer:
        servers: []
    zero:
      loadBalancer:
        servers:
          - url: "{}"
            weight: 0
    slow:
      loadBalancer:
        serversTransport: impatient
        servers:
          - url: "{}"
  serversTransports:
    impatient:
      forwardingTimeouts:
        responseHeaderTimeout: 300ms
"#,
        lb("refused", &[&refused]),
        lb("be", &[&be.url()]),
        be.url(),
        be.url(),
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let status = |path: &'static str| {
        let client = client.clone();
        async move {
            get(&client, &format!("http://app.test{path}"))
                .await
                .unwrap()
                .0
                .as_u16()
        }
    };
    assert_eq!(status("/refused").await, 502, "connection refused");
    assert_eq!(
        status("/reset").await,
        502,
        "connection reset without answer"
    );
    assert_eq!(status("/empty").await, 503, "no server");
    assert_eq!(status("/zero").await, 503, "all weights zero");
    assert_eq!(status("/delay/3000").await, 504, "response header timeout");
    assert_eq!(status("/delay/10").await, 200, "fast enough");
    assert_eq!(status("/nowhere").await, 404, "no router");
    // HTTP/1.1 without Host is a bad request.
    let resp = raw_http(
        gw.addr(),
        "GET /refused HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // A malformed percent-escape in the path is a bad request too.
    let resp = raw_http(
        gw.addr(),
        "GET /a%zz HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
}
