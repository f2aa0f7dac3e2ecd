//! Merging the configurations of several providers, with Traefik's naming rules.
//!
//! Each provider's routers, services, middlewares and servers transports live in their own
//! namespace: the etcd provider's are named `name@etcd` in the merged configuration, and a
//! reference without `@` resolves within the provider that made it (`api` written in etcd
//! means `api@etcd`; `api@file` means the file provider's `api`). The file provider's
//! elements keep their plain names (`api` and `api@file` are the same element). Plugins,
//! TLS options, stores and certificates are shared: the same name from two providers is an
//! error naming both.

use std::collections::BTreeMap;

use wasmgate_config::{
    ConfigError, ConfigErrors, DynamicConfig, Middleware, Service, StaticConfig, TcpService,
};

use super::DynamicSource;
use super::etcd::EtcdHandle;

/// The provider name used in qualified names.
const ETCD: &str = "etcd";

/// Loads every provider, merges and validates. Blocking I/O: call from a blocking thread.
pub fn load(
    file: &DynamicSource,
    etcd: &EtcdHandle,
    static_cfg: &StaticConfig,
) -> Result<DynamicConfig, ConfigErrors> {
    let mut merged = match file {
        DynamicSource::Fixed(c) => (**c).clone(),
        DynamicSource::File(p) | DynamicSource::Directory(p) => {
            wasmgate_config::read_dynamic_unvalidated(p)?
        }
    };
    match etcd.pairs() {
        Some(pairs) => {
            let from_etcd = wasmgate_config::kv::decode_unvalidated(&etcd.root_key, &pairs, ETCD)?;
            merge(&mut merged, qualify(from_etcd, ETCD), ETCD)?;
        }
        None => tracing::debug!("etcd provider not read yet; using the other providers"),
    }
    let errors: Vec<ConfigError> = wasmgate_config::validate(Some(static_cfg), &merged)
        .into_iter()
        .map(|e| in_etcd(e, &etcd.root_key))
        .collect();
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// An error about an element of the etcd provider names its etcd key
/// (`http.routers.api@etcd.rule` is `traefik/http/routers/api/rule`).
fn in_etcd(mut error: ConfigError, root_key: &str) -> ConfigError {
    let path = error.key_path.replace('[', ".").replace(']', "");
    let parts: Vec<&str> = path.split('.').collect();
    let Some(at) = parts.iter().position(|p| p.ends_with("@etcd")) else {
        return error;
    };
    let mut key = vec![root_key.trim_matches('/')];
    key.extend(&parts[..at]);
    key.push(parts[at].trim_end_matches("@etcd"));
    key.extend(&parts[at + 1..]);
    error.key_path = key.join("/");
    error.file = Some(ETCD.into());
    error
}

/// `reference` as seen from inside `provider`.
fn resolve(reference: &str, provider: &str) -> String {
    match reference.rsplit_once('@') {
        None => format!("{reference}@{provider}"),
        Some((name, "file")) => name.to_owned(),
        Some(_) => reference.to_owned(),
    }
}

fn renamed<T>(map: BTreeMap<String, T>, provider: &str) -> BTreeMap<String, T> {
    map.into_iter()
        .map(|(k, v)| (format!("{k}@{provider}"), v))
        .collect()
}

/// Names every element `name@provider` and resolves its references from `provider`.
fn qualify(mut c: DynamicConfig, provider: &str) -> DynamicConfig {
    let r = |s: &mut String| *s = resolve(s, provider);
    for router in c.http.routers.values_mut() {
        router.middlewares.iter_mut().for_each(r);
        router.service.as_mut().map(r);
    }
    for service in c.http.services.values_mut() {
        match service {
            Service::LoadBalancer(lb) => {
                lb.servers_transport.as_mut().map(r);
            }
            Service::Weighted(w) | Service::HighestRandomWeight(w) => {
                w.services.iter_mut().for_each(|s| r(&mut s.name));
            }
            Service::Mirroring(m) => {
                r(&mut m.service);
                m.mirrors.iter_mut().for_each(|s| r(&mut s.name));
            }
            Service::Failover(f) => {
                r(&mut f.service);
                r(&mut f.fallback);
            }
        }
    }
    for middleware in c.http.middlewares.values_mut() {
        if let Middleware::Chain(chain) = middleware {
            chain.middlewares.iter_mut().for_each(r);
        }
    }
    for router in c.tcp.routers.values_mut() {
        router.middlewares.iter_mut().for_each(r);
        router.service.as_mut().map(r);
    }
    for service in c.tcp.services.values_mut() {
        match service {
            TcpService::LoadBalancer(lb) => {
                lb.servers_transport.as_mut().map(r);
            }
            TcpService::Weighted(w) => w.services.iter_mut().for_each(|s| r(&mut s.name)),
        }
    }
    for router in c.udp.routers.values_mut() {
        router.service.as_mut().map(r);
    }
    c.http.routers = renamed(c.http.routers, provider);
    c.http.services = renamed(c.http.services, provider);
    c.http.middlewares = renamed(c.http.middlewares, provider);
    c.http.servers_transports = renamed(c.http.servers_transports, provider);
    c.tcp.routers = renamed(c.tcp.routers, provider);
    c.tcp.services = renamed(c.tcp.services, provider);
    c.tcp.middlewares = renamed(c.tcp.middlewares, provider);
    c.tcp.servers_transports = renamed(c.tcp.servers_transports, provider);
    c.udp.routers = renamed(c.udp.routers, provider);
    c.udp.services = renamed(c.udp.services, provider);
    c
}

fn merge_map<T>(
    into: &mut BTreeMap<String, T>,
    from: BTreeMap<String, T>,
    section: &str,
    provider: &str,
    errors: &mut Vec<ConfigError>,
) {
    for (name, item) in from {
        if into.contains_key(&name) {
            errors.push(ConfigError::new(
                format!("{section}.{name}"),
                format!("defined by both the file provider and the {provider} provider"),
            ));
            continue;
        }
        into.insert(name, item);
    }
}

/// Adds `from` (already qualified) to `into`; shared names defined twice are errors.
fn merge(
    into: &mut DynamicConfig,
    from: DynamicConfig,
    provider: &str,
) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let e = &mut errors;
    merge_map(
        &mut into.http.routers,
        from.http.routers,
        "http.routers",
        provider,
        e,
    );
    merge_map(
        &mut into.http.services,
        from.http.services,
        "http.services",
        provider,
        e,
    );
    merge_map(
        &mut into.http.middlewares,
        from.http.middlewares,
        "http.middlewares",
        provider,
        e,
    );
    merge_map(
        &mut into.http.servers_transports,
        from.http.servers_transports,
        "http.serversTransports",
        provider,
        e,
    );
    merge_map(
        &mut into.tcp.routers,
        from.tcp.routers,
        "tcp.routers",
        provider,
        e,
    );
    merge_map(
        &mut into.tcp.services,
        from.tcp.services,
        "tcp.services",
        provider,
        e,
    );
    merge_map(
        &mut into.tcp.middlewares,
        from.tcp.middlewares,
        "tcp.middlewares",
        provider,
        e,
    );
    merge_map(
        &mut into.tcp.servers_transports,
        from.tcp.servers_transports,
        "tcp.serversTransports",
        provider,
        e,
    );
    merge_map(
        &mut into.udp.routers,
        from.udp.routers,
        "udp.routers",
        provider,
        e,
    );
    merge_map(
        &mut into.udp.services,
        from.udp.services,
        "udp.services",
        provider,
        e,
    );
    merge_map(
        &mut into.tls.options,
        from.tls.options,
        "tls.options",
        provider,
        e,
    );
    merge_map(
        &mut into.tls.stores,
        from.tls.stores,
        "tls.stores",
        provider,
        e,
    );
    merge_map(&mut into.plugins, from.plugins, "plugins", provider, e);
    into.tls.certificates.extend(from.tls.certificates);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_etcd_elements_name_their_key() {
        let e = in_etcd(
            ConfigError::new("http.routers.api@etcd.middlewares[0]", "not defined"),
            "traefik",
        );
        assert_eq!(
            e.to_string(),
            "etcd: traefik/http/routers/api/middlewares/0: not defined"
        );
        let file = in_etcd(ConfigError::new("http.routers.api.rule", "bad"), "traefik");
        assert_eq!(file.key_path, "http.routers.api.rule");
    }

    #[test]
    fn etcd_elements_are_qualified_and_shared_names_conflict() {
        let file = wasmgate_config::parse_dynamic(
            "http:\n  services:\n    api:\n      loadBalancer:\n        servers: [{url: 'http://127.0.0.1:1'}]\ntls:\n  options:\n    strict: {}\n",
            wasmgate_config::Format::Yaml,
            "file.yml",
        )
        .unwrap();
        let pairs: Vec<(String, String)> = [
            ("traefik/http/routers/api/rule", "Path(`/`)"),
            ("traefik/http/routers/api/service", "api@file"),
            ("traefik/http/routers/api/middlewares/0", "strip"),
            (
                "traefik/http/middlewares/strip/stripPrefix/prefixes/0",
                "/x",
            ),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let etcd = wasmgate_config::kv::decode_unvalidated("traefik", &pairs, ETCD).unwrap();
        let mut merged = file.clone();
        merge(&mut merged, qualify(etcd, ETCD), ETCD).unwrap();
        let router = &merged.http.routers["api@etcd"];
        assert_eq!(router.service.as_deref(), Some("api"));
        assert_eq!(router.middlewares, vec!["strip@etcd".to_owned()]);
        assert!(wasmgate_config::validate(None, &merged).is_empty());

        let mut again = merged.clone();
        let mut twice = wasmgate_config::DynamicConfig::default();
        twice.tls.options = file.tls.options.clone();
        let errors = merge(&mut again, twice, ETCD).unwrap_err().to_string();
        assert!(errors.contains("tls.options.strict"), "{errors}");
    }

    #[test]
    fn references_resolve_within_their_provider() {
        assert_eq!(resolve("api", "etcd"), "api@etcd");
        assert_eq!(resolve("api@file", "etcd"), "api");
        assert_eq!(resolve("whoami@internal", "etcd"), "whoami@internal");
        assert_eq!(resolve("api@etcd", "etcd"), "api@etcd");
    }
}
