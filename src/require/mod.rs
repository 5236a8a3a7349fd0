//! [`RequireAuth`]: a guard that turns unmet requirements into 401, 403 or a login redirect.
//!
//! Requirements combine as in asfquart's `require(all_of, any_of)`: every `all_of` requirement
//! must hold, and at least one `any_of` requirement when there are any. Every unmet reason is
//! reported, in declaration order.
//!
//! Requirements that see the request (roles or topics built from the path) are in
//! [`request`]. When the only unmet requirements are [`Requirement::mfa`],
//! [`Requirement::max_auth_age`] or [`Requirement::max_idle`], logging in again would do: an API
//! client gets RFC 9470's step-up challenge (401 `insufficient_user_authentication` with
//! `max_age` and [`acr_values`](RequireAuth::with_acr_values)), and a browser, when there is a
//! login page, a 302 to `<login>?login=<path>&prompt=login&max_age=N`.
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

mod fresh;
mod future;
pub mod request;
mod service;

use std::fmt;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::rejection::RejectionKind;
use crate::session::Session;

pub use future::ResponseFuture;
pub use request::RouteRequest;
pub use service::RequireAuthService;

type Predicate = Arc<dyn Fn(&Session) -> bool + Send + Sync>;

#[derive(Clone)]
enum Kind {
    Scope(String),
    Permits(String),
    Role(String),
    Group(String),
    RoleAccount,
    Human,
    Interactive,
    Mfa,
    Predicate {
        message: String,
        check: Predicate,
    },
    /// Used within this long, in seconds (`fresh.rs`).
    MaxIdle(i64),
    /// Authenticated within this long, in seconds (`fresh.rs`).
    MaxAuthAge(i64),
    /// Sees the request too (`request.rs`).
    Request {
        message: String,
        check: request::RequestCheck,
    },
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

    /// The session is a person, not a role account, whatever the credential: a person's own
    /// bearer token (a personal access token) passes. For "a person at a browser", use
    /// [`interactive`](Self::interactive).
    #[must_use]
    pub fn human() -> Self {
        Self(Kind::Human)
    }

    /// The session is a person at a browser: a cookie session (not a bearer or Basic
    /// credential) of an account that is not a role account. For actions a script holding a
    /// token must not take, such as changing the account's credentials or minting tokens.
    #[must_use]
    pub fn interactive() -> Self {
        Self(Kind::Interactive)
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
            Kind::Interactive => {
                session.source() == crate::session::SessionSource::Cookie
                    && !session.is_role_account()
            }
            Kind::Mfa => session.mfa(),
            Kind::Predicate { check, .. } => check(session),
            Kind::MaxIdle(limit) => session.idle_for().whole_seconds() <= *limit,
            Kind::MaxAuthAge(limit) => session.auth_age().whole_seconds() <= *limit,
            // Without the request, a request-aware requirement is unmet.
            Kind::Request { .. } => false,
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
            Kind::Interactive => "needs an interactive browser session".to_owned(),
            Kind::Mfa => "multi-factor authentication required".to_owned(),
            Kind::MaxIdle(limit) => {
                format!("session unused for more than {limit} seconds: log in again")
            }
            Kind::MaxAuthAge(limit) => {
                format!("authenticated more than {limit} seconds ago: log in again")
            }
            Kind::Predicate { message, .. } | Kind::Request { message, .. } => message.clone(),
        }
    }

    /// `Ok` when met, else the reason; a request-aware requirement is asked with `request`.
    fn verdict(&self, session: &Session, request: Option<&RouteRequest<'_>>) -> Result<(), String> {
        match (&self.0, request) {
            (Kind::Request { check, .. }, Some(request)) => check(session, request),
            _ if self.check(session) => Ok(()),
            _ => Err(self.reason()),
        }
    }

    fn sees_request(&self) -> bool {
        matches!(self.0, Kind::Request { .. })
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
/// With no requirements it asks only for a session ([`RequireAuth::authenticated`]). A single
/// [`Requirement`] converts into a guard: `RequireAuth::from(Requirement::mfa())`.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RequireAuth {
    all_of: Vec<Requirement>,
    any_of: Vec<Requirement>,
    login_redirect: Option<String>,
    /// The `acr_values` of a step-up challenge (`fresh.rs`).
    acr_values: Option<String>,
}

impl RequireAuth {
    /// Any live session, whatever it may do.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, SessionLayer};
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// assert!(RequireAuth::authenticated().check(&kit.session(Identity::new("a"))).is_ok());
    /// ```
    pub fn authenticated() -> Self {
        Self::default()
    }

    /// Every one of `requirements`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::all_of([Requirement::mfa(), Requirement::role("ops")]);
    /// assert!(guard.check(&kit.session(Identity::new("a").with_mfa(true).with_roles(["ops"]))).is_ok());
    /// assert!(guard.check(&kit.session(Identity::new("b").with_roles(["ops"]))).is_err());
    /// ```
    pub fn all_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::default().with_all_of(requirements)
    }

    /// At least one of `requirements`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::any_of([Requirement::role("ops"), Requirement::group("infra")]);
    /// assert!(guard.check(&kit.session(Identity::new("a").with_groups(["infra"]))).is_ok());
    /// assert!(guard.check(&kit.session(Identity::new("b"))).is_err());
    /// ```
    pub fn any_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::default().with_any_of(requirements)
    }

    /// Adds to the requirements that must all hold.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::scope("deploy").with_all_of([Requirement::human()]);
    /// let ci = Identity::new("ci").with_scopes(["deploy"]).with_role_account(true);
    /// assert!(guard.check(&kit.session(ci)).is_err());
    /// assert!(guard.check(&kit.session(Identity::new("a").with_scopes(["deploy"]))).is_ok());
    /// ```
    pub fn with_all_of(mut self, requirements: impl IntoIterator<Item = Requirement>) -> Self {
        self.all_of.extend(requirements);
        self
    }

    /// Adds to the requirements of which at least one must hold.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::from(Requirement::mfa())
    ///     .with_any_of([Requirement::role("ops"), Requirement::group("infra")]);
    /// assert!(guard.check(&kit.session(Identity::new("a").with_mfa(true).with_roles(["ops"]))).is_ok());
    /// assert!(guard.check(&kit.session(Identity::new("b").with_mfa(true))).is_err());
    /// ```
    pub fn with_any_of(mut self, requirements: impl IntoIterator<Item = Requirement>) -> Self {
        self.any_of.extend(requirements);
        self
    }

    /// Sends anonymous browser requests to `login` (a local path such as `/auth`) with a 302 to
    /// `<login>?login=<path and query, percent-encoded>`, instead of a 401, for this guard only.
    /// Only browser navigations are redirected (see
    /// [`SessionLayer::with_login_redirect`](crate::SessionLayer::with_login_redirect)); requests
    /// with an `Authorization` or `X-No-Redirect` header still get the 401. See also
    /// [`SessionLayer::with_login_redirect`](crate::SessionLayer::with_login_redirect), which
    /// sets it for every guard and the `Session` extractor.
    ///
    /// `login` must be a same-origin path: `/` then not `/` or `\`, visible ASCII only, no
    /// `#`. [`RequireAuth::validate`] checks it; layering a guard with an invalid one panics
    /// while the router is built, before any request.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::authenticated().with_login_redirect("/auth");
    /// assert_eq!(guard.validate(), Ok(()));
    /// assert!(RequireAuth::authenticated().with_login_redirect("//evil.example").validate().is_err());
    /// ```
    pub fn with_login_redirect(mut self, login: impl Into<String>) -> Self {
        self.login_redirect = Some(login.into());
        self
    }

    /// Checks the guard's configuration.
    ///
    /// ```
    /// use sealed_session::{ConfigError, RequireAuth};
    ///
    /// assert_eq!(RequireAuth::authenticated().with_login_redirect("/auth").validate(), Ok(()));
    /// assert!(matches!(
    ///     RequireAuth::authenticated().with_login_redirect("//evil.example").validate(),
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

    /// The scope, exactly: `RequireAuth::all_of([Requirement::scope(scope)])`.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, SessionLayer};
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::scope("admin");
    /// assert!(guard.check(&kit.session(Identity::new("a").with_scopes(["admin"]))).is_ok());
    /// assert!(guard.check(&kit.session(Identity::new("b"))).is_err());
    /// ```
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::from(Requirement::scope(scope))
    }

    /// The role: `RequireAuth::all_of([Requirement::role(role)])`.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, SessionLayer};
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::role("ops");
    /// assert!(guard.check(&kit.session(Identity::new("a").with_roles(["ops"]))).is_ok());
    /// assert!(guard.check(&kit.session(Identity::new("b"))).is_err());
    /// ```
    pub fn role(role: impl Into<String>) -> Self {
        Self::from(Requirement::role(role))
    }

    /// A person at a browser: `RequireAuth::all_of([Requirement::interactive()])`. A bearer or
    /// Basic credential, or a role account, gets a 403.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, SessionLayer};
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::interactive();
    /// assert!(guard.check(&kit.session(Identity::new("alice"))).is_ok());
    /// let robot = Identity::new("ci").with_role_account(true);
    /// assert!(guard.check(&kit.session(robot)).is_err());
    /// ```
    pub fn interactive() -> Self {
        Self::from(Requirement::interactive())
    }

    /// Checks `session`: `Ok` when the requirements hold, else a
    /// [`RejectionKind::Forbidden`] with every unmet reason in declaration order.
    ///
    /// # Errors
    ///
    /// The unmet requirements.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// use sealed_session::RejectionKind;
    /// let guard = RequireAuth::all_of([Requirement::scope("admin"), Requirement::mfa()]);
    /// let err = guard.check(&kit.session(Identity::new("bob"))).unwrap_err();
    /// let RejectionKind::Forbidden { reasons, missing_scopes, .. } = err else { unreachable!() };
    /// assert_eq!(reasons, ["missing scope: admin", "multi-factor authentication required"]);
    /// assert_eq!(missing_scopes, ["admin"]);
    /// ```
    pub fn check(&self, session: &Session) -> Result<(), RejectionKind> {
        self.check_with(session, None)
    }

    /// Checks `session` and the request: as [`RequireAuth::check`], with request-aware
    /// requirements ([`Requirement::request`]) asked about `request`. The guard calls it.
    ///
    /// # Errors
    ///
    /// The unmet requirements.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// use axum::http::Request;
    /// use sealed_session::require::RouteRequest;
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::from(Requirement::request("reads only", |_, req| req.method() == "GET"));
    /// let (mut parts, ()) = Request::get("/x").body(()).unwrap().into_parts();
    /// let session = kit.session(Identity::new("a"));
    /// assert!(guard.check_request(&session, &RouteRequest::new(&mut parts)).is_ok());
    /// assert!(guard.check(&session).is_err(), "unmet without the request");
    /// ```
    pub fn check_request(
        &self,
        session: &Session,
        request: &RouteRequest<'_>,
    ) -> Result<(), RejectionKind> {
        self.check_with(session, Some(request))
    }

    /// Whether a requirement needs to see the request.
    pub(crate) fn sees_request(&self) -> bool {
        self.all_of
            .iter()
            .chain(&self.any_of)
            .any(Requirement::sees_request)
    }

    fn check_with(
        &self,
        session: &Session,
        request: Option<&RouteRequest<'_>>,
    ) -> Result<(), RejectionKind> {
        match self.evaluate(session, request) {
            None => Ok(()),
            Some(unmet) => Err(RejectionKind::Forbidden {
                reasons: unmet.reasons,
                missing_scopes: unmet.missing_scopes,
                required_scopes: unmet.required_scopes,
            }),
        }
    }

    /// What is unmet, if anything.
    pub(crate) fn evaluate(
        &self,
        session: &Session,
        request: Option<&RouteRequest<'_>>,
    ) -> Option<fresh::Unmet> {
        let mut unmet: Vec<(&Requirement, String)> = self
            .all_of
            .iter()
            .filter_map(|r| r.verdict(session, request).err().map(|why| (r, why)))
            .collect();
        if !self.any_of.is_empty() {
            let mut failed = Vec::new();
            for r in &self.any_of {
                match r.verdict(session, request) {
                    Ok(()) => {
                        failed.clear();
                        break;
                    }
                    Err(why) => failed.push((r, why)),
                }
            }
            unmet.extend(failed);
        }
        if unmet.is_empty() {
            return None;
        }
        // The scope challenge lists what the route requires: every all-of scope, and one
        // acceptable any-of alternative (one the caller holds, else the first).
        let mut required_scopes: Vec<String> = self
            .all_of
            .iter()
            .filter_map(Requirement::missing_scope)
            .map(str::to_owned)
            .collect();
        let alternatives = || self.any_of.iter().filter(|r| r.missing_scope().is_some());
        if let Some(one) = alternatives()
            .find(|r| r.verdict(session, request).is_ok())
            .or_else(|| alternatives().next())
            .and_then(Requirement::missing_scope)
        {
            if !required_scopes.iter().any(|s| s == one) {
                required_scopes.push(one.to_owned());
            }
        }
        Some(fresh::Unmet {
            step_up: fresh::step_up_of(unmet.iter().map(|(r, _)| *r)),
            missing_scopes: unmet
                .iter()
                .filter_map(|(r, _)| r.missing_scope())
                .map(str::to_owned)
                .collect(),
            required_scopes,
            reasons: unmet.into_iter().map(|(_, why)| why).collect(),
        })
    }
}

impl From<Requirement> for RequireAuth {
    /// A guard with this one requirement.
    fn from(requirement: Requirement) -> Self {
        Self::all_of([requirement])
    }
}
