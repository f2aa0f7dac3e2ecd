//! Sets request and response headers from its settings, and counts the
//! requests seen by its instance (`x-plugin-count`) to show that in-memory
//! state persists between requests. It has no response phase: the response
//! headers are queued in `on-request` (`set-response-headers`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmgate_plugin_sdk::{Action, Middleware, Request, export_middleware};

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

/// The headers of one phase, ready for one `set-headers` call; the last one
/// is `x-plugin-count`, rewritten in place each request (no allocation).
struct Stamp(Vec<(String, String)>);

impl Stamp {
    fn new(settings: BTreeMap<String, String>, extra: &[(&str, &str)]) -> Self {
        let mut headers: Vec<(String, String)> = settings.into_iter().collect();
        headers.extend(
            extra
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        headers.push(("x-plugin-count".to_owned(), String::with_capacity(20)));
        Stamp(headers)
    }

    /// The `x-plugin-count` value.
    fn count_mut(&mut self) -> &mut String {
        &mut self.0.last_mut().expect("x-plugin-count is always last").1
    }
}

struct HeaderStamp {
    count: u64,
    request: Stamp,
    response: Stamp,
}

impl Middleware for HeaderStamp {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        let inits = (INITS.fetch_add(1, Ordering::Relaxed) + 1).to_string();
        Ok(HeaderStamp {
            count: 0,
            request: Stamp::new(settings.request_headers, &[("x-plugin-inits", &inits)]),
            response: Stamp::new(settings.response_headers, &[]),
        })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        self.count += 1;
        let count = self.request.count_mut();
        count.clear();
        let _ = write!(count, "{}", self.count);
        let count = &self.request.0.last().expect("x-plugin-count").1;
        self.response.count_mut().clone_from(count);
        // One host call per direction; if one is refused, set them one by one
        // so the valid ones still go out and the log names the bad one.
        if req.set_headers(&self.request.0).is_err() {
            for (name, value) in &self.request.0 {
                if let Err(e) = req.set_header(name, value) {
                    wasmgate_plugin_sdk::log::warn(&format!("cannot set {name}: {e:?}"));
                }
            }
        }
        // The response headers are queued now and set by the gateway when the
        // response comes back: no response phase, so one call per request.
        if req.set_response_headers(&self.response.0).is_err() {
            for pair in &self.response.0 {
                if let Err(e) = req.set_response_headers(std::slice::from_ref(pair)) {
                    wasmgate_plugin_sdk::log::warn(&format!("cannot set {}: {e:?}", pair.0));
                }
            }
        }
        Action::Continue
    }
}

export_middleware!(HeaderStamp);
