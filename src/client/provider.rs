//! [`OAuthClient`]: a client registration at an OAuth 2 provider (endpoints, client id and
//! secret, scopes, audience), and the token-endpoint plumbing every grant shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};
use serde::Deserialize;

use super::{ClientError, HttpClient, TokenSet, Transport};

/// The default bound on each call to the provider.
pub const DEFAULT_PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);

/// A client registered at an OAuth 2 provider: where its endpoints are, who the client is, and
/// what it asks for. Cheap to clone. The grants are its methods:
/// [`refresh`](OAuthClient::refresh), [`client_credentials`](OAuthClient::client_credentials),
/// [`device_flow`](OAuthClient::device_flow), [`loopback_flow`](OAuthClient::loopback_flow),
/// [`revoke`](OAuthClient::revoke).
///
/// Public clients (a CLI) send their `client_id` in the form; with a secret the client
/// authenticates with HTTP Basic (`client_secret_basic`, RFC 6749 §2.3.1).
///
/// ```
/// use sealed_session::client::OAuthClient;
///
/// let client = OAuthClient::new("https://id.example.org", "my-cli", "https://id.example.org/token")
///     .with_device_authorization_endpoint("https://id.example.org/device")
///     .with_scopes(["openid", "offline_access"])
///     .with_audience("https://api.example.org");
/// assert_eq!(client.client_id(), "my-cli");
/// assert_eq!(client.scopes(), ["openid", "offline_access"]);
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    issuer: String,
    client_id: String,
    client_secret: Option<Arc<str>>,
    token_endpoint: String,
    authorization_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    scopes: Vec<String>,
    audience: Option<String>,
    transport: Arc<dyn Transport>,
    timeout: Duration,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "REDACTED"),
            )
            .field("token_endpoint", &self.token_endpoint)
            .field("scopes", &self.scopes)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// The provider metadata read by [`OAuthClient::discover`] (RFC 8414 / OpenID Discovery).
#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    token_endpoint: String,
    authorization_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: Option<String>,
}

/// An error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
pub(crate) struct ErrorAnswer {
    pub(crate) error: String,
    pub(crate) error_description: Option<String>,
}

impl OAuthClient {
    /// A client of `issuer` (the provider's identity, stored in every [`TokenSet`]) with its
    /// token endpoint. Talks through a new [`HttpClient`].
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        token_endpoint: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            token_endpoint: token_endpoint.into(),
            authorization_endpoint: None,
            device_authorization_endpoint: None,
            revocation_endpoint: None,
            scopes: Vec::new(),
            audience: None,
            transport: Arc::new(HttpClient::new()),
            timeout: DEFAULT_PROVIDER_TIMEOUT,
        }
    }

    /// Reads the provider's endpoints from `<issuer>/.well-known/openid-configuration` (or,
    /// failing that, `/.well-known/oauth-authorization-server`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Transport`] or [`ClientError::Http`] when neither document could be
    /// fetched; [`ClientError::InvalidResponse`] when it has no token endpoint or names another
    /// issuer.
    pub async fn discover(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Result<Self, ClientError> {
        Self::discover_with(issuer, client_id, Arc::new(HttpClient::new())).await
    }

    /// [`OAuthClient::discover`] through a given transport.
    ///
    /// # Errors
    ///
    /// As [`OAuthClient::discover`].
    pub async fn discover_with(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, ClientError> {
        let issuer = issuer.into();
        let base = issuer.trim_end_matches('/');
        let mut last = ClientError::invalid("no discovery document");
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let req = Request::get(format!("{base}{path}"))
                .header(header::ACCEPT, "application/json")
                .body(Bytes::new())
                .map_err(|_| ClientError::source_error("the issuer is not a valid URL"))?;
            let res =
                match tokio::time::timeout(DEFAULT_PROVIDER_TIMEOUT, transport.send(req)).await {
                    Ok(Ok(res)) => res,
                    Ok(Err(e)) => {
                        last = e;
                        continue;
                    }
                    Err(_) => {
                        last = ClientError::transport("no answer in time");
                        continue;
                    }
                };
            if !res.status().is_success() {
                last = ClientError::Http {
                    status: res.status().as_u16(),
                };
                continue;
            }
            let meta: Metadata = serde_json::from_slice(res.body())
                .map_err(|e| ClientError::invalid(format!("discovery document: {e}")))?;
            if let Some(named) = &meta.issuer {
                if named.trim_end_matches('/') != base {
                    return Err(ClientError::invalid(format!(
                        "the discovery document names another issuer: {named}"
                    )));
                }
            }
            let mut client = Self::new(issuer.clone(), client_id, meta.token_endpoint);
            client.transport = transport;
            client.authorization_endpoint = meta.authorization_endpoint;
            client.device_authorization_endpoint = meta.device_authorization_endpoint;
            client.revocation_endpoint = meta.revocation_endpoint;
            return Ok(client);
        }
        Err(last)
    }

    /// Authenticates the client with this secret (HTTP Basic).
    #[must_use]
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(Arc::from(secret.into()));
        self
    }

    /// The authorization endpoint (for [`loopback_flow`](OAuthClient::loopback_flow)).
    #[must_use]
    pub fn with_authorization_endpoint(mut self, url: impl Into<String>) -> Self {
        self.authorization_endpoint = Some(url.into());
        self
    }

    /// The device authorization endpoint (for [`device_flow`](OAuthClient::device_flow)).
    #[must_use]
    pub fn with_device_authorization_endpoint(mut self, url: impl Into<String>) -> Self {
        self.device_authorization_endpoint = Some(url.into());
        self
    }

    /// The revocation endpoint (for [`revoke`](OAuthClient::revoke)).
    #[must_use]
    pub fn with_revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.revocation_endpoint = Some(url.into());
        self
    }

    /// The scopes to ask for.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The API the tokens are for, sent as `audience` (Auth0's parameter, Bitfount's setting).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Talks to the provider through `transport` instead of a new [`HttpClient`].
    #[must_use]
    pub fn with_transport(mut self, transport: impl Transport) -> Self {
        self.transport = Arc::new(transport);
        self
    }

    /// Bounds each call to the provider (default [`DEFAULT_PROVIDER_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The issuer.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The scopes asked for.
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The audience, if any.
    #[must_use]
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The token endpoint.
    #[must_use]
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    pub(crate) fn authorization_endpoint(&self) -> Option<&str> {
        self.authorization_endpoint.as_deref()
    }

    pub(crate) fn device_authorization_endpoint(&self) -> Option<&str> {
        self.device_authorization_endpoint.as_deref()
    }

    pub(crate) fn revocation_endpoint(&self) -> Option<&str> {
        self.revocation_endpoint.as_deref()
    }

    pub(crate) fn scope_param(&self) -> String {
        self.scopes.join(" ")
    }

    /// POSTs a form to `url` with client authentication, within the timeout.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        params: &[(&str, &str)],
    ) -> Result<http::Response<Bytes>, ClientError> {
        let req = self.form_request(url, params)?;
        tokio::time::timeout(self.timeout, self.transport.send(req))
            .await
            .map_err(|_| ClientError::transport("no answer in time"))?
    }

    fn form_request(
        &self,
        url: &str,
        params: &[(&str, &str)],
    ) -> Result<Request<Bytes>, ClientError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        match &self.client_secret {
            Some(secret) => {
                // RFC 6749 §2.3.1: both parts form-urlencoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&self.client_id),
                    enc(secret)
                ));
                let mut value = HeaderValue::from_str(&format!("Basic {basic}"))
                    .map_err(|_| ClientError::source_error("invalid client credentials"))?;
                value.set_sensitive(true);
                req = req.header(header::AUTHORIZATION, value);
            }
            None => {
                form.append_pair("client_id", &self.client_id);
            }
        }
        req.body(Bytes::from(form.finish()))
            .map_err(|_| ClientError::source_error("the endpoint is not a valid URL"))
    }

    /// Sends a token request and reads a token set (or the provider's OAuth error).
    pub(crate) async fn token_request(
        &self,
        params: &[(&str, &str)],
    ) -> Result<TokenSet, ClientError> {
        let grant = params
            .iter()
            .find(|(k, _)| *k == "grant_type")
            .map_or("", |(_, v)| *v);
        let res = self.post_form(&self.token_endpoint, params).await?;
        tracing::debug!(target: "sealed_session::client", grant, status = res.status().as_u16(), "token endpoint answered");
        if !res.status().is_success() {
            return Err(oauth_error(res.status(), res.body()));
        }
        let answer: TokenAnswer = serde_json::from_slice(res.body())
            .map_err(|e| ClientError::invalid(format!("token answer: {}", e.classify_str())))?;
        Ok(self.token_set(answer))
    }

    fn token_set(&self, answer: TokenAnswer) -> TokenSet {
        let mut set = TokenSet::new(answer.access_token, &self.issuer, &self.client_id)
            .with_token_type(answer.token_type.unwrap_or_else(|| "Bearer".to_owned()))
            .with_scopes(self.scopes.clone());
        if let Some(seconds) = answer.expires_in.as_ref().and_then(seconds) {
            set = set.with_expires_in(seconds);
        }
        if let Some(t) = answer.refresh_token {
            set = set.with_refresh_token(t);
        }
        if let Some(t) = answer.id_token {
            set = set.with_id_token(t);
        }
        if let Some(s) = answer.scope {
            set = set.with_granted_scope(s);
        }
        if let Some(a) = &self.audience {
            set = set.with_audience(a.clone());
        }
        set
    }
}

/// `expires_in` as a number, or a numeric string (some providers send one).
pub(crate) fn seconds(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The provider's OAuth error from a non-2xx answer, or the bare status.
pub(crate) fn oauth_error(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(answer) => ClientError::Provider {
            error: answer.error.chars().take(64).collect(),
            description: answer
                .error_description
                .map(|d| d.chars().take(256).collect()),
        },
        Err(_) => ClientError::Http {
            status: status.as_u16(),
        },
    }
}

trait Classify {
    fn classify_str(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    /// The kind of JSON error, without the input (which may hold a token).
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "a field is missing or has the wrong type",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_expiry_parse() {
        let e = oauth_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
        assert_eq!(
            e,
            ClientError::Provider {
                error: "invalid_grant".into(),
                description: Some("grant request is invalid".into())
            }
        );
        assert_eq!(
            oauth_error(StatusCode::SERVICE_UNAVAILABLE, b"<html>"),
            ClientError::Http { status: 503 }
        );
        assert_eq!(seconds(&serde_json::json!(3600)), Some(3600));
        assert_eq!(seconds(&serde_json::json!("60")), Some(60));
        assert_eq!(seconds(&serde_json::json!(null)), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = OAuthClient::new("i", "c", "t").with_client_secret("very-secret-value");
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
