//! Static and dynamic configuration.
