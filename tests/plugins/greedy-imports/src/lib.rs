//! Calls `outbound-http` on every request, so the component imports it:
//! loading it without the grant must be refused.

use wasmgate_plugin_sdk::outbound_http::{self, RequestRecord};
use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, export_middleware};

struct Greedy;

impl Middleware for Greedy {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Greedy)
    }
    fn on_request(&mut self, req: &Request) -> Action {
        let r = outbound_http::send(&RequestRecord {
            method: "GET".into(),
            url: "http://example.invalid/".into(),
            headers: vec![],
            body: None,
            timeout_ms: Some(100),
        });
        let _ = req.set_header("x-greedy", if r.is_ok() { "sent" } else { "failed" });
        Action::Continue
    }
}

export_middleware!(Greedy);
