//! [`MemoryStore`]: the revocation store of one instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::local::{Entry, Local};
use super::{
    duration_ms, unix_ms, ActiveSession, RevocationStore, Standing, StoreError, StoreWrite,
    TokenListener, DEFAULT_ACTIVE_PER_USER, DEFAULT_MAX_SESSION_LIFE, DEFAULT_STORE_CAPACITY,
    DEFAULT_TOKEN_MARK_TTL,
};
use crate::clock::{Clock, ClockSource};
use crate::key::sha256;
use crate::record::SessionId;

/// The revocation store of a single instance, in memory. See the [module docs](super).
///
/// Bounded: at most [`with_capacity`](Self::with_capacity) revocations (default 100,000), as
/// many single-use keys, and as many users with active sessions; entries go when they have
/// nothing left to refuse. A write to a store full of live entries fails with
/// [`StoreError::Full`] (nothing live is ever dropped to make room). It never fails otherwise,
/// and its [`check`](RevocationStore::check) never answers [`Standing::Unavailable`].
///
/// Clones share one store.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sealed_session::store::{ActiveSession, MemoryStore, RevocationStore, Standing};
/// use sealed_session::SessionId;
/// use time::{Duration, OffsetDateTime};
///
/// let store = MemoryStore::new().with_active_per_user(2);
/// let now = OffsetDateTime::now_utc();
/// let ids: Vec<SessionId> = ["AAAAAAAAAAAAAAAAAAAAAA", "AQEBAQEBAQEBAQEBAQEBAQ", "AgICAgICAgICAgICAgICAg"]
///     .iter().map(|s| s.parse().unwrap()).collect();
/// for (n, id) in ids.iter().enumerate() {
///     let created = now + Duration::seconds(n as i64);
///     let entry = ActiveSession::new(*id, created, created + Duration::days(1)).with_label("Firefox");
///     store.record_active("alice", entry).await.unwrap();
/// }
/// // Two at most per user: the first one is no longer listed.
/// let listed = store.active_sessions("alice").await.unwrap();
/// assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), ids[1..]);
///
/// // Ending one from the list denies it.
/// assert!(store.end_session("alice", ids[2]).await.unwrap());
/// assert!(matches!(store.check(&ids[2], Some("alice"), 0), Standing::Revoked(_)));
/// assert_eq!(store.active_sessions("alice").await.unwrap().len(), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    local: Arc<Local>,
    extra: Arc<Mutex<Extra>>,
    clock: ClockSource,
    capacity: usize,
    active_per_user: usize,
    max_session_life: Duration,
    token_mark_ttl: Duration,
}

/// What is not on the request path: single-use keys and active sessions.
#[derive(Default)]
struct Extra {
    once: HashMap<[u8; 32], i64>,
    active: HashMap<String, Vec<ActiveSession>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemoryStore")
            .field("revocations", &self.local)
            .field("single_use", &extra.once.len())
            .field("users_with_active_sessions", &extra.active.len())
            .field("active_per_user", &self.active_per_user)
            .field("max_session_life", &self.max_session_life)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store: 100,000 entries at most, 32 active sessions per user, not-before times
    /// kept 30 days, token invalidations 1 hour.
    #[must_use]
    pub fn new() -> Self {
        Self {
            local: Arc::new(Local::new(DEFAULT_STORE_CAPACITY)),
            extra: Arc::default(),
            clock: ClockSource::default(),
            capacity: DEFAULT_STORE_CAPACITY,
            active_per_user: DEFAULT_ACTIVE_PER_USER,
            max_session_life: DEFAULT_MAX_SESSION_LIFE,
            token_mark_ttl: DEFAULT_TOKEN_MARK_TTL,
        }
    }

    /// The most entries of each kind (revocations, single-use keys, users with active
    /// sessions). Starts the store afresh.
    #[must_use]
    pub fn with_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries.max(1);
        self.local = Arc::new(Local::new(self.capacity));
        self.extra = Arc::default();
        self
    }

    /// The most active sessions listed per user. Default 32.
    #[must_use]
    pub fn with_active_per_user(mut self, sessions: usize) -> Self {
        self.active_per_user = sessions.max(1);
        self
    }

    /// How long a not-before time is kept: at least the layer's max age. Default 30 days.
    #[must_use]
    pub fn with_max_session_life(mut self, life: Duration) -> Self {
        self.max_session_life = life;
        self
    }

    /// How long a token invalidation is remembered: at least the longest `TokenCache` TTL.
    /// Default 1 hour.
    #[must_use]
    pub fn with_token_mark_ttl(mut self, ttl: Duration) -> Self {
        self.token_mark_ttl = ttl;
        self
    }

    /// The clock that expiry reads. Default [`SystemClock`](crate::SystemClock).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::custom(clock);
        self
    }

    /// The number of revocations held (expired ones until purged).
    #[must_use]
    pub fn len(&self) -> usize {
        self.local.len()
    }

    /// Whether no revocation is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.unix_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
    }

    fn record_active_now(&self, uid: &str, session: ActiveSession) -> Result<(), StoreError> {
        let now = self.now_ms();
        let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        if !extra.active.contains_key(uid) && extra.active.len() >= self.capacity {
            extra.active.retain(|_, list| {
                list.retain(|s| s.expires_ms > now);
                !list.is_empty()
            });
            if extra.active.len() >= self.capacity {
                return Err(StoreError::Full);
            }
        }
        let list = extra.active.entry(uid.to_owned()).or_default();
        upsert_active(list, session, now, self.active_per_user);
        if list.is_empty() {
            extra.active.remove(uid);
        }
        Ok(())
    }

    fn apply(&self, entry: &Entry) -> Result<(), StoreError> {
        self.local.apply(entry, self.now_ms()).map(drop)
    }
}

/// The entry for a user's not-before time at `at`, kept for `life`.
pub(crate) fn user_entry(
    uid: &str,
    at: OffsetDateTime,
    keep: Option<SessionId>,
    life: Duration,
) -> Entry {
    let at = unix_ms(at);
    Entry::User {
        uid: uid.to_owned(),
        at,
        until: at.saturating_add(duration_ms(life)),
        keep,
    }
}

/// Adds or updates `session` in `list` (live entries at `now`), keeping at most `max`: the
/// sessions created first go.
pub(crate) fn upsert_active(
    list: &mut Vec<ActiveSession>,
    session: ActiveSession,
    now: i64,
    max: usize,
) {
    list.retain(|s| s.expires_ms > now && s.id != session.id);
    if session.expires_ms > now {
        list.push(session);
    }
    list.sort_by_key(|s| (s.created_ms, *s.id.as_bytes()));
    let over = list.len().saturating_sub(max);
    list.drain(..over);
}

#[async_trait]
impl RevocationStore for MemoryStore {
    fn check(&self, id: &SessionId, uid: Option<&str>, created_ms: i64) -> Standing {
        match self.local.check(id, uid, created_ms) {
            Some(by) => Standing::Revoked(by),
            None => Standing::Live,
        }
    }

    fn deny_session(&self, id: SessionId, until: OffsetDateTime) -> StoreWrite {
        StoreWrite::ready(self.apply(&Entry::Denied {
            id,
            until: unix_ms(until),
        }))
    }

    fn log_out_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        StoreWrite::ready(self.apply(&user_entry(uid, at, None, self.max_session_life)))
    }

    fn log_out_other_sessions(&self, uid: &str, keep: SessionId, at: OffsetDateTime) -> StoreWrite {
        StoreWrite::ready(self.apply(&user_entry(uid, at, Some(keep), self.max_session_life)))
    }

    fn log_out_everyone(&self, at: OffsetDateTime) -> StoreWrite {
        let at = unix_ms(at);
        StoreWrite::ready(self.apply(&Entry::Everyone {
            at,
            until: at.saturating_add(duration_ms(self.max_session_life)),
        }))
    }

    fn recheck_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        let at = unix_ms(at);
        StoreWrite::ready(self.apply(&Entry::Recheck {
            uid: uid.to_owned(),
            at,
            until: at.saturating_add(duration_ms(self.max_session_life)),
        }))
    }

    fn recheck_due(&self, uid: &str, checked_ms: i64) -> bool {
        self.local.recheck_due(uid, checked_ms)
    }

    fn record_active(&self, uid: &str, session: ActiveSession) -> StoreWrite {
        StoreWrite::ready(self.record_active_now(uid, session))
    }

    async fn active_sessions(&self, uid: &str) -> Result<Vec<ActiveSession>, StoreError> {
        let now = self.now_ms();
        let extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(extra
            .active
            .get(uid)
            .map(|list| {
                list.iter()
                    .filter(|s| s.expires_ms > now)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn end_session(&self, uid: &str, id: SessionId) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let listed = {
            let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
            let list = extra.active.get_mut(uid);
            let found = list.and_then(|list| {
                let at = list.iter().position(|s| s.id == id)?;
                Some(list.remove(at))
            });
            if extra.active.get(uid).is_some_and(Vec::is_empty) {
                extra.active.remove(uid);
            }
            found
        };
        let until = listed.as_ref().map_or_else(
            || now.saturating_add(duration_ms(self.max_session_life)),
            |s| s.expires_ms,
        );
        self.apply(&Entry::Denied { id, until })?;
        Ok(listed.is_some())
    }

    fn invalidate_token(&self, digest: [u8; 32]) -> StoreWrite {
        let at = self.now_ms();
        StoreWrite::ready(self.apply(&Entry::Token {
            digest,
            at,
            until: at.saturating_add(duration_ms(self.token_mark_ttl)),
        }))
    }

    fn invalidate_user_tokens(&self, uid: &str) -> StoreWrite {
        let at = self.now_ms();
        StoreWrite::ready(self.apply(&Entry::UserTokens {
            uid: uid.to_owned(),
            at,
            until: at.saturating_add(duration_ms(self.token_mark_ttl)),
        }))
    }

    async fn use_once(&self, key: &[u8], lives_for: Duration) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let digest = sha256(key);
        let mut extra = self.extra.lock().unwrap_or_else(PoisonError::into_inner);
        if extra.once.get(&digest).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        if extra.once.len() >= self.capacity {
            extra.once.retain(|_, until| *until > now);
            if extra.once.len() >= self.capacity {
                return Err(StoreError::Full);
            }
        }
        extra
            .once
            .insert(digest, now.saturating_add(duration_ms(lives_for)));
        Ok(true)
    }

    fn on_token_invalidation(&self, listener: TokenListener) {
        self.local.listen(listener);
    }
}

#[cfg(test)]
mod tests {
    use super::super::local::tests::id;
    use super::super::RevokedBy;
    use super::*;
    use crate::testing::ManualClock;
    use time::macros::datetime;

    fn store() -> (MemoryStore, ManualClock) {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        (MemoryStore::new().with_clock(clock.clone()), clock)
    }

    #[tokio::test]
    async fn entries_expire_on_their_own() {
        let (store, clock) = store();
        let store = store.with_max_session_life(Duration::hours(1));
        let now = clock.now();
        store
            .deny_session(id(1), now + Duration::minutes(5))
            .await
            .unwrap();
        store.log_out_user("alice", now).await.unwrap();
        assert_eq!(store.len(), 2);
        assert!(store.use_once(b"k", Duration::minutes(1)).await.unwrap());
        assert!(!store.use_once(b"k", Duration::minutes(1)).await.unwrap());
        clock.advance(Duration::minutes(1));
        assert!(
            store.use_once(b"k", Duration::minutes(1)).await.unwrap(),
            "expired"
        );
        clock.advance(Duration::hours(1));
        store.local.purge(store.now_ms());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn log_out_everyone_is_to_the_millisecond() {
        let (store, clock) = store();
        let at = clock.now() + Duration::milliseconds(900);
        store.log_out_everyone(at).await.unwrap();
        let created = unix_ms(clock.now() + Duration::milliseconds(100));
        assert_eq!(
            store.check(&id(1), None, created),
            Standing::Revoked(RevokedBy::Everyone)
        );
        assert_eq!(store.check(&id(1), None, unix_ms(at)), Standing::Live);
    }

    #[tokio::test]
    async fn active_sessions_are_bounded_per_user_and_expire() {
        let (store, clock) = store();
        let store = store.with_active_per_user(3);
        let now = clock.now();
        for n in 0..5u8 {
            let created = now + Duration::seconds(i64::from(n));
            let life = Duration::minutes(if n == 4 { 1 } else { 10 });
            let entry = ActiveSession::new(id(n), created, created + life).with_label("ua");
            store.record_active("alice", entry).await.unwrap();
        }
        let listed = store.active_sessions("alice").await.unwrap();
        let ids: Vec<_> = listed.iter().map(|s| s.id).collect();
        assert_eq!(ids, [id(2), id(3), id(4)], "the two created first evicted");
        // A renewal updates last-seen in place.
        let renewed =
            ActiveSession::new(id(3), now + Duration::seconds(3), now + Duration::hours(1))
                .with_last_seen(now + Duration::seconds(30));
        store.record_active("alice", renewed).await.unwrap();
        let listed = store.active_sessions("alice").await.unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[1].last_seen_ms, unix_ms(now + Duration::seconds(30)));
        clock.advance(Duration::minutes(2));
        let listed = store.active_sessions("alice").await.unwrap();
        assert_eq!(
            listed.iter().map(|s| s.id).collect::<Vec<_>>(),
            [id(2), id(3)]
        );
        assert!(store.active_sessions("bob").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_recheck_is_due_once_per_session_for_its_user_and_expires_with_the_session_life() {
        let (store, clock) = store();
        let store = store.with_max_session_life(Duration::hours(1));
        let asked = clock.now();
        let ms = |t: OffsetDateTime| unix_ms(t);
        store.recheck_user("alice", asked).await.unwrap();
        // Checked before (or in the same millisecond): due; checked after it: not again.
        assert!(store.recheck_due("alice", ms(asked - Duration::minutes(3))));
        assert!(store.recheck_due("alice", ms(asked)));
        assert!(!store.recheck_due("alice", ms(asked) + 1));
        assert!(!store.recheck_due("bob", ms(asked - Duration::minutes(3))));
        // It does not end anything.
        assert_eq!(store.check(&id(1), Some("alice"), 0), Standing::Live);
        // Kept for the longest session life, then gone.
        clock.advance(Duration::minutes(59));
        assert!(store.recheck_due("alice", ms(asked - Duration::minutes(3))));
        clock.advance(Duration::minutes(1));
        store.local.purge(store.now_ms());
        assert!(!store.recheck_due("alice", ms(asked - Duration::minutes(3))));
        assert!(store.is_empty());
        // A recheck asked in the past beyond the session life records nothing.
        store
            .recheck_user("alice", clock.now() - Duration::hours(2))
            .await
            .unwrap();
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn ending_an_unlisted_session_still_denies_it() {
        let (store, _) = store();
        assert!(!store.end_session("alice", id(7)).await.unwrap());
        assert_eq!(
            store.check(&id(7), Some("alice"), 0),
            Standing::Revoked(RevokedBy::Session)
        );
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_entries_and_keeps_the_live_ones() {
        let (store, clock) = store();
        let store = store.with_capacity(2);
        let until = clock.now() + Duration::minutes(1);
        store.deny_session(id(1), until).await.unwrap();
        store.deny_session(id(2), until).await.unwrap();
        assert_eq!(
            store.deny_session(id(3), until).await,
            Err(StoreError::Full)
        );
        assert!(matches!(store.check(&id(1), None, 0), Standing::Revoked(_)));
        assert!(store.use_once(b"a", Duration::minutes(1)).await.unwrap());
        assert!(store.use_once(b"b", Duration::minutes(1)).await.unwrap());
        assert_eq!(
            store.use_once(b"c", Duration::minutes(1)).await,
            Err(StoreError::Full)
        );
    }
}
