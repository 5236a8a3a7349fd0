//! The per-request context: resolving the caller at most once, recording login and logout, and
//! handing the outcome to the cookie writer when the response is ready.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use http::{HeaderMap, Method, Response, Uri};

use crate::config::Config;
use crate::cookie::add_vary;
use crate::identity::Identity;
use crate::rejection::{AuthRejection, RejectionKind};
use crate::resolve::{Pending, Resolution};
use crate::session::{Session, SessionError};

#[derive(Default)]
struct Actions {
    login: Option<Session>,
    logout: bool,
}

/// The per-request state the layer puts in the request extensions.
pub(crate) struct RequestContext {
    config: Arc<Config>,
    /// The request method, for a DPoP proof's `htm`, and whether a login redirect may apply.
    method: Method,
    /// The request URI as the layer saw it (before any `nest` stripped a prefix), for the login
    /// redirect's return path.
    uri: Uri,
    /// Who the request is, once something asked. Set without waiting when nothing needs to be
    /// awaited (the common cookie path); the paths that call the token handler or the validator
    /// run one at a time under `resolving`, so each is called at most once per request.
    resolution: OnceLock<Resolution>,
    resolving: tokio::sync::Mutex<()>,
    actions: Mutex<Actions>,
    /// Whether `actions` was ever written: most requests neither log in nor out, and skip its
    /// lock.
    acted: AtomicBool,
}

impl RequestContext {
    pub(crate) fn new(config: Arc<Config>, method: Method, uri: Uri) -> Self {
        Self {
            config,
            method,
            uri,
            resolution: OnceLock::new(),
            resolving: tokio::sync::Mutex::const_new(()),
            actions: Mutex::new(Actions::default()),
            acted: AtomicBool::new(false),
        }
    }

    /// What `oauth` reads of the layer: its one accessor.
    #[cfg(feature = "oauth")]
    pub(crate) fn oauth(&self) -> crate::config::OAuthView<'_> {
        self.config.oauth()
    }

    /// The caller, when it needs no waiting (resolving it now: the common cookie path); else
    /// what is left to await.
    fn resolve_now<'h>(&self, headers: &'h HeaderMap) -> Result<&Resolution, Pending<'h>> {
        if let Some(resolution) = self.resolution.get() {
            return Ok(resolution);
        }
        let config = &*self.config;
        let resolution = config
            .resolver
            .compute(headers, &config.cookie, &config.clock)?;
        // Nothing awaited, nothing called: should another task of this request have got there
        // first, its answer stands and this one is dropped.
        Ok(self.resolution.get_or_init(|| resolution))
    }

    /// Awaits what [`RequestContext::resolve_now`] left, one task at a time, so that each
    /// handler is called at most once per request.
    async fn finish(&self, pending: Pending<'_>) -> &Resolution {
        let _one_at_a_time = self.resolving.lock().await;
        if let Some(resolution) = self.resolution.get() {
            return resolution;
        }
        let config = &*self.config;
        let resolution = config
            .resolver
            .finish(pending, &config.clock, (&self.method, &self.uri))
            .await;
        self.resolution.get_or_init(|| resolution)
    }

    /// Resolves the caller once; later calls return the first answer.
    pub(crate) async fn resolve(&self, headers: &HeaderMap) -> &Resolution {
        match self.resolve_now(headers) {
            Ok(resolution) => resolution,
            // Boxed: the token path's state (timeout, panic guard, permit, the lock) would
            // otherwise make every extractor's future, cookie or not, about 1 KiB, and axum
            // moves that future several times per request.
            Err(pending) => Box::pin(self.finish(pending)).await,
        }
    }

    /// The rejection of `kind`, with this layer's challenge.
    pub(crate) fn reject(&self, kind: RejectionKind) -> AuthRejection {
        AuthRejection::new(kind, &self.config.challenge)
    }

    /// The session for an extractor or a guard: `Ok(None)` when anonymous (no credentials, a
    /// scheme other than Bearer, or an expired or invalid cookie). A bad bearer token is never
    /// anonymous: it is a rejection, whoever asks.
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, AuthRejection> {
        let resolution = self.resolve(headers).await;
        self.session_in(resolution)
    }

    /// The session of `resolution`, after this request's login or logout.
    fn session_in(&self, resolution: &Resolution) -> Result<Option<Session>, AuthRejection> {
        let session = match resolution {
            Resolution::Cookie { session, .. } | Resolution::PerRequest(session) => {
                Some(session.clone())
            }
            Resolution::Anonymous { .. } | Resolution::OtherScheme => None,
            Resolution::InvalidToken => return Err(self.reject(RejectionKind::InvalidToken)),
            Resolution::InvalidCredentials => {
                return Err(self.reject(RejectionKind::InvalidCredentials))
            }
            Resolution::InvalidTokenBecause(check) => {
                return Err(self.reject(RejectionKind::InvalidToken).because(check))
            }
            #[cfg(feature = "jwt")]
            Resolution::InvalidDpopToken(check) => {
                return Err(self
                    .reject(RejectionKind::InvalidToken)
                    .because(check)
                    .for_dpop())
            }
            #[cfg(feature = "jwt")]
            Resolution::InvalidDpopProof(check) => {
                return Err(self.reject(RejectionKind::InvalidDpopProof).because(check))
            }
            Resolution::InvalidRequest => return Err(self.reject(RejectionKind::InvalidRequest)),
            Resolution::Unavailable => return Err(self.reject(RejectionKind::Unavailable)),
            Resolution::Panicked => return Err(self.reject(RejectionKind::HandlerPanicked)),
        };
        if self.acted.load(Ordering::Acquire) {
            let actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(login) = &actions.login {
                return Ok(Some(login.clone()));
            }
            if actions.logout {
                return Ok(None);
            }
        }
        Ok(session.filter(|s| !s.is_logged_out()))
    }

    /// The session, or the rejection a required session gives.
    pub(crate) async fn require(
        &self,
        headers: &HeaderMap,
        login: Option<&str>,
    ) -> Result<Session, AuthRejection> {
        let session = self.session(headers).await?;
        self.required(session, headers, login)
    }

    /// [`RequestContext::require`] without waiting: `None` when the caller must be awaited.
    pub(crate) fn require_now(
        &self,
        headers: &HeaderMap,
        login: Option<&str>,
    ) -> Option<Result<Session, AuthRejection>> {
        let resolution = self.resolve_now(headers).ok()?;
        Some(
            self.session_in(resolution)
                .and_then(|session| self.required(session, headers, login)),
        )
    }

    fn required(
        &self,
        session: Option<Session>,
        headers: &HeaderMap,
        login: Option<&str>,
    ) -> Result<Session, AuthRejection> {
        session.ok_or_else(|| {
            AuthRejection::missing_credentials(
                &self.config.challenge,
                headers,
                &self.uri,
                matches!(self.method, Method::GET | Method::HEAD),
                login,
            )
        })
    }

    /// Whether the request carries per-request credentials (see
    /// [`Resolver::is_credential_request`](crate::resolve::Resolver::is_credential_request)).
    pub(crate) fn is_credential_request(&self, headers: &HeaderMap) -> bool {
        self.config.resolver.is_credential_request(headers)
    }

    /// Starts a fresh cookie session: new id, creation and auth time; nothing carried over.
    pub(crate) fn login(
        &self,
        identity: Identity,
        credential_request: bool,
    ) -> Result<Session, SessionError> {
        if credential_request {
            return Err(SessionError::CredentialRequest);
        }
        let config = &self.config;
        let session = Session::login(identity, config.clock.now(), config.resolver.session)?;
        let mut actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = actions.login.replace(session.clone()) {
            previous.logout();
        }
        self.acted.store(true, Ordering::Release);
        // The session the request came with is over: its handles refuse further changes.
        if let Some(Resolution::Cookie { session: old, .. }) = self.resolution.get() {
            old.logout();
        }
        Ok(session)
    }

    /// Ends the session of this request, whatever it was: the one logout, which
    /// [`Auth::logout`](crate::Auth::logout) calls. It ends the sessions through
    /// [`Session::logout`], so that a handler's handles refuse further changes, and records that
    /// the response deletes the cookie even when the cookie was never opened.
    ///
    /// On a credential request only the per-request session ends; no cookie is touched.
    pub(crate) fn logout(&self, credential_request: bool) {
        if credential_request {
            if let Some(Resolution::PerRequest(session)) = self.resolution.get() {
                session.logout();
            }
            return;
        }
        let mut actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = actions.login.take() {
            previous.logout();
        }
        actions.logout = true;
        self.acted.store(true, Ordering::Release);
        if let Some(Resolution::Cookie { session, .. }) = self.resolution.get() {
            session.logout();
        }
        tracing::info!(target: "sealed_session", reason = "logout", "session ended");
    }

    /// Writes the session cookie (or its deletion) into the response, once.
    /// Renders a rejection made in a handler without the layer's settings again, with them:
    /// the layer's realm, body hook and Basic challenge. Only for axum's body type (the
    /// rejection's own); any other response is left alone.
    pub(crate) fn bind_rejection<B: 'static>(&self, response: &mut Response<B>) {
        if response
            .extensions()
            .get::<crate::rejection::Unbound>()
            .is_none()
        {
            return;
        }
        let any: &mut dyn std::any::Any = response;
        if let Some(response) = any.downcast_mut::<Response<axum_core::body::Body>>() {
            if let Some(crate::rejection::Unbound(rejection)) = response
                .extensions_mut()
                .remove::<crate::rejection::Unbound>(
            ) {
                *response = axum_core::response::IntoResponse::into_response(
                    rejection.bind(&self.config.challenge),
                );
            }
        }
    }

    pub(crate) fn finalize<B: Default>(&self, response: &mut Response<B>) {
        let (resolved, rotated, cookie_invalid) = match self.resolution.get() {
            None => (None, false, false),
            Some(Resolution::OtherScheme) => {
                add_vary(response.headers_mut(), "Authorization");
                (None, false, false)
            }
            Some(Resolution::Anonymous { cookie_invalid }) => {
                add_vary(response.headers_mut(), "Cookie");
                (None, false, *cookie_invalid)
            }
            Some(Resolution::Cookie { session, rotated }) => {
                add_vary(response.headers_mut(), "Cookie");
                (Some(session), *rotated, false)
            }
            // A bearer request never sets or deletes the session cookie.
            Some(_) => {
                add_vary(response.headers_mut(), "Authorization");
                return;
            }
        };
        let (login, logout) = if self.acted.load(Ordering::Acquire) {
            let actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
            (actions.login.clone(), actions.logout)
        } else {
            (None, false)
        };
        let is_login = login.is_some();
        let target = login.as_ref().or(if logout { None } else { resolved });
        let config = &*self.config;
        // One lock of the session for the logged-out check and the seal.
        let state = target.map(Session::lock);
        match state {
            Some(mut state) if !state.is_ended() => config.cookie.write(
                &mut state,
                is_login,
                rotated,
                &config.resolver.expiry,
                config.resolver.not_before.as_ref(),
                &config.clock,
                response,
            ),
            // No session to seal, or it was logged out.
            _ if logout || resolved.is_some() || cookie_invalid => {
                config.cookie.delete(response.headers_mut());
            }
            _ => {}
        }
    }
}
