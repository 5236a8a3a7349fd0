//! Per-request state: resolving the caller at most once, recording login and logout, and writing
//! the session cookie into the response.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};

use http::header::Entry;
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};

use crate::config::{LineError, Shared};
use crate::envelope::Record;
use crate::expiry::{touch, Limits, Verdict};
use crate::identity::Identity;
use crate::parse::{self, Credentials};
use crate::rejection::{AuthRejection, RejectionKind};
use crate::revocation::Validation;
use crate::seal::{self, OpenedWith, COOKIE_LIMIT};
use crate::session::{Session, SessionError, SessionSource, State};

/// Inserted into the response extensions when a session cookie could not be written because it
/// would pass the 4,096-byte browser limit. The response is then a 500 and carries no cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOverflow {
    /// The size the cookie's name and value would have had, in bytes.
    pub size: usize,
}

/// Who the request turned out to be.
#[derive(Clone)]
pub(crate) enum Resolution {
    /// No credentials. `cookie_invalid`: a session cookie was sent but was expired, tampered,
    /// undecodable or ambiguous; the response deletes it.
    Anonymous {
        cookie_invalid: bool,
    },
    /// `Authorization` with a scheme other than Bearer: anonymous, and the cookie is not read.
    OtherScheme,
    /// A live cookie session, and whether a previous key opened it.
    Cookie {
        session: Session,
        rotated: bool,
    },
    /// A per-request session from credentials: a bearer token or, with a Basic handler, Basic.
    PerRequest(Session),
    InvalidToken,
    InvalidRequest,
    Unavailable,
    Panicked,
}

/// A live cookie session that the validator must see before it is used.
pub(crate) struct Due {
    session: Session,
    now: i64,
    rotated: bool,
}

#[derive(Default)]
struct Actions {
    login: Option<Session>,
    logout: bool,
}

/// The per-request state the layer puts in the request extensions.
pub(crate) struct RequestContext {
    pub(crate) shared: Arc<Shared>,
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

/// What is left to do, awaiting, before the caller is known.
enum Pending<'h> {
    /// Call the token handler.
    Token(&'h str),
    /// Call the Basic handler.
    Basic { user: String, password: String },
    /// Consult the validator about an opened session.
    Validate(Due),
}

/// Runs `future` for at most `limit`: `Err(Elapsed)` past it. The timer is set up only if the
/// future is not ready at its first poll, so a handler that answers at once (a cache hit, an
/// in-memory map) costs no timer: `tokio::time::timeout` reads the clock and the runtime handle
/// to build its `Sleep` before the first poll, and drops it after.
fn timeout<F: Future + Unpin>(limit: std::time::Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        limit,
        sleep: None,
    }
}

struct Timeout<F> {
    future: F,
    limit: std::time::Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The time limit passed.
struct Elapsed;

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(output) = Pin::new(&mut this.future).poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let limit = this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs a future, turning a panic inside it into `Err(())`.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

impl Limits {
    fn of(shared: &Shared) -> Self {
        Self {
            idle: shared.idle,
            max_age: shared.max_age,
            skew: shared.skew,
        }
    }
}

/// A credential handler's answer: an [`Identity`], or a token cache's shared one.
trait Resolved {
    fn uid(&self) -> Option<&str>;
    fn expires_at(&self) -> Option<time::OffsetDateTime>;
    /// A fresh record for a login at `now` as this identity.
    fn into_record(self, now: i64) -> Record;
}

impl Resolved for Identity {
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.expires_at
    }

    fn into_record(self, now: i64) -> Record {
        Record::login(self, now)
    }
}

impl Resolved for Arc<crate::identity::SharedIdentity> {
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.expires_at
    }

    fn into_record(self, now: i64) -> Record {
        Record::login_shared(&self, now)
    }
}

/// Opens a session cookie value and checks its timestamps: the one path every cookie takes.
pub(crate) fn open_record(shared: &Shared, value: &str) -> Option<(Record, OpenedWith)> {
    let opened = seal::open(&shared.keys, &shared.context, value)?;
    Some((Record::decode(opened.plaintext())?, opened.with))
}

impl RequestContext {
    pub(crate) fn new(shared: Arc<Shared>, uri: Uri) -> Self {
        Self {
            shared,
            uri,
            resolution: OnceLock::new(),
            resolving: tokio::sync::Mutex::const_new(()),
            actions: Mutex::new(Actions::default()),
            acted: AtomicBool::new(false),
        }
    }

    fn now(&self) -> i64 {
        self.shared.now()
    }

    /// Resolves the caller once; later calls return the first answer.
    pub(crate) async fn resolve(&self, headers: &HeaderMap) -> &Resolution {
        if let Some(resolution) = self.resolution.get() {
            return resolution;
        }
        match self.compute(headers) {
            // Nothing awaited, nothing called: should another task of this request have got
            // there first, its answer stands and this one is dropped.
            Ok(resolution) => self.resolution.get_or_init(|| resolution),
            // Boxed: the token path's state (timeout, panic guard, permit, the lock) would
            // otherwise make every extractor's future, cookie or not, about 1 KiB, and axum
            // moves that future several times per request.
            Err(pending) => Box::pin(self.resolve_pending(pending)).await,
        }
    }

    async fn resolve_pending(&self, pending: Pending<'_>) -> &Resolution {
        let _one_at_a_time = self.resolving.lock().await;
        if let Some(resolution) = self.resolution.get() {
            return resolution;
        }
        let resolution = match pending {
            Pending::Token(token) => self.resolve_token(token).await,
            Pending::Basic { user, password } => self.resolve_basic(&user, &password).await,
            Pending::Validate(due) => self.validate_opened(due).await,
        };
        self.resolution.get_or_init(|| resolution)
    }

    /// The resolution, when it needs no waiting; else what is left to await.
    fn compute<'h>(&self, headers: &'h HeaderMap) -> Result<Resolution, Pending<'h>> {
        Ok(
            match parse::authorization(headers, self.shared.max_token_len) {
                Credentials::Absent => return self.open_cookie(headers).map_err(Pending::Validate),
                Credentials::OtherScheme if self.shared.basic.is_some() => {
                    return self.basic_credentials(headers)
                }
                Credentials::OtherScheme => Resolution::OtherScheme,
                Credentials::Repeated => {
                    tracing::info!(target: "sealed_session", reason = "invalid_request", "refused: more than one Authorization credential");
                    Resolution::InvalidRequest
                }
                Credentials::Malformed => {
                    tracing::info!(target: "sealed_session", reason = "token_malformed", "refused: malformed bearer token");
                    Resolution::InvalidToken
                }
                Credentials::Bearer(token) => return Err(Pending::Token(token)),
            },
        )
    }

    async fn resolve_token(&self, token: &str) -> Resolution {
        let Some(handler) = self.shared.tokens.as_ref() else {
            tracing::info!(target: "sealed_session", reason = "token_unknown", "refused: bearer token, but no token handler is configured");
            return Resolution::InvalidToken;
        };
        // A `TokenCache`'s hit is taken as the cached identity, its parts shared, not copied.
        #[cfg(feature = "cache")]
        if let Some(cache) = handler
            .__token_cache()
            .and_then(|cache| cache.downcast_ref::<crate::cache::Core>())
        {
            // Boxed, as `async_trait` boxes a handler's call: on the stack, its state would
            // grow every token path's future, uncached ones too.
            let call = Box::pin(cache.resolve_shared(token));
            return self.resolve_with(SessionSource::Bearer, call).await;
        }
        self.resolve_with(SessionSource::Bearer, handler.resolve(token))
            .await
    }

    /// Reads `Authorization: Basic` when a Basic handler is configured: what is left to await
    /// for well-formed credentials, else the resolution.
    fn basic_credentials<'h>(&self, headers: &'h HeaderMap) -> Result<Resolution, Pending<'h>> {
        use crate::basic::BasicCredentials;
        match crate::basic::parse(headers, self.shared.max_token_len) {
            BasicCredentials::NotBasic => Ok(Resolution::OtherScheme),
            BasicCredentials::Malformed => {
                tracing::info!(target: "sealed_session", reason = "basic_malformed", "refused: malformed Basic credentials");
                Ok(Resolution::InvalidRequest)
            }
            BasicCredentials::Valid { user, password } => Err(Pending::Basic { user, password }),
        }
    }

    async fn resolve_basic(&self, user: &str, password: &str) -> Resolution {
        let Some(handler) = self.shared.basic.as_ref() else {
            return Resolution::OtherScheme;
        };
        self.resolve_with(SessionSource::Basic, handler.verify(user, password))
            .await
    }

    /// Runs a token or Basic handler call under the concurrency limit, the timeout and the
    /// panic guard, and turns its answer into a per-request session.
    async fn resolve_with<F, I>(&self, source: SessionSource, call: F) -> Resolution
    where
        F: Future<Output = Result<Option<I>, crate::token::TokenError>> + Unpin,
        I: Resolved,
    {
        // Load shedding: past the limit of calls in flight, answer 503 at once rather than queue.
        let Some(_permit) = self.shared.token_permits.try_enter() else {
            tracing::warn!(target: "sealed_session", reason = "token_overloaded", ?source, "credential handler at its concurrency limit: shed");
            return Resolution::Unavailable;
        };
        let call = CatchUnwind(call);
        let identity = match timeout(self.shared.token_timeout, call).await {
            Err(_) => {
                tracing::warn!(target: "sealed_session", reason = "token_timeout", ?source, timeout = ?self.shared.token_timeout, "credential handler timed out");
                return Resolution::Unavailable;
            }
            Ok(Err(())) => {
                tracing::error!(target: "sealed_session", reason = "token_panic", ?source, "credential handler panicked");
                return Resolution::Panicked;
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(target: "sealed_session", reason = "token_error", ?source, %error, "credential handler failed");
                return Resolution::Unavailable;
            }
            Ok(Ok(Ok(None))) => {
                tracing::info!(target: "sealed_session", reason = "token_unknown", ?source, "refused: unknown credentials");
                return Resolution::InvalidToken;
            }
            Ok(Ok(Ok(Some(identity)))) => identity,
        };
        let now = self.now();
        let expires_at = identity.expires_at().map(|t| t.unix_timestamp());
        if expires_at.is_some_and(|end| now >= end) {
            tracing::info!(target: "sealed_session", reason = "token_expired", ?source, uid = ?identity.uid(), "refused: expired credentials");
            return Resolution::InvalidToken;
        }
        tracing::debug!(target: "sealed_session", reason = "token_resolved", ?source, uid = ?identity.uid(), "per-request session");
        let state = State {
            record: identity.into_record(now),
            expires_at,
            modified: false,
            ended: false,
        };
        Resolution::PerRequest(Session::new(source, &self.shared, state))
    }

    /// Opens the session cookie: the resolution, or the session the validator must see first.
    /// Not `async`, so that the common path adds nothing to the extractor's future.
    fn open_cookie(&self, headers: &HeaderMap) -> Result<Resolution, Due> {
        let scan = parse::scan_cookies(headers, self.shared.name.as_bytes(), COOKIE_LIMIT);
        if !scan.present {
            return Ok(Resolution::Anonymous {
                cookie_invalid: false,
            });
        }
        let mut opened: Option<(&str, Record, OpenedWith)> = None;
        let mut ambiguous = false;
        for &value in scan.values() {
            let Some((record, with)) = open_record(&self.shared, value) else {
                continue;
            };
            match &opened {
                None => opened = Some((value, record, with)),
                Some((first, ..)) if *first == value => {}
                Some(_) => ambiguous = true,
            }
        }
        let invalid = Resolution::Anonymous {
            cookie_invalid: true,
        };
        if ambiguous {
            tracing::warn!(target: "sealed_session", reason = "ambiguous", "two different session cookies opened: treated as no session");
            return Ok(invalid);
        }
        let Some((_, record, with)) = opened else {
            tracing::warn!(target: "sealed_session", reason = "invalid", "session cookie did not open (tampered, foreign or undecodable)");
            return Ok(invalid);
        };
        let now = self.now();
        match Limits::of(&self.shared).check(now, record.created, record.last_seen) {
            Verdict::Live => {}
            Verdict::Idle => {
                tracing::info!(target: "sealed_session", reason = "expired_idle", uid = ?record.uid, "session expired: idle timeout");
                return Ok(invalid);
            }
            Verdict::Absolute => {
                tracing::info!(target: "sealed_session", reason = "expired_absolute", uid = ?record.uid, "session expired: max age");
                return Ok(invalid);
            }
            Verdict::Future => {
                tracing::warn!(target: "sealed_session", reason = "invalid", uid = ?record.uid, "session created in the future beyond the clock-skew allowance");
                return Ok(invalid);
            }
        }
        if self.is_refused(record.uid.as_deref(), record.created) {
            tracing::info!(target: "sealed_session", reason = "revoked", uid = ?record.uid, "session created before its not-before time");
            return Ok(invalid);
        }
        // The validator is due once per interval, and before every renewal.
        let due = self.shared.validator.is_some()
            && (record
                .checked
                .unwrap_or(record.created)
                .saturating_add(self.shared.validation_interval)
                <= now
                || now.saturating_sub(record.last_seen) >= self.shared.refresh);
        tracing::debug!(target: "sealed_session", reason = "opened", uid = ?record.uid, "session opened");
        let state = State {
            record,
            expires_at: None,
            modified: false,
            ended: false,
        };
        let session = Session::new(SessionSource::Cookie, &self.shared, state);
        let rotated = with == OpenedWith::Previous;
        if due {
            return Err(Due {
                session,
                now,
                rotated,
            });
        }
        Ok(Resolution::Cookie { session, rotated })
    }

    /// Consults the validator about an opened session, then resolves to it unless refused.
    async fn validate_opened(&self, due: Due) -> Resolution {
        let Due {
            session,
            now,
            rotated,
        } = due;
        if let Some(outcome) = self.validate(&session, now).await {
            return outcome;
        }
        Resolution::Cookie { session, rotated }
    }

    /// Whether the not-before times refuse a session.
    fn is_refused(&self, uid: Option<&str>, created: i64) -> bool {
        self.shared
            .not_before
            .as_ref()
            .is_some_and(|not_before| not_before.refuses(uid, created))
    }

    /// Consults the validator. `None` keeps the session (possibly refreshed); `Some` is the
    /// resolution that replaces it.
    async fn validate(&self, session: &Session, now: i64) -> Option<Resolution> {
        let validator = self.shared.validator.clone()?;
        let call = CatchUnwind(validator.validate(session));
        let uid = session.uid();
        match timeout(self.shared.token_timeout, call).await {
            Err(_) => {
                tracing::warn!(target: "sealed_session", reason = "validator_timeout", ?uid, "session validator timed out");
                Some(Resolution::Unavailable)
            }
            Ok(Err(())) => {
                tracing::error!(target: "sealed_session", reason = "validator_panic", ?uid, "session validator panicked");
                Some(Resolution::Panicked)
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(target: "sealed_session", reason = "validator_error", %error, ?uid, "session validator failed");
                Some(Resolution::Unavailable)
            }
            Ok(Ok(Ok(Validation::Revoke))) => {
                tracing::info!(target: "sealed_session", reason = "revoked", ?uid, "session revoked by the validator");
                Some(Resolution::Anonymous {
                    cookie_invalid: true,
                })
            }
            Ok(Ok(Ok(Validation::Refresh(privileges)))) => {
                tracing::info!(target: "sealed_session", reason = "refreshed", ?uid, "session privileges refreshed by the validator");
                session.apply_privileges(privileges, now);
                None
            }
            Ok(Ok(Ok(Validation::Keep))) => {
                session.mark_checked(now);
                None
            }
        }
    }

    /// The session for an extractor or a guard: `Ok(None)` when anonymous (no credentials, a
    /// scheme other than Bearer, or an expired or invalid cookie). A bad bearer token is never
    /// anonymous: it is a rejection, whoever asks.
    pub(crate) async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, AuthRejection> {
        let resolution = self.resolve(headers).await;
        let reject = |kind| Err(AuthRejection::new(kind, &self.shared));
        let session = match resolution {
            Resolution::Cookie { session, .. } | Resolution::PerRequest(session) => {
                Some(session.clone())
            }
            Resolution::Anonymous { .. } | Resolution::OtherScheme => None,
            Resolution::InvalidToken => return reject(RejectionKind::InvalidToken),
            Resolution::InvalidRequest => return reject(RejectionKind::InvalidRequest),
            Resolution::Unavailable => return reject(RejectionKind::Unavailable),
            Resolution::Panicked => return reject(RejectionKind::HandlerPanicked),
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
        match self.session(headers).await? {
            Some(session) => Ok(session),
            None => Err(AuthRejection::missing_credentials(
                &self.shared,
                headers,
                &self.uri,
                login,
            )),
        }
    }

    /// Starts a fresh cookie session: new id, creation and auth time; nothing carried over.
    pub(crate) fn login(
        &self,
        identity: Identity,
        bearer_request: bool,
    ) -> Result<Session, SessionError> {
        if bearer_request {
            return Err(SessionError::BearerRequest);
        }
        let record = Record::login(identity, self.now());
        let size = record.encoded_len();
        if size > self.shared.budget {
            tracing::warn!(target: "sealed_session", reason = "too_large", size, limit = self.shared.budget, "login refused: the session would not fit a cookie");
            return Err(SessionError::TooLarge {
                size,
                limit: self.shared.budget,
            });
        }
        tracing::info!(target: "sealed_session", reason = "login", uid = ?record.uid, "session started");
        let state = State {
            record,
            expires_at: None,
            modified: true,
            ended: false,
        };
        let session = Session::new(SessionSource::Cookie, &self.shared, state);
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

    /// Ends the session of this request, whatever it was.
    ///
    /// On a bearer request only the bearer session ends, for this request; no cookie is touched.
    /// Whether the request carries credentials that make a per-request session (bearer, or
    /// Basic when a Basic handler is configured), or bad ones: such a request never starts or
    /// ends the cookie session.
    pub(crate) fn is_credential_request(&self, headers: &HeaderMap) -> bool {
        match parse::authorization(headers, usize::MAX) {
            Credentials::Bearer(_) | Credentials::Malformed | Credentials::Repeated => true,
            Credentials::OtherScheme => {
                self.shared.basic.is_some() && crate::basic::is_basic(headers)
            }
            Credentials::Absent => false,
        }
    }

    pub(crate) fn logout(&self, bearer_request: bool) {
        if bearer_request {
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
    pub(crate) fn finalize<B: Default>(&self, response: &mut Response<B>) {
        let resolution = self.resolution.get();
        let (resolved, rotated, cookie_invalid) = match resolution {
            None => (None, false, false),
            Some(Resolution::OtherScheme) => {
                add_vary(response.headers_mut(), "Authorization");
                (None, false, false)
            }
            Some(Resolution::Anonymous { cookie_invalid }) => {
                add_vary(response.headers_mut(), "Cookie");
                (None, false, *cookie_invalid)
            }
            Some(Resolution::Cookie {
                session, rotated, ..
            }) => {
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
        // One lock of the session for the logged-out check and the seal.
        let state = target.map(Session::lock);
        match state {
            Some(state) if !state.ended => {
                if response.status().is_server_error() {
                    tracing::debug!(target: "sealed_session", reason = "not_sealed_5xx", "session not sealed: the response is a server error");
                } else {
                    // Sealing adds `Vary: Cookie` with the cookie; a resolved cookie added it above.
                    self.seal_into(state, is_login, rotated, response);
                }
            }
            // No session to seal, or it was logged out.
            _ if logout || resolved.is_some() || cookie_invalid => {
                set_session_cookie(
                    response.headers_mut(),
                    &self.shared.name,
                    self.shared.deletion.clone(),
                );
            }
            _ => {}
        }
    }

    fn seal_into<B: Default>(
        &self,
        mut state: MutexGuard<'_, State>,
        is_login: bool,
        rotated: bool,
        response: &mut Response<B>,
    ) {
        let now = self.now();
        let shared = &self.shared;
        let refused = self.is_refused(state.record.uid.as_deref(), state.record.created);
        let limits = Limits::of(shared);
        if refused
            || (!is_login
                && limits.check(now, state.record.created, state.record.last_seen) != Verdict::Live)
        {
            // It expired, or was revoked, while the handler ran: delete rather than renew.
            set_session_cookie(
                response.headers_mut(),
                &shared.name,
                shared.deletion.clone(),
            );
            return;
        }
        let renew = now.saturating_sub(state.record.last_seen) >= shared.refresh;
        if !(is_login || state.modified || rotated || renew) {
            return;
        }
        // Updated in place: the lock is held, and a failed seal replaces the response anyway.
        let reason = if is_login {
            "login"
        } else if state.modified {
            "modified"
        } else if renew {
            "renewed"
        } else {
            "rotated"
        };
        if is_login || state.modified || renew {
            state.record.last_seen = touch(state.record.last_seen, now);
        }
        let record = &state.record;
        let max_age = limits.remaining(now, record.created, record.last_seen);
        let line = match shared.seal_cookie(record, max_age) {
            Ok(line) => line,
            Err(error) => {
                *response = Response::new(B::default());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                match error {
                    LineError::TooLarge { size } => {
                        tracing::error!(target: "sealed_session", reason = "too_large", size, limit = COOKIE_LIMIT, "session cookie would pass the browser limit: not sent");
                        response.extensions_mut().insert(CookieOverflow { size });
                    }
                    LineError::Seal => {
                        tracing::error!(target: "sealed_session", reason = "seal_failed", "session cookie could not be sealed: not sent");
                    }
                }
                return;
            }
        };
        if rotated {
            tracing::info!(target: "sealed_session", reason = "rotated", uid = ?record.uid, "session re-sealed with the current key");
        }
        tracing::debug!(target: "sealed_session", reason, uid = ?record.uid, "session sealed");
        state.modified = false;
        set_session_cookie(response.headers_mut(), &shared.name, line);
    }
}

/// Sets the one session `Set-Cookie` line (dropping any other line for the same cookie), with
/// `Cache-Control: no-store` and `Vary: Cookie`.
fn set_session_cookie(headers: &mut HeaderMap, name: &str, line: HeaderValue) {
    // Most responses carry no other `Set-Cookie`: nothing to filter.
    if let Entry::Vacant(entry) = headers.entry(SET_COOKIE) {
        entry.insert(line);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        add_vary(headers, "Cookie");
        return;
    }
    let others: Vec<HeaderValue> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter(|v| {
            let b = v.as_bytes();
            !(b.starts_with(name.as_bytes()) && b.get(name.len()) == Some(&b'='))
        })
        .cloned()
        .collect();
    headers.remove(SET_COOKIE);
    for other in others {
        headers.append(SET_COOKIE, other);
    }
    headers.append(SET_COOKIE, line);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_vary(headers, "Cookie");
}

/// Adds `field` to `Vary` unless it is there (or `Vary: *`).
fn add_vary(headers: &mut HeaderMap, field: &'static str) {
    // One lookup: most responses have no `Vary` yet.
    match headers.entry(VARY) {
        Entry::Vacant(entry) => {
            entry.insert(HeaderValue::from_static(field));
        }
        Entry::Occupied(mut entry) => {
            let present = entry.iter().any(|v| {
                v.to_str().is_ok_and(|s| {
                    s.split(',')
                        .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case(field))
                })
            });
            if !present {
                entry.append(HeaderValue::from_static(field));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Key;
    use crate::layer::SessionLayer;
    use serde_json::{Map, Value};

    /// A change that slipped past the size check (for example, timestamps that grew a digit)
    /// must not reach the browser: the response becomes a typed 500 without a cookie.
    #[test]
    fn an_oversized_cookie_at_response_time_is_a_typed_500_without_a_cookie() {
        let layer = SessionLayer::new(Key::generate());
        let shared = layer.shared().unwrap();
        let context = RequestContext::new(shared.clone(), Uri::from_static("/"));
        let mut values = Map::new();
        values.insert("big".into(), Value::String("x".repeat(4000)));
        let mut record = Record::login(Identity::new("a"), shared.now());
        record.values = values.into();
        let state = State {
            record,
            expires_at: None,
            modified: true,
            ended: false,
        };
        let session = Session::new(SessionSource::Cookie, &shared, state);
        context.actions.lock().unwrap().login = Some(session);
        context.acted.store(true, Ordering::Release);
        let mut response = Response::new(String::from("handler body"));
        context.finalize(&mut response);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(response.body().is_empty(), "the handler's body is not sent");
        let overflow = response.extensions().get::<CookieOverflow>().unwrap();
        assert!(overflow.size > COOKIE_LIMIT);
    }
}
