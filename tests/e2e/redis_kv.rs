//! The plugin `kv` in Redis: a rate limiter counts across gateways, and lets requests
//! through (its documented choice) while Redis is down.

use std::time::Duration;

use wasmgate_guest_plugins as guests;
use wasmgate_test_harness::{HttpBackend, HttpClient, RedisServer, empty, send, wait_for};

use crate::support::{STATIC_WEB, TestGateway, lb};

const LIMIT: usize = 20;

fn static_cfg(redis: &RedisServer) -> String {
    format!(
        "{STATIC_WEB}plugins:\n  kv:\n    redis:\n      url: \"{}\"\n      timeout: 200ms\n",
        redis.url()
    )
}

fn dynamic(backend: &HttpBackend) -> String {
    format!(
        r#"http:
  routers:
    limited:
      rule: "Host(`limited.test`)"
      middlewares: [limit]
      service: main
  middlewares:
    limit:
      plugin:
        rate-limiter:
          limit: {LIMIT}
          windowMs: 600000
          keyHeader: x-api-key
  services:
{}
plugins:
  rate-limiter:
    source: "{}"
    grants:
      kv: true
"#,
        lb("main", &[&backend.url()]),
        guests::RATE_LIMITER,
    )
}

async fn call(client: &HttpClient, key: &str) -> u16 {
    let request = http::Request::get("http://limited.test/")
        .header("x-api-key", key)
        .body(empty())
        .unwrap();
    send(client, request)
        .await
        .map_or(0, |(s, _, _)| s.as_u16())
}

#[tokio::test]
#[allow(clippy::print_stdout)] // the time requests take with Redis down is a reported figure
async fn a_rate_limit_in_redis_holds_across_two_gateways_and_fails_open() {
    let Some(mut redis) = RedisServer::start().unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("main").start().await;
    let a = TestGateway::with_static(&static_cfg(&redis), &dynamic(&backend)).await;
    let b = TestGateway::with_static(&static_cfg(&redis), &dynamic(&backend)).await;
    let clients = [a.client(), b.client()];

    let mut passed = 0;
    let mut limited = 0;
    for i in 0..(LIMIT * 2) {
        match call(&clients[i % 2], "shared").await {
            200 => passed += 1,
            429 => limited += 1,
            other => panic!("request {i}: status {other}"),
        }
    }
    assert_eq!(passed, LIMIT, "the limit is shared by both gateways");
    assert_eq!(limited, LIMIT);

    redis.stop().unwrap();
    let down = std::time::Instant::now();
    for i in 0..(LIMIT * 2) {
        assert_eq!(
            call(&clients[i % 2], "down").await,
            200,
            "request {i} with Redis down goes through (fail open)"
        );
    }

    println!(
        "redis down: {} requests in {:?} (fail open)",
        LIMIT * 2,
        down.elapsed()
    );
    redis.start_again().unwrap();
    // Counting resumes once the gateways have reconnected.
    wait_for(
        || async { call(&clients[0], "back").await == 429 },
        Duration::from_secs(20),
    )
    .await
    .expect("the limit applies again after Redis is back");
}
