//! Registry folders: `<registry>/<name>/<version>/{plugin.wasm,plugin.toml}`.
//! `name` resolves to the newest semver version, `name@version` to that one;
//! the manifest's SHA-256 of the wasm is verified.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::content_hash;
use crate::error::PluginError;
use crate::spec::{Grants, World};

/// A plugin's `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// The plugin's name.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// The world it implements.
    pub world: World,
    /// The version of the `wasmgate:plugin` WIT package it was built for.
    pub wit: String,
    /// One line about what it does.
    #[serde(default)]
    pub description: String,
    /// Who wrote it.
    #[serde(default)]
    pub author: Option<String>,
    /// The source language.
    #[serde(default)]
    pub language: Option<String>,
    /// The grants it needs.
    #[serde(default)]
    pub grants: Grants,
    /// Example settings.
    #[serde(default)]
    pub settings: Option<toml::Table>,
    /// Hex SHA-256 of `plugin.wasm` (required in a registry).
    #[serde(default)]
    pub sha256: Option<String>,
    /// `false` when the plugin keeps nothing in memory from a request's
    /// `on-request` to its `on-response`, so the gateway may lend an
    /// instance per call: the default of `instancePerRequest` for this plugin.
    #[serde(default)]
    pub instance_per_request: Option<bool>,
}

impl Manifest {
    /// Parses a manifest.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

/// A plugin found in a registry folder, its hash verified.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its `plugin.wasm`.
    pub wasm_path: PathBuf,
}

fn err(msg: String) -> PluginError {
    PluginError::Registry(msg)
}

/// The plugin name of a `name@latest` reference: the gateway watches that
/// plugin's registry folders and reloads when a version is published.
pub fn latest_name(reference: &str) -> Option<&str> {
    reference
        .split_once('@')
        .filter(|(_, v)| *v == "latest")
        .map(|(n, _)| n)
}

/// Resolves `name`, `name@latest` or `name@version` in the registry folders,
/// in order for an exact version, newest across all of them otherwise. Reads
/// and hashes the wasm: blocking, so call it off the async runtime.
pub fn resolve(registries: &[PathBuf], reference: &str) -> Result<Resolved, PluginError> {
    let (name, want) = match reference.split_once('@') {
        Some((n, "latest")) => (n, None),
        Some((n, v)) => {
            let v = semver::Version::parse(v)
                .map_err(|e| err(format!("`{reference}`: bad version: {e}")))?;
            (n, Some(v))
        }
        None => (reference, None),
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(err(format!("`{reference}`: bad plugin name")));
    }
    let mut best: Option<(semver::Version, PathBuf)> = None;
    for reg in registries {
        let Ok(entries) = std::fs::read_dir(reg.join(name)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(v) = entry
                .file_name()
                .to_str()
                .and_then(|s| semver::Version::parse(s).ok())
            else {
                continue;
            };
            let better = match (&want, &best) {
                (Some(w), None) => *w == v,
                (Some(_), Some(_)) => false,
                (None, None) => true,
                (None, Some((b, _))) => v > *b,
            };
            if better {
                best = Some((v, entry.path()));
            }
        }
    }
    let Some((version, dir)) = best else {
        let searched: Vec<String> = registries.iter().map(|r| r.display().to_string()).collect();
        return Err(err(format!(
            "plugin `{reference}` not found in {}",
            searched.join(", ")
        )));
    };
    verify(&dir, name, &version)
}

fn verify(dir: &Path, name: &str, version: &semver::Version) -> Result<Resolved, PluginError> {
    let toml_path = dir.join("plugin.toml");
    let wasm_path = dir.join("plugin.wasm");
    let text = std::fs::read_to_string(&toml_path).map_err(|e| PluginError::Io {
        path: toml_path.display().to_string(),
        source: e,
    })?;
    let manifest =
        Manifest::parse(&text).map_err(|e| err(format!("{}: {e}", toml_path.display())))?;
    if manifest.name != name
        || semver::Version::parse(&manifest.version).ok().as_ref() != Some(version)
    {
        return Err(err(format!(
            "{}: says {}@{}, but the folder is {name}@{version}",
            toml_path.display(),
            manifest.name,
            manifest.version
        )));
    }
    let Some(expected) = manifest.sha256.clone() else {
        return Err(err(format!(
            "{}: no sha256 of plugin.wasm",
            toml_path.display()
        )));
    };
    let bytes = std::fs::read(&wasm_path).map_err(|e| PluginError::Io {
        path: wasm_path.display().to_string(),
        source: e,
    })?;
    let actual = content_hash(&bytes);
    if !actual.eq_ignore_ascii_case(expected.trim()) {
        return Err(err(format!(
            "{}: sha256 mismatch: the manifest says {expected}, the file is {actual}; refusing it",
            wasm_path.display()
        )));
    }
    Ok(Resolved {
        manifest,
        wasm_path,
    })
}
