//! Entrypoint timeouts and graceful shutdown.

use crate::support::{TestGateway, lb};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmgate_test_harness::{HttpBackend, get, slow_writer};

fn static_with(timeouts: &str) -> String {
    format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n    transport:\n{timeouts}providers:\n  file:\n    filename: dynamic.yml\n"
    )
}

fn route_all(url: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  services:\n{}",
        lb("s", &[url])
    )
}

#[tokio::test]
async fn slow_headers_are_cut_off_at_the_read_timeout() {
    let be = HttpBackend::builder("be").start().await;
    let timeouts = "      respondingTimeouts:\n        readTimeout: 1s\n";
    let gw = TestGateway::with_static(&static_with(timeouts), &route_all(&be.url())).await;
    let mut request = String::from("GET / HTTP/1.1\r\nHost: app.test\r\n");
    for i in 0..40 {
        request.push_str(&format!("X-Filler-{i}: aaaaaaaaaa\r\n"));
    }
    request.push_str("\r\n");
    // ~900 bytes at 10 ms each would take 9 s; the gateway must hang up long before.
    let outcome = slow_writer(gw.addr(), request.as_bytes(), Duration::from_millis(10))
        .await
        .unwrap();
    assert!(
        outcome.closed_after.is_some(),
        "connection still open: {outcome:?}"
    );
    assert!(
        outcome.written < request.len(),
        "the whole header got through: {outcome:?}"
    );
    assert_eq!(be.requests(), 0);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let be = HttpBackend::builder("be").start().await;
    let timeouts = "      respondingTimeouts:\n        idleTimeout: 500ms\n";
    let gw = TestGateway::with_static(&static_with(timeouts), &route_all(&be.url())).await;
    let mut conn = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now silent: the gateway must close the connection on its own.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "idle connection was not closed");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_then_stops() {
    let be = HttpBackend::builder("be").start().await;
    let timeouts = "      lifeCycle:\n        graceTimeOut: 10s\n";
    let gw = TestGateway::with_static(&static_with(timeouts), &route_all(&be.url())).await;
    let client = gw.client();
    let addr = gw.addr();
    let in_flight = tokio::spawn(async move { get(&client, "http://app.test/delay/800").await });
    wasmgate_test_harness::wait_for(|| async { be.requests() == 1 }, Duration::from_secs(5))
        .await
        .unwrap();
    let TestGateway { gateway, dir } = gw;
    gateway.shutdown().await;
    let (status, _, _) = in_flight.await.unwrap().unwrap();
    assert_eq!(status, 200, "the in-flight request finished");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    drop(dir);
}
