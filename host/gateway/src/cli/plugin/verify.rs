//! `wasmgate plugin verify`: check a component against its manifest and the gateway's WIT,
//! and show what it imports and the grants it asks for.

use super::{sha256_hex, wit_version};
use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use wasmgate_plugin::registry::{Manifest, resolve};
use wasmgate_plugin::{World, wit_compatible};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// The exports of each world of `wit/worlds.wit`.
const WORLDS: &[(World, &[&str])] = &[
    (
        World::HttpMiddleware,
        &["configure", "on-request", "on-response"],
    ),
    (World::RouteMatcher, &["configure", "matches"]),
    (World::TcpFilter, &["configure", "on-connect"]),
];

/// Checks a registry plugin (`NAME[@VERSION]`) or a `.wasm` file.
#[allow(clippy::print_stdout)]
pub(super) fn verify(registries: &[PathBuf], target: &str) -> Result<()> {
    let (wasm_path, manifest, hash_note) = locate(registries, target)?;
    let shown = wasm_path.display().to_string();
    let bytes = std::fs::read(&wasm_path).with_context(|| format!("cannot read {shown}"))?;
    let engine = wasmtime::Engine::default();
    let component = Component::new(&engine, &bytes)
        .map_err(|e| anyhow!("{shown}: not a loadable WebAssembly component: {e}"))?;
    let ty = component.component_type();
    let ours = wit_version();
    let mut problems: Vec<String> = Vec::new();

    let mut exports: Vec<String> = ty
        .exports(&engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
        .map(|(name, _)| name.to_owned())
        .collect();
    exports.sort();
    let world = WORLDS.iter().find(|(_, names)| {
        let mut names: Vec<&str> = names.to_vec();
        names.sort_unstable();
        names == exports
    });
    match (world, &manifest) {
        (None, _) => problems.push(format!(
            "{shown}: exports [{}], which match no world of wasmgate:plugin@{ours} ({})",
            exports.join(", "),
            WORLDS
                .iter()
                .map(|(w, e)| format!("{w}: {}", e.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        (Some((w, _)), Some(m)) if *w != m.world => problems.push(format!(
            "{shown}: implements {w}, but its manifest says world = \"{}\"",
            m.world
        )),
        _ => {}
    }
    if let Some(m) = &manifest
        && !wit_compatible(&m.wit)
    {
        problems.push(format!(
            "{}@{}: its manifest says wit = \"{}\", this gateway implements wasmgate:plugin@{ours}",
            m.name, m.version, m.wit
        ));
    }

    let grants = manifest
        .as_ref()
        .map(|m| m.grants.clone())
        .unwrap_or_default();
    let mut imports: Vec<(String, String)> = Vec::new();
    // The wasmgate:plugin versions the component was built against.
    let mut theirs = std::collections::BTreeSet::new();
    for (name, item) in ty.imports(&engine) {
        if matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_)) {
            continue;
        }
        if let Some(rest) = name.strip_prefix("wasmgate:plugin/") {
            let version = rest.split_once('@').map_or("", |(_, v)| v);
            theirs.insert(version);
            if !wit_compatible(version) {
                problems.push(format!(
                    "{shown}: imports {name}, built against wasmgate:plugin@{version}; this gateway implements @{ours}"
                ));
            }
        }
        let interface = name.split('@').next().unwrap_or(name);
        let note = match interface {
            "wasmgate:plugin/kv" if grants.kv => "needs the `kv` grant (asked for)".to_owned(),
            "wasmgate:plugin/kv" => {
                problems.push(format!(
                    "{shown}: imports {name}, but its manifest asks for no `kv` grant"
                ));
                "needs the `kv` grant (NOT asked for)".to_owned()
            }
            "wasmgate:plugin/outbound-http" if grants.outbound_http.is_some() => {
                "needs the `outbound-http` grant (asked for)".to_owned()
            }
            "wasmgate:plugin/outbound-http" => {
                problems.push(format!(
                    "{shown}: imports {name}, but its manifest asks for no `outbound-http` grant"
                ));
                "needs the `outbound-http` grant (NOT asked for)".to_owned()
            }
            "wasmgate:plugin/types" | "wasmgate:plugin/log" | "wasmgate:plugin/tcp-types" => {
                "always granted".to_owned()
            }
            i if i.starts_with("wasi:") => "always granted (WASI)".to_owned(),
            _ => {
                problems.push(format!(
                    "{shown}: imports {name}, which the gateway does not provide to plugins"
                ));
                "NOT provided by the gateway".to_owned()
            }
        };
        imports.push((name.to_owned(), note));
    }

    match &manifest {
        Some(m) => println!("{}@{} ({shown})", m.name, m.version),
        None => println!("{shown} (no plugin.toml next to it)"),
    }
    if let Some(lang) = manifest.as_ref().and_then(|m| m.language.as_deref()) {
        println!("  language: {lang}");
    }
    println!("  sha256:  {} ({hash_note})", sha256_hex(&bytes));
    match world {
        Some((w, e)) => println!("  world:   {w} (exports {})", e.join(", ")),
        None => println!("  world:   unknown (exports {})", exports.join(", ")),
    }
    let theirs = theirs.into_iter().collect::<Vec<_>>().join(", ");
    if theirs.is_empty() || theirs == ours {
        println!("  wit:     wasmgate:plugin@{ours}");
    } else {
        println!("  wit:     wasmgate:plugin@{theirs} (this gateway implements @{ours})");
    }
    println!("  imports:");
    let width = imports.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, note) in &imports {
        println!("    {name:width$}  {note}");
    }
    let mut asked = Vec::new();
    if grants.kv {
        asked.push("kv".to_owned());
    }
    if let Some(hosts) = &grants.outbound_http {
        asked.push(format!("outbound-http: [{}]", hosts.join(", ")));
    }
    println!(
        "  grants:  {}",
        if asked.is_empty() {
            "none (log is always granted)".to_owned()
        } else {
            asked.join("; ")
        }
    );
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        bail!("{shown}: {} problem(s)", problems.len());
    }
    println!("ok");
    Ok(())
}

/// The wasm, its manifest and how its hash was checked. Registry plugins are resolved (and
/// their hash verified) the way the gateway does it.
fn locate(
    registries: &[PathBuf],
    target: &str,
) -> Result<(PathBuf, Option<Manifest>, &'static str)> {
    let path = Path::new(target);
    if target.ends_with(".wasm") || path.is_file() {
        let toml_path = path.with_file_name("plugin.toml");
        if !toml_path.is_file() {
            return Ok((path.to_owned(), None, "no manifest to check it against"));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let (manifest, _) = super::read_manifest(dir)?;
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let actual = sha256_hex(&bytes);
        let note = match &manifest.sha256 {
            None => "plugin.toml has no sha256: not checked",
            Some(s) if s.trim().eq_ignore_ascii_case(&actual) => "matches plugin.toml",
            Some(s) => bail!(
                "{}: sha256 mismatch: {} says {s}, the file is {actual}",
                path.display(),
                toml_path.display()
            ),
        };
        return Ok((path.to_owned(), Some(manifest), note));
    }
    if registries.is_empty() {
        bail!("`{target}`: give --registry REG to resolve it, or the path of a .wasm file");
    }
    let resolved = resolve(registries, target)?;
    Ok((
        resolved.wasm_path,
        Some(resolved.manifest),
        "matches plugin.toml",
    ))
}
