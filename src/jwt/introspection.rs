//! [`IntrospectionHandler`]: opaque access tokens, checked by asking the provider (RFC 7662).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::claims::{self, numeric_date};
use super::issuers::{Claims, MapFn};
use super::mapping::ClaimMapping;
use crate::clock::{Clock, ClockSource};
use crate::identity::Identity;
use crate::token::{TokenError, TokenHandler};
use crate::transport::{HttpTransport, HyperTransport, TransportErrorKind};

/// How long one introspection call may take, by default.
pub const DEFAULT_INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(3);

/// How the resource server authenticates at the introspection endpoint (RFC 7662 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IntrospectionAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`): the default.
    #[default]
    Basic,
    /// The client id and secret in the form body (`client_secret_post`).
    Post,
}

#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A [`TokenHandler`] for opaque access tokens: it asks the provider's introspection endpoint
/// (RFC 7662) with client authentication, and maps the answer like [`JwtHandler`](super::JwtHandler)
/// maps claims.
///
/// `active` must be `true`; `exp` and `nbf`, when present, must be JSON numbers and hold with
/// this handler's clock and skew; `iss`, when present, must equal the configured issuer; `aud`
/// must name a configured audience when any is configured; a `token_type` of `refresh_token` is
/// refused. The uid is the issuer, `#`, and `sub` (or `client_id` for a token without `sub`),
/// unless the [`ClaimMapping`] says otherwise. `exp` becomes [`Identity::with_expires_at`], so
/// behind a [`TokenCache`](crate::TokenCache) an entry is never used past it.
///
/// An inactive or refused token is `Ok(None)` (401); an endpoint that fails, answers garbage,
/// refuses our credentials or does not answer in time is `Err` (503 with `Retry-After`).
///
/// ```
/// use sealed_session::jwt::{IntrospectionAuth, IntrospectionHandler};
/// use sealed_session::{Key, SessionLayer, TokenCache};
///
/// let introspection = IntrospectionHandler::new(
///     "https://login.example.com",
///     "https://login.example.com/oauth2/introspect",
///     "my-api",
///     "my-api-secret",
/// )
/// .with_audience("https://api.example.com")
/// .with_auth(IntrospectionAuth::Post);
/// assert!(introspection.check().is_ok());
/// assert!(!format!("{introspection:?}").contains("my-api-secret"));
/// // One call per token per minute at most, and never past the token's `exp`.
/// let layer = SessionLayer::new(Key::generate())
///     .with_token_handler(TokenCache::new(introspection).with_ttl(time::Duration::minutes(1)));
/// # drop(layer);
/// ```
#[derive(Clone)]
pub struct IntrospectionHandler {
    issuer: String,
    endpoint: String,
    client_id: String,
    secret: Secret,
    auth: IntrospectionAuth,
    audiences: Vec<String>,
    mapping: ClaimMapping,
    map_fn: Option<MapFn>,
    transport: Arc<dyn HttpTransport>,
    timeout: Duration,
    clock: ClockSource,
    skew: i64,
}

impl fmt::Debug for IntrospectionHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionHandler")
            .field("issuer", &self.issuer)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("auth", &self.auth)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl IntrospectionHandler {
    /// A handler asking `endpoint`, authenticated as `client_id` with `client_secret`, for
    /// tokens of `issuer` (used in uids, and compared with `iss` when the answer has one).
    pub fn new(
        issuer: impl Into<String>,
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            secret: Secret(client_secret.into()),
            auth: IntrospectionAuth::Basic,
            audiences: Vec::new(),
            mapping: ClaimMapping::new(),
            map_fn: None,
            transport: Arc::new(HyperTransport::new()),
            timeout: DEFAULT_INTROSPECTION_TIMEOUT,
            clock: ClockSource::default(),
            skew: super::DEFAULT_SKEW_SECONDS,
        }
    }

    /// How to authenticate (default HTTP Basic).
    #[must_use]
    pub fn with_auth(mut self, auth: IntrospectionAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Require `aud` to name this audience (or another one added the same way).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// How the answer becomes an identity (default [`ClaimMapping::new`]).
    #[must_use]
    pub fn with_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// A closure run after the mapping, as [`Issuer::with_map`](super::Issuer::with_map).
    #[must_use]
    pub fn with_map<F>(mut self, map: F) -> Self
    where
        F: Fn(&Claims<'_>, Identity) -> Option<Identity> + Send + Sync + 'static,
    {
        self.map_fn = Some(Arc::new(map));
        self
    }

    /// The HTTP client (default [`HyperTransport`]).
    #[must_use]
    pub fn with_transport(mut self, transport: impl HttpTransport) -> Self {
        self.transport = Arc::new(transport);
        self
    }

    /// How long one call may take (default 3 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The clock `exp` and `nbf` are checked against (default: the system clock).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::custom(clock);
        self
    }

    /// The allowance for clock differences with the provider (default 60 s).
    #[must_use]
    pub fn with_clock_skew(mut self, skew: time::Duration) -> Self {
        self.skew = skew.whole_seconds().max(0);
        self
    }

    /// Checks the configuration: the endpoint is `https` (or `http` on loopback) and the client
    /// id is not empty.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong.
    pub fn check(&self) -> Result<(), String> {
        crate::jwks::check_url("introspection endpoint", &self.endpoint)?;
        if self.client_id.is_empty() {
            return Err("the client id is empty".to_owned());
        }
        Ok(())
    }

    fn request(&self, token: &str) -> Result<http::Request<Vec<u8>>, TokenError> {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let mut form = format!("token={}&token_type_hint=access_token", encode(token));
        let mut request = http::Request::post(&self.endpoint)
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        match self.auth {
            IntrospectionAuth::Basic => {
                // RFC 6749 §2.3.1: both form-encoded before Basic.
                let pair = format!("{}:{}", encode(&self.client_id), encode(&self.secret.0));
                request = request.header(
                    http::header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode(pair)),
                );
            }
            IntrospectionAuth::Post => {
                form.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    encode(&self.client_id),
                    encode(&self.secret.0)
                ));
            }
        }
        request
            .body(form.into_bytes())
            .map_err(|_| TokenError::new("the introspection endpoint is not a valid URI"))
    }

    /// Asks the endpoint about `token`: the answer's members, or why there is none.
    async fn introspect(&self, token: &str) -> Result<Map<String, Value>, TokenError> {
        let request = self.request(token)?;
        let response = match tokio::time::timeout(self.timeout, self.transport.send(request)).await
        {
            Err(_) => {
                return Err(TokenError::new(
                    "the introspection endpoint did not answer in time",
                ))
            }
            Ok(Err(e)) if e.kind() == TransportErrorKind::Timeout => {
                return Err(TokenError::new(
                    "the introspection endpoint did not answer in time",
                ))
            }
            Ok(Err(e)) => {
                return Err(TokenError::with_source(
                    "the introspection endpoint could not be reached",
                    e,
                ))
            }
            Ok(Ok(response)) => response,
        };
        if response.status() == http::StatusCode::BAD_REQUEST {
            // RFC 7662 §4: `unsupported_token_type` is an answer about the token (the server
            // cannot introspect this kind, e.g. a JWT): it is not one of ours.
            let error = serde_json::from_slice::<Map<String, Value>>(response.body())
                .ok()
                .and_then(|m| m.get("error").and_then(Value::as_str).map(str::to_owned));
            if error.as_deref() == Some("unsupported_token_type") {
                let mut inactive = Map::new();
                inactive.insert("active".to_owned(), Value::Bool(false));
                return Ok(inactive);
            }
        }
        if response.status() != http::StatusCode::OK {
            return Err(TokenError::new(format!(
                "the introspection endpoint answered {}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body()).map_err(|_| {
            TokenError::new(
                "the introspection endpoint answered something that is not a JSON object",
            )
        })
    }

    /// The identity for an introspection answer, or the name of the check it failed.
    fn map_answer(&self, mut answer: Map<String, Value>) -> Result<Identity, &'static str> {
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err("active");
        }
        if answer.get("token_type").and_then(Value::as_str) == Some("refresh_token") {
            return Err("token_type");
        }
        match answer.get("iss") {
            None => {}
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err("iss"),
        }
        if !self.audiences.is_empty() {
            claims::check_audience(&answer, &self.audiences).map_err(|e| e.check())?;
        }
        let now = self.clock.unix_seconds();
        let exp = match numeric_date(&answer, "exp") {
            None => None,
            Some(Ok(exp)) if exp.saturating_add(self.skew) > now => Some(exp),
            Some(_) => return Err("exp"),
        };
        match numeric_date(&answer, "nbf") {
            None => {}
            Some(Ok(nbf)) if nbf <= now.saturating_add(self.skew) => {}
            Some(_) => return Err("nbf"),
        }
        if !answer.contains_key("sub") {
            // A client's own token (client credentials): the client is the subject.
            if let Some(client_id) = answer.get("client_id").cloned() {
                answer.insert("sub".to_owned(), client_id);
            }
        }
        let mut identity = self
            .mapping
            .map(&self.issuer, &answer)
            .map_err(|e| e.check())?;
        if let Some(map) = &self.map_fn {
            let view = Claims {
                issuer: &self.issuer,
                claims: &answer,
            };
            identity = map(&view, identity).ok_or("mapping")?;
        }
        if let Some(exp) = exp {
            let exp = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| "exp")?;
            let exp = identity.expires_at().map_or(exp, |t| t.min(exp));
            identity = identity.with_expires_at(exp);
        }
        Ok(identity)
    }
}

#[async_trait]
impl TokenHandler for IntrospectionHandler {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        Ok(self.resolve_checked(token).await?.ok())
    }

    /// As `resolve`, naming the failed check (`active`, `exp`, `aud`, …) for the 401's
    /// `error_description`.
    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<Identity, Option<&'static str>>, TokenError> {
        let answer = self.introspect(token).await?;
        match self.map_answer(answer) {
            Ok(identity) => Ok(Ok(identity)),
            Err(check) => {
                tracing::info!(target: "sealed_session::jwt", check, "refused: the introspected token failed a check");
                Ok(Err(Some(check)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handler() -> IntrospectionHandler {
        IntrospectionHandler::new(
            "https://idp.example",
            "https://idp.example/introspect",
            "api",
            "s",
        )
        .with_audience("api")
        .with_clock(|| OffsetDateTime::from_unix_timestamp(1_000).unwrap())
    }

    fn answer(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn active_answers_map_and_others_are_refused() {
        let h = handler();
        let who = h
            .map_answer(answer(json!({"active": true, "sub": "alice", "aud": "api", "exp": 2_000, "scope": "read"})))
            .unwrap();
        assert_eq!(who.uid(), Some("https://idp.example#alice"));
        assert_eq!(who.expires_at().unwrap().unix_timestamp(), 2_000);
        let client = h
            .map_answer(answer(
                json!({"active": true, "client_id": "ci", "aud": ["api"]}),
            ))
            .unwrap();
        assert_eq!(client.uid(), Some("https://idp.example#ci"));
        let cases = [
            (json!({"active": false, "sub": "a", "aud": "api"}), "active"),
            (
                json!({"active": "true", "sub": "a", "aud": "api"}),
                "active",
            ),
            (json!({"sub": "a", "aud": "api"}), "active"),
            (json!({"active": true, "sub": "a", "aud": "other"}), "aud"),
            (
                json!({"active": true, "sub": "a", "aud": "api", "exp": 500}),
                "exp",
            ),
            (
                json!({"active": true, "sub": "a", "aud": "api", "exp": "3000"}),
                "exp",
            ),
            (
                json!({"active": true, "sub": "a", "aud": "api", "nbf": 5_000}),
                "nbf",
            ),
            (
                json!({"active": true, "sub": "a", "aud": "api", "iss": "https://evil"}),
                "iss",
            ),
            (
                json!({"active": true, "sub": "a", "aud": "api", "token_type": "refresh_token"}),
                "token_type",
            ),
            (json!({"active": true, "aud": "api"}), "sub"),
        ];
        for (a, check) in cases {
            assert_eq!(h.map_answer(answer(a.clone())).unwrap_err(), check, "{a}");
        }
    }

    #[test]
    fn client_authentication_is_basic_or_post() {
        let h = handler();
        let req = h.request("tok en").unwrap();
        assert_eq!(req.headers()["authorization"], "Basic YXBpOnM=");
        assert_eq!(
            std::str::from_utf8(req.body()).unwrap(),
            "token=tok+en&token_type_hint=access_token"
        );
        let req = h.with_auth(IntrospectionAuth::Post).request("t").unwrap();
        assert!(!req.headers().contains_key("authorization"));
        assert!(std::str::from_utf8(req.body())
            .unwrap()
            .ends_with("&client_id=api&client_secret=s"));
        assert!(
            IntrospectionHandler::new("i", "http://idp.example/x", "a", "s")
                .check()
                .is_err()
        );
    }
}
