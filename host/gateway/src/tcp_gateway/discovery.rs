//! DNS SRV discovery of etcd client endpoints, as etcd's gateway does it: the records of
//! `_etcd-client-ssl._tcp.DOMAIN` and `_etcd-client._tcp.DOMAIN` (with `-NAME` after
//! `client`/`client-ssl` when a service name is given).

use super::Endpoint;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;

/// What SRV discovery found.
#[derive(Debug, Default, PartialEq)]
pub struct Discovered {
    /// Endpoints from `_etcd-client-ssl` records (TLS).
    pub secure: Vec<Endpoint>,
    /// Endpoints from `_etcd-client` records (plain).
    pub insecure: Vec<Endpoint>,
}

/// A discovery failure: both lookups failed.
#[derive(Debug, thiserror::Error)]
#[error("DNS SRV discovery for `{domain}` failed: {secure} and {plain}")]
pub struct DiscoveryError {
    domain: String,
    secure: String,
    plain: String,
}

/// The SRV names queried for `domain`: (TLS, plain).
pub fn srv_names(domain: &str, service_name: Option<&str>) -> (String, String) {
    let domain = domain.trim_end_matches('.');
    let name = |service: &str| match service_name.filter(|n| !n.is_empty()) {
        Some(n) => format!("_{service}-{n}._tcp.{domain}."),
        None => format!("_{service}._tcp.{domain}."),
    };
    (name("etcd-client-ssl"), name("etcd-client"))
}

/// An SRV record's endpoint: the target without its final dot.
pub fn endpoint_of(priority: u16, weight: u16, port: u16, target: &str) -> Endpoint {
    Endpoint {
        host: target.trim_end_matches('.').to_owned(),
        port,
        priority,
        weight,
    }
}

/// Looks up both SRV names of `domain` with the system resolver; fails only if both lookups
/// fail, as etcd does.
pub async fn discover(
    domain: &str,
    service_name: Option<&str>,
) -> Result<Discovered, DiscoveryError> {
    let resolver = TokioResolver::builder_tokio()
        .and_then(|b| b.build())
        .map_err(|e| DiscoveryError {
            domain: domain.to_owned(),
            secure: e.to_string(),
            plain: e.to_string(),
        })?;
    discover_with(&resolver, domain, service_name).await
}

/// [`discover`] with a given resolver.
async fn discover_with(
    resolver: &TokioResolver,
    domain: &str,
    service_name: Option<&str>,
) -> Result<Discovered, DiscoveryError> {
    let (secure_name, plain_name) = srv_names(domain, service_name);
    let fail = |secure: String, plain: String| DiscoveryError {
        domain: domain.to_owned(),
        secure,
        plain,
    };
    let lookup = |name: String| async move {
        let found = resolver
            .srv_lookup(name.as_str())
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        Ok::<_, String>(
            found
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(endpoint_of(
                        srv.priority,
                        srv.weight,
                        srv.port,
                        &srv.target.to_ascii(),
                    )),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        )
    };
    let (secure, plain) = (lookup(secure_name).await, lookup(plain_name).await);
    match (secure, plain) {
        (Err(s), Err(p)) => Err(fail(s, p)),
        (s, p) => Ok(Discovered {
            secure: s.unwrap_or_default(),
            insecure: p.unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srv_names_follow_etcd() {
        assert_eq!(
            srv_names("example.com", None),
            (
                "_etcd-client-ssl._tcp.example.com.".to_owned(),
                "_etcd-client._tcp.example.com.".to_owned()
            )
        );
        assert_eq!(
            srv_names("example.com.", Some("prod")).1,
            "_etcd-client-prod._tcp.example.com."
        );
    }

    /// A DNS server on loopback that has SRV records for `_etcd-client._tcp.example.test`
    /// only; returns its port.
    async fn dns_server() -> u16 {
        use hickory_resolver::proto::op::{Message, ResponseCode};
        use hickory_resolver::proto::rr::rdata::SRV;
        use hickory_resolver::proto::rr::{Name, Record};
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = sock.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let (id, op) = (query.metadata.id, query.metadata.op_code);
                let q = query.queries[0].clone();
                let mut answer = if q.name().to_ascii() == "_etcd-client._tcp.example.test." {
                    let mut m = Message::response(id, op);
                    for (priority, weight, port, target) in [
                        (10, 60, 2379, "m0.example.test."),
                        (10, 40, 2479, "m1.example.test."),
                    ] {
                        let target = Name::from_ascii(target).unwrap();
                        let srv = SRV::new(priority, weight, port, target);
                        m.add_answer(Record::from_rdata(q.name().clone(), 60, RData::SRV(srv)));
                    }
                    m
                } else {
                    Message::error_msg(id, op, ResponseCode::NXDomain)
                };
                answer.add_query(q);
                let _ = sock.send_to(&answer.to_vec().unwrap(), peer).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn srv_records_become_endpoints() {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let mut udp = ConnectionConfig::udp();
        udp.port = dns_server().await;
        let ns = NameServerConfig::new([127, 0, 0, 1].into(), true, vec![udp]);
        let config = ResolverConfig::from_parts(None, vec![], vec![ns]);
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .unwrap();
        let found = discover_with(&resolver, "example.test", None)
            .await
            .unwrap();
        assert!(found.secure.is_empty());
        let addresses: Vec<(String, u16, u16)> = found
            .insecure
            .iter()
            .map(|e| (e.address(), e.priority, e.weight))
            .collect();
        assert_eq!(
            addresses,
            [
                ("m0.example.test:2379".to_owned(), 10, 60),
                ("m1.example.test:2479".to_owned(), 10, 40)
            ]
        );
        let err = discover_with(&resolver, "nothing.test", None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nothing.test"), "{err}");
    }

    #[test]
    fn srv_targets_lose_their_final_dot() {
        let e = endpoint_of(10, 5, 2379, "infra0.example.com.");
        assert_eq!(e.address(), "infra0.example.com:2379");
        assert_eq!((e.priority, e.weight), (10, 5));
    }
}
