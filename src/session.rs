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

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::Shared;
use crate::envelope::{Object, Record, SessionId, Strings, VERSION};
use crate::identity::{Identity, SharedIdentity, SCOPE_KEY};

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
    // A std mutex: it is never held across an `.await`, and every critical section is short.
    state: Mutex<State>,
}

#[derive(Clone)]
pub(crate) struct State {
    pub(crate) record: Record,
    /// A bearer session's end, from the token handler.
    pub(crate) expires_at: Option<i64>,
    /// The record changed and must be sealed again.
    pub(crate) modified: bool,
    /// The session was logged out.
    pub(crate) ended: bool,
}

/// A session change that could not be made.
///
/// Neither `Display` nor `Debug` shows session values: the cookie is encrypted so that it can
/// hold what the client must not read.
#[non_exhaustive]
pub enum SessionError {
    /// The session would no longer fit a cookie: browsers drop a cookie whose name and value
    /// exceed 4,096 bytes. The change was not made; the session is as it was.
    TooLarge {
        /// The plaintext size the change would have made, in bytes.
        size: usize,
        /// The most plaintext a cookie with this name holds, in bytes.
        limit: usize,
    },
    /// A value did not serialise to JSON, or the stored value is not of the requested type.
    Serde {
        /// The value's key.
        key: String,
        /// The requested type.
        type_name: &'static str,
        /// serde's error. It may quote the value: do not log it where values are secret.
        source: serde_json::Error,
    },
    /// The session was logged out in this request.
    Ended,
    /// A login was attempted on a request that carries a bearer token: a bearer request never
    /// sets a session cookie.
    BearerRequest,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => write!(
                f,
                "session too large for a cookie: {size} bytes of plaintext, at most {limit}"
            ),
            Self::Serde { key, type_name, .. } => {
                write!(
                    f,
                    "session value {key:?} does not convert to or from {type_name}"
                )
            }
            Self::Ended => f.write_str("the session was logged out in this request"),
            Self::BearerRequest => f.write_str(
                "cannot start a cookie session on a request that carries a bearer token",
            ),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Serde { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Debug for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => f
                .debug_struct("TooLarge")
                .field("size", size)
                .field("limit", limit)
                .finish(),
            Self::Serde { key, type_name, .. } => f
                .debug_struct("Serde")
                .field("key", key)
                .field("type_name", type_name)
                .finish_non_exhaustive(),
            Self::Ended => f.write_str("Ended"),
            Self::BearerRequest => f.write_str("BearerRequest"),
        }
    }
}

impl axum_core::response::IntoResponse for SessionError {
    /// A generic 500 (the details go to the `tracing` event, never to the client). Handle
    /// [`SessionError::TooLarge`] in the app to show a better page; the session is unchanged.
    fn into_response(self) -> axum_core::response::Response {
        tracing::error!(target: "sealed_session", reason = "session_error", error = %self, "session change failed");
        let mut response =
            (http::StatusCode::INTERNAL_SERVER_ERROR, "session error").into_response();
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

fn serde_error<T>(key: &str, source: serde_json::Error) -> SessionError {
    SessionError::Serde {
        key: key.to_owned(),
        type_name: std::any::type_name::<T>(),
        source,
    }
}

fn to_time(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whether any granted scope (from `metadata.scope`: an array of strings, or one
/// space-separated string) satisfies `f`. Allocates nothing.
fn any_scope(metadata: &Object, f: impl Fn(&str) -> bool) -> bool {
    match metadata.get(SCOPE_KEY).as_deref() {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(f),
        Some(Value::String(s)) => s.split_ascii_whitespace().any(f),
        _ => false,
    }
}

fn scopes_of(metadata: &Object) -> Vec<String> {
    match metadata.get(SCOPE_KEY).as_deref() {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

impl Record {
    /// A fresh record for a login at `now`.
    pub(crate) fn login(identity: Identity, now: i64) -> Self {
        Self {
            version: VERSION,
            id: SessionId::random(),
            uid: identity.uid,
            created: now,
            last_seen: now,
            auth_time: now,
            role_account: identity.role_account,
            mfa: identity.mfa,
            roles: identity.roles.into(),
            groups: identity.groups.into(),
            metadata: identity.metadata.into(),
            values: identity.values.into(),
            // Logging in is the freshest check there is.
            checked: Some(now),
        }
    }

    /// A fresh record for a login at `now` as `identity`, sharing its lists and objects.
    #[cfg_attr(not(feature = "cache"), allow(dead_code))]
    pub(crate) fn login_shared(identity: &SharedIdentity, now: i64) -> Self {
        Self {
            version: VERSION,
            id: SessionId::random(),
            uid: identity.uid.clone(),
            created: now,
            last_seen: now,
            auth_time: now,
            role_account: identity.role_account,
            mfa: identity.mfa,
            roles: Strings::Shared(identity.roles.clone()),
            groups: Strings::Shared(identity.groups.clone()),
            metadata: Object::Shared(identity.metadata.clone()),
            values: Object::Shared(identity.values.clone()),
            checked: Some(now),
        }
    }
}

/// What a change replaced, to put back when the changed record would not fit a cookie.
enum Undo {
    Nothing,
    Values(Option<Object>),
    Metadata(Option<Object>),
    Roles(Strings),
    Groups(Strings),
}

impl Undo {
    fn apply(self, record: &mut Record) {
        match self {
            Self::Nothing | Self::Values(None) | Self::Metadata(None) => {}
            Self::Values(Some(values)) => record.values = values,
            Self::Metadata(Some(metadata)) => record.metadata = metadata,
            Self::Roles(roles) => record.roles = roles,
            Self::Groups(groups) => record.groups = groups,
        }
    }
}

/// What a session needs from the layer's settings.
#[derive(Clone, Copy)]
struct SessionLimits {
    budget: usize,
    idle: i64,
    max_age: i64,
}

impl Session {
    pub(crate) fn new(source: SessionSource, shared: &Shared, state: State) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                limits: SessionLimits {
                    budget: shared.budget,
                    idle: shared.idle,
                    max_age: shared.max_age,
                },
                state: Mutex::new(state),
            }),
        }
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

    /// Applies a change in place, checks that a cookie session still fits a cookie, and puts
    /// back what the change replaced when it does not.
    ///
    /// `f` gets whether it must return what it replaced (cookie sessions only: a bearer session
    /// is never sealed), and leaves the record as it was when it fails.
    fn change(
        &self,
        privileged: bool,
        f: impl FnOnce(&mut Record, bool) -> Result<Undo, SessionError>,
    ) -> Result<(), SessionError> {
        let mut state = self.lock();
        if state.ended {
            return Err(SessionError::Ended);
        }
        let checked = self.inner.source == SessionSource::Cookie;
        let record = &mut state.record;
        let id = record.id;
        let undo = f(record, checked)?;
        if privileged {
            record.id = SessionId::random();
        }
        if checked {
            let size = record.encoded_len();
            let limit = self.inner.limits.budget;
            if size > limit {
                record.id = id;
                undo.apply(record);
                tracing::warn!(target: "sealed_session", reason = "too_large", size, limit, "session change refused: it would not fit a cookie");
                return Err(SessionError::TooLarge { size, limit });
            }
        }
        state.modified = true;
        Ok(())
    }

    /// Records a validator check at `now`; the next seal carries it.
    pub(crate) fn mark_checked(&self, now: i64) {
        let mut state = self.lock();
        state.record.checked = Some(now);
        state.modified = true;
    }

    /// Applies privileges from a validator: a privilege change, so the id is re-minted. Not
    /// size-checked here: an overflow is caught when the cookie is sealed (a typed 500).
    pub(crate) fn apply_privileges(&self, privileges: crate::revocation::Privileges, now: i64) {
        let mut state = self.lock();
        let record = &mut state.record;
        if let Some(roles) = privileges.roles {
            record.roles = roles.into();
        }
        if let Some(groups) = privileges.groups {
            record.groups = groups.into();
        }
        if let Some(scopes) = privileges.scopes {
            let scopes = Value::Array(scopes.into_iter().map(Value::String).collect());
            match record.metadata.map_mut() {
                Ok(metadata) => {
                    metadata.insert(SCOPE_KEY.to_owned(), scopes);
                }
                // Sealed metadata that does not parse (see `Object`) gives way to the validator's
                // scopes.
                Err(_) => {
                    let mut metadata = Map::new();
                    metadata.insert(SCOPE_KEY.to_owned(), scopes);
                    record.metadata = metadata.into();
                }
            }
        }
        record.id = SessionId::random();
        record.checked = Some(now);
        state.modified = true;
    }

    /// Where the session came from.
    #[must_use]
    pub fn source(&self) -> SessionSource {
        self.inner.source
    }

    /// The session id: 128 random bits minted at login. A bearer session gets a fresh one per
    /// request.
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.read(|r| r.id)
    }

    /// The uid, if the session has one.
    #[must_use]
    pub fn uid(&self) -> Option<String> {
        self.read(|r| r.uid.clone())
    }

    /// Whether this is a role account (a service identity rather than a person).
    #[must_use]
    pub fn is_role_account(&self) -> bool {
        self.read(|r| r.role_account)
    }

    /// Whether the caller authenticated with more than one factor.
    #[must_use]
    pub fn mfa(&self) -> bool {
        self.read(|r| r.mfa)
    }

    /// The roles.
    #[must_use]
    pub fn roles(&self) -> Vec<String> {
        self.read(|r| r.roles.to_vec())
    }

    /// Whether the session has `role` (exact, case-sensitive).
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.read(|r| r.roles.any(|x| x == role))
    }

    /// The groups (asfquart's committees).
    #[must_use]
    pub fn groups(&self) -> Vec<String> {
        self.read(|r| r.groups.to_vec())
    }

    /// Whether the session is in `group` (exact, case-sensitive).
    #[must_use]
    pub fn in_group(&self, group: &str) -> bool {
        self.read(|r| r.groups.any(|x| x == group))
    }

    /// The metadata: a JSON object, with scopes under `scope`.
    #[must_use]
    pub fn metadata(&self) -> Map<String, Value> {
        self.read(|r| r.metadata.map_or_empty().into_owned())
    }

    /// The scopes, from `metadata.scope` (an array of strings, or one space-separated string).
    #[must_use]
    pub fn scopes(&self) -> Vec<String> {
        self.read(|r| scopes_of(&r.metadata))
    }

    /// Whether `scope` is granted, exactly and case-sensitively. Wildcards are not expanded: use
    /// [`Session::permits`] for topic filters.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.read(|r| any_scope(&r.metadata, |s| s == scope))
    }

    /// Whether the concrete `resource` is permitted by a granted scope, reading granted scopes as
    /// MQTT-style topic filters (`+` one level, `#` the rest); see [`crate::scope`].
    #[must_use]
    pub fn permits(&self, resource: &str) -> bool {
        self.read(|r| any_scope(&r.metadata, |s| crate::scope::filter_matches(s, resource)))
    }

    /// When the session was created (login). Never changes.
    #[must_use]
    pub fn created_at(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.created))
    }

    /// When the session was last seen, as sealed in the cookie.
    #[must_use]
    pub fn last_seen(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.last_seen))
    }

    /// When the caller last authenticated. For re-authentication checks before sensitive actions.
    #[must_use]
    pub fn auth_time(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.auth_time))
    }

    /// When the session ends unless renewed: for a cookie session the sooner of the idle timeout
    /// after last seen and the max age after creation; for a bearer session the token's expiry,
    /// if the handler set one.
    #[must_use]
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        let state = self.lock();
        match self.inner.source {
            SessionSource::Bearer | SessionSource::Basic => state.expires_at.map(to_time),
            SessionSource::Cookie => {
                let shared = &self.inner.limits;
                let idle_end = state.record.last_seen.checked_add(shared.idle);
                let absolute_end = state.record.created.checked_add(shared.max_age);
                match (idle_end, absolute_end) {
                    (Some(a), Some(b)) => Some(to_time(a.min(b))),
                    _ => None,
                }
            }
        }
    }

    /// A typed application value.
    ///
    /// # Errors
    ///
    /// [`SessionError::Serde`] when the stored value does not deserialise as `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.read(|r| r.values.get_as(key))
            .map_err(|source| serde_error::<T>(key, source))
    }

    /// Stores a typed application value.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooLarge`] when the cookie would pass the browser limit (the value is not
    /// stored), [`SessionError::Serde`] when `value` does not serialise, and
    /// [`SessionError::Ended`] after [`Session::logout`].
    pub fn insert<T: Serialize>(
        &self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<(), SessionError> {
        let key = key.into();
        let value = serde_json::to_value(value).map_err(|source| serde_error::<T>(&key, source))?;
        self.change(false, |r, keep| match r.values.insert(&key, value, keep) {
            Ok(old) => Ok(Undo::Values(old)),
            Err(e) => Err(serde_error::<T>(&key, e)),
        })
    }

    /// Removes an application value and returns it as `T`. Removing a missing key changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`SessionError::Serde`] when the removed value is not a `T` (it is removed all the same),
    /// and [`SessionError::Ended`] after [`Session::logout`].
    pub fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.remove_value(key)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|source| serde_error::<T>(key, source))
    }

    /// Removes an application value and returns its JSON. Removing a missing key changes nothing.
    ///
    /// # Errors
    ///
    /// [`SessionError::Ended`] after [`Session::logout`].
    pub fn remove_value(&self, key: &str) -> Result<Option<Value>, SessionError> {
        if self.read(|r| !r.values.contains_key(key)) {
            return if self.is_logged_out() {
                Err(SessionError::Ended)
            } else {
                Ok(None)
            };
        }
        let mut removed = None;
        self.change(false, |r, keep| {
            let (value, old) = r
                .values
                .edit(keep, |values| values.remove(key))
                .map_err(|e| serde_error::<Value>(key, e))?;
            removed = value;
            Ok(Undo::Values(old))
        })?;
        Ok(removed)
    }

    /// Sets one metadata entry. Setting `scope` changes privileges and re-mints the session id.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub fn set_metadata(&self, key: impl Into<String>, value: Value) -> Result<(), SessionError> {
        let key = key.into();
        let privileged = key == SCOPE_KEY;
        self.change(privileged, |r, keep| {
            let ((), old) = r
                .metadata
                .edit(keep, |metadata| {
                    metadata.insert(key.clone(), value);
                })
                .map_err(|e| serde_error::<Value>(&key, e))?;
            Ok(Undo::Metadata(old))
        })
    }

    /// Replaces the scopes. A privilege change: re-mints the session id.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub fn set_scopes<I, S>(&self, scopes: I) -> Result<(), SessionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<Value> = scopes
            .into_iter()
            .map(|s| Value::String(s.into()))
            .collect();
        self.set_metadata(SCOPE_KEY, Value::Array(scopes))
    }

    /// Replaces the roles. A privilege change: re-mints the session id.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub fn set_roles<I, S>(&self, roles: I) -> Result<(), SessionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let roles: Vec<String> = roles.into_iter().map(Into::into).collect();
        self.change(true, |r, _| {
            Ok(Undo::Roles(std::mem::replace(&mut r.roles, roles.into())))
        })
    }

    /// Replaces the groups. A privilege change: re-mints the session id.
    ///
    /// # Errors
    ///
    /// As [`Session::insert`].
    pub fn set_groups<I, S>(&self, groups: I) -> Result<(), SessionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let groups: Vec<String> = groups.into_iter().map(Into::into).collect();
        self.change(true, |r, _| {
            Ok(Undo::Groups(std::mem::replace(
                &mut r.groups,
                groups.into(),
            )))
        })
    }

    /// Re-mints the session id, keeping everything else (creation time included).
    ///
    /// # Errors
    ///
    /// [`SessionError::Ended`] after [`Session::logout`].
    pub fn regenerate_id(&self) -> Result<(), SessionError> {
        self.change(true, |_, _| Ok(Undo::Nothing))
    }

    /// Ends the session. A cookie session's response carries a deletion cookie; a bearer
    /// session ends for this request only.
    pub fn logout(&self) {
        let mut state = self.lock();
        state.ended = true;
    }

    /// Whether [`Session::logout`] was called.
    #[must_use]
    pub fn is_logged_out(&self) -> bool {
        self.lock().ended
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

    /// A refused change leaves the session as it was, whether its objects are still the sealed
    /// text (opened from a cookie) or parsed (built in this process).
    #[test]
    fn a_change_refused_as_too_large_leaves_everything_as_it_was() {
        let kit = TestKit::new(&SessionLayer::new(Key::generate()));
        let identity = || {
            Identity::new("a")
                .with_scopes(["read"])
                .with_value("n", &1)
                .unwrap()
                .with_value("s", &"x")
                .unwrap()
        };
        let opened = kit.open(&kit.cookie_value(identity())).unwrap();
        let built = kit.session(identity());
        let big = "y".repeat(4000);
        for session in [opened, built] {
            let id = session.id();
            let before = format!("{session:?}");
            let too_large = |r| matches!(r, Err(crate::SessionError::TooLarge { .. }));
            assert!(too_large(session.insert("n", &big)));
            assert!(too_large(session.insert("new", &big)));
            assert!(too_large(
                session.set_metadata("scope", serde_json::json!([big.clone()]))
            ));
            assert!(too_large(session.set_roles([big.clone()])));
            assert!(too_large(session.set_groups([big.clone()])));
            assert_eq!(session.id(), id);
            assert_eq!(format!("{session:?}"), before);
            assert_eq!(session.get::<u64>("n").unwrap(), Some(1));
            assert_eq!(session.get::<String>("new").unwrap(), None);
            assert_eq!(session.scopes(), ["read"]);
            assert!(session.roles().is_empty() && session.groups().is_empty());
            // And changes that fit still apply.
            session.insert("n", &2).unwrap();
            session.insert("t", &"z").unwrap();
            assert_eq!(session.get::<u64>("n").unwrap(), Some(2));
            assert_eq!(session.get::<String>("t").unwrap().as_deref(), Some("z"));
            assert_eq!(session.remove::<String>("s").unwrap().as_deref(), Some("x"));
            assert_eq!(session.get::<String>("s").unwrap(), None);
        }
    }

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
