//! The [`Session`] handle: who is calling, what they may do, and the app's values.
//!
//! A handler takes `session: Session` (401 when there is none) or `Option<Session>`. The handle
//! reads the same way for a cookie session and a bearer session; [`Session::source`] says which.
//!
//! Changes to a **cookie** session (values, metadata, roles, [`Session::logout`]) are sealed into
//! the response's cookie. Changes to a **bearer** session live for that request only: a bearer
//! request never sets a cookie.
//!
//! ```
//! use sealed_session::{testing::TestKit, Identity, SessionLayer, Key, SessionSource};
//!
//! let kit = TestKit::new(&SessionLayer::new(Key::generate()));
//! let session = kit.session(Identity::new("alice").with_scopes(["repo:read", "builds/+/logs"]));
//! assert_eq!(session.uid().as_deref(), Some("alice"));
//! assert_eq!(session.source(), SessionSource::Cookie);
//! assert!(session.has_scope("repo:read"));
//! assert!(!session.has_scope("builds/+/logs/x"));
//! assert!(session.permits("builds/42/logs"));
//!
//! session.insert("theme", &"dark").unwrap();
//! assert_eq!(session.get::<String>("theme").unwrap().as_deref(), Some("dark"));
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use time::OffsetDateTime;

use crate::identity::{Identity, SCOPE_KEY};
use crate::record::{Object, Record};

/// Where a session came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionSource {
    /// The sealed session cookie.
    Cookie,
    /// An `Authorization: Bearer` token resolved by the [`TokenHandler`](crate::TokenHandler).
    Bearer,
    /// `Authorization: Basic` credentials checked by the [`BasicHandler`](crate::BasicHandler).
    Basic,
}

/// The session of the current request.
///
/// A cheap, cloneable handle: clones share one state. See the [module docs](crate::session).
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    source: SessionSource,
    /// The layer's settings a session reads (copied: no shared reference to count per request).
    limits: SessionLimits,
    /// The request's time on the layer's clock, in Unix seconds (for `idle_for`, `age`,
    /// `auth_age`).
    now: i64,
    // A std mutex: it is never held across an `.await`, and every critical section is short.
    state: Mutex<State>,
}

mod change;
mod error;
mod export;
mod fresh;
mod read;
mod state;

pub(crate) use change::Refreshed;
pub use error::SessionError;
pub(crate) use state::{Opened, State};

/// What a session needs from the layer's settings (copied into each session: no shared
/// reference to count per request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    /// The most plaintext the cookie holds, in bytes.
    pub(crate) budget: usize,
    /// The idle timeout, in seconds.
    pub(crate) idle: i64,
    /// The absolute max age, in seconds.
    pub(crate) max_age: i64,
}

impl Session {
    fn new(source: SessionSource, limits: SessionLimits, now: i64, state: State) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                limits,
                now,
                state: Mutex::new(state),
            }),
        }
    }

    /// A session opened from a cookie, as sealed, by a request at `now`.
    pub(crate) fn from_cookie(record: Record, now: i64, limits: SessionLimits) -> Self {
        let opened = Opened {
            id: record.id,
            minted_ms: record.minted_ms(),
            until_ms: record
                .created
                .saturating_add(limits.max_age)
                .saturating_mul(1000),
        };
        let state = State {
            record,
            expires_at: None,
            modified: false,
            ended: false,
            opened: Some(opened),
            denied: false,
        };
        Self::new(SessionSource::Cookie, limits, now, state)
    }

    /// A per-request session from credentials (bearer or Basic), ending at `expires_at`.
    pub(crate) fn per_request(
        source: SessionSource,
        record: Record,
        expires_at: Option<i64>,
        limits: SessionLimits,
    ) -> Self {
        let now = record.last_seen;
        let state = State {
            record,
            expires_at,
            modified: false,
            ended: false,
            opened: None,
            denied: false,
        };
        Self::new(source, limits, now, state)
    }

    /// A fresh cookie session for a login at `now`: new id, creation and auth time.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooLarge`] when it would not fit a cookie.
    pub(crate) fn login(
        identity: Identity,
        now: i64,
        limits: SessionLimits,
    ) -> Result<Self, SessionError> {
        let record = Record::login(identity, now);
        let size = record.encoded_len();
        if size > limits.budget {
            tracing::warn!(target: "sealed_session", reason = "too_large", size, limit = limits.budget, "login refused: the session would not fit a cookie");
            return Err(SessionError::TooLarge {
                size,
                limit: limits.budget,
            });
        }
        tracing::info!(target: "sealed_session", reason = "login", uid = ?record.uid, "session started");
        let state = State {
            record,
            expires_at: None,
            modified: true,
            ended: false,
            opened: None,
            denied: false,
        };
        Ok(Self::new(SessionSource::Cookie, limits, now, state))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written record: a change is made
        // in place, nothing between it and its size check can panic, and a refused change is
        // put back (see `change`).
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&self.lock().record)
    }
}

pub(super) fn to_time(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whether any granted scope (from `metadata.scope`: an array of strings, or one
/// space-separated string) satisfies `f`. Reads the sealed text in place: allocates nothing.
pub(super) fn any_scope(metadata: &Object, f: impl FnMut(&str) -> bool) -> bool {
    metadata.any_str(SCOPE_KEY, f)
}

pub(super) fn scopes_of(metadata: &Object) -> Vec<String> {
    match metadata.get(SCOPE_KEY).as_deref() {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

impl fmt::Debug for Session {
    /// Prints the source, uid, flags, roles, groups, scopes and the *keys* of the metadata and
    /// values; never the values, the session id or anything sealed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let r = &state.record;
        f.debug_struct("Session")
            .field("source", &self.inner.source)
            .field("uid", &r.uid)
            .field("role_account", &r.role_account)
            .field("mfa", &r.mfa)
            .field("roles", &r.roles)
            .field("groups", &r.groups)
            .field("scopes", &scopes_of(&r.metadata))
            .field("metadata_keys", &r.metadata.keys())
            .field("value_keys", &r.values.keys())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::TestKit;
    use crate::{Identity, Key, SessionLayer};

    #[test]
    fn scopes_read_from_an_array_or_a_space_separated_string() {
        let kit = TestKit::new(&SessionLayer::new(Key::generate()));
        let listed = kit.session(Identity::new("a").with_scopes(["read", "builds/+"]));
        let spaced = kit.session(
            Identity::new("b").with_metadata_entry("scope", serde_json::json!("read  builds/+")),
        );
        for session in [listed, spaced] {
            assert_eq!(session.scopes(), ["read", "builds/+"]);
            assert!(session.has_scope("read"));
            assert!(!session.has_scope("rea"));
            assert!(!session.has_scope("builds/7"));
            assert!(session.permits("builds/7"));
            assert!(!session.permits("builds/7/logs"));
        }
        let none =
            kit.session(Identity::new("c").with_metadata_entry("scope", serde_json::json!(5)));
        assert!(none.scopes().is_empty() && !none.has_scope("read") && !none.permits("read"));
    }
}
