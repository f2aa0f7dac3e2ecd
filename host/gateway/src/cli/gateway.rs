//! `wasmgate gateway start`: etcd's gateway (`etcd gateway start`), with its flags.

use crate::tcp_gateway::{Endpoint, TcpGateway, discovery};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// `wasmgate gateway ...`.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Start a TCP gateway in front of an etcd cluster: client connections are spread round
    /// robin over the endpoints, unreachable endpoints are skipped and retried later.
    Start(StartArgs),
}

/// The flags of `gateway start`, spelled as etcd spells them.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Address to accept client connections on.
    #[arg(long, default_value = "127.0.0.1:23790")]
    listen_addr: String,
    /// Comma-separated endpoints (`host:port` or URLs; the scheme is ignored).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// Domain whose DNS SRV records (`_etcd-client-ssl._tcp`, `_etcd-client._tcp`) list the
    /// endpoints; `--endpoints` is used when none is found.
    #[arg(long)]
    discovery_srv: Option<String>,
    /// Service name appended to the SRV names (`_etcd-client-NAME._tcp.DOMAIN`).
    #[arg(long)]
    discovery_srv_name: Option<String>,
    /// Use plain (`_etcd-client`) SRV endpoints too, not only `_etcd-client-ssl` ones.
    #[arg(long)]
    insecure_discovery: bool,
    /// Not supported: discovered TLS endpoints are not checked against a CA (clients verify
    /// the cluster's certificates end to end through the gateway).
    #[arg(long)]
    trusted_ca_file: Option<String>,
    /// How long an unreachable endpoint is left alone before it is dialled again (Go
    /// duration, e.g. `1m`, `500ms`).
    #[arg(long, default_value = "1m")]
    retry_delay: String,
    /// Log filter, e.g. `debug`.
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// Runs a `gateway` command.
pub(super) fn run(command: GatewayCommand) -> ExitCode {
    let GatewayCommand::Start(args) = command;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(&args.log_level))
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match super::start_runtime(&mut tokio::runtime::Builder::new_multi_thread()) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(start(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmgate gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    use anyhow::{Context, bail};
    if args.trusted_ca_file.is_some() {
        bail!("--trusted-ca-file is not supported: discovered endpoints are not checked with TLS");
    }
    let retry_delay = wasmgate_config::Duration::parse(&args.retry_delay)
        .ok()
        .and_then(|d| d.to_std_nonzero())
        .with_context(|| {
            format!(
                "--retry-delay `{}` is not a positive duration",
                args.retry_delay
            )
        })?;
    let listen: SocketAddr = tokio::net::lookup_host(&args.listen_addr)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("--listen-addr `{}` is not host:port", args.listen_addr))?;
    let mut endpoints = Vec::new();
    if let Some(domain) = &args.discovery_srv {
        let found = discovery::discover(domain, args.discovery_srv_name.as_deref()).await?;
        tracing::info!(domain, secure = ?found.secure, plain = ?found.insecure, "discovered cluster from SRV");
        endpoints.extend(found.secure);
        if args.insecure_discovery {
            endpoints.extend(found.insecure);
        } else if !found.insecure.is_empty() {
            tracing::warn!(
                domain,
                "plain `_etcd-client` endpoints are left out without --insecure-discovery"
            );
        }
    }
    if endpoints.is_empty() {
        for e in args.endpoints.iter().filter(|e| !e.trim().is_empty()) {
            endpoints.push(Endpoint::parse(e.trim()).map_err(anyhow::Error::msg)?);
        }
    }
    if endpoints.is_empty() {
        bail!("no endpoints: give --endpoints or a --discovery-srv domain with records");
    }
    for e in &endpoints {
        let same_port = e.port == listen.port();
        let same_host = e.host == listen.ip().to_string() || e.host == "localhost";
        if same_port && same_host {
            bail!(
                "endpoint `{}` is the gateway's own listen address",
                e.address()
            );
        }
    }
    let stop_signal = super::run::StopSignal::install();
    let gateway = TcpGateway::bind(listen, endpoints.clone(), retry_delay)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addresses: Vec<String> = endpoints.iter().map(Endpoint::address).collect();
    tracing::info!(address = %gateway.local_addr()?, endpoints = ?addresses, ?retry_delay, "gateway listening");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(gateway.serve(stop_rx));
    stop_signal.wait().await;
    tracing::info!("stop signal received");
    let _ = stop.send(true);
    let _ = serving.await;
    Ok(())
}
