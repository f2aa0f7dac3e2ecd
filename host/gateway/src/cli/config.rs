//! `wasmgate config push|dump`: move a dynamic configuration between a file and etcd.

use crate::provider::etcd::EtcdClient;
use clap::Subcommand;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use wasmgate_config::kv;

/// Where the KV tree is.
#[derive(Debug, clap::Args)]
pub struct EtcdTarget {
    /// etcd endpoints, comma-separated (`host:port` or `http://host:port`).
    #[arg(long, value_delimiter = ',', required = true)]
    etcd: Vec<String>,
    /// Prefix of every key, as `providers.etcd.rootKey`.
    #[arg(long, default_value = kv::DEFAULT_ROOT_KEY)]
    root_key: String,
    /// etcd user name.
    #[arg(long)]
    username: Option<String>,
    /// etcd password.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// PEM file of the certificate authority of etcd's certificate (enables TLS).
    #[arg(long)]
    cacert: Option<String>,
    /// PEM file of a client certificate (enables TLS).
    #[arg(long, requires = "key")]
    cert: Option<String>,
    /// PEM file of the client certificate's key.
    #[arg(long, requires = "cert")]
    key: Option<String>,
    /// Accept any certificate from etcd (enables TLS).
    #[arg(long)]
    insecure_skip_verify: bool,
}

impl EtcdTarget {
    fn client(&self) -> anyhow::Result<EtcdClient> {
        let tls = (self.cacert.is_some() || self.cert.is_some() || self.insecure_skip_verify).then(
            || wasmgate_config::EtcdTls {
                ca: self.cacert.clone(),
                cert: self.cert.clone(),
                key: self.key.clone(),
                insecure_skip_verify: self.insecure_skip_verify,
            },
        );
        let cfg = wasmgate_config::EtcdProvider {
            endpoints: self.etcd.clone(),
            root_key: self.root_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            tls,
        };
        Ok(EtcdClient::from_config(&cfg)?)
    }
}

/// `wasmgate config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a dynamic configuration file (YAML or TOML) into etcd in Traefik's KV layout.
    /// The file is validated first; nothing is written if it has errors.
    Push {
        /// The dynamic configuration file.
        file: PathBuf,
        #[command(flatten)]
        target: EtcdTarget,
        /// Also delete the keys under the root key that the file does not have.
        #[arg(long)]
        replace: bool,
    },
    /// Print the dynamic configuration stored in etcd, as YAML.
    Dump {
        #[command(flatten)]
        target: EtcdTarget,
    },
}

/// Runs a `config` subcommand.
pub fn run(command: ConfigCommand) -> ExitCode {
    let runtime = match super::start_runtime(&mut tokio::runtime::Builder::new_current_thread()) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = runtime.block_on(async move {
        match command {
            ConfigCommand::Push {
                file,
                target,
                replace,
            } => push(&file, &target, replace).await,
            ConfigCommand::Dump { target } => dump(&target).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasmgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // the command's output
async fn push(file: &std::path::Path, target: &EtcdTarget, replace: bool) -> anyhow::Result<()> {
    let pairs = kv::encode_file(file, &target.root_key).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = target.client()?;
    for (key, value) in &pairs {
        client
            .put(key, value)
            .await
            .map_err(|e| anyhow::anyhow!("writing `{key}`: {e}"))?;
    }
    let mut deleted = 0;
    if replace {
        let wanted: BTreeSet<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let existing = client.range(&kv::prefix(&target.root_key)).await?;
        for key in existing.pairs.keys() {
            if !wanted.contains(key.as_str()) {
                deleted += client
                    .delete_prefix(key)
                    .await
                    .map_err(|e| anyhow::anyhow!("deleting `{key}`: {e}"))?;
            }
        }
    }
    println!(
        "wrote {} keys under `{}/`{}",
        pairs.len(),
        target.root_key.trim_matches('/'),
        if replace {
            format!(", deleted {deleted}")
        } else {
            String::new()
        }
    );
    Ok(())
}

#[allow(clippy::print_stdout)] // the command's output
async fn dump(target: &EtcdTarget) -> anyhow::Result<()> {
    let snapshot = target
        .client()?
        .range(&kv::prefix(&target.root_key))
        .await?;
    let pairs: Vec<(String, String)> = snapshot.pairs.into_iter().collect();
    if let Err(errors) = kv::decode_unvalidated(&target.root_key, &pairs, "etcd") {
        eprintln!("wasmgate: warning: the stored configuration has errors:\n{errors}");
    }
    let yaml = kv::to_yaml(&target.root_key, &pairs).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{yaml}");
    Ok(())
}
