//! [`TokenCache`]: a token-lookup cache for [`TokenHandler`]s that hit a database.
//!
//! Opt-in, because a cached token outlives its revocation by up to the TTL: without it, the layer
//! calls the handler once per request that asks for the session. With it:
//!
//! - entries are bounded in number (moka's TinyLFU admission, so a flood of junk tokens does not
//!   push out the tokens in use) and live at most the TTL;
//! - unknown tokens are cached too only when asked ([`TokenCache::with_negative_ttl`]);
//! - concurrent lookups of one token make one call to the handler (single-flight);
//! - entries are keyed by the SHA-256 of the token, never the token;
//! - a backend error is never cached, and never turns into a cached "unknown";
//! - [`TokenCache::invalidate`] and [`TokenCache::invalidate_all`] drop entries at once, for
//!   revocation.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use sealed_session::{token_fn, Identity, TokenCache, TokenHandler};
//! use time::Duration;
//!
//! let calls = Arc::new(AtomicUsize::new(0));
//! let counted = calls.clone();
//! let database = token_fn(move |token: String| {
//!     counted.fetch_add(1, Ordering::SeqCst);
//!     async move { Ok((token == "pat-1").then(|| Identity::new("alice"))) }
//! });
//! let tokens = TokenCache::new(database).with_ttl(Duration::minutes(5));
//!
//! assert_eq!(tokens.resolve("pat-1").await.unwrap().unwrap().uid(), Some("alice"));
//! assert!(tokens.resolve("pat-1").await.unwrap().is_some());
//! assert_eq!(calls.load(Ordering::SeqCst), 1);
//!
//! tokens.invalidate("pat-1").await; // revoked: the next request asks the database again
//! assert!(tokens.resolve("pat-1").await.unwrap().is_some());
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::Duration;

use crate::clock::{Clock, ClockSource};
use crate::identity::{CachedIdentity, Identity};
use crate::key::sha256;
use crate::token::{TokenError, TokenHandler};

/// Default most entries.
const DEFAULT_CACHE_CAPACITY: u64 = 10_000;
/// Default time an entry lives.
const DEFAULT_CACHE_TTL: Duration = Duration::seconds(60);

#[derive(Clone)]
struct Entry {
    /// Kept with its parts shared, so that a hit is turned into a session without copying them.
    identity: Option<Arc<CachedIdentity>>,
    /// For a cached refusal: the check that refused the token, when the handler named it.
    refused_by: Option<&'static str>,
    stored_at: i128,
}

/// A cache's answer: the identity, its parts shared, or a refusal with the check that refused
/// the token when the handler named it.
pub(crate) type Cached = Result<Arc<CachedIdentity>, Option<&'static str>>;

/// Why a lookup did not produce an entry to cache.
enum Miss {
    /// Unknown token, with negative caching off, and the check that refused it.
    Unknown(Option<&'static str>),
    /// The backend failed: never cached.
    Backend(TokenError),
}

/// A caching [`TokenHandler`] around another one. See the [module docs](crate::cache).
///
/// Clones share one cache: keep a clone to invalidate entries while the layer uses another.
///
/// The layer recognises a `TokenCache` given to
/// [`SessionLayer::with_token_handler`](crate::SessionLayer::with_token_handler) and takes its
/// hits as the cached identity, its parts shared rather than copied.
#[derive(Clone)]
pub struct TokenCache {
    core: Core,
    capacity: u64,
}

/// The cache itself.
#[derive(Clone)]
struct Core {
    handler: Arc<dyn TokenHandler>,
    cache: moka::future::Cache<[u8; 32], Entry>,
    ttl: Duration,
    negative_ttl: Option<Duration>,
    clock: ClockSource,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.core.ttl)
            .field("negative_ttl", &self.core.negative_ttl)
            .field("entries", &self.core.cache.entry_count())
            .finish_non_exhaustive()
    }
}

fn to_std(d: Duration) -> std::time::Duration {
    std::time::Duration::try_from(d).unwrap_or(std::time::Duration::ZERO)
}

impl TokenCache {
    /// Caches `handler`'s answers: at most 10,000 entries, each for at most 60 seconds; unknown
    /// tokens are not cached.
    #[must_use]
    pub fn new(handler: impl TokenHandler) -> Self {
        Self::build(
            Arc::new(handler),
            DEFAULT_CACHE_CAPACITY,
            DEFAULT_CACHE_TTL,
            None,
            ClockSource::default(),
        )
    }

    fn build(
        handler: Arc<dyn TokenHandler>,
        capacity: u64,
        ttl: Duration,
        negative_ttl: Option<Duration>,
        clock: ClockSource,
    ) -> Self {
        let longest = negative_ttl.map_or(ttl, |n| n.max(ttl));
        let cache = moka::future::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(to_std(longest).max(std::time::Duration::from_millis(1)))
            .build();
        Self {
            core: Core {
                handler,
                cache,
                ttl,
                negative_ttl,
                clock,
            },
            capacity,
        }
    }

    fn rebuild(self) -> Self {
        let Core {
            handler,
            ttl,
            negative_ttl,
            clock,
            ..
        } = self.core;
        Self::build(handler, self.capacity, ttl, negative_ttl, clock)
    }

    /// The most entries kept. Default 10,000.
    #[must_use]
    pub fn with_capacity(mut self, entries: u64) -> Self {
        self.capacity = entries;
        self.rebuild()
    }

    /// How long a known token's answer is kept: also how long a revoked token keeps working,
    /// unless it is invalidated. Default 60 seconds.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.core.ttl = ttl;
        self.rebuild()
    }

    /// Caches "unknown token" answers too, for `ttl`, so that repeated bad tokens do not reach
    /// the database. Off by default: a token created after a miss is then refused for up to
    /// `ttl`.
    #[must_use]
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.core.negative_ttl = Some(ttl);
        self.rebuild()
    }

    /// The clock entry ages are read from. Default [`SystemClock`](crate::SystemClock).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.core.clock = ClockSource::custom(clock);
        self.rebuild()
    }

    /// Drops the entry for `token`, so its next use asks the handler (for revocation).
    pub async fn invalidate(&self, token: &str) {
        self.core.cache.invalidate(&sha256(token.as_bytes())).await;
    }

    /// Drops the entry for the token with this SHA-256 digest (as stored by apps that keep only
    /// digests; see [`ApiKeys::digest`](crate::ApiKeys::digest)).
    pub async fn invalidate_digest(&self, digest: &[u8; 32]) {
        self.core.cache.invalidate(digest).await;
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.core.cache.invalidate_all();
    }

    /// The number of entries (approximate while other tasks are writing).
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.core.cache.entry_count()
    }
}

#[async_trait]
impl TokenHandler for TokenCache {
    /// Resolves `token` through the cache. (The layer does not call this: it takes a hit as the
    /// cached identity, without the copy this method makes.)
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        let shared = self.core.resolve_cached(token).await?;
        Ok(shared.ok().as_deref().map(CachedIdentity::to_identity))
    }

    /// As `resolve`, with the check the wrapped handler named when it refused the token.
    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<Identity, Option<&'static str>>, TokenError> {
        let shared = self.core.resolve_cached(token).await?;
        Ok(shared.map(|s| s.to_identity()))
    }
}

impl TokenCache {
    /// Resolves `token`, from the cache when it holds a fresh answer: the identity as cached,
    /// its parts shared.
    ///
    /// The core's future itself, not wrapped in another state machine: the layer boxes it as
    /// it is.
    pub(crate) fn resolve_cached<'a>(
        &'a self,
        token: &'a str,
    ) -> impl std::future::Future<Output = Result<Cached, TokenError>> + Send + 'a {
        self.core.resolve_cached(token)
    }
}

impl Core {
    /// Whether `entry` is still within its TTL at `now`.
    fn is_fresh(&self, entry: &Entry, now: i128) -> bool {
        let ttl = match entry.identity {
            Some(_) => self.ttl,
            None => match self.negative_ttl {
                Some(ttl) => ttl,
                None => return false,
            },
        };
        now.saturating_sub(entry.stored_at) < ttl.whole_nanoseconds()
    }

    /// Resolves `token`, from the cache when it holds a fresh answer: the identity as cached,
    /// its parts shared.
    async fn resolve_cached(&self, token: &str) -> Result<Cached, TokenError> {
        let key = sha256(token.as_bytes());
        let now = self.clock.unix_nanos();
        if let Some(entry) = self.cache.get(&key).await {
            if self.is_fresh(&entry, now) {
                return Ok(entry.identity.ok_or(entry.refused_by));
            }
            // Boxed, as the lookup below: a stale entry is rare, and its state would make every
            // hit's future (boxed by the layer) larger.
            Box::pin(self.cache.invalidate(&key)).await;
        }
        // Boxed: the lookup's state (moka's `try_get_with`) is large, and a hit, the common
        // case, should not carry it (this future is boxed and moved on every call).
        Box::pin(self.look_up(key, token, now)).await
    }

    /// A miss: one handler call per token, its answer cached.
    async fn look_up(&self, key: [u8; 32], token: &str, now: i128) -> Result<Cached, TokenError> {
        let negative = self.negative_ttl.is_some();
        let handler = &self.handler;
        // One call per token however many requests wait for it; an error or an uncached
        // "unknown" is handed to every waiter of this call and stored nowhere.
        let looked_up = self
            .cache
            .try_get_with(key, async move {
                match handler.resolve_checked(token).await {
                    Ok(Ok(identity)) => Ok(Entry {
                        identity: Some(Arc::new(identity.into())),
                        refused_by: None,
                        stored_at: now,
                    }),
                    Ok(Err(check)) if negative => Ok(Entry {
                        identity: None,
                        refused_by: check,
                        stored_at: now,
                    }),
                    Ok(Err(check)) => Err(Miss::Unknown(check)),
                    Err(error) => Err(Miss::Backend(error)),
                }
            })
            .await;
        match looked_up {
            Ok(entry) => Ok(entry.identity.ok_or(entry.refused_by)),
            Err(miss) => match &*miss {
                Miss::Unknown(check) => Ok(Err(*check)),
                Miss::Backend(error) => Err(TokenError::new(error.message())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing::ManualClock;
    use crate::token::token_fn;
    use time::macros::datetime;

    fn counting(calls: Arc<AtomicUsize>) -> impl TokenHandler {
        token_fn(move |token: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                match token.as_str() {
                    "good" => Ok(Some(Identity::new("alice"))),
                    "boom" => Err(TokenError::new("database down")),
                    _ => Ok(None),
                }
            }
        })
    }

    #[tokio::test]
    async fn hits_skip_the_handler_until_the_ttl_passes() {
        let calls = Arc::new(AtomicUsize::new(0));
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let cache = TokenCache::new(counting(calls.clone()))
            .with_ttl(Duration::seconds(30))
            .with_clock(clock.clone());
        for _ in 0..5 {
            assert!(cache.resolve("good").await.unwrap().is_some());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(29));
        assert!(cache.resolve("good").await.unwrap().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(1));
        assert!(cache.resolve("good").await.unwrap().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2, "expired at the TTL");
    }

    #[tokio::test]
    async fn unknown_tokens_are_cached_only_when_asked() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = TokenCache::new(counting(calls.clone()));
        assert!(cache.resolve("nope").await.unwrap().is_none());
        assert!(cache.resolve("nope").await.unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = Arc::new(AtomicUsize::new(0));
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let cache = TokenCache::new(counting(calls.clone()))
            .with_negative_ttl(Duration::seconds(10))
            .with_clock(clock.clone());
        assert!(cache.resolve("nope").await.unwrap().is_none());
        assert!(cache.resolve("nope").await.unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(10));
        assert!(cache.resolve("nope").await.unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_never_cached_not_even_as_unknown() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache =
            TokenCache::new(counting(calls.clone())).with_negative_ttl(Duration::minutes(5));
        for n in 1..=3 {
            let error = cache.resolve("boom").await.unwrap_err();
            assert_eq!(error.to_string(), "token backend error: database down");
            assert_eq!(calls.load(Ordering::SeqCst), n);
        }
        assert_eq!(cache.entry_count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_of_one_token_make_one_call() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = TokenCache::new(counting(calls.clone()));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move { cache.resolve("good").await }));
        }
        for task in tasks {
            assert!(task.await.unwrap().unwrap().is_some());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Concurrent failures: one call, every waiter gets the error.
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            tasks.push(tokio::spawn(async move { cache.resolve("boom").await }));
        }
        for task in tasks {
            assert!(task.await.unwrap().is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalidation_and_keys_never_hold_the_raw_token() {
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = TokenCache::new(counting(calls.clone()));
        assert!(cache.resolve("good").await.unwrap().is_some());
        cache.invalidate("good").await;
        assert!(cache.resolve("good").await.unwrap().is_some());
        cache
            .invalidate_digest(&crate::ApiKeys::digest("good"))
            .await;
        assert!(cache.resolve("good").await.unwrap().is_some());
        cache.invalidate_all();
        assert!(cache.resolve("good").await.unwrap().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let shown = format!("{cache:?}");
        assert!(!shown.contains("good"), "{shown}");
    }

    #[tokio::test]
    async fn capacity_is_bounded() {
        let cache = TokenCache::new(token_fn(
            |t: String| async move { Ok(Some(Identity::new(t))) },
        ))
        .with_capacity(50);
        for i in 0..500 {
            let _ = cache.resolve(&format!("token-{i}")).await.unwrap();
        }
        cache.core.cache.run_pending_tasks().await;
        assert!(cache.entry_count() <= 50, "{}", cache.entry_count());
    }
}
