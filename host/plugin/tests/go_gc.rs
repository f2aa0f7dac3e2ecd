//! The Go SDK's garbage collection policy under load: 100,000 calls of a Go
//! plugin that reads large headers (every value is copied into the guest by
//! the host through `cabi_realloc`) on one instance, without a trap and
//! within a tight memory limit.
//!
//! Go's collector reads the clock; the component model forbids imports while
//! the host allocates in the guest, so a collection there traps ("cannot
//! leave component instance"). The SDK runs the collector only at the end of
//! an exported call.

mod common;

use common::{get, header, runtime, spec};
use wasmgate_plugin::{Action, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_plugin_survives_100k_calls_with_large_headers() {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross-language-cache");
    let rt = runtime(Some(&cache));
    let mut s = spec(
        "header-limit",
        wasmgate_guest_plugins::GO_HEADER_LIMIT,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"maxBytes":1048576,"maxCount":1000}"#.into();
    // Far below what 100,000 calls allocate in all (several GiB).
    s.limits.max_memory_bytes = 32 << 20;
    let plugin = rt.load(s).await.unwrap();

    let mut req = get("/upload");
    let mut expected = "host".len() + "example.test".len();
    for i in 0..40 {
        let name = format!("x-large-{i}");
        let value = "v".repeat(2048 + i);
        expected += name.len() + value.len();
        req.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let mut lease = plugin.lease().await.unwrap();
    for i in 0..100_000u32 {
        let action = lease
            .on_request(&mut req)
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(action, Action::Continue, "call {i}");
    }
    drop(lease);
    assert_eq!(
        header(&req, "x-header-bytes").unwrap(),
        (expected + "x-header-bytes".len() + expected.to_string().len()).to_string()
    );
    let stats = plugin.stats();
    assert_eq!(
        (stats.instances_created, stats.instances_discarded),
        (1, 0),
        "one instance served every call, none was replaced"
    );
}
