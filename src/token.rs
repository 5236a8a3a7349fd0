//! Bearer tokens: the [`TokenHandler`] trait, a closure adaptor, and the built-in [`ApiKeys`].
//!
//! When a request carries `Authorization: Bearer <token>`, the layer asks the app's handler who
//! the token belongs to. The handler answers with an [`Identity`], with `None` for a token it does
//! not know, or with a [`TokenError`] when it cannot tell (its database is down). The layer calls
//! it at most once per request, only when something asks for the session, under a timeout.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use sealed_session::{ApiKeys, Identity, TokenHandler};
//!
//! let keys = ApiKeys::new()
//!     .with_token("ci-token-3f9a7c", Identity::new("ci-bot").with_role_account(true).with_scopes(["builds:write"]));
//! let who = keys.resolve("ci-token-3f9a7c").await.unwrap().unwrap();
//! assert_eq!(who.uid(), Some("ci-bot"));
//! assert!(keys.resolve("wrong").await.unwrap().is_none());
//! # }
//! ```

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use subtle::ConstantTimeEq;

use crate::identity::Identity;
use crate::key::sha256;

pub(crate) mod keys;

/// Resolves a bearer token to an [`Identity`].
///
/// An `#[async_trait]` trait, so the layer stores it as a trait object. Return:
/// - `Ok(Some(identity))` for a known token (set [`Identity::with_expires_at`] and the layer
///   enforces it);
/// - `Ok(None)` for an unknown, revoked or expired token: the client gets 401 `invalid_token`;
/// - `Err(TokenError)` when the backend cannot answer: the client gets 503 with `Retry-After`,
///   never "anonymous".
///
/// The token is the exact bytes after `Bearer `, trailing `=` included. It is a secret: never log
/// it, and never put it in a panic message (the process's panic hook prints those). A panic in
/// the handler becomes a 500 for that request only.
///
/// ```
/// use sealed_session::{async_trait, Identity, TokenError, TokenHandler};
///
/// struct Database;
///
/// #[async_trait]
/// impl TokenHandler for Database {
///     async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
///         // Look the token up by its SHA-256 digest, never the raw token.
///         let _digest = sealed_session::ApiKeys::digest(token);
///         Ok(None)
///     }
/// }
/// ```
#[async_trait]
pub trait TokenHandler: Send + Sync + 'static {
    /// Resolves `token`.
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError>;

    /// Resolves `token`, naming the check that refused it: `Ok(Err(Some("exp")))`. The layer
    /// calls this one, and puts the name in the 401's `error_description` ("the token failed the
    /// exp check"); never the token. The default calls [`resolve`](Self::resolve) and names no
    /// check. A check name is a short word: characters outside RFC 6750's set are dropped.
    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<Identity, Option<&'static str>>, TokenError> {
        Ok(self.resolve(token).await?.ok_or(None))
    }

    /// Whether [`resolve_checked`](Self::resolve_checked) may name a check. The layer asks once,
    /// when it is configured: for a handler that answers `false` it calls
    /// [`resolve`](Self::resolve) directly, which saves the default `resolve_checked`'s boxed
    /// future (one allocation per request).
    ///
    /// The default is `true`, right for every handler. Answer `false` only from a handler whose
    /// `resolve_checked` is the default one: a handler that overrides it and answers `false`
    /// has its check names ignored.
    ///
    /// ```
    /// use sealed_session::{token_fn, ApiKeys, Identity, TokenHandler};
    ///
    /// let by_closure = token_fn(|_token: String| async move { Ok(None::<Identity>) });
    /// assert!(!by_closure.names_checks(), "token_fn never names a check");
    /// assert!(!ApiKeys::new().names_checks());
    /// ```
    fn names_checks(&self) -> bool {
        true
    }
}

#[async_trait]
impl<T: TokenHandler + ?Sized> TokenHandler for std::sync::Arc<T> {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        (**self).resolve(token).await
    }

    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<Identity, Option<&'static str>>, TokenError> {
        (**self).resolve_checked(token).await
    }

    fn names_checks(&self) -> bool {
        (**self).names_checks()
    }
}

/// The token backend could not answer. The client gets 503 with `Retry-After`.
///
/// Its message goes to the `tracing` event, never to the client. Do not put the token in it.
#[derive(Debug)]
pub struct TokenError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TokenError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl TokenError {
    /// The message, without the "token backend error" prefix.
    #[cfg(feature = "cache")]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token backend error: {}", self.message)
    }
}

impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A [`TokenHandler`] made from an async closure; see [`token_fn`].
#[derive(Clone)]
pub struct TokenFn<F>(F);

impl<F> fmt::Debug for TokenFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenFn")
    }
}

/// Makes a [`TokenHandler`] from an async closure that takes the token as an owned `String`.
///
/// ```
/// use sealed_session::{token_fn, Identity, SessionLayer, Key};
///
/// let tokens = token_fn(|token: String| async move {
///     Ok((token == "let-me-in").then(|| Identity::new("robot")))
/// });
/// let layer = SessionLayer::new(Key::generate()).with_token_handler(tokens);
/// # drop(layer);
/// ```
pub fn token_fn<F, Fut>(f: F) -> TokenFn<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Identity>, TokenError>> + Send + 'static,
{
    TokenFn(f)
}

#[async_trait]
impl<F, Fut> TokenHandler for TokenFn<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Identity>, TokenError>> + Send + 'static,
{
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        (self.0)(token.to_owned()).await
    }

    /// A closure answers found or not found: it never names a check.
    fn names_checks(&self) -> bool {
        false
    }
}

/// API keys and personal access tokens held in memory (asfquart PATs, apicrud API keys).
///
/// Stores only a SHA-256 digest of each token and compares digests in constant time, against
/// every entry, so the time taken does not depend on which entry (if any) matched. Each token has
/// its own [`Identity`]: uid, scopes, role-account flag and an optional expiry
/// ([`Identity::with_expires_at`], enforced by the layer).
///
/// For tokens kept in a database, implement [`TokenHandler`] over the database the same way:
/// store the digest, look it up by digest.
///
/// Keys made of an id and a secret (apicrud, Bitfount) are added with [`ApiKeys::with_key`]:
/// found by id, revoked by id with [`ApiKeys::revoke`], presented as `<id>.<secret>`.
#[derive(Clone, Default)]
pub struct ApiKeys {
    entries: Vec<([u8; 32], Identity)>,
    /// Id + secret keys (shared by clones); see `keys.rs`.
    pub(crate) pairs: keys::KeyPairs,
}

impl ApiKeys {
    /// No keys.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token. Only its SHA-256 digest is kept.
    #[must_use]
    pub fn with_token(mut self, token: &str, identity: Identity) -> Self {
        self.entries.push((sha256(token.as_bytes()), identity));
        self
    }

    /// Adds a token by the SHA-256 digest of its bytes, so the raw token need never be in the
    /// app's configuration. See [`ApiKeys::digest`].
    #[must_use]
    pub fn with_digest(mut self, digest: [u8; 32], identity: Identity) -> Self {
        self.entries.push((digest, identity));
        self
    }

    /// The SHA-256 digest of a token, as [`ApiKeys::with_digest`] takes it.
    #[must_use]
    pub fn digest(token: &str) -> [u8; 32] {
        sha256(token.as_bytes())
    }

    /// The number of tokens and id + secret keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len() + self.pairs.len()
    }

    /// Whether there are no tokens and no id + secret keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, token: &str) -> Option<&Identity> {
        let digest = sha256(token.as_bytes());
        let mut found = None;
        for (stored, identity) in &self.entries {
            // No early exit: every entry is compared.
            if bool::from(stored.ct_eq(&digest)) && found.is_none() {
                found = Some(identity);
            }
        }
        found
    }
}

#[async_trait]
impl TokenHandler for ApiKeys {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        if let Some(answer) = self.pairs.find(token) {
            return Ok(answer);
        }
        Ok(self.find(token).cloned())
    }

    /// Found or not found: no check to name.
    fn names_checks(&self) -> bool {
        false
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("tokens", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn api_keys_resolve_by_digest() {
        let keys = ApiKeys::new()
            .with_token("alpha-1", Identity::new("a"))
            .with_digest(ApiKeys::digest("beta-2"), Identity::new("b"));
        assert_eq!(keys.len(), 2);
        assert_eq!(
            keys.resolve("alpha-1").await.unwrap().unwrap().uid(),
            Some("a")
        );
        assert_eq!(
            keys.resolve("beta-2").await.unwrap().unwrap().uid(),
            Some("b")
        );
        assert!(keys.resolve("alpha-").await.unwrap().is_none());
        assert!(keys.resolve("alpha-1=").await.unwrap().is_none());
        let shown = format!("{keys:?}");
        assert!(!shown.contains("alpha"), "{shown}");
    }

    #[tokio::test]
    async fn closures_are_handlers() {
        let h = token_fn(|t: String| async move {
            if t == "boom" {
                Err(TokenError::new("db down"))
            } else {
                Ok(Some(Identity::new(t)))
            }
        });
        assert_eq!(h.resolve("x").await.unwrap().unwrap().uid(), Some("x"));
        assert_eq!(
            h.resolve("boom").await.unwrap_err().to_string(),
            "token backend error: db down"
        );
    }
}
