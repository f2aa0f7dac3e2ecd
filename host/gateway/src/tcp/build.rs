//! Building the TCP side of a configuration, reusing balancers and connection counters whose
//! definition did not change.

use super::dial::TcpTransport;
use super::middleware::{InFlightConn, TcpMiddlewareRt, TcpPlugin};
use super::service::{TcpLoadBalancer, TcpServer, TcpServiceRt};
use super::{TcpEntryRoutes, TcpRouterRt, TcpRuntime, TlsMode};
use crate::runtime::BuildError;
use crate::service::wrr::Wrr;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use wasmgate_config::{
    self as config, DynamicConfig, PluginDef, TcpMiddleware, TcpServersTransport, TcpService,
};
use wasmgate_plugin::PluginSet;
use wasmgate_rules::{Syntax, TcpRoute, TcpRouteTable, TcpRule};

/// The plugin pool name of TCP middleware `m`.
pub fn plugin_pool(middleware: &str) -> String {
    format!("tcp:{middleware}")
}

fn local(name: &str) -> &str {
    name.strip_suffix("@file").unwrap_or(name)
}

type ServiceKey = (TcpService, Option<TcpServersTransport>);

/// Builds [`TcpRuntime`]s, keeping the previous build's parts for reuse.
#[derive(Debug, Default)]
pub struct TcpBuilder {
    previous: Mutex<Parts>,
}

#[derive(Debug, Default)]
struct Parts {
    services: HashMap<String, (ServiceKey, Arc<TcpServiceRt>)>,
    middlewares: HashMap<String, (TcpMiddleware, Arc<TcpMiddlewareRt>)>,
}

struct Build<'a> {
    cfg: &'a DynamicConfig,
    plugins: &'a PluginSet,
    statics: &'a BTreeMap<String, PluginDef>,
    old: &'a Parts,
    new: Parts,
    errors: Vec<BuildError>,
}

impl TcpBuilder {
    /// Builds the TCP routers, services and middlewares of `cfg`; routers without
    /// `entryPoints` attach to every entrypoint in `entrypoints`.
    pub fn build<'e>(
        &self,
        cfg: &DynamicConfig,
        plugins: &PluginSet,
        statics: &BTreeMap<String, PluginDef>,
        entrypoints: impl Iterator<Item = &'e str> + Clone,
    ) -> Result<TcpRuntime, Vec<BuildError>> {
        let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = Build {
            cfg,
            plugins,
            statics,
            old: &previous,
            new: Parts::default(),
            errors: Vec::new(),
        };
        type Routes = Vec<TcpRoute<Arc<TcpRouterRt>>>;
        let mut tables: HashMap<String, (Routes, Routes)> = HashMap::new();
        for (name, r) in &cfg.tcp.routers {
            let Some((rt, rule)) = b.router(name, r) else {
                continue;
            };
            let eps: Vec<String> = if r.entry_points.is_empty() {
                entrypoints.clone().map(str::to_owned).collect()
            } else {
                r.entry_points.clone()
            };
            for ep in eps {
                let (plain, tls) = tables.entry(ep).or_default();
                let table = if rt.tls == TlsMode::Plain { plain } else { tls };
                table.push(TcpRoute::new(
                    name.clone(),
                    rule.clone(),
                    r.priority,
                    rt.clone(),
                ));
            }
        }
        let mut services = HashMap::new();
        for name in cfg.tcp.services.keys() {
            if let Some(s) = b.service(name, &mut Vec::new()) {
                services.insert(name.clone(), s);
            }
        }
        if !b.errors.is_empty() {
            return Err(b.errors);
        }
        let new = b.new;
        *previous = new;
        Ok(TcpRuntime {
            entrypoints: tables
                .into_iter()
                .map(|(ep, (plain, tls))| {
                    let routes = TcpEntryRoutes {
                        plain: TcpRouteTable::new(plain),
                        tls: TcpRouteTable::new(tls),
                    };
                    (ep, routes)
                })
                .collect(),
            services,
        })
    }
}

/// The first matcher of `rule` that only TLS connections can satisfy: ALPN, HostSNIRegexp,
/// or HostSNI with a name.
fn needs_tls(rule: &str) -> Option<String> {
    fn walk(e: &wasmgate_rules::Expr) -> Option<String> {
        use wasmgate_rules::Expr;
        match e {
            Expr::Call(c) => {
                let n = c.name.to_ascii_lowercase();
                let sni_name = n == "hostsni" && c.args.iter().any(|a| a != "*");
                (sni_name || n == "hostsniregexp" || n == "alpn").then(|| c.name.clone())
            }
            Expr::Not(inner) => walk(inner),
            Expr::And(v) | Expr::Or(v) => v.iter().find_map(walk),
        }
    }
    walk(&wasmgate_rules::parse_expr(rule).ok()?)
}

fn err(what: &'static str, name: &str, message: impl Into<String>) -> BuildError {
    BuildError::new(what, name, message)
}

impl Build<'_> {
    fn router(
        &mut self,
        name: &str,
        r: &config::TcpRouter,
    ) -> Option<(Arc<TcpRouterRt>, Arc<TcpRule>)> {
        let tls = match &r.tls {
            None => TlsMode::Plain,
            Some(t) if t.cert_resolver.is_some() => {
                self.errors.push(err(
                    "TCP router",
                    name,
                    "tls.certResolver (ACME) is not supported: give certificates in tls.certificates",
                ));
                return None;
            }
            Some(t) if t.passthrough => TlsMode::Passthrough,
            Some(_) => TlsMode::Terminate,
        };
        let syntax = match r.rule_syntax.as_deref().map(str::parse::<Syntax>) {
            None => Syntax::V3,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                self.errors.push(err("TCP router", name, e.to_string()));
                return None;
            }
        };
        if tls == TlsMode::Plain
            && let Some(m) = needs_tls(&r.rule)
        {
            self.errors.push(err(
                "TCP router",
                name,
                format!(
                    "{m} needs TLS (a connection without TLS has no SNI or ALPN): add `tls`, or use HostSNI(`*`) and ClientIP"
                ),
            ));
            return None;
        }
        let rule = match TcpRule::parse(&r.rule, syntax) {
            Ok(rule) => Some(Arc::new(rule)),
            Err(e) => {
                self.errors
                    .push(err("TCP router", name, format!("rule `{}`: {e}", r.rule)));
                None
            }
        };
        let service = match r.service.as_deref() {
            Some(s) => self.service(s, &mut Vec::new()),
            None => {
                self.errors.push(err("TCP router", name, "no service"));
                None
            }
        };
        let middlewares: Vec<_> = r
            .middlewares
            .iter()
            .filter_map(|m| self.middleware(m))
            .collect();
        if middlewares.len() != r.middlewares.len() {
            return None;
        }
        let (rule, service) = (rule?, service?);
        let rt = Arc::new(TcpRouterRt {
            name: Arc::from(name),
            tls,
            middlewares,
            service,
        });
        Some((rt, rule))
    }

    fn service(&mut self, name: &str, stack: &mut Vec<String>) -> Option<Arc<TcpServiceRt>> {
        let key = local(name);
        if let Some((_, s)) = self.new.services.get(key) {
            return Some(s.clone());
        }
        if stack.iter().any(|s| s == key) {
            self.errors.push(err(
                "TCP service",
                key,
                "services reference each other in a loop",
            ));
            return None;
        }
        let Some(def) = self.cfg.tcp.services.get(key) else {
            self.errors.push(err("TCP service", key, "does not exist"));
            return None;
        };
        let mut cache_key: ServiceKey = (def.clone(), None);
        let built = match def {
            TcpService::LoadBalancer(lb) => {
                let transport_def = match lb.servers_transport.as_deref().map(local) {
                    None | Some("default") => {
                        self.cfg.tcp.servers_transports.get("default").cloned()
                    }
                    Some(t) => match self.cfg.tcp.servers_transports.get(t) {
                        Some(d) => Some(d.clone()),
                        None => {
                            self.errors.push(err(
                                "TCP service",
                                key,
                                format!("serversTransport `{t}` does not exist"),
                            ));
                            return None;
                        }
                    },
                };
                cache_key.1 = transport_def.clone();
                if let Some((k, s)) = self.old.services.get(key)
                    && *k == cache_key
                {
                    let s = s.clone();
                    self.new
                        .services
                        .insert(key.to_owned(), (cache_key, s.clone()));
                    return Some(s);
                }
                let mut transport = match TcpTransport::build(&transport_def.unwrap_or_default()) {
                    Ok(t) => t,
                    Err(e) => {
                        self.errors
                            .push(err("TCP service", key, format!("serversTransport: {e}")));
                        return None;
                    }
                };
                if let Some(ms) = lb.termination_delay {
                    transport.termination_delay =
                        u64::try_from(ms).ok().map(std::time::Duration::from_millis);
                }
                let servers = lb
                    .servers
                    .iter()
                    .map(|s| {
                        let server = TcpServer {
                            address: s.address.clone(),
                            tls: s.tls,
                        };
                        (server, 1)
                    })
                    .collect();
                Arc::new(TcpServiceRt::LoadBalancer(TcpLoadBalancer {
                    name: Arc::from(key),
                    servers: Wrr::new(servers),
                    transport: Arc::new(transport),
                    proxy_protocol: lb
                        .proxy_protocol
                        .as_ref()
                        .map(|p| p.version.unwrap_or(2) as u8),
                }))
            }
            TcpService::Weighted(w) => {
                stack.push(key.to_owned());
                let mut children = Vec::new();
                for c in &w.services {
                    let weight = u32::try_from(c.weight.unwrap_or(1)).unwrap_or(0);
                    if let Some(s) = self.service(&c.name, stack) {
                        children.push((s, weight));
                    }
                }
                stack.pop();
                if children.len() != w.services.len() {
                    return None;
                }
                Arc::new(TcpServiceRt::Weighted {
                    name: Arc::from(key),
                    children: Wrr::new(children),
                })
            }
        };
        self.new
            .services
            .insert(key.to_owned(), (cache_key, built.clone()));
        Some(built)
    }

    fn middleware(&mut self, name: &str) -> Option<Arc<TcpMiddlewareRt>> {
        let key = local(name);
        if let Some((_, m)) = self.new.middlewares.get(key) {
            return Some(m.clone());
        }
        let Some(def) = self.cfg.tcp.middlewares.get(key) else {
            self.errors
                .push(err("TCP middleware", key, "does not exist"));
            return None;
        };
        let built = match (def, self.old.middlewares.get(key)) {
            (TcpMiddleware::Plugin(uses), _) => self.plugin(key, uses),
            (_, Some((old, m))) if old == def => Ok(m.clone()),
            (TcpMiddleware::IpAllowList(m) | TcpMiddleware::IpWhiteList(m), _) => {
                wasmgate_rules::IpSet::parse(&m.source_range)
                    .map(|set| Arc::new(TcpMiddlewareRt::IpAllowList(set)))
                    .map_err(|(i, e)| format!("sourceRange `{}`: {e}", m.source_range[i]))
            }
            (TcpMiddleware::InFlightConn(m), _) => usize::try_from(m.amount)
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Arc::new(TcpMiddlewareRt::InFlightConn(InFlightConn::new(n))))
                .ok_or_else(|| "inFlightConn.amount must be positive".to_owned()),
        };
        match built {
            Ok(m) => {
                self.new
                    .middlewares
                    .insert(key.to_owned(), (def.clone(), m.clone()));
                Some(m)
            }
            Err(e) => {
                self.errors.push(err("TCP middleware", key, e));
                None
            }
        }
    }

    fn plugin(
        &self,
        key: &str,
        uses: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Arc<TcpMiddlewareRt>, String> {
        let plugin = self
            .plugins
            .get(&plugin_pool(key))
            .ok_or_else(|| "its plugin is not loaded".to_owned())?
            .clone();
        let def = uses
            .keys()
            .next()
            .and_then(|p| crate::plugins::definition(self.cfg, self.statics, p))
            .ok_or_else(|| "its plugin is not declared".to_owned())?;
        Ok(Arc::new(TcpMiddlewareRt::Plugin(TcpPlugin {
            plugin,
            fail_open: def.failure_policy == config::FailurePolicy::FailOpen,
        })))
    }
}
