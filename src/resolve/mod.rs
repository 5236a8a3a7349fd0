//! Who a request is: what credential it carries, opening the cookie, calling the token or Basic
//! handler and the validator, and the [`Resolution`].
//!
//! Detection is in one place ([`Resolver::compute`] and [`Resolver::is_credential_request`]
//! read the same `Authorization` parse). The common cookie path needs no waiting and is answered
//! by [`Resolver::compute`] alone; what must be awaited comes back as [`Pending`] for
//! [`Resolver::finish`].

mod handler;
mod open;
mod source;
mod validate;

use std::sync::Arc;

use http::HeaderMap;

use crate::basic::BasicHandler;
use crate::clock::LayerClock;
use crate::cookie::CookieSpec;
use crate::expiry::Limits;
use crate::parse::{self, Credentials};
use crate::revocation::{NotBefore, Recheck, SessionValidator};
use crate::session::{Session, SessionLimits};
use crate::store::RevocationStore;

pub(crate) use handler::{HandlerLimits, InFlight, TokenSource};
pub use open::CookieRefusal;
use open::Due;
pub(crate) use open::{RefusalHook, RefusalLog};
pub use source::CredentialSource;
use source::Found;

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
    /// Basic credentials the Basic handler refused.
    InvalidCredentials,
    /// An invalid token, and the name of the check that refused it (from the handler).
    InvalidTokenBecause(&'static str),
    /// A DPoP request whose token failed this check.
    #[cfg(feature = "jwt")]
    InvalidDpopToken(&'static str),
    /// A DPoP request whose proof failed this check.
    #[cfg(feature = "jwt")]
    InvalidDpopProof(&'static str),
    InvalidRequest,
    Unavailable,
    Panicked,
}

/// What is left to do, awaiting, before the caller is known.
pub(crate) enum Pending<'h> {
    /// Call the token handler.
    Token(&'h str),
    /// Call the Basic handler.
    Basic { user: String, password: String },
    /// Consult the validator about an opened session.
    Validate(Due),
    /// Call the token handler with an id + key pair joined as `<id>.<key>`.
    Joined(String),
    /// Check a DPoP-bound token and its proof.
    #[cfg(feature = "jwt")]
    Dpop { token: &'h str, proof: &'h str },
}

/// The resolver's configuration: credential handlers, their limits, revocation, and the expiry
/// and session limits it applies to what it opens.
pub(crate) struct Resolver {
    pub(crate) tokens: Option<TokenSource>,
    pub(crate) basic: Option<Arc<dyn BasicHandler>>,
    pub(crate) limits: HandlerLimits,
    pub(crate) validator: Option<Arc<dyn SessionValidator>>,
    /// DPoP support, when the layer takes DPoP-bound tokens.
    #[cfg(feature = "jwt")]
    pub(crate) dpop: Option<Arc<crate::jwt::DpopSupport>>,
    /// The longest time between two validator checks, in seconds.
    pub(crate) validation_interval: i64,
    pub(crate) not_before: Option<NotBefore>,
    /// Users whose sessions the validator must see on their next request.
    pub(crate) recheck: Option<Recheck>,
    /// Whether cookie sessions are recorded in the store's active sessions.
    pub(crate) active_sessions: bool,
    /// The revocation store, when switched on: checked on every cookie open and before a re-seal.
    pub(crate) store: Option<Arc<dyn RevocationStore>>,
    pub(crate) expiry: Limits,
    /// The refresh interval, in seconds: the validator is due before every renewal.
    pub(crate) refresh: i64,
    pub(crate) session: SessionLimits,
    /// Extra credential sources (`source.rs`); empty unless the app names some.
    pub(crate) sources: Box<[CredentialSource]>,
    /// The app's hook for refused cookies.
    pub(crate) on_refused: Option<RefusalHook>,
    /// Rate limit and counter of the warnings about bad cookies.
    pub(crate) refusal_log: RefusalLog,
}

impl Resolver {
    /// The resolution, when it needs no waiting; else what is left to await.
    pub(crate) fn compute<'h>(
        &self,
        headers: &'h HeaderMap,
        cookie: &CookieSpec,
        clock: &LayerClock,
    ) -> Result<Resolution, Pending<'h>> {
        let credentials = parse::authorization(headers, self.limits.max_len);
        if !self.sources.is_empty() {
            if let Some(answer) = self.read_sources(headers, credentials) {
                return answer;
            }
        }
        #[cfg(feature = "jwt")]
        if let Some(dpop) = &self.dpop {
            use crate::jwt::DpopCredentials;
            match credentials {
                Credentials::OtherScheme => match dpop.credentials(headers, self.limits.max_len) {
                    DpopCredentials::NotDpop => {}
                    DpopCredentials::MalformedToken => {
                        tracing::info!(target: "sealed_session", reason = "token_malformed", "refused: malformed DPoP token");
                        return Ok(Resolution::InvalidDpopToken("format"));
                    }
                    DpopCredentials::MalformedProof => {
                        tracing::info!(target: "sealed_session", reason = "dpop_malformed", "refused: no single readable DPoP proof");
                        return Ok(Resolution::InvalidDpopProof("format"));
                    }
                    DpopCredentials::Valid { token, proof } => {
                        return Err(Pending::Dpop { token, proof })
                    }
                },
                Credentials::Bearer(_) if dpop.is_required() => {
                    tracing::info!(target: "sealed_session", reason = "dpop_required", "refused: a bearer token where DPoP is required");
                    return Ok(Resolution::InvalidTokenBecause("dpop"));
                }
                _ => {}
            }
        }
        Ok(match credentials {
            Credentials::Absent => {
                return self
                    .open_cookie(headers, cookie, clock)
                    .map_err(Pending::Validate)
            }
            Credentials::OtherScheme if self.basic.is_some() => {
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
        })
    }

    /// Awaits what [`Resolver::compute`] left.
    pub(crate) async fn finish(
        &self,
        pending: Pending<'_>,
        clock: &LayerClock,
        request: (&http::Method, &http::Uri),
    ) -> Resolution {
        #[cfg(not(feature = "jwt"))]
        let _ = request;
        match pending {
            #[cfg(feature = "jwt")]
            Pending::Dpop { token, proof } => {
                self.resolve_dpop(token, proof, request.0, request.1, clock)
                    .await
            }
            Pending::Token(token) => self.resolve_token(token, clock).await,
            Pending::Basic { user, password } => self.resolve_basic(&user, &password, clock).await,
            Pending::Validate(due) => self.validate_opened(due).await,
            Pending::Joined(token) => self.resolve_token(&token, clock).await,
        }
    }

    /// What the extra credential sources say, when one is present: `None` lets `Authorization`
    /// and the cookie decide.
    fn read_sources<'h>(
        &self,
        headers: &'h HeaderMap,
        authorization: Credentials<'h>,
    ) -> Option<Result<Resolution, Pending<'h>>> {
        let found = source::find(&self.sources, headers, self.limits.max_len);
        if matches!(found, Found::Nothing) {
            return None;
        }
        if authorization != Credentials::Absent {
            tracing::info!(target: "sealed_session", reason = "invalid_request", "refused: credentials in Authorization and in another source");
            return Some(Ok(Resolution::InvalidRequest));
        }
        Some(match found {
            Found::Nothing | Found::Ambiguous => {
                tracing::info!(target: "sealed_session", reason = "invalid_request", "refused: a credential source repeated, half a key pair, or two sources");
                Ok(Resolution::InvalidRequest)
            }
            Found::Malformed => {
                tracing::info!(target: "sealed_session", reason = "token_malformed", "refused: malformed token in a credential source");
                Ok(Resolution::InvalidToken)
            }
            Found::Token(token) => Err(Pending::Token(token)),
            Found::Joined(token) => Err(Pending::Joined(token)),
        })
    }

    /// Whether the request carries credentials that make a per-request session (bearer, or
    /// Basic when a Basic handler is configured), or bad ones: such a request never starts or
    /// ends the cookie session.
    pub(crate) fn is_credential_request(&self, headers: &HeaderMap) -> bool {
        if !self.sources.is_empty() && source::any_present(&self.sources, headers) {
            return true;
        }
        match parse::authorization(headers, usize::MAX) {
            Credentials::Bearer(_) | Credentials::Malformed | Credentials::Repeated => true,
            #[cfg(feature = "jwt")]
            Credentials::OtherScheme
                if self.dpop.as_ref().is_some_and(|d| {
                    !matches!(
                        d.credentials(headers, usize::MAX),
                        crate::jwt::DpopCredentials::NotDpop
                    )
                }) =>
            {
                true
            }
            Credentials::OtherScheme => self.basic.is_some() && crate::basic::is_basic(headers),
            Credentials::Absent => false,
        }
    }

    /// Whether the not-before times refuse a session.
    pub(crate) fn is_refused(&self, uid: Option<&str>, created: i64) -> bool {
        self.not_before
            .as_ref()
            .is_some_and(|not_before| not_before.refuses(uid, created))
    }
}
