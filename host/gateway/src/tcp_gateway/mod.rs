//! The TCP gateway (`wasmgate gateway start`): etcd's gateway on wasmgate's TCP relay.
//!
//! Client connections are spread round robin over the endpoints; an endpoint whose dial fails
//! is marked dead and the next one is tried; dead endpoints are dialled again every retry
//! delay and come back when they answer. The gateway serves while any endpoint lives.

mod balancer;
pub mod discovery;

pub use balancer::{Balancer, Endpoint};

use crate::proxy::relay;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A bound TCP gateway.
#[derive(Debug)]
pub struct TcpGateway {
    listener: TcpListener,
    balancer: Arc<Balancer>,
    retry_delay: Duration,
}

impl TcpGateway {
    /// Listens on `listen` for connections to spread over `endpoints`; dead endpoints are
    /// retried every `retry_delay`.
    pub async fn bind(
        listen: SocketAddr,
        endpoints: Vec<Endpoint>,
        retry_delay: Duration,
    ) -> io::Result<Self> {
        Ok(TcpGateway {
            listener: TcpListener::bind(listen).await?,
            balancer: Arc::new(Balancer::new(endpoints)),
            retry_delay,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The endpoints and whether each is considered alive.
    pub fn balancer(&self) -> &Arc<Balancer> {
        &self.balancer
    }

    /// Accepts and relays connections until `stop` turns true.
    pub async fn serve(self, mut stop: watch::Receiver<bool>) {
        let monitor = tokio::spawn(
            self.balancer
                .clone()
                .monitor(self.retry_delay, stop.clone()),
        );
        loop {
            let (client, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(error) => {
                        // Out of file descriptors and the like: wait a little, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let balancer = self.balancer.clone();
            tokio::spawn(async move {
                let Some((upstream, endpoint)) = balancer.connect().await else {
                    tracing::warn!(client = %peer, "no endpoint is reachable; connection closed");
                    return;
                };
                let endpoint = endpoint.to_owned();
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                match relay::relay(client.into(), upstream.into()).await {
                    Ok((up, down)) => {
                        tracing::debug!(client = %peer, %endpoint, up, down, "connection closed");
                    }
                    Err(error) => {
                        tracing::debug!(client = %peer, %endpoint, %error, "connection ended");
                    }
                }
            });
        }
        monitor.abort();
    }
}
