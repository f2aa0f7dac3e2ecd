//! Per-request cost of the plugin runtime, without the network: leases an
//! instance of an HTTP middleware and runs its phases in a loop, as the
//! gateway does (`on-response` only while the plugin has a response phase).
//!
//! `cargo run --release -p wasmgate-plugin --example call_floor -- PLUGIN.wasm [SETTINGS_JSON] [N]`
//! (`INFLIGHT=K` interleaves K such loops, so K instances are in use at once).
//! With one loop it also prints the median and 99th percentile of the time
//! each request spends in the plugin runtime (lease, calls, give back).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmgate_plugin::{
    PluginRequest, PluginResponse, PluginRuntime, PluginSpec, RuntimeConfig, WasmSource, World,
};

#[allow(clippy::print_stdout)] // a command-line tool
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&rt, body());
}

#[allow(clippy::print_stdout)]
async fn body() {
    let mut args = std::env::args().skip(1);
    let wasm = PathBuf::from(
        args.next()
            .expect("usage: call_floor PLUGIN.wasm [SETTINGS] [N]"),
    );
    let settings = args.next().unwrap_or_else(|| "{}".to_owned());
    let n: u64 = args.next().map_or(200_000, |s| s.parse().expect("N"));
    let runtime = PluginRuntime::new(RuntimeConfig {
        cache_dir: None,
        epoch_tick: Duration::from_millis(5),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let k: u64 = std::env::var("INFLIGHT").map_or(1, |s| s.parse().expect("INFLIGHT"));
    let mut spec = PluginSpec::new("floor", WasmSource::Path(wasm), World::HttpMiddleware);
    spec.settings_json = settings;
    spec.limits.max_instances = spec.limits.max_instances.max(k as usize);
    let plugin = runtime.load(spec).await.expect("load");
    let mut headers = http::HeaderMap::new();
    for (k, v) in [
        ("host", "example.test"),
        ("user-agent", "call-floor/1"),
        ("accept", "*/*"),
        ("x-forwarded-for", "192.0.2.7"),
    ] {
        headers.insert(k, v.parse().expect("value"));
    }
    let run = |n: u64| {
        let plugin = plugin.clone();
        let headers = headers.clone();
        async move {
            let start = Instant::now();
            // Nanoseconds in the runtime per request (the yield between the phases,
            // standing for the service, is not counted).
            let mut spent = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let mut req = PluginRequest::new(
                    http::Method::GET,
                    "/a/b?c=d".parse().expect("uri"),
                    headers.clone(),
                );
                req.client_addr = Some("192.0.2.7:41000".parse().expect("addr"));
                let t = Instant::now();
                let mut lease = plugin.lease().await.expect("lease");
                lease.on_request(&mut req).await.expect("on-request");
                if !plugin.handles_response() {
                    drop(lease);
                    spent.push(t.elapsed());
                    tokio::task::yield_now().await;
                    continue;
                }
                let first = t.elapsed();
                tokio::task::yield_now().await;
                let t = Instant::now();
                let mut resp = PluginResponse::default();
                lease
                    .on_response(&mut req, &mut resp)
                    .await
                    .expect("on-response");
                drop(lease);
                spent.push(first + t.elapsed());
            }
            (start.elapsed(), spent)
        }
    };
    run(n / 10).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..k)
        .map(|_| tokio::task::spawn_local(run(n / k)))
        .collect();
    let mut spent = Vec::new();
    for t in tasks {
        spent = t.await.expect("task").1;
    }
    let t = start.elapsed();
    println!(
        "{:.0} ns per request ({n} requests, {k} in flight)",
        t.as_nanos() as f64 / n as f64
    );
    if k == 1 {
        spent.sort_unstable();
        let at = |q: f64| spent[((spent.len() - 1) as f64 * q) as usize].as_nanos();
        println!(
            "in the runtime per request: p50 {} ns, p99 {} ns",
            at(0.5),
            at(0.99)
        );
    }
}
