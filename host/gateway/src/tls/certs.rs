//! Certificates: loading PEM (files or inline), the names they serve, SNI selection.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// PEM text given inline, or a path to a PEM file (Traefik accepts both).
fn pem_bytes(value: &str) -> Result<Vec<u8>, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(value).map_err(|e| format!("cannot read `{value}`: {e}"))
}

/// Loads a certificate chain and its key into a signing key, plus the DNS names it serves.
pub fn load(cert: &str, key: &str) -> Result<(Arc<CertifiedKey>, Vec<String>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem_bytes(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate `{}`: {e}", short(cert)))?;
    let Some(leaf) = chain.first() else {
        return Err(format!(
            "certificate `{}`: no certificate in it",
            short(cert)
        ));
    };
    let names = dns_names(leaf)?;
    let key = PrivateKeyDer::from_pem_slice(&pem_bytes(key)?)
        .map_err(|e| format!("key `{}`: {e}", short(key)))?;
    let signer = any_supported_type(&key).map_err(|e| format!("key `{}`: {e}", short(cert)))?;
    Ok((Arc::new(CertifiedKey::new(chain, signer)), names))
}

fn short(value: &str) -> &str {
    if value.trim_start().starts_with("-----BEGIN") {
        "<inline PEM>"
    } else {
        value
    }
}

/// The DNS names of a certificate: its subject alternative names, else its common name.
pub fn dns_names(der: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    use x509_parser::prelude::*;
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("invalid certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

/// Picks the certificate for a ClientHello's SNI: exact name, then a one-label wildcard,
/// then the default certificate (unless `strict`, which refuses the handshake instead).
#[derive(Debug, Default)]
pub struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    strict: bool,
}

impl SniResolver {
    /// A resolver with `default` for unknown names.
    pub fn new(default: Option<Arc<CertifiedKey>>) -> Self {
        SniResolver {
            default,
            ..SniResolver::default()
        }
    }

    /// Serves `key` for `names` (`*.example.com` serves one label under example.com).
    pub fn add(&mut self, key: &Arc<CertifiedKey>, names: &[String]) {
        for name in names {
            match name.strip_prefix("*.") {
                Some(parent) => self
                    .wildcard
                    .entry(parent.to_owned())
                    .or_insert_with(|| key.clone()),
                None => self
                    .exact
                    .entry(name.clone())
                    .or_insert_with(|| key.clone()),
            };
        }
    }

    /// The same certificates, refusing unknown names.
    pub fn strict(&self) -> SniResolver {
        SniResolver {
            exact: self.exact.clone(),
            wildcard: self.wildcard.clone(),
            default: self.default.clone(),
            strict: true,
        }
    }

    /// The certificate for `sni`.
    pub fn find(&self, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = sni.map(|s| s.trim_end_matches('.').to_ascii_lowercase()) {
            if let Some(k) = self.exact.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.')
                && let Some(k) = self.wildcard.get(parent)
            {
                return Some(k.clone());
            }
        }
        if self.strict {
            None
        } else {
            self.default.clone()
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.find(hello.server_name())
    }
}

/// A self-signed certificate for the default store when none is configured, as Traefik does.
pub fn generated_default() -> Result<Arc<CertifiedKey>, String> {
    let cert = rcgen::generate_simple_self_signed(vec!["wasmgate.default".to_owned()])
        .map_err(|e| format!("cannot generate the default certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(cert.signing_key.serialize_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    let signer = any_supported_type(&key).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.cert.der().clone()],
        signer,
    )))
}
