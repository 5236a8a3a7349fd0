//! Reading a session: who, what it may do, when, and the app's values.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::error::serde_error;
use super::{any_scope, scopes_of, to_time, Session, SessionError, SessionSource};
use crate::record::SessionId;

impl Session {
    /// Where the session came from.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// use sealed_session::SessionSource;
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.source(), SessionSource::Cookie);
    /// ```
    #[must_use]
    pub fn source(&self) -> SessionSource {
        self.inner.source
    }

    /// The session id: 128 random bits minted at login. A bearer session gets a fresh one per
    /// request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let id = session.id();
    /// assert_eq!(id.to_string().len(), 22);
    /// assert_eq!(id.to_string().parse::<sealed_session::SessionId>().unwrap(), id);
    /// ```
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.read(|r| r.id)
    }

    /// The uid, if the session has one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.uid().as_deref(), Some("alice"));
    /// ```
    #[must_use]
    pub fn uid(&self) -> Option<String> {
        self.read(|r| r.uid.clone())
    }

    /// Whether this is a role account (a service identity rather than a person).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let ci = kit.session(Identity::new("ci").with_role_account(true));
    /// assert!(ci.is_role_account());
    /// assert!(!kit.session(Identity::new("alice")).is_role_account());
    /// ```
    #[must_use]
    pub fn is_role_account(&self) -> bool {
        self.read(|r| r.role_account)
    }

    /// Whether the caller authenticated with more than one factor.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_mfa(true));
    /// assert!(session.mfa());
    /// ```
    #[must_use]
    pub fn mfa(&self) -> bool {
        self.read(|r| r.mfa)
    }

    /// The roles.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_roles(["ops", "dev"]));
    /// assert_eq!(session.roles(), ["ops", "dev"]);
    /// ```
    #[must_use]
    pub fn roles(&self) -> Vec<String> {
        self.read(|r| r.roles.to_vec())
    }

    /// Whether the session has `role` (exact, case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_roles(["ops"]));
    /// assert!(session.has_role("ops"));
    /// assert!(!session.has_role("Ops"));
    /// ```
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.read(|r| r.roles.any(|x| x == role))
    }

    /// The groups (asfquart's committees).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_groups(["infra"]));
    /// assert_eq!(session.groups(), ["infra"]);
    /// ```
    #[must_use]
    pub fn groups(&self) -> Vec<String> {
        self.read(|r| r.groups.to_vec())
    }

    /// Whether the session is in `group` (exact, case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_groups(["infra"]));
    /// assert!(session.in_group("infra"));
    /// assert!(!session.in_group("web"));
    /// ```
    #[must_use]
    pub fn in_group(&self, group: &str) -> bool {
        self.read(|r| r.groups.any(|x| x == group))
    }

    /// The metadata: a JSON object, with scopes under `scope`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_scopes(["read"]));
    /// assert_eq!(session.metadata()["scope"], serde_json::json!(["read"]));
    /// ```
    #[must_use]
    pub fn metadata(&self) -> Map<String, Value> {
        self.read(|r| r.metadata.map_or_empty().into_owned())
    }

    /// The scopes, from `metadata.scope` (an array of strings, or one space-separated string).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_scopes(["read", "builds/+"]));
    /// assert_eq!(session.scopes(), ["read", "builds/+"]);
    /// ```
    #[must_use]
    pub fn scopes(&self) -> Vec<String> {
        self.read(|r| scopes_of(&r.metadata))
    }

    /// Whether `scope` is granted, exactly and case-sensitively. Wildcards are not expanded: use
    /// [`Session::permits`] for topic filters.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_scopes(["builds/+"]));
    /// assert!(session.has_scope("builds/+"));
    /// assert!(!session.has_scope("builds/7"));
    /// ```
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.read(|r| any_scope(&r.metadata, |s| s == scope))
    }

    /// Whether the concrete `resource` is permitted by a granted scope, reading granted scopes as
    /// MQTT-style topic filters (`+` one level, `#` the rest); see [`crate::scope`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_scopes(["builds/+/logs"]));
    /// assert!(session.permits("builds/7/logs"));
    /// assert!(!session.permits("builds/7/secrets"));
    /// ```
    #[must_use]
    pub fn permits(&self, resource: &str) -> bool {
        // The resource is checked once, not once per granted scope.
        let Some(matches) = crate::scope::matcher(resource) else {
            return false;
        };
        self.read(|r| any_scope(&r.metadata, matches))
    }

    /// When the session was created (login). Never changes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let before = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    /// let session = kit.session(Identity::new("alice"));
    /// assert!(session.created_at() >= before);
    /// ```
    #[must_use]
    pub fn created_at(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.created))
    }

    /// When the session was last seen, as sealed in the cookie.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.last_seen(), session.created_at());
    /// ```
    #[must_use]
    pub fn last_seen(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.last_seen))
    }

    /// When the caller last authenticated. For re-authentication checks before sensitive actions.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.auth_time(), session.created_at());
    /// ```
    #[must_use]
    pub fn auth_time(&self) -> OffsetDateTime {
        self.read(|r| to_time(r.auth_time))
    }

    /// When the session ends unless renewed: for a cookie session the sooner of the idle timeout
    /// after last seen and the max age after creation; for a bearer session the token's expiry,
    /// if the handler set one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// // Defaults: 7-day idle timeout, 30-day max age.
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.expires_at(), Some(session.last_seen() + time::Duration::days(7)));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_value("theme", &"dark").unwrap());
    /// assert_eq!(session.get::<String>("theme").unwrap().as_deref(), Some("dark"));
    /// assert_eq!(session.get::<String>("missing").unwrap(), None);
    /// assert!(session.get::<u32>("theme").is_err());
    /// ```
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.read(|r| r.values.get_as(key))
            .map_err(|source| serde_error::<T>(key, source))
    }
}
