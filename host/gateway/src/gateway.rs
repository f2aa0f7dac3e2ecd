//! A running gateway: entrypoints bound, configuration published, providers watched.

use crate::accesslog::{self, AccessLog};
use crate::context::{EntryPointInfo, TrustedNets};
use crate::entrypoint::{EntryPoint, EntryPointSettings};
use crate::plugins::PluginHost;
use crate::provider::{DynamicSource, ReloadOutcome, Reloader, watch_providers};
use crate::runtime::{Builder, Live, RuntimeConfig};
use anyhow::{Context, bail};
use http::HeaderValue;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasmgate_config::StaticConfig;

/// Everything a gateway starts from.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The static configuration.
    pub static_cfg: StaticConfig,
    /// Where the dynamic configuration comes from.
    pub dynamic: DynamicSource,
    /// The folder relative paths are resolved against (the static file's folder).
    pub base_dir: PathBuf,
}

impl GatewayConfig {
    /// The embedded default: entrypoint `web` on 127.0.0.1:8080 routing everything to
    /// `whoami@internal`.
    pub fn embedded_default() -> anyhow::Result<Self> {
        Ok(GatewayConfig {
            static_cfg: wasmgate_config::default_static(),
            dynamic: DynamicSource::Fixed(Box::new(wasmgate_config::default_dynamic())),
            base_dir: PathBuf::from("."),
        })
    }

    /// Reads a static configuration file; relative provider paths are resolved against the
    /// file's directory.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let static_cfg = wasmgate_config::load_static(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let dynamic = dynamic_source(&static_cfg, base)?;
        Ok(GatewayConfig {
            static_cfg,
            dynamic,
            base_dir: base.to_path_buf(),
        })
    }
}

fn dynamic_source(static_cfg: &StaticConfig, base: &Path) -> anyhow::Result<DynamicSource> {
    let resolve = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let file = static_cfg.providers.file.as_ref();
    Ok(
        match (
            file.and_then(|f| f.filename.as_deref()),
            file.and_then(|f| f.directory.as_deref()),
        ) {
            (Some(_), Some(_)) => bail!("providers.file: set `filename` or `directory`, not both"),
            (Some(f), None) => DynamicSource::File(resolve(f)),
            (None, Some(d)) => DynamicSource::Directory(resolve(d)),
            (None, None) => DynamicSource::Fixed(Box::default()),
        },
    )
}

/// A running gateway.
pub struct Gateway {
    live: Arc<Live>,
    plugins: Arc<PluginHost>,
    reloader: Reloader,
    addrs: BTreeMap<String, SocketAddr>,
    stop: watch::Sender<bool>,
    entrypoints: Vec<JoinHandle<()>>,
    watcher: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Binds every entrypoint, publishes the first configuration and starts watching for
    /// changes. A broken first configuration is logged and the gateway serves nothing (404)
    /// until a valid one arrives, as Traefik does.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<Gateway> {
        let static_cfg = Arc::new(config.static_cfg);
        let access_log = match &static_cfg.access_log {
            Some(a) => Some(open_access_log(a)?),
            None => None,
        };
        let live = Live::new(RuntimeConfig::default(), access_log);
        let server_name =
            HeaderValue::from_str(&hostname()).unwrap_or(HeaderValue::from_static("wasmgate"));
        let (stop, stop_rx) = watch::channel(false);
        let mut bound = Vec::new();
        let mut addrs = BTreeMap::new();
        let mut udp_bound = Vec::new();
        for (name, ep) in &static_cfg.entry_points {
            if let Some(udp) = crate::udp::UdpEntryPoint::for_config(name, ep).await? {
                addrs.insert(name.clone(), udp.local_addr()?);
                udp_bound.push(udp);
                continue;
            }
            if ep.http.tls.is_some() {
                bail!("entrypoint `{name}`: http.tls is not supported yet");
            }
            let addr =
                parse_address(&ep.address).with_context(|| format!("entrypoint `{name}`"))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("entrypoint `{name}`: cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            let trusted = TrustedNets::parse(
                &ep.forwarded_headers.trusted_ips,
                ep.forwarded_headers.insecure,
            )
            .map_err(|e| {
                anyhow::anyhow!("entrypoint `{name}`: forwardedHeaders.trustedIPs: {e}")
            })?;
            let timeouts = &ep.transport.responding_timeouts;
            let life = &ep.transport.life_cycle;
            let settings = EntryPointSettings {
                read_timeout: timeouts.read_timeout.to_std_nonzero(),
                idle_timeout: timeouts.idle_timeout.to_std_nonzero(),
                accept_grace: life
                    .request_accept_grace_timeout
                    .to_std()
                    .unwrap_or_default(),
                grace: life.grace_time_out.to_std().unwrap_or_default(),
                max_concurrent_streams: ep.http2.max_concurrent_streams,
                proxy_protocol: match &ep.proxy_protocol {
                    Some(p) => Some(Arc::new(
                        TrustedNets::parse(&p.trusted_ips, p.insecure).map_err(|e| {
                            anyhow::anyhow!("entrypoint `{name}`: proxyProtocol.trustedIPs: {e}")
                        })?,
                    )),
                    None => None,
                },
            };
            tracing::info!(entrypoint = %name, address = %local, "listening");
            addrs.insert(name.clone(), local);
            bound.push(EntryPoint {
                info: Arc::new(EntryPointInfo {
                    name: name.clone(),
                    port: local.port(),
                    trusted,
                    server_name: server_name.clone(),
                }),
                settings,
                listener,
            });
        }
        let builder = Builder::new(&static_cfg);
        let plugins = Arc::new(
            PluginHost::new(&static_cfg, &config.base_dir)
                .map_err(|e| anyhow::anyhow!("cannot start the plugin runtime: {e}"))?,
        );
        let reloader = Reloader::new(
            builder,
            config.dynamic.clone(),
            static_cfg.clone(),
            plugins.clone(),
            live.clone(),
        );
        // Watch before the first load, so no edit between the two is missed.
        let watch_enabled = static_cfg.providers.file.as_ref().is_none_or(|f| f.watch);
        let changes = if watch_enabled {
            config.dynamic.watch().unwrap_or_else(|e| {
                tracing::error!(source = %config.dynamic.describe(), error = %e, "cannot watch configuration; reload with SIGHUP");
                None
            })
        } else {
            None
        };
        // etcd and the registry folders (for `name@latest` plugins) signal on one channel.
        let (provider_tx, provider_rx) = tokio::sync::mpsc::channel(1);
        let registry_watcher =
            crate::provider::registry_watch::watch(plugins.clone(), provider_tx.clone())
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot watch the plugin registry folders");
                    None
                });
        let etcd_changes = match &static_cfg.providers.etcd {
            Some(etcd_cfg) => {
                let etcd = crate::provider::etcd::spawn(etcd_cfg, provider_tx.clone())?;
                reloader.add_etcd(etcd.clone()).await;
                // Serve etcd's routes from the start when it answers quickly; otherwise
                // start with the other providers and add etcd's when it does.
                if !etcd.wait_synced(std::time::Duration::from_secs(2)).await {
                    tracing::warn!(
                        "etcd provider: not reachable yet; starting with the other providers"
                    );
                }
                Some(())
            }
            None => None,
        };
        drop(provider_tx);
        let provider_rx =
            (etcd_changes.is_some() || registry_watcher.is_some()).then_some(provider_rx);
        if let Err(e) = reloader.reload().await {
            tracing::error!("starting without routes until the configuration is fixed: {e}");
        }
        let mut entrypoints: Vec<_> = bound
            .into_iter()
            .map(|ep| tokio::spawn(ep.serve(live.clone(), stop_rx.clone())))
            .collect();
        entrypoints.extend(
            udp_bound
                .into_iter()
                .map(|ep| tokio::spawn(ep.serve(live.clone(), stop_rx.clone()))),
        );
        let throttle = static_cfg
            .providers
            .providers_throttle_duration
            .to_std()
            .unwrap_or_default();
        let watch_reloader = reloader.clone();
        let watcher = Some(tokio::spawn(async move {
            let _registry_watcher = registry_watcher;
            watch_providers(watch_reloader, changes, provider_rx, throttle).await
        }));
        Ok(Gateway {
            live,
            plugins,
            reloader,
            addrs,
            stop,
            entrypoints,
            watcher,
        })
    }

    /// The address an entrypoint is bound to.
    pub fn addr(&self, entrypoint: &str) -> Option<SocketAddr> {
        self.addrs.get(entrypoint).copied()
    }

    /// Every entrypoint's bound address.
    pub fn addrs(&self) -> &BTreeMap<String, SocketAddr> {
        &self.addrs
    }

    /// The generation of the configuration being served (0 before the first one).
    pub fn generation(&self) -> u64 {
        self.live.config.load().generation
    }

    /// Counters of the plugin runtime (compilations, cache loads, live instances).
    pub fn plugin_stats(&self) -> wasmgate_plugin::RuntimeStats {
        self.plugins.runtime().stats()
    }

    /// Reloads the dynamic configuration now.
    pub async fn reload(&self) -> Result<ReloadOutcome, String> {
        self.reloader.reload().await
    }

    /// Stops accepting (after each entrypoint's accept grace), lets in-flight requests finish
    /// within the grace period, and returns when every entrypoint is done.
    pub async fn shutdown(self) {
        if let Some(w) = &self.watcher {
            w.abort();
        }
        let _ = self.stop.send(true);
        for ep in self.entrypoints {
            let _ = ep.await;
        }
    }
}

fn open_access_log(cfg: &wasmgate_config::AccessLog) -> anyhow::Result<AccessLog> {
    let format = match cfg.format.as_deref() {
        None | Some("common") => accesslog::Format::Common,
        Some("json") => accesslog::Format::Json,
        Some(other) => bail!("accessLog.format: `{other}` is not `common` or `json`"),
    };
    let target = match cfg.file_path.as_deref() {
        None | Some("") => accesslog::Target::Stdout,
        Some(p) => accesslog::Target::File(PathBuf::from(p)),
    };
    AccessLog::open(format, target.clone())
        .with_context(|| format!("accessLog: cannot open {target:?}"))
}

/// Parses Traefik's entrypoint address: `host:port`, `:port`, with an optional `/tcp` or
/// `/udp` suffix.
pub fn parse_address(address: &str) -> anyhow::Result<SocketAddr> {
    let (addr, proto) = address.rsplit_once('/').unwrap_or((address, "tcp"));
    if !proto.eq_ignore_ascii_case("tcp") && !proto.eq_ignore_ascii_case("udp") {
        bail!("address `{address}`: unknown protocol `{proto}` (expected tcp or udp)");
    }
    let addr = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("address `{address}` is not host:port"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "wasmgate".to_owned())
}
