//! Providers of dynamic configuration and the reload loop that applies them.

pub mod aggregate;
pub mod etcd;
mod etcd_client;
pub mod file;
pub mod registry_watch;
pub mod reload;

pub use file::DynamicSource;
pub use reload::{ReloadOutcome, Reloader, watch_loop, watch_providers};
