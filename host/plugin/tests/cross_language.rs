//! The same scenarios against the Rust, Go and JavaScript builds of
//! header-stamp, path-deny and rate-limiter: every build must give the same
//! results, which are also spelled out in the tables.

mod common;

use std::sync::Arc;

use common::{get, runtime, spec};
use http::StatusCode;
use wasmgate_guest_plugins as guests;
use wasmgate_plugin::{Action, Grants, Plugin, PluginError, PluginResponse, World};

/// The three builds of one plugin: (language, wasm path).
type Builds = [(&'static str, &'static str); 3];

const HEADER_STAMP: Builds = [
    ("rust", guests::HEADER_STAMP),
    ("go", guests::GO_HEADER_STAMP),
    ("js", guests::JS_HEADER_STAMP),
];
const PATH_DENY: Builds = [
    ("rust", guests::PATH_DENY),
    ("go", guests::GO_PATH_DENY),
    ("js", guests::JS_PATH_DENY),
];
const RATE_LIMITER: Builds = [
    ("rust", guests::RATE_LIMITER),
    ("go", guests::GO_RATE_LIMITER),
    ("js", guests::JS_RATE_LIMITER),
];

async fn load(wasm: &str, settings: &str, grants: Grants) -> Result<Arc<Plugin>, PluginError> {
    // A fresh runtime per load (its own kv store), sharing one artifact
    // cache: a JS component takes seconds to compile.
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross-language-cache");
    let rt = runtime(Some(&cache));
    let mut s = spec("p", wasm, World::HttpMiddleware);
    s.settings_json = settings.into();
    s.grants = grants;
    rt.load(s).await
}

/// What a plugin did with one request, reduced to what the scenarios check:
/// its answer, or the listed request headers it set and the response headers
/// after `on-response`.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    Continue {
        request: Vec<(String, String)>,
        response: Vec<(String, String)>,
    },
}

fn pick(map: &http::HeaderMap, names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|n| {
            map.get(*n)
                .map(|v| ((*n).to_owned(), v.to_str().unwrap().to_owned()))
        })
        .collect()
}

fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Outcome {
    Outcome::Respond {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_owned(),
    }
}

fn cont(request: &[(&str, &str)], response: &[(&str, &str)]) -> Outcome {
    let own = |h: &[(&str, &str)]| {
        h.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    };
    Outcome::Continue {
        request: own(request),
        response: own(response),
    }
}

/// Runs one request (path, extra headers) through both phases on one lease.
async fn run(
    plugin: &Arc<Plugin>,
    path: &str,
    headers: &[(&str, &str)],
    watch: &[&str],
) -> Outcome {
    let mut req = get(path);
    for (n, v) in headers {
        req.headers.insert(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let mut lease = plugin.lease().await.unwrap();
    match lease.on_request(&mut req).await.unwrap() {
        Action::Respond {
            status,
            headers,
            body,
        } => {
            let mut hs: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            hs.sort();
            Outcome::Respond {
                status: status.as_u16(),
                headers: hs,
                body: String::from_utf8(body.to_vec()).unwrap(),
            }
        }
        Action::Continue => {
            let mut resp = PluginResponse {
                status: StatusCode::OK,
                ..Default::default()
            };
            lease.on_response(&mut req, &mut resp).await.unwrap();
            Outcome::Continue {
                request: pick(&req.headers, watch),
                response: pick(&resp.headers, watch),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_stamp_same_in_every_language() {
    let settings = r#"{"requestHeaders":{"x-stamp":"wasmgate","x-two":"2"},"responseHeaders":{"x-served-by":"wasmgate"}}"#;
    let watch = [
        "x-stamp",
        "x-two",
        "x-plugin-count",
        "x-plugin-inits",
        "x-served-by",
    ];
    for (lang, wasm) in HEADER_STAMP {
        let p = load(wasm, settings, Grants::default()).await.unwrap();
        for n in 1..=3 {
            let count = n.to_string();
            let expected = cont(
                &[
                    ("x-stamp", "wasmgate"),
                    ("x-two", "2"),
                    ("x-plugin-count", &count),
                    ("x-plugin-inits", "1"),
                ],
                &[("x-plugin-count", &count), ("x-served-by", "wasmgate")],
            );
            assert_eq!(
                run(&p, "/", &[], &watch).await,
                expected,
                "{lang}, request {n}"
            );
        }
        // No settings at all: only the counter.
        let p = load(wasm, "{}", Grants::default()).await.unwrap();
        assert_eq!(
            run(&p, "/", &[], &watch).await,
            cont(
                &[("x-plugin-count", "1"), ("x-plugin-inits", "1")],
                &[("x-plugin-count", "1")]
            ),
            "{lang}, no settings"
        );
        for bad in [
            r#"{"requestHeader":{}}"#,
            r#"{"requestHeaders":[1]}"#,
            "not json",
        ] {
            assert!(
                load(wasm, bad, Grants::default()).await.is_err(),
                "{lang} refuses {bad}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_deny_same_in_every_language() {
    let forbidden = || {
        respond(
            403,
            &[("content-type", "text/plain; charset=utf-8")],
            "forbidden\n",
        )
    };
    let pass = || cont(&[], &[]);
    let table: &[(&str, Outcome)] = &[
        ("/admin", forbidden()),
        ("/admin/", forbidden()),
        ("/admin/users?x=1", forbidden()),
        ("/administrator", pass()),
        ("/%61dmin", forbidden()),
        ("/%2", pass()),
        ("/index.php", forbidden()),
        ("/a/b/c.php", forbidden()),
        ("/a/b/c.php5", pass()),
        ("/internal/x/debug", forbidden()),
        ("/internal/x/y/debug", pass()),
        ("/internal/debug", pass()),
        ("/public/page", pass()),
        ("/", pass()),
    ];
    let settings = r#"{"deny":["/admin","/**/*.php","/internal/*/debug"]}"#;
    for (lang, wasm) in PATH_DENY {
        let p = load(wasm, settings, Grants::default()).await.unwrap();
        for (path, expected) in table {
            assert_eq!(&run(&p, path, &[], &[]).await, expected, "{lang} {path}");
        }
        let p = load(
            wasm,
            r#"{"deny":["/"],"status":451,"body":"gone"}"#,
            Grants::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            run(&p, "/anything", &[], &[]).await,
            respond(
                451,
                &[("content-type", "text/plain; charset=utf-8")],
                "gone"
            ),
            "{lang}"
        );
        for bad in [
            r#"{}"#,
            r#"{"deny":["admin"]}"#,
            r#"{"deny":["/a"],"status":42}"#,
            r#"{"deny":["/a"],"extra":1}"#,
        ] {
            assert!(
                load(wasm, bad, Grants::default()).await.is_err(),
                "{lang} refuses {bad}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limiter_same_in_every_language() {
    let kv = Grants {
        kv: true,
        ..Grants::default()
    };
    let too_many = || {
        respond(
            429,
            &[("content-type", "text/plain"), ("retry-after", "60")],
            "rate limit exceeded\n",
        )
    };
    let left = |n: &str| cont(&[("x-ratelimit-remaining", n)], &[]);
    let watch = ["x-ratelimit-remaining"];
    // (value of x-api-key, or none: keyed by the client address)
    let table: &[(Option<&str>, Outcome)] = &[
        (Some("a"), left("1")),
        (Some("a"), left("0")),
        (Some("a"), too_many()),
        (Some("b"), left("1")),
        (None, left("1")),
        (Some("a"), too_many()),
        (None, left("0")),
        (None, too_many()),
        (Some("b"), left("0")),
    ];
    let settings = r#"{"limit":2,"windowMs":60000,"keyHeader":"x-api-key"}"#;
    for (lang, wasm) in RATE_LIMITER {
        // A fresh runtime: its own kv store.
        let p = load(wasm, settings, kv.clone()).await.unwrap();
        for (i, (key, expected)) in table.iter().enumerate() {
            let headers: Vec<(&str, &str)> = key.iter().map(|k| ("x-api-key", *k)).collect();
            assert_eq!(
                &run(&p, "/", &headers, &watch).await,
                expected,
                "{lang}, request {i}"
            );
        }
        // Without the grant, the component is refused (it imports kv).
        assert!(
            load(wasm, settings, Grants::default()).await.is_err(),
            "{lang} needs kv"
        );
        for bad in [r#"{}"#, r#"{"limit":0}"#, r#"{"limit":1,"windowMs":0}"#] {
            assert!(
                load(wasm, bad, kv.clone()).await.is_err(),
                "{lang} refuses {bad}"
            );
        }
    }
}

#[test]
fn manifests_agree_across_languages() {
    use wasmgate_plugin::registry::Manifest;
    for dirs in [
        [
            guests::HEADER_STAMP_DIR,
            guests::GO_HEADER_STAMP_DIR,
            guests::JS_HEADER_STAMP_DIR,
        ],
        [
            guests::PATH_DENY_DIR,
            guests::GO_PATH_DENY_DIR,
            guests::JS_PATH_DENY_DIR,
        ],
        [
            guests::RATE_LIMITER_DIR,
            guests::GO_RATE_LIMITER_DIR,
            guests::JS_RATE_LIMITER_DIR,
        ],
    ] {
        let parsed: Vec<Manifest> = dirs
            .iter()
            .map(|d| {
                let text =
                    std::fs::read_to_string(std::path::Path::new(d).join("plugin.toml")).unwrap();
                Manifest::parse(&text).unwrap_or_else(|e| panic!("{d}: {e}"))
            })
            .collect();
        for m in &parsed[1..] {
            assert_eq!(m.name, parsed[0].name);
            assert_eq!(m.world, parsed[0].world);
            assert_eq!(m.settings, parsed[0].settings, "{}", m.name);
        }
        assert_eq!(parsed[1].language.as_deref(), Some("go"));
        assert_eq!(parsed[2].language.as_deref(), Some("javascript"));
    }
}
