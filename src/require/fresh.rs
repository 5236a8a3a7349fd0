//! Freshness requirements and the step-up answer (RFC 9470; ASVS 7.5.1: re-authenticate before
//! a sensitive change).
//!
//! [`Requirement::max_idle`] and [`Requirement::max_auth_age`] hold routes to limits stricter
//! than the layer's. When the only unmet requirements are these or [`Requirement::mfa`], logging
//! in again would satisfy the guard, so it answers with a step-up rather than a plain 403:
//!
//! - an API client (a bearer or Basic session) gets 401 with
//!   `WWW-Authenticate: Bearer realm="…", error="insufficient_user_authentication",
//!   error_description="…", max_age="N"` (and `acr_values="…"` when the guard names some with
//!   [`RequireAuth::with_acr_values`]). A bearer session's authentication time is the one its
//!   token handler states ([`Identity::with_auth_time`](crate::Identity::with_auth_time);
//!   `JwtHandler` reads a token's `auth_time`), else the request's own, which is always recent;
//! - a browser (a cookie session, without `X-No-Redirect`), when the guard or the layer has a
//!   login page, gets a 302 to `<login>?login=<return path>&prompt=login&max_age=N`, which the
//!   `/auth` service passes on to the provider; the new login records a new auth time;
//! - a browser without a login page gets the 403 with the reasons, as before.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request, routing::post, Router};
//! use sealed_session::testing::{ManualClock, TestKit};
//! use sealed_session::{ApiKeys, Identity, Key, RequireAuth, Requirement, SessionLayer};
//! use time::Duration;
//! use tower::ServiceExt;
//!
//! let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
//! let layer = SessionLayer::new(Key::generate()).with_clock(clock.clone()).with_login_redirect("/auth");
//! let kit = TestKit::new(&layer);
//! let recent = RequireAuth::from(Requirement::max_auth_age(Duration::minutes(5)));
//! let app = Router::new()
//!     .route("/password", post(|| async { "changed" }).route_layer(recent))
//!     .layer(layer);
//!
//! let cookie = kit.cookie_header(Identity::new("alice"));
//! let change = || Request::post("/password").header("cookie", cookie.clone()).body(Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(change()).await.unwrap().status(), 200);
//!
//! // An hour later: log in again first.
//! clock.advance(Duration::hours(1));
//! let res = app.clone().oneshot(change()).await.unwrap();
//! assert_eq!(res.status(), 302);
//! assert_eq!(res.headers()["location"], "/auth?login=/password&prompt=login&max_age=300");
//! # }
//! ```

use std::sync::Arc;

use axum_core::response::{IntoResponse, Response as AxumResponse};
use http::HeaderMap;
use time::Duration;

use super::{Kind, RequireAuth, Requirement};
use crate::context::RequestContext;
use crate::rejection::{AuthRejection, RejectionKind};
use crate::session::{Session, SessionSource};

/// What a guard found unmet.
pub(crate) struct Unmet {
    pub(crate) reasons: Vec<String>,
    pub(crate) missing_scopes: Vec<String>,
    /// What the route requires, for the `insufficient_scope` challenge's `scope`.
    pub(crate) required_scopes: Vec<String>,
    /// `Some` when logging in again would do: the `max_age` to ask for, if any.
    pub(crate) step_up: Option<Option<i64>>,
}

/// `Some(max_age)` when every one of `unmet` is a step-up requirement.
pub(super) fn step_up_of<'a>(unmet: impl Iterator<Item = &'a Requirement>) -> Option<Option<i64>> {
    let mut max_age: Option<i64> = None;
    for requirement in unmet {
        match requirement.0 {
            Kind::Mfa => {}
            Kind::MaxIdle(limit) | Kind::MaxAuthAge(limit) => {
                max_age = Some(max_age.map_or(limit, |m| m.min(limit)));
            }
            _ => return None,
        }
    }
    Some(max_age)
}

/// Seconds in `d`, clamped to `0..`.
fn seconds(d: Duration) -> i64 {
    d.whole_seconds().max(0)
}

impl Requirement {
    /// The session was used within `limit` before this request ([`Session::idle_for`]): a
    /// route stricter than the layer's idle timeout, as asfquart's
    /// `session.read(expiry_time=…)`. Unmet, the guard asks for a new login (see the
    /// [module docs](crate::require)).
    ///
    /// ```
    /// use sealed_session::{testing::{ManualClock, TestKit}, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// use time::Duration;
    ///
    /// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()).with_clock(clock.clone()));
    /// let value = kit.cookie_value(Identity::new("alice"));
    /// let guard = RequireAuth::from(Requirement::max_idle(Duration::days(1)));
    /// clock.advance(Duration::hours(23));
    /// assert!(guard.check(&kit.open(&value).unwrap()).is_ok());
    /// clock.advance(Duration::hours(2));
    /// assert!(guard.check(&kit.open(&value).unwrap()).is_err());
    /// ```
    #[must_use]
    pub fn max_idle(limit: Duration) -> Self {
        Self(Kind::MaxIdle(seconds(limit)))
    }

    /// The caller authenticated within `limit` before this request ([`Session::auth_age`]):
    /// re-authentication before a sensitive change. Unmet, the guard asks for a new login with
    /// `max_age` (see the [module docs](crate::require)).
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, RequireAuth, Requirement, SessionLayer};
    /// use time::Duration;
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let guard = RequireAuth::from(Requirement::max_auth_age(Duration::minutes(5)));
    /// assert!(guard.check(&kit.session(Identity::new("alice"))).is_ok());
    /// ```
    #[must_use]
    pub fn max_auth_age(limit: Duration) -> Self {
        Self(Kind::MaxAuthAge(seconds(limit)))
    }
}

impl RequireAuth {
    /// The `acr_values` of this guard's step-up challenge (RFC 9470): the authentication
    /// context classes that would satisfy it, space-separated, for example the provider's
    /// multi-factor class. Values that cannot be sent in a quoted parameter (`"`, `\`, controls)
    /// are left out of the challenge.
    ///
    /// ```
    /// use sealed_session::{RequireAuth, Requirement};
    ///
    /// let guard = RequireAuth::from(Requirement::mfa()).with_acr_values("urn:example:mfa");
    /// # drop(guard);
    /// ```
    pub fn with_acr_values(mut self, acr_values: impl Into<String>) -> Self {
        self.acr_values = Some(acr_values.into());
        self
    }
}

/// The response to `unmet` for `session`: a step-up when logging in again would do and the
/// caller can, else the 403.
pub(super) fn answer(
    context: &RequestContext,
    requirements: &RequireAuth,
    session: &Session,
    unmet: Unmet,
    headers: &HeaderMap,
) -> AxumResponse {
    if let Some(max_age) = unmet.step_up {
        let kind = RejectionKind::StepUp {
            reasons: unmet.reasons.clone(),
            max_age,
            acr_values: requirements.acr_values.clone(),
        };
        let api_client = session.source() != SessionSource::Cookie;
        let browser = !api_client && !headers.contains_key("x-no-redirect");
        let login = requirements.login_redirect.as_deref();
        let challenge: &Arc<_> = context.challenge();
        let rejection = AuthRejection::step_up(kind, challenge, browser, context.uri(), login);
        if api_client || rejection.location().is_some() {
            tracing::info!(target: "sealed_session", reason = "step_up", uid = ?session.uid(), "requirements unmet: step-up");
            return rejection.into_response();
        }
    }
    tracing::info!(target: "sealed_session", reason = "forbidden", uid = ?session.uid(), "requirements unmet");
    context
        .reject(RejectionKind::Forbidden {
            reasons: unmet.reasons,
            missing_scopes: unmet.missing_scopes,
            required_scopes: unmet.required_scopes,
        })
        .into_response()
}
