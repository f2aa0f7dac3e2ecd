//! HTTP forwarding to upstream servers over pooled connections.

pub mod forward;
pub mod headers;
pub mod transport;

pub use forward::{Upstream, forward};
pub use transport::{Transport, TransportSettings};
