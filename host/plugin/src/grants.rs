//! Import checking: a component may import only what its plugin is granted.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::error::PluginError;
use crate::spec::Grants;

/// WASI preview 2 interfaces every plugin may import. There are no preopened
/// directories, no environment and no arguments, so `wasi:filesystem` and
/// `wasi:cli/environment` give nothing away.
const ALWAYS: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:io/",
    "wasi:filesystem/",
    "wasmgate:plugin/types@",
    "wasmgate:plugin/log@",
    "wasmgate:plugin/tcp-types@",
];

/// The version of the `wasmgate:plugin` WIT package this host implements
/// (the `package` line of `wit/types.wit`).
pub fn wit_version() -> &'static str {
    const TYPES: &str = include_str!("../../../wit/types.wit");
    TYPES
        .lines()
        .find_map(|l| l.trim().strip_prefix("package wasmgate:plugin@"))
        .map_or("0.0.0", |v| v.trim_end_matches(';').trim())
}

/// Whether a component built against `version` of `wasmgate:plugin` links
/// with this host: the same major version, and for 0.x the same minor, no
/// newer than ours.
pub fn wit_compatible(version: &str) -> bool {
    let (Ok(theirs), Ok(ours)) = (
        semver::Version::parse(version),
        semver::Version::parse(wit_version()),
    ) else {
        return false;
    };
    theirs.major == ours.major && (ours.major > 0 || theirs.minor == ours.minor) && theirs <= ours
}

/// Refuses a component that imports anything not granted, naming the import.
pub(crate) fn check_imports(
    engine: &Engine,
    component: &Component,
    plugin: &str,
    grants: &Grants,
) -> Result<(), PluginError> {
    for (name, item) in component.component_type().imports(engine) {
        if let Some(version) = name
            .strip_prefix("wasmgate:plugin/")
            .and_then(|rest| rest.split_once('@'))
            .map(|(_, v)| v)
            && !wit_compatible(version)
        {
            return Err(PluginError::WitVersion {
                plugin: plugin.to_owned(),
                import: name.to_owned(),
                ours: wit_version(),
            });
        }
        // Type imports (from a world's `use`) carry no capability.
        if matches!(item.ty, ComponentItem::Type(_) | ComponentItem::Resource(_)) {
            continue;
        }
        let refused = |hint: &str| PluginError::NotGranted {
            plugin: plugin.to_owned(),
            import: name.to_owned(),
            hint: hint.to_owned(),
        };
        if ALWAYS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        if name.starts_with("wasmgate:plugin/kv@") {
            if grants.kv {
                continue;
            }
            return Err(refused(" (add the `kv` grant)"));
        }
        if name.starts_with("wasmgate:plugin/outbound-http@") {
            if grants.outbound_http.is_some() {
                continue;
            }
            return Err(refused(
                " (add an `outbound-http` grant listing the allowed hosts)",
            ));
        }
        return Err(refused(" (the gateway does not provide it to plugins)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{wit_compatible, wit_version};

    #[test]
    fn versions_of_the_same_minor_and_no_newer_are_compatible() {
        let ours = semver::Version::parse(wit_version()).unwrap();
        assert!(wit_compatible(wit_version()));
        let older_minor = format!("{}.{}.0", ours.major, ours.minor.saturating_sub(1));
        assert_eq!(
            wit_compatible(&older_minor),
            ours.minor == 0 && ours.major > 0
        );
        assert!(!wit_compatible(&format!(
            "{}.{}.0",
            ours.major,
            ours.minor + 1
        )));
        assert!(!wit_compatible(&format!("{}.0.0", ours.major + 1)));
        assert!(!wit_compatible("not-a-version"));
    }
}
