//! [`DpopSupport`]: DPoP (RFC 9449) in the layer, with [`SessionLayer::with_dpop`](crate::SessionLayer::with_dpop).

use std::fmt;

use http::{HeaderMap, Method, Uri};

use super::claims::JwtError;
use super::dpop::{request_target, DpopError, DpopVerifier, MAX_PROOF_LEN};
use super::handler::JwtHandler;
use crate::identity::Identity;
use crate::parse::{is_token68, split_scheme};
use crate::token::TokenError;

/// DPoP for a layer: requests with `Authorization: DPoP <token>` and a `DPoP` proof header are
/// checked by this [`JwtHandler`] and [`DpopVerifier`].
///
/// - A proof is checked against the request's method and URL, the URL made of the configured
///   **external origin** (`https://api.example.com`, as clients address it; never the `Host`
///   header) and the request's path.
/// - A refused proof is 401 with `WWW-Authenticate: DPoP algs="…", error="invalid_dpop_proof"`;
///   every 401 of the layer also carries the bare `DPoP algs="…"` challenge.
/// - A DPoP-bound token sent with the Bearer scheme is always refused (RFC 9449 §7.2); with
///   [`required`](Self::required), every Bearer token is.
///
/// ```
/// use sealed_session::jwt::{DpopSupport, DpopVerifier, Issuer, JwtHandler};
/// use sealed_session::{Key, SessionLayer};
///
/// let tokens = JwtHandler::new(Issuer::new("https://login.example.com", "https://api.example.com"));
/// let layer = SessionLayer::new(Key::generate())
///     .with_token_handler(tokens.clone())
///     .with_dpop(DpopSupport::new(tokens, "https://api.example.com").with_verifier(DpopVerifier::new()));
/// assert!(layer.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct DpopSupport {
    handler: JwtHandler,
    verifier: DpopVerifier,
    origin: String,
    required: bool,
}

impl fmt::Debug for DpopSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopSupport")
            .field("origin", &self.origin)
            .field("required", &self.required)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// What a DPoP request's credentials are.
pub(crate) enum DpopCredentials<'h> {
    /// Not the DPoP scheme.
    NotDpop,
    /// `DPoP` with a missing or malformed token.
    MalformedToken,
    /// No `DPoP` header, more than one, or an unreadable one.
    MalformedProof,
    Valid {
        token: &'h str,
        proof: &'h str,
    },
}

/// The answer for a DPoP request.
pub(crate) enum DpopOutcome {
    Identity(Identity),
    /// The token failed this check.
    InvalidToken(&'static str),
    /// The proof failed this check.
    InvalidProof(&'static str),
}

impl DpopSupport {
    /// DPoP with the tokens of `handler`, for an API whose external origin is `origin`.
    pub fn new(handler: JwtHandler, origin: impl Into<String>) -> Self {
        Self {
            handler,
            verifier: DpopVerifier::new(),
            origin: origin.into(),
            required: false,
        }
    }

    /// The proof verifier (default [`DpopVerifier::new`]: in-memory replay cache). Give every
    /// instance one with a shared [`ReplayCache`](super::ReplayCache).
    #[must_use]
    pub fn with_verifier(mut self, verifier: DpopVerifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Requires server nonces (RFC 9449 §9, `use_dpop_nonce`): a proof without a current nonce
    /// is refused with 401, `WWW-Authenticate: DPoP …, error="use_dpop_nonce"` and a fresh
    /// nonce in the `DPoP-Nonce` header; the client makes a new proof with it and retries. A
    /// nonce stays accepted for one more window after its own (a grace window). Instances with
    /// the same nonce secret agree without a store. Sets the nonces of the verifier, so call it
    /// after [`with_verifier`](Self::with_verifier).
    ///
    /// ```
    /// use sealed_session::jwt::{DpopNonces, DpopSupport, Issuer, JwtHandler};
    /// use sealed_session::{Key, SessionLayer};
    ///
    /// let nonces = DpopNonces::new(b"the nonce secret every instance shares, 32+ bytes").unwrap();
    /// let tokens = JwtHandler::new(Issuer::new("https://login.example.com", "https://api.example.com"));
    /// let dpop = DpopSupport::new(tokens, "https://api.example.com").with_nonces(nonces.clone());
    /// let layer = SessionLayer::new(Key::generate()).with_dpop(dpop);
    /// assert!(layer.validate().is_ok());
    /// // What a `use_dpop_nonce` answer hands out, and what a proof's `nonce` claim must be.
    /// assert!(nonces.accepts(&nonces.current()));
    /// ```
    #[must_use]
    pub fn with_nonces(mut self, nonces: super::DpopNonces) -> Self {
        self.verifier = self.verifier.with_nonces(nonces);
        self
    }

    /// A fresh nonce for a `DPoP-Nonce` header, when nonces are on.
    pub(crate) fn nonce_header(&self) -> Option<crate::rejection::NonceSource> {
        let nonces = self.verifier.nonces()?.clone();
        Some(std::sync::Arc::new(move || {
            http::HeaderValue::from_str(&nonces.current()).ok()
        }))
    }

    /// Refuse every token not presented with DPoP, bound or not (default: only bound ones).
    #[must_use]
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Whether every token must come with DPoP.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The configured origin is `https` (or `http` on loopback), without path.
    pub(crate) fn check(&self) -> Result<(), String> {
        crate::jwks::check_url("DPoP origin", &self.origin)?;
        if url::Url::parse(&self.origin).is_ok_and(|u| u.path() != "/" || u.query().is_some()) {
            return Err("the DPoP origin must have no path or query".to_owned());
        }
        Ok(())
    }

    /// The `algs` of the `DPoP` challenge.
    pub(crate) fn algs(&self) -> String {
        self.verifier.algorithm_names().join(" ")
    }

    /// Reads `Authorization: DPoP <token>` and the one `DPoP` header.
    pub(crate) fn credentials<'h>(
        &self,
        headers: &'h HeaderMap,
        max_len: usize,
    ) -> DpopCredentials<'h> {
        let Some(field) = headers.get(http::header::AUTHORIZATION) else {
            return DpopCredentials::NotDpop;
        };
        let (scheme, rest) = split_scheme(field.as_bytes());
        if !scheme.eq_ignore_ascii_case(b"dpop") {
            return DpopCredentials::NotDpop;
        }
        let spaces = rest.iter().take_while(|&&b| b == b' ').count();
        let token = rest.get(spaces..).unwrap_or_default();
        if spaces == 0 || token.is_empty() || token.len() > max_len || !is_token68(token) {
            return DpopCredentials::MalformedToken;
        }
        let Ok(token) = std::str::from_utf8(token) else {
            return DpopCredentials::MalformedToken;
        };
        let mut proofs = headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return DpopCredentials::MalformedProof;
        };
        match proof.to_str() {
            Ok(proof) if !proof.is_empty() && proof.len() <= MAX_PROOF_LEN => {
                DpopCredentials::Valid { token, proof }
            }
            _ => DpopCredentials::MalformedProof,
        }
    }

    /// Checks a DPoP request: the token, its binding, the proof for `method` and `uri`.
    pub(crate) async fn resolve(
        &self,
        token: &str,
        proof: &str,
        method: &Method,
        uri: &Uri,
    ) -> Result<DpopOutcome, TokenError> {
        let url = request_target(&self.origin, uri);
        match self
            .handler
            .verify_with_proof(token, proof, method.as_str(), &url, &self.verifier)
            .await
        {
            Ok(verified) => Ok(DpopOutcome::Identity(verified.into_identity())),
            Err(JwtError::Unavailable(why) | JwtError::Dpop(DpopError::Unavailable(why))) => {
                Err(TokenError::new(why))
            }
            Err(JwtError::Dpop(error)) => {
                tracing::info!(target: "sealed_session::jwt", check = error.check(), "refused: the DPoP proof failed a check");
                Ok(DpopOutcome::InvalidProof(error.check()))
            }
            Err(error) => {
                tracing::info!(target: "sealed_session::jwt", check = error.check(), "refused: the DPoP access token failed a check");
                Ok(DpopOutcome::InvalidToken(error.check()))
            }
        }
    }
}
