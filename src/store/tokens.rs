//! [`TokenCache::follow`]: token invalidations from a store, applied to a cache.

use std::sync::Arc;

use super::{RevocationStore, TokenInvalidation};
use crate::cache::TokenCache;

impl TokenCache {
    /// Applies every token invalidation of `store` to this cache: those written on this
    /// instance at once, those written on others (through a shared store) as they arrive. An
    /// invalidation also wins over a lookup in flight (see [`TokenCache::invalidate`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use sealed_session::store::{MemoryStore, RevocationStore};
    /// use sealed_session::{token_fn, ApiKeys, Identity, TokenCache, TokenHandler};
    ///
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let counted = calls.clone();
    /// let tokens = TokenCache::new(token_fn(move |_token: String| {
    ///     counted.fetch_add(1, Ordering::SeqCst);
    ///     async move { Ok(Some(Identity::new("alice"))) }
    /// }));
    /// let store = MemoryStore::new();
    /// tokens.follow(&store);
    ///
    /// tokens.resolve("pat-1").await.unwrap();
    /// store.invalidate_token(ApiKeys::digest("pat-1")).await.unwrap();
    /// tokens.resolve("pat-1").await.unwrap();
    /// store.invalidate_user_tokens("alice").await.unwrap();
    /// tokens.resolve("pat-1").await.unwrap();
    /// assert_eq!(calls.load(Ordering::SeqCst), 3);
    /// # }
    /// ```
    pub fn follow(&self, store: &dyn RevocationStore) {
        let cache = self.clone();
        store.on_token_invalidation(Arc::new(move |event: &TokenInvalidation| match event {
            TokenInvalidation::Digest(digest) => cache.mark_digest(digest),
            TokenInvalidation::Uid(uid) => cache.invalidate_uid(uid),
        }));
    }
}
