//! Extractors: [`Session`], `Option<Session>` and [`Auth`].

use std::fmt;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::context::RequestContext;
use crate::identity::Identity;
use crate::rejection::{AuthRejection, RejectionKind};
use crate::session::{Session, SessionError};

fn context(parts: &Parts) -> Result<&Arc<RequestContext>, AuthRejection> {
    parts
        .extensions
        .get::<Arc<RequestContext>>()
        .ok_or_else(|| {
            tracing::error!(target: "sealed_session", reason = "missing_layer", "a session extractor ran without SessionLayer");
            AuthRejection::from(RejectionKind::MissingLayer)
        })
}

/// `Session` is required: 401 with a `Bearer` challenge when there is none (or a redirect to the
/// login page when the layer has one), 401 `invalid_token` for a bad token, 400 for two
/// `Authorization` fields, 503 when the token backend fails, 500 without a
/// [`SessionLayer`](crate::SessionLayer).
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let parts = &*parts;
        context(parts)?.require(&parts.headers, None).await
    }
}

/// `Option<Session>` is `None` for an anonymous caller (no credentials, or a scheme other than
/// Bearer) and for an expired or invalid cookie.
///
/// It still refuses what is not anonymous: 401 `invalid_token` for a malformed, unknown or
/// expired bearer token (an invalid token never falls back to anonymous), 400 for two
/// `Authorization` fields, 503 when the token backend fails, 500 without a
/// [`SessionLayer`](crate::SessionLayer).
impl<S: Send + Sync> OptionalFromRequestParts<S> for Session {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let parts = &*parts;
        context(parts)?.session(&parts.headers).await
    }
}

/// Starts and ends sessions: the extractor a login or logout handler takes.
///
/// Always available under a [`SessionLayer`](crate::SessionLayer); extracting it resolves nothing.
///
/// ```
/// use axum::{routing::post, Router};
/// use sealed_session::{Auth, Identity, SessionError};
///
/// async fn login(auth: Auth) -> Result<&'static str, SessionError> {
///     // ... check the credentials first ...
///     auth.login(Identity::new("alice").with_roles(["admin"]))?;
///     Ok("welcome")
/// }
///
/// async fn logout(auth: Auth) -> &'static str {
///     auth.logout();
///     "bye"
/// }
///
/// let app: Router = Router::new().route("/login", post(login)).route("/logout", post(logout));
/// ```
#[derive(Clone)]
pub struct Auth {
    context: Arc<RequestContext>,
    bearer_request: bool,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("bearer_request", &self.bearer_request)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Starts a fresh cookie session for `identity`: a new id, creation time and auth time.
    /// Whatever the request carried before is discarded (no session fixation). The response
    /// carries the new cookie.
    ///
    /// # Errors
    ///
    /// [`SessionError::TooLarge`] when the session would not fit a cookie, and
    /// [`SessionError::CredentialRequest`] on a request with a bearer token or Basic credentials
    /// (such a request never sets a cookie).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::post, Router};
    /// use sealed_session::{Auth, Identity, Key, SessionError, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// async fn login(auth: Auth) -> Result<String, SessionError> {
    ///     let session = auth.login(Identity::new("alice"))?;
    ///     Ok(session.uid().unwrap_or_default())
    /// }
    ///
    /// let app = Router::new().route("/login", post(login)).layer(SessionLayer::new(Key::generate()));
    /// let res = app.clone().oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("__Host-session="));
    ///
    /// // A bearer request never starts a cookie session: the error answers 400.
    /// let bearer = Request::post("/login").header("authorization", "Bearer abc").body(Body::empty()).unwrap();
    /// let res = app.oneshot(bearer).await.unwrap();
    /// assert_eq!(res.status(), 400);
    /// assert!(res.headers().get("set-cookie").is_none());
    /// # }
    /// ```
    pub fn login(&self, identity: Identity) -> Result<Session, SessionError> {
        self.context.login(identity, self.bearer_request)
    }

    /// Ends the session: the response carries a deletion cookie. On a bearer request it ends
    /// the bearer session for this request only, and sets no cookie.
    ///
    /// With a revocation store ([`SessionLayer::with_revocation`](crate::SessionLayer::with_revocation)),
    /// the session id is denied at once on this instance, and shared with the others in the
    /// background (a failure is logged); [`Auth::logout_shared`] waits for it instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::post, Router};
    /// use sealed_session::{testing::TestKit, Auth, Identity, Key, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// let kit = TestKit::new(&layer);
    /// let app = Router::new()
    ///     .route("/logout", post(|auth: Auth| async move { auth.logout() }))
    ///     .layer(layer);
    /// let req = Request::post("/logout")
    ///     .header("cookie", kit.cookie_header(Identity::new("alice")))
    ///     .body(Body::empty())
    ///     .unwrap();
    /// let res = app.oneshot(req).await.unwrap();
    /// assert!(kit.is_deletion(&res));
    /// # }
    /// ```
    pub fn logout(&self) {
        if let Some(write) = self.context.logout(self.bearer_request) {
            write.detach();
        }
    }

    /// [`Auth::logout`], waiting until the revocation store has shared the denial with the other
    /// instances. Without a store, or on a bearer request, it is `Ok` at once.
    ///
    /// # Errors
    ///
    /// [`StoreError`](crate::store::StoreError) when the denial could not be shared (for example,
    /// Redis is unreachable): the session is still ended on this instance and the cookie
    /// deleted; the write is queued to be sent again when the store says so.
    pub async fn logout_shared(&self) -> Result<(), crate::store::StoreError> {
        match self.context.logout(self.bearer_request) {
            Some(write) => write.await,
            None => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = context(parts)?.clone();
        let bearer_request = context.is_credential_request(&parts.headers);
        // With a store, the cookie is opened now, so that a logout or login knows which id it
        // ends even when the handler never read the session.
        if context.has_store() && !bearer_request {
            let _ = context.resolve(&parts.headers).await;
        }
        Ok(Self {
            context,
            bearer_request,
        })
    }
}
