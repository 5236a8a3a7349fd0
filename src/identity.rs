//! [`Identity`]: who a caller is and what they may do, as a login or a token handler states it.
//!
//! ```
//! use sealed_session::Identity;
//!
//! let alice = Identity::new("alice")
//!     .with_roles(["admin"])
//!     .with_groups(["infra"])
//!     .with_scopes(["repo:read", "builds/+/logs"])
//!     .with_mfa(true);
//! assert_eq!(alice.uid(), Some("alice"));
//! assert_eq!(alice.metadata()["scope"], serde_json::json!(["repo:read", "builds/+/logs"]));
//! ```

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// The key under `metadata` that holds scopes, as in asfquart.
pub const SCOPE_KEY: &str = "scope";

/// Who a caller is and what they may do.
///
/// Passed to [`Auth::login`](crate::Auth::login) to start a cookie session, and returned by a
/// [`TokenHandler`](crate::TokenHandler) for a bearer token. Scopes live in the metadata under
/// `metadata.scope`, as in asfquart.
#[derive(Clone, Default, PartialEq)]
pub struct Identity {
    pub(crate) uid: Option<String>,
    pub(crate) role_account: bool,
    pub(crate) mfa: bool,
    pub(crate) roles: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) values: Map<String, Value>,
    pub(crate) expires_at: Option<OffsetDateTime>,
}

impl Identity {
    /// An identity with a uid.
    #[must_use]
    pub fn new(uid: impl Into<String>) -> Self {
        Self {
            uid: Some(uid.into()),
            ..Self::default()
        }
    }

    /// An identity without a uid (asfquart allows sessions without one).
    #[must_use]
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Marks a role account (a service or CI identity rather than a person).
    #[must_use]
    pub fn with_role_account(mut self, role_account: bool) -> Self {
        self.role_account = role_account;
        self
    }

    /// Records whether the caller authenticated with more than one factor.
    #[must_use]
    pub fn with_mfa(mut self, mfa: bool) -> Self {
        self.mfa = mfa;
        self
    }

    /// Sets the roles.
    #[must_use]
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the groups (asfquart's committees).
    #[must_use]
    pub fn with_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scopes, stored as an array under `metadata.scope`.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes = scopes
            .into_iter()
            .map(|s| Value::String(s.into()))
            .collect();
        self.metadata
            .insert(SCOPE_KEY.to_owned(), Value::Array(scopes));
        self
    }

    /// Replaces the metadata: a JSON object (scopes under `scope`).
    #[must_use]
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets one metadata entry.
    #[must_use]
    pub fn with_metadata_entry(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// Stores a typed application value, as [`Session::insert`](crate::Session::insert) would.
    ///
    /// # Errors
    ///
    /// When `value` does not serialise to JSON.
    pub fn with_value<T: Serialize>(
        mut self,
        key: impl Into<String>,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        self.values.insert(key.into(), serde_json::to_value(value)?);
        Ok(self)
    }

    /// Stores an application value given as JSON; the infallible form of [`Identity::with_value`].
    #[must_use]
    pub fn with_json_value(mut self, key: impl Into<String>, value: Value) -> Self {
        self.values.insert(key.into(), value);
        self
    }

    /// When a bearer token's session ends. The layer refuses the token at and after this time.
    ///
    /// Only bearer sessions use it: a cookie session's lifetime is the layer's idle timeout and
    /// max age.
    #[must_use]
    pub fn with_expires_at(mut self, expires_at: OffsetDateTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// The uid, if any.
    #[must_use]
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// The metadata.
    #[must_use]
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// Whether this is a role account.
    #[must_use]
    pub fn is_role_account(&self) -> bool {
        self.role_account
    }

    /// The roles.
    #[must_use]
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The groups.
    #[must_use]
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Whether MFA was used.
    #[must_use]
    pub fn mfa(&self) -> bool {
        self.mfa
    }

    /// When a bearer session ends, if set.
    #[must_use]
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }
}

impl std::fmt::Debug for Identity {
    /// Prints the uid, flags, roles, groups and the metadata and value *keys*; never values,
    /// which may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("uid", &self.uid)
            .field("role_account", &self.role_account)
            .field("mfa", &self.mfa)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .field("value_keys", &self.values.keys().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An [`Identity`] with its lists and objects behind `Arc`s: what a token cache keeps, so that a
/// hit becomes a session record without copying them (the record reads them in place and copies
/// one only when the request changes it).
#[cfg(feature = "cache")]
pub(crate) struct CachedIdentity {
    pub(crate) uid: Option<String>,
    pub(crate) role_account: bool,
    pub(crate) mfa: bool,
    pub(crate) roles: std::sync::Arc<[String]>,
    pub(crate) groups: std::sync::Arc<[String]>,
    pub(crate) metadata: std::sync::Arc<Map<String, Value>>,
    pub(crate) values: std::sync::Arc<Map<String, Value>>,
    pub(crate) expires_at: Option<OffsetDateTime>,
}

#[cfg(feature = "cache")]
impl CachedIdentity {
    /// A copy as an owned [`Identity`].
    pub(crate) fn to_identity(&self) -> Identity {
        Identity {
            uid: self.uid.clone(),
            role_account: self.role_account,
            mfa: self.mfa,
            roles: self.roles.to_vec(),
            groups: self.groups.to_vec(),
            metadata: Map::clone(&self.metadata),
            values: Map::clone(&self.values),
            expires_at: self.expires_at,
        }
    }
}

#[cfg(feature = "cache")]
impl From<Identity> for CachedIdentity {
    fn from(identity: Identity) -> Self {
        Self {
            uid: identity.uid,
            role_account: identity.role_account,
            mfa: identity.mfa,
            roles: identity.roles.into(),
            groups: identity.groups.into(),
            metadata: identity.metadata.into(),
            values: identity.values.into(),
            expires_at: identity.expires_at,
        }
    }
}
