//! Validation of the `http` section.

use std::collections::BTreeMap;

use super::{Ctx, Target, check_ip_range, check_regex, check_rule, find_cycles};
use crate::features::{IMPLEMENTED_LB_STRATEGIES, INTERNAL_SERVICES, NameRef, resolve_name};
use crate::locate::KeyPath;
use crate::model::{
    HealthCheck, IpStrategy, LoadBalancer, Middleware, Router, ServersTransport, Service,
    SourceCriterion, Sticky,
};

pub(super) fn validate_http(ctx: &mut Ctx<'_>) {
    for (name, def) in &ctx.dynamic.plugins {
        if ctx
            .static_cfg
            .is_some_and(|s| s.plugins.definitions.contains_key(name))
        {
            let at = KeyPath::root().key("plugins").key(name);
            ctx.error(at, "already declared in the static configuration");
        }
        if def.source.trim().is_empty() {
            let at = KeyPath::root().key("plugins").key(name).key("source");
            ctx.error(
                at,
                "a source is required: a path to a .wasm file, or `name[@version]` from a registry",
            );
        }
    }
    let http = &ctx.dynamic.http;
    ctx.names(["http", "routers"], &http.routers);
    ctx.names(["http", "services"], &http.services);
    ctx.names(["http", "middlewares"], &http.middlewares);
    ctx.names(["http", "serversTransports"], &http.servers_transports);
    for (name, router) in &http.routers {
        router_checks(ctx, &KeyPath::of(&["http", "routers", name]), router);
    }
    for (name, service) in &http.services {
        service_checks(ctx, &KeyPath::of(&["http", "services", name]), service);
    }
    for (name, middleware) in &http.middlewares {
        middleware_checks(
            ctx,
            &KeyPath::of(&["http", "middlewares", name]),
            middleware,
        );
    }
    for (name, transport) in &http.servers_transports {
        transport_checks(
            ctx,
            &KeyPath::of(&["http", "serversTransports", name]),
            transport,
        );
    }
    service_cycles(ctx);
    chain_cycles(ctx);
}

pub(super) fn middleware_target<'a>(ctx: &Ctx<'a>) -> Target<'a, Middleware> {
    Target {
        what: "middleware",
        section: ["http", "middlewares"],
        defined: &ctx.dynamic.http.middlewares,
        internal: &[],
    }
}

fn service_target<'a>(ctx: &Ctx<'a>) -> Target<'a, Service> {
    Target {
        what: "service",
        section: ["http", "services"],
        defined: &ctx.dynamic.http.services,
        internal: INTERNAL_SERVICES,
    }
}

fn router_checks(ctx: &mut Ctx<'_>, path: &KeyPath, router: &Router) {
    if router.rule.trim().is_empty() {
        ctx.error(
            path.key("rule"),
            "a rule is required, e.g. ``Host(`example.com`)``",
        );
    } else if let Err(e) = check_rule(
        &router.rule,
        router.rule_syntax.as_deref(),
        &super::declared_plugins(ctx),
    ) {
        let at = if e.starts_with("unknown rule syntax") {
            path.key("ruleSyntax")
        } else {
            path.key("rule")
        };
        let message = if e.starts_with("unknown rule syntax") {
            e
        } else {
            format!("invalid rule: {e}")
        };
        ctx.error(at, message);
    }
    ctx.entry_points(&path.key("entryPoints"), &router.entry_points, false);
    let middlewares = middleware_target(ctx);
    for (i, m) in router.middlewares.iter().enumerate() {
        ctx.reference(path.key("middlewares").index(i), m, &middlewares);
    }
    match &router.service {
        Some(s) => {
            let services = service_target(ctx);
            ctx.reference(path.key("service"), s, &services);
        }
        None => ctx.error(path.key("service"), "a service is required"),
    }
    ctx.no(path, "parentRefs", &router.parent_refs);
    if let Some(tls) = &router.tls {
        tls_options_ref(ctx, &path.key("tls").key("options"), tls.options.as_deref());
    }
    if let Some(verbosity) = router
        .observability
        .as_ref()
        .and_then(|o| o.trace_verbosity.as_deref())
        && !["minimal", "detailed"].contains(&verbosity)
    {
        ctx.error(
            path.key("observability").key("traceVerbosity"),
            format!("unknown trace verbosity `{verbosity}` (use `minimal` or `detailed`)"),
        );
    }
}

/// A router's `tls.options` must name a `tls.options` entry (`default` always exists).
pub(super) fn tls_options_ref(ctx: &mut Ctx<'_>, path: &KeyPath, options: Option<&str>) {
    let Some(options) = options else {
        return;
    };
    if matches!(resolve_name(options), NameRef::Local("default")) {
        return;
    }
    let target = Target {
        what: "TLS options",
        section: ["tls", "options"],
        defined: &ctx.dynamic.tls.options,
        internal: &["default"],
    };
    ctx.reference(path.clone(), options, &target);
}

fn service_checks(ctx: &mut Ctx<'_>, path: &KeyPath, service: &Service) {
    let services = service_target(ctx);
    let kind_path = path.key(service.kind());
    match service {
        Service::LoadBalancer(lb) => load_balancer_checks(ctx, &kind_path, lb),
        Service::Weighted(w) => {
            if w.services.is_empty() {
                ctx.error(
                    kind_path.key("services"),
                    "at least one service is required",
                );
            }
            for (i, child) in w.services.iter().enumerate() {
                let at = kind_path.key("services").index(i);
                ctx.reference(at.key("name"), &child.name, &services);
                if child.weight.is_some_and(|w| w < 0) {
                    ctx.error(at.key("weight"), "weight must not be negative");
                }
            }
            if let Some(sticky) = &w.sticky {
                sticky_checks(ctx, &kind_path.key("sticky"), sticky);
            }
        }
        Service::Mirroring(m) => {
            ctx.reference(kind_path.key("service"), &m.service, &services);
            if m.max_body_size < -1 {
                ctx.error(
                    kind_path.key("maxBodySize"),
                    "must be -1 (no limit) or more",
                );
            }
            for (i, mirror) in m.mirrors.iter().enumerate() {
                let at = kind_path.key("mirrors").index(i);
                ctx.reference(at.key("name"), &mirror.name, &services);
                if !(0..=100).contains(&mirror.percent) {
                    ctx.error(at.key("percent"), "percent must be between 0 and 100");
                }
            }
        }
        Service::Failover(f) => {
            ctx.reference(kind_path.key("service"), &f.service, &services);
            ctx.reference(kind_path.key("fallback"), &f.fallback, &services);
            ctx.no(&kind_path, "errors", &f.errors);
        }
        Service::HighestRandomWeight(_) => {
            ctx.unsupported_because(kind_path, "service type `highestRandomWeight`");
        }
    }
}

fn load_balancer_checks(ctx: &mut Ctx<'_>, path: &KeyPath, lb: &LoadBalancer) {
    for (i, server) in lb.servers.iter().enumerate() {
        let at = path.key("servers").index(i);
        if server.url.trim().is_empty() {
            ctx.error(at.key("url"), "a server URL is required");
        } else if let Err(e) = check_server_url(&server.url) {
            ctx.error(at.key("url"), e);
        }
        if server.weight.is_some_and(|w| w < 0) {
            ctx.error(at.key("weight"), "weight must not be negative");
        }
    }
    if let Some(transport) = &lb.servers_transport {
        let target = crate::validate::Target {
            what: "servers transport",
            section: ["http", "serversTransports"],
            defined: &ctx.dynamic.http.servers_transports,
            internal: &["default"],
        };
        ctx.reference(path.key("serversTransport"), transport, &target);
    }
    if let Some(strategy) = &lb.strategy
        && !IMPLEMENTED_LB_STRATEGIES.contains(&strategy.to_ascii_lowercase().as_str())
    {
        ctx.unsupported_because(
            path.key("strategy"),
            &format!("load-balancing strategy `{strategy}`"),
        );
    }
    ctx.no(path, "passiveHealthCheck", &lb.passive_health_check);
    if let Some(hc) = &lb.health_check {
        health_check_checks(ctx, &path.key("healthCheck"), hc);
    }
    if let Some(sticky) = &lb.sticky {
        sticky_checks(ctx, &path.key("sticky"), sticky);
    }
}

/// A backend URL: `http://`, `https://` or `h2c://` with a host.
fn check_server_url(url: &str) -> Result<(), String> {
    let uri: ::http::Uri = url
        .parse()
        .map_err(|e| format!("invalid server URL `{url}`: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https" | "h2c") => {}
        Some(other) => {
            return Err(format!(
                "unsupported scheme `{other}` in server URL `{url}` (use http, https or h2c)"
            ));
        }
        None => {
            return Err(format!(
                "server URL `{url}` needs a scheme, e.g. `http://{url}`"
            ));
        }
    }
    match uri.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => Err(format!("server URL `{url}` has no host")),
    }
}

fn health_check_checks(ctx: &mut Ctx<'_>, path: &KeyPath, hc: &HealthCheck) {
    if hc.interval.as_nanos() <= 0 {
        ctx.error(path.key("interval"), "must be positive");
    }
    if hc.timeout.as_nanos() <= 0 {
        ctx.error(path.key("timeout"), "must be positive");
    }
    if let Some(d) = hc.unhealthy_interval
        && d.as_nanos() <= 0
    {
        ctx.error(path.key("unhealthyInterval"), "must be positive");
    }
    if let Some(mode) = &hc.mode
        && !["http", "grpc"].contains(&mode.to_ascii_lowercase().as_str())
    {
        ctx.error(
            path.key("mode"),
            format!("unknown mode `{mode}` (use `http` or `grpc`)"),
        );
    }
    if let Some(scheme) = &hc.scheme
        && !["http", "https", "h2c"].contains(&scheme.to_ascii_lowercase().as_str())
    {
        ctx.error(path.key("scheme"), format!("unknown scheme `{scheme}`"));
    }
    if hc.status != 0 && !(100..=599).contains(&hc.status) {
        ctx.error(path.key("status"), "must be an HTTP status code");
    }
}

fn sticky_checks(ctx: &mut Ctx<'_>, path: &KeyPath, sticky: &Sticky) {
    if let Some(same_site) = sticky.cookie.as_ref().and_then(|c| c.same_site.as_deref())
        && !["", "none", "lax", "strict"].contains(&same_site.to_ascii_lowercase().as_str())
    {
        ctx.error(
            path.key("cookie").key("sameSite"),
            format!("unknown SameSite value `{same_site}` (use `none`, `lax` or `strict`)"),
        );
    }
}

fn middleware_checks(ctx: &mut Ctx<'_>, path: &KeyPath, middleware: &Middleware) {
    let kind = middleware.kind();
    let at = path.key(kind);
    if !middleware.is_implemented() {
        let what = match middleware {
            Middleware::IpWhiteList(_) => {
                "middleware type `ipWhiteList` (renamed `ipAllowList` in Traefik v3)".to_string()
            }
            _ => format!("middleware type `{kind}`"),
        };
        ctx.unsupported_because(at, &what);
        return;
    }
    match middleware {
        Middleware::AddPrefix(m) if m.prefix.is_empty() => {
            ctx.error(at.key("prefix"), "a prefix is required");
        }
        Middleware::StripPrefix(m) if m.prefixes.is_empty() => {
            ctx.error(at.key("prefixes"), "at least one prefix is required");
        }
        Middleware::StripPrefixRegex(m) => {
            if m.regex.is_empty() {
                ctx.error(at.key("regex"), "at least one regex is required");
            }
            for (i, re) in m.regex.iter().enumerate() {
                if let Err(e) = check_regex(re) {
                    ctx.error(at.key("regex").index(i), e);
                }
            }
        }
        Middleware::Plugin(uses) => {
            if uses.len() != 1 {
                ctx.error(
                    at.clone(),
                    "name exactly one plugin: `plugin: { <name>: { settings } }`",
                );
            }
            let declared = super::declared_plugins(ctx);
            for name in uses.keys() {
                if !declared.contains(&name.as_str()) {
                    ctx.error(at.key(name), super::undeclared_plugin(name, &declared));
                }
            }
        }
        Middleware::ReplacePathRegex(m) => {
            if let Err(e) = check_regex(&m.regex) {
                ctx.error(at.key("regex"), e);
            }
        }
        Middleware::RedirectScheme(m) => {
            if m.scheme.is_empty() {
                ctx.error(at.key("scheme"), "a scheme is required");
            }
            if let Some(port) = &m.port
                && !port.is_empty()
                && port.parse::<u16>().is_err()
            {
                ctx.error(at.key("port"), format!("invalid port `{port}`"));
            }
        }
        Middleware::RedirectRegex(m) => {
            if let Err(e) = check_regex(&m.regex) {
                ctx.error(at.key("regex"), e);
            }
            if m.replacement.is_empty() {
                ctx.error(at.key("replacement"), "a replacement is required");
            }
        }
        Middleware::Headers(h) => headers_checks(ctx, &at, h),
        Middleware::BasicAuth(m) => {
            if m.users.is_empty() && m.users_file.is_none() {
                ctx.error(at.key("users"), "`users` or `usersFile` is required");
            }
            for (i, user) in m.users.iter().enumerate() {
                if !user.contains(':') {
                    ctx.error(
                        at.key("users").index(i),
                        "each user must be `name:hashed-password`",
                    );
                }
            }
        }
        Middleware::IpAllowList(m) => {
            if m.source_range.is_empty() {
                ctx.error(
                    at.key("sourceRange"),
                    "at least one IP or range is required",
                );
            }
            for (i, range) in m.source_range.iter().enumerate() {
                if let Err(e) = check_ip_range(range) {
                    ctx.error(at.key("sourceRange").index(i), e);
                }
            }
            if let Some(s) = &m.ip_strategy {
                ip_strategy_checks(ctx, &at.key("ipStrategy"), s);
            }
            if let Some(code) = m.reject_status_code
                && !(100..=599).contains(&code)
            {
                ctx.error(at.key("rejectStatusCode"), "must be an HTTP status code");
            }
        }
        Middleware::Chain(m) => {
            let target = middleware_target(ctx);
            for (i, name) in m.middlewares.iter().enumerate() {
                ctx.reference(at.key("middlewares").index(i), name, &target);
            }
        }
        Middleware::InFlightReq(m) => {
            if m.amount <= 0 {
                ctx.error(at.key("amount"), "must be positive");
            }
            if let Some(c) = &m.source_criterion {
                source_criterion_checks(ctx, &at.key("sourceCriterion"), c);
            }
        }
        Middleware::RateLimit(m) => {
            if m.average < 0 {
                ctx.error(at.key("average"), "must not be negative");
            }
            if m.burst < 0 {
                ctx.error(at.key("burst"), "must not be negative");
            }
            ctx.non_negative(at.key("period"), m.period);
            if let Some(c) = &m.source_criterion {
                source_criterion_checks(ctx, &at.key("sourceCriterion"), c);
            }
            ctx.no(&at, "redis", &m.redis);
        }
        Middleware::Retry(m) => {
            if m.attempts <= 0 {
                ctx.error(at.key("attempts"), "must be positive");
            }
            ctx.non_negative(at.key("initialInterval"), m.initial_interval);
            ctx.no(&at, "timeout", &m.timeout);
            ctx.no(&at, "maxRequestBodyBytes", &m.max_request_body_bytes);
            ctx.no(&at, "status", &m.status);
            ctx.no(
                &at,
                "disableRetryOnNetworkError",
                &m.disable_retry_on_network_error,
            );
            ctx.no(
                &at,
                "retryNonIdempotentMethod",
                &m.retry_non_idempotent_method,
            );
        }
        _ => {}
    }
}

fn headers_checks(ctx: &mut Ctx<'_>, at: &KeyPath, h: &crate::model::Headers) {
    for (key, map) in [
        ("customRequestHeaders", &h.custom_request_headers),
        ("customResponseHeaders", &h.custom_response_headers),
        ("sslProxyHeaders", &h.ssl_proxy_headers),
    ] {
        for (name, value) in map {
            if ::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                ctx.error(
                    at.key(key).key(name),
                    format!("invalid header name `{name}`"),
                );
            } else if ::http::HeaderValue::from_str(value).is_err() {
                ctx.error(at.key(key).key(name), "invalid header value");
            }
        }
    }
    for (i, re) in h.access_control_allow_origin_list_regex.iter().enumerate() {
        if let Err(e) = check_regex(re) {
            ctx.error(at.key("accessControlAllowOriginListRegex").index(i), e);
        }
    }
    if h.sts_seconds < 0 {
        ctx.error(at.key("stsSeconds"), "must not be negative");
    }
    ctx.no(at, "featurePolicy", &h.feature_policy);
    ctx.no(at, "sslRedirect", &h.ssl_redirect);
    ctx.no(at, "sslTemporaryRedirect", &h.ssl_temporary_redirect);
    ctx.no(at, "sslHost", &h.ssl_host);
    ctx.no(at, "sslForceHost", &h.ssl_force_host);
}

fn ip_strategy_checks(ctx: &mut Ctx<'_>, at: &KeyPath, s: &IpStrategy) {
    if s.depth < 0 {
        ctx.error(at.key("depth"), "must not be negative");
    }
    for (i, ip) in s.excluded_ips.iter().enumerate() {
        if let Err(e) = check_ip_range(ip) {
            ctx.error(at.key("excludedIPs").index(i), e);
        }
    }
    if let Some(bits) = s.ipv6_subnet
        && bits > 128
    {
        ctx.error(at.key("ipv6Subnet"), "must be between 0 and 128");
    }
}

fn source_criterion_checks(ctx: &mut Ctx<'_>, at: &KeyPath, c: &SourceCriterion) {
    let set = [
        c.ip_strategy.is_some(),
        c.request_header_name.is_some(),
        c.request_host,
    ];
    if set.iter().filter(|x| **x).count() > 1 {
        ctx.error(
            at.clone(),
            "only one of `ipStrategy`, `requestHeaderName` and `requestHost` may be set",
        );
    }
    if let Some(s) = &c.ip_strategy {
        ip_strategy_checks(ctx, &at.key("ipStrategy"), s);
    }
}

fn transport_checks(ctx: &mut Ctx<'_>, at: &KeyPath, t: &ServersTransport) {
    let ft = &t.forwarding_timeouts;
    let ft_at = at.key("forwardingTimeouts");
    ctx.non_negative(ft_at.key("dialTimeout"), ft.dial_timeout);
    ctx.non_negative(
        ft_at.key("responseHeaderTimeout"),
        ft.response_header_timeout,
    );
    ctx.non_negative(ft_at.key("idleConnTimeout"), ft.idle_conn_timeout);
    ctx.non_negative(ft_at.key("readIdleTimeout"), ft.read_idle_timeout);
    ctx.non_negative(ft_at.key("pingTimeout"), ft.ping_timeout);
    for (key, version) in [
        ("minVersion", &t.min_version),
        ("maxVersion", &t.max_version),
    ] {
        if let Some(v) = version {
            super::dynamic_other::check_tls_version(ctx, at.key(key), v);
        }
    }
    ctx.no(at, "spiffe", &t.spiffe);
    ctx.no(at, "peerCertSANs", &t.peer_cert_sans);
}

/// Services that reference each other in a loop.
fn service_cycles(ctx: &mut Ctx<'_>) {
    let services = &ctx.dynamic.http.services;
    let graph: BTreeMap<&str, Vec<&str>> = services
        .iter()
        .map(|(name, s)| {
            let children = s
                .children()
                .into_iter()
                .filter_map(|c| match resolve_name(c) {
                    NameRef::Local(n) => Some(n),
                    _ => None,
                })
                .collect();
            (name.as_str(), children)
        })
        .collect();
    for cycle in find_cycles(&graph) {
        let first = &cycle[0];
        let kind = services[first].kind();
        let shown = cycle
            .iter()
            .chain(std::iter::once(first))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" -> ");
        ctx.error(
            KeyPath::of(&["http", "services", first, kind]),
            format!("services reference each other in a loop: {shown}"),
        );
    }
}

/// Chain middlewares that include each other in a loop.
fn chain_cycles(ctx: &mut Ctx<'_>) {
    let graph: BTreeMap<&str, Vec<&str>> = ctx
        .dynamic
        .http
        .middlewares
        .iter()
        .map(|(name, m)| {
            let children = match m {
                Middleware::Chain(c) => c
                    .middlewares
                    .iter()
                    .filter_map(|c| match resolve_name(c) {
                        NameRef::Local(n) => Some(n),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (name.as_str(), children)
        })
        .collect();
    for cycle in find_cycles(&graph) {
        let first = &cycle[0];
        let shown = cycle
            .iter()
            .chain(std::iter::once(first))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" -> ");
        ctx.error(
            KeyPath::of(&["http", "middlewares", first, "chain", "middlewares"]),
            format!("chain middlewares include each other in a loop: {shown}"),
        );
    }
}
