//! Each backend answers the harness's own clients directly, with no gateway
//! in between: the harness is only useful if both ends speak the protocols
//! for real.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, stream};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use wasmgate_test_harness::{
    BoxError, Code, GRPC_ERROR_DETAIL, GRPC_FAIL, GRPC_FAIL_CODE, GRPC_FAIL_TRAILERS_ONLY,
    GRPC_SERVER_STREAM, GRPC_UNARY, GrpcBackend, GrpcRequest, HttpBackend, HttpClient,
    TcpEchoBackend, UdpEchoBackend, WsMessage, empty, full, get, get_json, grpc_server_stream,
    grpc_unary, h2c_client, h2c_client_via, http1_client, raw_http, send, slow_writer, wait_for,
    ws_connect,
};

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn http_backend_describes_http1_and_h2c_requests() {
    let backend = HttpBackend::builder("alpha").start().await;

    let h1 = get_json(
        &http1_client(),
        &format!("{}/some/path?x=1&y=2", backend.url()),
    )
    .await
    .unwrap();
    assert_eq!(h1["backend"], "alpha");
    assert_eq!(h1["method"], "GET");
    assert_eq!(h1["path"], "/some/path");
    assert_eq!(h1["query"], "x=1&y=2");
    assert_eq!(h1["version"], "HTTP/1.1");
    assert_eq!(h1["body_len"], 0);
    assert_eq!(
        h1["headers"]["host"][0],
        backend.addr().to_string().as_str()
    );

    let h2 = get_json(&h2c_client(), &format!("{}/h2", backend.h2c_url()))
        .await
        .unwrap();
    assert_eq!(h2["version"], "HTTP/2.0");
    assert_eq!(h2["path"], "/h2");
    assert_eq!(h2["query"], serde_json::Value::Null);

    let (status, headers, _) = get(&http1_client(), &backend.url()).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-backend"], "alpha");
    assert_eq!(headers["content-type"], "application/json");

    assert_eq!(backend.requests(), 3);
    let last = backend.last_request().unwrap();
    assert_eq!(last.method, Method::GET);
    assert_eq!(last.version, Version::HTTP_11);
    assert_eq!(last.uri.path(), "/");
}

#[tokio::test]
async fn http_backend_counts_request_body() {
    let backend = HttpBackend::builder("alpha").start().await;
    let request = Request::post(format!("{}/upload", backend.url()))
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body(full("hello world"))
        .unwrap();
    let (_, _, body) = send(&http1_client(), request).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["method"], "POST");
    assert_eq!(json["body_len"], 11);
    assert_eq!(
        json["headers"]["x-multi"],
        serde_json::json!(["one", "two"])
    );
}

/// A request body fed by a channel, so the test decides when each chunk goes.
fn channel_body() -> (mpsc::Sender<Bytes>, wasmgate_test_harness::Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let frames = stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, BoxError>(Frame::data(chunk)), rx))
    });
    (tx, StreamBody::new(frames).boxed_unsync())
}

async fn echo_streams(client: HttpClient, url: String) {
    let (tx, body) = channel_body();
    let request = Request::post(format!("{url}/echo"))
        .header("content-type", "text/x-test")
        .body(body)
        .unwrap();
    tx.send(Bytes::from_static(b"first")).await.unwrap();
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/x-test");
    let mut body = response.into_body();

    // The first chunk comes back while the request body is still open.
    let frame = tokio::time::timeout(TIMEOUT, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "first");

    tx.send(Bytes::from_static(b"second")).await.unwrap();
    drop(tx);
    let rest = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(rest, "second");
}

#[tokio::test]
async fn echo_streams_without_buffering_on_http1() {
    let backend = HttpBackend::builder("echo").start().await;
    echo_streams(http1_client(), backend.url()).await;
}

#[tokio::test]
async fn echo_streams_without_buffering_on_h2c() {
    let backend = HttpBackend::builder("echo").start().await;
    echo_streams(h2c_client(), backend.url()).await;
}

#[tokio::test]
async fn status_delay_and_stream_bytes_routes() {
    let backend = HttpBackend::builder("routes").start().await;
    let client = http1_client();

    let (status, headers, body) = get(&client, &format!("{}/status/503", backend.url()))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["x-backend"], "routes");
    assert!(body.is_empty());

    let start = Instant::now();
    let json = get_json(&client, &format!("{}/delay/200", backend.url()))
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(json["path"], "/delay/200");

    let (status, _, body) = get(
        &h2c_client(),
        &format!("{}/stream-bytes?n=5&chunk=1000", backend.h2c_url()),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 5000);
    assert!(body.iter().all(|byte| *byte == b'x'));
}

#[tokio::test]
async fn fixed_body_and_status_answer_every_path() {
    let fixed = HttpBackend::builder("fixed")
        .fixed_body("hello")
        .start()
        .await;
    let (status, headers, body) = get(&http1_client(), &format!("{}/echo", fixed.url()))
        .await
        .unwrap();
    assert_eq!((status, body.as_ref()), (StatusCode::OK, &b"hello"[..]));
    assert_eq!(headers["x-backend"], "fixed");

    let failing = HttpBackend::builder("failing").status(502).start().await;
    let (status, _, body) = get(&http1_client(), &format!("{}/anything", failing.url()))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["backend"], "failing");
}

async fn sse_events_arrive_as_sent(client: HttpClient, url: String) {
    let start = Instant::now();
    let response = client
        .request(
            Request::get(format!("{url}/sse?n=3&interval_ms=300"))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut events = Vec::new();
    while let Some(frame) = tokio::time::timeout(TIMEOUT, body.frame()).await.unwrap() {
        // h2 may end the stream with an empty DATA frame.
        if let Ok(data) = frame.unwrap().into_data()
            && !data.is_empty()
        {
            events.push((start.elapsed(), data));
        }
    }
    let texts: Vec<&[u8]> = events.iter().map(|(_, data)| data.as_ref()).collect();
    assert_eq!(
        texts,
        [
            &b"data: 0\n\n"[..],
            &b"data: 1\n\n"[..],
            &b"data: 2\n\n"[..]
        ]
    );
    let (first, last) = (events[0].0, events[2].0);
    assert!(
        first < Duration::from_millis(250),
        "first event at {first:?}"
    );
    assert!(last >= Duration::from_millis(600), "last event at {last:?}");
}

#[tokio::test]
async fn sse_events_are_flushed_one_by_one_on_http1() {
    let backend = HttpBackend::builder("sse").start().await;
    sse_events_arrive_as_sent(http1_client(), backend.url()).await;
}

#[tokio::test]
async fn sse_events_are_flushed_one_by_one_on_h2c() {
    let backend = HttpBackend::builder("sse").start().await;
    sse_events_arrive_as_sent(h2c_client(), backend.url()).await;
}

#[tokio::test]
async fn trailers_reach_an_h2c_client() {
    let backend = HttpBackend::builder("trailers").start().await;
    let response = h2c_client()
        .request(
            Request::get(format!("{}/trailers", backend.url()))
                .body(empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let collected = response.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["x-trailer"], "yes");
    assert_eq!(collected.to_bytes(), "body before trailers");
}

#[tokio::test]
async fn reset_route_fails_the_request() {
    let backend = HttpBackend::builder("reset").start().await;
    let url = format!("{}/reset", backend.url());
    assert!(get(&http1_client(), &url).await.is_err());
    assert!(get(&h2c_client(), &url).await.is_err());
    let raw = raw_http(backend.addr(), "GET /reset HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(raw, "", "connection dropped without an answer");
    assert_eq!(backend.requests(), 3);
}

#[tokio::test]
async fn raw_http_reads_until_close() {
    let backend = HttpBackend::builder("raw").start().await;
    let raw = raw_http(
        backend.addr(),
        "GET /raw HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("x-backend: raw\r\n"), "{raw}");
    assert!(raw.contains("\"host\":[\"example.test\"]"), "{raw}");
}

#[tokio::test]
async fn h2c_client_via_keeps_the_authority() {
    let backend = HttpBackend::builder("via").start().await;
    let json = get_json(&h2c_client_via(backend.addr()), "http://app.example.test/x")
        .await
        .unwrap();
    assert_eq!(json["version"], "HTTP/2.0");
    let uri = backend.last_request().unwrap().uri;
    assert_eq!(uri.authority().unwrap().as_str(), "app.example.test");
}

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let backend = HttpBackend::builder("ws").start().await;
    let mut ws = ws_connect(&format!("ws://{}/ws", backend.addr()))
        .await
        .unwrap();

    ws.send(WsMessage::text("hello")).await.unwrap();
    let reply = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, WsMessage::text("hello"));

    ws.send(WsMessage::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let reply = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, WsMessage::binary(vec![0u8, 1, 2, 255]));

    ws.close(None).await.unwrap();
    // The server completes the close handshake, then the stream ends.
    while let Some(message) = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap() {
        assert!(message.unwrap().is_close());
    }
    assert_eq!(backend.requests(), 1);
}

#[tokio::test]
async fn dropping_a_backend_closes_its_connections() {
    let backend = HttpBackend::builder("ws").start().await;
    let mut ws = ws_connect(&format!("ws://{}/ws", backend.addr()))
        .await
        .unwrap();
    let addr = backend.addr();
    backend.shutdown().await;
    let next = tokio::time::timeout(TIMEOUT, ws.next()).await.unwrap();
    assert!(!matches!(next, Some(Ok(WsMessage::Text(_)))));
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");

    let tcp = TcpEchoBackend::start().await;
    let mut stream = TcpStream::connect(tcp.addr()).await.unwrap();
    wait_for(|| async { tcp.connections() == 1 }, TIMEOUT)
        .await
        .unwrap();
    drop(tcp);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(TIMEOUT, stream.read(&mut buf))
        .await
        .unwrap();
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "connection closed: {read:?}"
    );
}

#[tokio::test]
async fn grpc_unary_echoes_the_payload() {
    let backend = GrpcBackend::builder("grpc-a").start().await;
    let reply = grpc_unary(&backend.h2c_url(), GRPC_UNARY, "ping")
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Ok, "{reply:?}");
    assert_eq!(reply.body().unwrap(), "ping");
    assert_eq!(reply.meta("x-backend"), Some("grpc-a"));
    assert_eq!(reply.meta("content-type"), Some("application/grpc"));
    assert!(reply.meta("grpc-status").is_none());
    assert_eq!(backend.requests(), 1);
}

#[tokio::test]
async fn grpc_server_stream_sends_n_messages_as_they_are_produced() {
    let backend = GrpcBackend::builder("grpc-s").start().await;
    let reply = grpc_server_stream(&backend.url(), GRPC_SERVER_STREAM, "m", 4)
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Ok, "{reply:?}");
    assert_eq!(reply.messages, ["m#0", "m#1", "m#2", "m#3"]);

    let paced = GrpcRequest::new(&backend.url(), GRPC_SERVER_STREAM, "p")
        .count(3)
        .interval(Duration::from_millis(300))
        .server_stream()
        .await
        .unwrap();
    assert_eq!(paced.messages, ["p#0", "p#1", "p#2"]);
    assert!(paced.arrivals[0] < Duration::from_millis(250), "{paced:?}");
    assert!(paced.arrivals[2] >= Duration::from_millis(600), "{paced:?}");
}

#[tokio::test]
async fn grpc_failures_carry_status_message_and_metadata() {
    let backend = GrpcBackend::builder("grpc-f").start().await;
    for path in [GRPC_FAIL, GRPC_FAIL_TRAILERS_ONLY] {
        let reply = grpc_unary(&backend.url(), path, "it broke").await.unwrap();
        assert_eq!(reply.code, GRPC_FAIL_CODE, "{path}: {reply:?}");
        assert_eq!(reply.message, "it broke");
        assert_eq!(reply.meta(GRPC_ERROR_DETAIL.0), Some(GRPC_ERROR_DETAIL.1));
        assert_eq!(reply.meta("x-backend"), Some("grpc-f"));
        assert!(reply.messages.is_empty());
    }

    let reply = grpc_unary(&backend.url(), "/no.Such/Method", "")
        .await
        .unwrap();
    assert_eq!(reply.code, Code::Unimplemented);
}

/// Checks the wire format with a plain h2c client: length-prefixed frames,
/// `application/grpc`, and where the status travels.
#[tokio::test]
async fn grpc_wire_format_puts_status_in_trailers_or_headers() {
    let backend = GrpcBackend::builder("grpc-w").start().await;
    let call = |path: &'static str| {
        let mut frame = vec![0u8];
        frame.extend_from_slice(&3u32.to_be_bytes());
        frame.extend_from_slice(b"abc");
        let request = Request::post(format!("{}{path}", backend.url()))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(full(frame))
            .unwrap();
        async move {
            let response = h2c_client().request(request).await.unwrap();
            let headers = response.headers().clone();
            let collected = response.into_body().collect().await.unwrap();
            let trailers = collected.trailers().cloned();
            (headers, trailers, collected.to_bytes())
        }
    };

    let (headers, trailers, body) = call(GRPC_UNARY).await;
    assert_eq!(headers["content-type"], "application/grpc");
    assert_eq!(&body[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
    assert_eq!(trailers.unwrap()["grpc-status"], "0");

    let (headers, trailers, body) = call(GRPC_FAIL).await;
    assert!(headers.get("grpc-status").is_none());
    let trailers = trailers.unwrap();
    assert_eq!(trailers["grpc-status"], "9");
    assert_eq!(trailers["x-error-detail"], "failed on purpose");
    assert!(body.is_empty());

    let (headers, trailers, _) = call(GRPC_FAIL_TRAILERS_ONLY).await;
    assert_eq!(headers["grpc-status"], "9");
    assert_eq!(headers["grpc-message"], "abc");
    assert!(trailers.is_none());
}

#[tokio::test]
async fn grpc_client_reports_a_dead_target_as_unavailable() {
    let backend = GrpcBackend::builder("gone").start().await;
    let url = backend.url();
    backend.shutdown().await;
    let reply = grpc_unary(&url, GRPC_UNARY, "x").await.unwrap();
    assert_eq!(reply.code, Code::Unavailable, "{reply:?}");
}

#[tokio::test]
async fn tcp_echo_finishes_writing_after_half_close() {
    let backend = TcpEchoBackend::start().await;
    let mut stream = TcpStream::connect(backend.addr()).await.unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut read, mut write) = stream.split();
    let writer = async {
        write.write_all(&payload).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let reader = async {
        let mut echoed = Vec::new();
        read.read_to_end(&mut echoed).await.unwrap();
        echoed
    };
    let ((), echoed) = tokio::time::timeout(TIMEOUT, async { tokio::join!(writer, reader) })
        .await
        .unwrap();
    assert_eq!(echoed, payload, "all bytes echoed, then EOF");
    assert_eq!(backend.connections(), 1);
}

#[tokio::test]
async fn udp_echo_answers_each_datagram() {
    let plain = UdpEchoBackend::builder("u1").start().await;
    let named = UdpEchoBackend::builder("u2")
        .prefix_name(true)
        .start()
        .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut buf = [0u8; 1500];

    socket.send_to(b"hello", plain.addr()).await.unwrap();
    let (n, from) = tokio::time::timeout(TIMEOUT, socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"hello"[..], plain.addr()));

    socket.send_to(b"hello", named.addr()).await.unwrap();
    let (n, _) = tokio::time::timeout(TIMEOUT, socket.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"u2:hello");
    assert_eq!((plain.datagrams(), named.datagrams()), (1, 1));
}

#[tokio::test]
async fn slow_writer_reports_when_the_server_hangs_up() {
    // A server that gives clients 300 ms to send their request head.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream
            .write_all(b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
    });

    let report = slow_writer(
        addr,
        "GET / HTTP/1.1\r\nHost: slow\r\n\r\n",
        Duration::from_millis(50),
    )
    .await
    .unwrap();
    server.await.unwrap();
    let closed = report.closed_after.expect("server closed the connection");
    assert!(
        closed >= Duration::from_millis(250) && closed < Duration::from_millis(1000),
        "{report:?}"
    );
    assert!(report.written < 30, "{report:?}");
    assert!(report.response.starts_with("HTTP/1.1 408"), "{report:?}");
}

#[tokio::test]
async fn wait_for_polls_until_true_or_times_out() {
    let start = Instant::now();
    wait_for(
        || async move { start.elapsed() > Duration::from_millis(50) },
        TIMEOUT,
    )
    .await
    .unwrap();
    let failed = wait_for(|| async { false }, Duration::from_millis(50)).await;
    assert!(failed.is_err());
}
