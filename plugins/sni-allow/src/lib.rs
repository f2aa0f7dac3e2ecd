//! A TCP filter on the TLS server name: connections whose SNI matches
//! `allow` pass on to normal TCP routing, names matching a `routes` entry
//! go to that service (e.g. `*.internal` to `internal-tls`), everything
//! else (including connections without SNI) is closed. Patterns are exact
//! names or `*.domain` (any name below `domain`), case-insensitive.

use std::collections::BTreeMap;

use wasmgate_plugin_sdk::{ConnectionInfo, TcpAction, TcpFilter, export_tcp_filter, log};

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Names allowed through to normal routing.
    allow: Vec<String>,
    /// Names routed to a named TCP service (pattern to service); checked
    /// before `allow`.
    routes: BTreeMap<String, String>,
    /// Whether a connection without SNI is allowed.
    allow_missing_sni: bool,
}

struct SniAllow {
    settings: Settings,
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => name
            .strip_suffix(domain)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => pattern == name,
    }
}

impl TcpFilter for SniAllow {
    type Settings = Settings;

    fn new(mut settings: Settings) -> Result<Self, String> {
        for p in settings.allow.iter_mut() {
            p.make_ascii_lowercase();
        }
        settings.routes = settings
            .routes
            .into_iter()
            .map(|(p, s)| (p.to_ascii_lowercase(), s))
            .collect();
        if let Some((p, _)) = settings.routes.iter().find(|(_, s)| s.is_empty()) {
            return Err(format!("route `{p}` has an empty service name"));
        }
        Ok(SniAllow { settings })
    }

    fn on_connect(&mut self, info: ConnectionInfo) -> TcpAction {
        let Some(sni) = info.sni.map(|s| s.to_ascii_lowercase()) else {
            return if self.settings.allow_missing_sni {
                TcpAction::Allow
            } else {
                TcpAction::Deny
            };
        };
        let sni = sni.trim_end_matches('.');
        if let Some((_, service)) = self.settings.routes.iter().find(|(p, _)| matches(p, sni)) {
            return TcpAction::Route(service.clone());
        }
        if self.settings.allow.iter().any(|p| matches(p, sni)) {
            return TcpAction::Allow;
        }
        log::debug(&format!("denied {sni} from {}", info.client_address));
        TcpAction::Deny
    }
}

export_tcp_filter!(SniAllow);
