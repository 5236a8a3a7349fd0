//! [`AccessToken`] (what goes in the `Authorization` header) and [`TokenSet`] (what the host
//! stores: access, refresh and ID tokens with their expiry and what they belong to).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

/// The scheme an access token is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenType {
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP <token>` (RFC 9449). The layer sends the scheme; the proof header is
    /// the app's to add (see the [module docs](super)).
    DPoP,
}

impl TokenType {
    /// Reads a `token_type` answer, case-insensitively (RFC 6749 §7.1). Unknown types are `None`.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        if value.eq_ignore_ascii_case("bearer") {
            Some(Self::Bearer)
        } else if value.eq_ignore_ascii_case("dpop") {
            Some(Self::DPoP)
        } else {
            None
        }
    }

    /// The `Authorization` scheme: `Bearer` or `DPoP`.
    #[must_use]
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
        }
    }
}

/// An access token: the secret, its type and its expiry. Cheap to clone.
///
/// Its `Debug` never shows the secret; compare two tokens with [`AccessToken::same_secret`]
/// (constant time).
///
/// ```
/// use std::time::Duration;
/// use sealed_session::client::{AccessToken, TokenType};
///
/// let token = AccessToken::bearer("s3cr3t-value").with_expires_in(Duration::from_secs(3600));
/// assert_eq!(token.secret(), "s3cr3t-value");
/// assert_eq!(token.token_type(), TokenType::Bearer);
/// assert!(token.is_fresh(Duration::from_secs(600)));
/// assert!(!token.is_fresh(Duration::from_secs(7200)));
/// assert!(!format!("{token:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<str>,
    token_type: TokenType,
    expires_at: Option<SystemTime>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"REDACTED")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl AccessToken {
    /// A token of the given type, with no known expiry.
    pub fn new(secret: impl Into<String>, token_type: TokenType) -> Self {
        Self {
            secret: Arc::from(secret.into()),
            token_type,
            expires_at: None,
        }
    }

    /// A bearer token with no known expiry (it is used until the API refuses it).
    pub fn bearer(secret: impl Into<String>) -> Self {
        Self::new(secret, TokenType::Bearer)
    }

    /// Sets when the token expires.
    #[must_use]
    pub fn with_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the expiry to `lifetime` from now (an `expires_in` answer).
    #[must_use]
    pub fn with_expires_in(self, lifetime: Duration) -> Self {
        let at = SystemTime::now()
            .checked_add(lifetime)
            .unwrap_or_else(far_future);
        self.with_expires_at(at)
    }

    /// The secret. Keep it out of logs.
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The scheme it is sent with.
    #[must_use]
    pub fn token_type(&self) -> TokenType {
        self.token_type
    }

    /// When it expires, if known.
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether it is still valid `margin` from now (always, when the expiry is unknown).
    /// Bitfount's `authenticated`, with its 10-minute margin: `is_fresh(Duration::from_secs(600))`.
    #[must_use]
    pub fn is_fresh(&self, margin: Duration) -> bool {
        match self.expires_at {
            None => true,
            Some(at) => match SystemTime::now().checked_add(margin) {
                Some(limit) => limit < at,
                None => false,
            },
        }
    }

    /// Whether both tokens hold the same secret, compared in constant time.
    #[must_use]
    pub fn same_secret(&self, other: &Self) -> bool {
        self.secret.as_bytes().ct_eq(other.secret.as_bytes()).into()
    }

    /// The `Authorization` header value (`Bearer <secret>`), marked sensitive so that hyper and
    /// `http` never print it. `None` when the secret holds bytes a header cannot carry.
    #[must_use]
    pub fn authorization(&self) -> Option<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("{} {}", self.token_type.scheme(), self.secret)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

fn far_future() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX))
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Everything a sign-in returned, in a JSON-serialisable form the host stores (Home
/// Assistant's rule: the library returns it, the host keeps it), together with what it belongs
/// to: the provider, the client id, the requested scopes and the audience (Bitfount's rule: a
/// stored set is reused only for the same four).
///
/// Its `Debug` hides the three tokens; its JSON form holds them, so store it like a password
/// (for example with [`FileStore`](super::FileStore), mode 0600).
///
/// ```
/// use sealed_session::client::TokenSet;
///
/// let set = TokenSet::new("at-1", "https://id.example.org", "my-cli")
///     .with_refresh_token("rt-1")
///     .with_expires_in(3600)
///     .with_scopes(["openid", "offline_access"]);
/// let json = serde_json::to_string(&set).unwrap();
/// let back: TokenSet = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, set);
/// assert_eq!(back.refresh_token(), Some("rt-1"));
/// assert!(back.access_token().is_fresh(std::time::Duration::from_secs(60)));
/// assert!(!format!("{set:?}").contains("rt-1"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    access_token: String,
    #[serde(default = "bearer")]
    token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// When the access token was obtained (Unix seconds), to replace short-lived tokens at half
    /// their lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    obtained_at: Option<i64>,
    /// The scopes requested (what the set is for).
    #[serde(default)]
    scopes: Vec<String>,
    /// The scope the provider said it granted, if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    granted_scope: Option<String>,
    provider: String,
    client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
}

fn bearer() -> String {
    "Bearer".to_owned()
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"REDACTED")
            .field("token_type", &self.token_type)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "REDACTED"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "REDACTED"))
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .finish()
    }
}

impl TokenSet {
    /// A set holding only a bearer access token, for `provider` and `client_id`.
    pub fn new(
        access_token: impl Into<String>,
        provider: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Self {
            access_token: access_token.into(),
            token_type: bearer(),
            refresh_token: None,
            id_token: None,
            expires_at: None,
            obtained_at: None,
            scopes: Vec::new(),
            granted_scope: None,
            provider: provider.into(),
            client_id: client_id.into(),
            audience: None,
        }
    }

    /// Sets the refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(token.into());
        self
    }

    /// Sets the ID token.
    #[must_use]
    pub fn with_id_token(mut self, token: impl Into<String>) -> Self {
        self.id_token = Some(token.into());
        self
    }

    /// Sets the token type as the provider spelled it (`Bearer`, `DPoP`).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Sets the expiry, in Unix seconds.
    #[must_use]
    pub fn with_expires_at(mut self, unix_seconds: i64) -> Self {
        self.expires_at = Some(unix_seconds);
        self
    }

    /// Sets the expiry to `seconds` from now (an `expires_in` answer), and notes now as the
    /// time the token was obtained.
    #[must_use]
    pub fn with_expires_in(mut self, seconds: i64) -> Self {
        let now = unix_now();
        self.obtained_at = Some(now);
        self.with_expires_at(now.saturating_add(seconds))
    }

    /// Whether the access token should be replaced now: it expires within `margin`, or, when
    /// its whole lifetime is known and shorter than twice the margin, more than half of it has
    /// passed (so a 30-second token is not refreshed on every request under a 60-second
    /// margin). Never when the expiry is unknown.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sealed_session::client::TokenSet;
    ///
    /// let long = TokenSet::new("a", "p", "c").with_expires_in(3600);
    /// assert!(!long.refresh_due(Duration::from_secs(600)));
    /// assert!(!long.refresh_due(Duration::from_secs(7200))); // half its life first
    /// // Lifetime unknown (only the expiry): the margin alone decides.
    /// let at = TokenSet::new("a", "p", "c").with_expires_in(3600).expires_at().unwrap();
    /// assert!(TokenSet::new("a", "p", "c").with_expires_at(at).refresh_due(Duration::from_secs(7200)));
    /// let short = TokenSet::new("a", "p", "c").with_expires_in(30);
    /// assert!(!short.refresh_due(Duration::from_secs(60))); // not before 15 s have passed
    /// assert!(TokenSet::new("a", "p", "c").with_expires_at(0).refresh_due(Duration::ZERO));
    /// ```
    #[must_use]
    pub fn refresh_due(&self, margin: Duration) -> bool {
        let Some(expires_at) = self.expires_at else {
            return false;
        };
        let margin = i64::try_from(margin.as_secs()).unwrap_or(i64::MAX);
        let early = match self.obtained_at {
            Some(obtained) => margin.min(expires_at.saturating_sub(obtained) / 2),
            None => margin,
        };
        unix_now() >= expires_at.saturating_sub(early)
    }

    /// Sets the requested scopes (what the set is for).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scope the provider said it granted.
    #[must_use]
    pub fn with_granted_scope(mut self, scope: impl Into<String>) -> Self {
        self.granted_scope = Some(scope.into());
        self
    }

    /// Sets the audience (the API the tokens are for).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The access token, with its type and expiry.
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        let token_type = TokenType::parse(&self.token_type).unwrap_or(TokenType::Bearer);
        let token = AccessToken::new(self.access_token.clone(), token_type);
        match self
            .expires_at
            .and_then(|s| u64::try_from(s).ok())
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
        {
            Some(at) => token.with_expires_at(at),
            None if self.expires_at.is_some() => token.with_expires_at(UNIX_EPOCH),
            None => token,
        }
    }

    /// The raw access token. Keep it out of logs.
    #[must_use]
    pub fn access_token_secret(&self) -> &str {
        &self.access_token
    }

    /// The refresh token, if the provider issued one.
    #[must_use]
    pub fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_deref()
    }

    /// The ID token (a JWT), if the provider issued one. Not verified by this module.
    #[must_use]
    pub fn id_token(&self) -> Option<&str> {
        self.id_token.as_deref()
    }

    /// The token type as the provider spelled it.
    #[must_use]
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The access token's expiry in Unix seconds, if known.
    #[must_use]
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The requested scopes.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The scope the provider said it granted, if it said.
    #[must_use]
    pub fn granted_scope(&self) -> Option<&str> {
        self.granted_scope.as_deref()
    }

    /// The provider (issuer) the set came from.
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The client id it was issued to.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The audience, if one was requested.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// Replaces the tokens with a refresh answer's: the refresh token is kept when the provider
    /// did not rotate it (RFC 6749 §6), so is the ID token.
    pub(crate) fn merge_refresh(mut self, new: Self) -> Self {
        self.access_token = new.access_token;
        self.token_type = new.token_type;
        self.expires_at = new.expires_at;
        self.obtained_at = new.obtained_at;
        if new.refresh_token.is_some() {
            self.refresh_token = new.refresh_token;
        }
        if new.id_token.is_some() {
            self.id_token = new.id_token;
        }
        if new.granted_scope.is_some() {
            self.granted_scope = new.granted_scope;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_type_is_case_insensitive() {
        assert_eq!(TokenType::parse("bearer"), Some(TokenType::Bearer));
        assert_eq!(TokenType::parse("DPOP"), Some(TokenType::DPoP));
        assert_eq!(TokenType::parse("mac"), None);
    }

    #[test]
    fn expired_and_unknown_expiry() {
        let past = AccessToken::bearer("x").with_expires_at(UNIX_EPOCH);
        assert!(!past.is_fresh(Duration::ZERO));
        assert!(AccessToken::bearer("x").is_fresh(Duration::from_secs(1 << 40)));
        let set = TokenSet::new("a", "p", "c").with_expires_at(-5);
        assert!(!set.access_token().is_fresh(Duration::ZERO));
    }

    #[test]
    fn authorization_header_is_sensitive() {
        let v = AccessToken::new("abc", TokenType::DPoP)
            .authorization()
            .unwrap();
        assert_eq!(v, "DPoP abc");
        assert!(v.is_sensitive());
        assert!(AccessToken::bearer("a\nb").authorization().is_none());
    }

    #[test]
    fn merge_keeps_the_old_refresh_token_unless_rotated() {
        let old = TokenSet::new("a1", "p", "c")
            .with_refresh_token("r1")
            .with_scopes(["s"]);
        let kept = old.clone().merge_refresh(TokenSet::new("a2", "p", "c"));
        assert_eq!(kept.refresh_token(), Some("r1"));
        assert_eq!(kept.access_token_secret(), "a2");
        assert_eq!(kept.scopes(), ["s".to_owned()]);
        let rotated = old.merge_refresh(TokenSet::new("a3", "p", "c").with_refresh_token("r2"));
        assert_eq!(rotated.refresh_token(), Some("r2"));
    }

    #[test]
    fn same_secret_compares_values() {
        assert!(AccessToken::bearer("a").same_secret(&AccessToken::bearer("a")));
        assert!(!AccessToken::bearer("a").same_secret(&AccessToken::bearer("b")));
    }
}
