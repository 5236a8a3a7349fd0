//! [`ClientError`]: why the client could not get, refresh or use a token.

use std::fmt;

/// Why a token could not be obtained, refreshed, stored or revoked.
///
/// No variant ever holds a token, a code, a client secret or a request body: the error is safe
/// to log and to show.
///
/// ```
/// use sealed_session::client::ClientError;
///
/// let error = ClientError::LoginRequired { reason: "refresh token expired".into() };
/// assert!(error.is_login_required());
/// assert_eq!(error.to_string(), "sign in again: refresh token expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The provider refused the refresh token (`invalid_grant`), or there is none: the user must
    /// sign in again. Never retried automatically.
    LoginRequired {
        /// Why (the provider's description, or what was missing).
        reason: String,
    },
    /// The user refused: `access_denied` from the device flow or the authorization answer.
    AccessDenied,
    /// The device code expired (`expired_token`) before the user approved it.
    Expired,
    /// The wait ran out: no answer from the browser before the loopback timeout.
    TimedOut,
    /// The app cancelled the flow.
    Cancelled,
    /// The loopback callback's `state` did not match the one sent: the answer was not for this
    /// request (RFC 6749 §10.12).
    StateMismatch,
    /// The loopback callback's `iss` named another provider than the client's issuer
    /// (RFC 9207: a mix-up attack, or a misconfigured issuer).
    IssuerMismatch,
    /// The provider answered an OAuth error (RFC 6749 §5.2) other than the ones above.
    Provider {
        /// The `error` code, for example `invalid_client`.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The provider answered an HTTP status without an OAuth error body (for example 503).
    Http {
        /// The status code.
        status: u16,
    },
    /// The provider (or, from [`ApiClient`](super::ApiClient), the API) could not be reached,
    /// did not answer in time, or answered more than the body cap.
    Transport {
        /// What went wrong (never a URL with a query, a header or a body).
        message: String,
    },
    /// The provider's answer could not be used (not JSON, a missing field).
    InvalidResponse {
        /// What was wrong with it.
        message: String,
    },
    /// The app's own [`TokenSource`](super::TokenSource) failed.
    Source {
        /// Its message.
        message: String,
    },
    /// The provider has no endpoint for this (no revocation or device endpoint configured).
    Unsupported {
        /// The missing endpoint.
        what: &'static str,
    },
    /// The token file could not be read or written.
    Store {
        /// What went wrong.
        message: String,
    },
}

impl ClientError {
    /// The user must sign in again: a refresh was refused or impossible.
    #[must_use]
    pub fn is_login_required(&self) -> bool {
        matches!(self, Self::LoginRequired { .. })
    }

    /// An error from the app's own token source.
    pub fn source_error(message: impl Into<String>) -> Self {
        Self::Source {
            message: message.into(),
        }
    }

    pub(crate) fn transport(message: impl Into<String>) -> Self {
        Self::Transport {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidResponse {
            message: message.into(),
        }
    }

    pub(crate) fn store(message: impl Into<String>) -> Self {
        Self::Store {
            message: message.into(),
        }
    }

    /// A short machine-readable name of the variant, for log fields.
    pub(crate) fn code(&self) -> &str {
        match self {
            Self::LoginRequired { .. } => "login_required",
            Self::AccessDenied => "access_denied",
            Self::Expired => "expired_token",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::StateMismatch => "state_mismatch",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::Provider { error, .. } => error,
            Self::Http { .. } => "http_status",
            Self::Transport { .. } => "transport",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::Source { .. } => "source",
            Self::Unsupported { .. } => "unsupported",
            Self::Store { .. } => "store",
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoginRequired { reason } => write!(f, "sign in again: {reason}"),
            Self::AccessDenied => f.write_str("the user denied access"),
            Self::Expired => f.write_str("the device code expired before it was approved"),
            Self::TimedOut => f.write_str("no answer from the browser in time"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::StateMismatch => {
                f.write_str("the authorization answer's state did not match this request")
            }
            Self::IssuerMismatch => {
                f.write_str("the authorization answer came from another issuer")
            }
            Self::Provider { error, description } => match description {
                Some(d) => write!(f, "the provider answered {error}: {d}"),
                None => write!(f, "the provider answered {error}"),
            },
            Self::Http { status } => write!(f, "the provider answered HTTP {status}"),
            Self::Transport { message } => write!(f, "could not reach the server: {message}"),
            Self::InvalidResponse { message } => {
                write!(f, "unusable answer from the provider: {message}")
            }
            Self::Source { message } => write!(f, "token source failed: {message}"),
            Self::Unsupported { what } => write!(f, "the provider has no {what}"),
            Self::Store { message } => write!(f, "token store: {message}"),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_cause_without_secrets() {
        let e = ClientError::Provider {
            error: "invalid_client".into(),
            description: Some("unknown client".into()),
        };
        assert_eq!(
            e.to_string(),
            "the provider answered invalid_client: unknown client"
        );
        assert_eq!(e.code(), "invalid_client");
        assert!(!e.is_login_required());
        assert_eq!(ClientError::Http { status: 503 }.code(), "http_status");
    }
}
