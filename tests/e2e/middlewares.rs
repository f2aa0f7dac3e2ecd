//! Built-in middlewares, each as a client sees it.

use crate::support::{TestGateway, closed_port};
use base64::Engine;
use std::time::Duration;
use wasmgate_test_harness::{HttpBackend, empty, get, get_json, send};

#[tokio::test]
async fn path_header_and_redirect_middlewares() {
    let be = HttpBackend::builder("be").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    strip:
      rule: "PathPrefix(`/api`)"
      middlewares: [api-chain]
      service: s
    redirect:
      rule: "Host(`old.test`)"
      middlewares: [to-https]
      service: s
    regex:
      rule: "Host(`regex.test`)"
      middlewares: [moved]
      service: s
  middlewares:
    api-chain:
      chain:
        middlewares: [strip-api, add-v2, stamp]
    strip-api:
      stripPrefix:
        prefixes: ["/api"]
    add-v2:
      addPrefix:
        prefix: "/v2"
    stamp:
      headers:
        customRequestHeaders:
          X-Team: "platform"
          User-Agent: ""
        customResponseHeaders:
          X-Served-By: "wasmgate"
        frameDeny: true
        contentTypeNosniff: true
    to-https:
      redirectScheme:
        scheme: https
        permanent: true
    moved:
      redirectRegex:
        regex: "^http://regex.test/(.*)"
        replacement: "http://new.test/${{1}}"
  services:
    s:
      loadBalancer:
        servers:
          - url: "{}"
"#,
        be.url()
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let req = http::Request::get("http://app.test/api/users?x=1")
        .header("user-agent", "curl")
        .body(empty())
        .unwrap();
    let (status, headers, body) = send(&client, req).await.unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["path"], "/v2/users");
    assert_eq!(v["query"], "x=1");
    assert_eq!(v["headers"]["x-team"][0], "platform");
    assert_eq!(v["headers"]["x-forwarded-prefix"][0], "/api");
    assert!(
        v["headers"].get("user-agent").is_none(),
        "empty value removes the header"
    );
    assert_eq!(headers["x-served-by"], "wasmgate");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let (status, headers, _) = get(&client, "http://old.test/a/b?c=d").await.unwrap();
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "https://old.test/a/b?c=d");
    let (status, headers, _) = get(&client, "http://regex.test/page").await.unwrap();
    assert_eq!(status, 302);
    assert_eq!(headers["location"], "http://new.test/page");
    assert_eq!(be.requests(), 1, "redirects never reach the service");
}

#[tokio::test]
async fn access_control_middlewares() {
    let be = HttpBackend::builder("be").start().await;
    // user:hunter2 as Apache MD5, bcrypt (cost 4), and {SHA}.
    let bcrypt_hash = bcrypt::hash("hunter2", 4).unwrap();
    let dynamic = format!(
        r#"http:
  routers:
    private:
      rule: "PathPrefix(`/private`)"
      middlewares: [auth]
      service: s
    lan:
      rule: "PathPrefix(`/lan`)"
      middlewares: [lan-only]
      service: s
    local:
      rule: "PathPrefix(`/local`)"
      middlewares: [local-only]
      service: s
    limited:
      rule: "PathPrefix(`/limited`)"
      middlewares: [limit]
      service: s
  middlewares:
    auth:
      basicAuth:
        users:
          - "apr:$apr1$rOs5K1Sw$gkrZdyAEX.WaBZNeVYx1s/"
          - "bc:{bcrypt_hash}"
          - "sha:{{SHA}}87u9ZqY9S/F0eUBXjsPQEDUw4h0="
        headerField: X-User
        removeHeader: true
    lan-only:
      ipAllowList:
        sourceRange: ["10.0.0.0/8"]
    local-only:
      ipAllowList:
        sourceRange: ["127.0.0.1/32", "::1"]
    limit:
      rateLimit:
        average: 1
        period: 1m
        burst: 3
  services:
    s:
      loadBalancer:
        servers:
          - url: "{}"
"#,
        be.url()
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let (status, headers, _) = get(&client, "http://app.test/private").await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Basic realm=\"traefik\"");
    for user in ["apr", "bc", "sha"] {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:hunter2"));
        let req = http::Request::get("http://app.test/private")
            .header("authorization", format!("Basic {token}"))
            .body(empty())
            .unwrap();
        let (status, _, body) = send(&client, req).await.unwrap();
        assert_eq!(status, 200, "user {user}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["headers"]["x-user"][0], user);
        assert!(v["headers"].get("authorization").is_none(), "removeHeader");
        let bad = base64::engine::general_purpose::STANDARD.encode(format!("{user}:wrong"));
        let req = http::Request::get("http://app.test/private")
            .header("authorization", format!("Basic {bad}"))
            .body(empty())
            .unwrap();
        assert_eq!(send(&client, req).await.unwrap().0, 401);
    }

    assert_eq!(get(&client, "http://app.test/lan").await.unwrap().0, 403);
    assert_eq!(get(&client, "http://app.test/local").await.unwrap().0, 200);

    let statuses: Vec<u16> = futures_util::future::join_all((0..5).map(|_| {
        let client = client.clone();
        async move {
            get(&client, "http://app.test/limited")
                .await
                .unwrap()
                .0
                .as_u16()
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn in_flight_limit_and_retry() {
    let be = HttpBackend::builder("be").start().await;
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let dynamic = format!(
        r#"http:
  routers:
    slow:
      rule: "PathPrefix(`/delay`)"
      middlewares: [one-at-a-time]
      service: s
    flaky:
      rule: "PathPrefix(`/flaky`)"
      middlewares: [retry]
      service: half-dead
  middlewares:
    one-at-a-time:
      inFlightReq:
        amount: 1
    retry:
      retry:
        attempts: 3
        initialInterval: 10ms
  services:
    s:
      loadBalancer:
        servers:
          - url: "{url}"
    half-dead:
      loadBalancer:
        servers:
          - url: "{refused}"
          - url: "{url}"
"#,
        url = be.url()
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let first = {
        let client = client.clone();
        tokio::spawn(async move { get(&client, "http://app.test/delay/500").await.unwrap().0 })
    };
    wasmgate_test_harness::wait_for(|| async { be.requests() == 1 }, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        get(&client, "http://app.test/delay/1").await.unwrap().0,
        503,
        "second in flight refused"
    );
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(
        get(&client, "http://app.test/delay/1").await.unwrap().0,
        200,
        "slot released"
    );

    // Every request lands: the refused server is retried on the healthy one.
    for _ in 0..6 {
        let v = get_json(&client, "http://app.test/flaky").await.unwrap();
        assert_eq!(v["backend"], "be");
    }
}
