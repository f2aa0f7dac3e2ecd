//! The data of one instance's store: resource table, WASI context, memory
//! limiter, and what the host imports need (plugin name, kv, allowlist).

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::log::{self, Level};
use crate::headers::{Batch, HeaderCache};
use crate::http::{RequestEntry, ResponseEntry};
use crate::kv::KvStore;
use crate::outbound::OutboundCtx;
use crate::spec::Limits;

/// What every instance of one plugin shares.
pub(crate) struct PluginShared {
    pub name: Arc<str>,
    pub limits: Limits,
    pub kv: Option<Arc<dyn KvStore>>,
    pub outbound: Option<OutboundCtx>,
    /// The runtime's count of live instances.
    pub live: Arc<std::sync::atomic::AtomicU64>,
}

/// The `T` of `Store<T>` for plugin instances.
pub(crate) struct HostState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub limiter: MemoryLimiter,
    pub shared: Arc<PluginShared>,
    /// The headers this instance set: names, and values that repeat, parsed once.
    pub header_cache: HeaderCache,
    /// Scratch space for `set-headers`.
    pub batch: Batch,
    /// The request of the call in progress, behind the guest's `request`
    /// handle. A call's request and response live here rather than in the
    /// resource table: a guest only ever borrows them for one call, so one
    /// slot each is enough, and no entry is allocated per call.
    pub request: RequestEntry,
    /// The response of the `on-response` call in progress.
    pub response: ResponseEntry,
}

impl HostState {
    pub fn new(shared: Arc<PluginShared>) -> Self {
        // No preopened directories, no environment, no arguments, no network.
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(shared.name.clone(), "stdout"))
            .stderr(LogStream::new(shared.name.clone(), "stderr"))
            .build();
        HostState {
            table: ResourceTable::new(),
            wasi,
            limiter: MemoryLimiter {
                max_memory: shared.limits.max_memory_bytes,
                exceeded: false,
                peak: 0,
            },
            shared,
            header_cache: HeaderCache::default(),
            batch: Batch::default(),
            request: RequestEntry::default(),
            response: ResponseEntry::default(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the plugin's limit and remembers that it did,
/// so the failed call is reported as a memory overrun.
pub(crate) struct MemoryLimiter {
    pub max_memory: usize,
    pub exceeded: bool,
    /// The largest size any memory of the instance grew to.
    pub peak: usize,
}

/// The error a refused memory growth traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (asked for {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    limit: usize,
    desired: usize,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.exceeded = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.max_memory,
                desired,
            }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl log::Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = &*self.shared.name;
        match level {
            Level::Trace => tracing::trace!(target: "wasmgate::plugin::guest", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "wasmgate::plugin::guest", plugin, "{message}"),
            Level::Info => tracing::info!(target: "wasmgate::plugin::guest", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "wasmgate::plugin::guest", plugin, "{message}"),
            Level::Error => tracing::error!(target: "wasmgate::plugin::guest", plugin, "{message}"),
        }
        Ok(())
    }

    fn enabled(&mut self, level: Level) -> wasmtime::Result<bool> {
        Ok(match level {
            Level::Trace => {
                tracing::enabled!(target: "wasmgate::plugin::guest", tracing::Level::TRACE)
            }
            Level::Debug => {
                tracing::enabled!(target: "wasmgate::plugin::guest", tracing::Level::DEBUG)
            }
            Level::Info => {
                tracing::enabled!(target: "wasmgate::plugin::guest", tracing::Level::INFO)
            }
            Level::Warn => {
                tracing::enabled!(target: "wasmgate::plugin::guest", tracing::Level::WARN)
            }
            Level::Error => {
                tracing::enabled!(target: "wasmgate::plugin::guest", tracing::Level::ERROR)
            }
        })
    }
}

/// Guest stdout or stderr: complete lines go to the gateway's log, tagged
/// with the plugin's name. Always ready, never blocks.
#[derive(Clone)]
pub(crate) struct LogStream {
    plugin: Arc<str>,
    stream: &'static str,
    pending: Arc<Mutex<Vec<u8>>>,
}

const MAX_LINE: usize = 8 << 10;

impl LogStream {
    fn new(plugin: Arc<str>, stream: &'static str) -> Self {
        LogStream {
            plugin,
            stream,
            pending: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let _ = pending.write_all(bytes);
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if pending.len() > MAX_LINE {
            let line = std::mem::take(&mut *pending);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let plugin = &*self.plugin;
        if self.stream == "stderr" {
            tracing::warn!(target: "wasmgate::plugin::guest", plugin, stream = "stderr", "{line}");
        } else {
            tracing::info!(target: "wasmgate::plugin::guest", plugin, stream = "stdout", "{line}");
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
