//! Changes to a session: values, metadata, privileges, id and logout. Each goes through
//! [`Session::change`], which keeps a cookie session within the cookie limit.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::serde_error;
use super::{Session, SessionError, SessionSource};
use crate::identity::SCOPE_KEY;
use crate::record::{Object, Record, SessionId, Strings};

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

/// Privileges a validator refreshed (the fields of
/// [`Privileges`](crate::revocation::Privileges)); `None` keeps a field as it is.
pub(crate) struct Refreshed {
    pub(crate) roles: Option<Vec<String>>,
    pub(crate) groups: Option<Vec<String>>,
    pub(crate) scopes: Option<Vec<String>>,
}

impl Session {
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

    /// Records a validator check at `now`, with the privileges it refreshed if any; the next
    /// seal carries it. Refreshed privileges are a privilege change, so the id is re-minted. Not
    /// size-checked here: an overflow is caught when the cookie is sealed (a typed 500).
    pub(crate) fn record_check(&self, refreshed: Option<Refreshed>, now: i64) {
        let mut state = self.lock();
        let Some(privileges) = refreshed else {
            state.record.checked = Some(now);
            state.modified = true;
            return;
        };
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

    /// Replaces the values without the size check, as a change that slipped past it would.
    #[cfg(test)]
    pub(crate) fn force_value_for_test(&self, key: &str, value: String) {
        let mut state = self.lock();
        let mut values = Map::new();
        values.insert(key.to_owned(), Value::String(value));
        state.record.values = values.into();
        state.modified = true;
    }

    /// Stores a typed application value.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooLarge`] when the cookie would pass the browser limit (the value is not
    /// stored), [`SessionError::Serde`] when `value` does not serialise, and
    /// [`SessionError::Ended`] after [`Session::logout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// session.insert("cart", &vec![1, 2, 3]).unwrap();
    /// assert_eq!(session.get::<Vec<u32>>("cart").unwrap(), Some(vec![1, 2, 3]));
    /// let huge = "x".repeat(5000);
    /// assert!(session.insert("huge", &huge).is_err());
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_value("n", &7).unwrap());
    /// assert_eq!(session.remove::<u32>("n").unwrap(), Some(7));
    /// assert_eq!(session.remove::<u32>("n").unwrap(), None);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice").with_value("n", &7).unwrap());
    /// assert_eq!(session.remove_value("n").unwrap(), Some(serde_json::json!(7)));
    /// session.logout();
    /// assert!(session.remove_value("n").is_err());
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let id = session.id();
    /// session.set_metadata("team", serde_json::json!("infra")).unwrap();
    /// assert_eq!(session.metadata()["team"], "infra");
    /// assert_eq!(session.id(), id, "not a privilege change");
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let id = session.id();
    /// session.set_scopes(["read"]).unwrap();
    /// assert!(session.has_scope("read"));
    /// assert_ne!(session.id(), id, "a privilege change re-mints the id");
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let id = session.id();
    /// session.set_roles(["admin"]).unwrap();
    /// assert!(session.has_role("admin"));
    /// assert_ne!(session.id(), id);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let id = session.id();
    /// session.set_groups(["infra"]).unwrap();
    /// assert!(session.in_group("infra"));
    /// assert_ne!(session.id(), id);
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// let (id, created) = (session.id(), session.created_at());
    /// session.regenerate_id().unwrap();
    /// assert_ne!(session.id(), id);
    /// assert_eq!(session.created_at(), created);
    /// ```
    pub fn regenerate_id(&self) -> Result<(), SessionError> {
        self.change(true, |_, _| Ok(Undo::Nothing))
    }

    /// Ends the session. A cookie session's response carries a deletion cookie; a bearer
    /// session ends for this request only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// session.logout();
    /// assert!(session.is_logged_out());
    /// assert!(session.insert("k", &1).is_err());
    /// ```
    pub fn logout(&self) {
        let mut state = self.lock();
        state.ended = true;
    }

    /// Whether [`Session::logout`] was called.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert!(!session.is_logged_out());
    /// session.logout();
    /// assert!(session.is_logged_out());
    /// ```
    #[must_use]
    pub fn is_logged_out(&self) -> bool {
        self.lock().ended
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
}
