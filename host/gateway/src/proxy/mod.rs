//! HTTP forwarding to upstream servers over pooled connections.

pub mod forward;
pub mod headers;
pub mod relay;
pub mod transport;

pub use forward::{Upstream, forward};
pub use relay::{Stream, relay};
pub use transport::{Transport, TransportSettings};
