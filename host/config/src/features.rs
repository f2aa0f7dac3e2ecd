//! Which Traefik features wasmgate implements, and how provider-qualified names resolve.

/// Prefix of every message about a Traefik feature wasmgate does not implement.
pub const UNSUPPORTED_PREFIX: &str = "unsupported Traefik feature";

/// HTTP middleware types (Traefik keys) the gateway implements; validation reports the
/// others as unsupported.
pub const IMPLEMENTED_MIDDLEWARES: &[&str] = &[
    "addPrefix",
    "stripPrefix",
    "stripPrefixRegex",
    "replacePath",
    "replacePathRegex",
    "redirectScheme",
    "redirectRegex",
    "headers",
    "basicAuth",
    "ipAllowList",
    "chain",
    "inFlightReq",
    "rateLimit",
    "retry",
    "plugin",
];

/// Services a router may name as `<name>@internal`.
pub const INTERNAL_SERVICES: &[&str] = &["whoami", "noop", "ping", "api", "dashboard"];

/// Load-balancing strategies the gateway implements (`loadBalancer.strategy`).
pub const IMPLEMENTED_LB_STRATEGIES: &[&str] = &["wrr"];

/// Where a (possibly `@provider`-qualified) router, service or middleware name points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRef<'a> {
    /// Defined in this configuration (unqualified, or qualified with `@file`).
    Local(&'a str),
    /// A built-in of the gateway (`<name>@internal`), e.g. `whoami`.
    Internal(&'a str),
    /// Defined by another Traefik provider (`@docker`, `@kubernetescrd`, …): unsupported.
    OtherProvider {
        /// The name without its qualifier.
        name: &'a str,
        /// The provider.
        provider: &'a str,
    },
}

/// Resolves a reference such as `api`, `api@file`, `whoami@internal` or `app@docker`.
pub fn resolve_name(reference: &str) -> NameRef<'_> {
    match reference.rsplit_once('@') {
        None => NameRef::Local(reference),
        Some((name, "file")) => NameRef::Local(name),
        Some((name, "internal")) => NameRef::Internal(name),
        // The etcd provider's elements keep their qualified name in the merged configuration.
        Some((_, "etcd")) => NameRef::Local(reference),
        Some((name, provider)) => NameRef::OtherProvider { name, provider },
    }
}

/// The "unsupported Traefik feature" message for a key path.
pub(crate) fn unsupported_key(path: &impl std::fmt::Display) -> String {
    format!("{UNSUPPORTED_PREFIX}: `{path}`")
}
