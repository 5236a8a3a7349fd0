//! From verified claims to an [`Identity`]: the default mapping, configurable per issuer.

use serde_json::{Map, Value};

use super::claims::{JwtError, MAX_SUBJECT};
use crate::identity::{Identity, SCOPE_KEY};

/// How an issuer's verified claims become an [`Identity`].
///
/// - **uid**: the issuer, `#`, then `sub` (two issuers' `sub` never collide), unless another
///   claim or prefix is set ([`with_uid_claim`](Self::with_uid_claim),
///   [`with_uid_prefix`](Self::with_uid_prefix));
/// - **scopes**: from `scope` (space-separated) or `scp` (an array, or a string);
/// - **roles** and **groups**: from claim paths (default `roles` and `groups`; Keycloak's realm
///   roles are at `realm_access.roles`);
/// - **MFA**: only by an explicit rule on `amr` or `acr`;
/// - **topic claims** (ARENA's `publ`, `subs`): each filter becomes a scope under a prefix, so
///   that [`Requirement::permits`](crate::Requirement::permits) and
///   [`scope::filter_covers`](crate::scope::filter_covers) check them;
/// - **auth time**: `auth_time` (RFC 9068), so that
///   [`Requirement::max_auth_age`](crate::Requirement::max_auth_age) can ask for a new
///   authentication (RFC 9470); a token without it counts as authenticated by its request;
/// - metadata: `iss`, `sub` and `client_id` (when present), plus the claims named with
///   [`with_metadata_claims`](Self::with_metadata_claims).
///
/// ```
/// use sealed_session::jwt::ClaimMapping;
/// use serde_json::json;
///
/// let mapping = ClaimMapping::new()
///     .with_roles_claim("realm_access.roles")
///     .with_mfa_amr(["mfa", "otp"])
///     .with_topic_claim("publ", "publish");
/// let claims = json!({"iss": "https://idp.example", "sub": "alice", "scope": "read write",
///     "realm_access": {"roles": ["admin"]}, "amr": ["pwd", "otp"], "publ": ["realm/s/alice/#"]});
/// let who = mapping.map("https://idp.example", claims.as_object().unwrap()).unwrap();
/// assert_eq!(who.uid(), Some("https://idp.example#alice"));
/// assert_eq!(who.roles(), ["admin"]);
/// assert!(who.mfa());
/// assert_eq!(who.metadata()["scope"], json!(["read", "write", "publish/realm/s/alice/#"]));
/// ```
#[derive(Debug, Clone)]
pub struct ClaimMapping {
    uid_claim: String,
    uid_prefix: Option<String>,
    roles: Vec<String>,
    groups: Vec<String>,
    mfa_amr: Vec<String>,
    mfa_acr: Vec<String>,
    topics: Vec<(String, String)>,
    metadata: Vec<String>,
    role_account_when_no_user: bool,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self::new()
    }
}

impl ClaimMapping {
    /// The default mapping described above.
    #[must_use]
    pub fn new() -> Self {
        Self {
            uid_claim: "sub".to_owned(),
            uid_prefix: None,
            roles: vec!["roles".to_owned()],
            groups: vec!["groups".to_owned()],
            mfa_amr: Vec::new(),
            mfa_acr: Vec::new(),
            topics: Vec::new(),
            metadata: Vec::new(),
            role_account_when_no_user: false,
        }
    }

    /// The claim holding the user's id (default `sub`). It must be a non-empty string of at
    /// most 255 bytes, or the token is refused (`sub` check).
    #[must_use]
    pub fn with_uid_claim(mut self, claim: impl Into<String>) -> Self {
        self.uid_claim = claim.into();
        self
    }

    /// What goes before the uid claim's value (default: the issuer and `#`). An empty prefix
    /// gives the bare claim: only do that when a single issuer is trusted, or the claim is
    /// unique across issuers.
    #[must_use]
    pub fn with_uid_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.uid_prefix = Some(prefix.into());
        self
    }

    /// Replaces the claim paths read as roles (default `roles`). A path is dot-separated
    /// (`realm_access.roles`, `resource_access.my-api.roles`); its value is an array of strings
    /// or one string.
    #[must_use]
    pub fn with_roles_claim(mut self, path: impl Into<String>) -> Self {
        self.roles = vec![path.into()];
        self
    }

    /// Adds a roles claim path.
    #[must_use]
    pub fn and_roles_claim(mut self, path: impl Into<String>) -> Self {
        self.roles.push(path.into());
        self
    }

    /// Replaces the claim paths read as groups (default `groups`).
    #[must_use]
    pub fn with_groups_claim(mut self, path: impl Into<String>) -> Self {
        self.groups = vec![path.into()];
        self
    }

    /// MFA when `amr` (RFC 8176) holds any of these values.
    #[must_use]
    pub fn with_mfa_amr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mfa_amr = values.into_iter().map(Into::into).collect();
        self
    }

    /// MFA when `acr` is one of these values.
    #[must_use]
    pub fn with_mfa_acr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.mfa_acr = values.into_iter().map(Into::into).collect();
        self
    }

    /// Maps a claim holding MQTT topic filters (ARENA's `publ`, `subs`) to scopes
    /// `<prefix>/<filter>`: `with_topic_claim("publ", "publish")` turns `realm/s/alice/#` into
    /// the scope `publish/realm/s/alice/#`, which permits `publish/realm/s/alice/scene1/objects`.
    #[must_use]
    pub fn with_topic_claim(mut self, claim: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.topics.push((claim.into(), prefix.into()));
        self
    }

    /// Copies these claims, when present, into the identity's metadata.
    #[must_use]
    pub fn with_metadata_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.metadata = claims.into_iter().map(Into::into).collect();
        self
    }

    /// Marks the identity as a role account when the token names no user: its `sub` equals its
    /// `client_id` (a client-credentials token).
    #[must_use]
    pub fn with_role_account_for_clients(mut self, yes: bool) -> Self {
        self.role_account_when_no_user = yes;
        self
    }

    /// Maps verified claims of a token from `issuer`.
    ///
    /// # Errors
    ///
    /// [`JwtError::Subject`] when the uid claim is missing, empty or too long.
    pub fn map(&self, issuer: &str, claims: &Map<String, Value>) -> Result<Identity, JwtError> {
        let uid_value = match claims.get(&self.uid_claim) {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT => s.as_str(),
            _ => return Err(JwtError::Subject),
        };
        let uid = match &self.uid_prefix {
            Some(prefix) => format!("{prefix}{uid_value}"),
            None => format!("{issuer}#{uid_value}"),
        };
        let mut scopes: Vec<String> = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            (_, Some(Value::Array(a))) => strings(a),
            (_, Some(Value::String(s))) => s
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        for (claim, prefix) in &self.topics {
            let filters = match claims.get(claim) {
                Some(Value::Array(a)) => strings(a),
                Some(Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            };
            let prefix = prefix.trim_end_matches('/');
            scopes.extend(filters.into_iter().map(|f| format!("{prefix}/{f}")));
        }
        let roles = self.paths(claims, &self.roles);
        let groups = self.paths(claims, &self.groups);
        let amr_mfa = !self.mfa_amr.is_empty()
            && matches!(claims.get("amr"), Some(Value::Array(a)) if a.iter().filter_map(Value::as_str).any(|v| self.mfa_amr.iter().any(|m| m == v)));
        let acr_mfa = !self.mfa_acr.is_empty()
            && claims
                .get("acr")
                .and_then(Value::as_str)
                .is_some_and(|acr| self.mfa_acr.iter().any(|m| m == acr));
        let mut metadata = Map::new();
        metadata.insert(
            SCOPE_KEY.to_owned(),
            Value::Array(scopes.into_iter().map(Value::String).collect()),
        );
        metadata.insert("iss".to_owned(), Value::String(issuer.to_owned()));
        if let Some(sub) = claims.get("sub").filter(|v| v.is_string()) {
            metadata.insert("sub".to_owned(), sub.clone());
        }
        let client_id = claims.get("client_id").and_then(Value::as_str);
        if let Some(client_id) = client_id {
            metadata.insert("client_id".to_owned(), Value::String(client_id.to_owned()));
        }
        for name in &self.metadata {
            if let Some(v) = claims.get(name) {
                metadata.insert(name.clone(), v.clone());
            }
        }
        // RFC 9068 §2.2.1: when the user authenticated, for step-up (RFC 9470). Unreadable:
        // refused, never taken as "just now".
        let auth_time = match super::claims::numeric_date(claims, "auth_time") {
            None => None,
            Some(Ok(at)) => {
                Some(time::OffsetDateTime::from_unix_timestamp(at).map_err(|_| JwtError::Format)?)
            }
            Some(Err(())) => return Err(JwtError::Format),
        };
        let role_account = self.role_account_when_no_user
            && client_id.is_some()
            && claims.get("sub").and_then(Value::as_str) == client_id;
        let identity = Identity::new(uid);
        let identity = match auth_time {
            Some(at) => identity.with_auth_time(at),
            None => identity,
        };
        Ok(identity
            .with_roles(roles)
            .with_groups(groups)
            .with_mfa(amr_mfa || acr_mfa)
            .with_role_account(role_account)
            .with_metadata(metadata))
    }

    fn paths(&self, claims: &Map<String, Value>, paths: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for path in paths {
            match lookup(claims, path) {
                Some(Value::Array(a)) => out.extend(strings(a)),
                Some(Value::String(s)) => out.push(s.clone()),
                _ => {}
            }
        }
        out
    }
}

/// The value at a dot-separated path.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn strings(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(m: &ClaimMapping, v: Value) -> Result<Identity, JwtError> {
        m.map("https://a.example", v.as_object().unwrap())
    }

    #[test]
    fn auth_time_is_read_as_a_numeric_date_and_refused_otherwise() {
        let m = ClaimMapping::new();
        let who = map(&m, json!({"sub": "alice", "auth_time": 1_700_000_000})).unwrap();
        assert_eq!(
            who.auth_time().map(time::OffsetDateTime::unix_timestamp),
            Some(1_700_000_000)
        );
        assert_eq!(map(&m, json!({"sub": "alice"})).unwrap().auth_time(), None);
        assert_eq!(
            map(&m, json!({"sub": "alice", "auth_time": "1700000000"})).unwrap_err(),
            JwtError::Format
        );
    }

    #[test]
    fn uid_is_issuer_and_subject_by_default() {
        let m = ClaimMapping::new();
        let a = map(&m, json!({"sub": "alice"})).unwrap();
        assert_eq!(a.uid(), Some("https://a.example#alice"));
        let b = m
            .map(
                "https://b.example",
                json!({"sub": "alice"}).as_object().unwrap(),
            )
            .unwrap();
        assert_ne!(a.uid(), b.uid());
        let bare = ClaimMapping::new()
            .with_uid_prefix("")
            .with_uid_claim("email");
        assert_eq!(
            map(&bare, json!({"sub": "x", "email": "a@b"}))
                .unwrap()
                .uid(),
            Some("a@b")
        );
        for bad in [
            json!({}),
            json!({"sub": ""}),
            json!({"sub": 7}),
            json!({"sub": "x".repeat(256)}),
        ] {
            assert_eq!(map(&m, bad).unwrap_err(), JwtError::Subject);
        }
    }

    #[test]
    fn scopes_roles_groups_and_mfa() {
        let m = ClaimMapping::new()
            .with_roles_claim("realm_access.roles")
            .and_roles_claim("resource_access.api.roles");
        let who = map(
            &m,
            json!({"sub": "a", "scp": ["x", "y"], "realm_access": {"roles": ["admin"]},
            "resource_access": {"api": {"roles": "writer"}}, "groups": ["g"], "amr": ["otp"]}),
        )
        .unwrap();
        assert_eq!(who.metadata()["scope"], json!(["x", "y"]));
        assert_eq!(who.roles(), ["admin", "writer"]);
        assert_eq!(who.groups(), ["g"]);
        assert!(!who.mfa(), "amr counts only with a rule");
        let m = ClaimMapping::new().with_mfa_acr(["gold"]);
        assert!(map(&m, json!({"sub": "a", "acr": "gold"})).unwrap().mfa());
        assert!(!map(&m, json!({"sub": "a", "acr": "silver"})).unwrap().mfa());
        let who = map(
            &ClaimMapping::new(),
            json!({"sub": "a", "scope": " a  b ", "scp": ["c"]}),
        )
        .unwrap();
        assert_eq!(
            who.metadata()["scope"],
            json!(["a", "b"]),
            "scope wins over scp"
        );
    }

    #[test]
    fn topic_claims_become_prefixed_scopes() {
        let m = ClaimMapping::new()
            .with_topic_claim("publ", "publish/")
            .with_topic_claim("subs", "subscribe");
        let who = map(
            &m,
            json!({"sub": "a", "publ": ["realm/s/alice/#"], "subs": "realm/s/+/x"}),
        )
        .unwrap();
        assert_eq!(
            who.metadata()["scope"],
            json!(["publish/realm/s/alice/#", "subscribe/realm/s/+/x"])
        );
    }

    #[test]
    fn client_tokens_may_be_role_accounts() {
        let m = ClaimMapping::new().with_role_account_for_clients(true);
        assert!(map(&m, json!({"sub": "ci", "client_id": "ci"}))
            .unwrap()
            .is_role_account());
        assert!(!map(&m, json!({"sub": "alice", "client_id": "ci"}))
            .unwrap()
            .is_role_account());
        assert!(!map(
            &ClaimMapping::new(),
            json!({"sub": "ci", "client_id": "ci"})
        )
        .unwrap()
        .is_role_account());
    }
}
