//! {{description}}

use wasmgate_plugin_sdk::{Request, RouteMatcher, export_route_matcher};

{{settings}}
struct Plugin {
    settings: Settings,
}

impl RouteMatcher for Plugin {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.header.is_empty() {
            return Err("`header` must not be empty".to_owned());
        }
        Ok(Plugin { settings })
    }

    fn matches(&mut self, req: &Request) -> bool {
        req.header(&self.settings.header).as_deref() == Some(self.settings.value.as_str())
    }
}

export_route_matcher!(Plugin);
{{tests}}
