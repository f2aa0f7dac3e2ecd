//! The WebAssembly plugin runtime of wasmgate.
//!
//! Plugins are components written against the `wasmgate:plugin` WIT package
//! (`wit/` at the repository root): HTTP middlewares, route matchers and TCP
//! filters. This crate owns the process's one [`wasmtime::Engine`]
//! ([`PluginRuntime`]), compiles each component once per content hash
//! (artifacts cached on disk), and keeps per plugin an `InstancePre` and a
//! pool of ready instances. `configure` runs once per instance; a request
//! [`Plugin::lease`]s one instance for both its phases, so a plugin keeps
//! its in-memory state between requests.
//!
//! ```ignore
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let plugin = runtime.load(PluginSpec::new("stamp", WasmSource::Path(path), World::HttpMiddleware)).await?;
//! let mut req = PluginRequest::take_parts(&mut parts);
//! let mut lease = plugin.lease().await?;
//! match lease.on_request(&mut req).await? { Action::Continue => {}, Action::Respond { .. } => {} }
//! lease.on_response(&mut req, &mut resp).await?;
//! ```
//!
//! Limits (memory, time per call, instance count) are per plugin; a trap,
//! timeout or memory overrun fails that call only, with a [`CallError`]
//! naming plugin, phase and reason and carrying the guest backtrace; the
//! instance is thrown away and replaced on demand. Imports are checked
//! against [`Grants`] at load.

mod bindings;
mod block_on;
mod cache;
mod error;
mod grants;
mod headers;
mod http;
pub mod kv;
pub mod kv_redis;
mod outbound;
mod plugin;
mod pool;
pub mod registry;
mod runtime;
mod set;
mod slots;
mod spec;
mod state;
mod sync_io;

pub use error::{CallError, FailureReason, Phase, PluginError};
pub use grants::{wit_compatible, wit_version};
pub use http::{Action, HeaderList, PluginRequest, PluginResponse, set_header_list};
pub use plugin::{ConnectionInfo, Fingerprint, Lease, Plugin, PluginStats, RequestDone, TcpAction};
pub use runtime::{PluginRuntime, RuntimeStats};
pub use set::{PluginSet, ReloadReport};
pub use spec::{Grants, Limits, PluginSpec, RuntimeConfig, WasmSource, World, default_cache_dir};
