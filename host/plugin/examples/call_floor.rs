//! Per-request cost of the plugin runtime, without the network: leases an
//! instance of an HTTP middleware and runs its phases in a loop, as the
//! gateway does (`on-response` only while the plugin has a response phase).
//!
//! `cargo run --release -p wasmgate-plugin --example call_floor -- PLUGIN.wasm [SETTINGS_JSON] [N]`
//! (`INFLIGHT=K` interleaves K such loops, so K instances are in use at once).

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
            for _ in 0..n {
                let mut req = PluginRequest::new(
                    http::Method::GET,
                    "/a/b?c=d".parse().expect("uri"),
                    headers.clone(),
                );
                req.client_addr = Some("192.0.2.7:41000".parse().expect("addr"));
                let mut lease = plugin.lease().await.expect("lease");
                lease.on_request(&mut req).await.expect("on-request");
                if !plugin.handles_response() {
                    drop(lease);
                    tokio::task::yield_now().await;
                    continue;
                }
                tokio::task::yield_now().await;
                let mut resp = PluginResponse::default();
                lease
                    .on_response(&mut req, &mut resp)
                    .await
                    .expect("on-response");
            }
            start.elapsed()
        }
    };
    run(n / 10).await;
    let start = Instant::now();
    let tasks: Vec<_> = (0..k)
        .map(|_| tokio::task::spawn_local(run(n / k)))
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let t = start.elapsed();
    println!(
        "{:.0} ns per request ({n} requests, {k} in flight)",
        t.as_nanos() as f64 / n as f64
    );
}
