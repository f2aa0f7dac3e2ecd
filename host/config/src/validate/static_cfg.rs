//! Validation of the static configuration.

use super::{Ctx, check_ip_range};
use crate::error::Issue;
use crate::locate::KeyPath;
use crate::model::{EntryPoint, StaticConfig, Unsupported};
use crate::suggest::closest;
use crate::{Protocol, UNSUPPORTED_PREFIX};

const LOG_LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"];

/// Collects issues for the static configuration alone.
struct StaticCheck {
    issues: Vec<Issue>,
}

impl StaticCheck {
    fn error(&mut self, path: KeyPath, message: impl Into<String>) {
        self.issues.push(Issue::new(path, message));
    }

    fn no(&mut self, parent: &KeyPath, key: &str, field: &Option<Unsupported>) {
        if field.is_some() {
            let path = parent.key(key);
            let message = format!("{UNSUPPORTED_PREFIX}: `{path}`");
            self.issues.push(Issue::new(path, message));
        }
    }

    fn non_negative(&mut self, path: KeyPath, d: crate::Duration) {
        if d.is_negative() {
            self.error(path, format!("must not be negative (got {d})"));
        }
    }
}

/// Checks the static configuration on its own.
pub(crate) fn validate_static(config: &StaticConfig) -> Vec<Issue> {
    let mut c = StaticCheck { issues: Vec::new() };
    let root = KeyPath::root();
    c.no(&root, "api", &config.api);
    c.no(&root, "metrics", &config.metrics);
    c.no(&root, "tracing", &config.tracing);
    c.no(&root, "ping", &config.ping);
    c.no(
        &root,
        "certificatesResolvers",
        &config.certificates_resolvers,
    );
    c.no(&root, "experimental", &config.experimental);
    c.no(&root, "serversTransport", &config.servers_transport);
    c.no(&root, "tcpServersTransport", &config.tcp_servers_transport);
    c.no(&root, "hostResolver", &config.host_resolver);
    c.no(&root, "spiffe", &config.spiffe);
    c.no(&root, "core", &config.core);
    c.no(&root, "ocsp", &config.ocsp);
    c.no(&root, "hub", &config.hub);
    c.no(&root, "otel", &config.otel);
    if let Some(redis) = config.plugins.kv.as_ref().and_then(|kv| kv.redis.as_ref()) {
        let at = KeyPath::of(&["plugins", "kv", "redis"]);
        if !redis.url.starts_with("redis://") {
            c.error(at.key("url"), "must be a `redis://host:port` URL");
        }
        if redis.timeout.to_std_nonzero().is_none() {
            c.error(at.key("timeout"), "must be positive");
        }
    }
    let pool = &config.plugins.pool;
    let at = KeyPath::of(&["plugins", "pool"]);
    if pool.instances == Some(0) {
        c.error(at.key("instances"), "must be at least 1");
    }
    if pool.max_memory.is_some_and(|m| m.0 < 64 << 10) {
        c.error(
            at.key("maxMemory"),
            "must be at least `64KiB` (one WebAssembly page)",
        );
    }
    for (name, ep) in &config.entry_points {
        entry_point(&mut c, config, &KeyPath::of(&["entryPoints", name]), ep);
    }
    providers(&mut c, config);
    log(&mut c, config);
    c.issues
}

fn entry_point(c: &mut StaticCheck, config: &StaticConfig, at: &KeyPath, ep: &EntryPoint) {
    if ep.address.trim().is_empty() {
        c.error(at.key("address"), "an address is required, e.g. `:80`");
    } else if let Err(e) = ep.listen_address() {
        c.error(at.key("address"), e);
    }
    let timeouts = &ep.transport.responding_timeouts;
    let t_at = at.key("transport").key("respondingTimeouts");
    c.non_negative(t_at.key("readTimeout"), timeouts.read_timeout);
    c.non_negative(t_at.key("writeTimeout"), timeouts.write_timeout);
    c.non_negative(t_at.key("idleTimeout"), timeouts.idle_timeout);
    let life = &ep.transport.life_cycle;
    let l_at = at.key("transport").key("lifeCycle");
    c.non_negative(
        l_at.key("requestAcceptGraceTimeout"),
        life.request_accept_grace_timeout,
    );
    c.non_negative(l_at.key("graceTimeOut"), life.grace_time_out);
    c.no(
        &at.key("transport"),
        "keepAliveMaxRequests",
        &ep.transport.keep_alive_max_requests,
    );
    c.no(
        &at.key("transport"),
        "keepAliveMaxTime",
        &ep.transport.keep_alive_max_time,
    );

    let http_at = at.key("http");
    if let Some(redirect) = ep
        .http
        .redirections
        .as_ref()
        .and_then(|r| r.entry_point.as_ref())
    {
        let r_at = http_at.key("redirections").key("entryPoint");
        let to = redirect.to.trim();
        if to.is_empty() {
            c.error(
                r_at.key("to"),
                "a target entry point (or `:port`) is required",
            );
        } else if let Some(port) = to.strip_prefix(':') {
            if port.parse::<u16>().is_err() {
                c.error(r_at.key("to"), format!("invalid port `{port}`"));
            }
        } else if !config.entry_points.contains_key(to) {
            let suggestion = closest(to, config.entry_points.keys().map(String::as_str));
            c.issues.push(
                Issue::new(r_at.key("to"), format!("unknown entry point `{to}`"))
                    .suggest(suggestion),
            );
        }
        if redirect.scheme.trim().is_empty() {
            c.error(r_at.key("scheme"), "a scheme is required");
        }
    }
    c.no(
        &http_at,
        "encodeQuerySemicolons",
        &ep.http.encode_query_semicolons,
    );
    c.no(&http_at, "sanitizePath", &ep.http.sanitize_path);
    c.no(&http_at, "maxHeaderBytes", &ep.http.max_header_bytes);
    c.no(&http_at, "encodedCharacters", &ep.http.encoded_characters);
    if ep.http2.max_concurrent_streams == 0 {
        c.error(
            at.key("http2").key("maxConcurrentStreams"),
            "must be positive",
        );
    }
    for (key, ips) in [
        ("forwardedHeaders", &ep.forwarded_headers.trusted_ips),
        (
            "proxyProtocol",
            &ep.proxy_protocol
                .as_ref()
                .map(|p| p.trusted_ips.clone())
                .unwrap_or_default(),
        ),
    ] {
        for (i, ip) in ips.iter().enumerate() {
            if let Err(e) = check_ip_range(ip) {
                c.error(at.key(key).key("trustedIPs").index(i), e);
            }
        }
    }
    c.no(
        &at.key("forwardedHeaders"),
        "connection",
        &ep.forwarded_headers.connection,
    );
    c.non_negative(at.key("udp").key("timeout"), ep.udp.timeout);
    if ep.udp.max_sessions == Some(0) {
        c.error(at.key("udp").key("maxSessions"), "must be at least 1");
    }
    c.no(at, "http3", &ep.http3);
    c.no(at, "observability", &ep.observability);
    c.no(at, "allowACMEByPass", &ep.allow_acme_by_pass);
    c.no(at, "reusePort", &ep.reuse_port);
    c.no(at, "asDefault", &ep.as_default);
}

fn providers(c: &mut StaticCheck, config: &StaticConfig) {
    let p = &config.providers;
    let at = KeyPath::of(&["providers"]);
    c.non_negative(
        at.key("providersThrottleDuration"),
        p.providers_throttle_duration,
    );
    if let Some(file) = &p.file {
        let f_at = at.key("file");
        match (&file.filename, &file.directory) {
            (Some(_), Some(_)) => c.error(
                f_at.key("directory"),
                "`filename` and `directory` cannot both be set",
            ),
            (None, None) => c.error(f_at.clone(), "`filename` or `directory` is required"),
            _ => {}
        }
        c.no(
            &f_at,
            "debugLogGeneratedTemplate",
            &file.debug_log_generated_template,
        );
    }
    if let Some(etcd) = &p.etcd {
        let e_at = at.key("etcd");
        if etcd.endpoints.is_empty() {
            c.error(e_at.key("endpoints"), "at least one endpoint is required");
        }
        if etcd.root_key.trim_matches('/').is_empty() {
            c.error(e_at.key("rootKey"), "must not be empty");
        }
        if etcd.password.is_some() && etcd.username.is_none() {
            c.error(e_at.key("username"), "a password needs a username");
        }
        if let Some(tls) = &etcd.tls
            && tls.cert.is_some() != tls.key.is_some()
        {
            c.error(e_at.key("tls"), "`cert` and `key` must be given together");
        }
    }
    for (key, field) in [
        ("docker", &p.docker),
        ("swarm", &p.swarm),
        ("kubernetesIngress", &p.kubernetes_ingress),
        ("kubernetesIngressNGINX", &p.kubernetes_ingress_nginx),
        ("kubernetesCRD", &p.kubernetes_crd),
        ("kubernetesGateway", &p.kubernetes_gateway),
        ("knative", &p.knative),
        ("rest", &p.rest),
        ("consulCatalog", &p.consul_catalog),
        ("nomad", &p.nomad),
        ("ecs", &p.ecs),
        ("consul", &p.consul),
        ("zooKeeper", &p.zoo_keeper),
        ("redis", &p.redis),
        ("http", &p.http),
        ("plugin", &p.plugin),
    ] {
        c.no(&at, key, field);
    }
}

fn log(c: &mut StaticCheck, config: &StaticConfig) {
    let at = KeyPath::of(&["log"]);
    let log = &config.log;
    if let Some(level) = &log.level
        && !LOG_LEVELS.contains(&level.to_ascii_uppercase().as_str())
    {
        let suggestion = closest(level, LOG_LEVELS.iter().copied());
        c.issues.push(
            Issue::new(at.key("level"), format!("unknown log level `{level}`")).suggest(suggestion),
        );
    }
    check_format(c, at.key("format"), log.format.as_deref());
    c.no(&at, "noColor", &log.no_color);
    c.no(&at, "maxSize", &log.max_size);
    c.no(&at, "maxAge", &log.max_age);
    c.no(&at, "maxBackups", &log.max_backups);
    c.no(&at, "compress", &log.compress);
    c.no(&at, "otlp", &log.otlp);
    if let Some(access) = &config.access_log {
        let at = KeyPath::of(&["accessLog"]);
        check_format(c, at.key("format"), access.format.as_deref());
        if access.buffering_size < 0 {
            c.error(at.key("bufferingSize"), "must not be negative");
        }
        c.no(&at, "filters", &access.filters);
        c.no(&at, "fields", &access.fields);
        c.no(&at, "addInternals", &access.add_internals);
        c.no(&at, "otlp", &access.otlp);
    }
}

fn check_format(c: &mut StaticCheck, path: KeyPath, format: Option<&str>) {
    if let Some(f) = format
        && !["common", "json"].contains(&f.to_ascii_lowercase().as_str())
    {
        c.error(
            path,
            format!("unknown format `{f}` (use `common` or `json`)"),
        );
    }
}

/// Entry points' `http.middlewares` must exist in the dynamic configuration.
pub(super) fn validate_entry_point_middlewares(ctx: &mut Ctx<'_>, config: &StaticConfig) {
    let target = super::http::middleware_target(ctx);
    for (name, ep) in &config.entry_points {
        let at = KeyPath::of(&["entryPoints", name, "http", "middlewares"]);
        for (i, m) in ep.http.middlewares.iter().enumerate() {
            ctx.reference(at.index(i), m, &target);
        }
        if !ep.http.middlewares.is_empty()
            && ep
                .listen_address()
                .is_ok_and(|a| a.protocol == Protocol::Udp)
        {
            ctx.error(at, "a UDP entry point cannot have HTTP middlewares");
        }
    }
}
