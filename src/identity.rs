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

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    pub(crate) auth_time: Option<OffsetDateTime>,
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
    ///
    /// Scopes already set (by [`Identity::with_scopes`]) are kept when `metadata` has no `scope`
    /// entry of its own; a `scope` entry in `metadata` replaces them.
    ///
    /// ```
    /// use sealed_session::Identity;
    /// use serde_json::{json, Map};
    ///
    /// let mut extra = Map::new();
    /// extra.insert("team".into(), json!("infra"));
    /// let who = Identity::new("a").with_scopes(["repo:read"]).with_metadata(extra);
    /// assert_eq!(who.metadata()["scope"], json!(["repo:read"]));
    /// assert_eq!(who.metadata()["team"], json!("infra"));
    /// ```
    #[must_use]
    pub fn with_metadata(mut self, mut metadata: Map<String, Value>) -> Self {
        if !metadata.contains_key(SCOPE_KEY) {
            if let Some(scopes) = self.metadata.remove(SCOPE_KEY) {
                metadata.insert(SCOPE_KEY.to_owned(), scopes);
            }
        }
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

    /// When the caller authenticated, if earlier than the login or the request: a token's
    /// `auth_time` claim (RFC 9068), or the provider's answer. The session's
    /// [`auth_time`](crate::Session::auth_time) is this time (a time in the future counts as
    /// now), so [`Requirement::max_auth_age`](crate::Requirement::max_auth_age) can ask an API
    /// client to authenticate again (RFC 9470, 401 with `max_age`). Without it, a bearer
    /// session counts as authenticated by its own request, and a cookie session at login.
    ///
    /// ```
    /// use sealed_session::Identity;
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let an_hour_ago = OffsetDateTime::now_utc() - Duration::hours(1);
    /// let who = Identity::new("alice").with_auth_time(an_hour_ago);
    /// assert_eq!(who.auth_time(), Some(an_hour_ago));
    /// ```
    #[must_use]
    pub fn with_auth_time(mut self, auth_time: OffsetDateTime) -> Self {
        self.auth_time = Some(auth_time);
        self
    }

    /// When the caller authenticated, if given ([`with_auth_time`](Self::with_auth_time)).
    #[must_use]
    pub fn auth_time(&self) -> Option<OffsetDateTime> {
        self.auth_time
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

    /// An application value, as JSON.
    ///
    /// ```
    /// use sealed_session::Identity;
    ///
    /// let who = Identity::new("a").with_json_value("theme", serde_json::json!("dark"));
    /// assert_eq!(who.value("theme"), Some(&serde_json::json!("dark")));
    /// assert_eq!(who.value("other"), None);
    /// ```
    #[must_use]
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
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

/// The serialised shape of an [`Identity`]: one JSON object, stable across releases.
///
/// | key | type | written | read (aliases) |
/// |---|---|---|---|
/// | `uid` | string or `null` | always | `uid` |
/// | `roleaccount` | bool | always | `roleaccount`, `isRole` |
/// | `mfa` | bool | always | `mfa` |
/// | `roles` | array of strings | always | `roles` |
/// | `committees` | array of strings (the groups) | always | `committees`, `pmcs`, `groups` |
/// | `metadata` | object (scopes under `scope`) | always | `metadata` |
/// | `values` | object (application values) | always | `values` |
/// | `expires_at` | integer, Unix seconds | when set | `expires_at` |
/// | `auth_time` | integer, Unix seconds | when set | `auth_time` |
///
/// Booleans are strict: `"yes"` or `1` is an error, not `true`. Any other top-level key (for
/// asfquart's `fullname`, `email`, `isMember`, …) is kept as an application value, as if it were
/// under `values` (an entry of `values` itself wins over a top-level key of the same name), so an
/// asfquart session dict maps with one call and `Session::get("fullname")` reads it.
///
/// ```
/// use sealed_session::Identity;
///
/// let dict = serde_json::json!({
///     "uid": "alice", "roleaccount": false, "pmcs": ["httpd", "tomcat"], "mfa": true,
///     "fullname": "Alice", "metadata": {"scope": ["repo:read"]},
/// });
/// let alice: Identity = serde_json::from_value(dict).unwrap();
/// assert_eq!(alice.uid(), Some("alice"));
/// assert_eq!(alice.groups(), ["httpd", "tomcat"]);
/// assert_eq!(alice.metadata()["scope"], serde_json::json!(["repo:read"]));
/// assert_eq!(alice.value("fullname"), Some(&serde_json::json!("Alice")));
///
/// // Written back in the documented shape, and read back unchanged.
/// let written = serde_json::to_value(&alice).unwrap();
/// assert_eq!(written["committees"], serde_json::json!(["httpd", "tomcat"]));
/// assert_eq!(serde_json::from_value::<Identity>(written).unwrap(), alice);
/// ```
impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len =
            7 + usize::from(self.expires_at.is_some()) + usize::from(self.auth_time.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("uid", &self.uid)?;
        map.serialize_entry("roleaccount", &self.role_account)?;
        map.serialize_entry("mfa", &self.mfa)?;
        map.serialize_entry("roles", &self.roles)?;
        map.serialize_entry("committees", &self.groups)?;
        map.serialize_entry("metadata", &self.metadata)?;
        map.serialize_entry("values", &self.values)?;
        if let Some(at) = self.expires_at {
            map.serialize_entry("expires_at", &at.unix_timestamp())?;
        }
        if let Some(at) = self.auth_time {
            map.serialize_entry("auth_time", &at.unix_timestamp())?;
        }
        map.end()
    }
}

/// What [`Identity`] reads; see its `Serialize` impl for the shape.
#[derive(Deserialize)]
struct IdentityShape {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default, alias = "isRole")]
    roleaccount: bool,
    #[serde(default)]
    mfa: bool,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, alias = "pmcs", alias = "groups")]
    committees: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    values: Map<String, Value>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    auth_time: Option<i64>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Identity {
    /// Reads the shape documented on the `Serialize` impl.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shape = IdentityShape::deserialize(deserializer)?;
        let expires_at = shape
            .expires_at
            .map(OffsetDateTime::from_unix_timestamp)
            .transpose()
            .map_err(|_| D::Error::custom("expires_at is out of range"))?;
        let auth_time = shape
            .auth_time
            .map(OffsetDateTime::from_unix_timestamp)
            .transpose()
            .map_err(|_| D::Error::custom("auth_time is out of range"))?;
        let mut values = shape.rest;
        values.extend(shape.values);
        Ok(Self {
            uid: shape.uid,
            role_account: shape.roleaccount,
            mfa: shape.mfa,
            roles: shape.roles,
            groups: shape.committees,
            metadata: shape.metadata,
            values,
            expires_at,
            auth_time,
        })
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
            .field("auth_time", &self.auth_time)
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
    pub(crate) auth_time: Option<OffsetDateTime>,
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
            auth_time: self.auth_time,
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
            auth_time: identity.auth_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn with_metadata_keeps_scopes_unless_it_brings_its_own() {
        let mut meta = Map::new();
        meta.insert("team".into(), json!("infra"));
        let kept = Identity::new("a")
            .with_scopes(["x"])
            .with_metadata(meta.clone());
        assert_eq!(kept.metadata()["scope"], json!(["x"]));
        meta.insert(SCOPE_KEY.into(), json!(["y"]));
        let replaced = Identity::new("a").with_scopes(["x"]).with_metadata(meta);
        assert_eq!(replaced.metadata()["scope"], json!(["y"]));
    }

    #[test]
    fn the_shape_is_stable_and_round_trips() {
        let at = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
        let who = Identity::new("ci")
            .with_role_account(true)
            .with_roles(["deploy"])
            .with_groups(["infra"])
            .with_scopes(["builds:write"])
            .with_json_value("n", json!(3))
            .with_expires_at(at);
        let written = serde_json::to_value(&who).unwrap();
        assert_eq!(
            written,
            json!({"uid": "ci", "roleaccount": true, "mfa": false, "roles": ["deploy"],
                   "committees": ["infra"], "metadata": {"scope": ["builds:write"]},
                   "values": {"n": 3}, "expires_at": 1_900_000_000})
        );
        assert_eq!(serde_json::from_value::<Identity>(written).unwrap(), who);
        let anon = serde_json::to_value(Identity::anonymous()).unwrap();
        assert_eq!(anon["uid"], Value::Null);
        assert!(anon.get("expires_at").is_none());
    }

    #[test]
    fn asfquart_names_and_strict_booleans() {
        let who: Identity =
            serde_json::from_value(json!({"uid": "b", "isRole": true, "pmcs": ["p"]})).unwrap();
        assert!(who.is_role_account());
        assert_eq!(who.groups(), ["p"]);
        for bad in [
            json!({"uid": "b", "roleaccount": "yes"}),
            json!({"uid": "b", "mfa": 1}),
            json!({"uid": "b", "committees": "p"}),
            json!({"uid": "b", "expires_at": i64::MAX}),
            json!(["b"]),
        ] {
            assert!(
                serde_json::from_value::<Identity>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn explicit_values_win_over_top_level_keys() {
        let who: Identity = serde_json::from_value(
            json!({"uid": "b", "email": "top", "values": {"email": "inner"}, "fullname": "B"}),
        )
        .unwrap();
        assert_eq!(who.value("email"), Some(&json!("inner")));
        assert_eq!(who.value("fullname"), Some(&json!("B")));
    }
}
