//! Live configuration: file changes apply without dropping anything, broken ones change nothing.

use crate::support::{TestGateway, lb};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wasmgate_test_harness::{
    BACKEND_HEADER, HttpBackend, WsMessage, get, wait_for, ws_connect_via,
};

fn config(stable: &str, other: &str, version: usize) -> String {
    // `stable` exists in every version; `extra-N` routes come and go; `moving` changes backend.
    let mut s = String::from(
        "http:\n  routers:\n    stable:\n      rule: \"Host(`stable.test`)\"\n      service: stable\n",
    );
    s.push_str(&format!(
        "    moving:\n      rule: \"Host(`moving.test`)\"\n      service: {}\n",
        if version.is_multiple_of(2) {
            "stable"
        } else {
            "other"
        }
    ));
    for i in 0..(version % 5) {
        s.push_str(&format!("    extra-{i}:\n      rule: \"Host(`extra{i}.test`) && PathPrefix(`/v{version}`)\"\n      service: other\n"));
    }
    s.push_str(&format!(
        "  services:\n{}{}",
        lb("stable", &[stable]),
        lb("other", &[other])
    ));
    s
}

#[tokio::test]
async fn fifty_rewrites_drop_no_request_and_keep_websockets() {
    let stable = HttpBackend::builder("stable").start().await;
    let other = HttpBackend::builder("other").start().await;
    let gw = TestGateway::start(&config(&stable.url(), &other.url(), 0)).await;

    // A WebSocket opened before the reloads.
    let req = "ws://stable.test/ws".into_client_request().unwrap();
    let mut ws = ws_connect_via(gw.addr(), req).await.unwrap();
    ws.send(WsMessage::text("before")).await.unwrap();
    assert_eq!(
        ws.next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "before"
    );

    // Clients looping on the route that exists throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let (client, stop, ok, failures) =
            (gw.client(), stop.clone(), ok.clone(), failures.clone());
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match get(&client, "http://stable.test/").await {
                    Ok((s, h, _)) if s == 200 && h[BACKEND_HEADER] == "stable" => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => failures.lock().unwrap().push(format!("{other:?}")),
                }
            }
        }));
    }

    let mut last_good = 0;
    for version in 1..=50 {
        if version % 7 == 0 {
            // Broken: a typo'd key and a dangling service reference.
            gw.write_dynamic("http:\n  routers:\n    stable:\n      rulle: \"Host(`stable.test`)\"\n      service: nope\n");
        } else {
            gw.write_dynamic(&config(&stable.url(), &other.url(), version));
            last_good = version;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    // The last write was valid (50 % 7 != 0): wait for it to be served.
    let client = gw.client();
    let want = if last_good.is_multiple_of(2) {
        "stable"
    } else {
        "other"
    };
    wait_for(
        || {
            let client = client.clone();
            async move {
                get(&client, "http://moving.test/")
                    .await
                    .is_ok_and(|(_, h, _)| h.get(BACKEND_HEADER).is_some_and(|v| v == want))
            }
        },
        Duration::from_secs(5),
    )
    .await
    .expect("the last valid configuration is served");
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.unwrap();
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    assert!(
        failures.is_empty(),
        "{} failed requests, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(
        ok.load(Ordering::Relaxed) > 50,
        "clients kept requesting during reloads"
    );

    ws.send(WsMessage::text("after")).await.unwrap();
    assert_eq!(
        ws.next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "after"
    );
    // Extra routes of the last version exist, those of older versions are gone.
    let (s, _, _) = get(&client, &format!("http://extra0.test/v{last_good}"))
        .await
        .unwrap();
    assert_eq!(s, if last_good % 5 > 0 { 200 } else { 404 });
    let (s, _, _) = get(&client, "http://extra0.test/v1").await.unwrap();
    assert_eq!(s, 404);
}

#[tokio::test]
async fn broken_config_is_reported_and_the_last_good_one_keeps_serving() {
    let be = HttpBackend::builder("be").start().await;
    let good = format!(
        "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      service: s\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::start(&good).await;
    let generation = gw.gateway.generation();
    gw.write_dynamic(
        "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      servise: s\n",
    );
    let err = gw
        .gateway
        .reload()
        .await
        .expect_err("broken config rejected");
    assert!(err.contains("dynamic.yml:5"), "names file and line: {err}");
    assert!(
        err.contains("servise") && err.contains("service"),
        "names the key and suggests: {err}"
    );
    assert_eq!(gw.gateway.generation(), generation);
    let (status, _, _) = get(&gw.client(), "http://a.test/").await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn unchanged_services_keep_their_upstream_connections() {
    let be = HttpBackend::builder("be").start().await;
    let other = HttpBackend::builder("other").start().await;
    let with_extra = |n: usize| {
        let mut s = String::from(
            "http:\n  routers:\n    r:\n      rule: \"Host(`a.test`)\"\n      service: s\n",
        );
        for i in 0..n {
            s.push_str(&format!(
                "    x{i}:\n      rule: \"Host(`x{i}.test`)\"\n      service: o\n"
            ));
        }
        s + &format!(
            "  services:\n{}{}",
            lb("s", &[&be.url()]),
            lb("o", &[&other.url()])
        )
    };
    let gw = TestGateway::start(&with_extra(0)).await;
    let client = gw.client();
    for _ in 0..5 {
        get(&client, "http://a.test/").await.unwrap();
    }
    let connections = be.connections();
    for n in 1..=3 {
        gw.write_dynamic(&with_extra(n));
        let g = gw.gateway.generation();
        wait_for(
            || async { gw.gateway.generation() > g },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        get(&client, "http://a.test/").await.unwrap();
    }
    assert_eq!(
        be.connections(),
        connections,
        "the pool survived the reloads"
    );
}

#[tokio::test]
async fn removing_a_route_does_not_cut_its_running_requests() {
    let be = HttpBackend::builder("be").start().await;
    let with_route = format!(
        "http:\n  routers:\n    doomed:\n      rule: \"Host(`doomed.test`)\"\n      service: s\n    keep:\n      rule: \"Host(`keep.test`)\"\n      service: s\n  services:\n{}",
        lb("s", &[&be.url()])
    );
    let gw = TestGateway::start(&with_route).await;
    // A stream and a WebSocket running on the route that is about to go.
    let client = gw.client();
    let stream = {
        let client = client.clone();
        tokio::spawn(
            async move { get(&client, "http://doomed.test/sse?n=5&interval_ms=200").await },
        )
    };
    let req = "ws://doomed.test/ws".into_client_request().unwrap();
    let mut ws = ws_connect_via(gw.addr(), req).await.unwrap();
    wait_for(|| async { be.requests() >= 2 }, Duration::from_secs(5))
        .await
        .unwrap();

    let generation = gw.gateway.generation();
    gw.write_dynamic(&format!(
        "http:\n  routers:\n    keep:\n      rule: \"Host(`keep.test`)\"\n      service: s\n  services:\n{}",
        lb("s", &[&be.url()])
    ));
    wait_for(
        || async { gw.gateway.generation() > generation },
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(
        get(&client, "http://doomed.test/").await.unwrap().0,
        404,
        "no new traffic"
    );

    let (status, _, body) = stream.await.unwrap().unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body.as_ref(),
        b"data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n",
        "stream finished whole"
    );
    ws.send(WsMessage::text("still here")).await.unwrap();
    assert_eq!(
        ws.next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "still here"
    );
}
