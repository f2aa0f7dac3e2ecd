//! A fixed-window rate limiter on the `kv` store: at most `limit` requests
//! per `windowMs` per key (a header's value, else the client address);
//! past it, answers 429.

use std::time::Duration;

use wasmgate_plugin_sdk::{Action, HttpResponse, Middleware, Request, export_middleware, kv, log};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    limit: i64,
    #[serde(default = "default_window")]
    window_ms: u64,
    #[serde(default)]
    key_header: Option<String>,
}

fn default_window() -> u64 {
    1000
}

struct RateLimiter {
    settings: Settings,
}

impl Middleware for RateLimiter {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.limit < 1 || settings.window_ms == 0 {
            return Err("limit and windowMs must be positive".into());
        }
        Ok(RateLimiter { settings })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        let who = self
            .settings
            .key_header
            .as_deref()
            .and_then(|h| req.header(h))
            .or_else(|| {
                req.client_address().map(|a| {
                    a.rsplit_once(':')
                        .map_or(a.clone(), |(ip, _)| ip.to_owned())
                })
            })
            .unwrap_or_else(|| "anonymous".to_owned());
        let window = Duration::from_millis(self.settings.window_ms);
        match kv::increment(&format!("rl:{who}"), 1, Some(window)) {
            Ok(n) if n > self.settings.limit => Action::Respond(HttpResponse {
                status: 429,
                headers: vec![
                    ("content-type".into(), "text/plain".into()),
                    (
                        "retry-after".into(),
                        self.settings.window_ms.div_ceil(1000).to_string(),
                    ),
                ],
                body: b"rate limit exceeded\n".to_vec(),
            }),
            Ok(n) => {
                let left = self.settings.limit - n;
                let _ = req.set_header("x-ratelimit-remaining", &left.to_string());
                Action::Continue
            }
            Err(e) => {
                log::warn(&format!("kv failed, letting the request through: {e:?}"));
                Action::Continue
            }
        }
    }
}

export_middleware!(RateLimiter);
