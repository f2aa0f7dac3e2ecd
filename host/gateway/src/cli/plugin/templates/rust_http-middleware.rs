//! {{description}}

use wasmgate_plugin_sdk::{Action, Middleware, Request, Response, export_middleware};

{{settings}}
/// One instance's state: it lives as long as the instance.
struct Plugin {
    settings: Settings,
    seen: u64,
}

impl Middleware for Plugin {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.header.is_empty() {
            return Err("`header` must not be empty".to_owned());
        }
        Ok(Plugin { settings, seen: 0 })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        self.seen += 1;
        if let Err(e) = req.set_header(&self.settings.header, &self.settings.value) {
            wasmgate_plugin_sdk::log::warn(&format!("cannot set {}: {e:?}", self.settings.header));
        }
        Action::Continue
    }

    fn on_response(&mut self, _req: &Request, resp: &Response) {
        let _ = resp.set_header(&self.settings.header, &self.settings.value);
    }
}

export_middleware!(Plugin);
{{tests}}
