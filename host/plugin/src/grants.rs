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

/// Refuses a component that imports anything not granted, naming the import.
pub(crate) fn check_imports(
    engine: &Engine,
    component: &Component,
    plugin: &str,
    grants: &Grants,
) -> Result<(), PluginError> {
    for (name, item) in component.component_type().imports(engine) {
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
