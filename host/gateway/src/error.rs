//! Errors on the request path, classified by where they come from and what the client gets.

use http::StatusCode;

/// Why a request could not be proxied. The variant decides the status the client receives.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No router matched the request.
    #[error("no router matches the request")]
    NoRoute,
    /// The service has no server to send the request to.
    #[error("service `{service}` has no available server")]
    NoServer {
        /// The service name.
        service: String,
    },
    /// The upstream refused, reset or broke the connection.
    #[error("upstream {upstream} failed: {reason}")]
    Upstream {
        /// The upstream URL.
        upstream: String,
        /// What went wrong, as reported by the client stack.
        reason: String,
    },
    /// The upstream did not answer in time.
    #[error("upstream {upstream} timed out after {after:?} ({phase})")]
    Timeout {
        /// The upstream URL.
        upstream: String,
        /// How long was waited.
        after: std::time::Duration,
        /// Which wait ran out: dial or response headers.
        phase: &'static str,
    },
    /// The request could not be turned into an upstream request.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl ProxyError {
    /// The HTTP status a client gets for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoServer { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// Whether sending the same (bodiless) request again could succeed: the upstream could not
    /// be reached or broke the connection before answering.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ProxyError::Upstream { .. })
            || matches!(self, ProxyError::Timeout { phase, .. } if *phase == "dial")
    }
}
