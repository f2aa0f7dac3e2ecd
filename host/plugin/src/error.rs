//! Errors of loading plugins and of calling them.

use std::fmt;

/// The entry point of a plugin that was running when a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Instantiation and `configure(settings)`.
    Configure,
    /// `on-request` of an HTTP middleware.
    OnRequest,
    /// `on-response` of an HTTP middleware.
    OnResponse,
    /// `matches` of a route matcher.
    Matches,
    /// `on-connect` of a TCP filter.
    OnConnect,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Configure => "configure",
            Phase::OnRequest => "on-request",
            Phase::OnResponse => "on-response",
            Phase::Matches => "matches",
            Phase::OnConnect => "on-connect",
        })
    }
}

/// Why a plugin call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access, a
    /// failed host call).
    Trap,
    /// The call ran past the plugin's time limit.
    Timeout,
    /// The guest tried to grow its memory past the plugin's limit.
    Memory,
    /// Every instance was busy for longer than the acquire timeout.
    Busy,
    /// The guest returned something the host cannot use (an invalid status,
    /// header, or a `configure` error).
    Invalid,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureReason::Trap => "trap",
            FailureReason::Timeout => "timeout",
            FailureReason::Memory => "memory limit",
            FailureReason::Busy => "busy",
            FailureReason::Invalid => "invalid result",
        })
    }
}

/// A failed plugin call. Only that call failed: a trapped, timed-out or
/// overrun instance has been thrown away and will be replaced on demand.
/// The gateway applies the plugin's failure policy (fail closed or open).
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin `{plugin}` failed in {phase}: {reason}: {message}")]
pub struct CallError {
    /// The plugin's name.
    pub plugin: String,
    /// What was running.
    pub phase: Phase,
    /// The class of failure.
    pub reason: FailureReason,
    /// The error text (trap message, configure error).
    pub message: String,
    /// The guest backtrace, one frame per line, when the guest trapped.
    pub backtrace: Option<String>,
}

/// Errors of the plugin runtime.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A call failed; see [`CallError`].
    #[error(transparent)]
    Call(#[from] CallError),
    /// The engine could not be created.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// Reading a wasm file, manifest or registry folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The wasm is not a valid component, or does not fit the world.
    #[error("plugin `{plugin}`: cannot compile: {message}")]
    Compile {
        /// The plugin's name.
        plugin: String,
        /// What the compiler or linker said.
        message: String,
    },
    /// The component imports an interface its configuration does not grant.
    #[error("plugin `{plugin}` imports `{import}`, which is not granted{hint}")]
    NotGranted {
        /// The plugin's name.
        plugin: String,
        /// The full import name, e.g. `wasmgate:plugin/outbound-http@0.2.2`.
        import: String,
        /// How to grant it, if it can be granted.
        hint: String,
    },
    /// The component was built against another, incompatible version of the
    /// `wasmgate:plugin` WIT package.
    #[error(
        "plugin `{plugin}` was built against `{import}`, but this gateway implements wasmgate:plugin@{ours}: rebuild it with the current SDK"
    )]
    WitVersion {
        /// The plugin's name.
        plugin: String,
        /// The import that names the other version.
        import: String,
        /// The version the gateway implements.
        ours: &'static str,
    },
    /// A limit or setting of the spec is out of range.
    #[error("plugin `{plugin}`: {message}")]
    Config {
        /// The plugin's name.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin is not of the world the caller needs.
    #[error("plugin `{plugin}` is a {actual} plugin, not a {expected} plugin")]
    WrongWorld {
        /// The plugin's name.
        plugin: String,
        /// The world it was loaded as.
        actual: crate::World,
        /// The world the caller needs.
        expected: crate::World,
    },
    /// Registry resolution failed (unknown name or version, bad manifest,
    /// hash mismatch).
    #[error("registry: {0}")]
    Registry(String),
}

impl PluginError {
    /// The call error inside, if this is one.
    pub fn as_call(&self) -> Option<&CallError> {
        match self {
            PluginError::Call(c) => Some(c),
            _ => None,
        }
    }
}
