//! CSRF protection for cookie sessions (ASVS 3.5): tower-http's [`Sec-Fetch-Site`-based
//! check](tower_http::csrf), with what this crate adds. Feature `csrf`.
//!
//! A session cookie is an ambient credential: the browser attaches it to a form another site
//! posts. `SameSite=Lax` stops cross-site posts, but not same-site ones (a sibling subdomain).
//! [`CsrfLayer`] refuses unsafe requests (any method but `GET`, `HEAD`, `OPTIONS`) that a
//! browser says come from elsewhere, by tower-http's rules (the Go 1.25 scheme):
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` passes; any other value (`same-site`,
//!    `cross-site`) is refused, unless `Origin` is a trusted origin.
//! 2. Without `Sec-Fetch-Site` (older browsers), `Origin` decides: it must name the request's
//!    host (`Host`, or the request-target authority) or a trusted origin.
//! 3. With neither header, the request is not from a browser, so it cannot be forged by one,
//!    and passes.
//!
//! What this layer adds: a request that carries its own credential in `Authorization` (a bearer
//! token, or Basic when the [`SessionLayer`](crate::SessionLayer) takes Basic) is exempt. The
//! session layer then never reads the cookie, and no other site can make a browser send that
//! header, so cross-origin API clients keep working. A refused request gets a 403 with a short
//! text body (or [`with_rejection_response`](CsrfLayer::with_rejection_response)) and an
//! `info` event.
//!
//! Add it *inside* the session layer (before it in a `Router`'s `.layer` chain), so that it
//! sees the same credentials the session layer does. Behind a proxy that rewrites `Host`, add
//! the app's external origin with [`add_trusted_origin`](CsrfLayer::add_trusted_origin).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{body::Body, routing::post, Router};
//! use http::{Request, StatusCode};
//! use sealed_session::csrf::CsrfLayer;
//! use sealed_session::{Key, SessionLayer};
//! use tower::ServiceExt as _;
//!
//! let app = Router::new()
//!     .route("/note", post(|| async { "saved" }))
//!     .layer(CsrfLayer::new().add_trusted_origin("https://app.example.org").unwrap())
//!     .layer(SessionLayer::new(Key::generate()));
//!
//! let from = |site: &str| {
//!     Request::post("/note").header("sec-fetch-site", site).body(Body::empty()).unwrap()
//! };
//! let res = app.clone().oneshot(from("same-origin")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let res = app.clone().oneshot(from("same-site")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//!
//! // A bearer request carries its own credential: exempt.
//! let api = Request::post("/note")
//!     .header("sec-fetch-site", "cross-site")
//!     .header("authorization", "Bearer some-token")
//!     .body(Body::empty())
//!     .unwrap();
//! let res = app.oneshot(api).await.unwrap();
//! assert_ne!(res.status(), StatusCode::FORBIDDEN); // the session layer judges the token
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum_core::body::Body;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Extensions, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use tower_http::csrf::ResponseForProtectionError;
use tower_layer::Layer;
use tower_service::Service;

pub use tower_http::csrf::{ConfigError, ProtectionError, ProtectionErrorKind};

use crate::context::RequestContext;
use crate::parse::{self, Credentials};

type Rejection = Arc<dyn Fn(ProtectionError) -> Response<Body> + Send + Sync>;

/// tower-http's check, kept as a decision engine: its answer is read from the response's
/// extensions, never sent.
type Engine = tower_http::csrf::CsrfLayer<Verdict>;

/// The engine's "rejection response": an empty marker the check reads back.
#[derive(Clone, Copy, Debug)]
struct Verdict;

impl ResponseForProtectionError<()> for Verdict {
    fn response_for_protection_error(&mut self, _error: ProtectionError) -> Response<()> {
        Response::new(())
    }
}

/// Refuses cross-origin unsafe requests on cookie sessions; see the [module docs](self).
#[derive(Clone)]
#[must_use]
pub struct CsrfLayer {
    engine: Engine,
    rejection: Rejection,
}

impl fmt::Debug for CsrfLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfLayer")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// tower-http's rules, bearer requests exempt, a 403 `Cross-site request refused.` answer.
    pub fn new() -> Self {
        Self {
            engine: tower_http::csrf::CsrfLayer::new().with_rejection_response(Verdict),
            rejection: Arc::new(default_rejection),
        }
    }

    /// Also accept unsafe requests whose `Origin` is exactly `origin` (for example
    /// `https://app.example.org`, or a sibling admin app's origin).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `origin` is not a plain `http`/`https` origin (no path, query or
    /// fragment; punycode host).
    pub fn add_trusted_origin(mut self, origin: impl AsRef<str>) -> Result<Self, ConfigError> {
        self.engine = self.engine.add_trusted_origin(origin)?;
        Ok(self)
    }

    /// The response to a refused request (default: 403, `text/plain`, `no-store`).
    pub fn with_rejection_response<F>(mut self, respond: F) -> Self
    where
        F: Fn(ProtectionError) -> Response<Body> + Send + Sync + 'static,
    {
        self.rejection = Arc::new(respond);
        self
    }

    /// Whether this layer lets a request with these method, URI and headers through. Safe
    /// methods and requests carrying their own credential pass; `Err` holds tower-http's
    /// reason (`None` only if its check could not finish, which is refused too).
    pub(crate) fn check<B>(&self, request: &Request<B>) -> Result<(), Option<ProtectionError>> {
        self.check_head(
            request.method(),
            request.uri(),
            request.headers(),
            request.extensions(),
        )
    }

    /// [`check`](Self::check) on a request's parts.
    pub(crate) fn check_head(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Result<(), Option<ProtectionError>> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
            || carries_own_credential(headers, extensions)
        {
            return Ok(());
        }
        verify(&self.engine, method, uri, headers)
    }

    /// The response to a refusal.
    fn refuse(&self, error: Option<ProtectionError>) -> Response<Body> {
        match error {
            Some(error) => (self.rejection)(error),
            None => refused(),
        }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = Csrf<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Csrf {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`CsrfLayer`] builds.
#[derive(Clone)]
pub struct Csrf<S> {
    inner: S,
    layer: CsrfLayer,
}

impl<S: fmt::Debug> fmt::Debug for Csrf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csrf")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, B> Service<Request<B>> for Csrf<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.layer.check(&request) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(error) => {
                tracing::info!(target: "sealed_session::csrf", reason = "csrf", method = %request.method(), path = %request.uri().path(), "cross-origin request refused");
                let response = self.layer.refuse(error);
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}

/// The default refusal: 403 with a short text.
fn default_rejection(_error: ProtectionError) -> Response<Body> {
    refused()
}

fn refused() -> Response<Body> {
    let mut response = Response::new(Body::from("Cross-site request refused.\n"));
    *response.status_mut() = StatusCode::FORBIDDEN;
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether the session layer will judge this request by its `Authorization` header alone
/// (never its cookie). With the layer's context at hand, by the layer's own rule; without it,
/// a `Bearer` header (well formed or not, which the layer answers 401).
fn carries_own_credential(headers: &HeaderMap, extensions: &Extensions) -> bool {
    match extensions.get::<Arc<RequestContext>>() {
        Some(context) => context.is_credential_request(headers),
        None => !matches!(
            parse::authorization(headers, usize::MAX),
            Credentials::Absent | Credentials::OtherScheme
        ),
    }
}

/// Runs tower-http's check on the request's head. Its service answers at once (no I/O): one
/// poll with a no-op waker reads the verdict.
fn verify(
    engine: &Engine,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Option<ProtectionError>> {
    let mut head = Request::new(());
    *head.method_mut() = method.clone();
    *head.uri_mut() = uri.clone();
    *head.headers_mut() = headers.clone();
    let mut service = engine.layer(Answer);
    let future = pin!(service.call(head));
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(response)) => match response.extensions().get::<ProtectionError>() {
            Some(error) => Err(Some(error.clone())),
            None => Ok(()),
        },
        Poll::Ready(Err(never)) => match never {},
        // Not reachable with `Answer`; refused rather than passed if it ever were.
        Poll::Pending => Err(None),
    }
}

/// The inner service of the check: answers at once.
#[derive(Clone, Copy, Debug)]
struct Answer;

impl Service<Request<()>> for Answer {
    type Response = Response<()>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<()>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(())))
    }
}
