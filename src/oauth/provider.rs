//! The identity provider: protocol, endpoints, client credentials and scopes.

use std::fmt;

use url::Url;

use subtle::ConstantTimeEq as _;

/// How the login talks to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OpenID Connect: authorization code + PKCE (S256) + `state` + `nonce`; the ID token is
    /// required and verified against the provider's JWKS; userinfo is optional.
    Oidc,
    /// Plain OAuth2: authorization code + PKCE (S256) + `state`; no ID token. The mapping sees
    /// the token response and, if configured, userinfo.
    OAuth2,
    /// The ASF OAuth service as asfquart uses it: `auth-oidc` with `state` inside the redirect
    /// URI, then `GET token-oidc?code=…`, whose JSON object is the user.
    Asf,
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`): the default.
    #[default]
    Basic,
    /// The client id and secret in the form body (`client_secret_post`).
    Post,
    /// A public client: only the client id, in the form body; PKCE protects the code.
    None,
}

/// A client secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for ClientSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl From<String> for ClientSecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for ClientSecret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

/// The ASF OAuth service's base URL, as asfquart uses it.
pub const ASF_OAUTH_BASE: &str = "https://oauth.apache.org";

/// An OAuth2 or OpenID Connect provider.
///
/// ```
/// use sealed_session::oauth::{ClientAuth, Provider};
///
/// let provider = Provider::oidc("https://idp.example.com", "my-app")
///     .with_client_secret("s3cret")
///     .with_endpoints(
///         "https://idp.example.com/authorize",
///         "https://idp.example.com/token",
///         "https://idp.example.com/jwks",
///     )
///     .with_scopes(["openid", "email", "groups"])
///     .with_client_auth(ClientAuth::Post);
/// assert_eq!(provider.client_id(), "my-app");
/// // The secret never shows in Debug output.
/// assert!(!format!("{provider:?}").contains("s3cret"));
/// ```
#[derive(Debug, Clone)]
pub struct Provider {
    pub(crate) protocol: Protocol,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) secret: Option<ClientSecret>,
    pub(crate) authorize: String,
    pub(crate) token: String,
    pub(crate) jwks: Option<String>,
    pub(crate) userinfo: Option<String>,
    pub(crate) end_session: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) client_auth: ClientAuth,
    pub(crate) algorithms: Vec<jsonwebtoken::Algorithm>,
}

impl Provider {
    fn base(protocol: Protocol, issuer: String, client_id: String) -> Self {
        Self {
            protocol,
            issuer,
            client_id,
            secret: None,
            authorize: String::new(),
            token: String::new(),
            jwks: None,
            userinfo: None,
            end_session: None,
            scopes: Vec::new(),
            client_auth: ClientAuth::Basic,
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
        }
    }

    /// A generic OpenID Connect provider with `issuer` (compared exactly with the ID token's
    /// `iss`) and `client_id`. Set its endpoints with [`with_endpoints`](Self::with_endpoints),
    /// or build it with [`discover`](Self::discover). `openid` is always requested.
    pub fn oidc(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self::base(Protocol::Oidc, issuer.into(), client_id.into())
    }

    /// A plain OAuth2 provider: no ID token.
    pub fn oauth2(
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        let mut p = Self::base(Protocol::OAuth2, String::new(), client_id.into());
        p.authorize = authorize_url.into();
        p.token = token_url.into();
        p
    }

    /// The ASF OAuth service (`https://oauth.apache.org`), with asfquart's endpoints:
    /// `/auth-oidc` to log in, `/token-oidc?code=…` to fetch the user. No client id, secret,
    /// PKCE or nonce: the service does not take them. The flow is still bound to the browser
    /// by the `state` and its sealed flow cookie.
    #[must_use]
    pub fn asf() -> Self {
        Self::asf_at(ASF_OAUTH_BASE)
    }

    /// The ASF OAuth protocol at another base URL (a test double, a staging service).
    pub fn asf_at(base: &str) -> Self {
        let base = base.trim_end_matches('/');
        let mut p = Self::base(Protocol::Asf, base.to_owned(), String::new());
        p.authorize = format!("{base}/auth-oidc");
        p.token = format!("{base}/token-oidc");
        p
    }

    /// Fetches `<issuer>/.well-known/openid-configuration` and builds an OIDC provider from it.
    /// The document's `issuer` must equal `issuer`, and it must offer PKCE S256 if it lists
    /// challenge methods at all. Every endpoint it names must be on the issuer's origin (the
    /// client secret is sent to the token endpoint): for a provider whose endpoints live
    /// elsewhere, use [`discover_allowing`](Self::discover_allowing).
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] naming what failed.
    pub async fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Result<Self, DiscoveryError> {
        let transport = super::transport::HyperTransport::new();
        Self::discover_with(&transport, issuer, client_id).await
    }

    /// [`discover`](Self::discover) through a given transport.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] naming what failed.
    pub async fn discover_with(
        transport: &dyn super::transport::HttpTransport,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Result<Self, DiscoveryError> {
        Self::discover_allowing(transport, issuer, client_id, &[]).await
    }

    /// [`discover_with`](Self::discover_with), also accepting endpoints on the origins in
    /// `allowed_origins` (for example `["https://login.example.net"]`). A loopback origin
    /// (`localhost`, `127.0.0.0/8`, `[::1]`) is accepted only when the issuer itself is on
    /// loopback, even when listed.
    ///
    /// # Errors
    ///
    /// [`DiscoveryError`] naming what failed, including an endpoint on an origin neither the
    /// issuer's nor allowed.
    pub async fn discover_allowing(
        transport: &dyn super::transport::HttpTransport,
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        allowed_origins: &[&str],
    ) -> Result<Self, DiscoveryError> {
        let issuer = issuer.into();
        check_endpoint("issuer", &issuer).map_err(|e| DiscoveryError(e.to_string()))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let request = http::Request::get(&url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|_| DiscoveryError(format!("invalid discovery URL {url}")))?;
        let response =
            tokio::time::timeout(std::time::Duration::from_secs(10), transport.send(request))
                .await
                .map_err(|_| DiscoveryError(format!("{url}: no answer in time")))?
                .map_err(|e| DiscoveryError(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(DiscoveryError(format!(
                "{url}: the provider answered {}",
                response.status()
            )));
        }
        let doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(response.body())
                .map_err(|_| DiscoveryError(format!("{url}: not a JSON object")))?;
        let text = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if text("issuer").as_deref() != Some(issuer.as_str()) {
            return Err(DiscoveryError(format!(
                "{url}: the document's issuer is not {issuer}"
            )));
        }
        if let Some(methods) = doc
            .get("code_challenge_methods_supported")
            .and_then(|v| v.as_array())
        {
            if !methods.iter().any(|m| m == "S256") {
                return Err(DiscoveryError(format!("{url}: PKCE S256 is not supported")));
            }
        }
        let origins = EndpointOrigins::new(&issuer, allowed_origins)
            .ok_or_else(|| DiscoveryError(format!("the issuer {issuer:?} is not a URL")))?;
        let need = |name: &str| {
            let endpoint = text(name).ok_or_else(|| DiscoveryError(format!("{url}: no {name}")))?;
            origins.check(name, &endpoint)?;
            Ok::<_, DiscoveryError>(endpoint)
        };
        let mut provider = Self::oidc(issuer.clone(), client_id).with_endpoints(
            need("authorization_endpoint")?,
            need("token_endpoint")?,
            need("jwks_uri")?,
        );
        if text("end_session_endpoint").is_some() {
            provider.end_session = Some(need("end_session_endpoint")?);
        }
        // Userinfo stays off unless asked for with `with_userinfo`: the ID token usually says
        // enough, and it saves a round trip per login.
        Ok(provider)
    }

    /// The authorization, token and JWKS endpoints.
    #[must_use]
    pub fn with_endpoints(
        mut self,
        authorize_url: impl Into<String>,
        token_url: impl Into<String>,
        jwks_url: impl Into<String>,
    ) -> Self {
        self.authorize = authorize_url.into();
        self.token = token_url.into();
        self.jwks = Some(jwks_url.into());
        self
    }

    /// The provider's end-session endpoint (OpenID Connect RP-Initiated Logout 1.0), for
    /// [`OAuthLogin::with_provider_logout`](super::OAuthLogin::with_provider_logout).
    /// [`discover`](Self::discover) reads it from `end_session_endpoint`.
    #[must_use]
    pub fn with_end_session_endpoint(mut self, url: impl Into<String>) -> Self {
        self.end_session = Some(url.into());
        self
    }

    /// Also fetch userinfo after the code exchange (with the access token). For OIDC its `sub`
    /// must equal the ID token's.
    #[must_use]
    pub fn with_userinfo(mut self, userinfo_url: impl Into<String>) -> Self {
        self.userinfo = Some(userinfo_url.into());
        self
    }

    /// The client secret. Without one the client is public ([`ClientAuth::None`] is then used
    /// whatever was set).
    #[must_use]
    pub fn with_client_secret(mut self, secret: impl Into<ClientSecret>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// The scopes to request. For OIDC, `openid` is added if missing.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How the client authenticates at the token endpoint.
    #[must_use]
    pub fn with_client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// The ID-token signature algorithms accepted (default: RS256 only). `none` and the HMAC
    /// algorithms are never accepted.
    #[must_use]
    pub fn with_algorithms(
        mut self,
        algorithms: impl IntoIterator<Item = jsonwebtoken::Algorithm>,
    ) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| {
                !matches!(
                    a,
                    jsonwebtoken::Algorithm::HS256
                        | jsonwebtoken::Algorithm::HS384
                        | jsonwebtoken::Algorithm::HS512
                )
            })
            .collect();
        self
    }

    /// The protocol.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The issuer (OIDC) or base URL (ASF).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The namespace of this provider's subjects: the issuer (OIDC) or base URL (ASF); for
    /// plain OAuth2, which has no issuer, the authorization endpoint's origin.
    pub(crate) fn namespace(&self) -> String {
        if !self.issuer.is_empty() {
            return self.issuer.clone();
        }
        url::Url::parse(&self.authorize)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }

    /// The scopes sent with the authorization request.
    pub(crate) fn scope_param(&self) -> String {
        let mut scopes = self.scopes.clone();
        if self.protocol == Protocol::Oidc && !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".to_owned());
        }
        scopes.join(" ")
    }
}

/// Where a discovered endpoint may live: the issuer's origin, or an allowed one (never a
/// loopback one unless the issuer is on loopback).
struct EndpointOrigins {
    issuer: url::Origin,
    issuer_loopback: bool,
    allowed: Vec<url::Origin>,
}

impl EndpointOrigins {
    fn new(issuer: &str, allowed: &[&str]) -> Option<Self> {
        let issuer = url::Url::parse(issuer).ok()?;
        Some(Self {
            issuer: issuer.origin(),
            issuer_loopback: is_loopback(&issuer),
            allowed: allowed
                .iter()
                .filter_map(|a| url::Url::parse(a).ok())
                .map(|a| a.origin())
                .collect(),
        })
    }

    fn check(&self, name: &str, endpoint: &str) -> Result<(), DiscoveryError> {
        let url = url::Url::parse(endpoint)
            .map_err(|_| DiscoveryError(format!("the {name} {endpoint:?} is not a URL")))?;
        let origin = url.origin();
        let ok = origin == self.issuer
            || (self.allowed.contains(&origin) && (self.issuer_loopback || !is_loopback(&url)));
        if ok {
            Ok(())
        } else {
            Err(DiscoveryError(format!(
                "the {name} {endpoint} is not on the issuer's origin nor an allowed one"
            )))
        }
    }
}

/// Whether `url` names a loopback host.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Provider discovery failed. The message names the URL and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError(String);

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OIDC discovery failed: {}", self.0)
    }
}

impl std::error::Error for DiscoveryError {}
/// `https`, or plain `http` on a loopback host.
pub(crate) fn check_scheme(what: &str, url: &Url) -> Result<(), OAuthConfigError> {
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(OAuthConfigError::new(format!(
            "the {what} must be https (plain http only on localhost): {url}"
        ))),
    }
}

pub(crate) fn check_endpoint(what: &str, endpoint: &str) -> Result<(), OAuthConfigError> {
    let url = Url::parse(endpoint)
        .map_err(|_| OAuthConfigError::new(format!("the {what} {endpoint:?} is not a URL")))?;
    check_scheme(what, &url)?;
    if url.fragment().is_some() {
        return Err(OAuthConfigError::new(format!(
            "the {what} must not have a fragment"
        )));
    }
    Ok(())
}

/// The login configuration is invalid. The message names the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfigError(String);

impl OAuthConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for OAuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid OAuth login configuration: {}", self.0)
    }
}

impl std::error::Error for OAuthConfigError {}
