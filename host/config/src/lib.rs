//! Traefik-compatible configuration for wasmgate.
//!
//! A Traefik user brings their configuration and gets the same routing: this crate models
//! Traefik v3's static configuration ([`StaticConfig`]: entry points, providers, logs) and
//! dynamic configuration ([`DynamicConfig`]: HTTP/TCP/UDP routers, services, middlewares,
//! TLS) with Traefik's key names, reads them from YAML or TOML, and validates them.
//!
//! Errors ([`ConfigError`]) carry the file, line and column, the Traefik key path, and a
//! "did you mean" suggestion for misspelt keys and names. Loading reports every problem it
//! finds ([`ConfigErrors`]), not just the first. Traefik features wasmgate does not
//! implement are reported as "unsupported Traefik feature", never silently ignored.
//!
//! Keys are matched case-insensitively and scalars are converted as Traefik does
//! (`port: 443` for a string option), so configurations Traefik accepts are read alike.

pub mod duration;
pub mod error;
pub mod features;
pub mod kv;
pub mod model;

mod decode;
mod defaults;
mod load;
mod locate;
mod shape;
mod sources;
mod suggest;
mod validate;

pub use defaults::{DEFAULT_DYNAMIC_YAML, DEFAULT_STATIC_YAML, default_dynamic, default_static};
pub use duration::{Duration, DurationError};
pub use error::{ConfigError, ConfigErrors};
pub use features::{
    IMPLEMENTED_LB_STRATEGIES, IMPLEMENTED_MIDDLEWARES, INTERNAL_SERVICES, NameRef,
    UNSUPPORTED_PREFIX, resolve_name,
};
pub use load::{
    Checked, Format, check, load_dynamic, load_dynamic_checked, load_dynamic_dir, load_static,
    parse_dynamic, parse_static, read_dynamic_unvalidated,
};
pub use model::*;
pub use validate::validate;
