//! Prints the costs of header-stamp built in Rust, Go and JavaScript
//! (nothing asserted on time): component size, compile, cache load,
//! instantiation, the memory an instance needs, and a warm `on-request`.
//! `cargo test -p wasmgate-plugin --test measure_languages -- --nocapture`
//!
//! `WASMGATE_MEASURE=name=path.wasm,...` adds other builds of header-stamp
//! (for example one made with another JavaScript engine); a build whose
//! `on-request` fails is measured up to `configure` and the error printed.

mod common;

use std::time::Instant;

use common::{get, per, runtime, spec, time_warm_calls};
use wasmgate_plugin::{PluginSpec, World};

fn stamp(wasm: &str) -> PluginSpec {
    let mut s = spec("stamp", wasm, World::HttpMiddleware);
    s.settings_json = r#"{"requestHeaders":{"x-stamp":"wasmgate"}}"#.into();
    s.limits.max_instances = 16;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stdout)]
async fn measure_languages() {
    let extra = std::env::var("WASMGATE_MEASURE").unwrap_or_default();
    let extra = extra
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let builds = [
        ("rust", wasmgate_guest_plugins::HEADER_STAMP),
        ("go", wasmgate_guest_plugins::GO_HEADER_STAMP),
        ("js", wasmgate_guest_plugins::JS_HEADER_STAMP),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into_iter()
    .chain(extra);
    for (lang, wasm) in builds {
        let wasm = wasm.as_str();
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(Some(dir.path()));
        let t = Instant::now();
        let plugin = rt.load(stamp(wasm)).await.unwrap();
        let compile = t.elapsed();
        drop((plugin, rt));

        let rt = runtime(Some(dir.path()));
        let t = Instant::now();
        let plugin = rt.load(stamp(wasm)).await.unwrap();
        let cached = t.elapsed();
        assert!(plugin.loaded_from_cache());

        let t = Instant::now();
        let mut leases = Vec::new();
        for _ in 0..8 {
            leases.push(plugin.lease().await.unwrap());
        }
        let inst = t.elapsed();
        drop(leases);

        let mut req = get("/some/path?q=1");
        for i in 0..10 {
            req.headers.insert(
                http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                "value".parse().unwrap(),
            );
        }
        let mut lease = plugin.lease().await.unwrap();
        let serves = match lease.on_request(&mut req).await {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        drop(lease);
        let call = match &serves {
            Ok(()) => per(time_warm_calls(&plugin, &mut req, 20_000).await, 20_000),
            Err(e) => format!("fails: {e}"),
        };
        let serves = serves.is_ok();

        // The smallest memory limit (64 KiB steps) under which an instance
        // loads, is configured and serves 100 requests (when it serves).
        let fits = |pages: usize| {
            let rt = runtime(Some(dir.path()));
            let mut req = get("/");
            async move {
                let mut s = stamp(wasm);
                s.limits.max_memory_bytes = pages << 16;
                let Ok(p) = rt.load(s).await else {
                    return false;
                };
                let Ok(mut lease) = p.lease().await else {
                    return false;
                };
                for _ in 0..if serves { 100 } else { 0 } {
                    if lease.on_request(&mut req).await.is_err() {
                        return false;
                    }
                }
                true
            }
        };
        let (mut lo, mut hi) = (1usize, 1024usize); // (fails, fits) in pages
        assert!(fits(hi).await);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid).await {
                hi = mid;
            } else {
                lo = mid;
            }
        }

        println!(
            "{lang}: {} KiB wasm; compile {compile:?}; cache load {cached:?}; \
             instantiate+configure {}; memory per instance {} KiB; on-request warm {}",
            std::fs::metadata(wasm).unwrap().len() / 1024,
            per(inst, 8),
            hi * 64,
            call,
        );
    }
}
