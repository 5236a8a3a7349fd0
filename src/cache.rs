//! [`TokenCache`]: a token-lookup cache for [`TokenHandler`]s that hit a database.
//!
//! Opt-in, because a cached token outlives its revocation by up to the TTL: without it, the layer
//! calls the handler once per request that asks for the session. With it:
//!
//! - entries are bounded in number (quick_cache's CLOCK-Pro: a new entry starts cold, so a flood
//!   of junk tokens cycles through the cold part without pushing out the tokens in use) and are
//!   served at most the TTL;
//! - unknown tokens are cached too only when asked ([`TokenCache::with_negative_ttl`]);
//! - concurrent lookups of one token make one call to the handler (single-flight);
//! - entries are keyed by a keyed hash of the whole token (SipHash-2-4, 128-bit output, under a
//!   random key of the cache's own), never the token: a token that differs from a cached one in
//!   any byte is a miss, and no one who does not know the key can aim two tokens at one entry.
//!   Invalidations name tokens by their SHA-256 digest ([`TokenCache::invalidate_digest`],
//!   [`TokenCache::follow`]), which is the same on every instance;
//! - a backend error is never cached, and never turns into a cached "unknown";
//! - [`TokenCache::invalidate`], [`TokenCache::invalidate_uid`] and [`TokenCache::invalidate_all`]
//!   drop entries at once, for revocation, and win over a lookup in flight: an answer looked up
//!   before the invalidation is never served after it (each entry remembers the invalidation
//!   generation its lookup started in).
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

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use time::Duration;

use crate::clock::{Clock, ClockSource};
use crate::identity::{CachedIdentity, Identity};
use crate::key::sha256;
use key::{CacheKey, KeyHasher, Prehashed};

mod key;
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
    /// The invalidation generation when its lookup started (see [`Marks`]).
    generation: u64,
    /// The SHA-256 digest of the token: invalidations by digest find the entry by it.
    digest: [u8; 32],
}

/// A cache's answer: the identity, its parts shared, or a refusal with the check that refused
/// the token when the handler named it.
pub(crate) type Cached = Result<Arc<CachedIdentity>, Option<&'static str>>;

/// What the table holds under a token's key: an answer, or, for the instant between a failed
/// lookup handing its outcome to the requests that joined it and its removal, that outcome.
#[derive(Clone)]
enum Slot {
    Entry(Entry),
    Miss(Arc<Miss>),
}

/// quick_cache's sharded table of [`Slot`]s, hashed by [`Prehashed`].
type Table = quick_cache::sync::Cache<
    CacheKey,
    Slot,
    quick_cache::UnitWeighter,
    Prehashed,
    quick_cache::sync::DefaultLifecycle<CacheKey, Slot>,
>;

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
    /// Keyed by [`KeyHasher`]'s digest of the token, hashed for the table by [`Prehashed`].
    cache: Arc<Table>,
    keys: KeyHasher,
    ttl: Duration,
    negative_ttl: Option<Duration>,
    clock: ClockSource,
    marks: Arc<Marks>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("ttl", &self.core.ttl)
            .field("negative_ttl", &self.core.negative_ttl)
            .field("entries", &self.entry_count())
            .finish_non_exhaustive()
    }
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
        // Entries carry their age and are checked against the TTL on every hit (`is_fresh`); an
        // expired one is removed at its next use, or evicted as the table fills.
        let cache = Arc::new(Table::with(
            usize::try_from(capacity).unwrap_or(usize::MAX),
            capacity,
            quick_cache::UnitWeighter,
            Prehashed,
            quick_cache::sync::DefaultLifecycle::default(),
        ));
        let marks = Arc::new(Marks::new(capacity, longest.whole_nanoseconds()));
        Self {
            core: Core {
                handler,
                cache,
                keys: KeyHasher::random(),
                ttl,
                negative_ttl,
                clock,
                marks,
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

    /// Drops the entry for `token`, so its next use asks the handler (for revocation). A lookup
    /// of it in flight does not put its answer back: the next use asks the handler again.
    pub async fn invalidate(&self, token: &str) {
        self.mark_digest(&sha256(token.as_bytes()));
        self.core.cache.remove(&self.core.keys.key(token));
    }

    /// Drops the entry for the token with this SHA-256 digest (as stored by apps that keep only
    /// digests; see [`ApiKeys::digest`](crate::ApiKeys::digest)): its next use asks the handler.
    /// (The entry is marked stale at once, and removed at its next use or when it is evicted.)
    pub async fn invalidate_digest(&self, digest: &[u8; 32]) {
        self.mark_digest(digest);
    }

    /// Drops every entry that resolved to `uid` (its tokens were revoked, the account was
    /// disabled, its privileges changed), including answers of lookups in flight: the next use of
    /// each of its tokens asks the handler.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use sealed_session::{token_fn, Identity, TokenCache, TokenHandler};
    ///
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let counted = calls.clone();
    /// let tokens = TokenCache::new(token_fn(move |_token: String| {
    ///     counted.fetch_add(1, Ordering::SeqCst);
    ///     async move { Ok(Some(Identity::new("alice"))) }
    /// }));
    /// tokens.resolve("pat-1").await.unwrap();
    /// tokens.resolve("pat-2").await.unwrap();
    /// tokens.invalidate_uid("alice");
    /// tokens.resolve("pat-1").await.unwrap();
    /// tokens.resolve("pat-2").await.unwrap();
    /// assert_eq!(calls.load(Ordering::SeqCst), 4);
    /// # }
    /// ```
    pub fn invalidate_uid(&self, uid: &str) {
        let now = self.core.clock.unix_nanos();
        self.core.marks.mark_uid(uid, now);
    }

    /// Drops every entry, including answers of lookups in flight.
    pub fn invalidate_all(&self) {
        self.core.marks.mark_all();
        self.core.cache.clear();
    }

    /// Marks the answer for this digest stale at once, without waiting for its removal: hits and
    /// lookups in flight see the mark.
    pub(crate) fn mark_digest(&self, digest: &[u8; 32]) {
        let now = self.core.clock.unix_nanos();
        self.core.marks.mark_key(digest, now);
    }

    /// The number of entries (approximate while other tasks are writing).
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.core.cache.len()).unwrap_or(u64::MAX)
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
        let key = self.keys.key(token);
        let now = self.clock.unix_nanos();
        if let Some(Slot::Entry(entry)) = self.cache.get(&key) {
            if self.is_fresh(&entry, now) && !self.marks.is_stale(&entry, now) {
                return Ok(entry.identity.ok_or(entry.refused_by));
            }
            self.remove(key, &entry);
        }
        // Boxed: the lookup's state (the placeholder, the handler's future) is large, and a hit,
        // the common case, should not carry it (this future is boxed and moved on every call).
        Box::pin(self.look_up(key, token, now)).await
    }

    /// Removes `entry` from the table, unless another lookup has replaced it since.
    fn remove(&self, key: CacheKey, entry: &Entry) {
        self.cache.remove_if(&key, |slot| {
            matches!(slot, Slot::Entry(held)
                if held.stored_at == entry.stored_at && held.generation == entry.generation)
        });
    }

    /// A miss: one handler call per token, its answer cached.
    async fn look_up(&self, key: CacheKey, token: &str, now: i128) -> Result<Cached, TokenError> {
        // A second round only when the first answer was invalidated while it was looked up (it
        // may have been joined after the invalidation), or had expired: that answer is dropped,
        // never served again.
        let mut rounds = 0;
        loop {
            rounds += 1;
            // One call per token however many requests wait for it: the first gets the
            // placeholder and asks the handler, the others wait for its answer. (If it is
            // cancelled, a waiter takes the placeholder over.)
            let (slot, ours) = match self.cache.get_value_or_guard_async(&key).await {
                Ok(slot) => (slot, false),
                Err(placeholder) => {
                    let slot = self.ask(token, now).await;
                    // Fails only when the placeholder was removed meanwhile (an invalidation):
                    // the answer still goes to the requests that joined, and the marks decide.
                    let _ = placeholder.insert(slot.clone());
                    if let Slot::Miss(miss) = &slot {
                        // An error or an uncached "unknown" is handed to every waiter of this
                        // call (above) and stored nowhere: removed at once, with no await between.
                        self.cache.remove_if(
                            &key,
                            |held| matches!(held, Slot::Miss(m) if Arc::ptr_eq(m, miss)),
                        );
                    }
                    (slot, true)
                }
            };
            return match slot {
                Slot::Entry(entry)
                    if rounds < 2
                        && (self.marks.is_stale(&entry, now)
                            || !(ours || self.is_fresh(&entry, now))) =>
                {
                    self.remove(key, &entry);
                    continue;
                }
                Slot::Entry(entry) => Ok(entry.identity.ok_or(entry.refused_by)),
                Slot::Miss(miss) => match &*miss {
                    Miss::Unknown(check) => Ok(Err(*check)),
                    Miss::Backend(error) => Err(TokenError::new(error.message())),
                },
            };
        }
    }

    /// Asks the handler about `token`: the entry to cache, or why there is none.
    async fn ask(&self, token: &str, now: i128) -> Slot {
        // Read before the handler is asked: an invalidation after this point wins.
        let generation = self.marks.generation();
        let digest = sha256(token.as_bytes());
        let entry = |identity, refused_by| {
            Slot::Entry(Entry {
                identity,
                refused_by,
                stored_at: now,
                generation,
                digest,
            })
        };
        match self.handler.resolve_checked(token).await {
            Ok(Ok(identity)) => entry(Some(Arc::new(identity.into())), None),
            Ok(Err(check)) if self.negative_ttl.is_some() => entry(None, check),
            Ok(Err(check)) => Slot::Miss(Arc::new(Miss::Unknown(check))),
            Err(error) => Slot::Miss(Arc::new(Miss::Backend(error))),
        }
    }
}

/// Invalidations that win over lookups in flight.
///
/// Every invalidation bumps a generation and leaves a tombstone (token digest or uid, with its
/// generation); an entry remembers the generation its lookup started in, and is stale when a
/// tombstone of its key or uid is newer. Tombstones live as long as the longest entry could, and
/// are bounded by the cache's capacity: past it, the oldest state is folded into "everything
/// looked up before now is stale" (as [`TokenCache::invalidate_all`]), which errs on the side of
/// asking the handler again. While no tombstone is live, a hit reads two atomics and takes no
/// lock.
pub(crate) struct Marks {
    generation: AtomicU64,
    /// Entries whose lookup started before this generation are stale.
    all_before: AtomicU64,
    /// Tombstones held; hits skip the lock while it is zero.
    live: AtomicUsize,
    tombstones: Mutex<Tombstones>,
    capacity: usize,
    /// How long an entry can live, in nanoseconds: an older tombstone has nothing left to drop.
    lifetime: i128,
}

#[derive(Default)]
struct Tombstones {
    keys: HashMap<[u8; 32], u64>,
    uids: HashMap<String, u64>,
    /// When the newest tombstone was left (Unix nanoseconds).
    newest: i128,
}

impl Marks {
    fn new(capacity: u64, lifetime: i128) -> Self {
        Self {
            generation: AtomicU64::new(0),
            all_before: AtomicU64::new(0),
            live: AtomicUsize::new(0),
            tombstones: Mutex::new(Tombstones::default()),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX).max(1),
            lifetime,
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn mark_key(&self, key: &[u8; 32], now: i128) {
        self.mark(now, |t, generation| {
            t.keys.insert(*key, generation);
        });
    }

    fn mark_uid(&self, uid: &str, now: i128) {
        self.mark(now, |t, generation| {
            t.uids.insert(uid.to_owned(), generation);
        });
    }

    fn mark_all(&self) {
        let mut tombstones = self
            .tombstones
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self
            .generation
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        self.all_before.fetch_max(generation, Ordering::SeqCst);
        *tombstones = Tombstones::default();
        self.live.store(0, Ordering::SeqCst);
    }

    fn mark(&self, now: i128, leave: impl FnOnce(&mut Tombstones, u64)) {
        let mut tombstones = self
            .tombstones
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let generation = self
            .generation
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        if tombstones.keys.len() + tombstones.uids.len() >= self.capacity {
            // Full: every earlier invalidation becomes "all entries looked up before this one".
            self.all_before.fetch_max(generation, Ordering::SeqCst);
            *tombstones = Tombstones::default();
        }
        leave(&mut tombstones, generation);
        tombstones.newest = now;
        self.live.store(
            tombstones.keys.len() + tombstones.uids.len(),
            Ordering::SeqCst,
        );
    }

    /// Whether `entry` was invalidated after its lookup started.
    fn is_stale(&self, entry: &Entry, now: i128) -> bool {
        if entry.generation < self.all_before.load(Ordering::SeqCst) {
            return true;
        }
        if self.live.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let mut tombstones = self
            .tombstones
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(tombstones.newest) >= self.lifetime {
            // Every entry that a tombstone could drop has expired by now.
            *tombstones = Tombstones::default();
            self.live.store(0, Ordering::SeqCst);
            return false;
        }
        let newer = |generation: Option<&u64>| generation.is_some_and(|g| entry.generation < *g);
        newer(tombstones.keys.get(&entry.digest))
            || entry
                .identity
                .as_ref()
                .and_then(|identity| identity.uid.as_deref())
                .is_some_and(|uid| newer(tombstones.uids.get(uid)))
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

    /// A JWT's signature covers its header and payload: a token with a changed payload under the
    /// original signature is another token, never served the original's cached identity.
    #[tokio::test]
    async fn a_token_with_a_changed_payload_and_the_same_signature_is_never_a_hit() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let signed = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmVkLWJ5LXRoZS1pZHA";
        let cache = TokenCache::new(token_fn(move |token: String| {
            counted.fetch_add(1, Ordering::SeqCst);
            // Stands for the signature check: only the token as signed is valid.
            async move { Ok((token == signed).then(|| Identity::new("alice"))) }
        }))
        .with_negative_ttl(Duration::minutes(5));
        let who = cache.resolve(signed).await.unwrap().unwrap();
        assert_eq!(who.uid(), Some("alice"));
        let (head, rest) = signed.split_once('.').unwrap();
        let (_payload, signature) = rest.split_once('.').unwrap();
        // {"sub":"admin"}, and the last byte of the payload changed, under the same signature.
        let forged = [
            format!("{head}.eyJzdWIiOiJhZG1pbiJ9.{signature}"),
            format!("{head}.eyJzdWIiOiJhbGljZSJ8.{signature}"),
            format!("{head}.eyJzdWIiOiJhbGljZSJ9.{signature}="),
        ];
        for (n, token) in forged.iter().enumerate() {
            assert!(cache.resolve(token).await.unwrap().is_none(), "{token}");
            assert_eq!(calls.load(Ordering::SeqCst), n + 2, "asked the handler");
        }
        // The refusals are cached as refusals of the forged tokens only.
        assert!(cache.resolve(signed).await.unwrap().is_some());
        assert!(cache.resolve(&forged[0]).await.unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
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

    /// A handler whose calls read `valid` at once (the database read), then wait for the test to
    /// let them answer: a revocation can land between the read and the answer.
    struct Gated {
        calls: Arc<AtomicUsize>,
        gate: Arc<tokio::sync::Semaphore>,
        valid: Arc<std::sync::atomic::AtomicBool>,
    }

    #[async_trait]
    impl TokenHandler for Gated {
        async fn resolve(&self, _token: &str) -> Result<Option<Identity>, TokenError> {
            let valid = self.valid.load(Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
            let permit = self.gate.acquire().await;
            drop(permit);
            Ok(valid.then(|| Identity::new("alice")))
        }
    }

    fn gated() -> (
        TokenCache,
        Arc<AtomicUsize>,
        Arc<tokio::sync::Semaphore>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let valid = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let cache = TokenCache::new(Gated {
            calls: calls.clone(),
            gate: gate.clone(),
            valid: valid.clone(),
        });
        (cache, calls, gate, valid)
    }

    /// Waits (bounded) until the handler has been called `n` times.
    async fn called(calls: &AtomicUsize, n: usize) {
        for _ in 0..500 {
            if calls.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        panic!("the handler was not called {n} times");
    }

    /// The race of issue 11: the handler reads "valid", the token is revoked and invalidated,
    /// then the lookup finishes. Before the fix its stale answer was cached for the TTL.
    async fn invalidation_during_a_lookup_wins(invalidate: impl AsyncFnOnce(&TokenCache)) {
        let (cache, calls, gate, valid) = gated();
        let in_flight = tokio::spawn({
            let cache = cache.clone();
            async move { cache.resolve("good").await }
        });
        called(&calls, 1).await; // the handler has been asked, and has not answered yet
        valid.store(false, Ordering::SeqCst); // revoked in the database...
        invalidate(&cache).await; // ...then in the cache, while the lookup is in flight
        gate.add_permits(1000);
        // The lookup in flight sees the invalidation too: it drops its answer and asks again.
        assert!(in_flight.await.unwrap().unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // The next request asks the handler again (nothing stale was cached), and is refused.
        assert!(cache.resolve("good").await.unwrap().is_none());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invalidation_during_a_lookup_wins() {
        invalidation_during_a_lookup_wins(async |c: &TokenCache| c.invalidate("good").await).await;
        invalidation_during_a_lookup_wins(async |c: &TokenCache| c.invalidate_uid("alice")).await;
        invalidation_during_a_lookup_wins(async |c: &TokenCache| c.invalidate_all()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_joining_a_lookup_after_the_invalidation_is_not_served_its_answer() {
        let (cache, calls, gate, valid) = gated();
        let first = tokio::spawn({
            let cache = cache.clone();
            async move { cache.resolve("good").await }
        });
        called(&calls, 1).await;
        valid.store(false, Ordering::SeqCst);
        cache.invalidate("good").await;
        // Joins the lookup in flight (single-flight), after the invalidation.
        let second = tokio::spawn({
            let cache = cache.clone();
            async move { cache.resolve("good").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        gate.add_permits(1000);
        let _ = first.await.unwrap().unwrap();
        assert!(second.await.unwrap().unwrap().is_none());
    }

    #[tokio::test]
    async fn uid_invalidation_drops_every_token_of_that_user_only() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let cache = TokenCache::new(token_fn(move |token: String| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Some(Identity::new(token.split(':').next().unwrap_or("")))) }
        }));
        for token in ["alice:1", "alice:2", "bob:1"] {
            assert!(cache.resolve(token).await.unwrap().is_some());
        }
        cache.invalidate_uid("alice");
        for token in ["alice:1", "alice:2", "bob:1", "alice:1"] {
            assert!(cache.resolve(token).await.unwrap().is_some());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "alice's two tokens asked again, once"
        );
    }

    #[tokio::test]
    async fn tombstones_are_bounded_and_overflow_errs_towards_asking_again() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let cache = TokenCache::new(token_fn(move |token: String| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Some(Identity::new(token))) }
        }))
        .with_capacity(8);
        assert!(cache.resolve("kept").await.unwrap().is_some());
        for i in 0..100 {
            cache.mark_digest(&sha256(format!("other-{i}").as_bytes()));
        }
        let held = {
            let t = cache.core.marks.tombstones.lock().unwrap();
            t.keys.len() + t.uids.len()
        };
        assert!(held <= 8, "{held}");
        // "kept" was never invalidated, but the overflow made it stale: asked again, not served.
        assert!(cache.resolve("kept").await.unwrap().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(cache.resolve("kept").await.unwrap().is_some());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn tombstones_are_dropped_once_every_entry_they_could_drop_has_expired() {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let cache = TokenCache::new(counting(Arc::new(AtomicUsize::new(0))))
            .with_ttl(Duration::seconds(30))
            .with_clock(clock.clone());
        assert!(cache.resolve("good").await.unwrap().is_some());
        cache.invalidate("good").await;
        assert_eq!(cache.core.marks.live.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(31));
        assert!(cache.resolve("good").await.unwrap().is_some());
        assert!(cache.resolve("good").await.unwrap().is_some());
        assert_eq!(cache.core.marks.live.load(Ordering::SeqCst), 0);
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
        assert!(cache.entry_count() <= 50, "{}", cache.entry_count());
    }
}
