//! Sets request and response headers from its settings, and counts the
//! requests seen by its instance (`x-plugin-count`) to show that in-memory
//! state persists between requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmgate_plugin_sdk::{Action, Middleware, Request, Response, export_middleware};

/// How many times `configure` ran in this instance (always 1).
static INITS: AtomicU32 = AtomicU32::new(0);

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Headers set on the request.
    request_headers: BTreeMap<String, String>,
    /// Headers set on the response.
    response_headers: BTreeMap<String, String>,
}

struct HeaderStamp {
    settings: Settings,
    count: u64,
}

impl Middleware for HeaderStamp {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        INITS.fetch_add(1, Ordering::Relaxed);
        Ok(HeaderStamp { settings, count: 0 })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        self.count += 1;
        for (name, value) in &self.settings.request_headers {
            if let Err(e) = req.set_header(name, value) {
                wasmgate_plugin_sdk::log::warn(&format!("cannot set {name}: {e:?}"));
            }
        }
        let _ = req.set_header("x-plugin-count", &self.count.to_string());
        let _ = req.set_header("x-plugin-inits", &INITS.load(Ordering::Relaxed).to_string());
        Action::Continue
    }

    fn on_response(&mut self, _req: &Request, resp: &Response) {
        for (name, value) in &self.settings.response_headers {
            let _ = resp.set_header(name, value);
        }
        let _ = resp.set_header("x-plugin-count", &self.count.to_string());
    }
}

export_middleware!(HeaderStamp);
