//! `wasmgate plugin ...`: the plugin authoring loop. Scaffold a plugin (`new`), build it with
//! its language's tools and record its hash (`build`), copy it into a registry folder
//! (`publish`), list a registry (`list`) and check a component against its manifest and the
//! gateway's WIT (`verify`).

mod build;
mod new;
mod publish;
mod verify;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wasmgate_plugin::registry::Manifest;
use wasmgate_plugin::wit_version;

/// The `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Scaffold a plugin: plugin.toml, source, README and a test, ready to build.
    New {
        /// The plugin's name (lower case letters, digits and `-`).
        name: String,
        /// Its language.
        #[arg(long)]
        lang: Lang,
        /// Folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The world it implements.
        #[arg(long, default_value = "http-middleware")]
        world: TemplateWorld,
        /// The SDK folder of that language (default: the `sdk/<lang>` this binary was built with).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin with its language's tools, copy the component to DIR/plugin.wasm and
    /// write its sha256 into DIR/plugin.toml.
    Build {
        /// The plugin's folder (default: the current one).
        dir: Option<PathBuf>,
    },
    /// Copy DIR/plugin.wasm and DIR/plugin.toml to REG/NAME/VERSION/; never overwrites.
    Publish {
        /// The plugin's folder (default: the current one).
        dir: Option<PathBuf>,
        /// The registry folder.
        #[arg(long)]
        registry: PathBuf,
    },
    /// List the plugins of registry folders: name, versions, world, language.
    List {
        /// Registry folders (repeatable).
        #[arg(long, required = true)]
        registry: Vec<PathBuf>,
    },
    /// Check a plugin: hash against its manifest, exports against our worlds, WIT version,
    /// imports against its grants; prints what it imports and the grants it asks for.
    Verify {
        /// Registry folders to resolve NAME[@VERSION] in (repeatable).
        #[arg(long)]
        registry: Vec<PathBuf>,
        /// `NAME[@VERSION]` from a registry, or a `.wasm` file (its manifest is the
        /// plugin.toml next to it, if any).
        plugin: String,
    },
}

/// A plugin's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with `sdk/rust`.
    Rust,
    /// Go, with `sdk/go`.
    Go,
    /// JavaScript, with `sdk/js`.
    #[value(alias = "javascript")]
    Js,
}

impl Lang {
    /// The `language` value of plugin.toml.
    fn manifest_name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Go => "go",
            Lang::Js => "javascript",
        }
    }

    /// The SDK's folder name under `sdk/`.
    fn sdk_folder(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Go => "go",
            Lang::Js => "js",
        }
    }
}

/// The worlds a scaffold can implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TemplateWorld {
    /// `http-middleware`.
    HttpMiddleware,
    /// `route-matcher`.
    RouteMatcher,
}

impl TemplateWorld {
    fn as_str(self) -> &'static str {
        match self {
            TemplateWorld::HttpMiddleware => "http-middleware",
            TemplateWorld::RouteMatcher => "route-matcher",
        }
    }
}

/// Runs a `plugin` subcommand; errors are printed with their causes.
pub(crate) fn run(command: PluginCommand) -> ExitCode {
    let result = match command {
        PluginCommand::New {
            name,
            lang,
            dir,
            world,
            sdk,
        } => new::new(&name, lang, dir, world, sdk),
        PluginCommand::Build { dir } => build::build(&dir.unwrap_or_else(|| ".".into())),
        PluginCommand::Publish { dir, registry } => {
            publish::publish(&dir.unwrap_or_else(|| ".".into()), &registry)
        }
        PluginCommand::List { registry } => publish::list(&registry),
        PluginCommand::Verify { registry, plugin } => verify::verify(&registry, &plugin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository this binary was built from (holds `sdk/` and `wit/`).
fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Hex SHA-256 of some bytes.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads and parses `DIR/plugin.toml`, naming the file on error.
fn read_manifest(dir: &Path) -> Result<(Manifest, String)> {
    let path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let manifest =
        Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((manifest, text))
}

/// Checks a plugin name the way registry resolution does.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !name.starts_with(['-', '_']);
    anyhow::ensure!(
        ok,
        "`{name}`: a plugin name is lower case letters, digits, `-` and `_`, starting with a letter or digit"
    );
    Ok(())
}
