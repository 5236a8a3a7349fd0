//! [`TokenSource`]: where the layer gets a token (Home Assistant's `AbstractAuth`), a closure
//! adaptor for it (Bitfount's `get_token` hook), and [`ApiKeyHeaders`] (Bitfount's
//! `APIKeysHandler`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::{AccessToken, ClientError};

/// Why the layer asks for a token, and what it must not get back.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    rejected: Option<AccessToken>,
    margin: Duration,
}

impl TokenRequest {
    pub(crate) fn new(rejected: Option<AccessToken>, margin: Duration) -> Self {
        Self { rejected, margin }
    }

    /// The token the API just refused with `invalid_token`: return a different one (refresh),
    /// or an error. `None` when the layer has no token yet or its token is about to expire.
    #[must_use]
    pub fn rejected(&self) -> Option<&AccessToken> {
        self.rejected.as_ref()
    }

    /// The layer wants a token still valid this long from now.
    #[must_use]
    pub fn margin(&self) -> Duration {
        self.margin
    }
}

/// Gets an access token: implement it to own refresh and storage in the host app (Home
/// Assistant's `async_get_access_token`), or use one of the crate's grant managers
/// ([`RefreshingSource`](super::RefreshingSource),
/// [`ClientCredentials`](super::ClientCredentials)) or [`token_source_fn`].
///
/// The [`ClientAuthLayer`](super::ClientAuthLayer) caches the token and calls the source only
/// when it has none, when it expires within the layer's margin, or when the API refused it; one
/// call at a time (single-flight), however many requests are waiting.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sealed_session::client::{AccessToken, ClientError, TokenRequest, TokenSource};
///
/// struct FromVault;
///
/// #[sealed_session::async_trait]
/// impl TokenSource for FromVault {
///     async fn access_token(&self, _request: &TokenRequest) -> Result<AccessToken, ClientError> {
///         Ok(AccessToken::bearer("from-the-vault"))
///     }
/// }
///
/// let request = sealed_session::client::TokenRequest::default();
/// assert_eq!(FromVault.access_token(&request).await.unwrap().secret(), "from-the-vault");
/// # }
/// ```
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    /// Returns a token valid for at least `request.margin()`, other than `request.rejected()`.
    ///
    /// # Errors
    ///
    /// Any [`ClientError`]; [`ClientError::LoginRequired`] when only a new sign-in can help.
    async fn access_token(&self, request: &TokenRequest) -> Result<AccessToken, ClientError>;
}

impl Default for TokenRequest {
    fn default() -> Self {
        Self::new(None, Duration::ZERO)
    }
}

#[async_trait::async_trait]
impl<T: TokenSource + ?Sized> TokenSource for Arc<T> {
    async fn access_token(&self, request: &TokenRequest) -> Result<AccessToken, ClientError> {
        (**self).access_token(request).await
    }
}

/// A [`TokenSource`] from an async closure; see [`token_source_fn`].
#[derive(Clone)]
pub struct TokenSourceFn<F>(F);

impl<F> fmt::Debug for TokenSourceFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceFn").finish_non_exhaustive()
    }
}

/// Makes a [`TokenSource`] from an async closure returning a new token, for a host that
/// manages tokens itself (Bitfount's `ExternallyManagedJWTHandler`: the hook returns a token
/// and its expiry).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use sealed_session::client::{token_source_fn, AccessToken, TokenRequest, TokenSource};
///
/// let source = token_source_fn(|| async {
///     Ok(AccessToken::bearer("jwt-from-the-host").with_expires_in(Duration::from_secs(300)))
/// });
/// let token = source.access_token(&TokenRequest::default()).await.unwrap();
/// assert!(token.is_fresh(Duration::from_secs(60)));
/// # }
/// ```
pub fn token_source_fn<F, Fut>(f: F) -> TokenSourceFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, ClientError>> + Send + 'static,
{
    TokenSourceFn(f)
}

#[async_trait::async_trait]
impl<F, Fut> TokenSource for TokenSourceFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AccessToken, ClientError>> + Send + 'static,
{
    async fn access_token(&self, _request: &TokenRequest) -> Result<AccessToken, ClientError> {
        (self.0)().await
    }
}

/// Fixed credential headers sent on every request: Bitfount's `x-api-key-id` + `x-api-key`
/// pair, or any other API-key scheme. Valid from creation; never refreshed.
///
/// The values are marked sensitive and never shown by `Debug`.
///
/// ```
/// use sealed_session::client::ApiKeyHeaders;
///
/// let keys = ApiKeyHeaders::new()
///     .with_header("x-api-key-id", "key-id-1")
///     .unwrap()
///     .with_header("x-api-key", "key-secret-1")
///     .unwrap();
/// let mut headers = http::HeaderMap::new();
/// keys.apply(&mut headers);
/// assert_eq!(headers["x-api-key"], "key-secret-1");
/// assert!(headers["x-api-key"].is_sensitive());
/// assert!(!format!("{keys:?}").contains("key-secret-1"));
/// ```
#[derive(Clone, Default)]
pub struct ApiKeyHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for ApiKeyHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.headers.iter().map(|(n, _)| n.as_str()))
            .finish()
    }
}

impl ApiKeyHeaders {
    /// No headers yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bitfount's pair: `x-api-key-id: <id>` and `x-api-key: <key>`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Source`] when a value cannot be sent in a header (control characters).
    pub fn id_and_key(id: &str, key: &str) -> Result<Self, ClientError> {
        Self::new()
            .with_header("x-api-key-id", id)?
            .with_header("x-api-key", key)
    }

    /// Adds a header.
    ///
    /// # Errors
    ///
    /// [`ClientError::Source`] when the name or value cannot be sent in a header (the message
    /// names the header, never the value).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ClientError> {
        let name = HeaderName::try_from(name)
            .map_err(|_| ClientError::source_error(format!("invalid header name {name:?}")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            ClientError::source_error(format!("the value of {name} is not a valid header value"))
        })?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(self)
    }

    /// Sets the headers on `headers`, replacing any of the same name.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_headers_reject_bad_values_without_echoing_them() {
        let err = ApiKeyHeaders::new()
            .with_header("x-api-key", "bad\nsecret")
            .unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert!(ApiKeyHeaders::new().with_header("bad name", "v").is_err());
        let pair = ApiKeyHeaders::id_and_key("id", "key").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("old"));
        pair.apply(&mut h);
        assert_eq!(h["x-api-key"], "key");
        assert_eq!(h["x-api-key-id"], "id");
        assert_eq!(h.len(), 2);
    }
}
