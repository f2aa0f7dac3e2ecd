//! Sets request and response headers from its settings, and counts the
//! requests seen by its instance (`x-plugin-count`) to show that in-memory
//! state persists between requests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
    /// `count` as text, rewritten in place each request (no allocation).
    count_text: String,
    /// `INITS` as text; it does not change after `new`.
    inits_text: String,
}

impl Middleware for HeaderStamp {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        let inits = INITS.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(HeaderStamp {
            settings,
            count: 0,
            count_text: String::with_capacity(20),
            inits_text: inits.to_string(),
        })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        self.count += 1;
        for (name, value) in &self.settings.request_headers {
            if let Err(e) = req.set_header(name, value) {
                wasmgate_plugin_sdk::log::warn(&format!("cannot set {name}: {e:?}"));
            }
        }
        self.count_text.clear();
        let _ = write!(self.count_text, "{}", self.count);
        let _ = req.set_header("x-plugin-count", &self.count_text);
        let _ = req.set_header("x-plugin-inits", &self.inits_text);
        Action::Continue
    }

    fn on_response(&mut self, _req: &Request, resp: &Response) {
        for (name, value) in &self.settings.response_headers {
            let _ = resp.set_header(name, value);
        }
        let _ = resp.set_header("x-plugin-count", &self.count_text);
    }
}

export_middleware!(HeaderStamp);
