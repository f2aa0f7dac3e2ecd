//! Host bindings generated from the one WIT folder (`wit/`), one module per
//! world. The worlds share their imported interfaces: the route-matcher and
//! tcp-filter bindings reuse the types generated for the middleware world.

#![allow(missing_docs)]

/// The `http-middleware` world and the shared interfaces
/// (`types`, `log`, `kv`, `outbound-http`).
pub mod middleware {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "http-middleware",
        imports: {
            "wasmgate:plugin/kv": async | trappable,
            "wasmgate:plugin/outbound-http": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "wasmgate:plugin/types.request": crate::http::RequestEntry,
            "wasmgate:plugin/types.response": crate::http::ResponseEntry,
        },
    });
}

/// The `route-matcher` world.
pub mod matcher {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "route-matcher",
        exports: { default: async },
        with: {
            "wasmgate:plugin/types": crate::bindings::middleware::wasmgate::plugin::types,
            "wasmgate:plugin/log": crate::bindings::middleware::wasmgate::plugin::log,
        },
    });
}

/// The `tcp-filter` world and the `tcp-types` interface.
pub mod tcp {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "tcp-filter",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "wasmgate:plugin/kv": crate::bindings::middleware::wasmgate::plugin::kv,
            "wasmgate:plugin/log": crate::bindings::middleware::wasmgate::plugin::log,
        },
    });
}

pub use middleware::wasmgate::plugin::{kv, log, outbound_http, types};
pub use tcp::wasmgate::plugin::tcp_types;
