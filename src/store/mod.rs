//! Sessions that can be ended: the [`RevocationStore`], in memory or shared through Redis.
//!
//! A sealed cookie is stateless, so ending one copy of it needs state somewhere. A revocation
//! store keeps that state, bounded and expiring on its own:
//!
//! - **denied session ids**, each until the session would have expired anyway
//!   ([`RevocationStore::deny_session`]): logout, a privilege change, a re-login;
//! - **not-before times** per user and for everyone, to the millisecond
//!   ([`RevocationStore::log_out_user`], [`RevocationStore::log_out_everyone`]), and "log out my
//!   other sessions" ([`RevocationStore::log_out_other_sessions`], ASVS 7.4.3);
//! - **active sessions** per user, opt-in (ASVS 7.5.2): listed with their creation time, last
//!   renewal and an app label, ended one by one; bounded per user, the oldest evicted;
//! - **token invalidations** by token digest and by uid, handed to every [`TokenCache`] that
//!   [follows](crate::TokenCache::follow) the store, on every instance;
//! - **single-use keys** ([`RevocationStore::use_once`]): an OAuth `state`, a DPoP `jti`;
//! - **forced validator checks** per user ([`RevocationStore::recheck_user`]): after a role
//!   change, the next request of that user's sessions runs the layer's validator, on every
//!   instance, without ending the sessions.
//!
//! The request path never waits for the network: [`RevocationStore::check`] reads local memory
//! only. [`MemoryStore`] is that memory. `RedisStore` (feature `redis`) keeps a local mirror of
//! the live revocations, filled at start-up and kept current through Redis pub/sub, with a
//! periodic resync, and writes go to the mirror and to Redis at once; see its docs for what
//! happens while Redis is unreachable ([`FailMode`]).
//!
//! Times are Unix milliseconds on the request path (`created_ms`), `OffsetDateTime` elsewhere.
//! Keys never go into the store: it holds session ids (not credentials on their own), uids,
//! SHA-256 digests of tokens and single-use keys, and times.
//!
//! [`TokenCache`]: crate::TokenCache
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use sealed_session::store::{MemoryStore, RevocationStore, RevokedBy, Standing};
//! use sealed_session::SessionId;
//! use time::{Duration, OffsetDateTime};
//!
//! let store = MemoryStore::new();
//! let now = OffsetDateTime::now_utc();
//! let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
//! let (phone, laptop): (SessionId, SessionId) =
//!     ("AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(), "AQEBAQEBAQEBAQEBAQEBAQ".parse().unwrap());
//! let created = ms(now - Duration::minutes(5));
//!
//! assert_eq!(store.check(&phone, Some("alice"), created), Standing::Live);
//!
//! // Logout on the phone: that session id is refused until it would have expired anyway.
//! store.deny_session(phone, now + Duration::days(30)).await.unwrap();
//! assert_eq!(store.check(&phone, Some("alice"), created), Standing::Revoked(RevokedBy::Session));
//! assert_eq!(store.check(&laptop, Some("alice"), created), Standing::Live);
//!
//! // A password change on the laptop: every other session of alice ends, this one stays.
//! store.log_out_other_sessions("alice", laptop, now).await.unwrap();
//! let tablet: SessionId = "AgICAgICAgICAgICAgICAg".parse().unwrap();
//! assert_eq!(store.check(&tablet, Some("alice"), created), Standing::Revoked(RevokedBy::User));
//! assert_eq!(store.check(&laptop, Some("alice"), created), Standing::Live);
//! // Sessions created after it are not touched (to the millisecond).
//! assert_eq!(store.check(&tablet, Some("alice"), ms(now) + 1), Standing::Live);
//!
//! // A role change in the database: alice's sessions run the layer's validator on their next
//! // request, on every instance sharing the store (sessions last checked before it only).
//! store.recheck_user("alice", now).await.unwrap();
//! assert!(store.recheck_due("alice", created));
//! assert!(!store.recheck_due("alice", ms(now) + 1));
//! assert!(!store.recheck_due("bob", created));
//!
//! // Single use, for an OAuth state.
//! assert!(store.use_once(b"state-123", Duration::minutes(10)).await.unwrap());
//! assert!(!store.use_once(b"state-123", Duration::minutes(10)).await.unwrap());
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::record::SessionId;

mod local;
mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(feature = "cache")]
mod tokens;

pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, RedisStoreBuilder};

/// Default most entries a store keeps in memory (denied ids, not-before times, token marks).
pub const DEFAULT_STORE_CAPACITY: usize = 100_000;
/// Default most active sessions listed per user; past it, the oldest (by creation) is evicted.
pub const DEFAULT_ACTIVE_PER_USER: usize = 32;
/// Default longest a session can live: how long a not-before time is kept. Must be at least the
/// layer's max age (the layer's default, 30 days).
pub const DEFAULT_MAX_SESSION_LIFE: Duration = Duration::days(30);
/// Default time a token invalidation is remembered: at least the longest [`TokenCache`] TTL of
/// the apps that follow the store.
///
/// [`TokenCache`]: crate::TokenCache
pub const DEFAULT_TOKEN_MARK_TTL: Duration = Duration::hours(1);

/// The standing of a session on the request path, from [`RevocationStore::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Standing {
    /// Not revoked, as far as the store knows.
    Live,
    /// Revoked: refuse it like an expired session (no session, deletion cookie).
    Revoked(RevokedBy),
    /// The store cannot tell: its mirror is older than the bound of [`FailMode::Closed`].
    /// Answer 503 with `Retry-After`.
    Unavailable {
        /// When to try again.
        retry_after: std::time::Duration,
    },
}

/// What revoked a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// Its session id was denied (logout, privilege change, re-login, ended from a list).
    Session,
    /// Its user's not-before time (log out everywhere, or all other sessions).
    User,
    /// The global not-before time.
    Everyone,
}

impl RevokedBy {
    /// A short reason for logs: `session_denied`, `user_not_before`, `global_not_before`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Session => "session_denied",
            Self::User => "user_not_before",
            Self::Everyone => "global_not_before",
        }
    }
}

/// What a store does with sessions while it cannot tell whether they were revoked (its shared
/// backend is unreachable and the local mirror may miss revocations written elsewhere).
///
/// A session revoked as far as the mirror knows is refused in every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailMode {
    /// The default: once the mirror is older than `after`, sessions the mirror does not know as
    /// revoked get [`Standing::Unavailable`] (503 with `Retry-After`): a revocation written on
    /// another instance during the outage is never missed for longer than `after`.
    Closed {
        /// How long the mirror may go unconfirmed. Default 10 seconds.
        after: std::time::Duration,
    },
    /// Keep answering from the last mirror, however old: the app stays up while Redis is down,
    /// and revocations written elsewhere during the outage are seen only after it.
    ServeStale,
}

impl Default for FailMode {
    fn default() -> Self {
        Self::Closed {
            after: std::time::Duration::from_secs(10),
        }
    }
}

/// A store operation failed. The local effect of a write still holds (the session is refused on
/// this instance); what failed is sharing it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The shared backend did not answer in time or refused the connection. `queued` says
    /// whether the write was kept to be sent again after reconnecting (the queue is bounded).
    Unavailable {
        /// What failed, without secrets.
        message: String,
        /// Whether the write will be sent again on reconnect.
        queued: bool,
    },
    /// The store is full of live entries (see [`MemoryStore::with_capacity`]): the write was
    /// not recorded.
    Full,
    /// The backend answered with something this crate did not write.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { message, queued } => write!(
                f,
                "revocation store unavailable ({message}); {}",
                if *queued {
                    "applied locally, queued for the shared store"
                } else {
                    "applied locally only"
                }
            ),
            Self::Full => f.write_str("revocation store full of live entries"),
            Self::Corrupt(what) => write!(f, "revocation store holds an unreadable entry: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// An active session, as listed by [`RevocationStore::active_sessions`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActiveSession {
    /// The session id.
    pub id: SessionId,
    /// When the session was created (login), Unix milliseconds.
    pub created_ms: i64,
    /// When it was last seen (written at login and renewal), Unix milliseconds.
    pub last_seen_ms: i64,
    /// When it expires at the latest (its max age), Unix milliseconds: the entry goes then.
    pub expires_ms: i64,
    /// An app-supplied label, for example the user agent (at most 200 bytes are kept).
    pub label: String,
}

/// Longest label kept, in bytes.
pub(crate) const MAX_LABEL: usize = 200;

impl ActiveSession {
    /// An entry for session `id`, created and last seen at `created`, expiring at `expires`.
    #[must_use]
    pub fn new(id: SessionId, created: OffsetDateTime, expires: OffsetDateTime) -> Self {
        let created_ms = unix_ms(created);
        Self {
            id,
            created_ms,
            last_seen_ms: created_ms,
            expires_ms: unix_ms(expires),
            label: String::new(),
        }
    }

    /// Sets when it was last seen.
    #[must_use]
    pub fn with_last_seen(mut self, at: OffsetDateTime) -> Self {
        self.last_seen_ms = unix_ms(at);
        self
    }

    /// Sets the label, cut to 200 bytes at a character boundary, control characters replaced.
    #[must_use]
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = clean_label(label);
        self
    }
}

/// A label without control characters (it is shown in pages and logs), at most 200 bytes.
pub(crate) fn clean_label(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_LABEL {
            break;
        }
        out.push(c);
    }
    out
}

/// A token invalidation, as handed to the listeners of [`RevocationStore::on_token_invalidation`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenInvalidation {
    /// The token with this SHA-256 digest.
    Digest([u8; 32]),
    /// Every token of this uid.
    Uid(String),
}

/// A listener for token invalidations: called on the instance that wrote it at once, and on the
/// others as the invalidation arrives. It must not block.
pub type TokenListener = Arc<dyn Fn(&TokenInvalidation) + Send + Sync>;

/// A write to a store whose local effect already holds: the revocation is refused on this
/// instance as soon as the call returns. Awaiting it shares the write with the other instances
/// (a shared backend) and reports whether that worked; [`StoreWrite::detach`] shares it in the
/// background instead (failures are logged by the store).
#[must_use = "the local effect holds already; await the write to share it and see its error, or detach it"]
pub struct StoreWrite(Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'static>>);

impl StoreWrite {
    /// A write that is complete (nothing to share, or nothing that can be shared).
    pub fn ready(result: Result<(), StoreError>) -> Self {
        Self(Box::pin(std::future::ready(result)))
    }

    /// A write that `share` completes.
    pub fn sharing(share: impl Future<Output = Result<(), StoreError>> + Send + 'static) -> Self {
        Self(Box::pin(share))
    }

    /// Shares the write in the background (on the current Tokio runtime; outside one, the
    /// write stays local and a `tracing` error says so). The store logs a failure to share.
    pub fn detach(self) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(self.0);
            }
            Err(_) => {
                tracing::error!(target: "sealed_session", reason = "store_unavailable", "revocation write detached outside a Tokio runtime: applied locally only");
            }
        }
    }
}

impl Future for StoreWrite {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for StoreWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreWrite")
    }
}

/// Where revocations live. See the [module docs](self).
///
/// Writes apply locally before they return (a [`StoreWrite`]), then to the shared backend if
/// any when awaited: on an error, the local effect holds and the error says what was not shared.
#[async_trait]
pub trait RevocationStore: fmt::Debug + Send + Sync + 'static {
    /// The standing of session `id` of `uid`, created at `created_ms` (Unix milliseconds; the
    /// time its id was minted). Reads local memory only: no network, no await.
    fn check(&self, id: &SessionId, uid: Option<&str>, created_ms: i64) -> Standing;

    /// Refuses session `id` until `until` (when it would have expired anyway).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared (see the trait docs).
    fn deny_session(&self, id: SessionId, until: OffsetDateTime) -> StoreWrite;

    /// Refuses every session of `uid` created before `at` ("log out everywhere", a disabled
    /// account). A later time replaces an earlier one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared.
    fn log_out_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite;

    /// Refuses every session of `uid` created before `at` except `keep` (after a password
    /// change). A later call replaces an earlier one, and its `keep` with it.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared.
    fn log_out_other_sessions(&self, uid: &str, keep: SessionId, at: OffsetDateTime) -> StoreWrite;

    /// Refuses every session created before `at`, of every user.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared.
    fn log_out_everyone(&self, at: OffsetDateTime) -> StoreWrite;

    /// Forces the layer's [`SessionValidator`](crate::SessionValidator) on the next request of
    /// every session of `uid` last checked at or before `at`, on every instance that shares the
    /// store, whatever the validation interval (apicrud's `update_auth`: after a role change in
    /// the database, the user's sessions pick up the new roles at once, without being ended).
    /// A later time replaces an earlier one; the entry is kept for the longest session life.
    ///
    /// The layer needs a validator ([`SessionLayer::with_validator`]). Cookies record the last
    /// check to the second, so a session checked in the same second as `at` is checked once
    /// more: a recheck may repeat within that second, it is never missed.
    ///
    /// [`SessionLayer::with_validator`]: crate::SessionLayer::with_validator
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared.
    fn recheck_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite;

    /// Whether a session of `uid` last checked by the validator at `checked_ms` (Unix
    /// milliseconds) must be checked again: [`recheck_user`](Self::recheck_user) asked for it at
    /// or after that time. Reads local memory only: no network, no await.
    fn recheck_due(&self, uid: &str, checked_ms: i64) -> bool;

    /// Records or updates an active session of `uid` (at login and renewal). Past the per-user
    /// bound, the session created first is no longer listed (it stays valid).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the entry could not be recorded or shared.
    fn record_active(&self, uid: &str, session: ActiveSession) -> StoreWrite;

    /// The live active sessions of `uid`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the shared backend cannot be read.
    async fn active_sessions(&self, uid: &str) -> Result<Vec<ActiveSession>, StoreError>;

    /// Ends session `id` of `uid`: no longer listed, and denied until it would have expired (or
    /// for the longest session life when it was not listed). Returns whether it was listed.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the denial could not be recorded or shared.
    async fn end_session(&self, uid: &str, id: SessionId) -> Result<bool, StoreError>;

    /// Invalidates cached lookups of the token with this SHA-256 digest, on every instance.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the invalidation could not be recorded or shared.
    fn invalidate_token(&self, digest: [u8; 32]) -> StoreWrite;

    /// Invalidates cached lookups of every token of `uid`, on every instance.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the invalidation could not be recorded or shared.
    fn invalidate_user_tokens(&self, uid: &str) -> StoreWrite;

    /// Uses `key` once: `true` the first time within `lives_for`, `false` after, on every
    /// instance. The key is stored as its SHA-256 digest.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the shared backend cannot be asked: treat the key as not usable.
    async fn use_once(&self, key: &[u8], lives_for: Duration) -> Result<bool, StoreError>;

    /// Calls `listener` for every token invalidation from now on, local or remote.
    fn on_token_invalidation(&self, listener: TokenListener);
}

/// Unix milliseconds of `t`, saturating.
pub(crate) fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// `d` in whole milliseconds, saturating, at least 0.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds())
        .unwrap_or(i64::MAX)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cut_at_a_character_boundary_without_control_characters() {
        let long = "é".repeat(150);
        let cut = clean_label(&long);
        assert_eq!(cut.len(), 200);
        assert_eq!(clean_label("a\nb\u{1b}[31m"), "a b [31m");
    }

    #[test]
    fn milliseconds_round_down_before_1970_too() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(unix_ms(t), -1);
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_999_999).unwrap();
        assert_eq!(unix_ms(t), 1);
    }

    #[test]
    fn errors_say_the_local_effect_holds() {
        let e = StoreError::Unavailable {
            message: "connection refused".into(),
            queued: true,
        };
        assert_eq!(
            e.to_string(),
            "revocation store unavailable (connection refused); applied locally, queued for the shared store"
        );
        assert_eq!(RevokedBy::User.reason(), "user_not_before");
    }
}
