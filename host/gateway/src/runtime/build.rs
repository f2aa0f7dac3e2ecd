//! Building a [`RuntimeConfig`] from a dynamic configuration, reusing what did not change.
//!
//! Reuse is by definition: a transport whose settings are equal keeps its connection pools; a
//! service whose definition is equal and whose transport and children were reused keeps its
//! balancer; a middleware whose definition is equal keeps its state (rate-limit buckets);
//! compiled rules are cached by rule text and syntax.

use super::{EntryRoutes, RouterRt, RuntimeConfig};
use crate::middleware::{MiddlewareRt, Redirect};
use crate::plugins::{PluginMiddleware, SetResolver};
use crate::proxy::Transport;
use crate::service::{Internal, ServiceRt};
use crate::tls::TlsRuntime;
use std::collections::HashMap;
use std::sync::Arc;
use wasmgate_config::{self as config, DynamicConfig};
use wasmgate_plugin::PluginSet;
use wasmgate_rules::{HttpRule, Route, RouteTable, Syntax};

/// A problem found while building, naming the router, service or middleware at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} `{name}`: {message}")]
pub struct BuildError {
    /// `router`, `service`, `middleware` or `serversTransport`.
    pub what: &'static str,
    /// The name of the faulty element.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

impl BuildError {
    /// An error about the `what` named `name`.
    pub fn new(what: &'static str, name: &str, message: impl Into<String>) -> Self {
        BuildError {
            what,
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

pub(super) fn err(what: &'static str, name: &str, message: impl Into<String>) -> BuildError {
    BuildError::new(what, name, message)
}

/// Builds runtime configurations, keeping the previous build's parts for reuse.
#[derive(Default)]
pub struct Builder {
    entrypoints: Vec<EntryPointRouting>,
    static_plugins: config::PluginDefs,
    /// The self-signed default certificate, made once per process.
    generated_cert: Option<Arc<rustls::sign::CertifiedKey>>,
    current: Option<DynamicConfig>,
    rules: HashMap<(String, Syntax), Arc<HttpRule>>,
    pub(super) transports: HashMap<String, Arc<Transport>>,
    pub(super) services: HashMap<String, (config::Service, Arc<ServiceRt>)>,
    middlewares: HashMap<String, (config::Middleware, Arc<MiddlewareRt>)>,
    tcp: crate::tcp::TcpBuilder,
}

/// What an entrypoint adds to every router on it.
#[derive(Debug, Clone, Default)]
struct EntryPointRouting {
    name: String,
    /// `http.middlewares`, run before each router's own.
    middlewares: Vec<String>,
    /// `http.redirections.entryPoint`: (scheme, port, permanent, priority).
    redirect: Option<(String, Option<String>, bool, i64)>,
}

/// The file provider's own suffix: `name@file` and `name` are the same element.
pub(super) fn local(name: &str) -> &str {
    name.strip_suffix("@file").unwrap_or(name)
}

impl Builder {
    /// A builder for a gateway with the entrypoints of `static_cfg` (routers without
    /// `entryPoints` attach to all of them).
    pub fn new(static_cfg: &config::StaticConfig) -> Self {
        let port_of = |to: &str| -> Option<String> {
            match to.strip_prefix(':') {
                Some(port) => Some(port.to_owned()),
                None => static_cfg
                    .entry_points
                    .get(to)
                    .and_then(|ep| ep.listen_address().ok())
                    .map(|a| a.port.to_string()),
            }
        };
        let entrypoints = static_cfg
            .entry_points
            .iter()
            .map(|(name, ep)| EntryPointRouting {
                name: name.clone(),
                middlewares: ep.http.middlewares.clone(),
                redirect: ep
                    .http
                    .redirections
                    .as_ref()
                    .and_then(|r| r.entry_point.as_ref())
                    .map(|r| {
                        let scheme = if r.scheme.is_empty() {
                            "https".to_owned()
                        } else {
                            r.scheme.clone()
                        };
                        (scheme, port_of(&r.to), r.permanent, r.priority)
                    }),
            })
            .collect();
        let generated_cert = match crate::tls::certs::generated_default() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!("{e}; TLS is disabled");
                None
            }
        };
        Builder {
            entrypoints,
            generated_cert,
            static_plugins: static_cfg.plugins.definitions.clone(),
            ..Builder::default()
        }
    }

    /// Whether `cfg` is the configuration last built successfully.
    pub fn is_current(&self, cfg: &DynamicConfig) -> bool {
        self.current.as_ref() == Some(cfg)
    }

    /// Builds everything, or returns every error found. On error, nothing of the previous
    /// build is lost.
    pub fn build(
        &mut self,
        cfg: &DynamicConfig,
        plugins: &PluginSet,
        generation: u64,
    ) -> Result<RuntimeConfig, Vec<BuildError>> {
        let mut b = Build {
            cfg,
            plugins,
            old: self,
            transports: HashMap::new(),
            services: HashMap::new(),
            middlewares: HashMap::new(),
            rules: HashMap::new(),
            errors: Vec::new(),
        };
        // Per entrypoint: (plain routes, TLS routes).
        type Routes = Vec<Route<Arc<RouterRt>>>;
        let mut tables: HashMap<String, (Routes, Routes)> = b
            .old
            .entrypoints
            .iter()
            .map(|e| (e.name.clone(), Default::default()))
            .collect();
        for (name, router) in &cfg.http.routers {
            let Some((rt, rule, priority)) = b.router(name, router) else {
                continue;
            };
            let eps: Vec<String> = if router.entry_points.is_empty() {
                b.old.entrypoints.iter().map(|e| e.name.clone()).collect()
            } else {
                router.entry_points.clone()
            };
            for ep in eps {
                let rt = b.with_entrypoint_middlewares(&ep, &rt);
                let (plain, tls) = tables.entry(ep).or_default();
                let table = if router.tls.is_some() { tls } else { plain };
                table.push(Route::new(name.clone(), rule.clone(), priority, rt));
            }
        }
        for ep in &b.old.entrypoints {
            let Some((scheme, port, permanent, priority)) = &ep.redirect else {
                continue;
            };
            let name = format!("{}-redirect@internal", ep.name);
            let Some(rule) = b.rule(&name, "PathPrefix(`/`)", Syntax::V3) else {
                continue;
            };
            let redirect = MiddlewareRt::Redirect(Redirect::Scheme {
                scheme: scheme.clone(),
                port: port.clone(),
                permanent: *permanent,
            });
            let rt = Arc::new(RouterRt {
                name: Arc::from(name.as_str()),
                chain: vec![Arc::new(redirect)].into(),
                service: Arc::new(ServiceRt::Internal(Internal::Noop)),
                access_log: true,
            });
            let priority = if *priority > 0 {
                *priority
            } else {
                i64::from(i32::MAX) - 1
            };
            tables
                .entry(ep.name.clone())
                .or_default()
                .0
                .push(Route::new(name, rule, priority, rt));
        }
        let tls = match &self.generated_cert {
            Some(cert) => TlsRuntime::build(&cfg.tls, &cfg.http.routers, &cfg.tcp.routers, cert)
                .map(Arc::new)
                .map_err(|errs| {
                    b.errors.extend(
                        errs.into_iter()
                            .map(|e| BuildError::new("tls", "certificates", e)),
                    )
                })
                .ok(),
            None => None,
        };
        let udp = crate::udp::build(&cfg.udp)
            .map_err(|errs| b.errors.extend(errs))
            .unwrap_or_default();
        let tcp = self
            .tcp
            .build(
                cfg,
                plugins,
                &self.static_plugins,
                self.entrypoints.iter().map(|e| e.name.as_str()),
            )
            .map_err(|errs| b.errors.extend(errs))
            .unwrap_or_default();
        if !b.errors.is_empty() {
            return Err(b.errors);
        }
        let Build {
            transports,
            services,
            middlewares,
            rules,
            ..
        } = b;
        self.transports = transports;
        self.services = services;
        self.middlewares = middlewares;
        self.rules = rules;
        self.current = Some(cfg.clone());
        Ok(RuntimeConfig {
            entrypoints: tables
                .into_iter()
                .map(|(ep, (plain, tls))| {
                    let routes = EntryRoutes {
                        plain: RouteTable::new(plain),
                        tls: RouteTable::new(tls),
                    };
                    (ep, routes)
                })
                .collect(),
            tls,
            generation,
            tcp,
            udp,
        })
    }
}

pub(super) struct Build<'a> {
    pub(super) cfg: &'a DynamicConfig,
    pub(super) plugins: &'a PluginSet,
    pub(super) old: &'a Builder,
    pub(super) transports: HashMap<String, Arc<Transport>>,
    pub(super) services: HashMap<String, (config::Service, Arc<ServiceRt>)>,
    pub(super) middlewares: HashMap<String, (config::Middleware, Arc<MiddlewareRt>)>,
    pub(super) rules: HashMap<(String, Syntax), Arc<HttpRule>>,
    pub(super) errors: Vec<BuildError>,
}

impl Build<'_> {
    /// The router as served on entrypoint `ep`: the entrypoint's middlewares run first.
    fn with_entrypoint_middlewares(&mut self, ep: &str, rt: &Arc<RouterRt>) -> Arc<RouterRt> {
        let Some(ep) = self.old.entrypoints.iter().find(|e| e.name == ep) else {
            return rt.clone();
        };
        if ep.middlewares.is_empty() {
            return rt.clone();
        }
        let mut chain = Vec::new();
        for m in &ep.middlewares {
            self.flatten(m, &mut chain, &mut Vec::new());
        }
        chain.extend(rt.chain.iter().cloned());
        Arc::new(RouterRt {
            name: rt.name.clone(),
            chain: chain.into(),
            service: rt.service.clone(),
            access_log: rt.access_log,
        })
    }

    fn router(
        &mut self,
        name: &str,
        r: &config::Router,
    ) -> Option<(Arc<RouterRt>, Arc<HttpRule>, i64)> {
        if r.tls.as_ref().is_some_and(|t| t.cert_resolver.is_some()) {
            self.errors.push(err(
                "router",
                name,
                "tls.certResolver (ACME) is not supported: give certificates in tls.certificates",
            ));
            return None;
        }
        let syntax = match r.rule_syntax.as_deref() {
            None => Syntax::V3,
            Some(s) => match s.parse() {
                Ok(s) => s,
                Err(_) => {
                    self.errors.push(err(
                        "router",
                        name,
                        format!("ruleSyntax `{s}` is not `v3` or `v2`"),
                    ));
                    return None;
                }
            },
        };
        let rule = self.rule(name, &r.rule, syntax);
        let Some(service_name) = r.service.as_deref() else {
            self.errors.push(err("router", name, "no service"));
            return None;
        };
        let service = self.service(service_name, &mut Vec::new());
        let mut chain = Vec::new();
        for m in &r.middlewares {
            self.flatten(m, &mut chain, &mut Vec::new());
        }
        let (rule, service) = (rule?, service?);
        let rt = Arc::new(RouterRt {
            name: Arc::from(name),
            chain: chain.into(),
            service,
            access_log: r
                .observability
                .as_ref()
                .and_then(|o| o.access_logs)
                .unwrap_or(true),
        });
        Some((rt, rule, r.priority))
    }

    fn rule(&mut self, router: &str, text: &str, syntax: Syntax) -> Option<Arc<HttpRule>> {
        if text.to_ascii_lowercase().contains("plugin(") {
            // Bound to this build's plugin instances: never cached across builds.
            return match HttpRule::parse_with(text, syntax, &SetResolver(self.plugins)) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    self.errors
                        .push(err("router", router, format!("rule `{text}`: {e}")));
                    None
                }
            };
        }
        let key = (text.to_owned(), syntax);
        if let Some(r) = self.rules.get(&key).or_else(|| self.old.rules.get(&key)) {
            let r = r.clone();
            self.rules.insert(key, r.clone());
            return Some(r);
        }
        match HttpRule::parse(text, syntax) {
            Ok(r) => {
                let r = Arc::new(r);
                self.rules.insert(key, r.clone());
                Some(r)
            }
            Err(e) => {
                self.errors
                    .push(err("router", router, format!("rule `{text}`: {e}")));
                None
            }
        }
    }

    fn flatten(&mut self, name: &str, out: &mut Vec<Arc<MiddlewareRt>>, stack: &mut Vec<String>) {
        let key = local(name);
        if stack.iter().any(|s| s == key) {
            self.errors.push(err(
                "middleware",
                key,
                format!("chain cycle: {} -> {key}", stack.join(" -> ")),
            ));
            return;
        }
        let Some(def) = self.cfg.http.middlewares.get(key) else {
            self.errors.push(err("middleware", key, "does not exist"));
            return;
        };
        if let config::Middleware::Chain(c) = def {
            stack.push(key.to_owned());
            for m in &c.middlewares {
                self.flatten(m, out, stack);
            }
            stack.pop();
            return;
        }
        if let Some((_, m)) = self.middlewares.get(key) {
            out.push(m.clone());
            return;
        }
        let built = match (def, self.old.middlewares.get(key)) {
            (config::Middleware::Plugin(uses), _) => {
                self.plugin_middleware(key, uses).map(Arc::new)
            }
            (_, Some((old_def, m))) if old_def == def => Ok(m.clone()),
            _ => crate::middleware::build::middleware(def).map(Arc::new),
        };
        match built {
            Ok(m) => {
                self.middlewares
                    .insert(key.to_owned(), (def.clone(), m.clone()));
                out.push(m);
            }
            Err(e) => self.errors.push(err("middleware", key, e)),
        }
    }
}

impl Build<'_> {
    fn plugin_middleware(
        &self,
        key: &str,
        uses: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<MiddlewareRt, String> {
        let plugin = self
            .plugins
            .get(key)
            .ok_or_else(|| "its plugin is not loaded".to_owned())?
            .clone();
        let def = uses
            .keys()
            .next()
            .and_then(|p| crate::plugins::definition(self.cfg, &self.old.static_plugins, p))
            .ok_or_else(|| "its plugin is not declared".to_owned())?;
        Ok(MiddlewareRt::Plugin(PluginMiddleware {
            plugin,
            fail_open: def.failure_policy == config::FailurePolicy::FailOpen,
            body: def.body,
        }))
    }
}
