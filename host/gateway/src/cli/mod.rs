//! The command line: `wasmgate run`, `wasmgate check` and `wasmgate plugin ...`.

mod check;
mod config;
mod gateway;
mod plugin;
mod run;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A programmable gateway: Traefik-style routing with WebAssembly middlewares.
#[derive(Debug, Parser)]
#[command(name = "wasmgate", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway. Without --config it serves the embedded default: entrypoint `web` on
    /// 127.0.0.1:8080, every request answered by the `whoami@internal` echo service.
    Run {
        /// Static configuration file (YAML or TOML), Traefik's `traefik.yml` shape.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Log filter (overrides `log.level`), e.g. `debug` or `wasmgate=trace`.
        #[arg(long)]
        log_level: Option<String>,
        /// Declare a plugin, as `NAME=PATH` (a `.wasm` file) or `NAME=REF` (`name[@version]`
        /// from a registry folder); the dynamic configuration uses it by NAME. Repeatable.
        #[arg(long = "plugin", value_name = "NAME=SOURCE")]
        plugins: Vec<String>,
        /// Worker threads serving traffic (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Validate static and dynamic configuration files; prints every error found and exits
    /// non-zero if there is one. A static file's file provider is checked too.
    Check {
        /// Files to check (static or dynamic, detected by their top-level keys).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Move a dynamic configuration between a file and etcd (Traefik's KV layout).
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Write, build, publish, list and verify plugins.
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// A TCP gateway in front of an etcd cluster (`etcd gateway`'s flags).
    Gateway {
        #[command(subcommand)]
        command: gateway::GatewayCommand,
    },
}

/// Parses arguments and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            log_level,
            plugins,
            workers,
        } => run::run(config, log_level, &plugins, workers),
        Command::Check { files } => check::check(&files),
        Command::Plugin { command } => plugin::run(command),
        Command::Config { command } => config::run(command),
        Command::Gateway { command } => gateway::run(command),
    }
}

/// Starts the async runtime a command runs on, or says why it cannot.
fn start_runtime(
    builder: &mut tokio::runtime::Builder,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("wasmgate: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}
