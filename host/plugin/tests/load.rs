//! Loading: grants, the artifact cache, registry folders, hot reload.

mod common;

use std::path::Path;

use common::{get, header, runtime, spec};
use wasmgate_plugin::registry::{self, Manifest};
use wasmgate_plugin::{Grants, PluginError, PluginSet, WasmSource, World};

#[tokio::test]
async fn ungranted_import_is_refused_naming_it() {
    let rt = runtime(None);
    let s = spec(
        "greedy",
        wasmgate_guest_plugins::GREEDY_IMPORTS,
        World::HttpMiddleware,
    );
    let err = rt.load(s.clone()).await.err().expect("refused");
    match &err {
        PluginError::NotGranted { plugin, import, .. } => {
            assert_eq!(plugin, "greedy");
            assert!(
                import.starts_with("wasmgate:plugin/outbound-http@0.2"),
                "{import}"
            );
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("outbound-http"), "{err}");

    let mut granted = s;
    granted.grants = Grants {
        outbound_http: Some(vec!["example.invalid".into()]),
        ..Grants::default()
    };
    let plugin = rt.load(granted).await.expect("granted: loads");
    let mut req = get("/");
    plugin
        .lease()
        .await
        .unwrap()
        .on_request(&mut req)
        .await
        .unwrap();
    assert_eq!(
        header(&req, "x-greedy").as_deref(),
        Some("failed"),
        "no such host"
    );

    // kv without the grant is refused too.
    let s = spec(
        "limiter",
        wasmgate_guest_plugins::RATE_LIMITER,
        World::HttpMiddleware,
    );
    let err = rt.load(s).await.err().expect("refused");
    assert!(err.to_string().contains("wasmgate:plugin/kv"), "{err}");
}

#[tokio::test]
async fn wrong_world_is_refused() {
    let rt = runtime(None);
    let s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::RouteMatcher,
    );
    assert!(matches!(rt.load(s).await, Err(PluginError::Compile { .. })));
}

/// `wasm` with the version of every `wasmgate:plugin/...@` import replaced by `version`
/// (of the same length as ours), as if it had been built against that version.
fn built_against(wasm: &[u8], version: &str) -> Vec<u8> {
    let ours = format!("@{}", wasmgate_plugin::wit_version());
    let theirs = format!("@{version}");
    assert_eq!(ours.len(), theirs.len(), "same-length versions only");
    let mut out = wasm.to_vec();
    let prefix = b"wasmgate:plugin/";
    let mut rewritten = 0;
    let mut i = 0;
    while let Some(at) = out[i..].windows(prefix.len()).position(|w| w == prefix) {
        let start = i + at + prefix.len();
        // The interface name is short: look for the `@` in the next few bytes.
        let end = (start + 40).min(out.len());
        if let Some(v) = out[start..end]
            .windows(ours.len())
            .position(|w| w == ours.as_bytes())
        {
            out[start + v..start + v + ours.len()].copy_from_slice(theirs.as_bytes());
            rewritten += 1;
        }
        i = start;
    }
    assert!(rewritten > 0, "no wasmgate:plugin import found");
    out
}

#[tokio::test]
async fn components_of_an_older_patch_version_load_and_newer_ones_are_refused() {
    let ours = wasmgate_plugin::wit_version();
    let (minor, patch) = ours.rsplit_once('.').expect("x.y.z");
    let patch: u32 = patch.parse().unwrap();
    let rt = runtime(None);
    let wasm = std::fs::read(wasmgate_guest_plugins::PATH_DENY).unwrap();
    let load = |version: String| {
        let mut s = wasmgate_plugin::PluginSpec::new(
            "deny",
            WasmSource::Bytes(built_against(&wasm, &version).into()),
            World::HttpMiddleware,
        );
        s.settings_json = r#"{"deny": ["/admin"]}"#.into();
        let rt = rt.clone();
        async move { rt.load(s).await }
    };
    // An older patch release of the contract links with this host and works.
    if patch > 0 {
        let plugin = load(format!("{minor}.{}", patch - 1))
            .await
            .expect("older loads");
        let mut lease = plugin.lease().await.unwrap();
        let refused = lease.on_request(&mut get("/admin")).await.unwrap();
        assert!(
            matches!(refused, wasmgate_plugin::Action::Respond { status, .. } if status == 403)
        );
    }
    // A newer one may import what this host lacks: refused, naming the import.
    let newer = format!("{minor}.{}", patch + 1);
    match load(newer.clone()).await {
        Err(PluginError::WitVersion { import, .. }) => {
            assert!(import.ends_with(&format!("@{newer}")), "{import}");
        }
        Err(other) => panic!("unexpected: {other}"),
        Ok(_) => panic!("a newer contract version loaded"),
    }
}

#[tokio::test]
async fn artifact_cache_skips_compilation() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );

    let first = runtime(Some(dir.path()));
    let p = first.load(s.clone()).await.unwrap();
    assert!(!p.loaded_from_cache());
    assert_eq!(first.stats().compiled, 1);
    drop((p, first));

    // A restart: a fresh runtime with the same cache folder.
    let second = runtime(Some(dir.path()));
    let p = second.load(s.clone()).await.unwrap();
    assert!(p.loaded_from_cache());
    assert_eq!(
        (second.stats().compiled, second.stats().cache_loads),
        (0, 1)
    );
    let mut req = get("/");
    p.lease().await.unwrap().on_request(&mut req).await.unwrap();
    assert_eq!(header(&req, "x-plugin-count").as_deref(), Some("1"));

    // Different wasm: compiled.
    let other = spec("trap", wasmgate_guest_plugins::TRAP, World::HttpMiddleware);
    assert!(!second.load(other).await.unwrap().loaded_from_cache());
    assert_eq!(second.stats().compiled, 1);
}

fn publish(registry: &Path, name: &str, version: &str, wasm: &str, sha: Option<&str>) {
    let dir = registry.join(name).join(version);
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(wasm).unwrap();
    std::fs::write(dir.join("plugin.wasm"), &bytes).unwrap();
    let src = std::fs::read_to_string(
        Path::new(wasmgate_guest_plugins::HEADER_STAMP_DIR).join("plugin.toml"),
    )
    .unwrap();
    let sha = sha.map(str::to_owned).unwrap_or_else(|| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    });
    let text = src.replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\"\nsha256 = \"{sha}\""),
        1,
    );
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

#[test]
fn registry_resolves_newest_and_verifies_hash() {
    let reg = tempfile::tempdir().unwrap();
    let regs = vec![reg.path().to_path_buf()];
    let wasm = wasmgate_guest_plugins::HEADER_STAMP;
    publish(reg.path(), "header-stamp", "0.1.0", wasm, None);
    publish(reg.path(), "header-stamp", "0.10.0", wasm, None);
    publish(reg.path(), "header-stamp", "0.9.1", wasm, Some("00"));

    let newest = registry::resolve(&regs, "header-stamp").unwrap();
    assert_eq!(newest.manifest.version, "0.10.0");
    assert_eq!(newest.manifest.world, World::HttpMiddleware);
    let exact = registry::resolve(&regs, "header-stamp@0.1.0").unwrap();
    assert!(exact.wasm_path.ends_with("header-stamp/0.1.0/plugin.wasm"));
    let bad = registry::resolve(&regs, "header-stamp@0.9.1").unwrap_err();
    assert!(bad.to_string().contains("sha256 mismatch"), "{bad}");
    assert!(registry::resolve(&regs, "header-stamp@2.0.0").is_err());
    assert!(
        registry::resolve(&regs, "nope")
            .unwrap_err()
            .to_string()
            .contains("not found")
    );
}

#[test]
fn first_party_manifests_parse() {
    for dir in [
        wasmgate_guest_plugins::HEADER_STAMP_DIR,
        wasmgate_guest_plugins::RATE_LIMITER_DIR,
        wasmgate_guest_plugins::CANARY_DIR,
    ] {
        let text = std::fs::read_to_string(Path::new(dir).join("plugin.toml")).unwrap();
        let m = Manifest::parse(&text).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(m.wit, wasmgate_plugin::wit_version());
        assert!(dir.ends_with(&m.name));
    }
}

#[tokio::test]
async fn plugin_set_reload_keeps_unchanged_plugins() {
    let rt = runtime(None);
    let stamp = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    let mut other = spec(
        "other",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    let trap = spec("trap", wasmgate_guest_plugins::TRAP, World::HttpMiddleware);

    let (set, report) = PluginSet::new()
        .reload(&rt, vec![stamp.clone(), other.clone(), trap])
        .await
        .unwrap();
    assert_eq!(report.loaded, ["other", "stamp", "trap"]);
    for name in ["stamp", "other"] {
        let mut req = get("/");
        set.get(name)
            .unwrap()
            .lease()
            .await
            .unwrap()
            .on_request(&mut req)
            .await
            .unwrap();
        assert_eq!(header(&req, "x-plugin-count").as_deref(), Some("1"));
    }

    // Reload: `stamp` unchanged, `other` gets new settings, `trap` removed,
    // `fresh` added.
    other.settings_json = r#"{"requestHeaders":{"x-v":"2"}}"#.into();
    let fresh = spec("fresh", wasmgate_guest_plugins::SPIN, World::HttpMiddleware);
    let (next, report) = set
        .reload(&rt, vec![stamp.clone(), other, fresh])
        .await
        .unwrap();
    assert_eq!(report.kept, ["stamp"]);
    assert_eq!(report.loaded, ["fresh", "other"]);
    assert_eq!(report.removed, ["trap"]);
    assert!(std::sync::Arc::ptr_eq(
        set.get("stamp").unwrap(),
        next.get("stamp").unwrap()
    ));

    let mut req = get("/");
    next.get("stamp")
        .unwrap()
        .lease()
        .await
        .unwrap()
        .on_request(&mut req)
        .await
        .unwrap();
    assert_eq!(
        header(&req, "x-plugin-count").as_deref(),
        Some("2"),
        "state survived the reload"
    );
    let mut req = get("/");
    next.get("other")
        .unwrap()
        .lease()
        .await
        .unwrap()
        .on_request(&mut req)
        .await
        .unwrap();
    assert_eq!(
        header(&req, "x-plugin-count").as_deref(),
        Some("1"),
        "changed plugin restarted"
    );
    assert_eq!(header(&req, "x-v").as_deref(), Some("2"));

    // A broken reload fails as a whole; the current set keeps serving.
    let broken = wasmgate_plugin::PluginSpec::new(
        "bad",
        WasmSource::Bytes(bytes::Bytes::from_static(b"nope")),
        World::HttpMiddleware,
    );
    assert!(next.reload(&rt, vec![stamp, broken]).await.is_err());
    assert_eq!(next.len(), 3);
}
