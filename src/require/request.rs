//! Requirements that see the request: its method, path, headers and the route's matched path
//! parameters, for rights that depend on the resource (apicrud's `list-<id>-manager` roles,
//! ARENA's topics built from the scene in the path).
//!
//! Use them in a guard added with `route_layer` (or `Router::layer`, which also wraps each
//! route), which runs after routing, so the matched path parameters are known; a guard around
//! the whole router runs before routing and sees none. Each has its own reason in the 403.
//!
//! apicrud: the role is built from the path.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request, routing::get, Router};
//! use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
//! use tower::ServiceExt;
//!
//! let layer = SessionLayer::new(Key::generate());
//! let kit = TestKit::new(&layer);
//! let manager = Requirement::role_from_request(|req| {
//!     req.param("id").map(|id| format!("list-{id}-manager"))
//! });
//! let app = Router::new()
//!     .route("/lists/{id}", get(|| async { "managed" }).route_layer(RequireAuth::from(manager)))
//!     .layer(layer);
//!
//! let carol = kit.cookie_header(Identity::new("carol").with_roles(["list-x23-manager"]));
//! let get = |path: &str| {
//!     let req = Request::get(path).header("cookie", carol.clone()).body(Body::empty()).unwrap();
//!     app.clone().oneshot(req)
//! };
//! assert_eq!(get("/lists/x23").await.unwrap().status(), 200);
//! let res = get("/lists/x24").await.unwrap();
//! assert_eq!(res.status(), 403);
//! # }
//! ```
//!
//! ARENA: a topic built from the scene in the path must be permitted by a granted scope, read
//! as a topic filter.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request, routing::post, Router};
//! use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
//! use tower::ServiceExt;
//!
//! let layer = SessionLayer::new(Key::generate());
//! let kit = TestKit::new(&layer);
//! let publish = Requirement::permits_from_request(|req| {
//!     let scene = req.param("scene")?;
//!     Some(format!("realm/s/{scene}/objects"))
//! });
//! let app = Router::new()
//!     .route("/scenes/{scene}/objects", post(|| async { "published" }).route_layer(RequireAuth::from(publish)))
//!     .layer(layer);
//!
//! let alice = kit.cookie_header(Identity::new("alice").with_scopes(["realm/s/lobby/#"]));
//! let post = |path: &str| {
//!     let req = Request::post(path).header("cookie", alice.clone()).body(Body::empty()).unwrap();
//!     app.clone().oneshot(req)
//! };
//! assert_eq!(post("/scenes/lobby/objects").await.unwrap().status(), 200);
//! assert_eq!(post("/scenes/vault/objects").await.unwrap().status(), 403);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::extract::{FromRequestParts, RawPathParams};
use http::request::Parts;
use http::{HeaderMap, Method, Uri};

use super::{Kind, Requirement};
use crate::session::Session;

/// A request-aware check: `Ok` when met, else the reason.
pub(super) type RequestCheck =
    Arc<dyn Fn(&Session, &RouteRequest<'_>) -> Result<(), String> + Send + Sync>;

/// What a request-aware [`Requirement`] sees of the request.
pub struct RouteRequest<'a> {
    parts: &'a Parts,
    params: Vec<(String, String)>,
}

impl fmt::Debug for RouteRequest<'_> {
    /// The method, path and parameter names; never header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteRequest")
            .field("method", &self.parts.method)
            .field("path", &self.parts.uri.path())
            .field(
                "params",
                &self.params.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<'a> RouteRequest<'a> {
    /// The request as `parts`, with the matched path parameters axum's router left in them
    /// (none before routing, for a guard around the whole router).
    ///
    /// ```
    /// use axum::http::Request;
    /// use sealed_session::require::RouteRequest;
    ///
    /// let (mut parts, ()) = Request::get("/lists/x23").body(()).unwrap().into_parts();
    /// let req = RouteRequest::new(&mut parts);
    /// assert_eq!(req.path(), "/lists/x23");
    /// assert_eq!(req.param("id"), None, "not routed");
    /// ```
    #[must_use]
    pub fn new(parts: &'a mut Parts) -> Self {
        let params = path_params(parts);
        Self { parts, params }
    }

    /// A matched path parameter, percent-decoded (`{id}` in `/lists/{id}`).
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The URI.
    #[must_use]
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &str {
        self.parts.uri.path()
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// Every part of the request, extensions included.
    #[must_use]
    pub fn parts(&self) -> &Parts {
        self.parts
    }
}

/// The matched path parameters, through axum's `RawPathParams` (whose extension type is
/// private). Its extractor never waits, so one poll answers.
fn path_params(parts: &mut Parts) -> Vec<(String, String)> {
    let mut future = std::pin::pin!(RawPathParams::from_request_parts(parts, &()));
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(params)) => params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Poll::Ready(Err(_)) | Poll::Pending => Vec::new(),
    }
}

impl Requirement {
    /// A check over the session and the request; `message` is the reason reported when it
    /// fails. Only a guard sees the request: [`Requirement::check`] alone finds it unmet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::{Method, Request}, routing::get, Router};
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// let kit = TestKit::new(&layer);
    /// // Anyone reads; only editors write.
    /// let writes = Requirement::request("only editors may change documents", |session, req| {
    ///     req.method() == Method::GET || session.has_role("editor")
    /// });
    /// let app = Router::new()
    ///     .route("/docs/{name}", get(|| async { "ok" }).put(|| async { "ok" }).route_layer(RequireAuth::from(writes)))
    ///     .layer(layer);
    /// let bob = kit.cookie_header(Identity::new("bob"));
    /// let send = |method: Method| {
    ///     let req = Request::builder().method(method).uri("/docs/a").header("cookie", bob.clone());
    ///     app.clone().oneshot(req.body(Body::empty()).unwrap())
    /// };
    /// assert_eq!(send(Method::GET).await.unwrap().status(), 200);
    /// assert_eq!(send(Method::PUT).await.unwrap().status(), 403);
    /// # }
    /// ```
    #[must_use]
    pub fn request<F>(message: impl Into<String>, check: F) -> Self
    where
        F: Fn(&Session, &RouteRequest<'_>) -> bool + Send + Sync + 'static,
    {
        let message = message.into();
        Self(Kind::Request {
            message: message.clone(),
            check: Arc::new(move |session, req| {
                if check(session, req) {
                    Ok(())
                } else {
                    Err(message.clone())
                }
            }),
        })
    }

    /// The session has the role that `role` builds from the request (apicrud's
    /// `<resource>-<id>-<level>`); unmet when `role` returns `None`. The 403's reason names the
    /// role: `missing role: list-x23-manager`. See the [module docs](crate::require::request).
    #[must_use]
    pub fn role_from_request<F>(role: F) -> Self
    where
        F: Fn(&RouteRequest<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self(Kind::Request {
            message: "missing role for this resource".to_owned(),
            check: Arc::new(move |session, req| match role(req) {
                Some(role) if session.has_role(&role) => Ok(()),
                Some(role) => Err(format!("missing role: {role}")),
                None => Err("missing role for this resource".to_owned()),
            }),
        })
    }

    /// A granted scope, read as a topic filter, permits the resource that `resource` builds
    /// from the request (ARENA's topics); unmet when `resource` returns `None`. The 403's
    /// reason names the resource: `no scope permits: realm/s/vault/objects`.
    #[must_use]
    pub fn permits_from_request<F>(resource: F) -> Self
    where
        F: Fn(&RouteRequest<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self(Kind::Request {
            message: "no scope permits this resource".to_owned(),
            check: Arc::new(move |session, req| match resource(req) {
                Some(resource) if session.permits(&resource) => Ok(()),
                Some(resource) => Err(format!("no scope permits: {resource}")),
                None => Err("no scope permits this resource".to_owned()),
            }),
        })
    }
}
