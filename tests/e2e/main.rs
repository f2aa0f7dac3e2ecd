//! End-to-end tests: the real gateway on port 0, real backends, real clients.

mod cli;
mod errors;
mod middlewares;
mod plugin_cli;
mod plugins;
mod proxying;
mod reload;
mod routing;
mod services;
mod support;
mod timeouts;
mod tls;
