//! TCP routing through the real gateway: HostSNI routers with TLS termination and
//! passthrough, plain TCP, PROXY protocol both ways, half-close, balancing, TCP middlewares,
//! a tcp-filter plugin, bad ClientHellos and live reload.

use crate::support::{STATIC_WEB, TestGateway, lb};
use crate::tls::{capturing_client, client_with_versions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use wasmgate_guest_plugins as guests;
use wasmgate_test_harness::{HttpBackend, ProxyHeaderBackend, TcpEchoBackend, get_json, wait_for};

const WAIT: Duration = Duration::from_secs(10);

/// A self-signed certificate for `names`, written to files in `dir`: (cert path, key path, DER).
fn cert_files(dir: &TempDir, names: &[&str]) -> (String, String, CertificateDer<'static>) {
    let c =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let stem = names[0].replace('*', "star");
    let cert = dir.path().join(format!("{stem}.crt"));
    let key = dir.path().join(format!("{stem}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (
        cert.display().to_string(),
        key.display().to_string(),
        c.cert.der().clone(),
    )
}

/// A TLS echo server with its own certificate for `name`.
async fn tls_echo_backend(name: &str) -> (SocketAddr, CertificateDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let der = c.cert.der().clone();
    let key = PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der.clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, der)
}

/// Opens TLS to `addr` with `sni`, sends `msg`, returns (what came back, server certificate).
async fn tls_echo(
    addr: SocketAddr,
    sni: &str,
    msg: &[u8],
) -> std::io::Result<(Vec<u8>, CertificateDer<'static>)> {
    let (config, capture) = capturing_client();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    tls.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(WAIT, tls.read_exact(&mut got)).await??;
    let cert = capture.0.lock().unwrap().clone().unwrap();
    Ok((got, cert))
}

/// The TLS version a client that speaks only `versions` gets from `addr` for `sni` (after
/// one echo through the router), or `None` when the handshake is refused.
async fn tls_version(
    addr: SocketAddr,
    sni: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Option<rustls::ProtocolVersion> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(client_with_versions(versions))
        .connect(name, tcp)
        .await
        .ok()?;
    tls.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    tokio::time::timeout(WAIT, tls.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"ping");
    tls.get_ref().1.protocol_version()
}

/// Sends `msg` over plain TCP and reads as many bytes back.
async fn plain_echo(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(msg).await?;
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got)).await??;
    Ok(got)
}

/// Whether the gateway closes `s` without sending anything.
async fn closed_without_data(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(WAIT, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn tcp_lb(name: &str, addrs: &[SocketAddr], extra: &str) -> String {
    let mut s = format!("    {name}:\n      loadBalancer:\n{extra}        servers:\n");
    for a in addrs {
        s.push_str(&format!("          - address: \"{a}\"\n"));
    }
    s
}

#[tokio::test]
async fn tls_termination_and_passthrough_by_sni() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, gw_der) = cert_files(&certs, &["echo.test"]);
    let echo = TcpEchoBackend::start().await;
    let (tls_backend, backend_der) = tls_echo_backend("pass.test").await;
    let dynamic = format!(
        r#"tcp:
  routers:
    terminate:
      rule: "HostSNI(`echo.test`)"
      service: echo
      tls: {{}}
    pass:
      rule: "HostSNI(`pass.test`) || HostSNI(`*.pass.test`)"
      service: tls-backend
      tls:
        passthrough: true
  services:
{}{}tls:
  certificates:
    - certFile: "{cert}"
      keyFile: "{key}"
"#,
        tcp_lb("echo", &[echo.addr()], ""),
        tcp_lb("tls-backend", &[tls_backend], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    let (got, served) = tls_echo(gw.addr(), "echo.test", b"terminated")
        .await
        .unwrap();
    assert_eq!(got, b"terminated");
    assert_eq!(
        served, gw_der,
        "the gateway's certificate for a terminating router"
    );
    let (got, served) = tls_echo(gw.addr(), "a.pass.test", b"passed").await.unwrap();
    assert_eq!(got, b"passed");
    assert_eq!(
        served, backend_der,
        "passthrough shows the backend's own certificate"
    );
}

/// `tls.options` of TCP routers that terminate TLS apply to the names of their `HostSNI`
/// (`*.domain` included); two routers giving one name different options leave it the
/// default options.
#[tokio::test]
async fn tls_options_of_tcp_routers_follow_their_server_names() {
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    use rustls::version::{TLS12, TLS13};
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = cert_files(&certs, &["*.test", "*.wild.test"]);
    let echo = TcpEchoBackend::start().await;
    let dynamic = format!(
        r#"tcp:
  routers:
    modern:
      rule: "HostSNI(`modern.test`) || HostSNI(`*.wild.test`)"
      service: echo
      tls:
        options: modern
    plain:
      rule: "HostSNI(`plain.test`)"
      service: echo
      tls: {{}}
    both-1:
      rule: "HostSNI(`both.test`)"
      service: echo
      tls:
        options: modern
    both-2:
      rule: "HostSNI(`both.test`) && ClientIP(`127.0.0.1`)"
      service: echo
      tls:
        options: old
  services:
{}tls:
  certificates:
    - certFile: "{cert}"
      keyFile: "{key}"
  options:
    modern:
      minVersion: VersionTLS13
    old:
      maxVersion: VersionTLS12
"#,
        tcp_lb("echo", &[echo.addr()], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    let both: &[&'static rustls::SupportedProtocolVersion] = &[&TLS13, &TLS12];
    assert_eq!(
        tls_version(gw.addr(), "plain.test", &[&TLS12]).await,
        Some(TLSv1_2)
    );
    assert_eq!(
        tls_version(gw.addr(), "modern.test", &[&TLS12]).await,
        None,
        "minVersion TLS 1.3 refuses a TLS 1.2 client"
    );
    assert_eq!(
        tls_version(gw.addr(), "modern.test", both).await,
        Some(TLSv1_3)
    );
    assert_eq!(tls_version(gw.addr(), "a.wild.test", &[&TLS12]).await, None);
    assert_eq!(
        tls_version(gw.addr(), "a.wild.test", both).await,
        Some(TLSv1_3)
    );
    // Conflicting options: the default, which takes TLS 1.2 (modern would refuse it) and
    // offers TLS 1.3 (old would not).
    assert_eq!(
        tls_version(gw.addr(), "both.test", &[&TLS12]).await,
        Some(TLSv1_2)
    );
    assert_eq!(
        tls_version(gw.addr(), "both.test", both).await,
        Some(TLSv1_3)
    );
}

/// A ClientHello cut into small TLS records sent in several writes still routes, both to
/// a terminating router and through passthrough (the backend gets the bytes untouched).
#[tokio::test]
async fn client_hello_split_over_records_and_writes() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = cert_files(&certs, &["split.test"]);
    let echo = TcpEchoBackend::start().await;
    let (tls_backend, _) = tls_echo_backend("pass.test").await;
    let dynamic = format!(
        r#"tcp:
  routers:
    terminate:
      rule: "HostSNI(`split.test`)"
      service: echo
      tls: {{}}
    pass:
      rule: "HostSNI(`pass.test`)"
      service: tls-backend
      tls: {{ passthrough: true }}
  services:
{}{}tls:
  certificates:
    - certFile: "{cert}"
      keyFile: "{key}"
"#,
        tcp_lb("echo", &[echo.addr()], ""),
        tcp_lb("tls-backend", &[tls_backend], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    let addr = gw.addr();
    for sni in ["split.test", "pass.test"] {
        let got = tokio::task::spawn_blocking(move || fragmented_hello_echo(addr, sni))
            .await
            .unwrap();
        assert_eq!(got, b"after a split hello", "{sni}");
    }
}

/// Drives a rustls client by hand: its ClientHello goes out as 40-byte records, a few
/// records per write; then the handshake and an echo complete normally.
fn fragmented_hello_echo(addr: SocketAddr, sni: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let (config, _) = capturing_client();
    let name = ServerName::try_from(sni.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let mut framed = Vec::new();
    for chunk in hello[5..].chunks(40) {
        framed.extend_from_slice(&hello[..3]);
        framed.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        framed.extend_from_slice(chunk);
    }
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_nodelay(true).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    for piece in framed.chunks(70) {
        sock.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"after a split hello").unwrap();
    let mut got = vec![0u8; 19];
    tls.read_exact(&mut got).unwrap();
    got
}

#[tokio::test]
async fn http_and_tcp_routers_share_an_entrypoint() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = cert_files(&certs, &["echo.test"]);
    let echo = TcpEchoBackend::start().await;
    let web = HttpBackend::builder("web").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    web:
      rule: "Host(`web.test`)"
      service: web
    secure:
      rule: "Host(`secure.test`)"
      service: web
      tls: {{}}
  services:
{}tcp:
  routers:
    echo:
      rule: "HostSNI(`echo.test`)"
      service: echo
      tls: {{}}
  services:
{}tls:
  certificates:
    - certFile: "{cert}"
      keyFile: "{key}"
"#,
        lb("web", &[&web.url()]),
        tcp_lb("echo", &[echo.addr()], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    let (got, _) = tls_echo(gw.addr(), "echo.test", b"tcp over tls")
        .await
        .unwrap();
    assert_eq!(got, b"tcp over tls");
    let body = get_json(&gw.client(), "http://web.test/plain")
        .await
        .unwrap();
    assert_eq!(
        body["path"], "/plain",
        "plain HTTP falls through to the HTTP routers"
    );
    // TLS whose SNI no TCP router takes is HTTPS for the HTTP routers.
    let (config, _) = capturing_client();
    let tcp = TcpStream::connect(gw.addr()).await.unwrap();
    let name = ServerName::try_from("secure.test").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /secure HTTP/1.1\r\nhost: secure.test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(WAIT, tls.read_to_end(&mut resp))
        .await
        .unwrap();
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("/secure"), "{resp}");
}

#[tokio::test]
async fn catch_all_plain_tcp_and_half_close() {
    let echo = TcpEchoBackend::start().await;
    let dynamic = format!(
        "tcp:\n  routers:\n    all:\n      rule: \"HostSNI(`*`)\"\n      service: echo\n  services:\n{}",
        tcp_lb("echo", &[echo.addr()], "")
    );
    let gw = TestGateway::start(&dynamic).await;
    assert_eq!(
        plain_echo(gw.addr(), b"plain bytes").await.unwrap(),
        b"plain bytes"
    );
    // The client says it is done writing; the backend's answer still arrives.
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    let big = vec![b'x'; 1 << 20];
    s.write_all(&big).await.unwrap();
    s.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.len(), big.len());
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_toward_servers() {
    let backend = ProxyHeaderBackend::start().await;
    let v1 = "        proxyProtocol: { version: 1 }\n";
    let v2 = "        proxyProtocol: { version: 2 }\n";
    let dynamic = format!(
        r#"tcp:
  routers:
    v1:
      rule: "ClientIP(`127.0.0.1`)"
      entryPoints: [one]
      service: v1
    v2:
      rule: "HostSNI(`*`)"
      entryPoints: [two]
      service: v2
  services:
{}{}"#,
        tcp_lb("v1", &[backend.addr()], v1),
        tcp_lb("v2", &[backend.addr()], v2),
    );
    let static_cfg = r#"
entryPoints:
  one: { address: "127.0.0.1:0" }
  two: { address: "127.0.0.1:0" }
providers:
  file: { filename: dynamic.yml }
"#;
    let gw = TestGateway::with_static(static_cfg, &dynamic).await;
    for (ep, version) in [("one", "v1"), ("two", "v2")] {
        let s = TcpStream::connect(gw.gateway.addr(ep).unwrap())
            .await
            .unwrap();
        let me = s.local_addr().unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        tokio::time::timeout(WAIT, r.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.trim(), format!("{version} {me}"));
    }
}

#[tokio::test]
async fn proxy_protocol_from_trusted_and_untrusted_peers() {
    let backend = ProxyHeaderBackend::start().await;
    let web = HttpBackend::builder("web").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    web:
      rule: "PathPrefix(`/`)"
      entryPoints: [http]
      service: web
  services:
{}tcp:
  routers:
    from-proxy:
      rule: "ClientIP(`203.0.113.0/24`)"
      entryPoints: [trusting]
      service: report
  services:
{}"#,
        lb("web", &[&web.url()]),
        tcp_lb(
            "report",
            &[backend.addr()],
            "        proxyProtocol: { version: 1 }\n"
        ),
    );
    let static_cfg = r#"
entryPoints:
  trusting:
    address: "127.0.0.1:0"
    proxyProtocol: { trustedIPs: ["127.0.0.1/32"] }
  wary:
    address: "127.0.0.1:0"
    proxyProtocol: { trustedIPs: ["10.0.0.0/8"] }
  http:
    address: "127.0.0.1:0"
    proxyProtocol: { trustedIPs: ["127.0.0.0/8"] }
    forwardedHeaders: { insecure: true }
providers:
  file: { filename: dynamic.yml }
"#;
    let gw = TestGateway::with_static(static_cfg, &dynamic).await;
    // Trusted: the header's address is the client's, for ClientIP and for the backend.
    let mut s = TcpStream::connect(gw.gateway.addr("trusting").unwrap())
        .await
        .unwrap();
    s.write_all(b"PROXY TCP4 203.0.113.9 127.0.0.1 4242 80\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    tokio::time::timeout(WAIT, r.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.trim(), "v1 203.0.113.9:4242");
    // Untrusted: closed.
    let mut s = TcpStream::connect(gw.gateway.addr("wary").unwrap())
        .await
        .unwrap();
    s.write_all(b"PROXY TCP4 203.0.113.9 127.0.0.1 4242 80\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_without_data(s).await);
    // HTTP behind a trusted PROXY header: X-Forwarded-For names the original client.
    let mut s = TcpStream::connect(gw.gateway.addr("http").unwrap())
        .await
        .unwrap();
    s.write_all(
        b"PROXY TCP4 198.51.100.4 127.0.0.1 5555 80\r\nGET /who HTTP/1.1\r\nhost: x.test\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut resp = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("198.51.100.4"), "{resp}");
}

#[tokio::test]
async fn weighted_services_spread_connections() {
    let a = TcpEchoBackend::start().await;
    let b = TcpEchoBackend::start().await;
    let dynamic = format!(
        r#"tcp:
  routers:
    all:
      rule: "HostSNI(`*`)"
      service: split
  services:
    split:
      weighted:
        services:
          - {{ name: a, weight: 3 }}
          - {{ name: b, weight: 1 }}
{}{}"#,
        tcp_lb("a", &[a.addr()], ""),
        tcp_lb("b", &[b.addr()], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    for _ in 0..8 {
        assert_eq!(plain_echo(gw.addr(), b"hi").await.unwrap(), b"hi");
    }
    assert_eq!((a.connections(), b.connections()), (6, 2));
}

#[tokio::test]
async fn ip_allow_list_and_in_flight_conn() {
    let echo = TcpEchoBackend::start().await;
    let dynamic = format!(
        r#"tcp:
  routers:
    denied:
      rule: "HostSNI(`*`)"
      entryPoints: [one]
      middlewares: [only-ten]
      service: echo
    limited:
      rule: "HostSNI(`*`)"
      entryPoints: [two]
      middlewares: [local, one-at-a-time]
      service: echo
  middlewares:
    only-ten:
      ipAllowList: {{ sourceRange: ["10.0.0.0/8"] }}
    local:
      ipAllowList: {{ sourceRange: ["127.0.0.1/32"] }}
    one-at-a-time:
      inFlightConn: {{ amount: 1 }}
  services:
{}"#,
        tcp_lb("echo", &[echo.addr()], ""),
    );
    let static_cfg = r#"
entryPoints:
  one: { address: "127.0.0.1:0" }
  two: { address: "127.0.0.1:0" }
providers:
  file: { filename: dynamic.yml }
"#;
    let gw = TestGateway::with_static(static_cfg, &dynamic).await;
    let s = TcpStream::connect(gw.gateway.addr("one").unwrap())
        .await
        .unwrap();
    assert!(
        closed_without_data(s).await,
        "ipAllowList refuses 127.0.0.1"
    );
    assert_eq!(echo.connections(), 0);
    let two = gw.gateway.addr("two").unwrap();
    let mut first = TcpStream::connect(two).await.unwrap();
    first.write_all(b"1").await.unwrap();
    let mut b = [0u8; 1];
    first.read_exact(&mut b).await.unwrap();
    let second = TcpStream::connect(two).await.unwrap();
    assert!(closed_without_data(second).await, "inFlightConn allows one");
    drop(first);
    wait_for(|| async { plain_echo(two, b"again").await.is_ok() }, WAIT)
        .await
        .unwrap();
}

#[tokio::test]
async fn sni_allow_plugin_filters_tls_connections() {
    let (tls_backend, _) = tls_echo_backend("ok.test").await;
    let dynamic = format!(
        r#"tcp:
  routers:
    filtered:
      rule: "HostSNI(`*`)"
      middlewares: [sni-filter]
      service: tls-backend
      tls: {{ passthrough: true }}
  middlewares:
    sni-filter:
      plugin:
        sni-allow: {{ allow: ["ok.test"] }}
  services:
{}plugins:
  sni-allow:
    source: "{}"
"#,
        tcp_lb("tls-backend", &[tls_backend], ""),
        guests::SNI_ALLOW,
    );
    let gw = TestGateway::start(&dynamic).await;
    let (got, _) = tls_echo(gw.addr(), "ok.test", b"allowed").await.unwrap();
    assert_eq!(got, b"allowed");
    assert!(tls_echo(gw.addr(), "other.test", b"denied").await.is_err());
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_is_cut_off() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = cert_files(&certs, &["echo.test"]);
    let echo = TcpEchoBackend::start().await;
    let dynamic = format!(
        r#"tcp:
  routers:
    echo:
      rule: "HostSNI(`echo.test`)"
      service: echo
      tls: {{}}
  services:
{}tls:
  certificates:
    - certFile: "{cert}"
      keyFile: "{key}"
"#,
        tcp_lb("echo", &[echo.addr()], ""),
    );
    let gw = TestGateway::start(&dynamic).await;
    let mut bad = TcpStream::connect(gw.addr()).await.unwrap();
    bad.write_all(&[0x16, 3, 1, 0, 40, 9, 9, 9, 9, 9, 9, 9, 9])
        .await
        .unwrap();
    // An incomplete hello, left hanging, does not block anyone.
    let mut hanging = TcpStream::connect(gw.addr()).await.unwrap();
    hanging.write_all(&[0x16, 3, 1, 1, 0, 1]).await.unwrap();
    assert!(closed_without_data(bad).await);
    let (got, _) = tls_echo(gw.addr(), "echo.test", b"still fine")
        .await
        .unwrap();
    assert_eq!(got, b"still fine");
    drop(hanging);
}

#[tokio::test]
async fn tcp_routers_reload_live() {
    let a = TcpEchoBackend::start().await;
    let b = TcpEchoBackend::start().await;
    let config = |to: SocketAddr| {
        format!(
            "tcp:\n  routers:\n    all:\n      rule: \"HostSNI(`*`)\"\n      service: echo\n  services:\n{}",
            tcp_lb("echo", &[to], "")
        )
    };
    let gw = TestGateway::with_static(STATIC_WEB, &config(a.addr())).await;
    // A stream opened before the reload keeps its backend.
    let mut open = TcpStream::connect(gw.addr()).await.unwrap();
    open.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.unwrap();
    gw.write_dynamic(&config(b.addr()));
    wait_for(
        || async { plain_echo(gw.addr(), b"new").await.is_ok() && b.connections() > 0 },
        WAIT,
    )
    .await
    .unwrap();
    open.write_all(b"y").await.unwrap();
    open.read_exact(&mut one).await.unwrap();
    assert_eq!(
        &one, b"y",
        "the stream opened before the reload still flows"
    );
    let (before_a, before_b) = (a.connections(), b.connections());
    assert_eq!(plain_echo(gw.addr(), b"after").await.unwrap(), b"after");
    assert_eq!((a.connections(), b.connections()), (before_a, before_b + 1));
    // A router that cannot work is refused with its name; the last good config keeps serving.
    gw.write_dynamic(&config(a.addr()).replace("HostSNI(`*`)", "HostSNI(`a.test`)"));
    let e = gw.gateway.reload().await.unwrap_err();
    assert!(
        e.contains("TCP router `all`") && e.contains("needs TLS"),
        "{e}"
    );
    assert_eq!(plain_echo(gw.addr(), b"kept").await.unwrap(), b"kept");
    assert_eq!(b.connections(), before_b + 2);
}
