//! `http.middlewares`: every Traefik middleware type.
//!
//! All types parse; [`crate::IMPLEMENTED_MIDDLEWARES`] lists those the gateway runs, and
//! validation reports the others as unsupported.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Unsupported;
use crate::Duration;

/// `http.middlewares.<name>`: exactly one middleware type, keyed by Traefik's name.
// Configuration is built once per reload; variant sizes do not matter, plain variants keep
// pattern matching simple.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Middleware {
    /// Prepend a path prefix.
    AddPrefix(AddPrefix),
    /// Remove path prefixes.
    StripPrefix(StripPrefix),
    /// Remove path prefixes matching regexes.
    StripPrefixRegex(StripPrefixRegex),
    /// Replace the path.
    ReplacePath(ReplacePath),
    /// Rewrite the path with a regex.
    ReplacePathRegex(ReplacePathRegex),
    /// Redirect to another scheme (and port).
    RedirectScheme(RedirectScheme),
    /// Redirect URLs matching a regex.
    RedirectRegex(RedirectRegex),
    /// Set request/response headers, CORS and security headers.
    Headers(Headers),
    /// HTTP basic authentication.
    BasicAuth(BasicAuth),
    /// Allow only some client IPs.
    #[serde(rename = "ipAllowList")]
    IpAllowList(IpAllowList),
    /// Compose middlewares.
    Chain(Chain),
    /// Limit concurrent requests.
    InFlightReq(InFlightReq),
    /// Token-bucket rate limiting.
    RateLimit(RateLimit),
    /// Retry failed requests.
    Retry(Retry),
    /// Compress responses.
    Compress(Compress),
    /// Buffer request/response bodies.
    Buffering(Buffering),
    /// Stop calling unhealthy services.
    CircuitBreaker(CircuitBreaker),
    /// Custom error pages.
    Errors(Errors),
    /// Delegate authentication to an HTTP service.
    ForwardAuth(ForwardAuth),
    /// HTTP digest authentication.
    DigestAuth(DigestAuth),
    /// Content-Type auto-detection.
    ContentType(ContentType),
    /// gRPC-Web to gRPC translation.
    GrpcWeb(GrpcWeb),
    /// Pass the client TLS certificate in a header.
    #[serde(rename = "passTLSClientCert")]
    PassTlsClientCert(PassTlsClientCert),
    /// A plugin: `{ <pluginName>: <settings> }`.
    Plugin(BTreeMap<String, serde_json::Value>),
    /// Deprecated name of `ipAllowList`.
    #[serde(rename = "ipWhiteList")]
    IpWhiteList(IpAllowList),
    /// Encoded characters allowed in request paths.
    EncodedCharacters(Unsupported),
}

impl Middleware {
    /// The Traefik key of this middleware type, e.g. `stripPrefix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Middleware::AddPrefix(_) => "addPrefix",
            Middleware::StripPrefix(_) => "stripPrefix",
            Middleware::StripPrefixRegex(_) => "stripPrefixRegex",
            Middleware::ReplacePath(_) => "replacePath",
            Middleware::ReplacePathRegex(_) => "replacePathRegex",
            Middleware::RedirectScheme(_) => "redirectScheme",
            Middleware::RedirectRegex(_) => "redirectRegex",
            Middleware::Headers(_) => "headers",
            Middleware::BasicAuth(_) => "basicAuth",
            Middleware::IpAllowList(_) => "ipAllowList",
            Middleware::Chain(_) => "chain",
            Middleware::InFlightReq(_) => "inFlightReq",
            Middleware::RateLimit(_) => "rateLimit",
            Middleware::Retry(_) => "retry",
            Middleware::Compress(_) => "compress",
            Middleware::Buffering(_) => "buffering",
            Middleware::CircuitBreaker(_) => "circuitBreaker",
            Middleware::Errors(_) => "errors",
            Middleware::ForwardAuth(_) => "forwardAuth",
            Middleware::DigestAuth(_) => "digestAuth",
            Middleware::ContentType(_) => "contentType",
            Middleware::GrpcWeb(_) => "grpcWeb",
            Middleware::PassTlsClientCert(_) => "passTLSClientCert",
            Middleware::Plugin(_) => "plugin",
            Middleware::IpWhiteList(_) => "ipWhiteList",
            Middleware::EncodedCharacters(_) => "encodedCharacters",
        }
    }

    /// True when the gateway implements this middleware type.
    pub fn is_implemented(&self) -> bool {
        crate::IMPLEMENTED_MIDDLEWARES.contains(&self.kind())
    }
}

/// `addPrefix`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AddPrefix {
    /// Prefix to prepend, e.g. `/foo`.
    pub prefix: String,
}

/// `stripPrefix`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StripPrefix {
    /// Prefixes to remove (the first that matches).
    pub prefixes: Vec<String>,
    /// Deprecated: always end the stripped path with `/`.
    pub force_slash: Option<bool>,
}

/// `stripPrefixRegex`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct StripPrefixRegex {
    /// Regexes matching the prefix to remove.
    pub regex: Vec<String>,
}

/// `replacePath`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ReplacePath {
    /// New path.
    pub path: String,
}

/// `replacePathRegex`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ReplacePathRegex {
    /// Regex matched against the path.
    pub regex: String,
    /// Replacement, with `$1`/`${1}` references.
    pub replacement: String,
}

/// `redirectScheme`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectScheme {
    /// Target scheme, e.g. `https`.
    pub scheme: String,
    /// Target port (a string in Traefik).
    pub port: Option<String>,
    /// 301/308 instead of 302/307.
    pub permanent: bool,
}

/// `redirectRegex`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RedirectRegex {
    /// Regex matched against the full request URL.
    pub regex: String,
    /// Replacement URL, with `$1`/`${1}` references.
    pub replacement: String,
    /// 301/308 instead of 302/307.
    pub permanent: bool,
}

/// `headers`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Headers {
    /// Request headers to set; an empty value removes the header.
    pub custom_request_headers: BTreeMap<String, String>,
    /// Response headers to set; an empty value removes the header.
    pub custom_response_headers: BTreeMap<String, String>,
    /// CORS: `Access-Control-Allow-Credentials`.
    pub access_control_allow_credentials: bool,
    /// CORS: `Access-Control-Allow-Headers`.
    pub access_control_allow_headers: Vec<String>,
    /// CORS: `Access-Control-Allow-Methods`.
    pub access_control_allow_methods: Vec<String>,
    /// CORS: allowed origins (`*` for any).
    pub access_control_allow_origin_list: Vec<String>,
    /// CORS: allowed origins, as regexes.
    pub access_control_allow_origin_list_regex: Vec<String>,
    /// CORS: `Access-Control-Expose-Headers`.
    pub access_control_expose_headers: Vec<String>,
    /// CORS: `Access-Control-Max-Age` in seconds.
    pub access_control_max_age: i64,
    /// CORS: add `Vary: Origin`.
    pub add_vary_header: bool,
    /// `Host` values allowed (empty: any).
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the original host.
    pub hosts_proxy_headers: Vec<String>,
    /// Header/value pairs that mark a request as HTTPS.
    #[serde(rename = "sslProxyHeaders")]
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security` max-age; 0 disables.
    pub sts_seconds: i64,
    /// Add `includeSubDomains` to STS.
    pub sts_include_subdomains: bool,
    /// Add `preload` to STS.
    pub sts_preload: bool,
    /// Send STS over plain HTTP too.
    #[serde(rename = "forceSTSHeader")]
    pub force_sts_header: bool,
    /// `X-Frame-Options: DENY`.
    pub frame_deny: bool,
    /// Custom `X-Frame-Options` value.
    pub custom_frame_options_value: Option<String>,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-XSS-Protection: 1; mode=block`.
    pub browser_xss_filter: bool,
    /// Custom `X-XSS-Protection` value.
    #[serde(rename = "customBrowserXSSValue")]
    pub custom_browser_xss_value: Option<String>,
    /// `Content-Security-Policy`.
    pub content_security_policy: Option<String>,
    /// `Content-Security-Policy-Report-Only`.
    pub content_security_policy_report_only: Option<String>,
    /// `Public-Key-Pins`.
    pub public_key: Option<String>,
    /// `Referrer-Policy`.
    pub referrer_policy: Option<String>,
    /// `Permissions-Policy`.
    pub permissions_policy: Option<String>,
    /// Skip `allowedHosts`, STS and SSL checks (development only).
    pub is_development: bool,
    /// Unsupported: `featurePolicy` (removed in Traefik v3; use `permissionsPolicy`).
    pub feature_policy: Option<Unsupported>,
    /// Unsupported: `sslRedirect` (removed in Traefik v3; use `redirectScheme`).
    pub ssl_redirect: Option<Unsupported>,
    /// Unsupported: `sslTemporaryRedirect` (removed in Traefik v3).
    pub ssl_temporary_redirect: Option<Unsupported>,
    /// Unsupported: `sslHost` (removed in Traefik v3).
    pub ssl_host: Option<Unsupported>,
    /// Unsupported: `sslForceHost` (removed in Traefik v3).
    pub ssl_force_host: Option<Unsupported>,
}

/// `basicAuth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicAuth {
    /// `user:hash` entries (htpasswd format: bcrypt, SHA1, apr1/MD5).
    pub users: Vec<String>,
    /// File of `user:hash` lines, merged with `users`.
    pub users_file: Option<String>,
    /// Realm (default `traefik`).
    pub realm: Option<String>,
    /// Header receiving the authenticated user name.
    pub header_field: Option<String>,
    /// Remove the `Authorization` header before forwarding.
    pub remove_header: bool,
}

/// `ipAllowList` (HTTP).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IpAllowList {
    /// Allowed IPs and CIDR ranges.
    pub source_range: Vec<String>,
    /// How the client IP is determined.
    pub ip_strategy: Option<IpStrategy>,
    /// Status returned to rejected clients (default 403).
    pub reject_status_code: Option<u16>,
}

/// How the client IP is chosen from `X-Forwarded-For`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IpStrategy {
    /// Take the n-th IP from the right of `X-Forwarded-For` (0: use the peer address).
    pub depth: i64,
    /// Skip these IPs (from the right) of `X-Forwarded-For`.
    #[serde(rename = "excludedIPs")]
    pub excluded_ips: Vec<String>,
    /// Group IPv6 clients by this prefix length.
    pub ipv6_subnet: Option<u8>,
}

/// `chain`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Chain {
    /// Middlewares applied in order.
    pub middlewares: Vec<String>,
}

/// What groups requests for `inFlightReq` and `rateLimit`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceCriterion {
    /// Group by client IP.
    pub ip_strategy: Option<IpStrategy>,
    /// Group by the value of this request header.
    pub request_header_name: Option<String>,
    /// Group by request host.
    pub request_host: bool,
}

/// `inFlightReq`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct InFlightReq {
    /// Maximum simultaneous requests per source.
    pub amount: i64,
    /// Request grouping (default: client IP).
    pub source_criterion: Option<SourceCriterion>,
}

/// `rateLimit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimit {
    /// Allowed requests per `period` on average; 0 disables the limit.
    pub average: i64,
    /// Period of `average` (default 1s).
    pub period: Duration,
    /// Bucket size (default 1).
    pub burst: i64,
    /// Request grouping (default: client IP).
    pub source_criterion: Option<SourceCriterion>,
    /// Unsupported: `redis` (distributed rate limiting).
    pub redis: Option<Unsupported>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            average: 0,
            period: Duration::from_secs(1),
            burst: 1,
            source_criterion: None,
            redis: None,
        }
    }
}

/// `retry`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Retry {
    /// Attempts in total.
    pub attempts: i64,
    /// First backoff interval, doubled on each retry (default 100ms).
    pub initial_interval: Duration,
    /// Unsupported: `timeout`.
    pub timeout: Option<Unsupported>,
    /// Unsupported: `maxRequestBodyBytes`.
    pub max_request_body_bytes: Option<Unsupported>,
    /// Unsupported: `status`.
    pub status: Option<Unsupported>,
    /// Unsupported: `disableRetryOnNetworkError`.
    pub disable_retry_on_network_error: Option<Unsupported>,
    /// Unsupported: `retryNonIdempotentMethod`.
    pub retry_non_idempotent_method: Option<Unsupported>,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 0,
            initial_interval: Duration::from_millis(100),
            timeout: None,
            max_request_body_bytes: None,
            status: None,
            disable_retry_on_network_error: None,
            retry_non_idempotent_method: None,
        }
    }
}

/// `compress`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Compress {
    /// Content types never compressed.
    pub excluded_content_types: Vec<String>,
    /// Only these content types are compressed.
    pub included_content_types: Vec<String>,
    /// Smallest body compressed, in bytes.
    pub min_response_body_bytes: Option<i64>,
    /// Encodings offered, in preference order.
    pub encodings: Vec<String>,
    /// Encoding used when the client accepts any.
    pub default_encoding: Option<String>,
}

/// `buffering`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Buffering {
    /// Largest request body accepted, in bytes.
    pub max_request_body_bytes: Option<i64>,
    /// Request bytes kept in memory before spilling to disk.
    pub mem_request_body_bytes: Option<i64>,
    /// Largest response body accepted, in bytes.
    pub max_response_body_bytes: Option<i64>,
    /// Response bytes kept in memory before spilling to disk.
    pub mem_response_body_bytes: Option<i64>,
    /// When to replay the buffered request.
    pub retry_expression: Option<String>,
}

/// `circuitBreaker`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// Trip condition, e.g. `NetworkErrorRatio() > 0.5`.
    pub expression: String,
    /// Evaluation period.
    pub check_period: Option<Duration>,
    /// Time spent open before recovering.
    pub fallback_duration: Option<Duration>,
    /// Time spent recovering.
    pub recovery_duration: Option<Duration>,
    /// Status returned while open.
    pub response_code: Option<u16>,
}

/// `errors`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Errors {
    /// Status codes or ranges (`500-599`) handled.
    pub status: Vec<String>,
    /// Status rewrites, e.g. `"418": 404`.
    pub status_rewrites: BTreeMap<String, i64>,
    /// Service serving the error page.
    pub service: String,
    /// Error page path, with `{status}` / `{originalStatus}` / `{url}`.
    pub query: Option<String>,
    /// Request headers forwarded to the error service.
    pub error_request_headers: Vec<String>,
}

/// `forwardAuth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardAuth {
    /// Authentication service URL.
    pub address: String,
    /// TLS towards the authentication service.
    pub tls: Option<ClientTls>,
    /// Forward the incoming `X-Forwarded-*` headers.
    pub trust_forward_header: bool,
    /// Response headers copied to the forwarded request.
    pub auth_response_headers: Vec<String>,
    /// Regex of response headers copied to the forwarded request.
    pub auth_response_headers_regex: Option<String>,
    /// Request headers sent to the authentication service.
    pub auth_request_headers: Vec<String>,
    /// Cookies of the auth response added to the final response.
    pub add_auth_cookies_to_response: Vec<String>,
    /// Header receiving the authenticated user.
    pub header_field: Option<String>,
    /// Send the request body to the authentication service.
    pub forward_body: bool,
    /// Largest body forwarded.
    pub max_body_size: Option<i64>,
    /// Largest auth response body read.
    pub max_response_body_size: Option<i64>,
    /// Keep relative `Location` headers.
    pub preserve_location_header: bool,
    /// Use the original method towards the authentication service.
    pub preserve_request_method: bool,
}

/// Client-side TLS settings (forwardAuth).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientTls {
    /// CA file.
    pub ca: Option<String>,
    /// Client certificate file.
    pub cert: Option<String>,
    /// Client key file.
    pub key: Option<String>,
    /// Skip verification.
    pub insecure_skip_verify: bool,
    /// Do not require a client certificate.
    pub ca_optional: Option<bool>,
}

/// `digestAuth`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DigestAuth {
    /// `user:realm:hash` entries.
    pub users: Vec<String>,
    /// File of `user:realm:hash` lines.
    pub users_file: Option<String>,
    /// Remove the `Authorization` header before forwarding.
    pub remove_header: bool,
    /// Realm.
    pub realm: Option<String>,
    /// Header receiving the authenticated user.
    pub header_field: Option<String>,
}

/// `contentType`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ContentType {
    /// Deprecated switch.
    pub auto_detect: Option<bool>,
}

/// `grpcWeb`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct GrpcWeb {
    /// Allowed origins.
    pub allow_origins: Vec<String>,
}

/// `passTLSClientCert`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PassTlsClientCert {
    /// Pass the PEM certificate.
    pub pem: bool,
    /// Pass selected certificate fields.
    pub info: Option<TlsClientCertInfo>,
}

/// `passTLSClientCert.info`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsClientCertInfo {
    /// `NotAfter`.
    pub not_after: bool,
    /// `NotBefore`.
    pub not_before: bool,
    /// Subject alternative names.
    pub sans: bool,
    /// Serial number.
    pub serial_number: bool,
    /// Subject fields.
    pub subject: Option<TlsCertDistinguishedName>,
    /// Issuer fields.
    pub issuer: Option<TlsCertDistinguishedName>,
}

/// Distinguished-name fields of `passTLSClientCert.info`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsCertDistinguishedName {
    /// `C`.
    pub country: bool,
    /// `ST`.
    pub province: bool,
    /// `L`.
    pub locality: bool,
    /// `O`.
    pub organization: bool,
    /// `OU`.
    pub organizational_unit: bool,
    /// `CN`.
    pub common_name: bool,
    /// Serial number.
    pub serial_number: bool,
    /// `DC`.
    pub domain_component: bool,
}
