//! Traefik-compatible router rule language.
