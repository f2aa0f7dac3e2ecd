//! The `wasmgate` binary: `run` on the embedded default, `run` with files, SIGTERM, `check`.

use crate::support::lb;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wasmgate_test_harness::{HttpBackend, get, http1_client};

const BIN: &str = env!("CARGO_BIN_EXE_wasmgate");

/// Starts `wasmgate run ARGS` and waits for its `ready` line; returns the URL it printed.
async fn run(args: &[&str]) -> (Child, String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let mut child = Command::new(BIN)
        .arg("run")
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn wasmgate");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = rx.recv().await {
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
    (child, url, rx)
}

/// The log lines `run`'s child wrote and nobody read yet (for a failure message).
fn drain(logs: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    let mut out = String::new();
    while let Ok(line) = logs.try_recv() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Waits for `child` to exit (15 s at most) and asserts that it exited 0; a failure shows
/// the log it wrote.
async fn assert_exits_cleanly(
    child: &mut Child,
    logs: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}\n{}", drain(logs));
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn run_without_config_serves_whoami_on_8080() {
    if std::net::TcpListener::bind("127.0.0.1:8080").is_err() {
        eprintln!("skipped: 127.0.0.1:8080 is in use on this machine");
        return;
    }
    let (mut child, url, mut logs) = run(&[]).await;
    assert_eq!(url, "http://127.0.0.1:8080");
    let (status, headers, body) = get(&http1_client(), "http://127.0.0.1:8080/hello?x=1")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("GET /hello?x=1"), "{text}");
    assert!(text.contains("RemoteAddr: 127.0.0.1:"), "{text}");
    assert!(
        text.contains("x-stamp: wasmgate"),
        "request stamped by the plugin: {text}"
    );
    let req = http::Request::get("http://127.0.0.1:8080/")
        .header("accept", "application/json")
        .body(wasmgate_test_harness::empty())
        .unwrap();
    let (_, _, body) = wasmgate_test_harness::send(&http1_client(), req)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["router"], "whoami");
    sigterm(&child);
    assert_exits_cleanly(&mut child, &mut logs).await;
}

#[tokio::test]
async fn sigterm_as_soon_as_ready_stops_cleanly() {
    // The stop signal is caught from before the gateway serves: one sent the moment it says
    // `ready` drains it and exits 0, rather than ending the process by the signal's default.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("static.yml"),
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n",
    )
    .unwrap();
    for _ in 0..5 {
        let static_path = dir.path().join("static.yml");
        let (mut child, _, mut logs) = run(&["--config", static_path.to_str().unwrap()]).await;
        sigterm(&child);
        assert_exits_cleanly(&mut child, &mut logs).await;
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let be = HttpBackend::builder("be").start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("static.yml"),
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n    transport:\n      lifeCycle:\n        graceTimeOut: 10s\nproviders:\n  file:\n    filename: dynamic.yml\n",
    )
    .unwrap();
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    let config = dir.path().join("static.yml");
    let (mut child, url, mut logs) = run(&["--config", config.to_str().unwrap()]).await;
    let slow =
        tokio::spawn(async move { get(&http1_client(), &format!("{url}/delay/1000")).await });
    wasmgate_test_harness::wait_for(|| async { be.requests() == 1 }, Duration::from_secs(5))
        .await
        .unwrap();
    sigterm(&child);
    let (status, _, _) = slow.await.unwrap().expect("in-flight request completes");
    assert_eq!(status, 200);
    assert_exits_cleanly(&mut child, &mut logs).await;
}

#[test]
fn check_reports_every_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "http:\n  routers:\n    api:\n      rule: \"Host(`a.test`) && Pathh(`/x`)\"\n      service: missing\n    web:\n      rulle: \"Host(`b.test`)\"\n      service: s\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yml:7"), "typo located: {stderr}");
    assert!(
        stderr.contains("rulle") && stderr.contains("`rule`"),
        "suggests the key: {stderr}"
    );

    let semantic = dir.path().join("semantic.yml");
    std::fs::write(
        &semantic,
        "http:\n  routers:\n    api:\n      rule: \"Host(`a.test`) && Pathh(`/x`)\"\n      service: missing\n    web:\n      rule: \"Host(`b.test`)\"\n      service: also-missing\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check")
        .arg(&semantic)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Pathh"), "bad matcher named: {stderr}");
    assert!(
        stderr.contains("missing") && stderr.contains("also-missing"),
        "every error: {stderr}"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[http.routers.r]\nrule = \"Host(`a.test`)\"\nservice = \"s\"\n[[http.services.s.loadBalancer.servers]]\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn access_log_records_requests() {
    let be = HttpBackend::builder("be").start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        dir.path().join("static.yml"),
        format!(
            "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: dynamic.yml\naccessLog:\n  filePath: \"{}\"\n  format: json\n",
            log.display()
        ),
    )
    .unwrap();
    let dynamic = format!(
        "http:\n  routers:\n    logged:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n    quiet:\n      rule: \"PathPrefix(`/quiet`)\"\n      service: s\n      observability:\n        accessLogs: false\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    let config = dir.path().join("static.yml");
    let (child, url, _logs) = run(&["--config", config.to_str().unwrap()]).await;
    let (status, _, _) = get(&http1_client(), &format!("{url}/quiet/path"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, _, _) = get(&http1_client(), &format!("{url}/logged/path"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    wasmgate_test_harness::wait_for(
        || async { std::fs::read_to_string(&log).is_ok_and(|s| s.contains("/logged/path")) },
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        !line.contains("/quiet/path"),
        "router opted out of the access log: {line}"
    );
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(v["RouterName"], "logged");
    assert_eq!(v["DownstreamStatus"], 200);
    assert_eq!(v["ServiceURL"], be.url());
    drop(child);
}

#[tokio::test]
async fn run_with_a_plugin_from_the_command_line() {
    let be = HttpBackend::builder("be").start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("static.yml"),
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  file:\n    filename: dynamic.yml\n",
    )
    .unwrap();
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      middlewares: [stamp]\n      service: s\n  middlewares:\n    stamp:\n      plugin:\n        cli-stamp:\n          requestHeaders: {{ x-cli: \"on\" }}\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    std::fs::write(dir.path().join("dynamic.yml"), dynamic).unwrap();
    let config = dir.path().join("static.yml");
    let plugin = format!("cli-stamp={}", wasmgate_guest_plugins::HEADER_STAMP);
    let (child, url, _logs) =
        run(&["--config", config.to_str().unwrap(), "--plugin", &plugin]).await;
    let v = wasmgate_test_harness::get_json(&http1_client(), &format!("{url}/"))
        .await
        .unwrap();
    assert_eq!(v["headers"]["x-cli"][0], "on");
    drop(child);
}
