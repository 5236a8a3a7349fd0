//! Calling the token and Basic handlers: under a concurrency limit, a timeout and a panic guard.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::HeaderMap;

use super::{Pending, Resolution, Resolver};
use crate::clock::LayerClock;
use crate::future::{timeout, CatchUnwind};
use crate::identity::Identity;
use crate::record::Record;
use crate::session::{Session, SessionSource};
use crate::token::TokenHandler;

/// Where bearer tokens are resolved: an app's handler, or a [`TokenCache`](crate::TokenCache)
/// recognised when the layer is configured, whose hits are taken as the cached identity with
/// its parts shared, not copied.
#[derive(Clone)]
pub(crate) enum TokenSource {
    /// A handler that may name the check refusing a token: the layer calls `resolve_checked`.
    Handler(Arc<dyn TokenHandler>),
    /// A handler that names no check ([`TokenHandler::names_checks`] is `false`): the layer
    /// calls `resolve`, one boxed future per request instead of the default `resolve_checked`'s
    /// two.
    Plain(Arc<dyn TokenHandler>),
    #[cfg(feature = "cache")]
    Cache(crate::cache::TokenCache),
}

impl TokenSource {
    /// The source for `handler`: its cache when it is a `TokenCache`.
    pub(crate) fn new<H: TokenHandler>(handler: H) -> Self {
        #[cfg(feature = "cache")]
        {
            let any: &dyn std::any::Any = &handler;
            if let Some(cache) = any.downcast_ref::<crate::cache::TokenCache>() {
                return Self::Cache(cache.clone());
            }
        }
        if handler.names_checks() {
            Self::Handler(Arc::new(handler))
        } else {
            Self::Plain(Arc::new(handler))
        }
    }
}

/// The limits every credential handler call runs under (token, Basic and validator).
pub(crate) struct HandlerLimits {
    pub(crate) timeout: std::time::Duration,
    /// The longest credential accepted, in bytes.
    pub(crate) max_len: usize,
    /// Permits for handler calls in flight.
    pub(crate) permits: InFlight,
}

/// What a credential handler answered: the caller, or a refusal naming the failed check when
/// the handler knows it ([`TokenHandler::resolve_checked`]).
trait Answer {
    type Found: Resolved;
    fn found(self) -> Result<Self::Found, Option<&'static str>>;
}

impl<I: Resolved> Answer for Option<I> {
    type Found = I;
    fn found(self) -> Result<I, Option<&'static str>> {
        self.ok_or(None)
    }
}

impl<I: Resolved> Answer for Result<I, Option<&'static str>> {
    type Found = I;
    fn found(self) -> Result<I, Option<&'static str>> {
        self
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

#[cfg(feature = "cache")]
impl Resolved for Arc<crate::identity::CachedIdentity> {
    fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.expires_at
    }

    fn into_record(self, now: i64) -> Record {
        Record::login_cached(&self, now)
    }
}

impl Resolver {
    pub(super) async fn resolve_token(&self, token: &str, clock: &LayerClock) -> Resolution {
        match &self.tokens {
            None => {
                tracing::info!(target: "sealed_session", reason = "token_unknown", "refused: bearer token, but no token handler is configured");
                Resolution::InvalidToken
            }
            // The handler may name the check that refused the token, for the challenge.
            // `(**handler)`: the handler's own method, not the forwarding impl for `Arc`, whose
            // extra `async_trait` box the compiler does not inline away (+1 allocation).
            Some(TokenSource::Handler(handler)) => {
                self.resolve_with(
                    SessionSource::Bearer,
                    (**handler).resolve_checked(token),
                    clock,
                )
                .await
            }
            Some(TokenSource::Plain(handler)) => {
                self.resolve_with(SessionSource::Bearer, (**handler).resolve(token), clock)
                    .await
            }
            // Boxed, as `async_trait` boxes a handler's call: on the stack, its state would grow
            // every token path's future, uncached ones too.
            #[cfg(feature = "cache")]
            Some(TokenSource::Cache(cache)) => {
                let call = Box::pin(cache.resolve_cached(token));
                self.resolve_with(SessionSource::Bearer, call, clock).await
            }
        }
    }

    /// A DPoP request (RFC 9449): the token and its proof, through the layer's DPoP support,
    /// under the same limits, timeout and panic guard as a token handler.
    #[cfg(feature = "jwt")]
    pub(super) async fn resolve_dpop(
        &self,
        token: &str,
        proof: &str,
        method: &http::Method,
        uri: &http::Uri,
        clock: &LayerClock,
    ) -> Resolution {
        use crate::jwt::DpopOutcome;
        let Some(dpop) = self.dpop.as_ref() else {
            return Resolution::OtherScheme;
        };
        let refused = std::sync::OnceLock::new();
        let call = Box::pin(async {
            match dpop.resolve(token, proof, method, uri).await {
                Ok(DpopOutcome::Identity(identity)) => Ok(Some(identity)),
                Ok(DpopOutcome::InvalidToken(check)) => {
                    let _ = refused.set(Resolution::InvalidDpopToken(check));
                    Ok(None)
                }
                Ok(DpopOutcome::InvalidProof(check)) => {
                    let _ = refused.set(Resolution::InvalidDpopProof(check));
                    Ok(None)
                }
                Err(error) => Err(error),
            }
        });
        match self.resolve_with(SessionSource::Bearer, call, clock).await {
            Resolution::InvalidToken => refused
                .into_inner()
                .unwrap_or(Resolution::InvalidDpopToken("exp")),
            other => other,
        }
    }

    /// Reads `Authorization: Basic` when a Basic handler is configured: what is left to await
    /// for well-formed credentials, else the resolution.
    pub(super) fn basic_credentials<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Resolution, Pending<'h>> {
        use crate::basic::BasicCredentials;
        match crate::basic::parse(headers, self.limits.max_len) {
            BasicCredentials::NotBasic => Ok(Resolution::OtherScheme),
            BasicCredentials::Malformed => {
                tracing::info!(target: "sealed_session", reason = "basic_malformed", "refused: malformed Basic credentials");
                Ok(Resolution::InvalidRequest)
            }
            BasicCredentials::Valid { user, password } => Err(Pending::Basic { user, password }),
        }
    }

    pub(super) async fn resolve_basic(
        &self,
        user: &str,
        password: &str,
        clock: &LayerClock,
    ) -> Resolution {
        let Some(handler) = self.basic.as_ref() else {
            return Resolution::OtherScheme;
        };
        self.resolve_with(SessionSource::Basic, handler.verify(user, password), clock)
            .await
    }

    /// Runs a token or Basic handler call under the concurrency limit, the timeout and the
    /// panic guard, and turns its answer into a per-request session.
    async fn resolve_with<F, A, E>(
        &self,
        source: SessionSource,
        call: F,
        clock: &LayerClock,
    ) -> Resolution
    where
        F: Future<Output = Result<A, E>> + Unpin,
        A: Answer,
        E: std::fmt::Display,
    {
        // Load shedding: past the limit of calls in flight, answer 503 at once rather than queue.
        let Some(_permit) = self.limits.permits.try_enter() else {
            tracing::warn!(target: "sealed_session", reason = "token_overloaded", ?source, "credential handler at its concurrency limit: shed");
            return Resolution::Unavailable;
        };
        let call = CatchUnwind(call);
        let identity = match timeout(self.limits.timeout, call).await {
            Err(_) => {
                tracing::warn!(target: "sealed_session", reason = "token_timeout", ?source, timeout = ?self.limits.timeout, "credential handler timed out");
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
            Ok(Ok(Ok(answer))) => match answer.found() {
                Ok(identity) => identity,
                Err(check) => {
                    tracing::info!(target: "sealed_session", reason = "token_unknown", ?source, check, "refused: unknown credentials");
                    if source == SessionSource::Basic {
                        return Resolution::InvalidCredentials;
                    }
                    return check.map_or(Resolution::InvalidToken, Resolution::InvalidTokenBecause);
                }
            },
        };
        let now = clock.now();
        let expires_at = identity.expires_at().map(|t| t.unix_timestamp());
        if expires_at.is_some_and(|end| now >= end) {
            tracing::info!(target: "sealed_session", reason = "token_expired", ?source, uid = ?identity.uid(), "refused: expired credentials");
            return refused(source);
        }
        tracing::debug!(target: "sealed_session", reason = "token_resolved", ?source, uid = ?identity.uid(), "per-request session");
        let record = identity.into_record(now);
        Resolution::PerRequest(Session::per_request(
            source,
            record,
            expires_at,
            self.session,
        ))
    }
}

/// Handler calls in flight, against their limit. Nothing ever waits for a slot (past the limit a
/// request is shed at once), so a counter is all it takes; a semaphore's release also locks its
/// waiter list.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    limit: usize,
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            limit,
        }
    }

    /// A slot, or `None` at the limit. The slot is given back when the guard drops.
    pub(crate) fn try_enter(&self) -> Option<InFlightGuard<'_>> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlightGuard(&self.count))
    }
}

/// One handler call in flight.
pub(crate) struct InFlightGuard<'a>(&'a AtomicUsize);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A refused credential: `invalid_token` for a bearer token, plain invalid credentials for Basic.
fn refused(source: SessionSource) -> Resolution {
    if source == SessionSource::Basic {
        Resolution::InvalidCredentials
    } else {
        Resolution::InvalidToken
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn in_flight_slots_stop_at_the_limit_and_come_back() {
        let slots = InFlight::new(2);
        let a = slots.try_enter().unwrap();
        let b = slots.try_enter().unwrap();
        assert!(slots.try_enter().is_none());
        assert!(slots.try_enter().is_none(), "a refusal takes no slot");
        drop(a);
        let c = slots.try_enter().unwrap();
        assert!(slots.try_enter().is_none());
        drop((b, c));
        let _all: Vec<_> = (0..2).map(|_| slots.try_enter().unwrap()).collect();
    }
}
