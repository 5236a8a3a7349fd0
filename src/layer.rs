//! [`SessionLayer`], its [`SessionManager`] service and the service's [`ResponseFuture`].
//!
//! `SessionLayer` and `SessionManager` are also at the crate root. See the [crate docs](crate)
//! for an example.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

use axum_core::response::Response as AxumResponse;
use http::{Request, Response};
use pin_project_lite::pin_project;
use time::Duration;
use tower_layer::Layer;
use tower_service::Service;

use crate::clock::{Clock, ClockSource};
use crate::config::{Config, ConfigError, SameSite, Settings};
use crate::context::RequestContext;
use crate::key::KeyRing;
use crate::rejection::AuthRejection;
use crate::resolve::TokenSource;
use crate::revocation::{NotBefore, SessionValidator};
use crate::store::RevocationStore;
use crate::token::TokenHandler;

/// The session layer: opens the sealed cookie or resolves the bearer token, enforces expiry, and
/// writes the cookie back. See the [crate docs](crate) for an example.
///
/// Every setting has a secure default. A contradictory configuration is refused before the first
/// request is served: [`SessionLayer::validate`] returns the [`ConfigError`], and
/// [`Layer::layer`] panics with its message when the router is built.
///
/// Cloning a layer is a reference count: its settings and validated configuration sit behind
/// one `Arc`.
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    inner: Arc<LayerInner>,
}

#[derive(Clone)]
struct LayerInner {
    settings: Settings,
    /// The validated configuration, built once, on first use.
    built: OnceLock<Result<Arc<Config>, ConfigError>>,
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl SessionLayer {
    /// A layer sealing with `keys`: a [`Key`](crate::Key) or a [`KeyRing`].
    ///
    /// Defaults: cookie `__Host-session` (`Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, no
    /// `Domain`, no `Max-Age`), 7-day idle timeout, 30-day max age, re-sealed at most once a
    /// minute, 60 s clock-skew allowance, no token handler, 5 s token timeout.
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        Self {
            inner: Arc::new(LayerInner {
                settings: Settings::new(keys.into()),
                built: OnceLock::new(),
            }),
        }
    }

    fn set(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        f(&mut inner.settings);
        inner.built = OnceLock::new();
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// The first contradiction found, for example a `__Host-` cookie with a `Domain`, or an idle
    /// timeout longer than the max age.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config().map(drop)
    }

    /// The validated configuration, built on first use.
    pub(crate) fn config(&self) -> Result<Arc<Config>, ConfigError> {
        self.inner
            .built
            .get_or_init(|| Config::build(&self.inner.settings).map(Arc::new))
            .clone()
    }

    /// The cookie name. Default `__Host-session`. Renaming a cookie ends every session (the name
    /// is bound into the seal).
    ///
    /// Keep the `__Host-` prefix where you can: without it, a sibling subdomain can plant cookies
    /// with the same name, and since at most four candidates are tried per request, enough
    /// planted cookies hide the real one (the user then appears logged out).
    pub fn with_cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set(|s| s.name = name)
    }

    /// The cookie `Path`. Default `/`.
    pub fn with_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.set(|s| s.path = path)
    }

    /// The cookie `Domain`. Default none (host-only), as `__Host-` requires.
    pub fn with_domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.set(|s| s.domain = Some(domain))
    }

    /// The `Secure` attribute. Default on. Turning it off needs a name without a `__Host-` or
    /// `__Secure-` prefix, and is meant for plain-HTTP development only.
    pub fn with_secure(self, secure: bool) -> Self {
        self.set(|s| s.secure = secure)
    }

    /// The `HttpOnly` attribute. Default on.
    pub fn with_http_only(self, http_only: bool) -> Self {
        self.set(|s| s.http_only = http_only)
    }

    /// The `SameSite` attribute. Default `Lax`.
    pub fn with_same_site(self, same_site: SameSite) -> Self {
        self.set(|s| s.same_site = same_site)
    }

    /// The `Partitioned` attribute (CHIPS). Default off. Requires `Secure`.
    pub fn with_partitioned(self, partitioned: bool) -> Self {
        self.set(|s| s.partitioned = partitioned)
    }

    /// Persistent cookies: `Max-Age` set to the smaller of the idle and absolute time left,
    /// capped at 400 days. Default off: a browser-session cookie. Expiry is enforced from the
    /// sealed timestamps either way, never from `Max-Age`.
    pub fn with_persistent(self, persistent: bool) -> Self {
        self.set(|s| s.persistent = persistent)
    }

    /// The purpose bound into every seal, so apps sharing a key cannot swap cookies. Default
    /// `session`: set it to the app's name when several apps share a key.
    pub fn with_purpose(self, purpose: impl Into<String>) -> Self {
        let purpose = purpose.into();
        self.set(|s| s.purpose = purpose)
    }

    /// Idle timeout: a session not seen for this long is expired. Default: the smaller of 7 days
    /// and the max age, so that setting only a short max age never contradicts it.
    pub fn with_idle_timeout(self, idle: Duration) -> Self {
        self.set(|s| s.idle = Some(idle))
    }

    /// Absolute max age: a session this old is expired, however active. Default 30 days.
    pub fn with_max_age(self, max_age: Duration) -> Self {
        self.set(|s| s.max_age = max_age)
    }

    /// How stale last-seen must be before a live cookie is re-sealed (sliding renewal). Default:
    /// the smaller of 60 seconds and half the idle timeout; must be below the idle timeout. Zero
    /// re-seals on every request.
    pub fn with_refresh_interval(self, refresh: Duration) -> Self {
        self.set(|s| s.refresh = Some(refresh))
    }

    /// How far in the future a creation time may be and still be accepted. Default: the smaller
    /// of 60 seconds and half the idle timeout; must be below the idle timeout.
    pub fn with_clock_skew(self, skew: Duration) -> Self {
        self.set(|s| s.skew = Some(skew))
    }

    /// The clock expiry reads. Default [`SystemClock`](crate::SystemClock).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock = ClockSource::custom(clock);
        self.set(|s| s.clock = clock)
    }

    /// The handler that resolves `Authorization: Bearer` tokens. Without one, every bearer token
    /// is refused as `invalid_token`.
    pub fn with_token_handler(self, handler: impl TokenHandler) -> Self {
        let source = TokenSource::new(handler);
        self.set(|s| s.tokens = Some(source))
    }

    /// The handler that checks `Authorization: Basic` user names and passwords, for API
    /// clients. Off by default: without one, Basic is treated like any unknown scheme. See
    /// [`BasicHandler`](crate::BasicHandler).
    pub fn with_basic_handler(self, handler: impl crate::basic::BasicHandler) -> Self {
        let handler: Arc<dyn crate::basic::BasicHandler> = Arc::new(handler);
        self.set(|s| s.basic = Some(handler))
    }

    /// How long a credential handler (the token handler, the Basic handler or the validator)
    /// may take before the request gets 503. Default 5 seconds.
    pub fn with_handler_timeout(self, timeout: Duration) -> Self {
        self.set(|s| s.token_timeout = timeout)
    }

    /// The longest credential accepted (a bearer token, or the base64 of Basic credentials), in
    /// bytes. Default 4,096.
    pub fn with_max_credential_length(self, len: usize) -> Self {
        self.set(|s| s.max_token_len = len)
    }

    /// The most token- and Basic-handler calls in flight at once. Requests past the limit get a
    /// quick 503 with `Retry-After` instead of queueing without bound. Default 1,024.
    pub fn with_handler_concurrency(self, limit: usize) -> Self {
        self.set(|s| s.token_concurrency = limit)
    }

    /// The `Retry-After` of a 503 from a failing, slow or overloaded credential handler. Default
    /// 5 seconds.
    pub fn with_retry_after(self, delay: Duration) -> Self {
        self.set(|s| s.retry_after = delay)
    }

    /// The realm of the `WWW-Authenticate: Bearer realm="…"` challenge. Default `sealed-session`.
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.set(|s| s.realm = realm)
    }

    /// Sends anonymous browser requests to `login` (a local path such as `/auth`) with a 302 to
    /// `<login>?login=<path and query, percent-encoded>`, instead of a 401. Requests with an
    /// `Authorization` or `X-No-Redirect` header still get the 401.
    pub fn with_login_redirect(self, login: impl Into<String>) -> Self {
        let login = login.into();
        self.set(|s| s.login_redirect = Some(login))
    }

    /// Consults `validator` about cookie sessions: at most once per validation interval per
    /// session (default 5 minutes; the last check is sealed into the cookie) and before every
    /// renewal. It can revoke a session, refresh its privileges, or keep it. See
    /// [`crate::revocation`].
    pub fn with_validator(self, validator: impl SessionValidator) -> Self {
        let validator: Arc<dyn SessionValidator> = Arc::new(validator);
        self.set(|s| s.validator = Some(validator))
    }

    /// The longest time between two validator checks of one session. Default 5 minutes.
    pub fn with_validation_interval(self, interval: Duration) -> Self {
        self.set(|s| s.validation_interval = interval)
    }

    /// Refuses cookie sessions created before the per-user or global times of `not_before`
    /// ("log out everywhere" without rotating keys). Keep a clone to update it. See
    /// [`crate::revocation`].
    pub fn with_not_before(self, not_before: NotBefore) -> Self {
        self.set(|s| s.not_before = Some(not_before))
    }

    /// Reads the key ring from `keys` on every request, instead of the ring given to
    /// [`SessionLayer::new`]: [`LiveKeys::rotate`](crate::LiveKeys::rotate) takes effect on the
    /// next request on this instance, without a new `Router`.
    ///
    /// ```
    /// use sealed_session::{Key, LiveKeys, SessionLayer};
    ///
    /// let keys = LiveKeys::new(Key::generate());
    /// let layer = SessionLayer::new(keys.snapshot().current().clone()).with_live_keys(keys.clone());
    /// keys.rotate(Key::generate()).unwrap(); // sessions sealed with the old key still open
    /// # drop(layer);
    /// ```
    pub fn with_live_keys(self, keys: crate::rotation::LiveKeys) -> Self {
        self.set(|s| s.live_keys = Some(keys))
    }

    /// Records each cookie session in the revocation store's active sessions (at login, and at
    /// each renewal, so at most once per refresh interval), labelled with the request's
    /// `User-Agent`: [`RevocationStore::active_sessions`](crate::store::RevocationStore::active_sessions)
    /// lists them, and [`RevocationStore::end_session`](crate::store::RevocationStore::end_session)
    /// ends one (ASVS 7.5.2). A logout, a re-login or a new id removes the old entry. Needs
    /// [`SessionLayer::with_revocation`].
    pub fn with_active_sessions(self) -> Self {
        self.set(|s| s.active_sessions = true)
    }

    /// Forces the validator on the next request of the users named in `recheck`, whatever the
    /// validation interval (see [`Recheck`](crate::Recheck)). Needs a validator.
    pub fn with_recheck(self, recheck: crate::revocation::Recheck) -> Self {
        self.set(|s| s.recheck = Some(recheck))
    }

    /// Switches revocation on: cookie sessions are checked against `store` on every request
    /// (local memory only, no network), and `Auth::logout`, a new login, privilege changes,
    /// `Session::regenerate_id` and the validator's refresh deny the session id they end. A
    /// session revoked while its request was in flight is not re-sealed. Keep a clone of the
    /// store for "log out everywhere", "log out my other sessions" and the active sessions. See
    /// [`crate::store`].
    ///
    /// Without it, nothing is recorded or checked, and the cookie is as before.
    pub fn with_revocation(self, store: impl RevocationStore) -> Self {
        let store: Arc<dyn RevocationStore> = Arc::new(store);
        self.set(|s| s.revocation = Some(store))
    }

    /// Shapes the bodies of rejections (for example JSON problem details). The status and the
    /// `WWW-Authenticate`, `Retry-After` and `Location` headers still follow the status matrix.
    ///
    /// ```
    /// use axum_core::response::IntoResponse;
    /// use sealed_session::{AuthRejection, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_rejection_body(|r: &AuthRejection| {
    ///     let body = format!(r#"{{"status":{},"detail":{:?}}}"#, r.status().as_u16(), r.body_text());
    ///     ([("content-type", "application/problem+json")], body).into_response()
    /// });
    /// # drop(layer);
    /// ```
    pub fn with_rejection_body<F>(self, shape: F) -> Self
    where
        F: Fn(&AuthRejection) -> AxumResponse + Send + Sync + 'static,
    {
        let shape: crate::rejection::RejectionBody = Arc::new(shape);
        self.set(|s| s.rejection_body = Some(shape))
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionManager<S>;

    /// # Panics
    ///
    /// When the configuration is contradictory, with the [`ConfigError`]'s message, before any
    /// request is served. Call [`SessionLayer::validate`] first to handle it as a value.
    #[allow(clippy::panic)] // When the router is built, before any request; see `validate`.
    fn layer(&self, inner: S) -> Self::Service {
        match self.config() {
            Ok(config) => SessionManager { inner, config },
            Err(error) => panic!("{error}"),
        }
    }
}

/// The service [`SessionLayer`] makes. (`Session` is the handle handlers see, so the service is
/// named for what it does, as in tower-sessions and tower-cookies.)
#[derive(Clone)]
pub struct SessionManager<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> SessionManager<S> {
    define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Nothing is resolved here: the cookie is opened, and the token handler called, only
        // when an extractor or guard asks. A route that never asks pays for this context and
        // its slot in the request extensions (two allocations), nothing more.
        let mut context = RequestContext::new(self.config.clone(), req.uri().clone());
        if self.config.resolver.active_sessions {
            context.label_from(req.headers());
        }
        let context = Arc::new(context);
        req.extensions_mut().insert(context.clone());
        // The inner service is called here, synchronously, on the instance `poll_ready` readied;
        // no clone is needed (the `mem::replace` idiom is for calls made later, in a future).
        ResponseFuture {
            future: self.inner.call(req),
            context: Some(context),
        }
    }
}

pin_project! {
    /// Response future for [`SessionManager`]: writes the session cookie once the inner response
    /// is ready.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        context: Option<Arc<RequestContext>>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.future.poll(cx))?;
        if let Some(context) = this.context.take() {
            context.finalize(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}
