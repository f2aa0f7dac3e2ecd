//! Prints the runtime's costs (nothing asserted on time): compile, cache
//! load, instantiation, a warm `on-request` call of header-stamp, and of
//! the noop test plugin (the floor of a call).
//! `cargo test -p wasmgate-plugin --test measure -- --nocapture`

mod common;

use std::time::Instant;

use common::{get, per, runtime, spec, time_warm_calls};
use wasmgate_plugin::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout)]
async fn measure_plugin_costs() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(
        "stamp",
        wasmgate_guest_plugins::HEADER_STAMP,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"requestHeaders":{"x-stamp":"wasmgate"}}"#.into();
    s.limits.max_instances = 64;

    let rt = runtime(Some(dir.path()));
    let t = Instant::now();
    let plugin = rt.load(s.clone()).await.unwrap();
    let compile = t.elapsed();
    drop((plugin, rt));

    let rt = runtime(Some(dir.path()));
    let t = Instant::now();
    let plugin = rt.load(s).await.unwrap();
    let cached = t.elapsed();
    assert!(plugin.loaded_from_cache());

    // Instantiation (+ init): hold 32 leases at once, each needs an instance.
    let t = Instant::now();
    let mut leases = Vec::new();
    for _ in 0..32 {
        leases.push(plugin.lease().await.unwrap());
    }
    let inst = t.elapsed();
    drop(leases);

    // The same on pool slots that were used before (after a reload or a
    // discarded instance).
    plugin.release_idle();
    let t = Instant::now();
    let mut leases = Vec::new();
    for _ in 0..32 {
        leases.push(plugin.lease().await.unwrap());
    }
    let reinst = t.elapsed();
    drop(leases);

    // Warm calls: one lease, a request with 10 headers.
    let mut req = get("/some/path?q=1");
    for i in 0..10 {
        req.headers.insert(
            http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            "value".parse().unwrap(),
        );
    }
    let n = 20_000;
    let call = time_warm_calls(&plugin, &mut req, n).await;

    // Lease + on-request + return, as a request does it.
    let t = Instant::now();
    for _ in 0..n {
        let mut lease = plugin.lease().await.unwrap();
        lease.on_request(&mut req).await.unwrap();
    }
    let leased = t.elapsed();

    // The floor: a plugin whose `on-request` does nothing.
    let mut s = spec("noop", wasmgate_guest_plugins::NOOP, World::HttpMiddleware);
    s.limits.max_instances = 4;
    let noop = rt.load(s).await.unwrap();
    let floor = time_warm_calls(&noop, &mut req, n).await;

    println!(
        "plugin figures (header-stamp, {} KiB wasm):",
        std::fs::metadata(wasmgate_guest_plugins::HEADER_STAMP)
            .unwrap()
            .len()
            / 1024
    );
    println!("  load with compile (incl. 1 instance): {compile:?}");
    println!("  load from artifact cache (incl. 1 instance): {cached:?}");
    println!("  instantiate + init, fresh pool slot: {}", per(inst, 32));
    println!(
        "  instantiate + init, reused pool slot: {}",
        per(reinst, 32)
    );
    println!(
        "  on-request, warm instance (3 header sets): {}",
        per(call, n)
    );
    println!("  lease + on-request + give back: {}", per(leased, n));
    println!(
        "  on-request of the noop plugin, warm instance (the floor): {}",
        per(floor, n)
    );
}
