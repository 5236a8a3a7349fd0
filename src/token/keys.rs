//! API keys made of an **id** and a **secret** (apicrud's and Bitfount's keys): the server keeps
//! the id and a SHA-256 digest of the secret, finds a key by its id, compares the secret's digest
//! in constant time, and revokes a key by its id.
//!
//! A key reaches [`ApiKeys`] as one credential, `<id>.<secret>`: the bearer token
//! `Authorization: Bearer <id>.<secret>`, or the pair of headers that
//! [`SessionLayer::with_credential_source`](crate::SessionLayer::with_credential_source) names
//! with [`CredentialSource::key_pair`](crate::CredentialSource::key_pair) (Bitfount's
//! `x-api-key-id` + `x-api-key`), which the layer joins the same way.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sealed_session::InvalidKeyId> {
//! use sealed_session::{ApiKeys, Identity, TokenHandler};
//!
//! let keys = ApiKeys::new().with_key("k1", "s3cret-1", Identity::new("ci-bot"))?;
//! assert_eq!(keys.resolve("k1.s3cret-1").await.unwrap().unwrap().uid(), Some("ci-bot"));
//! assert!(keys.resolve("k1.wrong").await.unwrap().is_none());
//!
//! // A clone shares the id + secret keys: revoking through one is seen by every clone,
//! // the layer's included.
//! let app_side = keys.clone();
//! assert!(app_side.revoke("k1"));
//! assert!(keys.resolve("k1.s3cret-1").await.unwrap().is_none());
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use subtle::ConstantTimeEq;

use super::ApiKeys;
use crate::identity::Identity;
use crate::key::sha256;

/// The longest key id, in bytes.
pub const MAX_KEY_ID: usize = 128;

/// Key id → (SHA-256 digest of the secret, identity).
type PairMap = HashMap<String, ([u8; 32], Identity)>;

/// The id + secret keys of an [`ApiKeys`], shared by its clones.
#[derive(Clone, Default)]
pub(crate) struct KeyPairs(Arc<RwLock<PairMap>>);

impl KeyPairs {
    fn insert(&self, id: String, digest: [u8; 32], identity: Identity) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, (digest, identity));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// `Some(answer)` when `token` is `<id>.<secret>` for a known id; `None` when it names no
    /// known id (the caller then tries its whole-token keys).
    pub(crate) fn find(&self, token: &str) -> Option<Option<Identity>> {
        let (id, secret) = token.split_once('.')?;
        let pairs = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let (stored, identity) = pairs.get(id)?;
        let digest = sha256(secret.as_bytes());
        Some(bool::from(stored.ct_eq(&digest)).then(|| identity.clone()))
    }
}

/// A key id that [`ApiKeys::with_key`] refuses: empty, longer than [`MAX_KEY_ID`], or holding a
/// byte other than ASCII letters, digits, `-` and `_` (a `.` would make `<id>.<secret>`
/// ambiguous).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidKeyId {
    /// The refused id.
    pub id: String,
}

impl fmt::Display for InvalidKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid API key id {:?}: 1 to {MAX_KEY_ID} bytes of ASCII letters, digits, '-' and '_'",
            self.id
        )
    }
}

impl std::error::Error for InvalidKeyId {}

/// Whether `id` is a valid key id (see [`InvalidKeyId`]).
pub(crate) fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ApiKeys {
    /// Adds an id + secret key. Only the SHA-256 digest of the secret is kept.
    ///
    /// The key is presented as `<id>.<secret>` (a bearer token, or the layer's joined id + key
    /// headers). Adding an id again replaces its key.
    ///
    /// # Errors
    ///
    /// [`InvalidKeyId`] when `id` is empty, longer than [`MAX_KEY_ID`], or holds a byte other
    /// than ASCII letters, digits, `-` and `_`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sealed_session::{ApiKeys, Identity};
    ///
    /// let keys = ApiKeys::new().with_key("team-7", "s3cret", Identity::new("bot")).unwrap();
    /// assert_eq!(keys.len(), 1);
    /// assert!(ApiKeys::new().with_key("a.b", "s", Identity::new("bot")).is_err());
    /// ```
    pub fn with_key(
        self,
        id: impl Into<String>,
        secret: &str,
        identity: Identity,
    ) -> Result<Self, InvalidKeyId> {
        self.with_key_digest(id, Self::digest(secret), identity)
    }

    /// Adds an id + secret key by the SHA-256 digest of the secret ([`ApiKeys::digest`]), so
    /// the secret need never be in the app's configuration or database.
    ///
    /// # Errors
    ///
    /// [`InvalidKeyId`], as for [`ApiKeys::with_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use sealed_session::{ApiKeys, Identity, TokenHandler};
    ///
    /// let stored = ApiKeys::digest("s3cret");
    /// let keys = ApiKeys::new().with_key_digest("k9", stored, Identity::new("bot")).unwrap();
    /// assert!(keys.resolve("k9.s3cret").await.unwrap().is_some());
    /// # }
    /// ```
    pub fn with_key_digest(
        self,
        id: impl Into<String>,
        digest: [u8; 32],
        identity: Identity,
    ) -> Result<Self, InvalidKeyId> {
        self.insert_key_digest(id, digest, identity)?;
        Ok(self)
    }

    /// Adds (or replaces) an id + secret key while the app runs, by the secret's digest; every
    /// clone sees it.
    ///
    /// # Errors
    ///
    /// [`InvalidKeyId`], as for [`ApiKeys::with_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use sealed_session::{ApiKeys, Identity, TokenHandler};
    ///
    /// let keys = ApiKeys::new();
    /// let layer_side = keys.clone();
    /// keys.insert_key_digest("new-1", ApiKeys::digest("fresh"), Identity::new("bot")).unwrap();
    /// assert!(layer_side.resolve("new-1.fresh").await.unwrap().is_some());
    /// # }
    /// ```
    pub fn insert_key_digest(
        &self,
        id: impl Into<String>,
        digest: [u8; 32],
        identity: Identity,
    ) -> Result<(), InvalidKeyId> {
        let id = id.into();
        if !is_key_id(&id) {
            return Err(InvalidKeyId { id });
        }
        self.pairs.insert(id, digest, identity);
        Ok(())
    }

    /// Revokes the id + secret key `id`, for every clone. Whether there was one.
    ///
    /// A [`TokenCache`](crate::TokenCache) in front of these keys keeps answering from its
    /// entries until they expire: invalidate it too.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use sealed_session::{ApiKeys, Identity, TokenHandler};
    ///
    /// let keys = ApiKeys::new().with_key("k1", "s", Identity::new("bot")).unwrap();
    /// assert!(keys.revoke("k1"));
    /// assert!(!keys.revoke("k1"));
    /// assert!(keys.resolve("k1.s").await.unwrap().is_none());
    /// # }
    /// ```
    pub fn revoke(&self, id: &str) -> bool {
        self.pairs
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenHandler;

    #[tokio::test]
    async fn pairs_are_found_by_id_and_checked_by_secret() {
        let keys = ApiKeys::new()
            .with_token("plain.token", Identity::new("whole"))
            .with_key("k1", "a.b", Identity::new("one"))
            .unwrap();
        let uid = |r: Option<Identity>| r.and_then(|i| i.uid);
        assert_eq!(
            uid(keys.resolve("k1.a.b").await.unwrap()),
            Some("one".into())
        );
        assert_eq!(uid(keys.resolve("k1.a").await.unwrap()), None);
        assert_eq!(uid(keys.resolve("k1").await.unwrap()), None);
        assert_eq!(uid(keys.resolve("k2.a.b").await.unwrap()), None);
        // A whole token with a dot, whose first part is no key id, still matches.
        assert_eq!(
            uid(keys.resolve("plain.token").await.unwrap()),
            Some("whole".into())
        );
        assert_eq!(keys.len(), 2);
        assert!(!format!("{keys:?}").contains("a.b"));
    }

    #[test]
    fn ids_are_plain() {
        for bad in ["", "a.b", "a b", "é", &"x".repeat(MAX_KEY_ID + 1)] {
            assert!(
                ApiKeys::new()
                    .with_key(bad, "s", Identity::new("u"))
                    .is_err(),
                "{bad}"
            );
        }
        assert!(ApiKeys::new()
            .with_key("A-z_0", "s", Identity::new("u"))
            .is_ok());
    }
}
