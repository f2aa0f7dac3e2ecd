//! The guest plugins (first-party ones in `plugins/`; with the `test-plugins`
//! feature also the misbehaving ones in `tests/plugins/`), built for
//! `wasm32-wasip2` by this crate's build script from source, so they are never
//! stale.
//!
//! Each plugin `foo-bar` gives `FOO_BAR` (the `.wasm` path), `FOO_BAR_WASM`
//! (its bytes) and `FOO_BAR_DIR` (its source folder).

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
