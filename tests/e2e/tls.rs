//! TLS termination: SNI certificate selection, the default certificate, ALPN h2, client
//! certificates, plain and TLS routers on one entrypoint, and certificates reloading live.

use crate::support::{TestGateway, lb, write_atomic};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasmgate_test_harness::HttpBackend;

/// A test certificate authority.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "wasmgate test CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// (certificate PEM, key PEM) for `names`.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("client"),
        );
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        roots
    }
}

/// Accepts any server certificate and remembers it, to see which one was served.
#[derive(Debug, Default)]
pub(crate) struct Capture(pub(crate) Mutex<Option<CertificateDer<'static>>>);

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client that accepts any server certificate and speaks only `versions` of TLS.
pub(crate) fn client_with_versions(
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Capture::default()))
        .with_no_client_auth();
    Arc::new(config)
}

/// A client that accepts any server certificate and captures it.
pub(crate) fn capturing_client() -> (Arc<ClientConfig>, Arc<Capture>) {
    let capture = Arc::new(Capture::default());
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    (Arc::new(config), capture)
}

/// The DNS names of the certificate the server presents for `sni`.
async fn served_names(addr: SocketAddr, sni: &str) -> Vec<String> {
    let (config, capture) = capturing_client();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    connector
        .connect(ServerName::try_from(sni.to_owned()).unwrap(), tcp)
        .await
        .unwrap();
    let der = capture.0.lock().unwrap().clone().unwrap();
    wasmgate::tls::certs::dns_names(&der).unwrap()
}

/// GETs `path` over TLS with `sni` as server name, verifying against `roots`; returns the
/// negotiated ALPN protocol, the status and the body.
async fn https_get(
    addr: SocketAddr,
    sni: &str,
    path: &str,
    roots: RootCertStore,
    client_cert: Option<(String, String)>,
    alpn: &[&str],
) -> anyhow::Result<(Option<String>, u16, Bytes)> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match client_cert {
        Some((cert, key)) => builder.with_client_auth_cert(
            CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<Vec<_>, _>>()?,
            PrivateKeyDer::from_pem_slice(key.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(sni.to_owned())?, tcp)
        .await?;
    let negotiated = tls
        .get_ref()
        .1
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let io = TokioIo::new(tls);
    let req = http::Request::get(format!("https://{sni}{path}"))
        .header("host", sni)
        .body(Empty::<Bytes>::new())?;
    let resp = if negotiated.as_deref() == Some("h2") {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        let mut req = req;
        req.headers_mut().remove("host");
        send.send_request(req).await?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        send.send_request(req).await?
    };
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((negotiated, status, body))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn https_with_sni_default_certificate_alpn_and_client_certificates() {
    let be = HttpBackend::builder("be").start().await;
    let plain_be = HttpBackend::builder("plain").start().await;
    let ca = Ca::new();
    let files = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = ca.issue(&["a.test", "m.test"]);
    let (w_cert, w_key) = ca.issue(&["*.wild.test"]);
    let (d_cert, d_key) = ca.issue(&["default.test"]);
    let (c_cert, c_key) = ca.issue(&["client"]);
    let dir = files.path();
    let dynamic = format!(
        r#"http:
  routers:
    secure:
      rule: "Host(`a.test`) || HostRegexp(`^.+\\.wild\\.test$`)"
      service: s
      tls: {{}}
    plain:
      rule: "Host(`a.test`)"
      service: plain
    mtls:
      rule: "Host(`m.test`)"
      service: s
      tls:
        options: mutual
  services:
{}{}
tls:
  certificates:
    - certFile: "{}"
      keyFile: "{}"
    - certFile: "{}"
      keyFile: "{}"
  stores:
    default:
      defaultCertificate:
        certFile: "{}"
        keyFile: "{}"
  options:
    mutual:
      clientAuth:
        caFiles: ["{}"]
        clientAuthType: RequireAndVerifyClientCert
"#,
        lb("s", &[&be.url()]),
        lb("plain", &[&plain_be.url()]),
        write(dir, "a.crt", &a_cert),
        write(dir, "a.key", &a_key),
        write(dir, "w.crt", &w_cert),
        write(dir, "w.key", &w_key),
        write(dir, "d.crt", &d_cert),
        write(dir, "d.key", &d_key),
        write(dir, "ca.crt", &ca.pem),
    );
    let gw = TestGateway::start(&dynamic).await;
    let addr = gw.addr();

    // SNI picks the certificate: exact, wildcard, and the default for anything else.
    assert_eq!(served_names(addr, "a.test").await, ["a.test", "m.test"]);
    assert_eq!(served_names(addr, "x.wild.test").await, ["*.wild.test"]);
    assert_eq!(served_names(addr, "unknown.test").await, ["default.test"]);

    // HTTP/1.1 and h2 by ALPN, verified against the CA; TLS routers answer TLS requests.
    let (alpn, status, body) = https_get(addr, "a.test", "/x", ca.roots(), None, &["http/1.1"])
        .await
        .unwrap();
    assert_eq!((alpn.as_deref(), status), (Some("http/1.1"), 200));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["backend"], "be", "the tls router, not the plain one");
    assert_eq!(v["headers"]["x-forwarded-proto"][0], "https");
    let (alpn, status, body) = https_get(
        addr,
        "b.wild.test",
        "/y",
        ca.roots(),
        None,
        &["h2", "http/1.1"],
    )
    .await
    .unwrap();
    assert_eq!((alpn.as_deref(), status), (Some("h2"), 200));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["path"], "/y");

    // The same entrypoint still serves plain HTTP, with the plain routers only.
    let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/x")
        .await
        .unwrap();
    assert_eq!(v["backend"], "plain", "plain router's service");
    let (status, _, _) = wasmgate_test_harness::get(&gw.client(), "http://m.test/")
        .await
        .unwrap();
    assert_eq!(
        status, 404,
        "a TLS-only router is not served over plain HTTP"
    );

    // mTLS: refused without a client certificate, served with one signed by the CA.
    assert!(
        https_get(addr, "m.test", "/", ca.roots(), None, &[])
            .await
            .is_err(),
        "no client certificate"
    );
    let (_, status, _) = https_get(addr, "m.test", "/", ca.roots(), Some((c_cert, c_key)), &[])
        .await
        .unwrap();
    assert_eq!(status, 200);
    let other_ca = Ca::new();
    let (o_cert, o_key) = other_ca.issue(&["client"]);
    assert!(
        https_get(addr, "m.test", "/", ca.roots(), Some((o_cert, o_key)), &[])
            .await
            .is_err(),
        "a client certificate from another CA"
    );
}

#[tokio::test]
async fn certificates_reload_live() {
    let be = HttpBackend::builder("be").start().await;
    let ca = Ca::new();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = ca.issue(&["a.test"]);
    let cert_path = write(files.path(), "a.crt", &cert);
    let key_path = write(files.path(), "a.key", &key);
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`) || Host(`b.test`)\"\n      service: s\n      tls: {{}}\n  services:\n{}\ntls:\n  certificates:\n    - certFile: \"{cert_path}\"\n      keyFile: \"{key_path}\"\n",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::start(&dynamic).await;
    assert_eq!(
        served_names(gw.addr(), "b.test").await,
        ["wasmgate.default"],
        "generated default"
    );

    // A kept-alive TLS connection opened before the reload.
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("a.test").unwrap(), tcp)
        .await
        .unwrap();
    let (mut open, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/")
            .header("host", "a.test")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let first = open.send_request(get()).await.unwrap();
    assert_eq!(first.status(), 200);
    first.into_body().collect().await.unwrap();

    // Replace the certificate files with one for both names, then reload.
    let (cert2, key2) = ca.issue(&["a.test", "b.test"]);
    write_atomic(Path::new(&cert_path), &cert2);
    write_atomic(Path::new(&key_path), &key2);
    gw.gateway
        .reload()
        .await
        .expect("reload with the new certificate");
    assert_eq!(
        served_names(gw.addr(), "b.test").await,
        ["a.test", "b.test"]
    );
    let (_, status, _) = https_get(gw.addr(), "b.test", "/", ca.roots(), None, &[])
        .await
        .unwrap();
    assert_eq!(status, 200);
    // The connection opened before the reload keeps its session and keeps serving.
    let resp = open
        .send_request(get())
        .await
        .expect("same connection after the reload");
    assert_eq!(resp.status(), 200);
}
