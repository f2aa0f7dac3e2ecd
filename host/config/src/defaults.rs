//! The built-in configuration used when none is given.

use crate::load::{Format, parse_dynamic, parse_static};
use crate::model::{DynamicConfig, StaticConfig};

/// Built-in static configuration: entry point `web` on `127.0.0.1:8080`.
pub const DEFAULT_STATIC_YAML: &str = include_str!("default/static.yml");

/// Built-in dynamic configuration: router `whoami` (``PathPrefix(`/`)``) to
/// `whoami@internal`.
pub const DEFAULT_DYNAMIC_YAML: &str = include_str!("default/dynamic.yml");

/// The built-in static configuration, parsed.
pub fn default_static() -> StaticConfig {
    parse_static(DEFAULT_STATIC_YAML, Format::Yaml, "<built-in static.yml>")
        .unwrap_or_else(|e| unreachable!("built-in static configuration is invalid: {e}"))
}

/// The built-in dynamic configuration, parsed.
pub fn default_dynamic() -> DynamicConfig {
    parse_dynamic(DEFAULT_DYNAMIC_YAML, Format::Yaml, "<built-in dynamic.yml>")
        .unwrap_or_else(|e| unreachable!("built-in dynamic configuration is invalid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_configuration_is_valid() {
        let s = default_static();
        assert_eq!(s.entry_points["web"].address, "127.0.0.1:8080");
        let d = default_dynamic();
        let r = &d.http.routers["whoami"];
        assert_eq!(r.rule, "PathPrefix(`/`)");
        assert_eq!(r.service.as_deref(), Some("whoami@internal"));
        assert!(crate::validate(Some(&s), &d).is_empty());
    }
}
