//! A loaded plugin: its `InstancePre`, its pool of ready instances, and the
//! calls the gateway makes. A request leases one instance for both HTTP
//! phases (or, if the gateway is told so, one per phase); route matchers
//! and TCP filters take one per call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tracing::Instrument as _;
use wasmtime::component::{Resource, TypedFunc};
use wasmtime::{Engine, Store, Trap, WasmBacktrace};

use crate::bindings::{matcher, middleware, tcp, tcp_types, types};
use crate::error::{CallError, FailureReason, Phase, PluginError};
use crate::http::{
    Action, CALL_REP, HeaderList, PluginRequest, PluginResponse, RequestEntry, ResponseEntry,
};
use crate::pool::IdlePool;
use crate::slots::{Slot, Slots};
use crate::spec::{Grants, Limits, PluginSpec, World};
use crate::state::{HostState, PluginShared};

/// A plugin linked to the host's imports.
pub(crate) struct Linked {
    pub pre: WorldPre,
    /// None of its imports is async: its exports can be called without a fiber.
    pub sync_calls: bool,
}

pub(crate) enum WorldPre {
    Middleware(middleware::HttpMiddlewarePre<HostState>),
    Matcher(matcher::RouteMatcherPre<HostState>),
    Tcp(tcp::TcpFilterPre<HostState>),
}

type OnRequest = TypedFunc<(Resource<RequestEntry>,), (types::Action,)>;
type OnResponse = TypedFunc<(Resource<RequestEntry>, Resource<ResponseEntry>), (bool,)>;
type Matches = TypedFunc<(Resource<RequestEntry>,), (bool,)>;

/// An instance's exports: the generated bindings, and the per-request
/// exports as typed functions, which can be called with or without a fiber.
enum Bindings {
    Middleware(middleware::HttpMiddleware, OnRequest, OnResponse),
    Matcher(matcher::RouteMatcher, Matches),
    Tcp(tcp::TcpFilter),
}

struct Instance {
    store: Store<HostState>,
    bindings: Bindings,
    /// Its memory once `configure` returned.
    ready_memory: usize,
    _live: LiveInstance,
}

/// Counts an instance in the runtime's live total for as long as it exists.
struct LiveInstance(Arc<AtomicU64>);

impl LiveInstance {
    fn new(counter: &Arc<AtomicU64>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        LiveInstance(counter.clone())
    }
}

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What identifies a plugin's definition: when a reload brings the same
/// fingerprint, the loaded plugin (instances and state) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// SHA-256 of the wasm.
    pub sha256: String,
    /// Settings JSON.
    pub settings_json: String,
    /// Limits.
    pub limits: Limits,
    /// Grants.
    pub grants: Grants,
    /// World.
    pub world: World,
    /// One instance per request (else per call).
    pub instance_per_request: bool,
}

impl Fingerprint {
    /// The fingerprint of `spec` whose wasm hashes to `sha256`.
    pub(crate) fn of(spec: &PluginSpec, sha256: String) -> Self {
        Fingerprint {
            sha256,
            settings_json: spec.settings_json.clone(),
            limits: spec.limits.clone(),
            grants: spec.grants.clone(),
            world: spec.world,
            instance_per_request: spec.instance_per_request,
        }
    }
}

/// Counters of one plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginStats {
    /// Instances created (each ran `configure` once).
    pub instances_created: u64,
    /// Instances thrown away after a trap, timeout or memory overrun.
    pub instances_discarded: u64,
    /// Instances idle in the pool right now.
    pub idle: usize,
    /// Instances dropped because the pool held more than the traffic needed.
    pub instances_trimmed: u64,
    /// Instances replaced after a call because their memory had grown past
    /// three quarters of the limit (before it fails a request).
    pub instances_recycled: u64,
}

/// A TCP connection as a filter sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub client_addr: SocketAddr,
    /// TLS server name, if any.
    pub sni: Option<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
}

/// What a TCP filter decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpAction {
    /// Normal TCP routing.
    Allow,
    /// Close the connection.
    Deny,
    /// Send it to this TCP service.
    Route(String),
}

/// A loaded plugin. Cheap to share (`Arc<Plugin>`); calls on different
/// instances run in parallel without a shared lock.
pub struct Plugin {
    fingerprint: Fingerprint,
    name: String,
    loaded_from_cache: bool,
    engine: Engine,
    pre: WorldPre,
    shared: Arc<PluginShared>,
    idle: IdlePool<Box<Instance>>,
    slots: Slots,
    call_ticks: u64,
    init_ticks: u64,
    created: AtomicU64,
    discarded: AtomicU64,
    trimmed: AtomicU64,
    recycled: AtomicU64,
    /// Cleared when the guest's `on-response` says it has no response phase.
    handles_response: AtomicBool,
    /// Whether its per-request exports are called synchronously (none of its
    /// imports is async): no fiber and nothing to poll.
    sync_calls: bool,
}

pub(crate) fn ticks(d: Duration, tick: Duration) -> u64 {
    (d.as_nanos().div_ceil(tick.as_nanos().max(1)) as u64).max(1) + 1
}

/// A store for one instance of a plugin: its memory limiter, and a trap
/// once `deadline` epoch ticks have passed.
pub(crate) fn new_store(
    engine: &Engine,
    shared: Arc<PluginShared>,
    deadline: u64,
) -> Store<HostState> {
    let mut store = Store::new(engine, HostState::new(shared));
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_trap();
    store.set_epoch_deadline(deadline);
    store
}

impl Plugin {
    pub(crate) fn new(
        spec: PluginSpec,
        sha256: String,
        loaded_from_cache: bool,
        engine: Engine,
        tick: Duration,
        linked: Linked,
        shared: Arc<PluginShared>,
    ) -> Self {
        let max = spec.limits.max_instances;
        Plugin {
            call_ticks: ticks(spec.limits.call_timeout, tick),
            init_ticks: ticks(spec.limits.init_timeout, tick),
            fingerprint: Fingerprint::of(&spec, sha256),
            name: spec.name,
            loaded_from_cache,
            engine,
            pre: linked.pre,
            shared,
            idle: IdlePool::new(max),
            slots: Slots::new(max),
            created: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
            trimmed: AtomicU64::new(0),
            recycled: AtomicU64::new(0),
            handles_response: AtomicBool::new(true),
            sync_calls: linked.sync_calls,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The world it implements.
    pub fn world(&self) -> World {
        self.fingerprint.world
    }

    /// Whether a request keeps one instance for both HTTP phases (else the
    /// gateway lends one per call): [`PluginSpec::instance_per_request`].
    pub fn instance_per_request(&self) -> bool {
        self.fingerprint.instance_per_request
    }

    /// Its definition (content hash, settings, limits, grants, world).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Whether `on-response` is still to be called: false once the guest
    /// answered that it has no response phase. The gateway then gives the
    /// lease back right after `on-request`.
    pub fn handles_response(&self) -> bool {
        self.handles_response.load(Ordering::Relaxed)
    }

    /// Whether `on-request`, `on-response` and `matches` run synchronously on
    /// the calling thread (the plugin imports nothing that waits) rather
    /// than on a fiber.
    pub fn sync_calls(&self) -> bool {
        self.sync_calls
    }

    /// Whether the compiled code came from the artifact cache.
    pub fn loaded_from_cache(&self) -> bool {
        self.loaded_from_cache
    }

    /// The largest body the plugin may read or set; the gateway buffers
    /// bodies up to this size for plugins that read them.
    pub fn max_body_bytes(&self) -> usize {
        self.fingerprint.limits.max_body_bytes
    }

    /// Instance counters.
    pub fn stats(&self) -> PluginStats {
        PluginStats {
            instances_created: self.created.load(Ordering::Relaxed),
            instances_discarded: self.discarded.load(Ordering::Relaxed),
            idle: self.idle.len(),
            instances_trimmed: self.trimmed.load(Ordering::Relaxed),
            instances_recycled: self.recycled.load(Ordering::Relaxed),
        }
    }

    /// Drops the instances that stayed idle since the last trim, keeping at
    /// least one in the pool (and its state). The runtime calls this every
    /// idle timeout, so a pool grown by a burst (or by requests in flight
    /// before a plugin said it has no response phase) shrinks back to what
    /// the traffic needs. Returns how many were dropped.
    pub fn trim_idle(&self) -> usize {
        let dropped = self.idle.trim();
        self.trimmed.fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    /// Drops the idle instances, freeing their pool slots (and their
    /// in-memory state); new ones are created on demand. Returns how many
    /// were dropped.
    pub fn release_idle(&self) -> usize {
        self.idle.drain()
    }

    fn expect_world(&self, expected: World) -> Result<(), PluginError> {
        if self.world() == expected {
            Ok(())
        } else {
            Err(PluginError::WrongWorld {
                plugin: self.name.clone(),
                actual: self.world(),
                expected,
            })
        }
    }

    fn busy(&self, phase: Phase) -> PluginError {
        PluginError::Call(CallError {
            plugin: self.name.clone(),
            phase,
            reason: FailureReason::Busy,
            message: format!(
                "all {} instances busy",
                self.fingerprint.limits.max_instances
            ),
            backtrace: None,
        })
    }

    async fn slot(&self, phase: Phase) -> Result<Slot<'_>, PluginError> {
        let wait = self.fingerprint.limits.acquire_timeout;
        self.slots.take(wait).await.ok_or_else(|| self.busy(phase))
    }

    /// Starts one instance (running `configure`) and parks it in the pool.
    pub(crate) async fn prewarm(&self) -> Result<(), PluginError> {
        let instance = self.instantiate().await?;
        self.idle.give(instance);
        Ok(())
    }

    async fn take_instance(&self) -> Result<Box<Instance>, PluginError> {
        match self.idle.take() {
            Some(i) => Ok(i),
            // Boxed: the future of a first instantiation is large; kept out of line, it
            // does not grow the future of every request (less to copy per request).
            None => Box::pin(self.instantiate()).await,
        }
    }

    /// Returns an instance to the pool, unless its memory grew since it was
    /// ready to past three quarters of the limit: a guest that leaks (or a
    /// garbage collector that never gives memory back, as in JS engines)
    /// would otherwise fail a request when it reaches the limit. It is
    /// dropped instead and a fresh one is made when needed.
    fn give_back(&self, instance: Box<Instance>) {
        let peak = instance.store.data().limiter.peak;
        let limit = self.fingerprint.limits.max_memory_bytes;
        if peak > instance.ready_memory && peak > limit / 4 * 3 {
            self.recycled.fetch_add(1, Ordering::Relaxed);
            tracing::info!(plugin = %self.name, memory = peak, limit, "plugin instance replaced: its memory is near the limit");
            return;
        }
        self.idle.give(instance);
    }

    /// Boxed: the pool and the leases move a pointer, not the store and the
    /// exports.
    async fn instantiate(&self) -> Result<Box<Instance>, PluginError> {
        let span = tracing::debug_span!("plugin.instantiate", plugin = %self.name);
        async {
            let mut store = new_store(&self.engine, self.shared.clone(), self.init_ticks);
            let settings = self.fingerprint.settings_json.as_str();
            let instance = match &self.pre {
                WorldPre::Middleware(p) => p.instance_pre(),
                WorldPre::Matcher(p) => p.instance_pre(),
                WorldPre::Tcp(p) => p.instance_pre(),
            }
            .instantiate_async(&mut store)
            .await;
            let bindings = instance.and_then(|i| exports(&self.pre, &mut store, &i));
            let bindings = bindings.map_err(|e| self.failure(&store, Phase::Configure, e))?;
            let init = match &bindings {
                Bindings::Middleware(b, ..) => b.call_configure(&mut store, settings).await,
                Bindings::Matcher(b, _) => b.call_configure(&mut store, settings).await,
                Bindings::Tcp(b) => b.call_configure(&mut store, settings).await,
            };
            match init {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(PluginError::Call(CallError {
                        plugin: self.name.clone(),
                        phase: Phase::Configure,
                        reason: FailureReason::Invalid,
                        message: format!("configure refused the settings: {message}"),
                        backtrace: None,
                    }));
                }
                Err(e) => return Err(self.failure(&store, Phase::Configure, e)),
            }
            self.created.fetch_add(1, Ordering::Relaxed);
            Ok(Box::new(Instance {
                ready_memory: store.data().limiter.peak,
                store,
                bindings,
                _live: LiveInstance::new(&self.shared.live),
            }))
        }
        .instrument(span)
        .await
    }

    /// Turns a wasmtime error into a [`CallError`] with the failure class
    /// and the guest backtrace.
    fn failure(&self, store: &Store<HostState>, phase: Phase, e: wasmtime::Error) -> PluginError {
        let reason = if store.data().limiter.exceeded {
            FailureReason::Memory
        } else if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            FailureReason::Timeout
        } else {
            FailureReason::Trap
        };
        let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
        let err = CallError {
            plugin: self.name.clone(),
            phase,
            reason,
            // The root cause; the backtrace, a context of the error, is
            // carried separately.
            message: e
                .chain()
                .last()
                .map_or_else(|| e.to_string(), |c| c.to_string()),
            backtrace,
        };
        tracing::warn!(plugin = %self.name, %phase, %reason, error = %err.message, "plugin call failed; instance discarded");
        PluginError::Call(err)
    }

    fn discard(&self) {
        self.discarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Borrows an instance for one request's `on-request` and `on-response`
    /// (an HTTP middleware only). Waits up to the acquire timeout when all
    /// instances are busy.
    pub async fn lease(self: &Arc<Self>) -> Result<Lease, PluginError> {
        self.lease_for(Phase::OnRequest).await
    }

    /// [`Plugin::lease`] for `on-response` alone, when the request gave its
    /// instance back after `on-request`; a timeout names that phase.
    pub async fn lease_for_response(self: &Arc<Self>) -> Result<Lease, PluginError> {
        self.lease_for(Phase::OnResponse).await
    }

    async fn lease_for(self: &Arc<Self>, phase: Phase) -> Result<Lease, PluginError> {
        self.expect_world(World::HttpMiddleware)?;
        let slot = self.slot(phase).await?;
        let instance = self.take_instance().await?;
        // The lease gives the slot back when it is dropped.
        slot.keep();
        Ok(Lease {
            plugin: self.clone(),
            instance: Some(instance),
        })
    }

    /// [`Plugin::lease`] when it needs no waiting: a free slot and an idle
    /// instance (an HTTP middleware only). `None` means use `lease`.
    pub fn try_lease(self: &Arc<Self>) -> Option<Lease> {
        if self.world() != World::HttpMiddleware {
            return None;
        }
        let slot = self.slots.try_take()?;
        let instance = self.idle.take()?;
        slot.keep();
        Some(Lease {
            plugin: self.clone(),
            instance: Some(instance),
        })
    }

    /// Runs a route matcher. The request is read-only (the guest cannot
    /// change it); it is moved into the instance for the call and back.
    pub async fn matches(&self, req: &mut PluginRequest) -> Result<bool, PluginError> {
        self.expect_world(World::RouteMatcher)?;
        let slot = self.slot(Phase::Matches).await?;
        self.matches_with(req, slot).await
    }

    /// [`Plugin::matches`] for synchronous callers (rule matching is sync).
    ///
    /// It does not wait for an instance: when all are busy it fails with
    /// [`FailureReason::Busy`] at once. The `route-matcher` world imports no
    /// I/O (only `log`, which completes immediately), so the call never
    /// waits on anything and runs to completion on the calling thread, with
    /// the same time limit as the async path.
    pub fn matches_blocking(&self, req: &mut PluginRequest) -> Result<bool, PluginError> {
        self.expect_world(World::RouteMatcher)?;
        let slot = self
            .slots
            .try_take()
            .ok_or_else(|| self.busy(Phase::Matches))?;
        crate::block_on::block_on(self.matches_with(req, slot))
    }

    async fn matches_with(
        &self,
        req: &mut PluginRequest,
        slot: Slot<'_>,
    ) -> Result<bool, PluginError> {
        let _slot = slot;
        let span = tracing::debug_span!("plugin.call", plugin = %self.name, phase = "matches");
        async {
            let mut inst = self.take_instance().await?;
            let store = &mut inst.store;
            store.set_epoch_deadline(self.call_ticks);
            let h = lend_request(store, req, false);
            let r = match &inst.bindings {
                Bindings::Matcher(_, f) => if self.sync_calls {
                    f.call(&mut *store, (h,))
                } else {
                    f.call_async(&mut *store, (h,)).await
                }
                .map(|(m,)| m),
                _ => unreachable!("world checked"),
            };
            return_request(store, req);
            match r {
                Ok(m) => {
                    self.give_back(inst);
                    Ok(m)
                }
                Err(e) => {
                    let err = self.failure(&inst.store, Phase::Matches, e);
                    self.discard();
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Runs a TCP filter on a new connection.
    pub async fn on_connect(&self, info: &ConnectionInfo) -> Result<TcpAction, PluginError> {
        self.expect_world(World::TcpFilter)?;
        let _slot = self.slot(Phase::OnConnect).await?;
        let span = tracing::debug_span!("plugin.call", plugin = %self.name, phase = "on-connect");
        async {
            let mut inst = self.take_instance().await?;
            inst.store.set_epoch_deadline(self.call_ticks);
            let wit = tcp_types::ConnectionInfo {
                client_address: info.client_addr.to_string(),
                sni: info.sni.clone(),
                alpn: info.alpn.clone(),
            };
            let r = match &inst.bindings {
                Bindings::Tcp(b) => b.call_on_connect(&mut inst.store, &wit).await,
                _ => unreachable!("world checked"),
            };
            match r {
                Ok(a) => {
                    self.give_back(inst);
                    Ok(match a {
                        tcp_types::TcpAction::Allow => TcpAction::Allow,
                        tcp_types::TcpAction::Deny => TcpAction::Deny,
                        tcp_types::TcpAction::Route(s) => TcpAction::Route(s),
                    })
                }
                Err(e) => {
                    let err = self.failure(&inst.store, Phase::OnConnect, e);
                    self.discard();
                    Err(err)
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn call_span(plugin: &Plugin, phase: &'static str) -> tracing::Span {
    tracing::debug_span!("plugin.call", plugin = %plugin.name, phase)
}

/// Looks up an instance's exports: the generated bindings (for `configure`
/// and TCP filters) and the typed per-request functions.
fn exports(
    pre: &WorldPre,
    store: &mut Store<HostState>,
    instance: &wasmtime::component::Instance,
) -> wasmtime::Result<Bindings> {
    Ok(match pre {
        WorldPre::Middleware(_) => Bindings::Middleware(
            middleware::HttpMiddleware::new(&mut *store, instance)?,
            instance.get_typed_func(&mut *store, "on-request")?,
            instance.get_typed_func(&mut *store, "on-response")?,
        ),
        WorldPre::Matcher(_) => Bindings::Matcher(
            matcher::RouteMatcher::new(&mut *store, instance)?,
            instance.get_typed_func(&mut *store, "matches")?,
        ),
        WorldPre::Tcp(_) => Bindings::Tcp(tcp::TcpFilter::new(&mut *store, instance)?),
    })
}

/// Moves `req` into the store's request slot for one call and returns the
/// handle the guest borrows; the caller moves it back out after the call.
fn lend_request(
    store: &mut Store<HostState>,
    req: &mut PluginRequest,
    writable: bool,
) -> Resource<RequestEntry> {
    let e = &mut store.data_mut().request;
    std::mem::swap(&mut e.req, req);
    e.writable = writable;
    e.lent = true;
    Resource::new_borrow(CALL_REP)
}

/// Swaps the request lent by [`lend_request`] back out of the store.
fn return_request(store: &mut Store<HostState>, req: &mut PluginRequest) {
    let e = &mut store.data_mut().request;
    std::mem::swap(&mut e.req, req);
    e.lent = false;
}

/// Lends the method, URI and headers of `req` to the instance in place of
/// a [`PluginRequest`]: they are swapped into the store's entry.
fn lend_parts<B>(
    store: &mut Store<HostState>,
    req: &mut http::Request<B>,
    client_addr: Option<SocketAddr>,
    tls: bool,
) -> Resource<RequestEntry> {
    let e = &mut store.data_mut().request;
    std::mem::swap(&mut e.req.method, req.method_mut());
    std::mem::swap(&mut e.req.uri, req.uri_mut());
    std::mem::swap(&mut e.req.headers, req.headers_mut());
    e.req.client_addr = client_addr;
    e.req.tls = tls;
    e.writable = true;
    e.lent = true;
    Resource::new_borrow(CALL_REP)
}

/// Swaps back what [`lend_parts`] lent; returns the body the call set, if
/// it set one, and the headers it queued for the response.
fn return_parts<B>(
    store: &mut Store<HostState>,
    req: &mut http::Request<B>,
) -> (Option<Bytes>, HeaderList) {
    let e = &mut store.data_mut().request;
    std::mem::swap(&mut e.req.method, req.method_mut());
    std::mem::swap(&mut e.req.uri, req.uri_mut());
    std::mem::swap(&mut e.req.headers, req.headers_mut());
    e.lent = false;
    let body = take_set_body(&mut e.req.body, &mut e.req.body_replaced);
    (body, std::mem::take(&mut e.req.response_headers))
}

/// Empties a lent request's or response's body slot: the body the call set
/// with `set-body`, if it set one.
fn take_set_body(body: &mut Option<Bytes>, replaced: &mut bool) -> Option<Bytes> {
    let body = body.take();
    std::mem::take(replaced).then(|| body.unwrap_or_default())
}

/// What [`Lease::on_request_now_in`] leaves besides the changed request.
#[derive(Debug)]
pub struct RequestDone {
    /// What the gateway does next.
    pub action: Action,
    /// The body the plugin set with `set-body`, if it set one.
    pub body: Option<Bytes>,
    /// The headers the plugin queued for the response, in order.
    pub response_headers: HeaderList,
}

/// One instance of an HTTP middleware, borrowed for one request. Dropping
/// the lease returns a healthy instance to the pool.
pub struct Lease {
    plugin: Arc<Plugin>,
    instance: Option<Box<Instance>>,
}

impl Lease {
    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    fn gone(&self, phase: Phase) -> PluginError {
        PluginError::Call(CallError {
            plugin: self.plugin.name.clone(),
            phase,
            reason: FailureReason::Trap,
            message: "the instance was discarded after an earlier failure".into(),
            backtrace: None,
        })
    }

    /// Sets the call's time limit and lends `req` (and `resp`) to the
    /// instance: the exports to call, the store, and the request handle.
    fn lend(
        &mut self,
        phase: Phase,
        req: &mut PluginRequest,
        resp: Option<&mut PluginResponse>,
    ) -> Result<(&Bindings, &mut Store<HostState>, Resource<RequestEntry>), PluginError> {
        let (bindings, store) = self.ready(phase)?;
        let h = lend_request(store, req, phase == Phase::OnRequest);
        if let Some(resp) = resp {
            let e = &mut store.data_mut().response;
            std::mem::swap(&mut e.resp, resp);
            e.lent = true;
        }
        Ok((bindings, store, h))
    }

    /// The instance's exports and store, with the call's time limit set.
    fn ready(&mut self, phase: Phase) -> Result<(&Bindings, &mut Store<HostState>), PluginError> {
        if self.instance.is_none() {
            return Err(self.gone(phase));
        }
        let ticks = self.plugin.call_ticks;
        let inst = self.instance.as_mut().expect("checked above");
        inst.store.set_epoch_deadline(ticks);
        Ok((&inst.bindings, &mut inst.store))
    }

    /// Takes the request (and response) back after a call, even a failed
    /// one (so a fail-open policy still has them).
    fn take_back(&mut self, req: &mut PluginRequest, resp: Option<&mut PluginResponse>) {
        if let Some(inst) = self.instance.as_mut() {
            return_request(&mut inst.store, req);
            if let Some(resp) = resp {
                let e = &mut inst.store.data_mut().response;
                std::mem::swap(&mut e.resp, resp);
                e.lent = false;
            }
        }
    }

    fn request_done(
        &mut self,
        r: wasmtime::Result<(types::Action,)>,
    ) -> Result<Action, PluginError> {
        match r {
            Ok((a,)) => Action::from_guest(a).map_err(|message| {
                PluginError::Call(CallError {
                    plugin: self.plugin.name.clone(),
                    phase: Phase::OnRequest,
                    reason: FailureReason::Invalid,
                    message,
                    backtrace: None,
                })
            }),
            Err(e) => Err(self.fail(Phase::OnRequest, e)),
        }
    }

    fn response_done(&mut self, r: wasmtime::Result<(bool,)>) -> Result<(), PluginError> {
        match r {
            Ok((true,)) => Ok(()),
            Ok((false,)) => {
                self.plugin.handles_response.store(false, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(self.fail(Phase::OnResponse, e)),
        }
    }

    /// Runs `on-request`. The request is moved into the instance for the
    /// call and back, even when the call fails (so a fail-open policy still
    /// has the request). On failure the instance is discarded.
    pub async fn on_request(&mut self, req: &mut PluginRequest) -> Result<Action, PluginError> {
        if self.plugin.sync_calls {
            return self.on_request_now(req);
        }
        let span = call_span(&self.plugin, "on-request");
        let (bindings, store, h) = self.lend(Phase::OnRequest, req, None)?;
        let Bindings::Middleware(_, f, _) = bindings else {
            unreachable!("world checked")
        };
        let r = f.call_async(store, (h,)).instrument(span).await;
        self.take_back(req, None);
        self.request_done(r)
    }

    /// [`Lease::on_request`] on this thread, for a plugin whose calls are
    /// synchronous ([`Plugin::sync_calls`]): nothing to poll.
    pub fn on_request_now(&mut self, req: &mut PluginRequest) -> Result<Action, PluginError> {
        debug_assert!(self.plugin.sync_calls);
        let span = call_span(&self.plugin, "on-request");
        let (bindings, store, h) = self.lend(Phase::OnRequest, req, None)?;
        let Bindings::Middleware(_, f, _) = bindings else {
            unreachable!("world checked")
        };
        let r = span.in_scope(|| f.call(store, (h,)));
        self.take_back(req, None);
        self.request_done(r)
    }

    /// [`Lease::on_request_now`] on the request itself: its method, URI and
    /// headers are swapped into the instance for the call and back, with no
    /// [`PluginRequest`] in between (its body is not offered). Returns the
    /// action, the body the plugin set if it set one, and the headers it
    /// queued for the response.
    pub fn on_request_now_in<B>(
        &mut self,
        req: &mut http::Request<B>,
        client_addr: Option<SocketAddr>,
        tls: bool,
    ) -> Result<RequestDone, PluginError> {
        debug_assert!(self.plugin.sync_calls);
        let span = call_span(&self.plugin, "on-request");
        let (bindings, store) = self.ready(Phase::OnRequest)?;
        let h = lend_parts(store, req, client_addr, tls);
        let Bindings::Middleware(_, f, _) = bindings else {
            unreachable!("world checked")
        };
        let r = span.in_scope(|| f.call(&mut *store, (h,)));
        let (body, response_headers) = return_parts(store, req);
        Ok(RequestDone {
            action: self.request_done(r)?,
            body,
            response_headers,
        })
    }

    /// Runs `on-response`. The request is read-only in this phase; both are
    /// moved in for the call and back. The headers the request queued for the
    /// response are set on it first. When the guest answers that it has no
    /// response phase, [`Plugin::handles_response`] turns false.
    pub async fn on_response(
        &mut self,
        req: &mut PluginRequest,
        resp: &mut PluginResponse,
    ) -> Result<(), PluginError> {
        if self.plugin.sync_calls {
            return self.on_response_now(req, resp);
        }
        req.set_queued_on(&mut resp.headers);
        let span = call_span(&self.plugin, "on-response");
        let (bindings, store, hq) = self.lend(Phase::OnResponse, req, Some(resp))?;
        let Bindings::Middleware(_, _, f) = bindings else {
            unreachable!("world checked")
        };
        let hs = Resource::new_borrow(CALL_REP);
        let r = f.call_async(store, (hq, hs)).instrument(span).await;
        self.take_back(req, Some(resp));
        self.response_done(r)
    }

    /// [`Lease::on_response`] on this thread, for a plugin whose calls are
    /// synchronous ([`Plugin::sync_calls`]).
    pub fn on_response_now(
        &mut self,
        req: &mut PluginRequest,
        resp: &mut PluginResponse,
    ) -> Result<(), PluginError> {
        debug_assert!(self.plugin.sync_calls);
        req.set_queued_on(&mut resp.headers);
        let span = call_span(&self.plugin, "on-response");
        let (bindings, store, hq) = self.lend(Phase::OnResponse, req, Some(resp))?;
        let Bindings::Middleware(_, _, f) = bindings else {
            unreachable!("world checked")
        };
        let hs = Resource::new_borrow(CALL_REP);
        let r = span.in_scope(|| f.call(store, (hq, hs)));
        self.take_back(req, Some(resp));
        self.response_done(r)
    }

    /// [`Lease::on_response_now`] on the response itself: its status and
    /// headers are swapped into the instance for the call and back (its body
    /// is not offered). Returns the body the plugin set, if it set one.
    pub fn on_response_now_in<B>(
        &mut self,
        req: &mut PluginRequest,
        resp: &mut http::Response<B>,
    ) -> Result<Option<Bytes>, PluginError> {
        debug_assert!(self.plugin.sync_calls);
        req.set_queued_on(resp.headers_mut());
        let span = call_span(&self.plugin, "on-response");
        let (bindings, store) = self.ready(Phase::OnResponse)?;
        let hq = lend_request(store, req, false);
        let e = &mut store.data_mut().response;
        e.resp.status = resp.status();
        std::mem::swap(&mut e.resp.headers, resp.headers_mut());
        e.lent = true;
        let Bindings::Middleware(_, _, f) = bindings else {
            unreachable!("world checked")
        };
        let hs = Resource::new_borrow(CALL_REP);
        let r = span.in_scope(|| f.call(&mut *store, (hq, hs)));
        return_request(store, req);
        let e = &mut store.data_mut().response;
        std::mem::swap(&mut e.resp.headers, resp.headers_mut());
        e.lent = false;
        let body = take_set_body(&mut e.resp.body, &mut e.resp.body_replaced);
        // A failed call leaves the response as it was: its status too.
        if r.is_ok() {
            *resp.status_mut() = e.resp.status;
        }
        self.response_done(r)?;
        Ok(body)
    }

    fn fail(&mut self, phase: Phase, e: wasmtime::Error) -> PluginError {
        let inst = self.instance.take().expect("instance present");
        let err = self.plugin.failure(&inst.store, phase, e);
        self.plugin.discard();
        err
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // The instance first: whoever takes the slot finds it in the pool.
        if let Some(inst) = self.instance.take() {
            self.plugin.give_back(inst);
        }
        self.plugin.slots.give();
    }
}
