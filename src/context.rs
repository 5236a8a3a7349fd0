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
use crate::store::StoreWrite;

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
    /// The active-session label (the `User-Agent`), read only when active sessions are on.
    label: Option<String>,
    /// Whether the request is a browser navigation without credentials, read only when the
    /// layer has a login redirect: a "no credentials" rejection made in a handler then redirects.
    navigation: bool,
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
            label: None,
            navigation: false,
        }
    }

    /// Notes whether the request is a navigation a login redirect may answer (only called when
    /// the layer has a login redirect).
    pub(crate) fn navigation_from(&mut self, headers: &HeaderMap) {
        self.navigation = crate::rejection::wants_login_redirect(headers, self.method.is_safe());
    }

    /// Keeps the request's `User-Agent` as the active-session label.
    pub(crate) fn label_from(&mut self, headers: &HeaderMap) {
        let agent = headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        self.label = Some(crate::store::clean_label(&agent.unwrap_or_default()));
    }

    /// Removes `id` of `uid` from the active sessions, in the background (it is denied already).
    fn unlist(&self, uid: Option<String>, id: crate::record::SessionId) {
        let (Some(store), Some(uid)) = (self.config.resolver.store.clone(), uid) else {
            return;
        };
        if !self.config.resolver.active_sessions {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.end_session(&uid, id).await {
                    tracing::warn!(target: "sealed_session", reason = "store_unavailable", %error, "ended session still listed as active");
                }
            });
        }
    }

    /// Lists a session just sealed (at login, renewal or a new id) in the active sessions.
    fn list(&self, state: &crate::session::State, sealed: crate::cookie::Sealed) {
        let Some(store) = self.config.resolver.store.as_deref() else {
            return;
        };
        let record = state.record();
        if let Some(old) = sealed.replaced {
            self.unlist(record.uid.clone(), old);
        }
        let listed = matches!(sealed.reason, "login" | "renewed") || sealed.replaced.is_some();
        let Some(uid) = record.uid.as_deref().filter(|_| listed) else {
            return;
        };
        let at = |secs: i64| {
            time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        };
        let max_age = self.config.resolver.session.max_age;
        // The login time, to the millisecond when the id was minted in the same second.
        let minted = record.minted_ms();
        let created = if minted.div_euclid(1000) == record.created {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(minted) * 1_000_000)
                .unwrap_or_else(|_| at(record.created))
        } else {
            at(record.created)
        };
        let entry = crate::store::ActiveSession::new(
            record.id,
            created,
            at(record.created.saturating_add(max_age)),
        )
        .with_last_seen(at(record.last_seen))
        .with_label(self.label.as_deref().unwrap_or_default());
        store.record_active(uid, entry).detach();
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

    /// The request's URI, as the layer saw it (before any nesting).
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// This layer's challenge.
    pub(crate) fn challenge(&self) -> &Arc<crate::rejection::Challenge> {
        &self.config.challenge
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
        // A bearer token for a token handler is awaited anyway: skip the attempt, whose parse of
        // the token (≈ 1,900 instructions for a 600-byte JWT) the awaited path would repeat.
        if self.resolution.get().is_none()
            && self.config.resolver.tokens.is_some()
            && crate::parse::names_bearer(headers)
        {
            return None;
        }
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
        // The session the request came with is over: its handles refuse further changes, and
        // with a store its id is denied (ASVS 7.2.4: a new login ends the previous session).
        if let Some(Resolution::Cookie { session: old, .. }) = self.resolution.get() {
            old.logout();
            if let Some(write) = self.deny(old) {
                write.detach();
                self.unlist(old.uid(), opened_id(old));
            }
        }
        Ok(session)
    }

    /// Ends the session of this request, whatever it was: the one logout, which
    /// [`Auth::logout`](crate::Auth::logout) calls. It ends the sessions through
    /// [`Session::logout`], so that a handler's handles refuse further changes, and records that
    /// the response deletes the cookie even when the cookie was never opened.
    ///
    /// On a credential request only the per-request session ends; no cookie is touched.
    pub(crate) fn logout(&self, credential_request: bool) -> Option<StoreWrite> {
        if credential_request {
            if let Some(Resolution::PerRequest(session)) = self.resolution.get() {
                session.logout();
            }
            return None;
        }
        let mut actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(previous) = actions.login.take() {
            previous.logout();
        }
        actions.logout = true;
        self.acted.store(true, Ordering::Release);
        let denied = match self.resolution.get() {
            Some(Resolution::Cookie { session, .. }) => {
                session.logout();
                let denied = self.deny(session);
                if denied.is_some() {
                    self.unlist(session.uid(), opened_id(session));
                }
                denied
            }
            _ => None,
        };
        tracing::info!(target: "sealed_session", reason = "logout", "session ended");
        denied
    }

    /// With a revocation store, denies the id `session` was opened with (once): the write.
    fn deny(&self, session: &Session) -> Option<StoreWrite> {
        let store = self.config.resolver.store.as_deref()?;
        let write = session.lock().deny_opened(store)?;
        tracing::info!(target: "sealed_session", reason = "denied", uid = ?session.uid(), "session id denied in the revocation store");
        Some(write)
    }

    /// Whether a revocation store is configured.
    pub(crate) fn has_store(&self) -> bool {
        self.config.resolver.store.is_some()
    }

    /// The revocation store, when configured.
    #[cfg(feature = "oauth")]
    pub(crate) fn store(&self) -> Option<&dyn crate::store::RevocationStore> {
        self.config.resolver.store.as_deref()
    }

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
                    rejection.bind(&self.config.challenge, self.navigation.then_some(&self.uri)),
                );
            }
        }
    }

    /// Writes the session cookie (or its deletion) into the response, once.
    pub(crate) fn finalize<B: Default>(&self, response: &mut Response<B>) {
        let acted = self.acted.load(Ordering::Acquire);
        let (resolved, rotated, cookie_invalid) = match self.resolution.get() {
            // Nothing asked, nothing logged in or out (a route that never asks): nothing to do.
            None if !acted => return,
            None => (None, false, false),
            Some(Resolution::OtherScheme) => {
                add_vary(response.headers_mut(), "Authorization");
                (None, false, false)
            }
            Some(Resolution::Anonymous { cookie_invalid }) => {
                // With a refused cookie, `Vary: Cookie` comes with the deletion (or the login's
                // cookie) below: one header lookup fewer on every refused cookie.
                if !cookie_invalid {
                    add_vary(response.headers_mut(), "Cookie");
                }
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
        let (login, logout) = if acted {
            let actions = self.actions.lock().unwrap_or_else(PoisonError::into_inner);
            (actions.login.clone(), actions.logout)
        } else {
            (None, false)
        };
        let is_login = login.is_some();
        // A cookie session ended by its handle (`Session::logout`) is denied too.
        // (Only with a store: without one, finalising costs what it did.)
        let ended = resolved.filter(|s| self.has_store() && s.is_logged_out());
        if let Some(old) = ended {
            if let Some(write) = self.deny(old) {
                write.detach();
                self.unlist(old.uid(), opened_id(old));
            }
        }
        let target = login.as_ref().or(if logout { None } else { resolved });
        let config = &*self.config;
        // One lock of the session for the logged-out check and the seal.
        let state = target.map(Session::lock);
        match state {
            Some(mut state) if !state.is_ended() => {
                if cookie_invalid {
                    add_vary(response.headers_mut(), "Cookie");
                }
                let sealed = config.cookie.write(
                    &mut state,
                    is_login,
                    rotated,
                    &config.resolver.expiry,
                    config.resolver.not_before.as_ref(),
                    config.resolver.store.as_deref(),
                    &config.clock,
                    response,
                );
                if let Some(sealed) = sealed.filter(|_| config.resolver.active_sessions) {
                    self.list(&state, sealed);
                }
            }
            // No session to seal, or it was logged out. (The deletion adds `Vary: Cookie`.)
            _ if logout || resolved.is_some() || cookie_invalid => {
                config.cookie.delete(response.headers_mut());
            }
            _ => {}
        }
    }
}

/// The id `session` was opened with (its current id for a session that was not opened from a
/// cookie). The lock is released before the current id is read.
fn opened_id(session: &Session) -> crate::record::SessionId {
    let opened = session.lock().opened();
    opened.map_or_else(|| session.id(), |o| o.id)
}
