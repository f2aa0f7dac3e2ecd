//! Does nothing in both phases: `on-request` continues and `on-response` returns, neither
//! reading anything. What it costs per request is the floor of a plugin with a response
//! phase: two calls, and an instance held while the service answers.

use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, Response, export_middleware};

struct NoopBoth;

impl Middleware for NoopBoth {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(NoopBoth)
    }
    fn on_request(&mut self, _req: &Request) -> Action {
        Action::Continue
    }
    fn on_response(&mut self, _req: &Request, _resp: &Response) {}
}

export_middleware!(NoopBoth);
