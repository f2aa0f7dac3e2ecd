//! Does nothing: `on-request` continues without reading the request, and there is no
//! response phase. What it costs per request is the floor of a plugin call (the runtime's
//! call machinery), which the benchmarks compare real plugins against.

use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, export_middleware};

struct Noop;

impl Middleware for Noop {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Noop)
    }
    fn on_request(&mut self, _req: &Request) -> Action {
        Action::Continue
    }
}

export_middleware!(Noop);
