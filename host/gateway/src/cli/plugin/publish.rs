//! `wasmgate plugin publish` and `wasmgate plugin list`: registry folders laid out as
//! `<registry>/<name>/<version>/{plugin.wasm,plugin.toml}`.

use super::{check_name, read_manifest, sha256_hex};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use wasmgate_plugin::registry::Manifest;

/// Copies `dir`'s plugin.wasm and plugin.toml to `registry/NAME/VERSION/`.
#[allow(clippy::print_stdout)]
pub(super) fn publish(dir: &Path, registry: &Path) -> Result<()> {
    let (manifest, _) = read_manifest(dir)?;
    let toml_path = dir.join("plugin.toml");
    let wasm_path = dir.join("plugin.wasm");
    check_name(&manifest.name).with_context(|| format!("{}", toml_path.display()))?;
    let version = semver::Version::parse(&manifest.version).with_context(|| {
        format!(
            "{}: version `{}` is not semver",
            toml_path.display(),
            manifest.version
        )
    })?;
    let bytes = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "cannot read {} (run `wasmgate plugin build` first)",
            wasm_path.display()
        )
    })?;
    let actual = sha256_hex(&bytes);
    match &manifest.sha256 {
        None => bail!(
            "{}: no sha256 (run `wasmgate plugin build` first)",
            toml_path.display()
        ),
        Some(s) if !s.trim().eq_ignore_ascii_case(&actual) => bail!(
            "{}: sha256 mismatch: the manifest says {s}, {} is {actual} (rebuild with `wasmgate plugin build`)",
            toml_path.display(),
            wasm_path.display()
        ),
        Some(_) => {}
    }
    let name_dir = registry.join(&manifest.name);
    let target = name_dir.join(version.to_string());
    if target.exists() {
        bail!(
            "{}@{version} is already published ({}); published versions are never overwritten: bump `version` in {}",
            manifest.name,
            target.display(),
            toml_path.display()
        );
    }
    std::fs::create_dir_all(&name_dir)
        .with_context(|| format!("cannot create {}", name_dir.display()))?;
    // Written beside, then renamed: a reader never sees half a version. The
    // leading dot keeps resolution from taking it for a version.
    let staging = name_dir.join(format!(".{version}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let copied = std::fs::write(staging.join("plugin.wasm"), &bytes)
        .and_then(|()| std::fs::copy(&toml_path, staging.join("plugin.toml")).map(drop))
        .and_then(|()| std::fs::rename(&staging, &target));
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot publish to {}", target.display()));
    }
    println!(
        "published {}@{version} to {}",
        manifest.name,
        target.display()
    );
    Ok(())
}

/// One name in a registry: its versions, newest last, and the newest one's manifest.
struct Entry {
    name: String,
    versions: Vec<semver::Version>,
    newest: Option<Manifest>,
}

fn scan(registry: &Path) -> Result<Vec<Entry>> {
    let names = std::fs::read_dir(registry)
        .with_context(|| format!("cannot read the registry {}", registry.display()))?;
    let mut entries = Vec::new();
    for name in names.flatten() {
        let Some(n) = name.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if n.starts_with('.') || !name.path().is_dir() {
            continue;
        }
        let mut versions: Vec<(semver::Version, PathBuf)> = std::fs::read_dir(name.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|v| {
                let ver = semver::Version::parse(v.file_name().to_str()?).ok()?;
                Some((ver, v.path()))
            })
            .collect();
        if versions.is_empty() {
            continue;
        }
        versions.sort();
        let newest = versions
            .last()
            .and_then(|(_, dir)| match read_manifest(dir) {
                Ok((m, _)) => Some(m),
                Err(e) => {
                    eprintln!("warning: {e:#}");
                    None
                }
            });
        entries.push(Entry {
            name: n,
            versions: versions.into_iter().map(|(v, _)| v).collect(),
            newest,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Prints name, versions, world and language of every plugin in the registries.
#[allow(clippy::print_stdout)]
pub(super) fn list(registries: &[PathBuf]) -> Result<()> {
    for registry in registries {
        let entries = scan(registry)?;
        println!("{}:", registry.display());
        if entries.is_empty() {
            println!("  (no plugins)");
            continue;
        }
        let rows: Vec<[String; 4]> = entries
            .iter()
            .map(|e| {
                let versions: Vec<String> = e.versions.iter().map(ToString::to_string).collect();
                let (world, lang) = e.newest.as_ref().map_or(("?".into(), "?".into()), |m| {
                    (
                        m.world.to_string(),
                        m.language.clone().unwrap_or_else(|| "?".into()),
                    )
                });
                [e.name.clone(), versions.join(", "), world, lang]
            })
            .collect();
        let header = ["NAME", "VERSIONS", "WORLD", "LANGUAGE"].map(str::to_owned);
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.len());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            println!(
                "  {:w0$}  {:w1$}  {:w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
    }
    Ok(())
}
