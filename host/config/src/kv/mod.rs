//! Traefik's key-value layout (etcd, Consul, Redis, ZooKeeper providers).
//!
//! A dynamic configuration is stored as one key per leaf value under a root key:
//! `traefik/http/routers/api/rule` = ``Host(`a`)``, list items under numeric segments
//! (`.../entryPoints/0`), and an empty value for a section that is present without settings
//! (`.../tls` = ``). Key segments are matched case-insensitively, as Traefik does.
//!
//! [`decode`] turns key-value pairs into the same [`DynamicConfig`](crate::DynamicConfig)
//! the file provider produces, through the same decoder and validation, with every error
//! naming its key; [`encode`] writes a configuration file's content as key-value pairs.

mod decode;
mod encode;

pub use decode::{decode, decode_unvalidated, layout_errors, to_yaml, tree};
pub use encode::{encode, encode_file};

/// The default root key, as in Traefik.
pub const DEFAULT_ROOT_KEY: &str = "traefik";

/// The key prefix (`root/`) of every key under `root_key`, without a leading slash.
pub fn prefix(root_key: &str) -> String {
    format!("{}/", root_key.trim_matches('/'))
}
