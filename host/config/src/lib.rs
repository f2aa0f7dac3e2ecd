//! Static and dynamic configuration.

pub mod duration;
pub mod error;
pub(crate) mod features;
pub(crate) mod locate;
pub(crate) mod suggest;

pub use duration::{Duration, DurationError};
pub use error::{ConfigError, ConfigErrors};
