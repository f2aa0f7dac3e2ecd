//! Building the UDP routes of a configuration from its `udp` section.

use super::{UdpRoute, UdpRuntime, UdpServiceRt};
use crate::runtime::BuildError;
use crate::service::Wrr;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use wasmgate_config::{UdpConfig, UdpService};

/// Builds the UDP routes of `cfg`, or returns every error found, each naming its router or
/// service. Server host names are resolved here, off the datagram path.
pub fn build(cfg: &UdpConfig) -> Result<UdpRuntime, Vec<BuildError>> {
    let mut b = Build {
        cfg,
        services: HashMap::new(),
        errors: Vec::new(),
    };
    let mut routes: BTreeMap<&str, UdpRoute> = BTreeMap::new();
    for (name, router) in &cfg.routers {
        let Some(service) = router.service.as_deref() else {
            b.errors
                .push(BuildError::new("UDP router", name, "no service"));
            continue;
        };
        if let Some(service) = b.service(service, &mut Vec::new()) {
            let route = UdpRoute {
                router: Arc::from(name.as_str()),
                service,
            };
            routes.insert(name, route);
        }
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    // Routers without entry points serve every UDP entrypoint; when several routers serve one
    // entrypoint, the first by name wins, as Traefik keeps only one.
    let unnamed: Vec<&str> = cfg
        .routers
        .iter()
        .filter(|(_, r)| r.entry_points.is_empty())
        .map(|(n, _)| n.as_str())
        .collect();
    let mut named: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, router) in &cfg.routers {
        for ep in &router.entry_points {
            named.entry(ep).or_default().push(name);
        }
    }
    let pick = |ep: &str, mut candidates: Vec<&str>| -> Option<UdpRoute> {
        candidates.sort_unstable();
        candidates.dedup();
        if candidates.len() > 1 {
            tracing::warn!(
                entrypoint = ep,
                routers = ?candidates,
                "more than one UDP router for this entrypoint; `{}` serves it",
                candidates[0]
            );
        }
        routes.get(candidates.first()?).cloned()
    };
    let all = pick("*", unnamed.clone());
    let by_entrypoint = named
        .into_iter()
        .filter_map(|(ep, mut routers)| {
            routers.extend(&unnamed);
            Some((ep.to_owned(), pick(ep, routers)?))
        })
        .collect();
    Ok(UdpRuntime { by_entrypoint, all })
}

struct Build<'a> {
    cfg: &'a UdpConfig,
    services: HashMap<String, Arc<UdpServiceRt>>,
    errors: Vec<BuildError>,
}

impl Build<'_> {
    fn service(&mut self, name: &str, stack: &mut Vec<String>) -> Option<Arc<UdpServiceRt>> {
        let key = name.strip_suffix("@file").unwrap_or(name);
        if let Some(s) = self.services.get(key) {
            return Some(s.clone());
        }
        if stack.iter().any(|s| s == key) {
            let loop_ = format!("{} -> {key}", stack.join(" -> "));
            self.error(
                key,
                format!("services reference each other in a loop: {loop_}"),
            );
            return None;
        }
        let Some(def) = self.cfg.services.get(key) else {
            self.error(key, "does not exist");
            return None;
        };
        let built = match def {
            UdpService::LoadBalancer(lb) => {
                let mut servers = Vec::new();
                for server in &lb.servers {
                    match resolve(&server.address) {
                        Ok(addr) => servers.push((addr, 1)),
                        Err(e) => self.error(key, e),
                    }
                }
                UdpServiceRt::LoadBalancer {
                    name: Arc::from(key),
                    servers: Wrr::new(servers),
                }
            }
            UdpService::Weighted(w) => {
                stack.push(key.to_owned());
                let mut children = Vec::new();
                for child in &w.services {
                    let weight = child.weight.unwrap_or(1).clamp(0, i64::from(u32::MAX));
                    if let Some(s) = self.service(&child.name, stack) {
                        children.push((s, weight as u32));
                    }
                }
                stack.pop();
                UdpServiceRt::Weighted {
                    name: Arc::from(key),
                    children: Wrr::new(children),
                }
            }
        };
        let built = Arc::new(built);
        self.services.insert(key.to_owned(), built.clone());
        Some(built)
    }

    fn error(&mut self, service: &str, message: impl Into<String>) {
        self.errors
            .push(BuildError::new("UDP service", service, message));
    }
}

/// `host:port` to a socket address: an IP literal as is, a host name by the system resolver.
fn resolve(address: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = address.parse() {
        return Ok(addr);
    }
    address
        .to_socket_addrs()
        .map_err(|e| format!("server `{address}`: {e}"))?
        .next()
        .ok_or_else(|| format!("server `{address}`: the name resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> UdpConfig {
        wasmgate_config::parse_dynamic(yaml, wasmgate_config::Format::Yaml, "test.yml")
            .expect("valid dynamic configuration")
            .udp
    }

    #[test]
    fn weighted_services_pick_by_weight() {
        let rt = build(&cfg(r#"
udp:
  routers:
    r:
      service: w
  services:
    w:
      weighted:
        services:
          - name: a
            weight: 3
          - name: b@file
    a:
      loadBalancer:
        servers:
          - address: "127.0.0.1:1001"
    b:
      loadBalancer:
        servers:
          - address: "127.0.0.1:1002"
"#))
        .expect("builds");
        let route = rt
            .route("any")
            .expect("a router without entryPoints serves all");
        let picks: Vec<u16> = (0..8)
            .map(|_| route.service.pick().unwrap().port())
            .collect();
        assert_eq!(picks.iter().filter(|p| **p == 1001).count(), 6);
        assert_eq!(picks.iter().filter(|p| **p == 1002).count(), 2);
    }

    #[test]
    fn errors_name_the_service() {
        let mut udp = UdpConfig::default();
        udp.routers.insert(
            "r".into(),
            wasmgate_config::UdpRouter {
                entry_points: vec!["dns".into()],
                service: Some("missing".into()),
            },
        );
        let errs = build(&udp).expect_err("the service does not exist");
        assert_eq!(errs[0].to_string(), "UDP service `missing`: does not exist");
    }
}
