//! HTTP middlewares: header-stamp changes headers, keeps state per instance,
//! runs configure once per instance; rate-limiter uses kv with a TTL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{get, header, runtime, spec};
use http::StatusCode;
use wasmgate_plugin::{Action, Grants, PluginError, PluginResponse, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_stamp_sets_headers_and_keeps_state() {
    let rt = runtime(None);
    let mut s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    s.settings_json =
        r#"{"requestHeaders":{"x-stamp":"wasmgate"},"responseHeaders":{"x-served-by":"edge"}}"#
            .into();
    let plugin = rt.load(s).await.unwrap();
    assert_eq!(
        plugin.stats().instances_created,
        1,
        "load starts one instance"
    );

    for n in 1..=3 {
        let mut req = get("/a?b=c");
        let mut lease = plugin.lease().await.unwrap();
        assert_eq!(lease.on_request(&mut req).await.unwrap(), Action::Continue);
        assert_eq!(header(&req, "x-stamp").as_deref(), Some("wasmgate"));
        assert_eq!(
            header(&req, "x-plugin-count"),
            Some(n.to_string()),
            "state persists"
        );
        assert_eq!(
            header(&req, "x-plugin-inits").as_deref(),
            Some("1"),
            "configure once per instance"
        );
        assert_eq!(
            header(&req, "host").as_deref(),
            Some("example.test"),
            "headers moved back"
        );
        assert_eq!(req.uri, "/a?b=c");

        let mut resp = PluginResponse {
            status: StatusCode::OK,
            ..Default::default()
        };
        lease.on_response(&mut req, &mut resp).await.unwrap();
        assert_eq!(resp.headers["x-served-by"], "edge");
        assert_eq!(resp.headers["x-plugin-count"], n.to_string().as_str());
    }
    assert_eq!(
        plugin.stats().instances_created,
        1,
        "one instance served all"
    );
    assert!(
        !plugin.handles_response(),
        "header-stamp queues its response headers: no response phase"
    );

    // Two concurrent leases need two instances; each ran init once.
    let a = plugin.lease().await.unwrap();
    let mut b = plugin.lease().await.unwrap();
    let mut req = get("/");
    b.on_request(&mut req).await.unwrap();
    assert_eq!(
        header(&req, "x-plugin-count").as_deref(),
        Some("1"),
        "fresh instance"
    );
    assert_eq!(header(&req, "x-plugin-inits").as_deref(), Some("1"));
    drop((a, b));
    let stats = plugin.stats();
    assert_eq!((stats.instances_created, stats.idle), (2, 2));
}

#[tokio::test]
async fn instance_limit_makes_callers_wait_then_fail() {
    let rt = runtime(None);
    let mut s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    s.limits.max_instances = 1;
    s.limits.acquire_timeout = Duration::from_millis(20);
    let plugin = rt.load(s).await.unwrap();
    let held = plugin.lease().await.unwrap();
    let err = plugin.lease().await.err().expect("busy");
    let call = err.as_call().expect("call error");
    assert_eq!(call.reason, wasmgate_plugin::FailureReason::Busy);
    drop(held);
    plugin.lease().await.expect("free again");
}

#[tokio::test]
async fn rate_limiter_counts_in_kv_with_ttl() {
    let rt = runtime(None);
    let mut s = spec(
        "limiter",
        wasmgate_guest_plugins::RATE_LIMITER,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"limit":2,"windowMs":150,"keyHeader":"x-api-key"}"#.into();
    s.grants = Grants {
        kv: true,
        ..Grants::default()
    };
    let plugin = rt.load(s).await.unwrap();

    let call = |key: &'static str| {
        let plugin = Arc::clone(&plugin);
        async move {
            let mut req = get("/");
            req.headers.insert("x-api-key", key.parse().unwrap());
            let mut lease = plugin.lease().await.unwrap();
            lease.on_request(&mut req).await.unwrap()
        }
    };
    assert_eq!(call("k1").await, Action::Continue);
    assert_eq!(call("k1").await, Action::Continue);
    match call("k1").await {
        Action::Respond {
            status, headers, ..
        } => {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(headers["retry-after"], "1");
        }
        other => panic!("expected 429, got {other:?}"),
    }
    assert_eq!(call("k2").await, Action::Continue, "keys are separate");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call("k1").await, Action::Continue, "window expired");
}

#[tokio::test]
async fn bad_settings_refuse_the_plugin_at_load() {
    let rt = runtime(None);
    let mut s = spec(
        "limiter",
        wasmgate_guest_plugins::RATE_LIMITER,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"limit":0}"#.into();
    s.grants.kv = true;
    let err = rt.load(s).await.err().expect("refused");
    assert!(
        matches!(err, PluginError::Call(ref c) if c.message.contains("limit and windowMs")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_without_response_phase_says_so_on_its_first_response() {
    let rt = runtime(None);
    let mut s = spec(
        "deny",
        wasmgate_guest_plugins::PATH_DENY,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"deny":["/admin"]}"#.into();
    let plugin = rt.load(s).await.unwrap();
    assert!(plugin.handles_response(), "assumed until the guest answers");
    let mut req = get("/public");
    let mut lease = plugin.lease().await.unwrap();
    assert_eq!(lease.on_request(&mut req).await.unwrap(), Action::Continue);
    let mut resp = PluginResponse::default();
    lease.on_response(&mut req, &mut resp).await.unwrap();
    assert!(
        !plugin.handles_response(),
        "the SDK's default on_response says none"
    );
    drop(lease);
    let mut lease = plugin.lease().await.unwrap();
    let mut req = get("/admin/x");
    assert!(matches!(
        lease.on_request(&mut req).await.unwrap(),
        Action::Respond { status, .. } if status == StatusCode::FORBIDDEN
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_calls_report_bad_names_values_and_read_only_requests() {
    let rt = runtime(None);
    let plugin = rt
        .load(spec(
            "probe",
            wasmgate_guest_plugins::HEADER_PROBE,
            World::HttpMiddleware,
        ))
        .await
        .unwrap();
    // Four rounds on one instance: later rounds find names (and unchanged
    // values) already parsed, while `x-probe-round` changes every time.
    for round in 1..=4 {
        let mut req = get("/");
        let mut lease = plugin.lease().await.unwrap();
        assert_eq!(lease.on_request(&mut req).await.unwrap(), Action::Continue);
        assert_eq!(
            header(&req, "x-probe-bad-name").as_deref(),
            Some("invalid: header name `bad name`")
        );
        assert_eq!(
            header(&req, "x-probe-bad-value").as_deref(),
            Some("invalid: value of header `x-probe-value`")
        );
        assert!(!req.headers.contains_key("x-probe-value"));
        let twice: Vec<_> = req.headers.get_all("x-probe-twice").iter().collect();
        assert_eq!(twice, ["1", "2"], "one header whatever the spelling");
        assert_eq!(
            header(&req, "x-probe-batch-refused").as_deref(),
            Some("invalid: header name `bad name`")
        );
        assert_eq!(header(&req, "x-probe-batch").as_deref(), Some("ok"));
        assert_eq!(
            header(&req, "x-batch-a").as_deref(),
            Some("3"),
            "last value wins"
        );
        assert_eq!(header(&req, "x-batch-b").as_deref(), Some("2"));
        assert_eq!(req.headers.get_all("x-batch-a").iter().count(), 1);
        assert_eq!(header(&req, "x-probe-round"), Some(round.to_string()));

        let mut resp = PluginResponse {
            status: StatusCode::OK,
            ..Default::default()
        };
        lease.on_response(&mut req, &mut resp).await.unwrap();
        assert_eq!(resp.headers["x-probe-request-in-response"], "read-only");
        assert_eq!(
            resp.headers["x-probe-batch-request-in-response"],
            "read-only"
        );
        assert_eq!(resp.headers["x-probe-round"], round.to_string().as_str());
        assert!(
            !req.headers.contains_key("x-late"),
            "the request is unchanged"
        );
        let twice: Vec<_> = resp.headers.get_all("x-probe-twice").iter().collect();
        assert_eq!(twice, ["3", "4"]);
    }
    assert_eq!(plugin.stats().instances_created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_grown_by_a_burst_shrinks_back_to_one_idle_instance() {
    let rt = wasmgate_plugin::PluginRuntime::new(wasmgate_plugin::RuntimeConfig {
        cache_dir: None,
        idle_timeout: Duration::from_millis(150),
        ..Default::default()
    })
    .unwrap();
    let mut s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    s.limits.max_instances = 8;
    let plugin = rt.load(s).await.unwrap();
    // A burst: 6 requests at once, each holding its own instance.
    let mut leases = Vec::new();
    for _ in 0..6 {
        leases.push(plugin.lease().await.unwrap());
    }
    drop(leases);
    assert_eq!(plugin.stats().idle, 6);
    assert_eq!(rt.stats().live_instances, 6);

    // Then one request at a time: two idle timeouts later (one to see what
    // stays idle, one to drop it) the pool is back to one instance.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let count = async || {
        let mut req = get("/");
        let mut lease = plugin.lease().await.unwrap();
        lease.on_request(&mut req).await.unwrap();
        let n = header(&req, "x-plugin-count").unwrap();
        n.parse::<u64>().unwrap()
    };
    while plugin.stats().instances_trimmed < 5 && tokio::time::Instant::now() < until {
        count().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = plugin.stats();
    assert_eq!(stats.idle, 1, "{stats:?}");
    assert_eq!(stats.instances_trimmed, 5, "{stats:?}");
    assert_eq!(stats.instances_created, 6, "no instance was created again");
    assert_eq!(rt.stats().live_instances, 1);
    // The one left serves every request, with its state.
    let first = count().await;
    assert_eq!([count().await, count().await], [first + 1, first + 2]);
}
