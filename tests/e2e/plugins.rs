//! WebAssembly plugins in the request path, built from source: what they change, what they
//! remember, how they fail, and how they reload.

use crate::support::{TestGateway, get_with, lb};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmgate_guest_plugins as guests;
use wasmgate_test_harness::{BACKEND_HEADER, HttpBackend, get, send, wait_for};

#[tokio::test]
async fn plugins_change_requests_and_responses_keep_state_and_route() {
    let main = HttpBackend::builder("main").start().await;
    let canary = HttpBackend::builder("canary").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    stamped:
      rule: "Host(`stamp.test`)"
      middlewares: [stamp]
      service: main
    limited:
      rule: "Host(`limited.test`)"
      middlewares: [limit]
      service: main
    canary:
      rule: "Host(`app.test`) && Plugin(`canary`)"
      service: canary
    stable:
      rule: "Host(`app.test`)"
      service: main
  middlewares:
    stamp:
      plugin:
        header-stamp:
          requestHeaders: {{ x-stamp: "v1" }}
          responseHeaders: {{ x-out: "v1" }}
    limit:
      plugin:
        rate-limiter:
          limit: 3
          windowMs: 60000
          keyHeader: x-api-key
  services:
{}{}
plugins:
  header-stamp:
    source: "{}"
    limits:
      maxInstances: 1
  rate-limiter:
    source: "{}"
    grants:
      kv: true
  canary:
    source: "{}"
    settings: {{ header: x-canary, value: "yes", percent: 0 }}
"#,
        lb("main", &[&main.url()]),
        lb("canary", &[&canary.url()]),
        guests::HEADER_STAMP,
        guests::RATE_LIMITER,
        guests::CANARY,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();

    for n in 1..=3 {
        let (status, h, body) = get(&client, "http://stamp.test/x").await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(h["x-out"], "v1", "response header set by the plugin");
        assert_eq!(
            h["x-plugin-count"],
            n.to_string().as_str(),
            "state kept across requests"
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["headers"]["x-stamp"][0], "v1",
            "request header set by the plugin"
        );
    }

    for i in 0..4 {
        let (status, _, _) = send(
            &client,
            get_with("http://limited.test/", &[("x-api-key", "a")]),
        )
        .await
        .unwrap();
        assert_eq!(
            status,
            if i < 3 { 200 } else { 429 },
            "request {i} of key a"
        );
    }
    let (status, _, _) = send(
        &client,
        get_with("http://limited.test/", &[("x-api-key", "b")]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "another key has its own budget");

    let (_, h, _) = send(
        &client,
        get_with("http://app.test/", &[("x-canary", "yes")]),
    )
    .await
    .unwrap();
    assert_eq!(
        h[BACKEND_HEADER], "canary",
        "the route matcher plugin picked the canary"
    );
    let (_, h, _) = get(&client, "http://app.test/").await.unwrap();
    assert_eq!(h[BACKEND_HEADER], "main");
}

/// Three concurrent GETs of `url` (a slow service, to see how many a plugin's instances serve).
async fn three_at_once(
    client: &wasmgate_test_harness::HttpClient,
    url: &str,
) -> Vec<(http::StatusCode, http::HeaderMap, bytes::Bytes)> {
    let calls = (0..3).map(|_| async move { get(client, url).await.unwrap() });
    futures_util::future::join_all(calls).await
}

#[tokio::test]
async fn a_plugin_holds_an_instance_only_while_it_needs_one() {
    // One instance each and a service that takes 400 ms: header-probe (with a response phase)
    // holds its instance until the response, so of three concurrent requests two wait past
    // the acquire timeout (100 ms) and fail; path-deny (request only) serves all three, and
    // so does header-stamp, which queues its response headers in `on-request` and has no
    // response phase; header-probe with `instancePerRequest: false` borrows the instance for
    // each call and still runs its response phase on every response; and body-rewrite, whose
    // response phase waits for the body (the asynchronous path), with the same setting
    // rewrites all three.
    let be = HttpBackend::builder("slow").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    deny:
      rule: "Host(`deny.test`)"
      middlewares: [deny]
      service: s
    held:
      rule: "Host(`held.test`)"
      middlewares: [held]
      service: s
    stamp:
      rule: "Host(`stamp.test`)"
      middlewares: [stamp]
      service: s
    per-call:
      rule: "Host(`per-call.test`)"
      middlewares: [per-call]
      service: s
    rewrite:
      rule: "Host(`rewrite.test`)"
      middlewares: [rewrite]
      service: s
  middlewares:
    deny: {{ plugin: {{ path-deny: {{ deny: ["/admin"] }} }} }}
    held: {{ plugin: {{ header-probe: {{}} }} }}
    stamp: {{ plugin: {{ header-stamp: {{ responseHeaders: {{ x-out: stamped }} }} }} }}
    per-call: {{ plugin: {{ probe-per-call: {{}} }} }}
    rewrite: {{ plugin: {{ body-rewrite: {{ from: "\"slow\"", to: "\"rewritten\"" }} }} }}
  services:
{}
plugins:
  path-deny:
    source: "{}"
    limits: {{ maxInstances: 1 }}
  header-probe:
    source: "{}"
    limits: {{ maxInstances: 1 }}
  header-stamp:
    source: "{}"
    limits: {{ maxInstances: 1 }}
  probe-per-call:
    source: "{}"
    limits: {{ maxInstances: 1 }}
    instancePerRequest: false
  body-rewrite:
    source: "{}"
    limits: {{ maxInstances: 1 }}
    body: response
    instancePerRequest: false
"#,
        lb("s", &[&be.url()]),
        guests::PATH_DENY,
        guests::HEADER_PROBE,
        guests::HEADER_STAMP,
        guests::HEADER_PROBE,
        guests::BODY_REWRITE,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    // The first response tells the gateway that path-deny has no response phase.
    for host in [
        "deny.test",
        "held.test",
        "stamp.test",
        "per-call.test",
        "rewrite.test",
    ] {
        let (status, _, _) = get(&client, &format!("http://{host}/")).await.unwrap();
        assert_eq!(status, 200, "{host}");
    }
    let (status, _, _) = get(&client, "http://deny.test/admin").await.unwrap();
    assert_eq!(status, 403, "path-deny still refuses");
    let hosts = [
        ("deny.test", 3),
        ("held.test", 1),
        ("stamp.test", 3),
        ("per-call.test", 3),
        ("rewrite.test", 3),
    ];
    for (host, want_ok) in hosts {
        let responses = three_at_once(&client, &format!("http://{host}/delay/400")).await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.0.as_u16()).collect();
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, want_ok, "{host}: {statuses:?}");
        if want_ok < 3 {
            assert!(
                statuses.iter().all(|s| *s == 200 || *s == 500),
                "{statuses:?}"
            );
        }
        // Every response got its plugin's headers: queued, or set by the response phase.
        let stamped = match host {
            "stamp.test" => Some(("x-out", Some("stamped"))),
            "per-call.test" => Some(("x-probe-queue-in-response", Some("read-only"))),
            _ => None,
        };
        if let Some((name, want)) = stamped {
            for (_, headers, _) in &responses {
                let got = headers.get(name).and_then(|v| v.to_str().ok());
                assert_eq!(got, want, "{host}: {name}");
            }
        }
        if host == "rewrite.test" {
            for (_, _, body) in &responses {
                let body = String::from_utf8_lossy(body);
                assert!(body.contains("\"backend\":\"rewritten\""), "{body}");
            }
        }
    }
}

#[tokio::test]
async fn a_plugin_replaces_a_request_body_it_was_not_given() {
    // header-probe reads no body (no `body:` setting), so its calls run on the request's own
    // parts; a body it sets still replaces the one the client sent, and content-length follows.
    let be = HttpBackend::builder("echo").start().await;
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`probe.test`)\"\n      middlewares: [probe]\n      service: s\n  middlewares:\n    probe: {{ plugin: {{ header-probe: {{}} }} }}\n  services:\n{}\nplugins:\n  header-probe:\n    source: \"{}\"\n",
        lb("s", &[&be.url()]),
        guests::HEADER_PROBE,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let post = |set: Option<&str>| {
        let mut b = http::Request::post("http://probe.test/echo");
        if let Some(v) = set {
            b = b.header("x-probe-set-body", v);
        }
        b.body(wasmgate_test_harness::full("sent by the client"))
            .unwrap()
    };
    let (status, headers, body) = send(&client, post(Some("set by the plugin")))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"set by the plugin");
    // The plugin's response phase ran on the response's own headers too.
    assert_eq!(
        headers.get("x-probe-round").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let (_, _, body) = send(&client, post(None)).await.unwrap();
    assert_eq!(
        &body[..],
        b"sent by the client",
        "untouched without the header"
    );
}

#[tokio::test]
async fn a_failing_plugin_only_fails_its_own_request() {
    let be = HttpBackend::builder("be").start().await;
    let dynamic = format!(
        r#"http:
  routers:
    trap:
      rule: "Host(`trap.test`)"
      middlewares: [trap]
      service: s
    trap-open:
      rule: "Host(`open.test`)"
      middlewares: [trap-open]
      service: s
    spin:
      rule: "Host(`spin.test`)"
      middlewares: [spin]
      service: s
    hog:
      rule: "Host(`hog.test`)"
      middlewares: [hog]
      service: s
    clean:
      rule: "Host(`clean.test`)"
      service: s
  middlewares:
    trap: {{ plugin: {{ trap: {{}} }} }}
    trap-open: {{ plugin: {{ trap-open: {{}} }} }}
    spin: {{ plugin: {{ spin: {{}} }} }}
    hog: {{ plugin: {{ hog: {{}} }} }}
  services:
{}
plugins:
  trap: {{ source: "{trap}" }}
  trap-open: {{ source: "{trap}", failurePolicy: failOpen }}
  spin: {{ source: "{spin}", limits: {{ timeout: 50ms }} }}
  hog: {{ source: "{hog}", limits: {{ memory: 16MiB }} }}
"#,
        lb("s", &[&be.url()]),
        trap = guests::TRAP,
        spin = guests::SPIN,
        hog = guests::HOG,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();

    // Other traffic keeps flowing while plugins fail.
    let stop = Arc::new(AtomicBool::new(false));
    let clean_ok = Arc::new(AtomicUsize::new(0));
    let background = {
        let (client, stop, ok) = (client.clone(), stop.clone(), clean_ok.clone());
        tokio::spawn(async move {
            let mut failures = 0;
            while !stop.load(Ordering::Relaxed) {
                match get(&client, "http://clean.test/").await {
                    Ok((s, _, _)) if s == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => failures += 1,
                }
            }
            failures
        })
    };

    let status = |url: &'static str| {
        let client = client.clone();
        async move { get(&client, url).await.unwrap().0.as_u16() }
    };
    assert_eq!(
        status("http://trap.test/trap").await,
        500,
        "trap: fail closed"
    );
    let (s, _, body) = get(&client, "http://trap.test/fine").await.unwrap();
    assert_eq!(s, 200, "a fresh instance serves the next request");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["headers"]["x-trap-plugin"][0], "ok");
    assert_eq!(
        status("http://open.test/trap").await,
        200,
        "trap: fail open continues without the plugin"
    );

    let started = Instant::now();
    assert_eq!(
        status("http://spin.test/spin").await,
        500,
        "endless loop stopped"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped by its time limit: {:?}",
        started.elapsed()
    );
    assert_eq!(status("http://spin.test/fine").await, 200);

    assert_eq!(
        status("http://hog.test/hog").await,
        500,
        "memory hog stopped"
    );
    assert_eq!(status("http://hog.test/fine").await, 200);

    stop.store(true, Ordering::Relaxed);
    assert_eq!(background.await.unwrap(), 0, "no clean request failed");
    assert!(clean_ok.load(Ordering::Relaxed) > 0);
}

#[tokio::test]
async fn ungranted_imports_are_refused_and_the_last_good_config_serves() {
    let be = HttpBackend::builder("be").start().await;
    let good = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      service: s\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::start(&good).await;
    let greedy = |grant: &str| {
        format!(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [g]\n      service: s\n  middlewares:\n    g:\n      plugin:\n        greedy: {{}}\n  services:\n{}\nplugins:\n  greedy:\n    source: \"{}\"\n{grant}",
            lb("s", &[&be.url()]),
            guests::GREEDY_IMPORTS
        )
    };
    gw.write_dynamic(&greedy(""));
    let err = gw.gateway.reload().await.expect_err("refused at load");
    assert!(err.contains("outbound-http"), "names the import: {err}");
    let (status, _, body) = get(&gw.client(), "http://a.test/").await.unwrap();
    assert_eq!(status, 200);
    assert!(
        !String::from_utf8_lossy(&body).contains("x-greedy"),
        "old config still serving"
    );

    gw.write_dynamic(&greedy(
        "    grants:\n      outboundHTTP: [\"example.invalid\"]\n",
    ));
    gw.gateway.reload().await.expect("granted: loads");
    let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/")
        .await
        .unwrap();
    assert!(
        v["headers"]["x-greedy"][0].is_string(),
        "plugin now in the path: {v}"
    );
}

/// The header-stamp component with a custom section appended: same behaviour, other bytes.
fn variant_of_header_stamp(dir: &std::path::Path, tag: u8) -> String {
    let mut bytes = std::fs::read(guests::HEADER_STAMP).unwrap();
    let payload = [b"note".as_slice(), &[tag]].concat();
    bytes.extend_from_slice(&[0, (payload.len() + 1) as u8, 4]);
    bytes.extend_from_slice(&payload);
    let path = dir.join(format!("stamp-{tag}.wasm"));
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn plugin_settings_and_wasm_reload_under_load_without_failures() {
    let be = HttpBackend::builder("be").start().await;
    let config = |version: usize, source: &str| {
        format!(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [stamp]\n      service: s\n  middlewares:\n    stamp:\n      plugin:\n        header-stamp:\n          requestHeaders: {{ x-version: \"{version}\" }}\n  services:\n{}\nplugins:\n  header-stamp:\n    source: \"{source}\"\n",
            lb("s", &[&be.url()])
        )
    };
    let gw = TestGateway::start(&config(0, guests::HEADER_STAMP)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut loops = Vec::new();
    for _ in 0..3 {
        let (client, stop, failures) = (gw.client(), stop.clone(), failures.clone());
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if !get(&client, "http://a.test/")
                    .await
                    .is_ok_and(|(s, _, _)| s == 200)
                {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let client = gw.client();
    for version in 1..=20 {
        // Every fourth change swaps the .wasm for different bytes.
        let source = if version % 4 == 0 {
            variant_of_header_stamp(gw.dir.path(), version as u8)
        } else {
            guests::HEADER_STAMP.to_owned()
        };
        gw.write_dynamic(&config(version, &source));
        let want = version.to_string();
        wait_for(
            || {
                let (client, want) = (client.clone(), want.clone());
                async move {
                    wasmgate_test_harness::get_json(&client, "http://a.test/")
                        .await
                        .is_ok_and(|v| v["headers"]["x-version"][0] == want.as_str())
                }
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|_| panic!("version {version} never served"));
    }
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during plugin reloads"
    );
}

fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A static configuration that resolves plugins from `registry`.
fn registry_static(registry: &std::path::Path) -> String {
    format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: dynamic.yml\nplugins:\n  registries: [\"{}\"]\n",
        registry.display()
    )
}

/// Publishes `wasm` as `<registry>/header-stamp/<version>/` with a manifest carrying `sha`.
fn publish(registry: &std::path::Path, version: &str, wasm: &str, sha: Option<&str>) {
    publish_with(registry, "header-stamp", version, wasm, sha, "");
}

/// [`publish`] as plugin `name`, with `extra` lines in the manifest.
fn publish_with(
    registry: &std::path::Path,
    name: &str,
    version: &str,
    wasm: &str,
    sha: Option<&str>,
    extra: &str,
) {
    let dir = registry.join(name).join(version);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(wasm, dir.join("plugin.wasm")).unwrap();
    let sha = sha.map_or_else(|| sha256_hex(&dir.join("plugin.wasm")), str::to_owned);
    std::fs::write(
        dir.join("plugin.toml"),
        format!("name = \"{name}\"\nversion = \"{version}\"\nworld = \"http-middleware\"\nwit = \"0.2.2\"\nsha256 = \"{sha}\"\n{extra}"),
    )
    .unwrap();
}

#[tokio::test]
async fn a_manifest_may_lend_instances_per_call_and_the_configuration_decides() {
    // The manifest says `instance-per-request = false`: with one instance, three concurrent
    // slow requests are all served. The configuration's `instancePerRequest: true` wins over
    // it: then one is served and two wait past the acquire timeout.
    let be = HttpBackend::builder("slow").start().await;
    let registry = tempfile::tempdir().unwrap();
    // header-probe has a response phase, so with an instance per request it holds one.
    publish_with(
        registry.path(),
        "header-probe",
        "0.1.0",
        guests::HEADER_PROBE,
        None,
        "instance-per-request = false\n",
    );
    let static_cfg = registry_static(registry.path());
    let config = |extra: &str| {
        format!(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [probe]\n      service: s\n  middlewares:\n    probe: {{ plugin: {{ header-probe: {{}} }} }}\n  services:\n{}\nplugins:\n  header-probe:\n    source: header-probe@0.1.0\n    limits: {{ maxInstances: 1 }}\n{extra}",
            lb("s", &[&be.url()])
        )
    };
    let gw = TestGateway::with_static(&static_cfg, &config("")).await;
    let client = gw.client();
    let served = || async {
        let responses = three_at_once(&client, "http://a.test/delay/400").await;
        responses.iter().filter(|r| r.0 == 200).count()
    };
    assert_eq!(served().await, 3, "the manifest lends per call");
    gw.write_dynamic(&config("    instancePerRequest: true\n"));
    gw.gateway.reload().await.expect("reloads");
    assert_eq!(served().await, 1, "the configuration keeps one per request");
}

#[tokio::test]
async fn plugins_resolve_from_registry_folders_and_hashes_are_verified() {
    let be = HttpBackend::builder("be").start().await;
    let registry = tempfile::tempdir().unwrap();
    publish(registry.path(), "0.1.0", guests::HEADER_STAMP, None);
    publish(
        registry.path(),
        "0.2.0",
        guests::HEADER_STAMP,
        Some(&"0".repeat(64)),
    );
    let static_cfg = registry_static(registry.path());
    let config = |source: &str| {
        format!(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [stamp]\n      service: s\n  middlewares:\n    stamp:\n      plugin:\n        header-stamp:\n          requestHeaders: {{ x-from: registry }}\n  services:\n{}\nplugins:\n  header-stamp:\n    source: \"{source}\"\n",
            lb("s", &[&be.url()])
        )
    };
    let gw = TestGateway::with_static(&static_cfg, &config("header-stamp@0.1.0")).await;
    let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/")
        .await
        .unwrap();
    assert_eq!(
        v["headers"]["x-from"][0], "registry",
        "name@version resolved"
    );

    // The newest version's wasm does not match its manifest: refused, old config serves.
    gw.write_dynamic(&config("header-stamp"));
    let err = gw
        .gateway
        .reload()
        .await
        .expect_err("hash mismatch refused");
    assert!(
        err.contains("sha256") || err.contains("SHA-256") || err.contains("hash"),
        "{err}"
    );
    let (status, _, _) = get(&gw.client(), "http://a.test/").await.unwrap();
    assert_eq!(status, 200);
}

/// `wasm` with a custom section appended: the same component, another hash.
fn variant_of(wasm: &str, tag: &str) -> tempfile::NamedTempFile {
    let mut bytes = std::fs::read(wasm).unwrap();
    let name = b"wasmgate-test";
    let payload = tag.as_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB sizes");
    bytes.push(0);
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

#[tokio::test]
async fn a_version_published_to_a_watched_registry_reaches_latest_at_once() {
    let be = HttpBackend::builder("be").start().await;
    let registry = tempfile::tempdir().unwrap();
    publish(registry.path(), "0.1.0", guests::HEADER_STAMP, None);
    let static_cfg = registry_static(registry.path());
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [stamp]\n      service: s\n  middlewares:\n    stamp:\n      plugin:\n        header-stamp: {{}}\n  services:\n{}\nplugins:\n  header-stamp:\n    source: \"header-stamp@latest\"\n",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::with_static(&static_cfg, &dynamic).await;
    let count = async || {
        let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/")
            .await
            .unwrap();
        v["headers"]["x-plugin-count"][0]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    // One instance serves sequential requests: its counter grows.
    let mut last = 0;
    for _ in 0..5 {
        last = count().await;
    }
    assert!(last >= 5, "state kept by version 0.1.0: {last}");

    // Publishing 0.2.0 (another hash) replaces the plugin without any config change or
    // signal: the new version's fresh instance counts from 1 again.
    let v2 = variant_of(guests::HEADER_STAMP, "0.2.0");
    publish(registry.path(), "0.2.0", v2.path().to_str().unwrap(), None);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count().await;
        if n < last {
            break;
        }
        last = n;
        assert!(
            Instant::now() < deadline,
            "0.2.0 not loaded: the counter is still {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn first_party_plugins_short_circuit_rewrite_bodies_and_call_out() {
    let be = HttpBackend::builder("be").start().await;
    let auth = HttpBackend::builder("auth-service").start().await;
    let auth_host = auth.addr().to_string();
    let dynamic = format!(
        r#"http:
  routers:
    guarded:
      rule: "Host(`app.test`)"
      middlewares: [ids, deny, rewrite]
      service: s
    small-cap:
      rule: "Host(`small.test`)"
      middlewares: [rewrite-small]
      service: s
    authed:
      rule: "Host(`auth.test`)"
      middlewares: [auth]
      service: s
    unlisted:
      rule: "Host(`unlisted.test`)"
      middlewares: [auth-unlisted]
      service: s
  middlewares:
    ids: {{ plugin: {{ request-id: {{}} }} }}
    deny:
      plugin:
        path-deny:
          deny: ["/admin", "/**/secret"]
    rewrite:
      plugin:
        body-rewrite: {{ from: "\"be\"", to: "\"rewritten\"", contentTypes: ["application/json"] }}
    rewrite-small:
      plugin:
        body-rewrite-small: {{ from: "\"be\"", to: "\"rewritten\"", contentTypes: ["application/json"] }}
    auth:
      plugin:
        token-auth: {{ authUrl: "http://{auth_host}/verify", forwardHeaders: ["x-backend"] }}
    auth-unlisted:
      plugin:
        token-auth-unlisted: {{ authUrl: "http://{auth_host}/verify", forwardHeaders: ["x-backend"] }}
  services:
{services}
plugins:
  request-id: {{ source: "{request_id}" }}
  path-deny: {{ source: "{path_deny}" }}
  body-rewrite: {{ source: "{rewrite}", body: response }}
  body-rewrite-small: {{ source: "{rewrite}", body: response, limits: {{ maxBody: 16 }} }}
  token-auth:
    source: "{token}"
    grants: {{ outboundHTTP: ["{auth_host}"] }}
  token-auth-unlisted:
    source: "{token}"
    grants: {{ outboundHTTP: ["elsewhere.test"] }}
"#,
        services = lb("s", &[&be.url()]),
        request_id = guests::REQUEST_ID,
        path_deny = guests::PATH_DENY,
        rewrite = guests::BODY_REWRITE,
        token = guests::TOKEN_AUTH,
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();

    // Short-circuit: the deny-list answers, the service never sees the request.
    for path in ["/admin", "/admin/users", "/a/b/secret"] {
        let (status, h, _) = get(&client, &format!("http://app.test{path}"))
            .await
            .unwrap();
        assert_eq!(status, 403, "{path}");
        assert!(
            h.get("x-request-id").is_some(),
            "earlier plugins still see the response"
        );
    }
    assert_eq!(be.requests(), 0);

    // Headers both ways, and the response body rewritten within the cap.
    let (status, h, body) = get(&client, "http://app.test/ok").await.unwrap();
    assert_eq!(status, 200);
    let id = h["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["backend"], "rewritten", "body rewritten by the plugin");
    assert_eq!(
        v["headers"]["x-request-id"][0],
        id.as_str(),
        "the id reached the service"
    );
    assert_eq!(h["content-length"], body.len().to_string().as_str());

    // Over the cap: the body streams past the plugin untouched.
    let v = wasmgate_test_harness::get_json(&client, "http://small.test/")
        .await
        .unwrap();
    assert_eq!(v["backend"], "be");

    // outbound-http to an allowed host: the auth service is asked, its header forwarded.
    let (status, _, _) = get(&client, "http://auth.test/").await.unwrap();
    assert_eq!(status, 401, "no token");
    let (status, _, body) = send(
        &client,
        get_with("http://auth.test/", &[("authorization", "Bearer t0k3n")]),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["headers"]["x-backend"][0], "auth-service",
        "header from the auth service"
    );
    assert_eq!(
        auth.last_request().unwrap().headers["authorization"],
        "Bearer t0k3n"
    );
    let asked = auth.requests();

    // A host off the allowlist is refused by the host: the plugin answers 503.
    let (status, _, _) = send(
        &client,
        get_with(
            "http://unlisted.test/",
            &[("authorization", "Bearer t0k3n")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 503);
    assert_eq!(
        auth.requests(),
        asked,
        "the refused call never left the gateway"
    );
}

#[tokio::test]
async fn the_static_pool_bounds_what_a_plugin_may_ask_for() {
    let be = HttpBackend::builder("be").start().await;
    let static_cfg = "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: 0s\n  file:\n    filename: dynamic.yml\nplugins:\n  pool:\n    instances: 4\n    maxMemory: 16MiB\n";
    let config = |memory: &str| {
        format!(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      middlewares: [stamp]\n      service: s\n  middlewares:\n    stamp:\n      plugin:\n        header-stamp:\n          requestHeaders: {{ x-pool: small }}\n  services:\n{}\nplugins:\n  header-stamp:\n    source: \"{}\"\n    limits:\n      memory: {memory}\n      maxInstances: 2\n",
            lb("s", &[&be.url()]),
            guests::HEADER_STAMP
        )
    };
    let gw = TestGateway::with_static(static_cfg, &config("16MiB")).await;
    let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/")
        .await
        .unwrap();
    assert_eq!(
        v["headers"]["x-pool"][0], "small",
        "served from the small pool"
    );

    // More memory than the pool's slots allow: refused, naming the limits; the old config serves.
    gw.write_dynamic(&config("32MiB"));
    let err = gw
        .gateway
        .reload()
        .await
        .expect_err("over the pool's maximum");
    assert!(
        err.contains("stamp") && err.contains("plugins.pool.maxMemory"),
        "{err}"
    );
    let v = wasmgate_test_harness::get_json(&gw.client(), "http://a.test/")
        .await
        .unwrap();
    assert_eq!(v["headers"]["x-pool"][0], "small");
}
