//! Revocation and stale privileges: [`NotBefore`] and the [`SessionValidator`] hook.
//!
//! A sealed cookie is stateless: without help, the server cannot end one copy of it before its
//! idle timeout or max age. Two mechanisms close that gap.
//!
//! - [`NotBefore`]: a per-user and a global "not before" time. Cookie sessions created earlier
//!   are refused: "log out everywhere" without rotating keys. Checked on every request, in
//!   memory, and again just before a cookie is re-sealed. It lives in this process: apps with
//!   several instances share it through their store, or use a validator.
//! - [`SessionValidator`]: an async hook consulted at most once per interval per session (the
//!   last check is sealed into the cookie) and before every renewal. It can revoke the session,
//!   refresh its roles, groups and scopes (apicrud's `update_auth`; the session id is re-minted),
//!   or keep it.
//!
//! What stays out of reach without a validator: a single stolen cookie of a user whose other
//! sessions must live on (revoke by session id needs a validator with a deny list), and
//! privilege changes (a cookie keeps the roles it was sealed with until it is re-issued).
//! Bearer tokens are revoked by the token handler itself (and [`TokenCache::invalidate`]).
//!
//! [`TokenCache::invalidate`]: crate::TokenCache::invalidate
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request, routing::get, Router};
//! use sealed_session::testing::{ManualClock, TestKit};
//! use sealed_session::{Identity, Key, NotBefore, Session, SessionLayer};
//! use time::Duration;
//! use tower::ServiceExt;
//!
//! let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
//! let not_before = NotBefore::new();
//! let layer = SessionLayer::new(Key::generate())
//!     .with_clock(clock.clone())
//!     .with_not_before(not_before.clone());
//! let kit = TestKit::new(&layer);
//! let app = Router::new().route("/me", get(|_: Session| async { "hi" })).layer(layer);
//! let cookie = kit.cookie_header(Identity::new("alice"));
//! let me = || Request::get("/me").header("cookie", cookie.clone()).body(Body::empty()).unwrap();
//!
//! assert_eq!(app.clone().oneshot(me()).await.unwrap().status(), 200);
//! clock.advance(Duration::minutes(10));
//! not_before.log_out_user("alice", clock.now()); // "log out everywhere" for alice
//! assert_eq!(app.oneshot(me()).await.unwrap().status(), 401);
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::session::Session;

/// Per-user and global "not before" times: cookie sessions created earlier are refused.
///
/// Clones share one state: keep a clone to update it while the layer reads another.
#[derive(Clone, Default)]
pub struct NotBefore {
    inner: Arc<RwLock<Times>>,
}

#[derive(Default)]
struct Times {
    global: Option<i64>,
    users: HashMap<String, i64>,
}

impl fmt::Debug for NotBefore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("NotBefore")
            .field("global", &times.global)
            .field("users", &times.users.len())
            .finish()
    }
}

impl NotBefore {
    /// No limits.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses every cookie session created before `at`, for everyone. A later time replaces an
    /// earlier one; an earlier one is ignored.
    pub fn log_out_everyone(&self, at: OffsetDateTime) {
        let at = at.unix_timestamp();
        let mut times = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        times.global = Some(times.global.map_or(at, |t| t.max(at)));
    }

    /// Refuses `uid`'s cookie sessions created before `at` (for example after a password change
    /// or when the account is disabled). A later time replaces an earlier one.
    pub fn log_out_user(&self, uid: &str, at: OffsetDateTime) {
        let at = at.unix_timestamp();
        let mut times = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let slot = times.users.entry(uid.to_owned()).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// Removes the limit of `uid` (the global one still applies).
    pub fn forget_user(&self, uid: &str) {
        let mut times = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        times.users.remove(uid);
    }

    /// Whether a session of `uid` created at `created` (Unix seconds) is refused.
    pub(crate) fn refuses(&self, uid: Option<&str>, created: i64) -> bool {
        let times = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let user = uid.and_then(|uid| times.users.get(uid)).copied();
        [times.global, user]
            .into_iter()
            .flatten()
            .any(|not_before| created < not_before)
    }
}

/// New privileges for a session, from [`Validation::Refresh`]. Fields left `None` keep their
/// value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Privileges {
    /// The new roles.
    pub roles: Option<Vec<String>>,
    /// The new groups.
    pub groups: Option<Vec<String>>,
    /// The new scopes (stored under `metadata.scope`).
    pub scopes: Option<Vec<String>>,
}

impl Privileges {
    /// No change yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the roles.
    #[must_use]
    pub fn with_roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the groups.
    #[must_use]
    pub fn with_groups<I: IntoIterator<Item = S>, S: Into<String>>(mut self, groups: I) -> Self {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the scopes.
    #[must_use]
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }
}

/// A [`SessionValidator`]'s verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// The session stands as it is.
    Keep,
    /// The session is over (account disabled, session id on a deny list, ...): the request is
    /// anonymous and the cookie is deleted.
    Revoke,
    /// The session stands with new privileges: the cookie is re-sealed with them and a new
    /// session id.
    Refresh(Privileges),
}

/// The validator's backend could not answer. The request gets 503 with `Retry-After`: a
/// session is never kept, nor dropped, on a failed check.
#[derive(Debug)]
pub struct ValidationError {
    message: String,
}

impl ValidationError {
    /// An error with a message (never put a cookie value or a token in it).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session validator error: {}", self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Checks a cookie session against the app's current state. See the [module docs](self).
///
/// Called with the session as the cookie holds it, at most once per validation interval per
/// session and before every renewal, under the token-handler timeout. A panic is a 500 for that
/// request only.
#[async_trait]
pub trait SessionValidator: Send + Sync + 'static {
    /// Checks `session`.
    async fn validate(&self, session: &Session) -> Result<Validation, ValidationError>;
}

/// A [`SessionValidator`] made from an async closure; see [`validator_fn`].
#[derive(Clone)]
pub struct ValidatorFn<F>(F);

impl<F> fmt::Debug for ValidatorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ValidatorFn")
    }
}

/// Makes a [`SessionValidator`] from an async closure that takes the session (a cheap handle
/// clone), as [`token_fn`](crate::token_fn) does for tokens.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sealed_session::testing::TestKit;
/// use sealed_session::{validator_fn, Identity, Key, SessionLayer, SessionValidator, Validation};
///
/// let disabled = ["mallory"];
/// let validator = validator_fn(move |session: sealed_session::Session| async move {
///     let uid = session.uid().unwrap_or_default();
///     Ok(if disabled.contains(&uid.as_str()) { Validation::Revoke } else { Validation::Keep })
/// });
/// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
/// assert_eq!(validator.validate(&kit.session(Identity::new("alice"))).await.unwrap(), Validation::Keep);
/// assert_eq!(validator.validate(&kit.session(Identity::new("mallory"))).await.unwrap(), Validation::Revoke);
/// let _layer = SessionLayer::new(Key::generate()).with_validator(validator);
/// # }
/// ```
pub fn validator_fn<F, Fut>(f: F) -> ValidatorFn<F>
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Validation, ValidationError>> + Send + 'static,
{
    ValidatorFn(f)
}

#[async_trait]
impl<F, Fut> SessionValidator for ValidatorFn<F>
where
    F: Fn(Session) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Validation, ValidationError>> + Send + 'static,
{
    async fn validate(&self, session: &Session) -> Result<Validation, ValidationError> {
        (self.0)(session.clone()).await
    }
}

/// Forces the [`SessionValidator`] on the next request of a user's sessions, whatever the
/// validation interval (apicrud's `update_auth`: after a role change, the user's cookies get
/// their new privileges at once). Clones share one state; give one to
/// [`SessionLayer::with_recheck`](crate::SessionLayer::with_recheck) and keep another.
///
/// In-process: with several instances, use a revocation store's
/// [`recheck_user`](crate::store::RevocationStore::recheck_user) instead, which reaches every
/// instance sharing the store (the layer consults it whenever it has a validator). Entries go after a day (by then the validation interval has passed for
/// every session); at most 100,000 users are held, the oldest dropped first.
///
/// ```
/// use sealed_session::Recheck;
/// use time::OffsetDateTime;
///
/// let recheck = Recheck::new();
/// recheck.user("alice", OffsetDateTime::now_utc());
/// # drop(recheck);
/// ```
#[derive(Clone, Default)]
pub struct Recheck {
    users: Arc<RwLock<HashMap<String, i64>>>,
}

impl fmt::Debug for Recheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Recheck")
            .field("users", &users.len())
            .finish()
    }
}

/// Most users a [`Recheck`] holds.
const MAX_RECHECK_USERS: usize = 100_000;
/// How long a [`Recheck`] entry is kept, in seconds.
const RECHECK_TTL: i64 = 24 * 60 * 60;

impl Recheck {
    /// No forced checks.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions of `uid` last checked before `at` are checked on their next request.
    pub fn user(&self, uid: &str, at: OffsetDateTime) {
        let at = at.unix_timestamp();
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= MAX_RECHECK_USERS && !users.contains_key(uid) {
            users.retain(|_, t| *t > at.saturating_sub(RECHECK_TTL));
            if users.len() >= MAX_RECHECK_USERS {
                if let Some(oldest) = users
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(u, _)| u.clone())
                {
                    users.remove(&oldest);
                }
            }
        }
        let slot = users.entry(uid.to_owned()).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// Whether a session of `uid` last checked at `checked` (Unix seconds) must be checked now.
    pub(crate) fn due(&self, uid: Option<&str>, checked: i64) -> bool {
        let Some(uid) = uid else { return false };
        let users = self.users.read().unwrap_or_else(PoisonError::into_inner);
        users.get(uid).is_some_and(|at| checked <= *at)
    }
}
