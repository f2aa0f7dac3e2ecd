//! Building services and their transports, reusing unchanged ones.

use super::build::{Build, BuildError, err, local};
use crate::proxy::{Transport, TransportSettings, Upstream};
use crate::service::{Internal, LoadBalancer, Mirror, Mirroring, ServiceRt, Weighted, Wrr};
use std::sync::Arc;
use wasmgate_config as config;

impl Build<'_> {
    pub(super) fn transport(
        &mut self,
        service: &str,
        name: Option<&str>,
    ) -> Option<Arc<Transport>> {
        let key = name.map_or("default", local).to_owned();
        if let Some(t) = self.transports.get(&key) {
            return Some(t.clone());
        }
        let def = match name {
            None => config::ServersTransport::default(),
            Some(n) => match self.cfg.http.servers_transports.get(local(n)) {
                Some(d) => d.clone(),
                None => {
                    self.errors.push(err(
                        "service",
                        service,
                        format!("serversTransport `{n}` does not exist"),
                    ));
                    return None;
                }
            },
        };
        let settings = transport_settings(&key, &def)
            .map_err(|e| self.errors.push(e))
            .ok()?;
        let t = match self.old.transports.get(&key) {
            Some(old) if *old.settings() == settings => old.clone(),
            _ => Arc::new(Transport::new(settings)),
        };
        self.transports.insert(key, t.clone());
        Some(t)
    }

    pub(super) fn service(
        &mut self,
        name: &str,
        stack: &mut Vec<String>,
    ) -> Option<Arc<ServiceRt>> {
        match name {
            "whoami@internal" => return Some(Arc::new(ServiceRt::Internal(Internal::Whoami))),
            "noop@internal" => return Some(Arc::new(ServiceRt::Internal(Internal::Noop))),
            n if n.ends_with("@internal") => {
                self.errors.push(err(
                    "service",
                    n,
                    "internal service not supported (use whoami@internal or noop@internal)",
                ));
                return None;
            }
            _ => {}
        }
        let key = local(name);
        if let Some((_, s)) = self.services.get(key) {
            return Some(s.clone());
        }
        if stack.iter().any(|s| s == key) {
            self.errors.push(err(
                "service",
                key,
                format!("reference cycle: {} -> {key}", stack.join(" -> ")),
            ));
            return None;
        }
        let Some(def) = self.cfg.http.services.get(key) else {
            self.errors.push(err("service", key, "does not exist"));
            return None;
        };
        stack.push(key.to_owned());
        let built = self.service_def(key, def, stack);
        stack.pop();
        let built = built?;
        // Keep the previous instance (and its balancer position) when nothing it uses changed.
        let reuse = match self.old.services.get(key) {
            Some((old_def, old)) if old_def == def && same_parts(old, &built) => Some(old.clone()),
            _ => None,
        };
        let rt = reuse.unwrap_or(built);
        self.services
            .insert(key.to_owned(), (def.clone(), rt.clone()));
        Some(rt)
    }

    fn service_def(
        &mut self,
        name: &str,
        def: &config::Service,
        stack: &mut Vec<String>,
    ) -> Option<Arc<ServiceRt>> {
        let id: Arc<str> = Arc::from(name);
        Some(Arc::new(match def {
            config::Service::LoadBalancer(lb) => {
                if lb.health_check.is_some() {
                    self.errors.push(err(
                        "service",
                        name,
                        "loadBalancer.healthCheck is not supported yet",
                    ));
                }
                if lb.sticky.is_some() {
                    self.errors.push(err(
                        "service",
                        name,
                        "loadBalancer.sticky is not supported yet",
                    ));
                }
                if lb.strategy.as_deref().is_some_and(|s| s != "wrr") {
                    self.errors.push(err(
                        "service",
                        name,
                        "only the `wrr` loadBalancer strategy is supported",
                    ));
                }
                let transport = self.transport(name, lb.servers_transport.as_deref());
                let mut servers = Vec::with_capacity(lb.servers.len());
                for s in &lb.servers {
                    match Upstream::parse(&s.url, s.preserve_path) {
                        Ok(u) => servers.push((u, weight(s.weight))),
                        Err(e) => self.errors.push(err("service", name, e)),
                    }
                }
                ServiceRt::LoadBalancer(LoadBalancer {
                    name: id,
                    servers: Wrr::new(servers),
                    transport: transport?,
                    pass_host_header: lb.pass_host_header,
                })
            }
            config::Service::Weighted(w) => {
                if w.sticky.is_some() {
                    self.errors
                        .push(err("service", name, "weighted.sticky is not supported yet"));
                }
                let mut children = Vec::new();
                for c in &w.services {
                    children.push((self.service(&c.name, stack)?, weight(c.weight)));
                }
                ServiceRt::Weighted(Weighted {
                    name: id,
                    services: Wrr::new(children),
                })
            }
            config::Service::Mirroring(m) => {
                let main = self.service(&m.service, stack);
                let mut mirrors = Vec::new();
                for x in &m.mirrors {
                    let percent = u32::try_from(x.percent.clamp(0, 100)).unwrap_or(0);
                    mirrors.push(Mirror::new(self.service(&x.name, stack)?, percent));
                }
                ServiceRt::Mirroring(Mirroring {
                    name: id,
                    main: main?,
                    mirrors,
                    mirror_body: m.mirror_body,
                    max_body_size: u64::try_from(m.max_body_size).ok(),
                })
            }
            other => {
                self.errors.push(err(
                    "service",
                    name,
                    format!("service type `{}` is not supported yet", other.kind()),
                ));
                return None;
            }
        }))
    }
}

/// Whether a freshly built service uses the same transport and children as `old`.
fn same_parts(old: &ServiceRt, new: &ServiceRt) -> bool {
    match (old, new) {
        (ServiceRt::LoadBalancer(a), ServiceRt::LoadBalancer(b)) => {
            Arc::ptr_eq(&a.transport, &b.transport)
        }
        (ServiceRt::Weighted(a), ServiceRt::Weighted(b)) => {
            a.services.items().len() == b.services.items().len()
                && a.services
                    .items()
                    .iter()
                    .zip(b.services.items())
                    .all(|(x, y)| Arc::ptr_eq(x, y))
        }
        (ServiceRt::Mirroring(a), ServiceRt::Mirroring(b)) => {
            Arc::ptr_eq(&a.main, &b.main)
                && a.mirrors.len() == b.mirrors.len()
                && a.mirrors
                    .iter()
                    .zip(&b.mirrors)
                    .all(|(x, y)| Arc::ptr_eq(&x.service, &y.service))
        }
        _ => false,
    }
}

fn weight(w: Option<i64>) -> u32 {
    w.map_or(1, |w| u32::try_from(w.max(0)).unwrap_or(u32::MAX))
}

pub(super) fn transport_settings(
    name: &str,
    def: &config::ServersTransport,
) -> Result<TransportSettings, BuildError> {
    let unsupported = [
        (def.server_name.is_some(), "serverName"),
        (def.insecure_skip_verify, "insecureSkipVerify"),
        (!def.root_cas.is_empty(), "rootCAs"),
        (!def.certificates.is_empty(), "certificates"),
        (def.peer_cert_uri.is_some(), "peerCertURI"),
        (!def.cipher_suites.is_empty(), "cipherSuites"),
        (def.min_version.is_some(), "minVersion"),
        (def.max_version.is_some(), "maxVersion"),
        (
            !def.forwarding_timeouts.read_idle_timeout.is_zero(),
            "forwardingTimeouts.readIdleTimeout",
        ),
    ];
    if let Some((_, key)) = unsupported.iter().find(|(set, _)| *set) {
        return Err(err(
            "serversTransport",
            name,
            format!("`{key}` is not supported yet (upstream TLS arrives with TLS support)"),
        ));
    }
    let t = &def.forwarding_timeouts;
    Ok(TransportSettings {
        dial_timeout: t
            .dial_timeout
            .to_std_nonzero()
            .unwrap_or(std::time::Duration::from_secs(30)),
        response_header_timeout: t.response_header_timeout.to_std_nonzero(),
        idle_conn_timeout: t
            .idle_conn_timeout
            .to_std_nonzero()
            .unwrap_or(std::time::Duration::from_secs(90)),
        max_idle_per_host: usize::try_from(def.max_idle_conns_per_host).unwrap_or(0),
    })
}
