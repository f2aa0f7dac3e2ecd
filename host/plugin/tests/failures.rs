//! A trap, an infinite loop and a memory hog each end only their call, with
//! the right reason and a guest backtrace; the next call gets a fresh
//! instance, and calls on other instances are unaffected.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{get, header, runtime, spec};
use wasmgate_plugin::{Action, CallError, FailureReason, Phase, Plugin, PluginError, World};

async fn expect_failure(plugin: &Arc<Plugin>, path: &str, reason: FailureReason) -> CallError {
    let mut lease = plugin.lease().await.unwrap();
    let mut req = get(path);
    let err = lease
        .on_request(&mut req)
        .await
        .expect_err("the call fails");
    let PluginError::Call(call) = err else {
        panic!("not a call error: {err}")
    };
    assert_eq!(call.plugin, plugin.name());
    assert_eq!(call.phase, Phase::OnRequest);
    assert_eq!(call.reason, reason, "{call}");
    assert_eq!(
        req.uri.path(),
        path,
        "the request is handed back for fail-open"
    );
    assert_eq!(header(&req, "host").as_deref(), Some("example.test"));
    // The lease's instance is gone: on-response reports it.
    let mut resp = Default::default();
    assert!(lease.on_response(&mut req, &mut resp).await.is_err());
    call
}

fn backtrace(call: CallError) -> String {
    call.backtrace.expect("guest backtrace")
}

async fn expect_ok(plugin: &Arc<Plugin>, stamp: &str) {
    let mut lease = plugin.lease().await.unwrap();
    let mut req = get("/fine");
    assert_eq!(lease.on_request(&mut req).await.unwrap(), Action::Continue);
    assert_eq!(header(&req, stamp).as_deref(), Some("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_ends_only_that_call() {
    let rt = runtime(None);
    let plugin = rt
        .load(spec(
            "trap",
            wasmgate_guest_plugins::TRAP,
            World::HttpMiddleware,
        ))
        .await
        .unwrap();
    let bt = backtrace(expect_failure(&plugin, "/trap", FailureReason::Trap).await);
    assert!(
        bt.contains("explode"),
        "backtrace names the guest function:\n{bt}"
    );
    assert_eq!(plugin.stats().instances_discarded, 1);
    expect_ok(&plugin, "x-trap-plugin").await;
    assert_eq!(plugin.stats().instances_created, 2, "replaced lazily");
}

/// A plugin granted no I/O is called without a fiber: a wait (here a
/// sleep) cannot be served there, so it fails that call with the reason,
/// and the next call works. Granted `kv`, the same plugin is called on a
/// fiber and may wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_called_synchronously_cannot_wait() {
    let rt = runtime(None);
    let s = spec("trap", wasmgate_guest_plugins::TRAP, World::HttpMiddleware);
    let plugin = rt.load(s.clone()).await.unwrap();
    assert!(plugin.sync_calls(), "no I/O grant: called synchronously");
    let call = expect_failure(&plugin, "/sleep", FailureReason::Trap).await;
    assert!(call.message.contains("would wait"), "{call}");
    expect_ok(&plugin, "x-trap-plugin").await;

    let mut granted = s;
    granted.name = "trap-kv".into();
    granted.grants.kv = true;
    let plugin = rt.load(granted).await.unwrap();
    assert!(!plugin.sync_calls(), "granted kv: called on a fiber");
    let mut lease = plugin.lease().await.unwrap();
    let mut req = get("/sleep");
    assert_eq!(lease.on_request(&mut req).await.unwrap(), Action::Continue);
    assert_eq!(header(&req, "x-trap-plugin").as_deref(), Some("ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_times_out_without_blocking_others() {
    let rt = runtime(None);
    let mut s = spec("spin", wasmgate_guest_plugins::SPIN, World::HttpMiddleware);
    s.limits.call_timeout = Duration::from_millis(50);
    let plugin = rt.load(s).await.unwrap();

    let spinning = {
        let plugin = plugin.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let bt = backtrace(expect_failure(&plugin, "/spin", FailureReason::Timeout).await);
            (start.elapsed(), bt)
        })
    };
    // Meanwhile, other instances serve normally.
    for _ in 0..5 {
        expect_ok(&plugin, "x-spin-plugin").await;
    }
    let (elapsed, bt) = spinning.await.unwrap();
    assert!(
        elapsed < Duration::from_secs(2),
        "interrupted after {elapsed:?}"
    );
    assert!(bt.contains("spin_forever"), "{bt}");
    expect_ok(&plugin, "x-spin-plugin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_hits_the_limit() {
    let rt = runtime(None);
    let mut s = spec("hog", wasmgate_guest_plugins::HOG, World::HttpMiddleware);
    s.limits.max_memory_bytes = 16 << 20;
    let plugin = rt.load(s).await.unwrap();
    let other = plugin.lease().await.unwrap();
    let bt = backtrace(expect_failure(&plugin, "/hog", FailureReason::Memory).await);
    assert!(bt.contains("hoard_forever"), "{bt}");
    drop(other);
    expect_ok(&plugin, "x-hog-plugin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_memory_keeps_growing_is_replaced_before_it_fails() {
    let rt = runtime(None);
    let mut s = spec("hog", wasmgate_guest_plugins::HOG, World::HttpMiddleware);
    s.limits.max_memory_bytes = 16 << 20;
    let plugin = rt.load(s).await.unwrap();
    // Each request keeps 1 MiB: 40 of them would need 40 MiB in one instance.
    for i in 0..40 {
        let mut req = get("/leak");
        let mut lease = plugin.lease().await.unwrap();
        let r = lease.on_request(&mut req).await;
        assert!(matches!(r, Ok(Action::Continue)), "request {i}: {r:?}");
    }
    let stats = plugin.stats();
    assert_eq!(stats.instances_discarded, 0, "no request failed: {stats:?}");
    assert!(stats.instances_recycled >= 3, "{stats:?}");
    assert_eq!(stats.instances_created, stats.instances_recycled + 1);
}
