//! WebAssembly plugins in the gateway: which components a configuration needs, and the
//! middleware and route-matcher adapters that call them.
//!
//! Each plugin middleware (`http.middlewares.<m>.plugin.<p>: settings`) gets its own pool of
//! instances, named `<m>`, initialised with its settings; each plugin used in a rule as
//! ``Plugin(`p`)`` gets a pool named `rule:<p>` initialised with `plugins.<p>.settings`. The
//! compiled component is shared through the runtime's content-hash cache.

use crate::body::{self, Body};
use crate::body_buffer::{Buffered, read_up_to};
use crate::context::RequestCtx;
use crate::middleware::Holds;
use crate::middleware::{Flow, status};
use crate::runtime::BuildError;
use http::{Request, Response, StatusCode, Uri};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmgate_config::{DynamicConfig, Middleware, PluginBody, PluginDef, StaticConfig};
use wasmgate_plugin::{
    Action, Grants, HeaderList, Lease, Limits, Plugin, PluginRequest, PluginResponse,
    PluginRuntime, PluginSet, PluginSpec, WasmSource, World,
};
use wasmgate_rules::{CustomMatcher, CustomResolver, RequestInfo};

/// Components compiled into the binary, usable as `source: "builtin:<name>"`.
const BUILTIN: &[(&str, &[u8])] = &[("header-stamp", wasmgate_guest_plugins::HEADER_STAMP_WASM)];

/// The process's plugin runtime and where plugin sources are found.
pub struct PluginHost {
    runtime: PluginRuntime,
    registries: Vec<PathBuf>,
    base_dir: PathBuf,
    definitions: BTreeMap<String, PluginDef>,
    /// Whether the configuration last given to [`PluginHost::specs`] uses a `name@latest`
    /// source (the registry folders are then watched).
    wants_latest: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("registries", &self.registries)
            .finish()
    }
}

/// The spec name of the route-matcher pool of plugin `p`.
pub fn matcher_pool(plugin: &str) -> String {
    format!("rule:{plugin}")
}

impl PluginHost {
    /// Starts the runtime. Relative paths (registries, sources, cache) are resolved against
    /// `base_dir`, the static configuration's folder.
    pub fn new(
        static_cfg: &StaticConfig,
        base_dir: &Path,
    ) -> Result<Self, wasmgate_plugin::PluginError> {
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base_dir.join(p) }
        };
        let mut config = wasmgate_plugin::RuntimeConfig::default();
        if let Some(dir) = &static_cfg.plugins.cache_dir {
            config.cache_dir = Some(resolve(dir));
        }
        if let Some(t) = static_cfg.plugins.idle_timeout {
            config.idle_timeout = t.to_std().unwrap_or_default();
        }
        let pool = &static_cfg.plugins.pool;
        if let Some(n) = pool.instances {
            config.pool_total_instances = n;
        }
        if let Some(m) = pool.max_memory {
            config.pool_max_memory_bytes = usize::try_from(m.0).unwrap_or(usize::MAX);
        }
        let redis = static_cfg
            .plugins
            .kv
            .as_ref()
            .and_then(|kv| kv.redis.as_ref());
        let runtime = match redis {
            None => PluginRuntime::new(config)?,
            Some(r) => {
                let timeout = r
                    .timeout
                    .to_std_nonzero()
                    .unwrap_or(std::time::Duration::from_millis(100));
                let kv = wasmgate_plugin::kv_redis::RedisKv::new(&r.url, &r.key_prefix, timeout)
                    .map_err(|e| wasmgate_plugin::PluginError::Io {
                        path: "plugins.kv.redis.url".to_owned(),
                        source: std::io::Error::other(e),
                    })?;
                PluginRuntime::with_kv(config, std::sync::Arc::new(kv))?
            }
        };
        Ok(PluginHost {
            runtime,
            registries: static_cfg
                .plugins
                .registries
                .iter()
                .map(|r| resolve(r))
                .collect(),
            base_dir: base_dir.to_path_buf(),
            definitions: static_cfg.plugins.definitions.clone(),
            wants_latest: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The runtime.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    fn definition<'a>(&'a self, dynamic: &'a DynamicConfig, name: &str) -> Option<&'a PluginDef> {
        definition(dynamic, &self.definitions, name)
    }

    /// The registry folders of the static configuration.
    pub fn registries(&self) -> &[PathBuf] {
        &self.registries
    }

    /// Whether the configuration last resolved uses a `name@latest` plugin source.
    pub fn wants_latest(&self) -> bool {
        self.wants_latest.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The plugin instances `dynamic` needs: one pool per plugin middleware and per plugin
    /// used in a rule.
    pub fn specs(&self, dynamic: &DynamicConfig) -> Result<Vec<PluginSpec>, Vec<BuildError>> {
        let latest = dynamic
            .plugins
            .values()
            .chain(self.definitions.values())
            .any(|d| wasmgate_plugin::registry::latest_name(&d.source).is_some());
        self.wants_latest
            .store(latest, std::sync::atomic::Ordering::Relaxed);
        let mut specs = Vec::new();
        let mut errors = Vec::new();
        for (mw, def) in &dynamic.http.middlewares {
            let Middleware::Plugin(uses) = def else {
                continue;
            };
            for (plugin, settings) in uses {
                match self.spec(dynamic, mw, plugin, Some(settings), World::HttpMiddleware) {
                    Ok(s) => specs.push(s),
                    Err(e) => errors.push(BuildError::new("middleware", mw, e)),
                }
            }
        }
        for (mw, def) in &dynamic.tcp.middlewares {
            let wasmgate_config::TcpMiddleware::Plugin(uses) = def else {
                continue;
            };
            let pool = crate::tcp::build::plugin_pool(mw);
            for (plugin, settings) in uses {
                match self.spec(dynamic, &pool, plugin, Some(settings), World::TcpFilter) {
                    Ok(s) => specs.push(s),
                    Err(e) => errors.push(BuildError::new("TCP middleware", mw, e)),
                }
            }
        }
        let mut matchers = std::collections::BTreeSet::new();
        for router in dynamic.http.routers.values() {
            if let Ok(expr) = wasmgate_rules::parse_expr(&router.rule) {
                collect_plugin_calls(&expr, &mut matchers);
            }
        }
        for plugin in matchers {
            match self.spec(
                dynamic,
                &matcher_pool(&plugin),
                &plugin,
                None,
                World::RouteMatcher,
            ) {
                Ok(s) => specs.push(s),
                Err(e) => errors.push(BuildError::new("plugin", &plugin, e)),
            }
        }
        if errors.is_empty() {
            Ok(specs)
        } else {
            Err(errors)
        }
    }

    fn spec(
        &self,
        dynamic: &DynamicConfig,
        pool: &str,
        plugin: &str,
        settings: Option<&serde_json::Value>,
        world: World,
    ) -> Result<PluginSpec, String> {
        let def = self
            .definition(dynamic, plugin)
            .ok_or_else(|| format!("plugin `{plugin}` is not declared under `plugins`"))?;
        let (wasm, declared) = self.source(&def.source)?;
        let mut spec = PluginSpec::new(pool, wasm, world);
        // The configuration decides, else the plugin's manifest, else one per request.
        spec.instance_per_request = def.instance_per_request.or(declared).unwrap_or(true);
        let settings = settings.or(def.settings.as_ref());
        spec.settings_json = settings.map_or_else(|| "{}".to_owned(), serde_json::Value::to_string);
        let defaults = Limits::default();
        let l = &def.limits;
        spec.limits = Limits {
            max_memory_bytes: l.memory.map_or(defaults.max_memory_bytes, |m| m.0 as usize),
            call_timeout: l
                .timeout
                .and_then(|t| t.to_std_nonzero())
                .unwrap_or(defaults.call_timeout),
            max_instances: l
                .max_instances
                .map_or(defaults.max_instances, |n| n.max(1) as usize),
            max_body_bytes: l.max_body.map_or(defaults.max_body_bytes, |b| b.0 as usize),
            ..defaults
        };
        spec.grants = Grants {
            kv: def.grants.kv,
            outbound_http: (!def.grants.outbound_http.is_empty())
                .then(|| def.grants.outbound_http.clone()),
        };
        Ok(spec)
    }

    /// The component, and what a registry plugin's manifest says of `instancePerRequest`.
    fn source(&self, source: &str) -> Result<(WasmSource, Option<bool>), String> {
        if let Some(name) = source.strip_prefix("builtin:") {
            return BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, bytes)| (WasmSource::Bytes(bytes::Bytes::from_static(bytes)), None))
                .ok_or_else(|| format!("no built-in plugin `{name}` (built in: header-stamp)"));
        }
        if source.ends_with(".wasm") || source.contains('/') {
            let p = PathBuf::from(source);
            let path = if p.is_absolute() {
                p
            } else {
                self.base_dir.join(p)
            };
            return Ok((WasmSource::Path(path), None));
        }
        wasmgate_plugin::registry::resolve(&self.registries, source)
            .map(|r| {
                let declared = r.manifest.instance_per_request;
                (WasmSource::Path(r.wasm_path), declared)
            })
            .map_err(|e| e.to_string())
    }

    /// Loads `specs`, keeping from `current` every plugin that did not change; also says
    /// whether anything changed.
    pub async fn reload(
        &self,
        current: &PluginSet,
        specs: Vec<PluginSpec>,
    ) -> Result<(PluginSet, bool), String> {
        let (set, report) = current
            .reload(&self.runtime, specs)
            .await
            .map_err(|e| e.to_string())?;
        let changed = !report.loaded.is_empty() || !report.removed.is_empty();
        if changed {
            tracing::info!(loaded = ?report.loaded, kept = ?report.kept, removed = ?report.removed, "plugins reloaded");
        }
        Ok((set, changed))
    }
}

/// Plugin `name` as declared by the dynamic configuration, else by the static one
/// (`plugins.definitions`, where `--plugin` lands).
pub fn definition<'a>(
    dynamic: &'a DynamicConfig,
    statics: &'a BTreeMap<String, PluginDef>,
    name: &str,
) -> Option<&'a PluginDef> {
    dynamic.plugins.get(name).or_else(|| statics.get(name))
}

fn collect_plugin_calls(expr: &wasmgate_rules::Expr, out: &mut std::collections::BTreeSet<String>) {
    use wasmgate_rules::Expr;
    match expr {
        Expr::Call(c) if c.name.eq_ignore_ascii_case("plugin") => {
            out.extend(c.args.iter().cloned())
        }
        Expr::Call(_) => {}
        Expr::Not(e) => collect_plugin_calls(e, out),
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| collect_plugin_calls(e, out)),
    }
}

/// A plugin middleware.
pub struct PluginMiddleware {
    /// The instance pool.
    pub plugin: Arc<Plugin>,
    /// Continue without the plugin when it fails (instead of answering 500).
    pub fail_open: bool,
    /// Which bodies are buffered for the plugin.
    pub body: PluginBody,
}

impl std::fmt::Debug for PluginMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginMiddleware")
            .field("plugin", &self.plugin.name())
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

/// A plugin's response phase, still to run: the instance the request kept, or (with
/// `instancePerRequest: false`) the plugin to borrow one from.
pub struct HeldLease {
    held: Held,
    fail_open: bool,
    response_body: bool,
    /// The position of its middleware in the router's chain.
    pub index: usize,
}

/// Headers a plugin queued in `on-request` (`set-response-headers`), set on the response
/// when it passes back through the plugin's middleware.
pub struct QueuedHeaders {
    /// The position of its middleware in the router's chain.
    pub index: usize,
    headers: HeaderList,
}

impl QueuedHeaders {
    /// Sets the headers on `resp`, in order (a name given twice keeps its last value).
    pub fn apply(self, resp: &mut Response<Body>) {
        wasmgate_plugin::set_header_list(resp.headers_mut(), self.headers.into_iter());
    }
}

impl PluginMiddleware {
    /// Runs `on-request`: the request's head moves into the plugin's store and back, so the
    /// headers are not copied.
    pub async fn on_request(
        &self,
        req: &mut Request<Body>,
        ctx: &RequestCtx,
        holds: &mut Holds,
    ) -> Flow {
        let mut lease = match self.plugin.lease().await {
            Ok(l) => l,
            Err(e) => return self.failed(&e, "on-request"),
        };
        let mut preq = take_request(req, ctx);
        let original = if self.body.request() {
            let body = std::mem::replace(req.body_mut(), body::empty());
            // Boxed, as only plugins that read bodies take this path: the request's future
            // stays small for the others.
            match Box::pin(read_up_to(body, self.plugin.max_body_bytes())).await {
                Buffered::Whole(bytes) => {
                    preq.body = Some(bytes.clone());
                    Some(bytes)
                }
                Buffered::TooLarge(body) => {
                    *req.body_mut() = body;
                    None
                }
            }
        } else {
            None
        };
        let result = lease.on_request(&mut preq).await;
        restore_request(req, &mut preq);
        if preq.body_replaced {
            *req.body_mut() = body::full(preq.body.take().unwrap_or_default());
        } else if let Some(bytes) = original {
            *req.body_mut() = body::full(bytes);
        }
        let queued = std::mem::take(&mut preq.response_headers);
        self.after_request(result.map(|a| (a, queued)), lease, holds)
    }

    /// [`PluginMiddleware::on_request`] without waiting, when that is possible: the plugin
    /// is called synchronously, reads no body, and has an instance idle. `None` otherwise.
    pub fn on_request_now(
        &self,
        req: &mut Request<Body>,
        ctx: &RequestCtx,
        holds: &mut Holds,
    ) -> Option<Flow> {
        if !self.plugin.sync_calls() || self.body.request() {
            return None;
        }
        let mut lease = self.plugin.try_lease()?;
        let result = lease
            .on_request_now_in(req, Some(ctx.client), ctx.tls)
            .map(|done| {
                if let Some(bytes) = done.body {
                    *req.body_mut() = body::full(bytes);
                }
                (done.action, done.response_headers)
            });
        Some(self.after_request(result, lease, holds))
    }

    /// What the chain does after `on-request`: the headers the plugin queued for the
    /// response (unless its call failed) and the instance or plugin its response phase needs
    /// go into `holds`, at the chain position `holds.at`.
    fn after_request(
        &self,
        result: Result<(Action, HeaderList), wasmgate_plugin::PluginError>,
        lease: Lease,
        holds: &mut Holds,
    ) -> Flow {
        let result = result.map(|(action, headers)| {
            if !headers.is_empty() {
                holds.queued.push(QueuedHeaders {
                    index: holds.at,
                    headers,
                });
            }
            action
        });
        match result {
            // A plugin without a response phase gives its instance back now, so it is not
            // held while the service answers (and the request head is not kept for it).
            Ok(Action::Continue) if !self.plugin.handles_response() => Flow::Continue,
            Ok(Action::Continue) => {
                let held = if self.plugin.instance_per_request() {
                    Held::Instance(lease)
                } else {
                    // Given back now: requests waiting on their service hold no instance.
                    Held::Plugin(lease.plugin().clone())
                };
                holds.leases.push(HeldLease {
                    held,
                    fail_open: self.fail_open,
                    response_body: self.body.response(),
                    index: holds.at,
                });
                Flow::Continue
            }
            Ok(Action::Respond {
                status: code,
                headers,
                body,
            }) => {
                let mut resp = Response::new(body::full(body));
                *resp.status_mut() = code;
                *resp.headers_mut() = headers;
                Flow::Respond(resp)
            }
            Err(e) => self.failed(&e, "on-request"),
        }
    }

    fn failed(&self, e: &wasmgate_plugin::PluginError, phase: &str) -> Flow {
        log_failure(self.plugin.name(), phase, e);
        if self.fail_open {
            Flow::Continue
        } else {
            Flow::Respond(status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

fn log_failure(plugin: &str, phase: &str, e: &wasmgate_plugin::PluginError) {
    match e.as_call() {
        Some(call) => tracing::error!(
            plugin,
            phase,
            reason = ?call.reason,
            backtrace = call.backtrace.as_deref().unwrap_or("-"),
            "plugin call failed: {}",
            call.message
        ),
        None => tracing::error!(plugin, phase, "plugin call failed: {e}"),
    }
}

fn take_request(req: &mut Request<Body>, ctx: &RequestCtx) -> PluginRequest {
    let mut preq = PluginRequest::new(
        std::mem::take(req.method_mut()),
        std::mem::take(req.uri_mut()),
        std::mem::take(req.headers_mut()),
    );
    preq.client_addr = Some(ctx.client);
    preq.tls = ctx.tls;
    preq
}

fn restore_request(req: &mut Request<Body>, preq: &mut PluginRequest) {
    *req.method_mut() = std::mem::take(&mut preq.method);
    *req.uri_mut() = std::mem::take(&mut preq.uri);
    *req.headers_mut() = std::mem::take(&mut preq.headers);
}

/// What the response phase shows plugins of the request: its method, URI and headers as
/// they were sent to the service.
pub struct RequestHead {
    method: http::Method,
    uri: Uri,
    headers: http::HeaderMap,
}

impl RequestHead {
    /// Copies the head of `req` (taken only when a plugin holds a lease for the response).
    pub fn of(req: &Request<Body>) -> Self {
        RequestHead {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
        }
    }
}

impl RequestHead {
    /// The request as plugins see it in their response phase.
    pub fn into_plugin_request(self, ctx: &RequestCtx) -> PluginRequest {
        let mut preq = PluginRequest::new(self.method, self.uri, self.headers);
        preq.client_addr = Some(ctx.client);
        preq.tls = ctx.tls;
        preq
    }
}

/// What a [`HeldLease`] holds.
enum Held {
    /// The instance that ran `on-request`.
    Instance(Lease),
    /// Nothing yet: `on-response` borrows an instance for its call.
    Plugin(Arc<Plugin>),
}

impl HeldLease {
    fn plugin(&self) -> &Arc<Plugin> {
        match &self.held {
            Held::Instance(lease) => lease.plugin(),
            Held::Plugin(plugin) => plugin,
        }
    }

    /// Whether [`HeldLease::on_response_now`] can run the response phase: the plugin is
    /// called synchronously, reads no response body, and has an instance for it (one that
    /// is borrowed only for this call is taken here, if one is idle).
    pub fn runs_now(&mut self) -> bool {
        if !self.plugin().sync_calls() || self.response_body {
            return false;
        }
        if let Held::Plugin(plugin) = &self.held {
            match plugin.try_lease() {
                Some(lease) => self.held = Held::Instance(lease),
                None => return false,
            }
        }
        true
    }

    /// The instance for `on-response`, waiting for one if needed.
    async fn lease(&mut self) -> Result<&mut Lease, wasmgate_plugin::PluginError> {
        if let Held::Plugin(plugin) = &self.held {
            self.held = Held::Instance(plugin.lease_for_response().await?);
        }
        match &mut self.held {
            Held::Instance(lease) => Ok(lease),
            Held::Plugin(_) => unreachable!("leased above"),
        }
    }

    /// Runs the plugin's `on-response`, then gives the instance back. A failure answers 500
    /// (the response to send instead is returned), or with `failOpen` leaves the response as
    /// it was.
    pub async fn on_response(
        mut self,
        preq: &mut PluginRequest,
        resp: &mut Response<Body>,
    ) -> Option<Response<Body>> {
        let mut presp = lend_response(resp);
        let original = if self.response_body {
            let body = std::mem::replace(resp.body_mut(), body::empty());
            match Box::pin(read_up_to(body, self.plugin().max_body_bytes())).await {
                Buffered::Whole(bytes) => {
                    presp.body = Some(bytes.clone());
                    Some(bytes)
                }
                Buffered::TooLarge(body) => {
                    *resp.body_mut() = body;
                    None
                }
            }
        } else {
            None
        };
        let result = match self.lease().await {
            Ok(lease) => lease.on_response(preq, &mut presp).await,
            Err(e) => Err(e),
        };
        self.response_done(result, presp, original, resp)
    }

    /// [`HeldLease::on_response`] on this thread, when [`HeldLease::runs_now`].
    pub fn on_response_now(
        mut self,
        preq: &mut PluginRequest,
        resp: &mut Response<Body>,
    ) -> Option<Response<Body>> {
        let result = match &mut self.held {
            Held::Instance(lease) => lease.on_response_now_in(preq, resp),
            Held::Plugin(_) => unreachable!("runs_now leases the instance"),
        };
        match result {
            Ok(Some(bytes)) => {
                *resp.body_mut() = body::full(bytes);
                None
            }
            Ok(None) => None,
            Err(e) => self.response_failed(&e),
        }
    }

    fn response_done(
        self,
        result: Result<(), wasmgate_plugin::PluginError>,
        mut presp: PluginResponse,
        original: Option<bytes::Bytes>,
        resp: &mut Response<Body>,
    ) -> Option<Response<Body>> {
        *resp.headers_mut() = std::mem::take(&mut presp.headers);
        if presp.body_replaced {
            *resp.body_mut() = body::full(presp.body.take().unwrap_or_default());
        } else if let Some(bytes) = original {
            *resp.body_mut() = body::full(bytes);
        }
        match result {
            Ok(()) => {
                *resp.status_mut() = presp.status;
                None
            }
            Err(e) => self.response_failed(&e),
        }
    }

    /// Logs a failed `on-response`; the response to send instead, unless `failOpen`.
    fn response_failed(&self, e: &wasmgate_plugin::PluginError) -> Option<Response<Body>> {
        log_failure(self.plugin().name(), "on-response", e);
        (!self.fail_open).then(|| status(StatusCode::INTERNAL_SERVER_ERROR))
    }
}

/// The response as plugins see it: its status and headers (moved out of `resp`).
fn lend_response(resp: &mut Response<Body>) -> PluginResponse {
    PluginResponse {
        status: resp.status(),
        headers: std::mem::take(resp.headers_mut()),
        ..PluginResponse::default()
    }
}

/// ``Plugin(`name`)`` in a rule: asks a route-matcher plugin. A failed call does not match
/// (and is logged); the router is then skipped, never served by mistake.
pub struct PluginMatcher {
    plugin: Arc<Plugin>,
}

impl CustomMatcher for PluginMatcher {
    fn matches(&self, req: &RequestInfo<'_>) -> bool {
        let pq = match req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.to_owned(),
        };
        let uri = Uri::builder()
            .path_and_query(pq)
            .build()
            .unwrap_or_default();
        let mut preq = PluginRequest::new(req.method.clone(), uri, req.headers.clone());
        preq.client_addr = req.client_ip.map(|ip| std::net::SocketAddr::new(ip, 0));
        match self.plugin.matches_blocking(&mut preq) {
            Ok(m) => m,
            Err(e) => {
                log_failure(self.plugin.name(), "matches", &e);
                false
            }
        }
    }
}

/// Resolves ``Plugin(`name`)`` against a loaded plugin set.
pub struct SetResolver<'a>(pub &'a PluginSet);

impl CustomResolver for SetResolver<'_> {
    fn resolve(
        &self,
        name: &str,
        args: &[String],
    ) -> Option<Result<Arc<dyn CustomMatcher>, String>> {
        if !name.eq_ignore_ascii_case("plugin") {
            return None;
        }
        let [plugin] = args else {
            return Some(Err(
                "Plugin takes one argument, the plugin's name".to_owned()
            ));
        };
        Some(match self.0.get(&matcher_pool(plugin)) {
            Some(p) => Ok(Arc::new(PluginMatcher { plugin: p.clone() }) as Arc<dyn CustomMatcher>),
            None => Err(format!("plugin `{plugin}` is not loaded")),
        })
    }
}
