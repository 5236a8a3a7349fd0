//! A session as data: [`Session::to_identity`], whose JSON shape is [`Identity`]'s (Home
//! Assistant's "return auth data in a JSON-serialisable form").

use super::Session;
use crate::identity::Identity;

impl Session {
    /// Who the session is and what it may do, as an [`Identity`]: uid, role-account and MFA
    /// flags, roles, groups, metadata (scopes included), application values, and a bearer
    /// session's expiry. Serialise it for a JSON answer or a store; log it in again with
    /// [`Auth::login`](crate::Auth::login).
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let alice = Identity::new("alice").with_groups(["httpd"]).with_scopes(["read"]);
    /// let session = kit.session(alice.clone());
    /// session.insert("theme", &"dark").unwrap();
    /// let data = serde_json::to_value(session.to_identity()).unwrap();
    /// assert_eq!(data["committees"], serde_json::json!(["httpd"]));
    /// assert_eq!(data["values"]["theme"], "dark");
    /// assert_eq!(data["metadata"]["scope"], serde_json::json!(["read"]));
    /// ```
    #[must_use]
    pub fn to_identity(&self) -> Identity {
        let expires_at = {
            let state = self.lock();
            state.expires_at
        };
        let mut identity = self.read(|r| Identity {
            uid: r.uid.clone(),
            role_account: r.role_account,
            mfa: r.mfa,
            roles: Vec::new(),
            groups: Vec::new(),
            metadata: r.metadata.map_or_empty().into_owned(),
            values: r.values.map_or_empty().into_owned(),
            expires_at: None,
            auth_time: None,
        });
        identity.roles = self.roles();
        identity.groups = self.groups();
        identity.expires_at =
            expires_at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
        identity
    }
}
