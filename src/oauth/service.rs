//! [`OAuthLogin`] (the builder) and [`AuthService`] (the mounted tower service).

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_core::body::Body;
use axum_core::response::IntoResponse as _;
use http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_TYPE, LOCATION, ORIGIN, REFRESH, RETRY_AFTER, SET_COOKIE, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use url::Url;

use super::answer::{MapError, MapErrorKind, MfaPolicy, ProviderAnswer};
use super::exchange::{safe_error_code, ExchangeError, Exchanger};
use super::flow::{FlowCookies, FlowState, MAX_FLOWS};
use super::provider::{check_endpoint, check_scheme, OAuthConfigError, Protocol, Provider};
use super::return_path;
use super::transport::{HttpTransport, HyperTransport};
use crate::config::OAuthView;
use crate::context::RequestContext;
use crate::identity::Identity;
use crate::session::{Session, SessionError, SessionSource};

/// Where the service is mounted unless told otherwise: asfquart's `/auth`.
pub const DEFAULT_MOUNT_PATH: &str = "/auth";
/// How long a login flow may take, from start to callback: asfquart's 15 minutes.
pub const DEFAULT_FLOW_TTL: Duration = Duration::from_secs(15 * 60);
/// The timeout of each request to the provider.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The least deadline of a whole callback (every provider request and the mapping): asfquart's
/// 15 s, or the HTTP timeout plus 5 s when that is longer.
const CALLBACK_DEADLINE: Duration = Duration::from_secs(15);
/// The longest HTTP timeout accepted: an hour is already far past any provider's answer.
const MAX_HTTP_TIMEOUT: Duration = Duration::from_secs(3600);
/// Code exchanges in flight at once; more get a 503.
const DEFAULT_MAX_EXCHANGES: usize = 64;

type MapFuture = Pin<Box<dyn Future<Output = Result<Option<Identity>, MapError>> + Send>>;
type Mapper = Arc<dyn Fn(ProviderAnswer) -> MapFuture + Send + Sync>;

/// Builds the `/auth` service for one provider.
///
/// See the [module docs](crate::oauth) for a full example.
#[derive(Clone)]
pub struct OAuthLogin {
    provider: Provider,
    base: String,
    mount: String,
    mapper: Option<Mapper>,
    transport: Option<Arc<dyn HttpTransport>>,
    http_timeout: Duration,
    flow_ttl: Duration,
    get_logout: bool,
    clear_cookies: bool,
    max_exchanges: usize,
    mfa_policy: MfaPolicy,
    prompt: Option<String>,
    max_age: Option<Duration>,
    post_logout: Option<String>,
    jwks: Option<crate::jwks::JwksCache>,
}

impl fmt::Debug for OAuthLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthLogin")
            .field("provider", &self.provider)
            .field("base", &self.base)
            .field("mount", &self.mount)
            .field("flow_ttl", &self.flow_ttl)
            .field("get_logout", &self.get_logout)
            .finish_non_exhaustive()
    }
}

impl OAuthLogin {
    /// A login through `provider` for the app whose external base URL is `base_url` (for
    /// example `https://app.example.org`). The callback URL sent to the provider is the base URL
    /// plus the mount path; it is never taken from the request's `Host` header.
    pub fn new(provider: Provider, base_url: impl Into<String>) -> Self {
        Self {
            provider,
            base: base_url.into(),
            mount: DEFAULT_MOUNT_PATH.to_owned(),
            mapper: None,
            transport: None,
            http_timeout: DEFAULT_HTTP_TIMEOUT,
            flow_ttl: DEFAULT_FLOW_TTL,
            get_logout: false,
            clear_cookies: false,
            max_exchanges: DEFAULT_MAX_EXCHANGES,
            mfa_policy: MfaPolicy::new(),
            prompt: None,
            max_age: None,
            post_logout: None,
            jwks: None,
        }
    }

    /// The cache of the provider's signing keys, shared with another component (the `jwt`
    /// resource server's `Issuer::with_jwks` for the same provider),
    /// so that one place fetches and caches the keys. By default the login keeps its own
    /// cache of the provider's JWKS endpoint.
    #[must_use]
    pub fn with_jwks_cache(mut self, cache: crate::jwks::JwksCache) -> Self {
        self.jwks = Some(cache);
        self
    }

    /// The path the service is mounted at (default `/auth`). Mount it there with
    /// `Router::route_service(login.mount_path(), login.service()?)`.
    #[must_use]
    pub fn with_mount_path(mut self, path: impl Into<String>) -> Self {
        self.mount = path.into();
        self
    }

    /// The path the service must be mounted at.
    #[must_use]
    pub fn mount_path(&self) -> &str {
        &self.mount
    }

    /// Maps the provider's answer to the session's [`Identity`]. `Ok(None)` or
    /// [`MapError::denied`] refuse the login (403); [`MapError::backend`] answers 503.
    ///
    /// The default is [`ProviderAnswer::oidc_identity`] for OIDC and plain OAuth2 (uid
    /// `<issuer>#<sub>`), and [`ProviderAnswer::asf_identity`] for the ASF service (asfquart's
    /// bare uid). Whatever the mapping, the session keeps the issuer in its metadata as `iss`.
    ///
    /// Several login services under one [`SessionLayer`](crate::SessionLayer) share one uid
    /// space. While any of them uses the ASF default (bare uids), the layer refuses logins
    /// (500, logged) once it has seen two services: a mapping of the app's own says how its
    /// uids are namespaced.
    #[must_use]
    pub fn with_identity<F, Fut>(mut self, map: F) -> Self
    where
        F: Fn(ProviderAnswer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Identity>, MapError>> + Send + 'static,
    {
        self.mapper = Some(Arc::new(move |answer| Box::pin(map(answer)) as MapFuture));
        self
    }

    /// The HTTP client used to reach the provider (default: [`HyperTransport`]).
    #[must_use]
    pub fn with_transport(mut self, transport: impl HttpTransport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// The timeout of each request to the provider (default 10 s, at most 1 hour: a longer
    /// one is refused by [`service`](Self::service)). The whole callback has a deadline of 15 s
    /// or the timeout plus 5 s, whichever is longer.
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// How long a login may take from start to callback (default 15 minutes, at most 1 hour).
    #[must_use]
    pub fn with_flow_ttl(mut self, ttl: Duration) -> Self {
        self.flow_ttl = ttl;
        self
    }

    /// Also log out on `GET ?logout` (asfquart's behaviour). Off by default: a GET can be
    /// triggered by any page (an image tag). A cross-site or same-site `Sec-Fetch-Site` is still
    /// refused, but a browser that sends no `Sec-Fetch-Site` (older ones) can still be logged
    /// out by another site.
    #[must_use]
    pub fn with_get_logout(mut self, allow: bool) -> Self {
        self.get_logout = allow;
        self
    }

    /// Add `"cookies"` to logout's `Clear-Site-Data` (default: `"cache", "storage"` only).
    /// Browsers then clear every cookie of the registrable domain, including sibling apps'.
    #[must_use]
    pub fn with_clear_site_cookies(mut self, clear: bool) -> Self {
        self.clear_cookies = clear;
        self
    }

    /// What counts as multi-factor authentication for [`ProviderAnswer::mfa_from_amr`] (and so
    /// for the default mappings and [`Requirement::mfa`](crate::Requirement::mfa)). Default:
    /// `amr` lists `mfa` or `mca`; add the factor combinations or `acr` values your provider
    /// uses.
    #[must_use]
    pub fn with_mfa_policy(mut self, policy: MfaPolicy) -> Self {
        self.mfa_policy = policy;
        self
    }

    /// The `prompt` sent with every authorization request (OIDC and OAuth2), for example
    /// `"login"` to make the provider ask for credentials again, or `"select_account"`. A login
    /// started with `?login=/path&prompt=…` sends its own instead. Values: `none`, `login`,
    /// `consent`, `select_account`, space-separated (`none` alone).
    #[must_use]
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// The `max_age` sent with every authorization request (OIDC only): the provider must
    /// authenticate the user again if their last authentication is older (ASVS 7.5.1). The
    /// callback then requires an ID-token `auth_time` no older than that (plus the layer's
    /// clock skew), and refuses the login (403) otherwise. A login started with
    /// `?login=/path&max_age=SECONDS` sends its own instead.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Also end the session at the provider on logout (OpenID Connect RP-Initiated Logout
    /// 1.0; ASVS 7.6.1): after deleting the local session, `?logout` answers 303 to the
    /// provider's end-session endpoint with `id_token_hint`, `client_id` and
    /// `post_logout_redirect_uri` = `uri`, where the provider sends the browser back. `uri`
    /// must be an absolute URL on the app's origin, registered at the provider; a return path
    /// given with `?logout=/path` is then not used. The ID token is kept for the hint in a
    /// sealed, host-only cookie of its own (`__Host-auth-idt`), deleted at logout.
    ///
    /// [`service`](Self::service) refuses this when the provider has no end-session endpoint
    /// ([`Provider::with_end_session_endpoint`], or discovery).
    #[must_use]
    pub fn with_provider_logout(mut self, post_logout_redirect_uri: impl Into<String>) -> Self {
        self.post_logout = Some(post_logout_redirect_uri.into());
        self
    }

    /// How many code exchanges may be in flight at once (default 64); more get a quick 503.
    #[must_use]
    pub fn with_max_exchanges(mut self, limit: usize) -> Self {
        self.max_exchanges = limit;
        self
    }

    /// Validates the configuration and builds the service.
    ///
    /// # Errors
    ///
    /// [`OAuthConfigError`] naming the first setting that is wrong.
    pub fn service(&self) -> Result<AuthService, OAuthConfigError> {
        let base = parse_base(&self.base)?;
        if !crate::parse::is_local_path(&self.mount) || self.mount.contains('?') {
            return Err(OAuthConfigError::new(format!(
                "the mount path {:?} must be a plain absolute path",
                self.mount
            )));
        }
        let p = &self.provider;
        check_endpoint("authorization endpoint", &p.authorize)?;
        check_endpoint("token endpoint", &p.token)?;
        if let Some(userinfo) = &p.userinfo {
            check_endpoint("userinfo endpoint", userinfo)?;
        }
        match p.protocol {
            Protocol::Oidc => {
                if p.issuer.is_empty() {
                    return Err(OAuthConfigError::new("an OIDC provider needs its issuer"));
                }
                let jwks = p.jwks.as_deref().ok_or_else(|| {
                    OAuthConfigError::new("an OIDC provider needs its JWKS endpoint")
                })?;
                check_endpoint("JWKS endpoint", jwks)?;
                if p.algorithms.is_empty() {
                    return Err(OAuthConfigError::new("no ID-token algorithm is allowed"));
                }
            }
            Protocol::OAuth2 | Protocol::Asf => {}
        }
        if p.protocol != Protocol::Asf && p.client_id.is_empty() {
            return Err(OAuthConfigError::new("the client id is empty"));
        }
        if let Some(bad) = p.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(OAuthConfigError::new(format!(
                "{bad:?} is not a scope token"
            )));
        }
        let ttl = self.flow_ttl.as_secs();
        if ttl == 0 || ttl > 3600 {
            return Err(OAuthConfigError::new(
                "the flow lifetime must be between 1 second and 1 hour",
            ));
        }
        if self.http_timeout.is_zero() || self.http_timeout > MAX_HTTP_TIMEOUT {
            return Err(OAuthConfigError::new(
                "the HTTP timeout must be positive and at most 1 hour",
            ));
        }
        if self.max_exchanges == 0 || self.max_exchanges > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(OAuthConfigError::new(
                "max exchanges must be at least 1 and at most Semaphore::MAX_PERMITS",
            ));
        }
        if let Some(prompt) = &self.prompt {
            if !is_prompt(prompt) {
                return Err(OAuthConfigError::new(format!(
                    "{prompt:?} is not a prompt value"
                )));
            }
        }
        let max_age = match self.max_age {
            None => None,
            Some(_) if p.protocol != Protocol::Oidc => {
                return Err(OAuthConfigError::new(
                    "max_age needs an OIDC provider (its ID token's auth_time is checked)",
                ))
            }
            Some(age) => Some(
                i64::try_from(age.as_secs())
                    .ok()
                    .filter(|s| *s <= MAX_MAX_AGE)
                    .ok_or_else(|| OAuthConfigError::new("max_age must be at most 10 years"))?,
            ),
        };
        let provider_logout = match &self.post_logout {
            None => None,
            Some(uri) => {
                let end_session = p.end_session.as_deref().ok_or_else(|| {
                    OAuthConfigError::new(
                        "provider logout needs the provider's end-session endpoint",
                    )
                })?;
                check_endpoint("end-session endpoint", end_session)?;
                let back = Url::parse(uri).ok().filter(|u| {
                    u.origin() == base.origin() && u.fragment().is_none() && u.username().is_empty()
                });
                if back.is_none() {
                    return Err(OAuthConfigError::new(format!(
                        "the post-logout redirect URI {uri:?} must be an absolute URL on the app's origin"
                    )));
                }
                Some((end_session.to_owned(), uri.clone()))
            }
        };
        let redirect_uri = format!("{}{}", base.as_str().trim_end_matches('/'), self.mount);
        let transport = self
            .transport
            .clone()
            .unwrap_or_else(|| Arc::new(HyperTransport::new()));
        let protocol = p.protocol;
        let mapper = self.mapper.clone().unwrap_or_else(|| {
            Arc::new(move |answer: ProviderAnswer| {
                let identity = match protocol {
                    Protocol::Asf => answer.asf_identity(),
                    _ => answer.oidc_identity(),
                };
                Box::pin(async move { Ok(identity) }) as MapFuture
            })
        });
        let origin = base.origin().ascii_serialization();
        let flow_binding = format!("{redirect_uri}\u{1f}{}", p.issuer);
        let csrf = crate::csrf::CsrfLayer::new()
            .add_trusted_origin(&origin)
            .map_err(|e| OAuthConfigError::new(format!("the base URL's origin: {e}")))?;
        Ok(AuthService {
            inner: Arc::new(Inner {
                csrf,
                flow_binding,
                exchanger: Exchanger::new(p.clone(), transport, self.http_timeout, redirect_uri)
                    .with_jwks(self.jwks.clone()),
                base,
                origin,
                mount: self.mount.clone(),
                mapper,
                bare_uids: self.mapper.is_none() && protocol == Protocol::Asf,
                mfa_policy: self.mfa_policy.clone(),
                prompt: self.prompt.clone(),
                max_age,
                provider_logout,
                flow_ttl: i64::try_from(ttl).unwrap_or(900),
                get_logout: self.get_logout,
                clear_site_data: HeaderValue::from_static(if self.clear_cookies {
                    "\"cache\", \"storage\", \"cookies\""
                } else {
                    "\"cache\", \"storage\""
                }),
                exchanges: Arc::new(tokio::sync::Semaphore::new(self.max_exchanges)),
            }),
        })
    }
}

fn parse_base(base: &str) -> Result<Url, OAuthConfigError> {
    let url = Url::parse(base)
        .map_err(|_| OAuthConfigError::new(format!("the base URL {base:?} is not absolute")))?;
    check_scheme("base URL", &url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OAuthConfigError::new(
            "the base URL must not hold credentials",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OAuthConfigError::new(
            "the base URL must not have a query or a fragment",
        ));
    }
    Ok(url)
}

/// The longest `max_age` accepted, in seconds: 10 years.
const MAX_MAX_AGE: i64 = 10 * 366 * 24 * 3600;

/// An OIDC `prompt` value: `none` alone, or some of `login`, `consent`, `select_account`.
fn is_prompt(prompt: &str) -> bool {
    let values: Vec<&str> = prompt.split(' ').collect();
    if values == ["none"] {
        return true;
    }
    !values.is_empty()
        && values
            .iter()
            .all(|v| matches!(*v, "login" | "consent" | "select_account"))
}

/// A `max_age` query value: decimal seconds, at most [`MAX_MAX_AGE`].
fn parse_max_age(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|s| *s <= MAX_MAX_AGE)
}

/// An RFC 6749 §3.3 scope token.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

struct Inner {
    exchanger: Exchanger,
    /// The CSRF check of unsafe requests, with this app's origin trusted.
    csrf: crate::csrf::CsrfLayer,
    /// What a flow cookie is bound to: this service's redirect URI and provider.
    flow_binding: String,
    base: Url,
    origin: String,
    mount: String,
    mapper: Mapper,
    /// Whether this service's uids are bare (the ASF default mapping).
    bare_uids: bool,
    mfa_policy: MfaPolicy,
    prompt: Option<String>,
    max_age: Option<i64>,
    /// The end-session endpoint and the post-logout redirect URI, for provider logout.
    provider_logout: Option<(String, String)>,
    flow_ttl: i64,
    get_logout: bool,
    clear_site_data: HeaderValue,
    exchanges: Arc<tokio::sync::Semaphore>,
}

/// A login service seen under a session layer: its flow binding, and whether its uids are
/// bare. Kept in the layer's own configuration, so it lives and dies with the layer.
#[derive(Debug)]
pub(crate) struct LoginSeen {
    binding: String,
    bare: bool,
}

/// The `/auth` service. Mount it under a [`SessionLayer`](crate::SessionLayer), at
/// [`OAuthLogin::mount_path`]. It never reads the request body.
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

impl fmt::Debug for AuthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("mount", &self.inner.mount)
            .field("provider", &self.inner.exchanger.provider.issuer)
            .finish_non_exhaustive()
    }
}

impl<B: Send + 'static> tower_service::Service<Request<B>> for AuthService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let (parts, _body) = request.into_parts();
        Box::pin(async move { Ok(inner.handle(parts).await) })
    }
}

/// A plain-text response that no cache keeps.
fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Body::from(body.into()));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Some answers reflect the uid or a return path: never sniffed as HTML.
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn redirect(status: StatusCode, location: &str) -> Response<Body> {
    let mut response = text(status, "");
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

const INVALID_REDIRECT: &str = "Invalid redirect URI.\n";

/// The query, parsed: our keys once each at most.
#[derive(Default)]
struct Query<'a> {
    login: Option<Cow<'a, str>>,
    logout: Option<Cow<'a, str>>,
    state: Option<Cow<'a, str>>,
    code: Option<Cow<'a, str>>,
    error: Option<Cow<'a, str>>,
    prompt: Option<Cow<'a, str>>,
    max_age: Option<Cow<'a, str>>,
    repeated: bool,
}

impl<'a> Query<'a> {
    fn parse(query: &'a str) -> Self {
        let mut q = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "login" => &mut q.login,
                "logout" => &mut q.logout,
                "state" => &mut q.state,
                "code" => &mut q.code,
                "error" => &mut q.error,
                "prompt" => &mut q.prompt,
                "max_age" => &mut q.max_age,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                q.repeated = true;
            }
        }
        q
    }
}

impl Inner {
    async fn handle(&self, parts: http::request::Parts) -> Response<Body> {
        let Some(context) = parts.extensions.get::<Arc<RequestContext>>().cloned() else {
            tracing::error!(target: "sealed_session::oauth", reason = "missing_layer", "the auth service ran without SessionLayer");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The auth service needs SessionLayer.\n",
            );
        };
        let query = Query::parse(parts.uri.query().unwrap_or_default());
        let flows = FlowCookies::new(context.oauth().settings.secure, self.flow_ttl);
        if query.repeated || (query.login.is_some() && query.logout.is_some()) {
            return text(StatusCode::BAD_REQUEST, "Ambiguous request.\n");
        }
        let logging_in = query.login.is_some() || query.state.is_some();
        if logging_in && self.uid_conflict(&context.oauth()) {
            tracing::error!(target: "sealed_session::oauth", reason = "uid_namespace", "login refused: two login services share this session layer and one keeps bare uids");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Login is misconfigured: two login services share this session layer and one \
                 keeps bare uids. Give it a mapping (OAuthLogin::with_identity).\n",
            );
        }
        if let Some(target) = &query.login {
            if parts.method != Method::GET && parts.method != Method::HEAD {
                return method_not_allowed("GET");
            }
            return self.start(&context, &flows, &parts.headers, target, &query);
        }
        if let Some(target) = &query.logout {
            // With a revocation store, open the cookie first: the logout denies its id.
            if context.has_store() {
                let _ = context.resolve(&parts.headers).await;
            }
            return self.logout(&context, &flows, &parts, target);
        }
        if let Some(state) = &query.state {
            if query.code.is_none() && query.error.is_none() {
                return text(StatusCode::BAD_REQUEST, "A callback needs code or error.\n");
            }
            if parts.method != Method::GET {
                return method_not_allowed("GET");
            }
            // With a revocation store, open the cookie first: a login over it denies its id.
            if context.has_store() {
                let _ = context.resolve(&parts.headers).await;
            }
            return self
                .callback(&context, &flows, &parts.headers, state, &query)
                .await;
        }
        if query.code.is_some() || query.error.is_some() {
            return text(StatusCode::BAD_REQUEST, "A callback needs state.\n");
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            return method_not_allowed("GET");
        }
        self.status(&context, &parts.headers).await
    }

    /// Records this service on the request's layer, and whether that layer now has two or
    /// more login services of which one keeps bare uids.
    fn uid_conflict(&self, layer: &OAuthView<'_>) -> bool {
        let mut seen = layer
            .settings
            .logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !seen.iter().any(|s| s.binding == self.flow_binding) {
            seen.push(LoginSeen {
                binding: self.flow_binding.clone(),
                bare: self.bare_uids,
            });
        }
        seen.len() >= 2 && seen.iter().any(|s| s.bare)
    }

    fn restart_hint(&self) -> String {
        format!(
            "Invalid or expired login state. Start again: {}?login\n",
            self.mount
        )
    }

    /// `?login[=/path]`: a fresh flow, its cookie, and a redirect to the provider; or, for a
    /// request this site did not start, a page with a button that does.
    fn start(
        &self,
        context: &RequestContext,
        flows: &FlowCookies,
        headers: &HeaderMap,
        target: &str,
        query: &Query<'_>,
    ) -> Response<Body> {
        let return_to = match return_path::validate(&self.base, target) {
            Ok(url) => url.map(String::from),
            Err(refused) => {
                tracing::info!(target: "sealed_session::oauth", reason = refused.as_str(), "login refused: invalid return path");
                return text(StatusCode::BAD_REQUEST, INVALID_REDIRECT);
            }
        };
        let prompt = match query.prompt.as_deref() {
            None => self.prompt.clone(),
            Some(p) if is_prompt(p) && self.exchanger.provider.protocol != Protocol::Asf => {
                Some(p.to_owned())
            }
            Some(_) => return text(StatusCode::BAD_REQUEST, "Invalid prompt.\n"),
        };
        let max_age = match query.max_age.as_deref() {
            None => self.max_age,
            Some(m) if self.exchanger.provider.protocol == Protocol::Oidc => {
                match parse_max_age(m) {
                    Some(age) => Some(age),
                    None => return text(StatusCode::BAD_REQUEST, "Invalid max_age.\n"),
                }
            }
            Some(_) => return text(StatusCode::BAD_REQUEST, "Invalid max_age.\n"),
        };
        // A login goes straight to the provider only when the user started it here: otherwise
        // any site could send a browser to `?login` and, with the user signed in at the
        // provider, create a session nobody asked for (ASVS 7.6.2).
        if !started_here(headers, &self.origin) {
            tracing::info!(target: "sealed_session::oauth", reason = "login_not_started_here", "login start answered with a confirmation page");
            return self.confirm_page(target, query);
        }
        let layer = context.oauth();
        let mut flow = FlowState::start(return_to, layer.clock.now());
        flow.max_age = max_age;
        let Some(authorize) = self.authorize_url(&flow, prompt.as_deref()) else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The authorization endpoint is not a URL.\n",
            );
        };
        let mut response = redirect(StatusCode::FOUND, &authorize);
        let h = response.headers_mut();
        // Too many flows in progress: drop them all before adding this one.
        let present = flows.present(headers, MAX_FLOWS);
        if present.len() >= MAX_FLOWS {
            for name in &present {
                if let Some(line) = flows.delete(name) {
                    h.append(SET_COOKIE, line);
                }
            }
        }
        match flows.set(&layer, &self.flow_binding, &flow) {
            Some(line) => {
                h.append(SET_COOKIE, line);
            }
            None => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Could not store the login state.\n",
                )
            }
        }
        tracing::info!(target: "sealed_session::oauth", reason = "login_started", "login flow started");
        response
    }

    /// The page a login start not begun here gets: one button, which starts the login from
    /// this origin. Nothing is stored; no other site can frame it.
    fn confirm_page(&self, target: &str, query: &Query<'_>) -> Response<Body> {
        let mut fields = format!(
            r#"<input type="hidden" name="login" value="{}">"#,
            html_escape(target)
        );
        for (name, value) in [("prompt", &query.prompt), ("max_age", &query.max_age)] {
            if let Some(value) = value {
                fields.push_str(&format!(
                    r#"<input type="hidden" name="{name}" value="{}">"#,
                    html_escape(value)
                ));
            }
        }
        let html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in</title></head>\n\
             <body><form method=\"get\" action=\"{}\">{fields}\
             <p>Continue to log in?</p><button type=\"submit\">Log in</button></form></body></html>\n",
            html_escape(&self.mount)
        );
        let mut response = text(StatusCode::OK, html);
        let h = response.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        response
    }

    fn authorize_url(&self, flow: &FlowState, prompt: Option<&str>) -> Option<String> {
        let ex = &self.exchanger;
        let p = &ex.provider;
        let mut url = Url::parse(&p.authorize).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if p.protocol == Protocol::Asf {
                // asfquart's shape: the state also rides inside the redirect URI.
                let redirect = format!("{}?state={}", ex.redirect_uri, flow.state);
                q.append_pair("state", &flow.state)
                    .append_pair("redirect_uri", &redirect);
            } else {
                q.append_pair("response_type", "code")
                    .append_pair("client_id", &p.client_id)
                    .append_pair("redirect_uri", &ex.redirect_uri);
                let scope = p.scope_param();
                if !scope.is_empty() {
                    q.append_pair("scope", &scope);
                }
                q.append_pair("state", &flow.state)
                    .append_pair("code_challenge", &super::flow::s256(&flow.verifier))
                    .append_pair("code_challenge_method", "S256");
                if p.protocol == Protocol::Oidc {
                    q.append_pair("nonce", &flow.nonce);
                }
                if let Some(prompt) = prompt {
                    q.append_pair("prompt", prompt);
                }
                if let Some(max_age) = flow.max_age {
                    q.append_pair("max_age", &max_age.to_string());
                }
            }
        }
        Some(url.into())
    }

    /// The callback: check the flow, exchange the code, map, log in.
    async fn callback(
        &self,
        context: &RequestContext,
        flows: &FlowCookies,
        headers: &HeaderMap,
        state: &str,
        query: &Query<'_>,
    ) -> Response<Body> {
        // A login sets a cookie; a request carrying credentials never gets one (as `Auth::login`).
        // Refused before the flow is opened, so the same browser can still finish it.
        if context.is_credential_request(headers) {
            tracing::info!(target: "sealed_session::oauth", reason = "credential_request", "login callback refused: the request carries credentials");
            return text(
                StatusCode::BAD_REQUEST,
                "A login callback must not carry an Authorization header.\n",
            );
        }
        let layer = context.oauth();
        let mut response = match flows.open(&layer, &self.flow_binding, headers, state) {
            Err(refusal) => {
                tracing::info!(target: "sealed_session::oauth", reason = refusal.as_str(), "login callback refused");
                text(StatusCode::FORBIDDEN, self.restart_hint())
            }
            Ok(flow) => match context.store() {
                // With a revocation store, a flow's state is good for one callback across every
                // instance (a replayed callback, even with its flow cookie, is refused).
                Some(store) => match store
                    .use_once(state.as_bytes(), time::Duration::seconds(self.flow_ttl))
                    .await
                {
                    Ok(true) => self.finish(context, flows, flow, query).await,
                    Ok(false) => {
                        tracing::warn!(target: "sealed_session::oauth", reason = "state_replayed", "login callback refused: its state was used before");
                        text(StatusCode::FORBIDDEN, self.restart_hint())
                    }
                    Err(error) => {
                        tracing::warn!(target: "sealed_session::oauth", reason = "store_unavailable", %error, "login callback refused: the single-use check failed");
                        let mut response = text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "Login is unavailable right now. Try again shortly.\n",
                        );
                        response
                            .headers_mut()
                            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
                        response
                    }
                },
                None => self.finish(context, flows, flow, query).await,
            },
        };
        // Single use: every callback answer deletes the flow cookie it named.
        if let Some(line) = flows.name(state).and_then(|name| flows.delete(&name)) {
            response.headers_mut().append(SET_COOKIE, line);
        }
        // The callback URL holds the code and state: no page reached from this answer (the
        // Strict-mode landing page's link, a redirect) sends it on as a Referer.
        response
            .headers_mut()
            .insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        response
    }

    async fn finish(
        &self,
        context: &RequestContext,
        flows: &FlowCookies,
        flow: FlowState,
        query: &Query<'_>,
    ) -> Response<Body> {
        if let Some(error) = &query.error {
            let shown = safe_error_code(error).unwrap_or("an error");
            tracing::info!(target: "sealed_session::oauth", reason = "provider_error", error = shown, "the provider ended the login with an error");
            return text(
                StatusCode::FORBIDDEN,
                format!("Login failed: the provider answered {shown}.\n"),
            );
        }
        let Some(code) = query
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
        else {
            return text(StatusCode::BAD_REQUEST, "A callback needs a code.\n");
        };
        let Ok(_permit) = self.exchanges.clone().try_acquire_owned() else {
            tracing::warn!(target: "sealed_session::oauth", reason = "overloaded", "too many logins in flight");
            let mut response = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many logins right now. Try again shortly.\n",
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        };
        let layer = context.oauth();
        let work = async {
            let mut answer = self
                .exchanger
                .exchange(code, &flow, layer.clock.now(), layer.settings.skew)
                .await
                .map_err(Failure::Exchange)?;
            if let Some(max_age) = flow.max_age {
                check_auth_time(&answer, max_age, layer.clock.now(), layer.settings.skew)?;
            }
            answer.return_to.clone_from(&flow.return_to);
            answer.mfa_policy = self.mfa_policy.clone();
            answer.issuer = self.exchanger.provider.namespace();
            let id_token = answer
                .token_response
                .get("id_token")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match crate::future::CatchUnwind((self.mapper)(answer)).await {
                Ok(mapped) => mapped.map(|m| (m, id_token)).map_err(Failure::Map),
                Err(()) => Err(Failure::MapPanicked),
            }
        };
        // Checked: the timeout is bounded at build time, but an overflow must never panic here.
        let deadline = CALLBACK_DEADLINE.max(
            self.exchanger
                .timeout
                .checked_add(Duration::from_secs(5))
                .unwrap_or(MAX_HTTP_TIMEOUT),
        );
        let identity = match tokio::time::timeout(deadline, work).await {
            Err(_) => Err(Failure::Deadline),
            Ok(result) => result,
        };
        let (identity, id_token) = match identity {
            Ok((Some(identity), id_token)) => (
                identity
                    .with_metadata_entry("iss", Value::from(self.exchanger.provider.namespace())),
                id_token,
            ),
            Ok((None, _)) => {
                tracing::info!(target: "sealed_session::oauth", reason = "denied", "the mapping refused the login");
                return text(
                    StatusCode::FORBIDDEN,
                    "Login failed: this account is not allowed here.\n",
                );
            }
            Err(failure) => return failure.into_response(),
        };
        let session = match context.login(identity, false) {
            Ok(session) => session,
            Err(error @ SessionError::TooLarge { .. }) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Login failed: {error}.\n"),
                );
            }
            Err(error) => return error.into_response(),
        };
        let uid = session.uid().unwrap_or_default();
        tracing::info!(target: "sealed_session::oauth", reason = "login", uid = %uid, "login completed");
        // Provider logout needs the ID token as its hint: kept in a sealed cookie of its own,
        // and an older one dropped.
        let hint = self.provider_logout.as_ref().map(|_| {
            id_token
                .as_deref()
                .and_then(|t| flows.set_hint(&layer, &self.flow_binding, t))
                .or_else(|| flows.delete(&flows.hint_name()))
        });
        let mut response = match &flow.return_to {
            None => text(
                StatusCode::OK,
                format!("Successfully logged in! Welcome, {uid}\n"),
            ),
            // A Strict cookie set at the end of a cross-site redirect chain is not sent on the
            // landing request: land with a same-site refresh instead.
            Some(to) if layer.settings.strict => {
                let mut response = text(StatusCode::OK, format!("Logged in. Continue to {to}\n"));
                if let Ok(refresh) = HeaderValue::from_str(&format!("0; url={to}")) {
                    response.headers_mut().insert(REFRESH, refresh);
                }
                response
            }
            Some(to) => redirect(StatusCode::SEE_OTHER, to),
        };
        if let Some(line) = hint.flatten() {
            response.headers_mut().append(SET_COOKIE, line);
        }
        response
    }

    /// The provider's end-session URL for a logout, with the kept ID token as the hint.
    fn end_session_url(
        &self,
        flows: &FlowCookies,
        context: &RequestContext,
        headers: &HeaderMap,
    ) -> Option<String> {
        let (endpoint, back) = self.provider_logout.as_ref()?;
        let mut url = Url::parse(endpoint).ok()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = flows.open_hint(&context.oauth(), &self.flow_binding, headers) {
                q.append_pair("id_token_hint", &hint);
            }
            q.append_pair("client_id", &self.exchanger.provider.client_id)
                .append_pair("post_logout_redirect_uri", back);
        }
        Some(url.into())
    }

    /// `?logout[=/path]`.
    fn logout(
        &self,
        context: &RequestContext,
        flows: &FlowCookies,
        parts: &http::request::Parts,
        target: &str,
    ) -> Response<Body> {
        let headers = &parts.headers;
        let fetch_site: Vec<&HeaderValue> = headers.get_all("sec-fetch-site").iter().collect();
        let origins: Vec<&HeaderValue> = headers.get_all(ORIGIN).iter().collect();
        let origin_ok = |required: bool| match origins.as_slice() {
            [] => !required,
            [one] => one.as_bytes() == self.origin.as_bytes(),
            _ => false,
        };
        let allowed = if parts.method == Method::POST {
            // The crate's CsrfLayer check (tower-http's Sec-Fetch-Site rules, our origin
            // trusted), and stricter still: a same-origin signal is required, so neither
            // `Sec-Fetch-Site: none` nor a request with no Fetch Metadata and no Origin passes.
            let csrf_ok = self
                .csrf
                .check_head(&parts.method, &parts.uri, headers, &parts.extensions)
                .is_ok();
            csrf_ok
                && match fetch_site.as_slice() {
                    [one] => one.as_bytes() == b"same-origin" && origin_ok(false),
                    [] => origin_ok(true),
                    _ => false,
                }
        } else if parts.method == Method::GET || parts.method == Method::HEAD {
            if !self.get_logout {
                return method_not_allowed("POST");
            }
            match fetch_site.as_slice() {
                [one] => !matches!(one.as_bytes(), b"cross-site" | b"same-site"),
                [] => true,
                _ => false,
            }
        } else {
            return method_not_allowed("POST");
        };
        if !allowed {
            tracing::warn!(target: "sealed_session::oauth", reason = "csrf", "logout refused: not a same-origin request");
            return text(StatusCode::FORBIDDEN, "CSRF protection\n");
        }
        // Validate before acting: a refused return path logs nobody out.
        let to = match return_path::validate(&self.base, target) {
            Ok(to) => to,
            Err(refused) => {
                tracing::info!(target: "sealed_session::oauth", reason = refused.as_str(), "logout refused: invalid return path");
                return text(StatusCode::BAD_REQUEST, INVALID_REDIRECT);
            }
        };
        let credential_request = context.is_credential_request(headers);
        if let Some(write) = context.logout(credential_request) {
            write.detach();
        }
        let provider = if credential_request {
            None
        } else {
            self.end_session_url(flows, context, headers)
        };
        let mut response = match (&provider, &to, parts.method == Method::POST) {
            (Some(end_session), _, _) => redirect(StatusCode::SEE_OTHER, end_session),
            (None, Some(to), _) => redirect(StatusCode::SEE_OTHER, to.as_str()),
            (None, None, true) => text(StatusCode::NO_CONTENT, ""),
            (None, None, false) => text(StatusCode::OK, "Client session removed, goodbye!\n"),
        };
        let h = response.headers_mut();
        h.insert("clear-site-data", self.clear_site_data.clone());
        if provider.is_some() {
            if let Some(line) = flows.delete(&flows.hint_name()) {
                h.append(SET_COOKIE, line);
            }
        }
        for name in flows.present(headers, 16) {
            if let Some(line) = flows.delete(&name) {
                h.append(SET_COOKIE, line);
            }
        }
        response
    }

    /// A plain GET: the session as JSON, or 404.
    async fn status(&self, context: &RequestContext, headers: &HeaderMap) -> Response<Body> {
        let mut response = match context.session(headers).await {
            Err(rejection) => return rejection.into_response(),
            Ok(None) => text(StatusCode::NOT_FOUND, "No active session found.\n"),
            Ok(Some(session)) => {
                let mut response = Response::new(Body::from(session_json(&session).to_string()));
                let h = response.headers_mut();
                h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
        };
        response
            .headers_mut()
            .append(VARY, HeaderValue::from_static("Cookie, Authorization"));
        response
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The status view of a session: who, what, and since when (Unix seconds).
fn session_json(session: &Session) -> Value {
    json!({
        "id": session.id().to_string(),
        "uid": session.uid(),
        "roles": session.roles(),
        "groups": session.groups(),
        "scopes": session.scopes(),
        "mfa": session.mfa(),
        "role_account": session.is_role_account(),
        "metadata": session.metadata(),
        "source": match session.source() {
            SessionSource::Bearer => "bearer",
            SessionSource::Basic => "basic",
            _ => "cookie",
        },
        "created_at": session.created_at().unix_timestamp(),
        "auth_time": session.auth_time().unix_timestamp(),
        "expires_at": session.expires_at().map(|t| t.unix_timestamp()),
    })
}

/// With `max_age` asked for, the ID token's `auth_time` must be there and recent enough
/// (OIDC Core §3.1.2.1, §3.1.3.7).
fn check_auth_time(
    answer: &ProviderAnswer,
    max_age: i64,
    now: i64,
    skew: i64,
) -> Result<(), Failure> {
    let auth_time = answer
        .id_claims()
        .and_then(|c| c.get("auth_time"))
        .and_then(Value::as_i64);
    match auth_time {
        Some(t) if now.saturating_sub(t) <= max_age.saturating_add(skew) => Ok(()),
        _ => Err(Failure::Stale),
    }
}

/// Whether a login start is a navigation the user started on this site: exactly one
/// `Sec-Fetch-Site` of `same-origin` or `none` (typed, bookmarked), or, from a browser that
/// sends no Fetch Metadata, an `Origin` or `Referer` on our origin.
fn started_here(headers: &HeaderMap, origin: &str) -> bool {
    let one = |name: &str| {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => Some(Some(v)),
            (None, _) => Some(None),
            _ => None,
        }
    };
    match one("sec-fetch-site") {
        None => return false,
        Some(Some(site)) => return matches!(site.as_bytes(), b"same-origin" | b"none"),
        Some(None) => {}
    }
    if let Some(Some(o)) = one(ORIGIN.as_str()) {
        return o.as_bytes() == origin.as_bytes();
    }
    match one(http::header::REFERER.as_str()) {
        Some(Some(r)) => r
            .to_str()
            .ok()
            .and_then(|r| Url::parse(r).ok())
            .is_some_and(|r| r.origin().ascii_serialization() == origin),
        _ => false,
    }
}

/// `&`, `<`, `>`, `"` and `'` as HTML character references.
fn html_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A failed callback.
enum Failure {
    Exchange(ExchangeError),
    Map(MapError),
    MapPanicked,
    Deadline,
    Stale,
}

impl Failure {
    fn into_response(self) -> Response<Body> {
        match self {
            Self::Exchange(ExchangeError::Refused { endpoint, error }) => {
                tracing::info!(target: "sealed_session::oauth", reason = "provider_refused", endpoint, %error, "login failed: the provider refused");
                text(
                    StatusCode::FORBIDDEN,
                    format!("Login failed: the provider's {endpoint} endpoint answered {error}.\n"),
                )
            }
            Self::Exchange(ExchangeError::Upstream { endpoint, detail }) => {
                tracing::warn!(target: "sealed_session::oauth", reason = "provider_failed", endpoint, %detail, "login failed: unusable provider answer");
                text(
                    StatusCode::BAD_GATEWAY,
                    format!("Login failed: {detail}.\n"),
                )
            }
            Self::Exchange(ExchangeError::Timeout { endpoint }) => {
                tracing::warn!(target: "sealed_session::oauth", reason = "provider_timeout", endpoint, "login failed: the provider did not answer in time");
                text(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("Login failed: the provider's {endpoint} endpoint did not answer in time.\n"),
                )
            }
            Self::Exchange(ExchangeError::IdToken(e)) => {
                tracing::warn!(target: "sealed_session::oauth", reason = "id_token", check = e.check(), "login failed: the ID token was refused");
                text(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Login failed: the ID token failed the {} check.\n",
                        e.check()
                    ),
                )
            }
            Self::Exchange(ExchangeError::SubjectMismatch) => {
                tracing::warn!(target: "sealed_session::oauth", reason = "userinfo_sub", "login failed: userinfo names another subject");
                text(
                    StatusCode::FORBIDDEN,
                    "Login failed: userinfo names another subject than the ID token.\n",
                )
            }
            Self::MapPanicked => {
                tracing::error!(target: "sealed_session::oauth", reason = "mapping_panic", "login failed: the mapping panicked");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Login failed: an internal error. Try again later.\n",
                )
            }
            Self::Stale => {
                tracing::info!(target: "sealed_session::oauth", reason = "max_age", "login failed: no recent enough auth_time for max_age");
                text(
                    StatusCode::FORBIDDEN,
                    "Login failed: the provider did not confirm a recent login. Try again.\n",
                )
            }
            Self::Deadline => {
                tracing::warn!(target: "sealed_session::oauth", reason = "login_deadline", "login failed: the callback passed its deadline");
                text(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Login failed: it did not finish in time. Try again.\n",
                )
            }
            Self::Map(e) if e.kind == MapErrorKind::Backend => {
                tracing::warn!(target: "sealed_session::oauth", reason = "mapping_backend", error = %e, "login failed: the mapping's backend failed");
                let mut response = text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Login failed: a backend is unavailable. Try again shortly.\n",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Self::Map(e) => {
                tracing::info!(target: "sealed_session::oauth", reason = "denied", error = %e, "the mapping refused the login");
                text(
                    StatusCode::FORBIDDEN,
                    "Login failed: this account is not allowed here.\n",
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_checked() {
        let oidc = || {
            Provider::oidc("https://idp.example", "app").with_endpoints(
                "https://idp.example/a",
                "https://idp.example/t",
                "https://idp.example/j",
            )
        };
        assert!(OAuthLogin::new(oidc(), "https://app.example.org")
            .service()
            .is_ok());
        assert!(OAuthLogin::new(oidc(), "http://localhost:3000")
            .service()
            .is_ok());
        for base in [
            "http://app.example.org",
            "/relative",
            "https://u:p@app.example.org",
            "https://app.example.org/?q=1",
        ] {
            assert!(OAuthLogin::new(oidc(), base).service().is_err(), "{base}");
        }
        assert!(OAuthLogin::new(
            Provider::oidc("https://idp.example", "app"),
            "https://a.example"
        )
        .service()
        .is_err());
        assert!(
            OAuthLogin::new(oidc().with_scopes(["a b"]), "https://a.example")
                .service()
                .is_err()
        );
        assert!(OAuthLogin::new(oidc(), "https://a.example")
            .with_mount_path("auth")
            .service()
            .is_err());
        assert!(OAuthLogin::new(oidc(), "https://a.example")
            .with_flow_ttl(Duration::from_secs(7200))
            .service()
            .is_err());
        assert!(OAuthLogin::new(Provider::asf(), "https://a.example")
            .service()
            .is_ok());
    }

    #[test]
    fn queries_with_repeated_keys_are_flagged() {
        assert!(Query::parse("login=/a&login=/b").repeated);
        let q = Query::parse("login&x=1");
        assert_eq!(q.login.as_deref(), Some(""));
        assert!(!q.repeated);
        let q = Query::parse("state=s&code=c%2Bd");
        assert_eq!(q.code.as_deref(), Some("c+d"));
    }
}
