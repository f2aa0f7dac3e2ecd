//! Write wasmgate plugins in Rust.
//!
//! A plugin is a type implementing [`Middleware`], [`RouteMatcher`] or
//! [`TcpFilter`], exported with [`export_middleware!`],
//! [`export_route_matcher!`] or [`export_tcp_filter!`], and built for
//! `wasm32-wasip2` as a `cdylib`:
//!
//! ```ignore
//! use wasmgate_plugin_sdk::{Action, Middleware, Request, export_middleware};
//!
//! #[derive(serde::Deserialize)]
//! struct Settings { header: String }
//!
//! struct Stamp { header: String }
//!
//! impl Middleware for Stamp {
//!     type Settings = Settings;
//!     fn new(s: Settings) -> Result<Self, String> { Ok(Stamp { header: s.header }) }
//!     fn on_request(&mut self, req: &Request) -> Action {
//!         let _ = req.set_header(&self.header, "1");
//!         Action::Continue
//!     }
//! }
//!
//! export_middleware!(Stamp);
//! ```
//!
//! The gateway creates several instances of a plugin and calls `new` once
//! per instance; the value lives as long as the instance, so fields keep
//! state between requests (per instance, not across instances: use [`kv`]
//! for shared state).

#![allow(unsafe_code)] // the generated bindings are FFI

extern crate self as wasmgate_plugin_sdk;

use serde::de::DeserializeOwned;

/// Bindings generated from the one WIT folder, `wit/` at the repository
/// root. Use the re-exports at the crate root instead.
#[doc(hidden)]
pub mod bindings {
    /// The `http-middleware` world, which also defines the shared interfaces.
    pub mod middleware {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "http-middleware",
            pub_export_macro: true,
            runtime_path: "wasmgate_plugin_sdk::__rt",
        });
    }

    /// The `route-matcher` world.
    pub mod matcher {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "route-matcher",
            pub_export_macro: true,
            runtime_path: "wasmgate_plugin_sdk::__rt",
            with: {
                "wasmgate:plugin/types@0.2.2": crate::bindings::middleware::wasmgate::plugin::types,
                "wasmgate:plugin/log@0.2.2": crate::bindings::middleware::wasmgate::plugin::log,
            },
        });
    }

    /// The `tcp-filter` world.
    pub mod tcp {
        wit_bindgen::generate!({
            path: "../../wit",
            world: "tcp-filter",
            pub_export_macro: true,
            runtime_path: "wasmgate_plugin_sdk::__rt",
            with: {
                "wasmgate:plugin/log@0.2.2": crate::bindings::middleware::wasmgate::plugin::log,
                "wasmgate:plugin/kv@0.2.2": crate::bindings::middleware::wasmgate::plugin::kv,
            },
        });
    }
}

#[doc(hidden)]
pub use wit_bindgen::rt as __rt;

pub use bindings::middleware::wasmgate::plugin::types::{
    Action, HttpError, HttpResponse, Request, Response,
};
pub use bindings::tcp::wasmgate::plugin::tcp_types::{ConnectionInfo, TcpAction};

impl Action {
    /// A response with a status, one content type and a body.
    pub fn respond(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Action {
        Action::Respond(HttpResponse {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into(),
        })
    }
}

/// Logging into the gateway's log (always granted).
pub mod log {
    use crate::bindings::middleware::wasmgate::plugin::log as wit;
    pub use wit::Level;

    /// Writes a record at `level`.
    pub fn log(level: Level, message: &str) {
        wit::log(level, message)
    }
    /// Whether records at `level` are recorded.
    pub fn enabled(level: Level) -> bool {
        wit::enabled(level)
    }
    /// Writes a debug record.
    pub fn debug(message: &str) {
        wit::log(Level::Debug, message)
    }
    /// Writes an info record.
    pub fn info(message: &str) {
        wit::log(Level::Info, message)
    }
    /// Writes a warning.
    pub fn warn(message: &str) {
        wit::log(Level::Warn, message)
    }
    /// Writes an error record.
    pub fn error(message: &str) {
        wit::log(Level::Error, message)
    }
}

/// Key-value storage private to the plugin (needs the `kv` grant).
pub mod kv {
    use std::time::Duration;

    use crate::bindings::middleware::wasmgate::plugin::kv as wit;
    pub use wit::KvError;

    fn ms(ttl: Option<Duration>) -> Option<u64> {
        ttl.map(|t| t.as_millis().min(u64::MAX as u128) as u64)
    }

    /// The value of `key`, if present and not expired.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        wit::get(key)
    }
    /// Stores `value`, expiring after `ttl` if given.
    pub fn set(key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        wit::set(key, value, ms(ttl))
    }
    /// Removes `key`; true if it existed.
    pub fn delete(key: &str) -> Result<bool, KvError> {
        wit::delete(key)
    }
    /// Atomically adds `delta`; `ttl` applies when the key is created (a
    /// fixed window).
    pub fn increment(key: &str, delta: i64, ttl: Option<Duration>) -> Result<i64, KvError> {
        wit::increment(key, delta, ms(ttl))
    }
}

/// Outbound HTTP to allowlisted hosts (needs the `outbound-http` grant).
pub mod outbound_http {
    use crate::bindings::middleware::wasmgate::plugin::outbound_http as wit;
    pub use wit::{Error, RequestRecord, ResponseRecord};

    /// Sends a request and waits for the whole response.
    pub fn send(request: &RequestRecord) -> Result<ResponseRecord, Error> {
        wit::send(request)
    }
}

/// An HTTP middleware.
pub trait Middleware: Sized + 'static {
    /// The settings, deserialized from the JSON given to `configure`.
    type Settings: DeserializeOwned;
    /// Builds the per-instance value (`configure`); an error refuses the plugin.
    fn new(settings: Self::Settings) -> Result<Self, String>;
    /// Called before the service; the default continues.
    fn on_request(&mut self, req: &Request) -> Action {
        let _ = req;
        Action::Continue
    }
    /// Called with the response; the default does nothing. A plugin that
    /// keeps this default has no response phase: the gateway stops calling
    /// it after the first response and gives the instance back as soon as
    /// `on_request` returns, which makes each request cheaper.
    ///
    /// It runs on the instance that ran the request's `on_request`, unless
    /// the plugin is configured with `instancePerRequest: false`: then any
    /// instance may run it, and what `on_request` kept in `self` may belong
    /// to another request.
    fn on_response(&mut self, req: &Request, resp: &Response) {
        let _ = (req, resp);
        __private::NO_RESPONSE_PHASE.set(true);
    }
}

/// A custom routing rule.
pub trait RouteMatcher: Sized + 'static {
    /// The settings, deserialized from the JSON given to `configure`.
    type Settings: DeserializeOwned;
    /// Builds the per-instance value (`configure`).
    fn new(settings: Self::Settings) -> Result<Self, String>;
    /// Whether the request matches (the request is read-only).
    fn matches(&mut self, req: &Request) -> bool;
}

/// A TCP connection filter.
pub trait TcpFilter: Sized + 'static {
    /// The settings, deserialized from the JSON given to `configure`.
    type Settings: DeserializeOwned;
    /// Builds the per-instance value (`configure`).
    fn new(settings: Self::Settings) -> Result<Self, String>;
    /// Decides what happens to a new connection.
    fn on_connect(&mut self, info: ConnectionInfo) -> TcpAction;
}

/// Settings type for plugins that take none (accepts and ignores anything).
pub type NoSettings = serde::de::IgnoredAny;

/// Parses settings JSON (empty means `{}`).
pub fn parse_settings<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| format!("invalid settings: {e}"))
}

#[doc(hidden)]
pub mod __private {
    use std::cell::{Cell, RefCell};
    use std::thread::LocalKey;

    use serde::de::DeserializeOwned;

    pub use crate::bindings::matcher::Guest as MatcherGuest;
    pub use crate::bindings::middleware::Guest as MiddlewareGuest;
    pub use crate::bindings::tcp::Guest as TcpGuest;

    /// The plugin value of this instance, set by `configure`.
    pub type State<T> = LocalKey<RefCell<Option<T>>>;

    thread_local! {
        /// Set by the default `Middleware::on_response`.
        pub static NO_RESPONSE_PHASE: Cell<bool> = const { Cell::new(false) };
    }

    /// `configure`: parses the settings and builds the instance's value.
    pub fn configure<T: 'static, S: DeserializeOwned>(
        state: &'static State<T>,
        settings: &str,
        new: fn(S) -> Result<T, String>,
    ) -> Result<(), String> {
        let value = new(crate::parse_settings(settings)?)?;
        state.with(|c| *c.borrow_mut() = Some(value));
        Ok(())
    }

    /// Runs `f` on the instance's value; `unset` when `configure` did not run.
    pub fn with<T: 'static, R>(
        state: &'static State<T>,
        unset: R,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        state.with(|c| c.borrow_mut().as_mut().map_or(unset, f))
    }

    /// `on-response`: runs the plugin's and says whether it has one.
    pub fn on_response<T: crate::Middleware>(
        state: &'static State<T>,
        req: &crate::Request,
        resp: &crate::Response,
    ) -> bool {
        NO_RESPONSE_PHASE.set(false);
        with(state, (), |m| m.on_response(req, resp));
        !NO_RESPONSE_PHASE.get()
    }
}

/// Declares the instance's state and the `Export` type for a world's glue.
#[doc(hidden)]
#[macro_export]
macro_rules! __state {
    ($ty:ty) => {
        ::std::thread_local! {
            static STATE: ::std::cell::RefCell<::std::option::Option<$ty>> =
                const { ::std::cell::RefCell::new(::std::option::Option::None) };
        }
        struct Export;
    };
}

/// Exports a [`Middleware`] type as the component's `http-middleware` world.
#[macro_export]
macro_rules! export_middleware {
    ($ty:ty) => {
        const _: () = {
            $crate::__state!($ty);
            impl $crate::__private::MiddlewareGuest for Export {
                fn configure(settings: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::configure(&STATE, &settings, <$ty as $crate::Middleware>::new)
                }
                fn on_request(req: &$crate::Request) -> $crate::Action {
                    $crate::__private::with(&STATE, $crate::Action::Continue, |m| $crate::Middleware::on_request(m, req))
                }
                fn on_response(req: &$crate::Request, resp: &$crate::Response) -> bool {
                    $crate::__private::on_response(&STATE, req, resp)
                }
            }
            $crate::__export_http_middleware_impl!(Export with_types_in $crate::bindings::middleware);
        };
    };
}

/// Exports a [`RouteMatcher`] type as the component's `route-matcher` world.
#[macro_export]
macro_rules! export_route_matcher {
    ($ty:ty) => {
        const _: () = {
            $crate::__state!($ty);
            impl $crate::__private::MatcherGuest for Export {
                fn configure(
                    settings: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::configure(
                        &STATE,
                        &settings,
                        <$ty as $crate::RouteMatcher>::new,
                    )
                }
                fn matches(req: &$crate::Request) -> bool {
                    $crate::__private::with(&STATE, false, |m| {
                        $crate::RouteMatcher::matches(m, req)
                    })
                }
            }
    $crate::__export_route_matcher_impl!(Export with_types_in $crate::bindings::matcher);
        };
    };
}

/// Exports a [`TcpFilter`] type as the component's `tcp-filter` world.
#[macro_export]
macro_rules! export_tcp_filter {
    ($ty:ty) => {
        const _: () = {
            $crate::__state!($ty);
            impl $crate::__private::TcpGuest for Export {
                fn configure(
                    settings: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::configure(&STATE, &settings, <$ty as $crate::TcpFilter>::new)
                }
                fn on_connect(info: $crate::ConnectionInfo) -> $crate::TcpAction {
                    $crate::__private::with(&STATE, $crate::TcpAction::Allow, |f| {
                        $crate::TcpFilter::on_connect(f, info)
                    })
                }
            }
    $crate::__export_tcp_filter_impl!(Export with_types_in $crate::bindings::tcp);
        };
    };
}
