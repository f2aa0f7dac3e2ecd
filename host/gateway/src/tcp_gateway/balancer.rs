//! The endpoint set of the TCP gateway: which endpoint a new connection tries, which ones are
//! marked dead, and the monitor that brings them back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long one dial may take before the endpoint counts as dead.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// One upstream endpoint: where it is and how DNS SRV ranks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// SRV priority: lower is preferred (0 for `--endpoints`).
    pub priority: u16,
    /// SRV weight within a priority (0 for `--endpoints`: plain round robin).
    pub weight: u16,
}

impl Endpoint {
    /// An endpoint from `--endpoints`: `host:port`, `[v6]:port`, or a URL whose scheme is
    /// dropped (the gateway carries bytes, not HTTP), as etcd's gateway does.
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
        let bare = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"))
            .unwrap_or(endpoint)
            .trim_end_matches('/');
        let (host, port) = bare
            .rsplit_once(':')
            .ok_or_else(|| format!("endpoint `{endpoint}` has no port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse()
            .map_err(|_| format!("endpoint `{endpoint}`: invalid port `{port}`"))?;
        if host.is_empty() {
            return Err(format!("endpoint `{endpoint}` has no host"));
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            priority: 0,
            weight: 0,
        })
    }

    /// `host:port`, as dialled.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug)]
struct Remote {
    endpoint: Endpoint,
    address: String,
    active: AtomicBool,
}

/// The endpoints and their liveness. Picking takes no lock: a round-robin counter and one
/// flag per endpoint.
#[derive(Debug)]
pub struct Balancer {
    remotes: Vec<Remote>,
    next: AtomicUsize,
}

impl Balancer {
    /// A balancer over `endpoints`, all considered alive.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        Balancer {
            remotes: endpoints
                .into_iter()
                .map(|endpoint| Remote {
                    address: endpoint.address(),
                    endpoint,
                    active: AtomicBool::new(true),
                })
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The endpoint addresses and whether each is considered alive.
    pub fn states(&self) -> Vec<(String, bool)> {
        self.remotes
            .iter()
            .map(|r| (r.address.clone(), r.active.load(Ordering::Acquire)))
            .collect()
    }

    /// The next endpoint to try, as etcd's gateway picks: among the live endpoints of the
    /// best (lowest) SRV priority, by SRV weight when there are weights (a weight-0 endpoint
    /// then gets about one pick in a hundred), otherwise round robin.
    fn pick(&self) -> Option<usize> {
        let live = |i: &usize| self.remotes[*i].active.load(Ordering::Acquire);
        let best = (0..self.remotes.len())
            .filter(live)
            .map(|i| self.remotes[i].endpoint.priority)
            .min()?;
        let class: Vec<usize> = (0..self.remotes.len())
            .filter(|i| live(i) && self.remotes[*i].endpoint.priority == best)
            .collect();
        let (weighted, unweighted): (Vec<usize>, Vec<usize>) = class
            .iter()
            .partition(|i| self.remotes[**i].endpoint.weight > 0);
        if !weighted.is_empty() {
            if !unweighted.is_empty() && rand::random_range(0..100) == 1 {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                return Some(unweighted[n % unweighted.len()]);
            }
            let total: u32 = weighted
                .iter()
                .map(|i| u32::from(self.remotes[*i].endpoint.weight))
                .sum();
            let mut choose = rand::random_range(0..total);
            for i in &weighted {
                let w = u32::from(self.remotes[*i].endpoint.weight);
                if choose < w {
                    return Some(*i);
                }
                choose -= w;
            }
        }
        // Round robin over all endpoints, skipping dead ones.
        for _ in 0..self.remotes.len() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.remotes.len();
            if class.contains(&i) {
                return Some(i);
            }
        }
        class.first().copied()
    }

    /// Dials the next live endpoint; an endpoint whose dial fails is marked dead (until the
    /// monitor finds it back) and the next one is tried. `None` when every endpoint is dead.
    pub async fn connect(&self) -> Option<(TcpStream, &str)> {
        while let Some(i) = self.pick() {
            let remote = &self.remotes[i];
            let dialled = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&remote.address))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()));
            match dialled {
                Ok(stream) => return Some((stream, &remote.address)),
                Err(error) => {
                    remote.active.store(false, Ordering::Release);
                    tracing::warn!(endpoint = %remote.address, %error, "deactivated endpoint");
                }
            }
        }
        None
    }

    /// Every `retry_delay`, dials each dead endpoint once and marks it alive if the dial
    /// succeeds; runs until `stop` turns true.
    pub async fn monitor(self: Arc<Self>, retry_delay: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(retry_delay) => {}
                _ = stop.changed() => return,
            }
            for (i, remote) in self.remotes.iter().enumerate() {
                if remote.active.load(Ordering::Acquire) {
                    continue;
                }
                let this = self.clone();
                tokio::spawn(async move {
                    let remote = &this.remotes[i];
                    let dial = TcpStream::connect(&remote.address);
                    match tokio::time::timeout(DIAL_TIMEOUT, dial).await {
                        Ok(Ok(_)) => {
                            remote.active.store(true, Ordering::Release);
                            tracing::info!(endpoint = %remote.address, "activated endpoint");
                        }
                        Ok(Err(error)) => {
                            tracing::warn!(endpoint = %remote.address, %error, ?retry_delay, "endpoint still unreachable; stays inactive for another interval");
                        }
                        Err(_) => {
                            tracing::warn!(endpoint = %remote.address, ?retry_delay, "endpoint dial timed out; stays inactive for another interval");
                        }
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16, priority: u16, weight: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
            priority,
            weight,
        }
    }

    #[test]
    fn endpoints_drop_the_scheme() {
        let e = Endpoint::parse("http://127.0.0.1:2379").unwrap();
        assert_eq!(e.address(), "127.0.0.1:2379");
        assert_eq!(
            Endpoint::parse("https://[::1]:2379/").unwrap().address(),
            "[::1]:2379"
        );
        assert!(Endpoint::parse("localhost").is_err());
    }

    #[test]
    fn plain_endpoints_take_turns_and_dead_ones_are_skipped() {
        let b = Balancer::new(vec![ep(1, 0, 0), ep(2, 0, 0), ep(3, 0, 0)]);
        let picks: Vec<usize> = (0..6).map(|_| b.pick().unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        b.remotes[1].active.store(false, Ordering::Release);
        let picks: Vec<usize> = (0..4).map(|_| b.pick().unwrap()).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        for r in &b.remotes {
            r.active.store(false, Ordering::Release);
        }
        assert_eq!(b.pick(), None);
    }

    #[test]
    fn the_best_srv_priority_wins_while_alive() {
        let b = Balancer::new(vec![ep(1, 20, 0), ep(2, 10, 5), ep(3, 10, 5)]);
        for _ in 0..20 {
            assert_ne!(b.pick(), Some(0));
        }
        b.remotes[1].active.store(false, Ordering::Release);
        b.remotes[2].active.store(false, Ordering::Release);
        assert_eq!(b.pick(), Some(0));
    }
}
