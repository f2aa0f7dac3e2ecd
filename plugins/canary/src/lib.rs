//! A route matcher for canary releases: matches requests that carry a
//! header (optionally with a given value), or a percentage of the others.

use std::hash::{BuildHasher, RandomState};

use wasmgate_plugin_sdk::{Request, RouteMatcher, export_route_matcher};

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// A header that sends the request to the canary.
    header: Option<String>,
    /// The value the header must have (any value when absent).
    value: Option<String>,
    /// Percentage (0..=100) of the other requests sent to the canary.
    percent: u8,
}

struct Canary {
    settings: Settings,
    random: RandomState,
    n: u64,
}

impl RouteMatcher for Canary {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.percent > 100 {
            return Err("percent must be at most 100".into());
        }
        // RandomState draws its keys from WASI random.
        Ok(Canary {
            settings,
            random: RandomState::new(),
            n: 0,
        })
    }

    fn matches(&mut self, req: &Request) -> bool {
        if let Some(h) = &self.settings.header
            && let Some(v) = req.header(h)
            && self.settings.value.as_ref().is_none_or(|want| *want == v)
        {
            return true;
        }
        if self.settings.percent == 0 {
            return false;
        }
        self.n += 1;
        self.random.hash_one(self.n) % 100 < u64::from(self.settings.percent)
    }
}

export_route_matcher!(Canary);
