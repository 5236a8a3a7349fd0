//! Credential handlers (token, Basic, validator), their limits, revocation, and rejections.

use std::sync::Arc;

use axum_core::response::Response as AxumResponse;
use time::Duration;

use super::SessionLayer;
use crate::basic::BasicHandler;
use crate::rejection::{AuthRejection, RejectionBody};
use crate::resolve::TokenSource;
use crate::revocation::{NotBefore, SessionValidator};
use crate::token::TokenHandler;

impl SessionLayer {
    /// Reads tokens from `source` too, besides `Authorization: Bearer`: a header
    /// (`X-API-Key`), an id header + key header pair, or a plain cookie. Call it once per
    /// source. What a source finds goes to the token handler under the same rules as a bearer
    /// token; see [`CredentialSource`](crate::CredentialSource). Without sources nothing but
    /// `Authorization` is read.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::{HeaderName, Request}, routing::get, Router};
    /// use sealed_session::{ApiKeys, CredentialSource, Identity, Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_token_handler(ApiKeys::new().with_token("t0ken", Identity::new("ci")))
    ///     .with_credential_source(CredentialSource::header(HeaderName::from_static("x-api-key")));
    /// let app = Router::new()
    ///     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
    ///     .layer(layer);
    /// let req = Request::get("/me").header("x-api-key", "t0ken").body(Body::empty()).unwrap();
    /// assert_eq!(app.clone().oneshot(req).await.unwrap().status(), 200);
    /// let req = Request::get("/me").header("x-api-key", "wrong").body(Body::empty()).unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().status(), 401);
    /// # }
    /// ```
    pub fn with_credential_source(self, source: crate::resolve::CredentialSource) -> Self {
        self.set(|s| s.sources.push(source))
    }

    /// The handler that resolves `Authorization: Bearer` tokens. Without one, every bearer token
    /// is refused as `invalid_token`. A [`TokenCache`](crate::TokenCache) is recognised: its
    /// hits become sessions without copying the cached identity.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{ApiKeys, Identity, Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_token_handler(ApiKeys::new().with_token("t0ken", Identity::new("ci")));
    /// let app = Router::new()
    ///     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
    ///     .layer(layer);
    /// let req = Request::get("/me").header("authorization", "Bearer t0ken").body(Body::empty()).unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
    /// # }
    /// ```
    pub fn with_token_handler(self, handler: impl TokenHandler) -> Self {
        let source = TokenSource::new(handler);
        self.set(|s| s.tokens = Some(source))
    }

    /// The handler that checks `Authorization: Basic` user names and passwords, for API
    /// clients. Off by default: without one, Basic is treated like any unknown scheme. See
    /// [`BasicHandler`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{basic_fn, Identity, Key, Session, SessionLayer, SessionSource};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_basic_handler(basic_fn(
    ///     |user: String, password: String| async move {
    ///         Ok((password == "open sesame").then(|| Identity::new(user)))
    ///     },
    /// ));
    /// let app = Router::new()
    ///     .route("/me", get(|s: Session| async move { assert_eq!(s.source(), SessionSource::Basic); }))
    ///     .layer(layer);
    /// // "ci:open sesame" in base64.
    /// let req = Request::get("/me")
    ///     .header("authorization", "Basic Y2k6b3BlbiBzZXNhbWU=")
    ///     .body(Body::empty())
    ///     .unwrap();
    /// assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
    /// # }
    /// ```
    pub fn with_basic_handler(self, handler: impl BasicHandler) -> Self {
        let handler: Arc<dyn BasicHandler> = Arc::new(handler);
        self.set(|s| s.basic = Some(handler))
    }

    /// How long a credential handler (the token handler, the Basic handler or the validator)
    /// may take before the request gets 503. Default 5 seconds.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// assert_eq!(layer.clone().with_handler_timeout(Duration::seconds(2)).validate(), Ok(()));
    /// assert!(matches!(
    ///     layer.with_handler_timeout(Duration::ZERO).validate(),
    ///     Err(ConfigError::NonPositiveDuration { .. })
    /// ));
    /// ```
    pub fn with_handler_timeout(self, timeout: Duration) -> Self {
        self.set(|s| s.token_timeout = timeout)
    }

    /// The longest credential accepted (a bearer token, or the base64 of Basic credentials), in
    /// bytes. Default 4,096; at most 65,536.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// assert_eq!(layer.clone().with_max_credential_length(512).validate(), Ok(()));
    /// assert_eq!(
    ///     layer.with_max_credential_length(0).validate(),
    ///     Err(ConfigError::InvalidMaxCredentialLength)
    /// );
    /// ```
    pub fn with_max_credential_length(self, len: usize) -> Self {
        self.set(|s| s.max_token_len = len)
    }

    /// The most token- and Basic-handler calls in flight at once. Requests past the limit get a
    /// quick 503 with `Retry-After` instead of queueing without bound. Default 1,024.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// assert_eq!(layer.clone().with_handler_concurrency(64).validate(), Ok(()));
    /// assert_eq!(
    ///     layer.with_handler_concurrency(0).validate(),
    ///     Err(ConfigError::InvalidHandlerConcurrency)
    /// );
    /// ```
    pub fn with_handler_concurrency(self, limit: usize) -> Self {
        self.set(|s| s.token_concurrency = limit)
    }

    /// The `Retry-After` of a 503 from a failing, slow or overloaded credential handler.
    /// Default 5 seconds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{token_fn, Key, Session, SessionLayer, TokenError};
    /// use time::Duration;
    /// use tower::ServiceExt;
    ///
    /// let down = token_fn(|_: String| async { Err(TokenError::new("database down")) });
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_token_handler(down)
    ///     .with_retry_after(Duration::seconds(30));
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// let req = Request::get("/me").header("authorization", "Bearer t0ken").body(Body::empty()).unwrap();
    /// let res = app.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 503);
    /// assert_eq!(res.headers()["retry-after"], "30");
    /// # }
    /// ```
    pub fn with_retry_after(self, delay: Duration) -> Self {
        self.set(|s| s.retry_after = delay)
    }

    /// The realm of the `WWW-Authenticate: Bearer realm="…"` challenge. Default `sealed-session`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_realm("builds");
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// let res = app.oneshot(Request::get("/me").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="builds""#);
    /// # }
    /// ```
    pub fn with_realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.set(|s| s.realm = realm)
    }

    /// The URL of the API's protected-resource metadata (RFC 9728), sent as
    /// `resource_metadata="…"` in every `Bearer` challenge of a 401 (§5.1), so that a client (an
    /// MCP client, for one) can discover where to get a token. With the `jwt` feature,
    /// `jwt::ProtectedResource::metadata_url` gives it, and its `service()` serves the document.
    /// It must be an `https` URL (`http` only on a loopback host), without spaces, `"` or `\`;
    /// [`SessionLayer::validate`] says so otherwise.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// let res = app.oneshot(Request::get("/me").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(
    ///     res.headers()["www-authenticate"],
    ///     r#"Bearer realm="sealed-session", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
    /// );
    /// # }
    /// ```
    pub fn with_resource_metadata(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.set(|s| s.resource_metadata = Some(url))
    }

    /// Takes DPoP-bound access tokens (RFC 9449): `Authorization: DPoP <token>` with a `DPoP`
    /// proof header, checked by the [`DpopSupport`](crate::jwt::DpopSupport)'s `JwtHandler` and
    /// proof verifier. Every 401 then also carries a `DPoP algs="…"` challenge, and a refused
    /// proof is 401 `invalid_dpop_proof`. Feature `jwt`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::jwt::{DpopSupport, Issuer, JwtHandler};
    /// use sealed_session::{Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let tokens = JwtHandler::new(Issuer::new("https://login.example.com", "https://api.example.com"));
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_token_handler(tokens.clone())
    ///     .with_dpop(DpopSupport::new(tokens, "https://api.example.com"));
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    ///
    /// // A DPoP token without its proof: 401 invalid_dpop_proof, in the DPoP challenge.
    /// let req = Request::get("/me").header("authorization", "DPoP abc.def.ghi").body(Body::empty()).unwrap();
    /// let res = app.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), 401);
    /// let challenges: Vec<_> = res.headers().get_all("www-authenticate").iter().collect();
    /// assert_eq!(challenges[0], r#"Bearer realm="sealed-session""#);
    /// assert!(challenges[1].to_str().unwrap().starts_with(r#"DPoP algs="ES256 RS256 PS256 EdDSA", error="invalid_dpop_proof""#));
    /// # }
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn with_dpop(self, dpop: crate::jwt::DpopSupport) -> Self {
        let dpop = std::sync::Arc::new(dpop);
        self.set(|s| s.dpop = Some(dpop))
    }

    /// Sends anonymous browser navigations to `login` (a local path such as `/auth`) with a 302
    /// to `<login>?login=<path and query, percent-encoded>`, instead of a 401. Only navigations:
    /// `Sec-Fetch-Mode: navigate`, or, from a browser without Fetch Metadata, a `GET`/`HEAD`
    /// whose `Accept` names `text/html`. A `fetch`, an API client, and any request with an
    /// `Authorization` or `X-No-Redirect` header get the 401.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::{Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_login_redirect("/auth");
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// let visit = Request::get("/me?tab=1").header("sec-fetch-mode", "navigate");
    /// let res = app.clone().oneshot(visit.body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.status(), 302);
    /// assert_eq!(res.headers()["location"], "/auth?login=/me%3Ftab%3D1");
    ///
    /// // A script's fetch gets the 401.
    /// let fetch = Request::get("/me").header("sec-fetch-mode", "cors");
    /// let res = app.oneshot(fetch.body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.status(), 401);
    /// # }
    /// ```
    pub fn with_login_redirect(self, login: impl Into<String>) -> Self {
        let login = login.into();
        self.set(|s| s.login_redirect = Some(login))
    }

    /// Consults `validator` about cookie sessions: at most once per validation interval per
    /// session (default 5 minutes; the last check is sealed into the cookie) and before every
    /// renewal. It can revoke a session, refresh its privileges, or keep it. See
    /// [`crate::revocation`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use sealed_session::testing::{ManualClock, TestKit};
    /// use sealed_session::{async_trait, Identity, Key, Session, SessionLayer};
    /// use sealed_session::{SessionValidator, Validation, ValidationError};
    /// use time::Duration;
    /// use tower::ServiceExt;
    ///
    /// struct Disabled;
    ///
    /// #[async_trait]
    /// impl SessionValidator for Disabled {
    ///     async fn validate(&self, session: &Session) -> Result<Validation, ValidationError> {
    ///         Ok(if session.uid().as_deref() == Some("mallory") { Validation::Revoke } else { Validation::Keep })
    ///     }
    /// }
    ///
    /// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    /// let layer = SessionLayer::new(Key::generate()).with_clock(clock.clone()).with_validator(Disabled);
    /// let kit = TestKit::new(&layer);
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// // Sessions last checked ten minutes ago: the validator is due.
    /// let ago = (clock.now() - Duration::minutes(10)).unix_timestamp();
    /// let me = |uid: &str| {
    ///     let cookie = kit.header_for(&kit.cookie_value_at(Identity::new(uid), ago, ago));
    ///     Request::get("/me").header("cookie", cookie).body(Body::empty()).unwrap()
    /// };
    /// assert_eq!(app.clone().oneshot(me("alice")).await.unwrap().status(), 200);
    /// assert_eq!(app.oneshot(me("mallory")).await.unwrap().status(), 401);
    /// # }
    /// ```
    pub fn with_validator(self, validator: impl SessionValidator) -> Self {
        let validator: Arc<dyn SessionValidator> = Arc::new(validator);
        self.set(|s| s.validator = Some(validator))
    }

    /// Calls `hook` with the reason of every refused session cookie ([`CookieRefusal`]:
    /// expired idle or absolute, unknown key, malformed, invalid, revoked), for metrics or an
    /// audit trail. The response is the same whatever the reason. The hook runs on the request
    /// path: keep it quick (count, or hand off); a panic in it is caught.
    ///
    /// Cookies that anyone can forge (unknown key, malformed, invalid) are logged at WARN at
    /// most once a minute per layer, with the count since the last warning, and at DEBUG in
    /// between, so a flood of bad cookies does not flood the log.
    ///
    /// [`CookieRefusal`]: crate::CookieRefusal
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use sealed_session::{CookieRefusal, Key, SessionLayer};
    ///
    /// let unknown_key = Arc::new(AtomicU64::new(0));
    /// let count = unknown_key.clone();
    /// let layer = SessionLayer::new(Key::generate()).on_cookie_refused(move |why| {
    ///     if why == CookieRefusal::UnknownKey {
    ///         count.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// assert!(layer.validate().is_ok());
    /// ```
    pub fn on_cookie_refused<F>(self, hook: F) -> Self
    where
        F: Fn(crate::CookieRefusal) + Send + Sync + 'static,
    {
        let hook: crate::resolve::RefusalHook = Arc::new(hook);
        self.set(|s| s.on_refused = Some(hook))
    }

    /// The longest time between two validator checks of one session. Default 5 minutes.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// assert_eq!(layer.clone().with_validation_interval(Duration::minutes(1)).validate(), Ok(()));
    /// assert!(matches!(
    ///     layer.with_validation_interval(Duration::ZERO).validate(),
    ///     Err(ConfigError::NonPositiveDuration { .. })
    /// ));
    /// ```
    pub fn with_validation_interval(self, interval: Duration) -> Self {
        self.set(|s| s.validation_interval = interval)
    }

    /// Refuses cookie sessions created before the per-user or global times of `not_before`
    /// ("log out everywhere" without rotating keys). Keep a clone to update it. See
    /// [`crate::revocation`] for an example through a router.
    ///
    /// ```
    /// use sealed_session::{NotBefore, Key, SessionLayer};
    ///
    /// let not_before = NotBefore::new();
    /// let layer = SessionLayer::new(Key::generate()).with_not_before(not_before.clone());
    /// not_before.log_out_everyone(time::OffsetDateTime::now_utc());
    /// assert_eq!(layer.validate(), Ok(()));
    /// ```
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
    /// assert_eq!(keys.snapshot().len(), 2);
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::{get, post}, Router};
    /// use sealed_session::store::MemoryStore;
    /// use sealed_session::{testing::TestKit, Auth, Identity, Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_revocation(MemoryStore::new());
    /// let kit = TestKit::new(&layer);
    /// let app = Router::new()
    ///     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
    ///     .route("/logout", post(|auth: Auth| async move { auth.logout() }))
    ///     .layer(layer);
    /// let cookie = kit.cookie_header(Identity::new("alice"));
    /// let send = |method: &str, path: &str| {
    ///     let req = Request::builder().method(method).uri(path).header("cookie", &cookie);
    ///     app.clone().oneshot(req.body(Body::empty()).unwrap())
    /// };
    /// assert_eq!(send("GET", "/me").await.unwrap().status(), 200);
    /// assert_eq!(send("POST", "/logout").await.unwrap().status(), 200);
    /// // A copy of the cookie taken before the logout no longer opens.
    /// assert_eq!(send("GET", "/me").await.unwrap().status(), 401);
    /// # }
    /// ```
    pub fn with_revocation(self, store: impl crate::store::RevocationStore) -> Self {
        let store: std::sync::Arc<dyn crate::store::RevocationStore> = std::sync::Arc::new(store);
        self.set(|s| s.revocation = Some(store))
    }

    /// Shapes the bodies of rejections (for example JSON problem details). The status and the
    /// `WWW-Authenticate`, `Retry-After` and `Location` headers still follow the status matrix.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::get, Router};
    /// use axum_core::response::IntoResponse;
    /// use sealed_session::{AuthRejection, Key, Session, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_rejection_body(|r: &AuthRejection| {
    ///     let body = format!(r#"{{"status":{},"detail":{:?}}}"#, r.status().as_u16(), r.body_text());
    ///     ([("content-type", "application/problem+json")], body).into_response()
    /// });
    /// let app = Router::new().route("/me", get(|_: Session| async {})).layer(layer);
    /// let res = app.oneshot(Request::get("/me").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.status(), 401);
    /// assert_eq!(res.headers()["content-type"], "application/problem+json");
    /// # }
    /// ```
    pub fn with_rejection_body<F>(self, shape: F) -> Self
    where
        F: Fn(&AuthRejection) -> AxumResponse + Send + Sync + 'static,
    {
        let shape: RejectionBody = Arc::new(shape);
        self.set(|s| s.rejection_body = Some(shape))
    }
}
