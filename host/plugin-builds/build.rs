//! Builds the guest plugins for `wasm32-wasip2` (release) and writes their
//! paths as constants, so nothing runs against stale plugins. The test
//! plugins are built only with the `test-plugins` feature.
//!
//! The guests are built by a nested cargo into `<target>/wasm-plugins`, a
//! separate target dir: the outer build holds the lock of its own one.

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
    ("tests/plugins", &["trap", "spin", "hog", "greedy-imports"]),
];

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
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
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
                "/// The source folder of `{ws}/{member}` (holds `plugin.toml` for first-party plugins).\npub const {konst}_DIR: &str = {:?};\n",
                root.join(ws).join(member).display().to_string()
            ));
        }
    }
    std::fs::write(out_dir.join("plugins.rs"), consts).expect("write plugins.rs");
}
