//! [`ClientAuthLayer`]: the tower layer that attaches credentials to outgoing requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::cache::TokenCache;
use super::{AccessToken, ApiKeyHeaders, ClientAuth, ClientError, TokenSource};

/// How early a token is replaced before it expires, by default: one minute.
///
/// A token whose whole lifetime is shorter than twice the margin is replaced at half its
/// lifetime instead, so short-lived tokens are not refreshed on every request.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What the layer attaches.
#[derive(Clone)]
pub(crate) enum Credentials {
    Token(Arc<TokenCache>),
    Headers(Arc<ApiKeyHeaders>),
}

/// Attaches credentials to every request of an HTTP client (any
/// `Service<http::Request<B>>`: hyper-util's client, [`HttpClient`](super::HttpClient), or
/// another tower-based client), refreshing tokens before they expire and once after an
/// `invalid_token` answer. See the [module docs](super) for the rules and an example.
///
/// Clones share one token cache, so every service built from one layer makes at most one call
/// to the [`TokenSource`] at a time.
#[derive(Clone)]
#[must_use]
pub struct ClientAuthLayer {
    pub(crate) credentials: Credentials,
}

impl fmt::Debug for ClientAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientAuthLayer");
        match &self.credentials {
            Credentials::Token(cache) => d
                .field("credentials", &"token source")
                .field("refresh_margin", &cache.margin()),
            Credentials::Headers(h) => d.field("credentials", h),
        };
        d.finish()
    }
}

impl ClientAuthLayer {
    /// Sends `Authorization: Bearer <token>` (or `DPoP <token>`) with tokens from `source`.
    ///
    /// ```
    /// use sealed_session::client::{AccessToken, ClientAuthLayer, token_source_fn};
    ///
    /// let layer = ClientAuthLayer::new(token_source_fn(|| async { Ok(AccessToken::bearer("t")) }));
    /// assert!(!layer.authenticated()); // nothing fetched yet
    /// ```
    pub fn new(source: impl TokenSource) -> Self {
        Self {
            credentials: Credentials::Token(Arc::new(TokenCache::new(
                Arc::new(source),
                DEFAULT_REFRESH_MARGIN,
            ))),
        }
    }

    /// Sends fixed API-key headers (Bitfount's `APIKeysHandler`); no refresh, no retry.
    ///
    /// ```
    /// use sealed_session::client::{ApiKeyHeaders, ClientAuthLayer};
    ///
    /// let layer = ClientAuthLayer::api_keys(ApiKeyHeaders::id_and_key("id-1", "key-1").unwrap());
    /// assert!(layer.authenticated()); // API keys are valid from creation
    /// ```
    pub fn api_keys(headers: ApiKeyHeaders) -> Self {
        Self {
            credentials: Credentials::Headers(Arc::new(headers)),
        }
    }

    /// Replaces tokens this long before they expire (default [`DEFAULT_REFRESH_MARGIN`];
    /// Bitfount's device-flow handler uses 10 minutes). Forgets any token already fetched.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sealed_session::client::{AccessToken, ClientAuthLayer, token_source_fn};
    ///
    /// let layer = ClientAuthLayer::new(token_source_fn(|| async { Ok(AccessToken::bearer("t")) }))
    ///     .with_refresh_margin(Duration::from_secs(600));
    /// assert!(format!("{layer:?}").contains("600s"));
    /// ```
    pub fn with_refresh_margin(self, margin: Duration) -> Self {
        match self.credentials {
            Credentials::Token(cache) => Self {
                credentials: Credentials::Token(Arc::new(cache.rebuilt(margin))),
            },
            headers @ Credentials::Headers(_) => Self {
                credentials: headers,
            },
        }
    }

    /// Whether the layer holds a token valid beyond its margin (Bitfount's `authenticated`).
    /// Always true for API keys.
    #[must_use]
    pub fn authenticated(&self) -> bool {
        match &self.credentials {
            Credentials::Token(cache) => cache.authenticated(),
            Credentials::Headers(_) => true,
        }
    }

    /// The current token, fetched (once, for all callers) if needed: for requests made outside
    /// the layer (a WebSocket handshake, an MQTT password).
    ///
    /// # Errors
    ///
    /// The [`TokenSource`]'s error; [`ClientError::Unsupported`] for an API-key layer.
    pub async fn access_token(&self) -> Result<AccessToken, ClientError> {
        match &self.credentials {
            Credentials::Token(cache) => cache.get(None).await.map(|(_, t)| t),
            Credentials::Headers(_) => Err(ClientError::Unsupported {
                what: "access token (this layer sends API keys)",
            }),
        }
    }

    /// Forgets the cached token (after signing out): the next request asks the source again.
    pub fn forget(&self) {
        if let Credentials::Token(cache) = &self.credentials {
            cache.clear();
        }
    }
}

impl<S> Layer<S> for ClientAuthLayer {
    type Service = ClientAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientAuth::new(inner, self.credentials.clone())
    }
}
