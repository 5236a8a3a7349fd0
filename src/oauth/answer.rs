//! What the provider answered, and the app's mapping from it to a session [`Identity`].

use std::fmt;

use serde_json::{Map, Value};

use crate::identity::Identity;

/// Everything the provider said about the user, handed to the app's mapping closure.
///
/// It holds the verified ID-token claims (OIDC), userinfo (when configured) or the ASF user
/// object, and the token response. Its `Debug` never shows a token.
#[derive(Clone, Default)]
pub struct ProviderAnswer {
    pub(crate) id_claims: Option<Map<String, Value>>,
    pub(crate) userinfo: Option<Map<String, Value>>,
    pub(crate) token_response: Map<String, Value>,
    pub(crate) return_to: Option<String>,
    pub(crate) mfa_policy: MfaPolicy,
    pub(crate) issuer: String,
}

impl fmt::Debug for ProviderAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderAnswer")
            .field("subject", &self.subject())
            .field("id_claims", &self.id_claims.as_ref().map(Map::len))
            .field("userinfo", &self.userinfo.as_ref().map(Map::len))
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

impl ProviderAnswer {
    /// The verified ID-token claims (OIDC only).
    #[must_use]
    pub fn id_claims(&self) -> Option<&Map<String, Value>> {
        self.id_claims.as_ref()
    }

    /// The userinfo answer, or the user object of the ASF service.
    #[must_use]
    pub fn userinfo(&self) -> Option<&Map<String, Value>> {
        self.userinfo.as_ref()
    }

    /// A claim: the ID token's first, then userinfo's.
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.id_claims
            .as_ref()
            .and_then(|c| c.get(name))
            .or_else(|| self.userinfo.as_ref().and_then(|u| u.get(name)))
    }

    /// A string claim.
    #[must_use]
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claim(name).and_then(Value::as_str)
    }

    /// The strings of an array claim (a single string counts as one); other values are skipped.
    #[must_use]
    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.claim(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }

    /// The subject: the ID token's `sub`, else userinfo's `sub`.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.str_claim("sub").filter(|s| !s.is_empty())
    }

    /// The authentication methods (`amr`, RFC 8176).
    #[must_use]
    pub fn amr(&self) -> Vec<String> {
        self.strings("amr")
    }

    /// Who answered: the provider's issuer (OIDC, checked against the ID token's `iss`), the
    /// ASF service's base URL, or, for plain OAuth2, the authorization endpoint's origin. The
    /// service keeps it in the session's metadata as `iss`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The authentication context class (`acr`), if the provider sent one.
    #[must_use]
    pub fn acr(&self) -> Option<&str> {
        self.str_claim("acr")
    }

    /// Whether the provider says the user authenticated with more than one factor, under the
    /// service's [`MfaPolicy`] (see [`OAuthLogin::with_mfa_policy`](super::OAuthLogin::with_mfa_policy)):
    /// `amr` lists `mfa` or `mca` (RFC 8176), or all the factors of a combination the app
    /// configured, or `acr` is a value the app configured. Two arbitrary `amr` values are not
    /// enough: `["pwd", "kba"]` (a password and a security question) is one factor twice.
    #[must_use]
    pub fn mfa_from_amr(&self) -> bool {
        self.mfa_policy.is_mfa(&self.amr(), self.acr())
    }

    /// The access token, to call the provider's APIs from the mapping. Never put it in the
    /// session.
    #[must_use]
    pub fn access_token(&self) -> Option<&str> {
        self.token_response
            .get("access_token")
            .and_then(Value::as_str)
    }

    /// The scopes the provider granted (the token response's `scope`).
    #[must_use]
    pub fn granted_scopes(&self) -> Vec<String> {
        self.token_response
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A field of the token response other than the tokens (for example `expires_in`).
    #[must_use]
    pub fn token_field(&self, name: &str) -> Option<&Value> {
        match name {
            "access_token" | "refresh_token" | "id_token" => None,
            _ => self.token_response.get(name),
        }
    }

    /// The absolute URL the user returns to after login, if one was asked for.
    #[must_use]
    pub fn return_to(&self) -> Option<&str> {
        self.return_to.as_deref()
    }

    /// The default OIDC and OAuth2 mapping: uid = `<issuer>#<sub>`, so that two providers'
    /// subjects never collide (a subject chosen at a weaker provider cannot name a user of
    /// another); groups from a string-array `groups` claim; MFA from
    /// [`mfa_from_amr`](Self::mfa_from_amr); `email` and `name`, when present, in the metadata.
    /// `None` without a subject. For the bare `sub`, write a mapping with
    /// [`subject`](Self::subject).
    #[must_use]
    pub fn oidc_identity(&self) -> Option<Identity> {
        let sub = self.subject()?;
        let uid = if self.issuer.is_empty() {
            sub.to_owned()
        } else {
            format!("{}#{sub}", self.issuer)
        };
        let mut identity = Identity::new(uid)
            .with_groups(self.strings("groups"))
            .with_mfa(self.mfa_from_amr());
        for name in ["email", "name"] {
            if let Some(v) = self.str_claim(name) {
                identity = identity.with_metadata_entry(name, Value::from(v));
            }
        }
        Some(identity)
    }

    /// asfquart's mapping of the ASF OAuth user object: uid = `uid`; groups = `pmcs`; roles
    /// `member`, `chair` and `root` from `isMember`, `isChair` and `isRoot` (only a JSON `true`
    /// counts); MFA = `mfa == true`; metadata = `fullname`, `email` and `dn`. The `projects`
    /// list is left out: it can pass the cookie budget. `None` without a uid.
    ///
    /// The uid is the bare ASF id, as in asfquart: a layer that also has another login service
    /// refuses logins while this mapping is the default (see
    /// [`OAuthLogin::with_identity`](super::OAuthLogin::with_identity)).
    #[must_use]
    pub fn asf_identity(&self) -> Option<Identity> {
        let user = self.userinfo.as_ref()?;
        let uid = user
            .get("uid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())?;
        let is = |name: &str| user.get(name) == Some(&Value::Bool(true));
        let roles = [
            ("isMember", "member"),
            ("isChair", "chair"),
            ("isRoot", "root"),
        ]
        .into_iter()
        .filter(|(flag, _)| is(flag))
        .map(|(_, role)| role);
        let mut identity = Identity::new(uid)
            .with_roles(roles)
            .with_groups(self.strings("pmcs"))
            .with_mfa(is("mfa"));
        for name in ["fullname", "email", "dn"] {
            if let Some(v) = user.get(name).filter(|v| v.is_string()) {
                identity = identity.with_metadata_entry(name, v.clone());
            }
        }
        Some(identity)
    }
}

/// What counts as multi-factor authentication in a provider's answer.
///
/// Always: `amr` lists `mfa` or `mca` (RFC 8176). Besides, any factor combination added with
/// [`with_factors`](Self::with_factors) (every listed method present in `amr`), and any
/// `acr` value added with [`with_acr`](Self::with_acr).
///
/// ```
/// use sealed_session::oauth::MfaPolicy;
///
/// let amr = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// let default = MfaPolicy::new();
/// assert!(default.is_mfa(&amr(&["pwd", "mfa"]), None));
/// assert!(!default.is_mfa(&amr(&["pwd", "kba"]), None));
///
/// let policy = MfaPolicy::new()
///     .with_factors(["pwd", "otp"])
///     .with_factors(["hwk"])
///     .with_acr(["urn:example:mfa"]);
/// assert!(policy.is_mfa(&amr(&["otp", "pwd"]), None));
/// assert!(policy.is_mfa(&amr(&["hwk"]), None));
/// assert!(!policy.is_mfa(&amr(&["pwd", "kba"]), None));
/// assert!(policy.is_mfa(&[], Some("urn:example:mfa")));
/// assert!(!policy.is_mfa(&[], Some("urn:example:pwd")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    factor_sets: Vec<Vec<String>>,
    acr: Vec<String>,
}

impl MfaPolicy {
    /// `mfa` or `mca` in `amr`, nothing else.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Also counts as MFA: every one of `methods` in `amr` (for example `["pwd", "otp"]`).
    /// An empty combination is ignored.
    #[must_use]
    pub fn with_factors<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let set: Vec<String> = methods.into_iter().map(Into::into).collect();
        if !set.is_empty() {
            self.factor_sets.push(set);
        }
        self
    }

    /// Also counts as MFA: an `acr` claim equal to one of `values`.
    #[must_use]
    pub fn with_acr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr.extend(values.into_iter().map(Into::into));
        self
    }

    /// Whether `amr` and `acr` show multi-factor authentication under this policy.
    #[must_use]
    pub fn is_mfa(&self, amr: &[String], acr: Option<&str>) -> bool {
        amr.iter().any(|m| m == "mfa" || m == "mca")
            || self
                .factor_sets
                .iter()
                .any(|set| set.iter().all(|f| amr.contains(f)))
            || acr.is_some_and(|acr| self.acr.iter().any(|a| a == acr))
    }
}

/// The mapping refused the login, or could not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    pub(crate) kind: MapErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapErrorKind {
    Denied,
    Backend,
}

impl MapError {
    /// The user may not log in: the callback answers 403. `reason` is logged, not shown.
    pub fn denied(reason: impl Into<String>) -> Self {
        Self {
            kind: MapErrorKind::Denied,
            message: reason.into(),
        }
    }

    /// A backend the mapping needs failed: the callback answers 503. `reason` is logged, not
    /// shown.
    pub fn backend(reason: impl Into<String>) -> Self {
        Self {
            kind: MapErrorKind::Backend,
            message: reason.into(),
        }
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MapError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(id: Value, userinfo: Value) -> ProviderAnswer {
        ProviderAnswer {
            id_claims: id.as_object().cloned(),
            userinfo: userinfo.as_object().cloned(),
            ..ProviderAnswer::default()
        }
    }

    #[test]
    fn oidc_mapping_reads_sub_groups_amr_and_email() {
        let a = answer(
            json!({"sub": "alice", "groups": ["dev", 7, "ops"], "amr": ["pwd", "mfa"]}),
            json!({"email": "alice@example.org"}),
        );
        let id = a.oidc_identity().unwrap();
        assert_eq!(id.uid(), Some("alice"));
        let mut named = a;
        named.issuer = "https://idp.example".to_owned();
        assert_eq!(
            named.oidc_identity().unwrap().uid(),
            Some("https://idp.example#alice")
        );
        assert_eq!(id.groups(), ["dev", "ops"]);
        assert!(id.mfa());
        assert_eq!(id.metadata()["email"], "alice@example.org");
        assert!(!answer(json!({"sub": "x", "amr": ["pwd", "pwd"]}), json!(null)).mfa_from_amr());
        assert!(answer(json!({"sub": "x", "amr": ["mfa"]}), json!(null)).mfa_from_amr());
        assert!(answer(json!({"sub": "x", "amr": ["mca"]}), json!(null)).mfa_from_amr());
        // Two distinct methods are not two factors unless the app says so.
        assert!(!answer(json!({"sub": "x", "amr": ["pwd", "kba"]}), json!(null)).mfa_from_amr());
        assert!(!answer(json!({"sub": "x", "amr": ["pwd", "otp"]}), json!(null)).mfa_from_amr());
        let mut configured = answer(json!({"sub": "x", "amr": ["pwd", "otp"]}), json!(null));
        configured.mfa_policy = MfaPolicy::new().with_factors(["pwd", "otp"]);
        assert!(configured.mfa_from_amr());
        assert!(answer(json!({"sub": ""}), json!(null))
            .oidc_identity()
            .is_none());
    }

    #[test]
    fn asf_mapping_follows_asfquart() {
        let a = answer(
            json!(null),
            json!({"uid": "janedoe", "pmcs": ["httpd"], "isMember": true, "isChair": "true",
                   "isRoot": false, "mfa": true, "fullname": "Jane Doe", "projects": ["a"]}),
        );
        let id = a.asf_identity().unwrap();
        assert_eq!(id.uid(), Some("janedoe"));
        assert_eq!(id.roles(), ["member"]);
        assert_eq!(id.groups(), ["httpd"]);
        assert!(id.mfa());
        assert_eq!(id.metadata()["fullname"], "Jane Doe");
        assert!(!id.metadata().contains_key("projects"));
    }

    #[test]
    fn debug_and_token_field_hide_tokens() {
        let mut a = answer(json!({"sub": "alice"}), json!(null));
        a.token_response =
            json!({"access_token": "AT-secret", "id_token": "IDT", "expires_in": 3600})
                .as_object()
                .cloned()
                .unwrap();
        assert!(!format!("{a:?}").contains("AT-secret"));
        assert_eq!(a.token_field("access_token"), None);
        assert_eq!(a.token_field("expires_in"), Some(&json!(3600)));
        assert_eq!(a.access_token(), Some("AT-secret"));
    }
}
