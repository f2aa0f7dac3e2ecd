//! Validation of the `tcp`, `udp` and `tls` sections.
//!
//! These parse and are checked for consistency (references, addresses), but none of their
//! features is reported as unsupported: the gateway implements them separately.

use std::collections::BTreeMap;

use super::{Ctx, Target, check_host_port, check_ip_range, find_cycles};
use crate::features::{NameRef, resolve_name};
use crate::locate::KeyPath;
use crate::model::{TcpMiddleware, TcpService, UdpService};

const TLS_VERSIONS: &[&str] = &[
    "VersionTLS10",
    "VersionTLS11",
    "VersionTLS12",
    "VersionTLS13",
];

const CLIENT_AUTH_TYPES: &[&str] = &[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];

pub(super) fn check_tls_version(ctx: &mut Ctx<'_>, path: KeyPath, version: &str) {
    if !TLS_VERSIONS.contains(&version) {
        let suggestion = crate::suggest::closest(version, TLS_VERSIONS.iter().copied());
        ctx.issues.push(
            crate::error::Issue::new(
                path,
                format!("unknown TLS version `{version}` (use VersionTLS10 to VersionTLS13)"),
            )
            .suggest(suggestion),
        );
    }
}

pub(super) fn validate_tcp(ctx: &mut Ctx<'_>) {
    let tcp = &ctx.dynamic.tcp;
    ctx.names(["tcp", "routers"], &tcp.routers);
    ctx.names(["tcp", "services"], &tcp.services);
    ctx.names(["tcp", "middlewares"], &tcp.middlewares);
    ctx.names(["tcp", "serversTransports"], &tcp.servers_transports);
    let services = Target {
        what: "TCP service",
        section: ["tcp", "services"],
        defined: &tcp.services,
        internal: &[],
    };
    let middlewares = Target {
        what: "TCP middleware",
        section: ["tcp", "middlewares"],
        defined: &tcp.middlewares,
        internal: &[],
    };
    let transports = Target {
        what: "TCP servers transport",
        section: ["tcp", "serversTransports"],
        defined: &tcp.servers_transports,
        internal: &["default"],
    };
    for (name, router) in &tcp.routers {
        let at = KeyPath::of(&["tcp", "routers", name]);
        if router.rule.trim().is_empty() {
            ctx.error(at.key("rule"), "a rule is required, e.g. ``HostSNI(`*`)``");
        } else if let Err(e) = super::check_tcp_rule(&router.rule, router.rule_syntax.as_deref()) {
            let key = if e.starts_with("unknown rule syntax") {
                "ruleSyntax"
            } else {
                "rule"
            };
            let message = if key == "ruleSyntax" {
                e
            } else {
                format!("invalid rule: {e}")
            };
            ctx.error(at.key(key), message);
        }
        ctx.entry_points(&at.key("entryPoints"), &router.entry_points, false);
        for (i, m) in router.middlewares.iter().enumerate() {
            ctx.reference(at.key("middlewares").index(i), m, &middlewares);
        }
        match &router.service {
            Some(s) => ctx.reference(at.key("service"), s, &services),
            None => ctx.error(at.key("service"), "a service is required"),
        }
        if let Some(tls) = &router.tls {
            super::http::tls_options_ref(
                ctx,
                &at.key("tls").key("options"),
                tls.options.as_deref(),
            );
        }
    }
    for (name, service) in &tcp.services {
        let at = KeyPath::of(&["tcp", "services", name]);
        match service {
            TcpService::LoadBalancer(lb) => {
                let at = at.key("loadBalancer");
                for (i, server) in lb.servers.iter().enumerate() {
                    if let Err(e) = check_host_port(&server.address) {
                        ctx.error(at.key("servers").index(i).key("address"), e);
                    }
                }
                if let Some(t) = &lb.servers_transport {
                    ctx.reference(at.key("serversTransport"), t, &transports);
                }
                if let Some(v) = lb.proxy_protocol.as_ref().and_then(|p| p.version)
                    && !(1..=2).contains(&v)
                {
                    ctx.error(at.key("proxyProtocol").key("version"), "must be 1 or 2");
                }
                ctx.no(&at, "healthCheck", &lb.health_check);
            }
            TcpService::Weighted(w) => {
                let at = at.key("weighted");
                for (i, child) in w.services.iter().enumerate() {
                    ctx.reference(
                        at.key("services").index(i).key("name"),
                        &child.name,
                        &services,
                    );
                    if child.weight.is_some_and(|w| w < 0) {
                        ctx.error(
                            at.key("services").index(i).key("weight"),
                            "must not be negative",
                        );
                    }
                }
                ctx.no(&at, "healthCheck", &w.health_check);
            }
        }
    }
    for (name, middleware) in &tcp.middlewares {
        let at = KeyPath::of(&["tcp", "middlewares", name]);
        match middleware {
            TcpMiddleware::IpAllowList(m) => {
                for (i, range) in m.source_range.iter().enumerate() {
                    if let Err(e) = check_ip_range(range) {
                        ctx.error(at.key("ipAllowList").key("sourceRange").index(i), e);
                    }
                }
            }
            TcpMiddleware::IpWhiteList(_) => ctx.unsupported_because(
                at.key("ipWhiteList"),
                "TCP middleware type `ipWhiteList` (renamed `ipAllowList` in Traefik v3)",
            ),
            TcpMiddleware::InFlightConn(m) => {
                if m.amount <= 0 {
                    ctx.error(at.key("inFlightConn").key("amount"), "must be positive");
                }
            }
            TcpMiddleware::Plugin(uses) => {
                if uses.len() != 1 {
                    ctx.error(at.key("plugin"), "name exactly one plugin");
                }
            }
        }
    }
    for (name, t) in &tcp.servers_transports {
        let at = KeyPath::of(&["tcp", "serversTransports", name]);
        ctx.non_negative(at.key("dialTimeout"), t.dial_timeout);
        ctx.non_negative(at.key("terminationDelay"), t.termination_delay);
        if let Some(tls) = &t.tls {
            ctx.no(&at.key("tls"), "spiffe", &tls.spiffe);
            ctx.no(&at.key("tls"), "peerCertSANs", &tls.peer_cert_sans);
        }
    }
    let graph: BTreeMap<&str, Vec<&str>> = tcp
        .services
        .iter()
        .map(|(name, s)| {
            let children = match s {
                TcpService::Weighted(w) => local_names(w.services.iter().map(|c| c.name.as_str())),
                TcpService::LoadBalancer(_) => Vec::new(),
            };
            (name.as_str(), children)
        })
        .collect();
    for cycle in find_cycles(&graph) {
        ctx.error(
            KeyPath::of(&["tcp", "services", &cycle[0], "weighted"]),
            format!(
                "services reference each other in a loop: {}",
                cycle.join(" -> ")
            ),
        );
    }
}

fn local_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    names
        .filter_map(|n| match resolve_name(n) {
            NameRef::Local(n) => Some(n),
            _ => None,
        })
        .collect()
}

pub(super) fn validate_udp(ctx: &mut Ctx<'_>) {
    let udp = &ctx.dynamic.udp;
    ctx.names(["udp", "routers"], &udp.routers);
    ctx.names(["udp", "services"], &udp.services);
    let services = Target {
        what: "UDP service",
        section: ["udp", "services"],
        defined: &udp.services,
        internal: &[],
    };
    for (name, router) in &udp.routers {
        let at = KeyPath::of(&["udp", "routers", name]);
        ctx.entry_points(&at.key("entryPoints"), &router.entry_points, true);
        match &router.service {
            Some(s) => ctx.reference(at.key("service"), s, &services),
            None => ctx.error(at.key("service"), "a service is required"),
        }
    }
    for (name, service) in &udp.services {
        let at = KeyPath::of(&["udp", "services", name]);
        match service {
            UdpService::LoadBalancer(lb) => {
                for (i, server) in lb.servers.iter().enumerate() {
                    if let Err(e) = check_host_port(&server.address) {
                        ctx.error(
                            at.key("loadBalancer")
                                .key("servers")
                                .index(i)
                                .key("address"),
                            e,
                        );
                    }
                }
            }
            UdpService::Weighted(w) => {
                for (i, child) in w.services.iter().enumerate() {
                    let item = at.key("weighted").key("services").index(i);
                    ctx.reference(item.key("name"), &child.name, &services);
                    if child.weight.is_some_and(|w| w < 0) {
                        ctx.error(item.key("weight"), "must not be negative");
                    }
                }
            }
        }
    }
    let graph: BTreeMap<&str, Vec<&str>> = udp
        .services
        .iter()
        .map(|(name, s)| {
            let children = match s {
                UdpService::Weighted(w) => local_names(w.services.iter().map(|c| c.name.as_str())),
                UdpService::LoadBalancer(_) => Vec::new(),
            };
            (name.as_str(), children)
        })
        .collect();
    for cycle in find_cycles(&graph) {
        ctx.error(
            KeyPath::of(&["udp", "services", &cycle[0], "weighted"]),
            format!(
                "services reference each other in a loop: {}",
                cycle.join(" -> ")
            ),
        );
    }
}

pub(super) fn validate_tls(ctx: &mut Ctx<'_>) {
    let tls = &ctx.dynamic.tls;
    for (i, cert) in tls.certificates.iter().enumerate() {
        let at = KeyPath::of(&["tls", "certificates"]).index(i);
        if cert.cert_file.trim().is_empty() {
            ctx.error(at.key("certFile"), "a certificate file is required");
        }
        if cert.key_file.trim().is_empty() {
            ctx.error(at.key("keyFile"), "a key file is required");
        }
    }
    for (name, options) in &tls.options {
        let at = KeyPath::of(&["tls", "options", name]);
        for (key, version) in [
            ("minVersion", &options.min_version),
            ("maxVersion", &options.max_version),
        ] {
            if let Some(v) = version {
                check_tls_version(ctx, at.key(key), v);
            }
        }
        if let Some(t) = options
            .client_auth
            .as_ref()
            .and_then(|c| c.client_auth_type.as_deref())
            && !CLIENT_AUTH_TYPES.contains(&t)
        {
            let suggestion = crate::suggest::closest(t, CLIENT_AUTH_TYPES.iter().copied());
            ctx.issues.push(
                crate::error::Issue::new(
                    at.key("clientAuth").key("clientAuthType"),
                    format!("unknown client authentication type `{t}`"),
                )
                .suggest(suggestion),
            );
        }
    }
    for (name, store) in &tls.stores {
        let at = KeyPath::of(&["tls", "stores", name]);
        if let Some(cert) = &store.default_certificate {
            if cert.cert_file.trim().is_empty() {
                ctx.error(
                    at.key("defaultCertificate").key("certFile"),
                    "a certificate file is required",
                );
            }
            if cert.key_file.trim().is_empty() {
                ctx.error(
                    at.key("defaultCertificate").key("keyFile"),
                    "a key file is required",
                );
            }
        }
    }
}
