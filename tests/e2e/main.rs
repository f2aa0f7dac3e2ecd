//! End-to-end tests: the real gateway on port 0, real backends, real clients.

mod cli;
mod errors;
mod etcd;
mod etcd_gateway;
mod middlewares;
mod plugin_cli;
mod plugin_response_headers;
mod plugins;
mod proxying;
mod redis_kv;
mod reload;
mod routing;
mod services;
mod support;
mod tcp;
mod timeouts;
mod tls;
mod udp;
