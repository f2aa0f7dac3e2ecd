//! Compilation and the on-disk cache of precompiled components, keyed by the
//! wasm's SHA-256 and the engine's compatibility hash, so a restart or a
//! reload with unchanged plugins does not compile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Hex SHA-256 of the wasm bytes.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where the artifact for `sha` lives for this engine.
fn artifact_path(engine: &Engine, dir: &Path, sha: &str) -> PathBuf {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    dir.join(format!("{sha}-{:016x}.cwasm", h.finish()))
}

/// How a component was obtained.
pub(crate) struct Compiled {
    pub component: Component,
    pub from_cache: bool,
}

/// Loads the component for `bytes` from the cache or compiles it (and
/// stores the artifact). Blocking: call it from `spawn_blocking`.
pub(crate) fn load_or_compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    sha: &str,
) -> wasmtime::Result<Compiled> {
    let Some(dir) = cache_dir else {
        return Ok(Compiled {
            component: compile(engine, bytes, sha)?,
            from_cache: false,
        });
    };
    let path = artifact_path(engine, dir, sha);
    if path.is_file() {
        let start = Instant::now();
        match deserialize_cached(engine, &path) {
            Ok(component) => {
                tracing::debug!(path = %path.display(), elapsed = ?start.elapsed(), "plugin artifact loaded from cache");
                return Ok(Compiled {
                    component,
                    from_cache: true,
                });
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable cached plugin artifact; recompiling");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let start = Instant::now();
    let artifact = engine.precompile_component(bytes)?;
    tracing::info!(sha, elapsed = ?start.elapsed(), "plugin compiled");
    if let Err(e) = store_artifact(dir, &path, &artifact) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the plugin artifact cache");
    }
    let component = deserialize_bytes(engine, &artifact)?;
    Ok(Compiled {
        component,
        from_cache: false,
    })
}

fn compile(engine: &Engine, bytes: &[u8], sha: &str) -> wasmtime::Result<Component> {
    let start = Instant::now();
    let c = Component::new(engine, bytes)?;
    tracing::info!(sha, elapsed = ?start.elapsed(), "plugin compiled");
    Ok(c)
}

/// Writes atomically: a temporary file in the same folder, then a rename.
fn store_artifact(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, artifact)?;
    std::fs::rename(&tmp, path)
}

#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `store_artifact` from the output of
    // `Engine::precompile_component` of an engine with the same
    // compatibility hash (it is part of the file name), in a cache folder
    // owned by the gateway; wasmtime additionally checks the artifact's
    // header and engine settings and rejects a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code)]
fn deserialize_bytes(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` was just produced by `precompile_component` of this
    // very engine.
    unsafe { Component::deserialize(engine, artifact) }
}
