//! Forwarding over every protocol the gateway speaks, and the headers it sets on the way.

use crate::support::{TestGateway, lb};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wasmgate_test_harness::{
    Code, GRPC_FAIL, GRPC_FAIL_CODE, GRPC_SERVER_STREAM, GRPC_UNARY, GrpcBackend, GrpcRequest,
    HttpBackend, WsMessage, get_json, raw_http, send, ws_connect_via,
};

fn one_route(rule: &str, services: &str) -> String {
    format!(
        "http:\n  routers:\n    r:\n      rule: \"{rule}\"\n      service: s\n  services:\n{services}"
    )
}

#[tokio::test]
async fn http1_request_is_forwarded_with_forwarded_headers() {
    let be = HttpBackend::builder("be").start().await;
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &lb("s", &[&be.url()]))).await;
    let v = get_json(&gw.client(), "http://app.test/some/path?x=1&y=2")
        .await
        .unwrap();
    assert_eq!(v["path"], "/some/path");
    assert_eq!(v["query"], "x=1&y=2");
    assert_eq!(v["version"], "HTTP/1.1");
    let h = &v["headers"];
    assert_eq!(h["host"][0], "app.test", "passHostHeader defaults to true");
    assert_eq!(h["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(h["x-real-ip"][0], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"][0], "http");
    assert_eq!(h["x-forwarded-host"][0], "app.test");
    assert_eq!(h["x-forwarded-port"][0], gw.addr().port().to_string());
    assert!(
        h["x-forwarded-server"][0]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn pass_host_header_false_and_preserve_path() {
    let be = HttpBackend::builder("be").start().await;
    let services = format!(
        "    s:\n      loadBalancer:\n        passHostHeader: false\n        servers:\n          - url: \"{}/base\"\n            preservePath: true\n",
        be.url()
    );
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &services)).await;
    let v = get_json(&gw.client(), "http://app.test/x").await.unwrap();
    assert_eq!(v["path"], "/base/x");
    assert_eq!(v["headers"]["host"][0], be.addr().to_string());
}

#[tokio::test]
async fn client_cannot_spoof_or_strip_forwarded_headers() {
    let be = HttpBackend::builder("be").start().await;
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &lb("s", &[&be.url()]))).await;
    let raw = "GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\n\
               X-Secret: drop-me\r\nConnection: close, X-Forwarded-For, X-Real-Ip, X-Secret\r\n\r\n";
    let resp = raw_http(gw.addr(), raw).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let seen = be.last_request().unwrap().headers;
    assert_eq!(
        seen["x-forwarded-for"], "127.0.0.1",
        "spoofed value replaced, not dropped"
    );
    assert_eq!(seen["x-real-ip"], "127.0.0.1");
    assert!(
        seen.get("x-secret").is_none(),
        "Connection-listed header removed"
    );
    assert!(
        seen.get("connection")
            .is_none_or(|v| v != "close, X-Forwarded-For, X-Real-Ip, X-Secret")
    );
}

#[tokio::test]
async fn trusted_proxy_forwarded_for_is_appended() {
    let be = HttpBackend::builder("be").start().await;
    let static_cfg = "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n    forwardedHeaders:\n      trustedIPs: [\"127.0.0.1/32\"]\nproviders:\n  file:\n    filename: dynamic.yml\n";
    let gw = TestGateway::with_static(
        static_cfg,
        &one_route("PathPrefix(`/`)", &lb("s", &[&be.url()])),
    )
    .await;
    let req = http::Request::get("http://app.test/")
        .header("x-forwarded-for", "203.0.113.9")
        .body(wasmgate_test_harness::empty())
        .unwrap();
    let (status, _, _) = send(&gw.client(), req).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        be.last_request().unwrap().headers["x-forwarded-for"],
        "203.0.113.9, 127.0.0.1"
    );
}

#[tokio::test]
async fn h2c_in_and_out() {
    let be = HttpBackend::builder("be").start().await;
    let services = format!("{}{}", lb("s", &[&be.h2c_url()]), lb("h1", &[&be.url()]));
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/h2`)\"\n      service: s\n    h1:\n      rule: \"PathPrefix(`/h1`)\"\n      service: h1\n  services:\n{services}"
    );
    let gw = TestGateway::start(&dynamic).await;
    // HTTP/1.1 client, h2c upstream.
    let v = get_json(&gw.client(), "http://app.test/h2").await.unwrap();
    assert_eq!(v["version"], "HTTP/2.0");
    // h2c client, HTTP/1.1 upstream, many concurrent streams on one connection.
    let client = gw.h2c_client();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            get_json(&client, &format!("http://app.test/h1/{i}"))
                .await
                .unwrap()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let v = t.await.unwrap();
        assert_eq!(v["path"], format!("/h1/{i}"));
        assert_eq!(v["version"], "HTTP/1.1");
        assert_eq!(v["headers"]["host"][0], "app.test");
    }
}

#[tokio::test]
async fn grpc_unary_streaming_and_trailers() {
    let be = GrpcBackend::builder("grpc").start().await;
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &lb("s", &[&be.h2c_url()]))).await;
    let target = format!("http://{}", gw.addr());
    let reply = GrpcRequest::new(&target, GRPC_UNARY, "hello")
        .unary()
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Ok, "{}", reply.message);
    assert_eq!(reply.body().unwrap(), &Bytes::from_static(b"hello"));

    let reply = GrpcRequest::new(&target, GRPC_SERVER_STREAM, "m")
        .count(4)
        .interval(Duration::from_millis(200))
        .server_stream()
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Ok, "{}", reply.message);
    assert_eq!(reply.messages.len(), 4);
    assert!(
        reply.arrivals[0] + Duration::from_millis(300) < reply.arrivals[3],
        "messages stream through, not buffered: {:?}",
        reply.arrivals
    );

    let reply = GrpcRequest::new(&target, GRPC_FAIL, "x")
        .unary()
        .await
        .unwrap();
    assert_eq!(
        reply.code, GRPC_FAIL_CODE,
        "status from the trailers reaches the client"
    );
}

#[tokio::test]
async fn websocket_upgrade_echoes() {
    let be = HttpBackend::builder("be").start().await;
    let gw = TestGateway::start(&one_route("Host(`ws.test`)", &lb("s", &[&be.url()]))).await;
    let req = "ws://ws.test/ws".into_client_request().unwrap();
    let mut ws = ws_connect_via(gw.addr(), req).await.unwrap();
    for i in 0..3 {
        ws.send(WsMessage::text(format!("ping {i}"))).await.unwrap();
        let msg = ws.next().await.unwrap().unwrap();
        assert_eq!(msg.into_text().unwrap().as_str(), format!("ping {i}"));
    }
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap().into_data().as_ref(),
        &[1, 2, 3]
    );
    let seen = be.last_request().unwrap().headers;
    assert_eq!(seen["x-forwarded-proto"], "ws");
}

#[tokio::test]
async fn server_sent_events_are_flushed_as_they_come() {
    let be = HttpBackend::builder("be").start().await;
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &lb("s", &[&be.url()]))).await;
    for client in [gw.client(), gw.h2c_client()] {
        let started = Instant::now();
        let req = http::Request::get("http://app.test/sse?n=3&interval_ms=300")
            .body(wasmgate_test_harness::empty())
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let mut first = None;
        let mut all = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.unwrap().data_ref().filter(|d| !d.is_empty()) {
                first.get_or_insert(started.elapsed());
                all.extend_from_slice(data);
            }
        }
        let total = started.elapsed();
        assert_eq!(
            String::from_utf8(all).unwrap(),
            "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        );
        let first = first.unwrap();
        assert!(
            first + Duration::from_millis(400) < total,
            "first event at {first:?}, stream ended at {total:?}"
        );
    }
}

#[tokio::test]
async fn request_and_response_bodies_stream_both_ways() {
    let be = HttpBackend::builder("be").start().await;
    let gw = TestGateway::start(&one_route("PathPrefix(`/`)", &lb("s", &[&be.url()]))).await;
    let payload: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    for client in [gw.client(), gw.h2c_client()] {
        let req = http::Request::post("http://app.test/echo")
            .body(wasmgate_test_harness::full(payload.clone()))
            .unwrap();
        let (status, _, body) = send(&client, req).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(body.len(), payload.len());
        assert!(body.as_ref() == payload.as_slice());
    }
}
