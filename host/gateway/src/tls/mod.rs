//! TLS termination: certificates by SNI, TLS options per router host, client authentication.

pub mod certs;
pub mod options;

use certs::SniResolver;
use rustls::server::ServerConfig;
use rustls::sign::CertifiedKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmgate_config::{Router, TcpRouter, TlsConfig, TlsOptions};
use wasmgate_rules::HostPattern;

/// What the certificate and CA files of a configuration look like on disk (path, modified
/// time, size): a change means the TLS side must be rebuilt even if the configuration text
/// is the same.
pub fn files_stamp(tls: &TlsConfig) -> Vec<(String, Option<std::time::SystemTime>, u64)> {
    let mut paths: Vec<&str> = Vec::new();
    for c in &tls.certificates {
        paths.extend([c.cert_file.as_str(), c.key_file.as_str()]);
    }
    for s in tls.stores.values() {
        if let Some(c) = &s.default_certificate {
            paths.extend([c.cert_file.as_str(), c.key_file.as_str()]);
        }
    }
    for o in tls.options.values() {
        if let Some(a) = &o.client_auth {
            paths.extend(a.ca_files.iter().map(String::as_str));
        }
    }
    paths
        .into_iter()
        .filter(|p| !p.trim_start().starts_with("-----BEGIN"))
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            (
                p.to_owned(),
                meta.as_ref().and_then(|m| m.modified().ok()),
                meta.map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// The TLS side of one published configuration.
#[derive(Debug)]
pub struct TlsRuntime {
    default: Arc<ServerConfig>,
    by_host: HashMap<String, Arc<ServerConfig>>,
    /// The options of wildcard names (`*.domain`, `**.domain`), the longest domain first:
    /// tried, with the rules' own host matching, when no exact name matches.
    wildcards: Vec<(HostPattern, Arc<ServerConfig>)>,
}

impl TlsRuntime {
    /// Loads every certificate and builds every options set. Routers with `tls.options`
    /// choose the options used for the hosts their rule names: `Host` for HTTP routers,
    /// `HostSNI` for TCP routers that terminate TLS (TLS is negotiated before the request,
    /// so options follow the SNI, as in Traefik). A host two routers give different options
    /// gets the default options, and a warning says so; ``HostSNI(`*`)`` names no host.
    pub fn build(
        tls: &TlsConfig,
        routers: &BTreeMap<String, Router>,
        tcp_routers: &BTreeMap<String, TcpRouter>,
        generated: &Arc<CertifiedKey>,
    ) -> Result<TlsRuntime, Vec<String>> {
        let mut errors = Vec::new();
        let default_cert = match tls
            .stores
            .get("default")
            .and_then(|s| s.default_certificate.as_ref())
        {
            Some(c) => match certs::load(&c.cert_file, &c.key_file) {
                Ok((key, _)) => key,
                Err(e) => {
                    errors.push(format!("tls.stores.default.defaultCertificate: {e}"));
                    generated.clone()
                }
            },
            None => generated.clone(),
        };
        let mut resolver = SniResolver::new(Some(default_cert));
        for (i, c) in tls.certificates.iter().enumerate() {
            match certs::load(&c.cert_file, &c.key_file) {
                Ok((key, names)) => resolver.add(&key, &names),
                Err(e) => errors.push(format!("tls.certificates[{i}]: {e}")),
            }
        }
        let resolver = Arc::new(resolver);
        let mut configs: HashMap<&str, Arc<ServerConfig>> = HashMap::new();
        let builtin_default = TlsOptions::default();
        let default_opts = tls.options.get("default").unwrap_or(&builtin_default);
        let default = match options::server_config("default", default_opts, &resolver) {
            Ok(c) => c,
            Err(e) => return Err([errors, vec![e]].concat()),
        };
        for (name, opts) in &tls.options {
            match options::server_config(name, opts, &resolver) {
                Ok(c) => {
                    configs.insert(name, c);
                }
                Err(e) => errors.push(e),
            }
        }
        // Host -> options name, with the router that chose it first.
        let mut chosen: BTreeMap<String, (&str, String)> = BTreeMap::new();
        let mut conflicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let http = routers.iter().filter_map(|(router, r)| {
            let name = r.tls.as_ref()?.options.as_deref()?;
            let hosts = wasmgate_rules::parse_domains(&r.rule).unwrap_or_default();
            Some((format!("router `{router}`"), name, hosts))
        });
        let tcp = tcp_routers.iter().filter_map(|(router, r)| {
            let t = r.tls.as_ref().filter(|t| !t.passthrough)?;
            let name = t.options.as_deref()?;
            let hosts = wasmgate_rules::parse_host_sni(&r.rule).unwrap_or_default();
            Some((format!("TCP router `{router}`"), name, hosts))
        });
        for (router, name, hosts) in http.chain(tcp) {
            let name = name.strip_suffix("@file").unwrap_or(name);
            if !configs.contains_key(name) {
                errors.push(format!("{router}: tls.options `{name}` does not exist"));
                continue;
            }
            for host in hosts.into_iter().filter(|h| h != "*") {
                let host = host.to_ascii_lowercase();
                match chosen.get(&host) {
                    Some((other, first)) if *other != name => {
                        conflicts
                            .entry(host)
                            .or_insert_with(|| vec![first.clone()])
                            .push(router.clone());
                    }
                    Some(_) => {}
                    None => {
                        chosen.insert(host, (name, router.clone()));
                    }
                }
            }
        }
        for (host, routers) in &conflicts {
            chosen.remove(host);
            tracing::warn!(%host, routers = %routers.join(", "), "routers give this host different tls.options: it gets the default options");
        }
        let (wild, exact): (Vec<_>, Vec<_>) =
            chosen.into_iter().partition(|(host, _)| host.contains('*'));
        let by_host = exact
            .into_iter()
            .map(|(host, (name, _))| (host, configs[name].clone()))
            .collect();
        let mut wild: Vec<_> = wild
            .into_iter()
            .filter_map(|(host, (name, _))| {
                // A bad pattern is the rule's error, reported where the router is built.
                let pattern = HostPattern::parse(&host, true).ok()?;
                let domain = host.trim_start_matches(['*', '.']).len();
                Some((
                    std::cmp::Reverse(domain),
                    host.len(),
                    pattern,
                    configs[name].clone(),
                ))
            })
            .collect();
        wild.sort_by_key(|w| (w.0, w.1));
        let wildcards = wild.into_iter().map(|(_, _, p, c)| (p, c)).collect();
        if errors.is_empty() {
            Ok(TlsRuntime {
                default,
                by_host,
                wildcards,
            })
        } else {
            Err(errors)
        }
    }

    /// The server configuration for a ClientHello's SNI: the options of its name, else of
    /// the most specific wildcard that matches it, else the default.
    pub fn config_for(&self, sni: Option<&str>) -> Arc<ServerConfig> {
        let Some(sni) = sni else {
            return self.default.clone();
        };
        self.by_host
            .get(&sni.to_ascii_lowercase())
            .or_else(|| {
                self.wildcards
                    .iter()
                    .find(|(p, _)| p.matches(sni))
                    .map(|(_, c)| c)
            })
            .unwrap_or(&self.default)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn routers<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> BTreeMap<String, T> {
        serde_json::from_value(v).unwrap()
    }

    fn tls() -> TlsConfig {
        serde_json::from_value(json!({
            "options": {"modern": {"minVersion": "VersionTLS13"}, "old": {"maxVersion": "VersionTLS12"}}
        }))
        .unwrap()
    }

    #[test]
    fn options_follow_host_sni_and_conflicts_fall_back_to_the_default() {
        let http: BTreeMap<String, Router> = routers(json!({
            "web": {"rule": "Host(`both.test`)", "service": "s", "tls": {"options": "old"}},
            "deep": {"rule": "Host(`**.wild.test`)", "service": "s", "tls": {"options": "old"}}
        }));
        let tcp: BTreeMap<String, TcpRouter> = routers(json!({
            "db": {"rule": "HostSNI(`db.test`) || HostSNI(`*.wild.test`)", "service": "s",
                   "tls": {"options": "modern"}},
            "all": {"rule": "HostSNI(`*`)", "service": "s", "tls": {"options": "old"}},
            "pass": {"rule": "HostSNI(`pass.test`)", "service": "s",
                     "tls": {"passthrough": true, "options": "old"}},
            "both": {"rule": "HostSNI(`both.test`)", "service": "s", "tls": {"options": "modern"}}
        }));
        let generated = certs::generated_default().unwrap();
        let rt = TlsRuntime::build(&tls(), &http, &tcp, &generated).unwrap();
        // `*` names no host, passthrough terminates nothing, and `both.test` conflicts.
        let hosts: Vec<&str> = rt.by_host.keys().map(String::as_str).collect();
        assert_eq!(hosts, ["db.test"]);
        assert_eq!(rt.wildcards.len(), 2, "*.wild.test and **.wild.test");
        let modern = &rt.by_host["db.test"];
        assert!(Arc::ptr_eq(&rt.config_for(Some("DB.test")), modern));
        // The more specific wildcard first; deeper names only match `**`.
        assert!(Arc::ptr_eq(&rt.config_for(Some("a.wild.test")), modern));
        let old = rt.config_for(Some("b.a.wild.test"));
        assert!(!Arc::ptr_eq(&old, modern) && !Arc::ptr_eq(&old, &rt.default));
        assert!(Arc::ptr_eq(&rt.config_for(Some("both.test")), &rt.default));
        assert!(Arc::ptr_eq(&rt.config_for(None), &rt.default));
    }

    #[test]
    fn unknown_options_name_the_tcp_router() {
        let tcp: BTreeMap<String, TcpRouter> = routers(json!({
            "db": {"rule": "HostSNI(`db.test`)", "service": "s", "tls": {"options": "nope"}}
        }));
        let generated = certs::generated_default().unwrap();
        let errors = TlsRuntime::build(&tls(), &BTreeMap::new(), &tcp, &generated).unwrap_err();
        assert_eq!(
            errors,
            ["TCP router `db`: tls.options `nope` does not exist"]
        );
    }
}
