//! wasmgate: a programmable gateway with Traefik's configuration dialect.
//!
//! The request path: an [`entrypoint`] accepts a connection and serves HTTP on it; each request
//! reads the published [`runtime::RuntimeConfig`], matches a router, runs its [`middleware`]
//! chain and hands the request to a [`service`], which forwards it through the [`proxy`].
//! [`provider`]s watch the dynamic configuration and publish rebuilt configurations.

pub mod accesslog;
pub mod body;
pub mod body_buffer;
pub mod cli;
pub mod context;
pub mod entrypoint;
pub mod error;
pub mod gateway;
pub mod internal;
pub mod middleware;
pub mod plugins;
pub mod provider;
pub mod proxy;
pub mod runtime;
pub mod service;
pub mod tcp;
pub mod tcp_gateway;
pub mod tls;
pub mod udp;

pub use gateway::{Gateway, GatewayConfig};
