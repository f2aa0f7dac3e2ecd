//! The first-party plugins of `plugins/` against the real runtime:
//! request-id, path-deny, token-auth (with a real auth server),
//! body-rewrite and sni-allow; and their manifests.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{get, header, runtime, spec};
use http::StatusCode;
use wasmgate_plugin::registry::Manifest;
use wasmgate_plugin::{
    Action, ConnectionInfo, Grants, Plugin, PluginError, PluginRequest, PluginResponse, TcpAction,
    World,
};

async fn load(name: &str, wasm: &str, world: World, settings: &str, grants: Grants) -> Arc<Plugin> {
    let rt = runtime(None);
    let mut s = spec(name, wasm, world);
    s.settings_json = settings.into();
    s.grants = grants;
    rt.load(s).await.unwrap()
}

/// Runs both phases on one lease; the response is 200 with `body`.
async fn exchange(
    plugin: &Arc<Plugin>,
    req: &mut PluginRequest,
    body: Option<&str>,
) -> (Action, PluginResponse) {
    let mut lease = plugin.lease().await.unwrap();
    let action = lease.on_request(req).await.unwrap();
    let mut resp = PluginResponse {
        status: StatusCode::OK,
        ..Default::default()
    };
    resp.headers
        .insert("content-type", "text/html; charset=utf-8".parse().unwrap());
    resp.body = body.map(|b| Bytes::from(b.to_owned()));
    if action == Action::Continue {
        lease.on_response(req, &mut resp).await.unwrap();
    }
    (action, resp)
}

#[test]
fn manifests_parse_and_match_their_crates() {
    for (dir, world) in [
        (
            wasmgate_guest_plugins::HEADER_STAMP_DIR,
            World::HttpMiddleware,
        ),
        (
            wasmgate_guest_plugins::RATE_LIMITER_DIR,
            World::HttpMiddleware,
        ),
        (wasmgate_guest_plugins::CANARY_DIR, World::RouteMatcher),
        (
            wasmgate_guest_plugins::REQUEST_ID_DIR,
            World::HttpMiddleware,
        ),
        (wasmgate_guest_plugins::PATH_DENY_DIR, World::HttpMiddleware),
        (
            wasmgate_guest_plugins::TOKEN_AUTH_DIR,
            World::HttpMiddleware,
        ),
        (
            wasmgate_guest_plugins::BODY_REWRITE_DIR,
            World::HttpMiddleware,
        ),
        (wasmgate_guest_plugins::SNI_ALLOW_DIR, World::TcpFilter),
    ] {
        let dir = std::path::Path::new(dir);
        let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
        let m = Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(m.name, dir.file_name().unwrap().to_str().unwrap());
        assert_eq!(m.world, world, "{}", m.name);
        assert_eq!(m.wit, wasmgate_plugin::wit_version());
        assert!(m.sha256.is_none(), "{}: sha256 is added at publish", m.name);
        assert!(m.settings.is_some() && m.author.is_some() && !m.description.is_empty());
        assert!(dir.join("README.md").is_file(), "{} has a README", m.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_sets_keeps_and_echoes() {
    let p = load(
        "rid",
        wasmgate_guest_plugins::REQUEST_ID,
        World::HttpMiddleware,
        "{}",
        Grants::default(),
    )
    .await;
    let mut req = get("/");
    let (action, resp) = exchange(&p, &mut req, None).await;
    assert_eq!(action, Action::Continue);
    let id = header(&req, "x-request-id").expect("id set");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(resp.headers["x-request-id"], id.as_str(), "echoed");

    let mut req2 = get("/");
    exchange(&p, &mut req2, None).await;
    assert_ne!(header(&req2, "x-request-id").unwrap(), id, "ids differ");

    let mut req3 = get("/");
    req3.headers
        .insert("x-request-id", "from-client".parse().unwrap());
    let (_, resp) = exchange(&p, &mut req3, None).await;
    assert_eq!(
        header(&req3, "x-request-id").as_deref(),
        Some("from-client")
    );
    assert_eq!(resp.headers["x-request-id"], "from-client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_deny_refuses_prefixes_and_globs() {
    let p = load(
        "deny",
        wasmgate_guest_plugins::PATH_DENY,
        World::HttpMiddleware,
        r#"{"deny":["/admin","/**/*.php","/internal/*/debug"]}"#,
        Grants::default(),
    )
    .await;
    for (path, denied) in [
        ("/admin", true),
        ("/admin/users?x=1", true),
        ("/%61dmin/users", true),
        ("/administrator", false),
        ("/blog/wp-login.php", true),
        ("/index.php", true),
        ("/index.phpx", false),
        ("/internal/a/debug", true),
        ("/internal/a/b/debug", false),
        ("/", false),
    ] {
        let mut req = get(path);
        let mut lease = p.lease().await.unwrap();
        match lease.on_request(&mut req).await.unwrap() {
            Action::Respond { status, body, .. } => {
                assert!(denied, "{path} was denied");
                assert_eq!(status, StatusCode::FORBIDDEN);
                assert_eq!(&body[..], b"forbidden\n");
            }
            Action::Continue => assert!(!denied, "{path} was allowed"),
        }
    }
    let rt = runtime(None);
    let mut s = spec(
        "deny",
        wasmgate_guest_plugins::PATH_DENY,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"deny":["admin"]}"#.into();
    let err = rt.load(s).await.err().expect("refused");
    assert!(err.to_string().contains("must start with `/`"), "{err}");
}

/// A tiny auth service: 200 with `x-user: alice` for `Bearer good`, 403
/// otherwise. Counts the requests it served.
fn auth_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorized = false;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("authorization:") && lower.trim_end().ends_with("bearer good")
                {
                    authorized = true;
                }
                line.clear();
            }
            count.fetch_add(1, Ordering::SeqCst);
            let reply = if authorized {
                "HTTP/1.1 200 OK\r\nx-user: alice\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (addr, served)
}

fn bearer(token: &str) -> PluginRequest {
    let mut req = get("/api");
    req.headers
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req.headers.insert("x-user", "forged".parse().unwrap());
    req
}

async fn on_request(p: &Arc<Plugin>, req: &mut PluginRequest) -> Action {
    p.lease().await.unwrap().on_request(req).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_calls_a_real_auth_service() {
    let (addr, served) = auth_server();
    let settings = format!(r#"{{"authUrl":"http://{addr}/verify"}}"#);
    let grants = Grants {
        outbound_http: Some(vec![addr.to_string()]),
        ..Grants::default()
    };
    let p = load(
        "auth",
        wasmgate_guest_plugins::TOKEN_AUTH,
        World::HttpMiddleware,
        &settings,
        grants,
    )
    .await;

    let mut req = bearer("good");
    assert_eq!(on_request(&p, &mut req).await, Action::Continue);
    assert_eq!(
        header(&req, "x-user").as_deref(),
        Some("alice"),
        "header of the auth response passed upstream, the forged one dropped"
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let mut req = bearer("bad");
    match on_request(&p, &mut req).await {
        Action::Respond {
            status, headers, ..
        } => {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(headers["www-authenticate"], "Bearer");
        }
        a => panic!("bad token let through: {a:?}"),
    }
    assert_eq!(served.load(Ordering::SeqCst), 2);

    // No token: refused without calling the service.
    let mut req = get("/api");
    assert!(matches!(
        on_request(&p, &mut req).await,
        Action::Respond {
            status: StatusCode::UNAUTHORIZED,
            ..
        }
    ));
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_refused_when_the_host_is_not_allowed() {
    let (addr, served) = auth_server();
    let settings = format!(r#"{{"authUrl":"http://{addr}/verify"}}"#);

    // Granted outbound-http, but not to this host: the host refuses the
    // call (`denied`) and the plugin fails closed with its failure status.
    let grants = Grants {
        outbound_http: Some(vec!["auth.example.com".into()]),
        ..Grants::default()
    };
    let p = load(
        "auth",
        wasmgate_guest_plugins::TOKEN_AUTH,
        World::HttpMiddleware,
        &settings,
        grants,
    )
    .await;
    let mut req = bearer("good");
    match on_request(&p, &mut req).await {
        Action::Respond { status, body, .. } => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(&body[..], b"authentication service unavailable\n");
        }
        a => panic!("request let through without a check: {a:?}"),
    }
    assert_eq!(header(&req, "x-user").as_deref(), Some("forged"));
    assert_eq!(served.load(Ordering::SeqCst), 0, "nothing was sent");

    // Without the grant at all, the plugin is refused at load.
    let rt = runtime(None);
    let mut s = spec(
        "auth",
        wasmgate_guest_plugins::TOKEN_AUTH,
        World::HttpMiddleware,
    );
    s.settings_json = settings;
    match rt.load(s).await {
        Err(PluginError::NotGranted { plugin, import, .. }) => {
            assert_eq!(plugin, "auth");
            assert!(
                import.starts_with("wasmgate:plugin/outbound-http@"),
                "{import}"
            );
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("loaded without the outbound-http grant"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_rewrite_replaces_within_the_cap() {
    let rt = runtime(None);
    let mut s = spec(
        "rewrite",
        wasmgate_guest_plugins::BODY_REWRITE,
        World::HttpMiddleware,
    );
    s.settings_json = r#"{"from":"backend.internal","to":"www.example.com"}"#.into();
    s.limits.max_body_bytes = 64;
    let p = rt.load(s).await.unwrap();

    let mut req = get("/");
    let (_, resp) = exchange(
        &p,
        &mut req,
        Some("<a href=http://backend.internal/x>backend.internal</a>"),
    )
    .await;
    assert!(resp.body_replaced);
    let want = b"<a href=http://www.example.com/x>www.example.com</a>";
    assert_eq!(resp.body.as_deref(), Some(&want[..]));
    assert_eq!(
        resp.headers["content-length"],
        want.len().to_string().as_str()
    );

    // Nothing to replace, body not buffered, or past the cap: untouched.
    for body in [
        Some("nothing here"),
        None,
        Some(&"backend.internal ".repeat(5)[..]),
    ] {
        let (_, resp) = exchange(&p, &mut get("/"), body).await;
        assert!(!resp.body_replaced, "{body:?}");
        assert_eq!(resp.body.as_deref(), body.map(str::as_bytes));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_allow_filters_connections() {
    let p = load(
        "sni",
        wasmgate_guest_plugins::SNI_ALLOW,
        World::TcpFilter,
        r#"{"allow":["www.example.com","*.example.org"],"routes":{"*.internal":"internal-tls"}}"#,
        Grants::default(),
    )
    .await;
    let conn = |sni: Option<&str>| ConnectionInfo {
        client_addr: "192.0.2.9:50000".parse().unwrap(),
        sni: sni.map(str::to_owned),
        alpn: vec!["h2".into()],
    };
    for (sni, want) in [
        (Some("www.example.com"), TcpAction::Allow),
        (Some("WWW.Example.COM"), TcpAction::Allow),
        (Some("api.example.org"), TcpAction::Allow),
        (Some("example.org"), TcpAction::Deny),
        (Some("db.internal"), TcpAction::Route("internal-tls".into())),
        (Some("evil.com"), TcpAction::Deny),
        (None, TcpAction::Deny),
    ] {
        assert_eq!(p.on_connect(&conn(sni)).await.unwrap(), want, "{sni:?}");
    }
    let mut req = get("/");
    assert!(matches!(
        p.lease().await,
        Err(PluginError::WrongWorld { .. })
    ));
    assert!(p.matches(&mut req).await.is_err());
}
