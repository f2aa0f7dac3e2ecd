//! Route matchers: canary by header or percentage, async and sync paths.

mod common;

use common::{get, runtime, spec};
use wasmgate_plugin::{PluginError, World};

#[tokio::test]
async fn canary_matches_header_value() {
    let rt = runtime(None);
    let mut s = spec(
        "canary",
        wasmgate_guest_plugins::CANARY,
        World::RouteMatcher,
    );
    s.settings_json = r#"{"header":"x-canary","value":"always"}"#.into();
    let plugin = rt.load(s).await.unwrap();

    let mut yes = get("/");
    yes.headers.insert("x-canary", "always".parse().unwrap());
    assert!(plugin.matches(&mut yes).await.unwrap());
    assert_eq!(yes.headers["x-canary"], "always", "request moved back");
    let mut wrong = get("/");
    wrong.headers.insert("x-canary", "never".parse().unwrap());
    assert!(!plugin.matches(&mut wrong).await.unwrap());
    assert!(!plugin.matches(&mut get("/")).await.unwrap());
    // The synchronous path, as the rule engine calls it.
    assert!(plugin.matches_blocking(&mut yes).unwrap());
    assert!(!plugin.matches_blocking(&mut get("/")).unwrap());
    // A matcher is not a middleware.
    assert!(matches!(
        plugin.lease().await,
        Err(PluginError::WrongWorld { .. })
    ));
}

#[tokio::test]
async fn canary_percentage() {
    let rt = runtime(None);
    let mut s = spec(
        "canary",
        wasmgate_guest_plugins::CANARY,
        World::RouteMatcher,
    );
    s.settings_json = r#"{"percent":100}"#.into();
    let all = rt.load(s.clone()).await.unwrap();
    s.settings_json = r#"{"percent":30}"#.into();
    let some = rt.load(s).await.unwrap();
    let mut hits = 0;
    for _ in 0..200 {
        assert!(all.matches_blocking(&mut get("/")).unwrap());
        hits += usize::from(some.matches_blocking(&mut get("/")).unwrap());
    }
    assert!((20..=110).contains(&hits), "about 30% of 200, got {hits}");
}
