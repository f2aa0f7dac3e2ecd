//! Load balancing, weighted services and mirroring.

use crate::support::{TestGateway, closed_port, lb};
use std::time::Duration;
use wasmgate_test_harness::{BACKEND_HEADER, HttpBackend, get, send, wait_for};

#[tokio::test]
async fn weighted_round_robin_is_three_to_one() {
    let a = HttpBackend::builder("a").start().await;
    let b = HttpBackend::builder("b").start().await;
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: s\n  services:\n    s:\n      loadBalancer:\n        servers:\n          - url: \"{}\"\n            weight: 3\n          - url: \"{}\"\n            weight: 1\n",
        a.url(),
        b.url()
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    for _ in 0..400 {
        let (status, _, _) = get(&client, "http://app.test/").await.unwrap();
        assert_eq!(status, 200);
    }
    let (na, nb) = (a.requests() as i64, b.requests() as i64);
    assert_eq!(na + nb, 400);
    assert!(
        (na - 300).abs() <= 12 && (nb - 100).abs() <= 12,
        "a={na} b={nb}"
    );
}

#[tokio::test]
async fn weighted_service_of_services() {
    let a = HttpBackend::builder("a").start().await;
    let b = HttpBackend::builder("b").start().await;
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: canary\n  services:\n    canary:\n      weighted:\n        services:\n          - name: stable\n            weight: 9\n          - name: next@file\n            weight: 1\n{}{}",
        lb("stable", &[&a.url()]),
        lb("next", &[&b.url()])
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    let mut next = 0;
    for _ in 0..100 {
        let (_, h, _) = get(&client, "http://app.test/").await.unwrap();
        if h[BACKEND_HEADER] == "b" {
            next += 1;
        }
    }
    assert_eq!(next, 10);
}

#[tokio::test]
async fn mirroring_copies_a_share_and_never_slows_the_main_request() {
    let main = HttpBackend::builder("main").start().await;
    let mirror = HttpBackend::builder("mirror").start().await;
    // A mirror that accepts connections and never answers, and one that refuses them.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = format!("http://{}", black_hole.local_addr().unwrap());
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let dynamic = format!(
        "http:\n  routers:\n    r:\n      rule: \"PathPrefix(`/`)\"\n      service: m\n  services:\n    m:\n      mirroring:\n        service: main\n        mirrors:\n          - name: copy\n            percent: 50\n          - name: hole\n            percent: 100\n          - name: refused\n            percent: 100\n{}{}{}{}",
        lb("main", &[&main.url()]),
        lb("copy", &[&mirror.url()]),
        lb("hole", &[&hole_url]),
        lb("refused", &[&refused]),
    );
    let gw = TestGateway::start(&dynamic).await;
    let client = gw.client();
    for i in 0..100 {
        let req = http::Request::post(format!("http://app.test/upload/{i}"))
            .body(wasmgate_test_harness::full(vec![b'x'; 10_000]))
            .unwrap();
        let fut = send(&client, req);
        let (status, h, _) = tokio::time::timeout(Duration::from_secs(5), fut)
            .await
            .expect("a stuck mirror must not hold the main request")
            .unwrap();
        assert_eq!(status, 200);
        assert_eq!(h[BACKEND_HEADER], "main");
    }
    assert_eq!(main.requests(), 100);
    wait_for(|| async { mirror.requests() == 50 }, Duration::from_secs(5))
        .await
        .unwrap_or_else(|_| panic!("mirror got {} copies, expected 50", mirror.requests()));
    let copy = mirror.last_request().unwrap();
    assert!(copy.uri.path().starts_with("/upload/"));
    assert_eq!(copy.method, http::Method::POST);
    drop(black_hole);
}
