//! TLS options (`tls.options.<name>`) as rustls server configurations.

use super::certs::SniResolver;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::ring::{cipher_suite as cs, default_provider, kx_group};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use std::sync::Arc;
use wasmgate_config::TlsOptions;

/// Builds the server configuration of one options set; certificates come from `certs`.
pub fn server_config(
    name: &str,
    opts: &TlsOptions,
    certs: &Arc<SniResolver>,
) -> Result<Arc<ServerConfig>, String> {
    let mut provider = default_provider();
    if !opts.cipher_suites.is_empty() {
        let mut suites = vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ];
        for s in &opts.cipher_suites {
            suites.push(cipher_suite(s).ok_or_else(|| {
                format!("tls.options.{name}: cipher suite `{s}` is not supported")
            })?);
        }
        provider.cipher_suites = suites;
    }
    if !opts.curve_preferences.is_empty() {
        provider.kx_groups = opts
            .curve_preferences
            .iter()
            .map(|c| match c.as_str() {
                "X25519" => Ok(kx_group::X25519),
                "CurveP256" | "secp256r1" => Ok(kx_group::SECP256R1),
                "CurveP384" | "secp384r1" => Ok(kx_group::SECP384R1),
                other => Err(format!(
                    "tls.options.{name}: curve `{other}` is not supported"
                )),
            })
            .collect::<Result<_, _>>()?;
    }
    let versions = versions(name, opts)?;
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls.options.{name}: {e}"))?;
    let resolver: Arc<SniResolver> = if opts.sni_strict {
        Arc::new(certs.strict())
    } else {
        certs.clone()
    };
    let auth = opts.client_auth.as_ref();
    let mode = auth
        .and_then(|a| a.client_auth_type.as_deref())
        .unwrap_or("NoClientCert");
    let roots = || -> Result<Arc<RootCertStore>, String> {
        let mut roots = RootCertStore::empty();
        for file in auth.map(|a| a.ca_files.as_slice()).unwrap_or_default() {
            let pem = if file.trim_start().starts_with("-----BEGIN") {
                file.as_bytes().to_vec()
            } else {
                std::fs::read(file)
                    .map_err(|e| format!("tls.options.{name}.clientAuth.caFiles: `{file}`: {e}"))?
            };
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert
                    .map_err(|e| format!("tls.options.{name}.clientAuth.caFiles: `{file}`: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.options.{name}.clientAuth.caFiles: `{file}`: {e}"))?;
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "tls.options.{name}.clientAuth: `{mode}` needs caFiles"
            ));
        }
        Ok(Arc::new(roots))
    };
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match mode {
        "NoClientCert" => None,
        "RequestClientCert" => Some(Arc::new(AnyClientCert {
            mandatory: false,
            provider,
        })),
        "RequireAnyClientCert" => Some(Arc::new(AnyClientCert {
            mandatory: true,
            provider,
        })),
        "VerifyClientCertIfGiven" => Some(
            WebPkiClientVerifier::builder(roots()?)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("tls.options.{name}.clientAuth: {e}"))?,
        ),
        "RequireAndVerifyClientCert" => Some(
            WebPkiClientVerifier::builder(roots()?)
                .build()
                .map_err(|e| format!("tls.options.{name}.clientAuth: {e}"))?,
        ),
        other => {
            return Err(format!(
                "tls.options.{name}.clientAuth.clientAuthType: unknown `{other}`"
            ));
        }
    };
    let mut config = match verifier {
        None => builder.with_no_client_auth().with_cert_resolver(resolver),
        Some(v) => builder
            .with_client_cert_verifier(v)
            .with_cert_resolver(resolver),
    };
    config.alpn_protocols = if opts.alpn_protocols.is_empty() {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        opts.alpn_protocols
            .iter()
            .filter(|p| p.as_str() != "acme-tls/1")
            .map(|p| p.as_bytes().to_vec())
            .collect()
    };
    if opts.disable_session_tickets {
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

fn versions(
    name: &str,
    opts: &TlsOptions,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str| match v {
        "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => Ok(12),
        "VersionTLS13" => Ok(13),
        other => Err(format!("tls.options.{name}: unknown TLS version `{other}`")),
    };
    let min = opts.min_version.as_deref().map_or(Ok(12), rank)?;
    let max = opts.max_version.as_deref().map_or(Ok(13), rank)?;
    let mut out = Vec::new();
    if min <= 12 && max >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(format!(
            "tls.options.{name}: minVersion is above maxVersion"
        ));
    }
    Ok(out)
}

fn cipher_suite(go_name: &str) -> Option<rustls::SupportedCipherSuite> {
    Some(match go_name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        _ => return None,
    })
}

/// `RequestClientCert` / `RequireAnyClientCert`: asks for a certificate and takes any that
/// proves possession of its key, without checking who signed it.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
