//! Connecting to TCP servers: dial timeout, PROXY protocol header, TLS with rustls.

use super::service::{TcpLoadBalancer, TcpServer};
use crate::entrypoint::proxy_protocol;
use crate::proxy::Stream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wasmgate_config::{TcpServersTransport, TcpServersTransportTls};

/// Where the system's CA bundle usually is; used when `rootCAs` is empty.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How servers are dialled (`tcp.serversTransports.<name>`).
#[derive(Debug)]
pub struct TcpTransport {
    /// Connect timeout.
    pub dial_timeout: Duration,
    /// Once one side has closed, how long the other may still send; `None`: no limit.
    pub termination_delay: Option<Duration>,
    /// PROXY protocol version for servers, if any.
    pub proxy_protocol: Option<u8>,
    /// TLS toward servers with `tls: true`.
    pub tls: Arc<ClientConfig>,
    /// SNI sent to TLS servers; the server's host by default.
    pub server_name: Option<String>,
}

impl TcpTransport {
    /// Builds a transport from its configuration.
    pub fn build(def: &TcpServersTransport) -> Result<TcpTransport, String> {
        Ok(TcpTransport {
            dial_timeout: def
                .dial_timeout
                .to_std_nonzero()
                .unwrap_or(Duration::from_secs(30)),
            termination_delay: def.termination_delay.to_std(),
            proxy_protocol: def
                .proxy_protocol
                .as_ref()
                .map(|p| p.version.unwrap_or(2) as u8),
            tls: Arc::new(client_config(def.tls.as_ref())?),
            server_name: def.tls.as_ref().and_then(|t| t.server_name.clone()),
        })
    }
}

pub(crate) fn client_config(tls: Option<&TcpServersTransportTls>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if tls.is_some_and(|t| t.insecure_skip_verify) {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
    } else {
        let mut roots = RootCertStore::empty();
        let files: Vec<String> = match tls.map(|t| t.root_cas.clone()).unwrap_or_default() {
            v if v.is_empty() => SYSTEM_ROOTS
                .iter()
                .filter(|p| std::path::Path::new(p).exists())
                .take(1)
                .map(|p| (*p).to_owned())
                .collect(),
            v => v,
        };
        for file in &files {
            for cert in CertificateDer::pem_slice_iter(&pem(file)?) {
                let cert = cert.map_err(|e| format!("rootCAs `{file}`: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("rootCAs `{file}`: {e}"))?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let certs = tls.map(|t| t.certificates.as_slice()).unwrap_or_default();
    match certs.first() {
        Some(c) => {
            let chain = CertificateDer::pem_slice_iter(&pem(&c.cert_file)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("certificates: {e}"))?;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem(&c.key_file)?)
                .map_err(|e| format!("certificates: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("certificates: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// PEM given inline or as a file path.
fn pem(value: &str) -> Result<Vec<u8>, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value).map_err(|e| format!("cannot read `{value}`: {e}"))
}

/// Accepts any server certificate (`insecureSkipVerify`).
#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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

/// Opens a connection to `server`: TCP within the dial timeout, then the PROXY header
/// announcing `client` (reached on `local`) if the service sends one, then TLS if asked.
pub async fn connect(
    lb: &TcpLoadBalancer,
    server: &TcpServer,
    client: SocketAddr,
    local: SocketAddr,
) -> io::Result<Stream> {
    let t = &lb.transport;
    let mut tcp = tokio::time::timeout(t.dial_timeout, TcpStream::connect(&server.address))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("dial timeout ({:?})", t.dial_timeout),
            )
        })??;
    let _ = tcp.set_nodelay(true);
    if let Some(v) = lb.proxy_protocol.or(t.proxy_protocol) {
        tcp.write_all(&proxy_protocol::header(v, client, local))
            .await?;
    }
    if !server.tls {
        return Ok(Stream::Tcp(tcp));
    }
    let host = t.server_name.clone().unwrap_or_else(|| {
        let host = server
            .address
            .rsplit_once(':')
            .map_or(server.address.as_str(), |(h, _)| h);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let name =
        ServerName::try_from(host).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = tokio_rustls::TlsConnector::from(t.tls.clone())
        .connect(name, tcp)
        .await?;
    Ok(Stream::other(tls))
}
