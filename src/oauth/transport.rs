//! The HTTP client that talks to the provider: a small trait, and a hyper-based default with
//! timeouts, a body-size cap and no redirects.

use std::fmt;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;

/// The largest provider response body read, in bytes.
pub const MAX_RESPONSE_BODY: usize = 256 * 1024;

/// Sends one request to the OAuth provider and reads the whole response.
///
/// The default, [`HyperTransport`], is enough for most apps. Implement this to go through a
/// proxy, a custom TLS setup or a test double. The service applies its own timeout around every
/// call; an implementation must never follow redirects. Its errors are logged: keep the request's
/// URL out of their messages (a query may hold an authorization code).
///
/// ```
/// use sealed_session::oauth::{HttpTransport, TransportError};
///
/// /// A transport that refuses every request (for example in a unit test).
/// struct Offline;
///
/// #[sealed_session::async_trait]
/// impl HttpTransport for Offline {
///     async fn send(
///         &self,
///         _request: http::Request<Vec<u8>>,
///     ) -> Result<http::Response<Vec<u8>>, TransportError> {
///         Err(TransportError::connect("offline"))
///     }
/// }
/// # let _ = Offline;
/// ```
#[async_trait::async_trait]
pub trait HttpTransport: Send + Sync + 'static {
    /// Sends `request` and returns the response with its whole body.
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;
}

/// Why a request to the provider failed before an HTTP answer arrived.
///
/// Its message never holds a request body or a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
}

/// The kind of a [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The answer's body passed [`MAX_RESPONSE_BODY`].
    TooLarge,
    /// Anything else.
    Other,
}

impl TransportError {
    /// A connection failure.
    pub fn connect(message: impl Into<String>) -> Self {
        Self {
            kind: TransportErrorKind::Connect,
            message: message.into(),
        }
    }

    /// A timeout.
    pub fn timeout() -> Self {
        Self {
            kind: TransportErrorKind::Timeout,
            message: "no answer in time".to_owned(),
        }
    }

    /// An answer too large to read.
    pub fn too_large() -> Self {
        Self {
            kind: TransportErrorKind::TooLarge,
            message: format!("the answer passed {MAX_RESPONSE_BODY} bytes"),
        }
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        Self {
            kind: TransportErrorKind::Other,
            message: message.into(),
        }
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

use crate::https::HttpsConnector;

/// The default transport: hyper over rustls (aws-lc-rs), the system's root certificates,
/// HTTP/1.1, a 5-second connect timeout, bodies capped at [`MAX_RESPONSE_BODY`], no redirects
/// and no proxy.
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpsConnector, Full<Bytes>>,
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport").finish_non_exhaustive()
    }
}

impl Default for HyperTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HyperTransport {
    /// A transport trusting the system's root certificates. When none can be loaded it trusts
    /// none (plain `http://` on loopback still works) and logs a warning.
    #[must_use]
    pub fn new() -> Self {
        Self {
            client: crate::https::client(Duration::from_secs(5)),
        }
    }
}

#[async_trait::async_trait]
impl HttpTransport for HyperTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                TransportError::connect(format!("could not connect: {}", error_chain(&e)))
            } else {
                TransportError::other(format!("request failed: {}", error_chain(&e)))
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    TransportError::too_large()
                } else {
                    TransportError::other(format!("reading the answer failed: {e}"))
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// An error and its sources, one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut depth = 0;
    while let Some(s) = source {
        if depth == 4 {
            break;
        }
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
        depth += 1;
    }
    text
}
