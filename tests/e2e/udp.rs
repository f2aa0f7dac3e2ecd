//! UDP entrypoints, routers and services: sessions per client, weighted round robin, session
//! expiry and cap, live reload.

use crate::support::TestGateway;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use wasmgate_test_harness::{UdpEchoBackend, wait_for};

/// Long enough for any reply on loopback; only reached when a datagram is lost or refused.
const REPLY_WAIT: Duration = Duration::from_secs(3);

fn static_cfg(udp: &str) -> String {
    format!(
        r#"
entryPoints:
  dns:
    address: "127.0.0.1:0/udp"
{udp}
providers:
  providersThrottleDuration: 0s
  file:
    filename: dynamic.yml
"#
    )
}

fn one_service(backend: SocketAddr) -> String {
    format!(
        r#"
udp:
  routers:
    dns:
      entryPoints: [dns]
      service: echo
  services:
    echo:
      loadBalancer:
        servers:
          - address: "{backend}"
"#
    )
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind client")
}

/// Sends `msg` to the gateway and returns the reply, or `None` if none arrives.
async fn ask(sock: &UdpSocket, gw: SocketAddr, msg: &str) -> Option<String> {
    sock.send_to(msg.as_bytes(), gw).await.expect("send");
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(REPLY_WAIT, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    assert_eq!(from, gw, "replies come from the entrypoint's address");
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The upstream address a `report_peer` backend saw, from its answer.
fn peer_of(answer: &str) -> String {
    answer.split(' ').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn datagrams_are_echoed_through_the_proxy() {
    let backend = UdpEchoBackend::builder("echo").start().await;
    let gw = TestGateway::with_static(&static_cfg(""), &one_service(backend.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let c = client().await;
    assert_eq!(ask(&c, addr, "hello").await.as_deref(), Some("hello"));
    assert_eq!(ask(&c, addr, "again").await.as_deref(), Some("again"));
    assert_eq!(backend.datagrams(), 2);
}

#[tokio::test]
async fn each_client_gets_its_own_session_and_replies() {
    let backend = UdpEchoBackend::builder("echo")
        .report_peer(true)
        .start()
        .await;
    let gw = TestGateway::with_static(&static_cfg(""), &one_service(backend.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let (a, b) = (client().await, client().await);
    let from_a = ask(&a, addr, "from-a").await.expect("reply to a");
    let from_b = ask(&b, addr, "from-b").await.expect("reply to b");
    assert!(from_a.ends_with(" from-a"), "{from_a}");
    assert!(from_b.ends_with(" from-b"), "{from_b}");
    assert_ne!(
        peer_of(&from_a),
        peer_of(&from_b),
        "each session has its own upstream socket"
    );
    let again = ask(&a, addr, "from-a-again").await.expect("reply to a");
    assert_eq!(
        peer_of(&again),
        peer_of(&from_a),
        "a session keeps its socket"
    );
}

#[tokio::test]
async fn weighted_round_robin_spreads_sessions_by_weight() {
    let one = UdpEchoBackend::builder("one")
        .prefix_name(true)
        .start()
        .await;
    let two = UdpEchoBackend::builder("two")
        .prefix_name(true)
        .start()
        .await;
    let dynamic = format!(
        r#"
udp:
  routers:
    dns:
      service: split
  services:
    split:
      weighted:
        services:
          - name: one
            weight: 3
          - name: two@file
            weight: 1
    one:
      loadBalancer:
        servers:
          - address: "{}"
    two:
      loadBalancer:
        servers:
          - address: "{}"
"#,
        one.addr(),
        two.addr()
    );
    let gw = TestGateway::with_static(&static_cfg(""), &dynamic).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let mut answers = Vec::new();
    for _ in 0..8 {
        let c = client().await;
        answers.push(ask(&c, addr, "x").await.expect("reply"));
    }
    assert_eq!(answers.iter().filter(|a| *a == "one:x").count(), 6);
    assert_eq!(answers.iter().filter(|a| *a == "two:x").count(), 2);
}

#[tokio::test]
async fn an_idle_session_expires_after_the_timeout() {
    let backend = UdpEchoBackend::builder("echo")
        .report_peer(true)
        .start()
        .await;
    let static_yaml = static_cfg("    udp:\n      timeout: 1s");
    let gw = TestGateway::with_static(&static_yaml, &one_service(backend.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let c = client().await;
    let first = peer_of(&ask(&c, addr, "one").await.expect("reply"));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = peer_of(&ask(&c, addr, "two").await.expect("reply after expiry"));
    assert_ne!(
        first, later,
        "an expired session's upstream socket is not reused"
    );
}

#[tokio::test]
async fn sessions_beyond_the_cap_are_refused_and_others_go_on() {
    let backend = UdpEchoBackend::builder("echo").start().await;
    let static_yaml = static_cfg("    udp:\n      timeout: 1s\n      maxSessions: 2");
    let gw = TestGateway::with_static(&static_yaml, &one_service(backend.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let (a, b, c) = (client().await, client().await, client().await);
    assert_eq!(ask(&a, addr, "a1").await.as_deref(), Some("a1"));
    assert_eq!(ask(&b, addr, "b1").await.as_deref(), Some("b1"));
    assert_eq!(
        ask(&c, addr, "c1").await,
        None,
        "a third session is over the cap"
    );
    assert_eq!(ask(&a, addr, "a2").await.as_deref(), Some("a2"));
    assert_eq!(ask(&b, addr, "b2").await.as_deref(), Some("b2"));
    // Once the two sessions expire, the third client is served.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ask(&c, addr, "c2").await.as_deref(), Some("c2"));
}

#[tokio::test]
async fn a_reload_sends_new_sessions_to_the_new_service() {
    let one = UdpEchoBackend::builder("one")
        .prefix_name(true)
        .start()
        .await;
    let two = UdpEchoBackend::builder("two")
        .prefix_name(true)
        .start()
        .await;
    let gw = TestGateway::with_static(&static_cfg(""), &one_service(one.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let old = client().await;
    assert_eq!(ask(&old, addr, "x").await.as_deref(), Some("one:x"));
    let generation = gw.gateway.generation();
    gw.write_dynamic(&one_service(two.addr()));
    wait_for(
        || async { gw.gateway.generation() > generation },
        Duration::from_secs(10),
    )
    .await
    .expect("the new configuration is published");
    let new = client().await;
    assert_eq!(ask(&new, addr, "y").await.as_deref(), Some("two:y"));
    assert_eq!(
        ask(&old, addr, "z").await.as_deref(),
        Some("one:z"),
        "an open session keeps its upstream"
    );
}

#[tokio::test]
async fn a_broken_udp_service_keeps_the_last_good_one() {
    let one = UdpEchoBackend::builder("one")
        .prefix_name(true)
        .start()
        .await;
    let gw = TestGateway::with_static(&static_cfg(""), &one_service(one.addr())).await;
    let addr = gw.gateway.addr("dns").expect("entrypoint dns");
    let outcome = {
        gw.write_dynamic(&one_service(one.addr()).replace("service: echo", "service: nope"));
        gw.gateway.reload().await
    };
    let err = outcome.expect_err("an unknown service is refused");
    assert!(err.contains("nope"), "{err}");
    let c = client().await;
    assert_eq!(ask(&c, addr, "x").await.as_deref(), Some("one:x"));
}

#[tokio::test]
async fn bad_udp_entrypoint_settings_are_refused_with_their_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("static.yml");
    std::fs::write(&path, static_cfg("    udp:\n      maxSessions: 0")).expect("write");
    let err = wasmgate::GatewayConfig::from_file(&path)
        .expect_err("maxSessions 0 is refused")
        .to_string();
    assert!(err.contains("udp.maxSessions"), "{err}");
    assert!(err.contains("static.yml:"), "{err}");

    std::fs::write(&path, static_cfg("    udp:\n      timeout: 0s")).expect("write");
    std::fs::write(dir.path().join("dynamic.yml"), "{}").expect("write");
    let config = wasmgate::GatewayConfig::from_file(&path).expect("static config");
    let err = wasmgate::Gateway::start(config)
        .await
        .err()
        .expect("a zero timeout is refused")
        .to_string();
    assert!(err.contains("udp.timeout"), "{err}");
}
