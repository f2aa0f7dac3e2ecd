//! Gives every request an id: sets `x-request-id` (or the configured
//! header) when the client did not send one, and echoes the id on the
//! response. Ids are 128 random bits from WASI random, as hex.

use std::hash::{BuildHasher, RandomState};

use wasmgate_plugin_sdk::{Action, Middleware, Request, export_middleware};

#[derive(serde::Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The header carrying the id.
    header: String,
    /// Whether to copy the id onto the response.
    echo: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            header: "x-request-id".into(),
            echo: true,
        }
    }
}

struct RequestId {
    settings: Settings,
    /// Keyed from WASI random once per instance.
    random: RandomState,
    n: u64,
}

impl RequestId {
    fn next_id(&mut self) -> String {
        self.n += 1;
        let hi = self.random.hash_one((self.n, 0u8));
        let lo = self.random.hash_one((self.n, 1u8));
        format!("{hi:016x}{lo:016x}")
    }
}

impl Middleware for RequestId {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.header.is_empty() {
            return Err("header must not be empty".into());
        }
        Ok(RequestId {
            settings,
            random: RandomState::new(),
            n: 0,
        })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        let header = &self.settings.header;
        let id = match req.header(header).filter(|v| !v.is_empty()) {
            Some(id) => id,
            None => {
                let id = self.next_id();
                if let Err(e) = req.set_header(&self.settings.header, &id) {
                    wasmgate_plugin_sdk::log::warn(&format!(
                        "cannot set {}: {e:?}",
                        self.settings.header
                    ));
                }
                id
            }
        };
        if self.settings.echo {
            // Set on the response by the gateway: no response phase needed.
            let _ = req.set_response_headers(&[(self.settings.header.clone(), id)]);
        }
        Action::Continue
    }
}

export_middleware!(RequestId);
