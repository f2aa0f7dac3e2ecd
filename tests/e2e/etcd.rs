//! The etcd provider: routers written to etcd are served by every gateway on it, survive an
//! etcd outage, and a burst of writes applies as few reloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use wasmgate::provider::etcd::EtcdClient;
use wasmgate_test_harness::{EtcdCluster, HttpBackend, HttpClient, etcdctl, get, wait_for};

use crate::support::{TestGateway, lb};

/// Static configuration: entrypoint `web`, etcd at `endpoints`, the file provider holding
/// the `backend` service, and `throttle` between reloads.
fn static_cfg(endpoints: &[String], throttle: &str) -> String {
    let list = endpoints
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\nproviders:\n  providersThrottleDuration: {throttle}\n  file:\n    filename: dynamic.yml\n  etcd:\n    endpoints: [{list}]\n"
    )
}

fn file_services(backend: &HttpBackend) -> String {
    format!("http:\n  services:\n{}", lb("backend", &[&backend.url()]))
}

/// Three gateways on `cluster` (no reload throttle) with `backend` as a file service.
async fn three_gateways(cluster: &EtcdCluster, backend: &HttpBackend) -> Vec<TestGateway> {
    let mut gateways = Vec::new();
    for _ in 0..3 {
        gateways.push(
            TestGateway::with_static(
                &static_cfg(&cluster.client_urls(), "0s"),
                &file_services(backend),
            )
            .await,
        );
    }
    gateways
}

async fn status(client: &HttpClient, url: &str) -> Option<StatusCode> {
    get(client, url).await.ok().map(|(s, _, _)| s)
}

/// Runs etcdctl, retrying for a while (a cluster that just lost its leader refuses writes
/// until it has elected another).
fn etcdctl_retry(endpoints: &str, args: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match etcdctl(endpoints, args) {
            Ok(_) => return,
            Err(e) if Instant::now() >= deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Writes router `name` on `path`, using the file provider's `backend` service.
fn put_router(endpoints: &str, name: &str, path: &str) {
    let prefix = format!("traefik/http/routers/{name}");
    etcdctl_retry(
        endpoints,
        &["put", &format!("{prefix}/service"), "backend@file"],
    );
    etcdctl_retry(
        endpoints,
        &["put", &format!("{prefix}/rule"), &format!("Path(`{path}`)")],
    );
}

#[tokio::test]
async fn three_gateways_serve_and_drop_a_router_written_to_etcd() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let gateways = three_gateways(&cluster, &backend).await;
    let clients: Vec<HttpClient> = gateways.iter().map(|g| g.client()).collect();
    put_router(&cluster.endpoints(), "api", "/api");
    for client in &clients {
        wait_for(
            || async { status(client, "http://app.test/api").await == Some(StatusCode::OK) },
            Duration::from_secs(10),
        )
        .await
        .expect("every gateway serves the router written to etcd");
    }
    cluster
        .etcdctl(&["del", "--prefix", "traefik/http/routers/api"])
        .unwrap();
    for client in &clients {
        wait_for(
            || async { status(client, "http://app.test/api").await == Some(StatusCode::NOT_FOUND) },
            Duration::from_secs(10),
        )
        .await
        .expect("every gateway drops the deleted router");
    }
}

#[tokio::test]
async fn an_etcd_outage_fails_no_request_and_misses_no_change() {
    let Some(mut cluster) = EtcdCluster::start(3).unwrap() else {
        return;
    };
    let urls = cluster.client_urls();
    let backend = HttpBackend::builder("be").start().await;
    // This gateway knows only member 0: stopping it cuts the gateway off.
    let gw =
        TestGateway::with_static(&static_cfg(&urls[..1], "0s"), &file_services(&backend)).await;
    put_router(&cluster.endpoints(), "api", "/api");
    let client = gw.client();
    wait_for(
        || async { status(&client, "http://app.test/api").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("router served");

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let requests = tokio::spawn({
        let (stop, ok, failed, client) = (stop.clone(), ok.clone(), failed.clone(), gw.client());
        async move {
            while !stop.load(Ordering::Relaxed) {
                match status(&client, "http://app.test/api").await {
                    Some(StatusCode::OK) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    cluster.stop_member(0).unwrap();
    // Changed while the gateway is cut off, through another member.
    put_router(&urls[1], "late", "/late");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        status(&client, "http://app.test/late").await,
        Some(StatusCode::NOT_FOUND),
        "the gateway cannot have seen the change yet"
    );
    cluster.start_member(0).unwrap();
    wait_for(
        || async { status(&client, "http://app.test/late").await == Some(StatusCode::OK) },
        Duration::from_secs(20),
    )
    .await
    .expect("the change made during the outage is served after reconnecting");
    stop.store(true, Ordering::Relaxed);
    requests.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during the outage"
    );
    assert!(ok.load(Ordering::Relaxed) > 100);
}

#[tokio::test]
#[allow(clippy::print_stdout)] // the reload count is a reported figure
async fn a_burst_of_500_keys_applies_as_few_reloads() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let gw = TestGateway::with_static(
        &static_cfg(&cluster.client_urls(), "200ms"),
        &file_services(&backend),
    )
    .await;
    let endpoints = cluster.endpoints();
    etcdctl(
        &endpoints,
        &[
            "put",
            "traefik/http/middlewares/stamp/headers/customResponseHeaders/x-h-start",
            "1",
        ],
    )
    .unwrap();
    etcdctl(
        &endpoints,
        &["put", "traefik/http/routers/api/middlewares/0", "stamp"],
    )
    .unwrap();
    put_router(&endpoints, "api", "/api");
    let client = gw.client();
    wait_for(
        || async {
            get(&client, "http://app.test/api")
                .await
                .is_ok_and(|(s, h, _)| s == StatusCode::OK && h.contains_key("x-h-start"))
        },
        Duration::from_secs(10),
    )
    .await
    .expect("router with middleware served");
    let before = gw.gateway.generation();

    let etcd = EtcdClient::new(&cluster.client_urls(), None, None);
    let started = Instant::now();
    let writes: Vec<_> = (0..500)
        .map(|i| {
            let etcd = etcd.clone();
            tokio::spawn(async move {
                etcd.put(
                    &format!(
                        "traefik/http/middlewares/stamp/headers/customResponseHeaders/x-h-{i}"
                    ),
                    "1",
                )
                .await
            })
        })
        .collect();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let written = started.elapsed();
    wait_for(
        || async {
            // More headers than an HTTP client accepts: read the raw response.
            let request = "GET /api HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n";
            wasmgate_test_harness::raw_http(gw.addr(), request)
                .await
                .is_ok_and(|text| {
                    let text = text.to_ascii_lowercase();
                    (0..500).all(|i| text.contains(&format!("x-h-{i}: 1\r\n")))
                })
        },
        Duration::from_secs(20),
    )
    .await
    .expect("every key of the burst is applied");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reloads = gw.gateway.generation() - before;
    println!("etcd burst: 500 keys written in {written:?}, applied in {reloads} reloads");
    assert!(reloads <= 25, "{reloads} reloads for a 500-key burst");
}

/// Not a check: prints the time from an etcd write to the router being served by three
/// gateways (`cargo test -p wasmgate --test e2e etcd::latency -- --ignored --nocapture`).
#[tokio::test]
#[ignore]
#[allow(clippy::print_stdout)]
async fn latency_from_write_to_served_on_three_gateways() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let gateways = three_gateways(&cluster, &backend).await;
    let clients: Vec<HttpClient> = gateways.iter().map(|g| g.client()).collect();
    let etcd = EtcdClient::new(&cluster.client_urls(), None, None);
    etcd.put("traefik/http/routers/r/service", "backend@file")
        .await
        .unwrap();
    let mut samples = Vec::new();
    for i in 0..100 {
        let path = format!("/p{i}");
        let url = format!("http://app.test{path}");
        let started = Instant::now();
        etcd.put("traefik/http/routers/r/rule", &format!("Path(`{path}`)"))
            .await
            .unwrap();
        for client in &clients {
            wait_for(
                || async { status(client, &url).await == Some(StatusCode::OK) },
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "etcd write to served on 3 gateways: p50 {:?}, p99 {:?}, max {:?}",
        samples[49], samples[98], samples[99]
    );
}

#[tokio::test]
async fn config_push_moves_a_file_to_etcd_and_dump_reads_it_back() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic.yml");
    std::fs::write(
        &file,
        format!(
            "http:\n  routers:\n    moved:\n      rule: Path(`/moved`)\n      service: moved\n      priority: 5\n  services:\n{}",
            lb("moved", &[&backend.url()])
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_wasmgate");
    let push = std::process::Command::new(bin)
        .args(["config", "push"])
        .arg(&file)
        .args(["--etcd", &cluster.endpoints()])
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(
        cluster
            .etcdctl(&[
                "get",
                "traefik/http/routers/moved/rule",
                "--print-value-only"
            ])
            .unwrap()
            .trim(),
        "Path(`/moved`)"
    );
    // A gateway with only the etcd provider serves what was in the file.
    let gw = TestGateway::with_static(&static_cfg(&cluster.client_urls(), "0s"), "").await;
    let client = gw.client();
    wait_for(
        || async { status(&client, "http://app.test/moved").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("the pushed configuration is served");

    let dump = std::process::Command::new(bin)
        .args(["config", "dump", "--etcd", &cluster.endpoints()])
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dumped = dir.path().join("dumped.yml");
    std::fs::write(&dumped, &dump.stdout).unwrap();
    assert_eq!(
        wasmgate_config::load_dynamic(&dumped).unwrap(),
        wasmgate_config::load_dynamic(&file).unwrap(),
        "dump reads back what push wrote"
    );

    // A broken file is refused with its location, and nothing is written.
    std::fs::write(
        &file,
        "http:\n  routers:\n    bad:\n      rule: Path(`/b`)\n      priority: high\n",
    )
    .unwrap();
    let refused = std::process::Command::new(bin)
        .args(["config", "push"])
        .arg(&file)
        .args(["--etcd", &cluster.endpoints()])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("dynamic.yml:5"), "{stderr}");
    assert!(
        cluster
            .etcdctl(&["get", "--prefix", "traefik/http/routers/bad"])
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_broken_key_is_named_and_the_last_good_configuration_keeps_serving() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let endpoints = cluster.endpoints();
    // etcd's service, used by a router of the file provider as `svc@etcd`.
    etcdctl(
        &endpoints,
        &[
            "put",
            "traefik/http/services/svc/loadBalancer/servers/0/url",
            &backend.url(),
        ],
    )
    .unwrap();
    let file = format!(
        "{}  routers:\n    fromfile:\n      rule: Path(`/fromfile`)\n      service: svc@etcd\n",
        file_services(&backend)
    );
    let gw = TestGateway::with_static(&static_cfg(&cluster.client_urls(), "0s"), &file).await;
    put_router(&endpoints, "api", "/api");
    let client = gw.client();
    wait_for(
        || async { status(&client, "http://app.test/api").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("router served");
    assert_eq!(
        status(&client, "http://app.test/fromfile").await,
        Some(StatusCode::OK)
    );

    etcdctl(
        &endpoints,
        &["put", "traefik/http/routers/api/priority", "high"],
    )
    .unwrap();
    let error = loop {
        match gw.gateway.reload().await {
            Err(e) => break e,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(
        error.contains("etcd: traefik/http/routers/api/priority"),
        "{error}"
    );
    assert_eq!(
        status(&client, "http://app.test/api").await,
        Some(StatusCode::OK),
        "the last good configuration keeps serving"
    );

    etcdctl(
        &endpoints,
        &["put", "traefik/http/routers/api/priority", "7"],
    )
    .unwrap();
    etcdctl(
        &endpoints,
        &["put", "traefik/http/routers/api/rule", "Path(`/fixed`)"],
    )
    .unwrap();
    wait_for(
        || async { status(&client, "http://app.test/fixed").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("the fixed configuration is applied");
}

#[tokio::test]
async fn a_gateway_started_while_etcd_is_down_serves_the_file_and_adds_etcd_later() {
    let Some(mut cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    put_router(&cluster.endpoints(), "api", "/api");
    cluster.stop_member(0).unwrap();
    let file = format!(
        "{}  routers:\n    local:\n      rule: Path(`/local`)\n      service: backend\n",
        file_services(&backend)
    );
    let gw = TestGateway::with_static(&static_cfg(&cluster.client_urls(), "0s"), &file).await;
    let client = gw.client();
    assert_eq!(
        status(&client, "http://app.test/local").await,
        Some(StatusCode::OK)
    );
    assert_eq!(
        status(&client, "http://app.test/api").await,
        Some(StatusCode::NOT_FOUND)
    );
    cluster.start_member(0).unwrap();
    wait_for(
        || async { status(&client, "http://app.test/api").await == Some(StatusCode::OK) },
        Duration::from_secs(20),
    )
    .await
    .expect("etcd's routers are added once it answers");
    assert_eq!(
        status(&client, "http://app.test/local").await,
        Some(StatusCode::OK)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, written to `dir`.
fn tls_files(dir: &std::path::Path) -> wasmgate_test_harness::EtcdTls {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params
        .signed_by(&key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let files = wasmgate_test_harness::EtcdTls {
        ca: dir.join("ca.pem"),
        cert: dir.join("etcd.pem"),
        key: dir.join("etcd-key.pem"),
    };
    std::fs::write(&files.ca, ca.pem()).unwrap();
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

#[tokio::test]
async fn etcd_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_files(dir.path());
    let Some(cluster) = EtcdCluster::start_tls(1, tls.clone()).unwrap() else {
        return;
    };
    let backend = HttpBackend::builder("be").start().await;
    let static_yaml = format!(
        "{}    tls:\n      ca: \"{}\"\n      cert: \"{}\"\n      key: \"{}\"\n",
        static_cfg(&cluster.client_urls(), "0s"),
        tls.ca.display(),
        tls.cert.display(),
        tls.key.display()
    );
    let gw = TestGateway::with_static(&static_yaml, &file_services(&backend)).await;
    cluster
        .etcdctl(&["put", "traefik/http/routers/api/service", "backend@file"])
        .unwrap();
    cluster
        .etcdctl(&["put", "traefik/http/routers/api/rule", "Path(`/api`)"])
        .unwrap();
    let client = gw.client();
    wait_for(
        || async { status(&client, "http://app.test/api").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("a router written to etcd over TLS is served");
}

#[tokio::test]
async fn etcd_with_a_user_name_and_password() {
    let Some(cluster) = EtcdCluster::start(1).unwrap() else {
        return;
    };
    cluster
        .etcdctl(&["user", "add", "root", "--new-user-password=rootpw"])
        .unwrap();
    cluster
        .etcdctl(&["user", "add", "gw", "--new-user-password=gwpw"])
        .unwrap();
    cluster.etcdctl(&["role", "add", "reader"]).unwrap();
    cluster
        .etcdctl(&[
            "role",
            "grant-permission",
            "reader",
            "--prefix=true",
            "read",
            "traefik/",
        ])
        .unwrap();
    cluster
        .etcdctl(&["user", "grant-role", "gw", "reader"])
        .unwrap();
    cluster.etcdctl(&["auth", "enable"]).unwrap();
    let backend = HttpBackend::builder("be").start().await;
    let static_yaml = format!(
        "{}    username: gw\n    password: gwpw\n",
        static_cfg(&cluster.client_urls(), "0s")
    );
    let gw = TestGateway::with_static(&static_yaml, &file_services(&backend)).await;
    let root = ["--user=root:rootpw", "put"];
    let put = |key: &str, value: &str| {
        let mut args = root.to_vec();
        args.extend([key, value]);
        cluster.etcdctl(&args).unwrap();
    };
    put("traefik/http/routers/api/service", "backend@file");
    put("traefik/http/routers/api/rule", "Path(`/api`)");
    let client = gw.client();
    wait_for(
        || async { status(&client, "http://app.test/api").await == Some(StatusCode::OK) },
        Duration::from_secs(10),
    )
    .await
    .expect("a gateway authenticated as a reader serves etcd's routers");
}
