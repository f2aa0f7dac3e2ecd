//! Starting a real gateway on port 0 with a static and a dynamic configuration on disk.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;
use tempfile::TempDir;
use wasmgate::{Gateway, GatewayConfig};
use wasmgate_test_harness::HttpClient;

static LOGGING: Once = Once::new();

/// Sends gateway logs to the test output (shown for failing tests); `RUST_LOG` filters them.
pub fn init_logging() {
    LOGGING.call_once(|| {
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "wasmgate=info".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// A gateway running in this process, with its configuration files in a temporary folder.
pub struct TestGateway {
    /// The gateway.
    pub gateway: Gateway,
    /// The folder holding `static.yml` and `dynamic.yml`.
    pub dir: TempDir,
}

/// The static configuration of most tests: one entrypoint `web` on port 0, the file provider
/// watching `dynamic.yml` with no throttle.
pub const STATIC_WEB: &str = r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
providers:
  providersThrottleDuration: 0s
  file:
    filename: dynamic.yml
"#;

impl TestGateway {
    /// Starts a gateway with [`STATIC_WEB`] and `dynamic` as its dynamic configuration.
    pub async fn start(dynamic: &str) -> TestGateway {
        Self::with_static(STATIC_WEB, dynamic).await
    }

    /// Starts a gateway with the given static and dynamic configuration texts.
    pub async fn with_static(static_yaml: &str, dynamic: &str) -> TestGateway {
        init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("static.yml"), static_yaml).expect("write static");
        std::fs::write(dir.path().join("dynamic.yml"), dynamic).expect("write dynamic");
        let config =
            GatewayConfig::from_file(&dir.path().join("static.yml")).expect("static config");
        let gateway = Gateway::start(config).await.expect("gateway starts");
        TestGateway { gateway, dir }
    }

    /// The address of entrypoint `web`.
    pub fn addr(&self) -> SocketAddr {
        self.gateway.addr("web").expect("entrypoint web")
    }

    /// An HTTP/1.1 client that connects to the gateway whatever host a URL names.
    pub fn client(&self) -> HttpClient {
        wasmgate_test_harness::http1_client_via(self.addr())
    }

    /// An h2c (prior knowledge) client that connects to the gateway whatever host a URL names.
    pub fn h2c_client(&self) -> HttpClient {
        wasmgate_test_harness::h2c_client_via(self.addr())
    }

    /// The dynamic configuration file.
    pub fn dynamic_path(&self) -> PathBuf {
        self.dir.path().join("dynamic.yml")
    }

    /// Replaces the dynamic configuration the way editors do: write aside, then rename.
    pub fn write_dynamic(&self, text: &str) {
        write_atomic(&self.dynamic_path(), text);
    }
}

/// Writes `text` to a sibling temporary file and renames it over `path`.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A load-balancer service block for the given server URLs, as YAML at services' indent.
pub fn lb(name: &str, urls: &[&str]) -> String {
    let mut s = format!("    {name}:\n      loadBalancer:\n        servers:\n");
    for u in urls {
        s.push_str(&format!("          - url: \"{u}\"\n"));
    }
    s
}

/// A bodiless GET of `uri` with `headers`.
pub fn get_with(uri: &str, headers: &[(&str, &str)]) -> http::Request<wasmgate_test_harness::Body> {
    let mut b = http::Request::get(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(wasmgate_test_harness::empty()).unwrap()
}
