//! `wasmgate gateway start` in front of a real three-member etcd cluster: `etcdctl` works
//! through it, keeps working with a member down, and reaches the member again once it is back.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasmgate_test_harness::{EtcdCluster, etcdctl};

const BIN: &str = env!("CARGO_BIN_EXE_wasmgate");

/// The gateway binary, running; killed on drop.
struct GatewayProcess {
    child: Child,
    addr: String,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `wasmgate gateway start` on a free port and returns once it listens.
fn start_gateway(endpoints: &str, retry_delay: &str) -> GatewayProcess {
    let mut child = Command::new(BIN)
        .args(["gateway", "start", "--listen-addr", "127.0.0.1:0"])
        .arg(format!("--endpoints={endpoints}"))
        .args(["--retry-delay", retry_delay])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wasmgate gateway");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    // Reads the log for the listen address, then keeps draining it (shown with --nocapture).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[gateway] {line}");
            if let Some(rest) = line.split("address=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway logs its listen address");
    GatewayProcess { child, addr }
}

/// The ID of the member that answered `etcdctl endpoint status` at `endpoint`.
fn member_id(endpoint: &str) -> anyhow::Result<String> {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "json"])?;
    let rest = out
        .split("\"member_id\":")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no member_id in {out}"))?;
    Ok(rest.chars().take_while(char::is_ascii_digit).collect())
}

/// Retries `f` until it succeeds (a leader election after a kill takes a moment).
fn eventually<T>(what: &str, mut f: impl FnMut() -> anyhow::Result<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                eprintln!("{what}: {e:#}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("{what}: {e:#}"),
        }
    }
}

fn put_get(gw: &str, key: &str, value: &str) -> anyhow::Result<String> {
    etcdctl(gw, &["put", key, value])?;
    Ok(etcdctl(gw, &["get", key, "--print-value-only"])?
        .trim()
        .to_owned())
}

#[test]
fn etcdctl_works_through_the_gateway_while_a_member_is_down_and_back() {
    let Some(mut cluster) = EtcdCluster::start(3).expect("etcd cluster") else {
        return;
    };
    let urls = cluster.client_urls();
    let ids: Vec<String> = urls
        .iter()
        .map(|u| member_id(u).expect("member id"))
        .collect();
    let gw = start_gateway(&cluster.endpoints(), "1s");

    assert_eq!(put_get(&gw.addr, "k", "v1").expect("put/get"), "v1");
    // One `etcdctl` run is usually one connection; a busy machine can make it reconnect, so
    // the members are collected over a few more runs than three.
    let all: BTreeSet<String> = ids.iter().cloned().collect();
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        seen.insert(member_id(&gw.addr).expect("status through the gateway"));
        if seen == all {
            break;
        }
    }
    assert_eq!(seen, all, "connections are spread over every member");

    cluster.stop_member(0).expect("stop member 0");
    assert_eq!(
        eventually("put/get with member 0 down", || put_get(
            &gw.addr, "k", "v2"
        )),
        "v2"
    );
    for i in 0..6 {
        let value = format!("down-{i}");
        assert_eq!(put_get(&gw.addr, "k", &value).expect("put/get"), value);
        let id = member_id(&gw.addr).expect("status through the gateway");
        assert_ne!(id, ids[0], "the stopped member is not reached");
    }

    cluster.start_member(0).expect("start member 0");
    assert_eq!(put_get(&gw.addr, "k", "v3").expect("put/get"), "v3");
    // After the retry delay the gateway dials member 0 again and sends connections to it.
    eventually("a connection reaches member 0 again", || {
        let id = member_id(&gw.addr)?;
        anyhow::ensure!(id == ids[0], "answered by {id}");
        Ok(())
    });
    assert_eq!(
        etcdctl(&urls[0], &["get", "k", "--print-value-only"])
            .expect("get from member 0")
            .trim(),
        "v3"
    );
}

/// One connection through the gateway: sends `ping`, expects it echoed back.
async fn echo_through(gw: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gw).await?;
    s.write_all(b"ping").await?;
    s.shutdown().await?;
    let mut back = Vec::new();
    s.read_to_end(&mut back).await?;
    anyhow::ensure!(back == b"ping", "got {back:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_skip_a_dead_endpoint_and_return_to_it_when_it_is_back() {
    use wasmgate_test_harness::TcpEchoBackend;
    let (a, b) = (TcpEchoBackend::start().await, TcpEchoBackend::start().await);
    let dead = crate::support::closed_port();
    let endpoints = format!("{},127.0.0.1:{dead},{}", a.addr(), b.addr());
    let gw = start_gateway(&endpoints, "300ms");
    for _ in 0..4 {
        echo_through(&gw.addr)
            .await
            .expect("echo through the gateway");
    }
    assert_eq!(
        (a.connections(), b.connections()),
        (2, 2),
        "the dead endpoint's turns go to the next live one"
    );

    // Something listens on the dead endpoint's port now: after the retry delay it gets
    // connections again.
    let revived = tokio::net::TcpListener::bind(("127.0.0.1", dead))
        .await
        .expect("bind the dead endpoint's port");
    let accepted = async {
        loop {
            echo_through(&gw.addr).await.ok();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        got = revived.accept() => { got.expect("a connection reaches the revived endpoint"); }
        () = accepted => unreachable!(),
        () = tokio::time::sleep(Duration::from_secs(20)) => panic!("the endpoint was not retried"),
    }
}

#[test]
fn bad_flags_are_refused_with_their_name() {
    let out = Command::new(BIN)
        .args(["gateway", "start", "--retry-delay", "soon"])
        .output()
        .expect("run wasmgate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--retry-delay `soon`"), "{err}");

    let out = Command::new(BIN)
        .args(["gateway", "start", "--endpoints", "http://127.0.0.1"])
        .output()
        .expect("run wasmgate");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("endpoint `http://127.0.0.1` has no port"),
        "{err}"
    );
}
