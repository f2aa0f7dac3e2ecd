//! `tls`: certificates, TLS options and certificate stores.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Domain;

/// The `tls` section of the dynamic configuration.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// Certificates, selected by SNI.
    pub certificates: Vec<Certificate>,
    /// Named TLS options (`default` applies to routers without `tls.options`).
    pub options: BTreeMap<String, TlsOptions>,
    /// Certificate stores (only `default` is meaningful).
    pub stores: BTreeMap<String, TlsStore>,
}

/// `tls.certificates[]`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Certificate {
    /// PEM certificate (chain) file, or inline PEM.
    pub cert_file: String,
    /// PEM private key file, or inline PEM.
    pub key_file: String,
    /// Stores the certificate belongs to (default: `default`).
    pub stores: Vec<String>,
}

/// `tls.options.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsOptions {
    /// `VersionTLS10` … `VersionTLS13` (default `VersionTLS12`).
    pub min_version: Option<String>,
    /// Highest version allowed.
    pub max_version: Option<String>,
    /// Cipher suites (TLS 1.2 and below), by Go name.
    pub cipher_suites: Vec<String>,
    /// Key-exchange curves, by Go name (`CurveP521`, `X25519`, …).
    pub curve_preferences: Vec<String>,
    /// Client certificate authentication.
    pub client_auth: Option<ClientAuth>,
    /// Reject handshakes whose SNI matches no certificate.
    pub sni_strict: bool,
    /// ALPN protocols offered (default `h2`, `http/1.1`, `acme-tls/1`).
    pub alpn_protocols: Vec<String>,
    /// Disable session resumption tickets.
    pub disable_session_tickets: bool,
    /// Deprecated, without effect in Traefik.
    pub prefer_server_cipher_suites: Option<bool>,
}

/// `tls.options.<name>.clientAuth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientAuth {
    /// CA files used to verify client certificates.
    pub ca_files: Vec<String>,
    /// `NoClientCert`, `RequestClientCert`, `RequireAnyClientCert`,
    /// `VerifyClientCertIfGiven` or `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
}

/// `tls.stores.<name>`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsStore {
    /// Certificate served when no other matches.
    pub default_certificate: Option<StoreCertificate>,
    /// Generate the default certificate with a resolver.
    pub default_generated_cert: Option<GeneratedCert>,
}

/// `tls.stores.<name>.defaultCertificate`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StoreCertificate {
    /// PEM certificate file.
    pub cert_file: String,
    /// PEM key file.
    pub key_file: String,
}

/// `tls.stores.<name>.defaultGeneratedCert`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratedCert {
    /// Certificate resolver name.
    pub resolver: String,
    /// Domain of the certificate.
    pub domain: Option<Domain>,
}
