//! [`RequireAuth`]: a guard that turns unmet requirements into 401, 403 or a login redirect.
//!
//! Requirements combine as in asfquart's `require(all_of, any_of)`: every `all_of` requirement
//! must hold, and at least one `any_of` requirement when there are any. Every unmet reason is
//! reported, in declaration order.
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
//! let app = Router::new()
//!     .route("/admin", get(|| async { "hi admin" }).route_layer(RequireAuth::scope("admin")))
//!     .route(
//!         "/ops",
//!         get(|| async { "hi ops" }).route_layer(
//!             RequireAuth::all_of([Requirement::mfa()])
//!                 .with_any_of([Requirement::role("ops"), Requirement::group("infra")]),
//!         ),
//!     )
//!     .layer(layer);
//!
//! let get = |path: &str, who: Option<Identity>| {
//!     let mut req = Request::get(path);
//!     if let Some(who) = who {
//!         req = req.header("cookie", kit.cookie_header(who));
//!     }
//!     app.clone().oneshot(req.body(Body::empty()).unwrap())
//! };
//!
//! // Nobody: 401 with a challenge.
//! let res = get("/admin", None).await.unwrap();
//! assert_eq!(res.status(), 401);
//! assert_eq!(res.headers()["www-authenticate"], r#"Bearer realm="sealed-session""#);
//!
//! // Missing scope: 403 insufficient_scope.
//! let res = get("/admin", Some(Identity::new("bob"))).await.unwrap();
//! assert_eq!(res.status(), 403);
//! assert!(res.headers()["www-authenticate"].to_str().unwrap().contains(r#"scope="admin""#));
//!
//! // Any one of the any_of requirements is enough.
//! let ops = Identity::new("carol").with_mfa(true).with_groups(["infra"]);
//! assert_eq!(get("/ops", Some(ops)).await.unwrap().status(), 200);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::ConfigError;
use crate::context::RequestContext;
use crate::rejection::{AuthRejection, RejectionKind};
use crate::session::Session;

type Predicate = Arc<dyn Fn(&Session) -> bool + Send + Sync>;

#[derive(Clone)]
enum Kind {
    Scope(String),
    Permits(String),
    Role(String),
    Group(String),
    RoleAccount,
    Human,
    Mfa,
    Predicate { message: String, check: Predicate },
}

/// One requirement on a session. Combine them with [`RequireAuth::all_of`] and
/// [`RequireAuth::any_of`].
#[derive(Clone)]
pub struct Requirement(Kind);

impl fmt::Debug for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason())
    }
}

impl Requirement {
    /// The scope is granted, exactly ([`Session::has_scope`]).
    #[must_use]
    pub fn scope(scope: impl Into<String>) -> Self {
        Self(Kind::Scope(scope.into()))
    }

    /// A granted scope, read as a topic filter, permits this concrete resource
    /// ([`Session::permits`]).
    #[must_use]
    pub fn permits(resource: impl Into<String>) -> Self {
        Self(Kind::Permits(resource.into()))
    }

    /// The session has the role.
    #[must_use]
    pub fn role(role: impl Into<String>) -> Self {
        Self(Kind::Role(role.into()))
    }

    /// The session is in the group.
    #[must_use]
    pub fn group(group: impl Into<String>) -> Self {
        Self(Kind::Group(group.into()))
    }

    /// The session is a role account.
    #[must_use]
    pub fn role_account() -> Self {
        Self(Kind::RoleAccount)
    }

    /// The session is a person, not a role account.
    #[must_use]
    pub fn human() -> Self {
        Self(Kind::Human)
    }

    /// The session used more than one factor.
    #[must_use]
    pub fn mfa() -> Self {
        Self(Kind::Mfa)
    }

    /// A custom check; `message` is the reason reported when it fails.
    #[must_use]
    pub fn predicate<F>(message: impl Into<String>, check: F) -> Self
    where
        F: Fn(&Session) -> bool + Send + Sync + 'static,
    {
        Self(Kind::Predicate {
            message: message.into(),
            check: Arc::new(check),
        })
    }

    /// Whether `session` meets the requirement.
    #[must_use]
    pub fn check(&self, session: &Session) -> bool {
        match &self.0 {
            Kind::Scope(s) => session.has_scope(s),
            Kind::Permits(r) => session.permits(r),
            Kind::Role(r) => session.has_role(r),
            Kind::Group(g) => session.in_group(g),
            Kind::RoleAccount => session.is_role_account(),
            Kind::Human => !session.is_role_account(),
            Kind::Mfa => session.mfa(),
            Kind::Predicate { check, .. } => check(session),
        }
    }

    /// The reason reported when the requirement is unmet.
    #[must_use]
    pub fn reason(&self) -> String {
        match &self.0 {
            Kind::Scope(s) => format!("missing scope: {s}"),
            Kind::Permits(r) => format!("no scope permits: {r}"),
            Kind::Role(r) => format!("missing role: {r}"),
            Kind::Group(g) => format!("not in group: {g}"),
            Kind::RoleAccount => "only role accounts may do this".to_owned(),
            Kind::Human => "role accounts may not do this".to_owned(),
            Kind::Mfa => "multi-factor authentication required".to_owned(),
            Kind::Predicate { message, .. } => message.clone(),
        }
    }

    fn missing_scope(&self) -> Option<&str> {
        match &self.0 {
            Kind::Scope(s) => Some(s),
            _ => None,
        }
    }
}

/// A guard for a route: use it as a `route_layer`. See the [module docs](crate::require).
///
/// With no requirements it asks only for a session ([`RequireAuth::login`]).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RequireAuth {
    all_of: Vec<Requirement>,
    any_of: Vec<Requirement>,
    login_redirect: Option<String>,
}

impl RequireAuth {
    /// Any live session.
    pub fn login() -> Self {
        Self::default()
    }

    /// Every one of `requirements`.
    pub fn all_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::default().with_all_of(requirements)
    }

    /// At least one of `requirements`.
    pub fn any_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::default().with_any_of(requirements)
    }

    /// Adds to the requirements that must all hold.
    pub fn with_all_of(mut self, requirements: impl IntoIterator<Item = Requirement>) -> Self {
        self.all_of.extend(requirements);
        self
    }

    /// Adds to the requirements of which at least one must hold.
    pub fn with_any_of(mut self, requirements: impl IntoIterator<Item = Requirement>) -> Self {
        self.any_of.extend(requirements);
        self
    }

    /// Sends anonymous browser requests to `login` (a local path such as `/auth`) with a 302 to
    /// `<login>?login=<path and query, percent-encoded>`, instead of a 401, for this guard only.
    /// Requests with an `Authorization` or `X-No-Redirect` header still get the 401. See also
    /// [`SessionLayer::with_login_redirect`](crate::SessionLayer::with_login_redirect), which
    /// sets it for every guard and the `Session` extractor.
    ///
    /// `login` must be a same-origin path: `/` then not `/` or `\`, visible ASCII only, no
    /// `#`. [`RequireAuth::validate`] checks it; layering a guard with an invalid one panics
    /// while the router is built, before any request.
    pub fn with_login_redirect(mut self, login: impl Into<String>) -> Self {
        self.login_redirect = Some(login.into());
        self
    }

    /// Checks the guard's configuration.
    ///
    /// ```
    /// use sealed_session::{ConfigError, RequireAuth};
    ///
    /// assert_eq!(RequireAuth::login().with_login_redirect("/auth").validate(), Ok(()));
    /// assert!(matches!(
    ///     RequireAuth::login().with_login_redirect("//evil.example").validate(),
    ///     Err(ConfigError::InvalidLoginRedirect { .. })
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidLoginRedirect`] when the login redirect is not a same-origin path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.login_redirect.as_deref() {
            Some(login) if !crate::parse::is_local_path(login) => {
                Err(ConfigError::InvalidLoginRedirect {
                    path: login.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Adds one requirement that must hold.
    pub fn and(mut self, requirement: Requirement) -> Self {
        self.all_of.push(requirement);
        self
    }

    /// The scope, exactly.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::all_of([Requirement::scope(scope)])
    }

    /// Every one of the scopes.
    pub fn scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::all_of(scopes.into_iter().map(Requirement::scope))
    }

    /// A granted topic filter permits this resource.
    pub fn permits(resource: impl Into<String>) -> Self {
        Self::all_of([Requirement::permits(resource)])
    }

    /// The role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::all_of([Requirement::role(role)])
    }

    /// The group.
    pub fn group(group: impl Into<String>) -> Self {
        Self::all_of([Requirement::group(group)])
    }

    /// Role accounts only.
    pub fn role_account() -> Self {
        Self::all_of([Requirement::role_account()])
    }

    /// People only, no role accounts.
    pub fn human() -> Self {
        Self::all_of([Requirement::human()])
    }

    /// Multi-factor authentication.
    pub fn mfa() -> Self {
        Self::all_of([Requirement::mfa()])
    }

    /// A custom check with the reason reported when it fails.
    pub fn predicate<F>(message: impl Into<String>, check: F) -> Self
    where
        F: Fn(&Session) -> bool + Send + Sync + 'static,
    {
        Self::all_of([Requirement::predicate(message, check)])
    }

    /// Checks `session`: `Ok` when the requirements hold, else a
    /// [`RejectionKind::Forbidden`] with every unmet reason in declaration order.
    ///
    /// # Errors
    ///
    /// The unmet requirements.
    pub fn check(&self, session: &Session) -> Result<(), RejectionKind> {
        let mut unmet: Vec<&Requirement> =
            self.all_of.iter().filter(|r| !r.check(session)).collect();
        if !self.any_of.is_empty() && !self.any_of.iter().any(|r| r.check(session)) {
            unmet.extend(self.any_of.iter());
        }
        if unmet.is_empty() {
            return Ok(());
        }
        Err(RejectionKind::Forbidden {
            reasons: unmet.iter().map(|r| r.reason()).collect(),
            missing_scopes: unmet
                .iter()
                .filter_map(|r| r.missing_scope())
                .map(str::to_owned)
                .collect(),
        })
    }
}

impl<S> Layer<S> for RequireAuth {
    type Service = RequireAuthService<S>;

    /// # Panics
    ///
    /// When the login redirect is invalid (see [`RequireAuth::validate`]), before any request.
    #[allow(clippy::panic)] // When the router is built, before any request; see `validate`.
    fn layer(&self, inner: S) -> Self::Service {
        if let Err(ConfigError::InvalidLoginRedirect { path }) = self.validate() {
            panic!("invalid RequireAuth login redirect {path:?}: it must be a same-origin path (`/` then not `/` or `\\`, no spaces, control characters or `#`)");
        }
        RequireAuthService {
            inner,
            requirements: Arc::new(self.clone()),
        }
    }
}

/// The service [`RequireAuth`] makes.
#[derive(Clone)]
pub struct RequireAuthService<S> {
    inner: S,
    requirements: Arc<RequireAuth>,
}

impl<S: fmt::Debug> fmt::Debug for RequireAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuthService")
            .field("inner", &self.inner)
            .field("requirements", &self.requirements)
            .finish()
    }
}

impl<S> RequireAuthService<S> {
    define_inner_service_accessors!();
}

/// Response future for [`RequireAuthService`].
///
/// Boxed: the session may have to be resolved through the token handler (itself a boxed
/// `async_trait` future) before the inner service is called, and a hand-written state machine
/// over that would save nothing.
pub type ResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S, B> Service<Request<B>> for RequireAuthService<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Call the instance `poll_ready` readied, and leave a clone for the next request:
        // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let requirements = self.requirements.clone();
        Box::pin(async move {
            let Some(context) = req.extensions().get::<Arc<RequestContext>>().cloned() else {
                tracing::error!(target: "sealed_session", reason = "missing_layer", "RequireAuth ran without SessionLayer");
                return Ok(AuthRejection::from(RejectionKind::MissingLayer).into_response());
            };
            let session = match context
                .require(req.headers(), requirements.login_redirect.as_deref())
                .await
            {
                Ok(session) => session,
                Err(rejection) => return Ok(rejection.into_response()),
            };
            if let Err(kind) = requirements.check(&session) {
                tracing::info!(target: "sealed_session", reason = "forbidden", uid = ?session.uid(), "requirements unmet");
                return Ok(context.reject(kind).into_response());
            }
            inner.call(req).await
        })
    }
}
