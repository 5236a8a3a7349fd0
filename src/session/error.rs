//! [`SessionError`]: a session change that could not be made.

use std::fmt;

/// A session change that could not be made.
///
/// Neither `Display` nor `Debug` shows session values: the cookie is encrypted so that it can
/// hold what the client must not read.
#[non_exhaustive]
pub enum SessionError {
    /// The session would no longer fit a cookie: browsers drop a cookie whose name and value
    /// exceed 4,096 bytes. The change was not made; the session is as it was.
    TooLarge {
        /// The plaintext size the change would have made, in bytes.
        size: usize,
        /// The most plaintext a cookie with this name holds, in bytes.
        limit: usize,
    },
    /// A value did not serialise to JSON, or the stored value is not of the requested type.
    Serde {
        /// The value's key.
        key: String,
        /// The requested type.
        type_name: &'static str,
        /// serde's error. It may quote the value: do not log it where values are secret.
        source: serde_json::Error,
    },
    /// The session was logged out in this request.
    Ended,
    /// A login was attempted on a request that carries per-request credentials (a bearer token,
    /// or Basic when a [`BasicHandler`](crate::BasicHandler) is configured): such a request never
    /// sets a session cookie.
    CredentialRequest,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(
                f,
                "session too large for a cookie: {size} bytes of plaintext, at most {limit}"
            ),
            Self::Serde { key, type_name, .. } => {
                write!(
                    f,
                    "session value {key:?} does not convert to or from {type_name}"
                )
            }
            Self::Ended => f.write_str("the session was logged out in this request"),
            Self::CredentialRequest => f.write_str(
                "cannot start a cookie session on a request that carries bearer or Basic credentials",
            ),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Serde { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => f
                .debug_struct("TooLarge")
                .field("size", size)
                .field("limit", limit)
                .finish(),
            Self::Serde { key, type_name, .. } => f
                .debug_struct("Serde")
                .field("key", key)
                .field("type_name", type_name)
                .finish_non_exhaustive(),
            Self::Ended => f.write_str("Ended"),
            Self::CredentialRequest => f.write_str("CredentialRequest"),
        }
    }
}

impl axum_core::response::IntoResponse for SessionError {
    /// What a handler that returns the error with `?` answers, as plain text that never shows
    /// a session value:
    ///
    /// | error | status |
    /// |---|---|
    /// | [`CredentialRequest`](Self::CredentialRequest) | 400: the client sent credentials with a login |
    /// | [`TooLarge`](Self::TooLarge) | 413: the change was not made; the session is unchanged |
    /// | [`Serde`](Self::Serde), [`Ended`](Self::Ended) | 500 (a bug in the app; details only in the `tracing` event) |
    fn into_response(self) -> axum_core::response::Response {
        let (status, text) = match &self {
            Self::CredentialRequest => {
                tracing::info!(target: "sealed_session", reason = "credential_request", "login refused: the request carries credentials");
                (
                    http::StatusCode::BAD_REQUEST,
                    "A login cannot happen on a request that carries bearer or Basic credentials.\n",
                )
            }
            Self::TooLarge { size, limit } => {
                tracing::warn!(target: "sealed_session", reason = "too_large", size, limit, "session change refused: too large for a cookie");
                (
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "The session would be too large for a cookie.\n",
                )
            }
            _ => {
                tracing::error!(target: "sealed_session", reason = "session_error", error = %self, "session change failed");
                (http::StatusCode::INTERNAL_SERVER_ERROR, "session error")
            }
        };
        let mut response = (status, text).into_response();
        let h = response.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
        response
    }
}

pub(super) fn serde_error<T>(key: &str, source: serde_json::Error) -> SessionError {
    SessionError::Serde {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    }
}
