//! Minimal Pingora reverse proxy for the benchmarks.
//!
//! `pingora-peer LISTEN UPSTREAM`: one service, one worker thread, listening on LISTEN
//! (HTTP/1.1 and h2c prior knowledge on the same port), forwarding every request to UPSTREAM
//! over pooled keep-alive HTTP/1.1 connections.

use async_trait::async_trait;
use pingora_core::apps::HttpServerOptions;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_core::Result;
use pingora_proxy::{http_proxy_service, ProxyHttp, Session};

struct Forward {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Forward {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: pingora-peer LISTEN UPSTREAM");
        std::process::exit(2);
    }
    let conf = ServerConf {
        threads: 1,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(Opt::default()), conf);
    server.bootstrap();
    let mut service = http_proxy_service(
        &server.configuration,
        Forward {
            upstream: args[2].clone(),
        },
    );
    if let Some(app) = service.app_logic_mut() {
        let mut opts = HttpServerOptions::default();
        opts.h2c = true;
        app.server_options = Some(opts);
    }
    service.add_tcp(&args[1]);
    server.add_service(service);
    server.run_forever();
}
