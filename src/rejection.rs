//! Rejections: the 400, 401, 403, 500 and 503 responses of the extractor and the guard.
//!
//! | situation | response |
//! |---|---|
//! | no credentials, or a scheme other than Bearer | 401, `WWW-Authenticate: Bearer realm="…"` (no error), or a 302 to the login page when configured |
//! | malformed bearer, unknown, expired or revoked token | 401, `error="invalid_token"` (with `error_description` naming the failed check when the handler gives one) |
//! | a refused DPoP proof (with `SessionLayer::with_dpop`) | 401, `error="invalid_dpop_proof"` in the `DPoP` challenge |
//! | a DPoP proof without a current server nonce (`DpopSupport::with_nonces`) | 401, `error="use_dpop_nonce"` in the `DPoP` challenge, a fresh `DPoP-Nonce` header |
//! | two `Authorization` fields | 400, `error="invalid_request"` |
//! | missing scope | 403, `error="insufficient_scope", scope="…"` (the scopes the route requires; of an any-of group, one alternative) |
//! | any other unmet requirement | 403, the reasons as text/plain, one per line |
//! | only [`mfa`](crate::Requirement::mfa), [`max_auth_age`](crate::Requirement::max_auth_age) or [`max_idle`](crate::Requirement::max_idle) unmet, API client (bearer or Basic) | 401, `error="insufficient_user_authentication"` with `max_age`/`acr_values` (RFC 9470) |
//! | the same, browser (cookie session) and a login page | 302 to `<login>?login=<path>&prompt=login&max_age=N` |
//! | token backend error or timeout | 503 with `Retry-After` |
//! | token handler panicked | 500 |
//! | no [`SessionLayer`](crate::SessionLayer) | 500 naming `SessionLayer` |
//!
//! With [`SessionLayer::with_resource_metadata`](crate::SessionLayer::with_resource_metadata), every
//! `Bearer` challenge carries `resource_metadata="…"`; with DPoP, every 401 also carries a
//! `DPoP algs="…"` challenge.
//!
//! [`SessionLayer::with_rejection_body`](crate::SessionLayer::with_rejection_body) shapes the
//! bodies (for example as JSON problem details); the status and the `WWW-Authenticate`,
//! `Retry-After` and `Location` headers always follow the table.
//!
//! ```
//! use sealed_session::{AuthRejection, RejectionKind};
//! use axum_core::response::IntoResponse;
//!
//! let response = AuthRejection::from(RejectionKind::MissingLayer).into_response();
//! assert_eq!(response.status(), 500);
//! ```

use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

/// Shapes rejection bodies; see [`SessionLayer::with_rejection_body`](crate::SessionLayer::with_rejection_body).
pub(crate) type RejectionBody = Arc<dyn Fn(&AuthRejection) -> Response + Send + Sync>;

/// How a layer challenges: what its rejections carry besides their kind.
pub(crate) struct Challenge {
    /// `Bearer realm="…"`.
    pub(crate) header: String,
    /// `header` as a header value, made once: the bare challenge of most 401s is a clone of it.
    pub(crate) bare: Option<HeaderValue>,
    /// Where anonymous browser requests are sent, when set.
    pub(crate) login_redirect: Option<String>,
    /// The app's body hook.
    pub(crate) body: Option<RejectionBody>,
    /// The `Retry-After` of a 503.
    pub(crate) retry_after: HeaderValue,
    /// `Basic realm="…", charset="UTF-8"` when the layer takes Basic credentials: sent beside
    /// the Bearer challenge on every 401 (RFC 7617 §2).
    pub(crate) basic: Option<HeaderValue>,
    /// `DPoP algs="…"`, sent beside the Bearer challenge of every 401 when the layer takes DPoP.
    pub(crate) dpop: Option<String>,
    /// A fresh `DPoP-Nonce` for a proof refused for its nonce, when DPoP nonces are on.
    pub(crate) dpop_nonce: Option<NonceSource>,
}

/// Makes a fresh `DPoP-Nonce` value.
pub(crate) type NonceSource = Arc<dyn Fn() -> Option<HeaderValue> + Send + Sync>;

/// The check name of a DPoP proof refused for its nonce (`jwt::DpopError::Nonce`).
pub(crate) const DPOP_NONCE_CHECK: &str = "nonce";

/// A proof refused for its nonce (RFC 9449 §9): the `DPoP` challenge's error.
const USE_DPOP_NONCE: &str =
    "error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"";

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No credentials, an expired or invalid cookie, or a scheme other than Bearer: 401 with a
    /// bare challenge (or a redirect to the login page, when configured).
    MissingCredentials,
    /// A malformed, unknown, expired or revoked bearer token: 401 `invalid_token`.
    InvalidToken,
    /// Basic credentials the Basic handler refused (unknown, or expired): 401 with a bare
    /// Bearer challenge and the Basic one (RFC 7617), never `invalid_token`.
    InvalidCredentials,
    /// A refused DPoP proof (RFC 9449): 401 with `error="invalid_dpop_proof"` in a `DPoP`
    /// challenge.
    InvalidDpopProof,
    /// More than one credential (two `Authorization` fields): 400 `invalid_request`.
    InvalidRequest,
    /// Logged in, but requirements are unmet: 403. With `insufficient_scope` when any missing
    /// requirement is a scope; its `scope` parameter lists `required_scopes`.
    Forbidden {
        /// Every unmet requirement, in declaration order.
        reasons: Vec<String>,
        /// The missing scopes, in declaration order (empty when no scope is missing).
        missing_scopes: Vec<String>,
        /// The scopes the resource requires (RFC 6750 §3), for the challenge: every `all_of`
        /// scope, met or not, and of an `any_of` group, one acceptable alternative (the first
        /// scope alternative, or the one the session holds), never the whole group, which
        /// would read as "all of these".
        required_scopes: Vec<String>,
    },
    /// Logged in, but the authentication is too old or too weak for this route, and logging in
    /// again would do (RFC 9470 step-up): 401 `insufficient_user_authentication` with
    /// `max_age` and `acr_values` for an API client, or a 302 to the login page for a browser.
    StepUp {
        /// Every unmet requirement, in declaration order.
        reasons: Vec<String>,
        /// The longest acceptable time since authentication, in seconds, if one is required.
        max_age: Option<i64>,
        /// The authentication context class references asked for, space-separated, if any.
        acr_values: Option<String>,
    },
    /// The token handler failed or timed out: 503 with `Retry-After`.
    Unavailable,
    /// The token handler panicked: 500.
    HandlerPanicked,
    /// The request did not pass through a [`SessionLayer`](crate::SessionLayer): 500.
    MissingLayer,
}

/// A refused request, as a response. See the [module docs](crate::rejection).
#[derive(Clone)]
pub struct AuthRejection {
    kind: RejectionKind,
    challenge: Option<Arc<Challenge>>,
    /// Boxed: keeps `AuthRejection` (an `Err` on every guard path) small.
    location: Option<Box<str>>,
    /// The check that refused the token, for `error_description`.
    failed_check: Option<&'static str>,
    /// Whether the error belongs in the `DPoP` challenge (the request used that scheme).
    dpop_scheme: bool,
}

impl fmt::Debug for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRejection")
            .field("kind", &self.kind)
            .field("status", &self.status())
            .field("failed_check", &self.failed_check)
            .finish_non_exhaustive()
    }
}

impl From<RejectionKind> for AuthRejection {
    fn from(kind: RejectionKind) -> Self {
        Self {
            kind,
            challenge: None,
            location: None,
            failed_check: None,
            dpop_scheme: false,
        }
    }
}

/// Percent-encodes a path and query for a `login=` parameter, keeping `/` and unreserved bytes.
fn encode_return_path(path_and_query: &str) -> String {
    let mut out = String::with_capacity(path_and_query.len());
    for &b in path_and_query.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The auth-params of RFC 9470's step-up challenge.
fn step_up_error(max_age: Option<i64>, acr_values: Option<&str>) -> String {
    let mut value = format!(
        "error=\"insufficient_user_authentication\", error_description=\"{}\"",
        if max_age.is_some() {
            "A more recent authentication is required"
        } else {
            "A different authentication level is required"
        }
    );
    if let Some(max_age) = max_age {
        value.push_str(&format!(", max_age=\"{max_age}\""));
    }
    // Only values that can be sent in a quoted parameter.
    if let Some(acr) = acr_values.filter(|a| a.split(' ').all(is_scope_token)) {
        value.push_str(&format!(", acr_values=\"{acr}\""));
    }
    value
}

/// Whether a request without credentials is a browser navigation that a login redirect may
/// answer: no `Authorization`, no `X-No-Redirect`, and a navigation.
pub(crate) fn wants_login_redirect(headers: &HeaderMap, safe_method: bool) -> bool {
    !headers.contains_key(http::header::AUTHORIZATION)
        && !headers.contains_key("x-no-redirect")
        && is_navigation(headers, safe_method)
}

/// `<login>?login=<return path>`: the login page, told where to come back to.
fn login_location(login: &str, uri: &Uri) -> Box<str> {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let target = target.strip_suffix('?').unwrap_or(target);
    let sep = if login.contains('?') { '&' } else { '?' };
    format!("{login}{sep}login={}", encode_return_path(target)).into()
}

/// Whether a request is a browser navigation (see [`AuthRejection::missing_credentials`]).
fn is_navigation(headers: &HeaderMap, safe_method: bool) -> bool {
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes() == b"navigate";
    }
    safe_method
        && headers.get_all(http::header::ACCEPT).iter().any(|accept| {
            accept.to_str().is_ok_and(|a| {
                a.split(',').any(|item| {
                    let mut parts = item.split(';');
                    let media = parts.next().unwrap_or_default().trim();
                    let refused = parts.any(|p| {
                        p.trim()
                            .strip_prefix("q=")
                            .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
                    });
                    media.eq_ignore_ascii_case("text/html") && !refused
                })
            })
        })
}

/// A check name as it may appear in `error_description`: RFC 6750's characters (printable ASCII
/// without `"` and `\`), at most 64.
fn description_text(check: &str) -> String {
    check
        .chars()
        .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        .take(64)
        .collect()
}

/// Whether `scope` may appear in a `scope="…"` challenge parameter (RFC 6749 §3.3 scope-token).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

impl AuthRejection {
    pub(crate) fn new(kind: RejectionKind, challenge: &Arc<Challenge>) -> Self {
        Self {
            kind,
            challenge: Some(challenge.clone()),
            location: None,
            failed_check: None,
            dpop_scheme: false,
        }
    }

    /// The same rejection, naming the check that refused the token (kept to RFC 6750's
    /// `error_description` characters, at most 64 of them).
    pub(crate) fn because(mut self, check: &'static str) -> Self {
        self.failed_check = Some(check);
        self
    }

    /// The same rejection, for a request that used the `DPoP` scheme: its error goes in the
    /// `DPoP` challenge.
    #[cfg(feature = "jwt")]
    pub(crate) fn for_dpop(mut self) -> Self {
        self.dpop_scheme = true;
        self
    }

    /// The name of the check that refused the token, when the token handler gave one
    /// (`JwtHandler` does: `exp`, `aud`, `signature`, …). It is in the challenge's
    /// `error_description`.
    #[must_use]
    pub fn failed_check(&self) -> Option<&str> {
        self.failed_check
    }

    /// A "no credentials" rejection that redirects anonymous browser navigations to the login
    /// page when the layer has one. Only navigations: `Sec-Fetch-Mode: navigate`, or, without
    /// Fetch Metadata, a `GET`/`HEAD` whose `Accept` names `text/html`. Never when the request
    /// carries `Authorization` or `X-No-Redirect`. Everything else (a `fetch`, an API client)
    /// gets the 401.
    ///
    /// `login` overrides the layer's login page (a guard's own).
    pub(crate) fn missing_credentials(
        challenge: &Arc<Challenge>,
        headers: &HeaderMap,
        uri: &Uri,
        safe_method: bool,
        login: Option<&str>,
    ) -> Self {
        let mut rejection = Self::new(RejectionKind::MissingCredentials, challenge);
        if let Some(login) = login.or(challenge.login_redirect.as_deref()) {
            if wants_login_redirect(headers, safe_method) {
                rejection.location = Some(login_location(login, uri));
            }
        }
        rejection
    }

    /// A step-up rejection: for a browser (`browser`: a cookie session, no `X-No-Redirect`)
    /// with a login page, a 302 to `<login>?login=<return path>&prompt=login[&max_age=N]`;
    /// else the 401 challenge.
    pub(crate) fn step_up(
        kind: RejectionKind,
        challenge: &Arc<Challenge>,
        browser: bool,
        uri: &Uri,
        login: Option<&str>,
    ) -> Self {
        let mut rejection = Self::new(kind, challenge);
        let max_age = match &rejection.kind {
            RejectionKind::StepUp { max_age, .. } => *max_age,
            _ => None,
        };
        if let Some(login) = login
            .or(challenge.login_redirect.as_deref())
            .filter(|_| browser)
        {
            let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
            let target = target.strip_suffix('?').unwrap_or(target);
            let sep = if login.contains('?') { '&' } else { '?' };
            let mut location = format!(
                "{login}{sep}login={}&prompt=login",
                encode_return_path(target)
            );
            if let Some(max_age) = max_age {
                location.push_str(&format!("&max_age={max_age}"));
            }
            rejection.location = Some(location.into());
        }
        rejection
    }

    /// Why the request was refused.
    #[must_use]
    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    /// The response status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            RejectionKind::MissingCredentials | RejectionKind::StepUp { .. }
                if self.location.is_some() =>
            {
                StatusCode::FOUND
            }
            RejectionKind::MissingCredentials
            | RejectionKind::StepUp { .. }
            | RejectionKind::InvalidToken
            | RejectionKind::InvalidCredentials
            | RejectionKind::InvalidDpopProof => StatusCode::UNAUTHORIZED,
            RejectionKind::InvalidRequest => StatusCode::BAD_REQUEST,
            RejectionKind::Forbidden { .. } => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::HandlerPanicked | RejectionKind::MissingLayer => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The unmet requirements, one per entry, in declaration order (empty unless forbidden).
    #[must_use]
    pub fn reasons(&self) -> &[String] {
        match &self.kind {
            RejectionKind::Forbidden { reasons, .. } | RejectionKind::StepUp { reasons, .. } => {
                reasons
            }
            _ => &[],
        }
    }

    /// The login page this rejection redirects to, if any.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The default text/plain body.
    #[must_use]
    pub fn body_text(&self) -> String {
        match self.static_body() {
            Some(text) => text.to_owned(),
            None => self.reasons().join("\n"),
        }
    }

    /// The default body when it is the same for every rejection of this kind (all but the
    /// 403s and step-ups, whose body lists their reasons).
    fn static_body(&self) -> Option<&'static str> {
        Some(match &self.kind {
            RejectionKind::MissingCredentials => "authentication required",
            RejectionKind::InvalidToken => "invalid token",
            RejectionKind::InvalidCredentials => "invalid credentials",
            RejectionKind::InvalidDpopProof => "invalid DPoP proof",
            RejectionKind::InvalidRequest => "invalid request: more than one credential",
            RejectionKind::Forbidden { .. } | RejectionKind::StepUp { .. } => return None,
            RejectionKind::Unavailable => "authentication backend unavailable, try again later",
            RejectionKind::HandlerPanicked => "internal error",
            RejectionKind::MissingLayer => {
                "missing SessionLayer: add `.layer(SessionLayer::new(key))` to the router"
            }
        })
    }

    /// The `WWW-Authenticate` challenges of this rejection: `Bearer`, and `DPoP` when the layer
    /// takes DPoP; the error goes in the challenge of the scheme the request used.
    /// At most three: Bearer, DPoP and Basic (no `Vec`: most rejections are one bare challenge).
    fn challenges(&self) -> [Option<HeaderValue>; 3] {
        // The most common rejection, no credentials (or a refused cookie) without a redirect:
        // the bare challenge, and Basic's when the layer takes Basic; with DPoP, the general path.
        if let (RejectionKind::MissingCredentials, None, Some(c)) =
            (&self.kind, &self.location, &self.challenge)
        {
            if c.dpop.is_none() {
                return [c.bare.clone(), None, c.basic.clone()];
            }
        }
        let realm = self
            .challenge
            .as_ref()
            .map_or("Bearer realm=\"sealed-session\"", |c| c.header.as_str());
        let dpop = self.challenge.as_ref().and_then(|c| c.dpop.as_deref());
        let described = |error: &str, what: &str| match self.failed_check.map(description_text) {
            Some(check) if !check.is_empty() => format!(
                "error=\"{error}\", error_description=\"the {what} failed the {check} check\""
            ),
            _ => format!("error=\"{error}\""),
        };
        let error = match &self.kind {
            RejectionKind::MissingCredentials if self.location.is_none() => None,
            RejectionKind::InvalidCredentials => None,
            RejectionKind::InvalidToken => Some(described("invalid_token", "token")),
            RejectionKind::InvalidDpopProof if self.wants_dpop_nonce() => {
                Some(USE_DPOP_NONCE.to_owned())
            }
            RejectionKind::InvalidDpopProof => Some(described("invalid_dpop_proof", "DPoP proof")),
            RejectionKind::InvalidRequest => Some("error=\"invalid_request\"".to_owned()),
            RejectionKind::Forbidden {
                missing_scopes,
                required_scopes,
                ..
            } if !missing_scopes.is_empty() => {
                let scopes: Vec<&str> = required_scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|s| is_scope_token(s))
                    .collect();
                if scopes.is_empty() {
                    Some("error=\"insufficient_scope\"".to_owned())
                } else {
                    Some(format!(
                        "error=\"insufficient_scope\", scope=\"{}\"",
                        scopes.join(" ")
                    ))
                }
            }
            RejectionKind::StepUp {
                max_age,
                acr_values,
                ..
            } if self.location.is_none() => Some(step_up_error(*max_age, acr_values.as_deref())),
            _ => return [None, None, None],
        };
        let in_dpop = self.dpop_scheme || matches!(self.kind, RejectionKind::InvalidDpopProof);
        let bare = || match self.challenge.as_ref() {
            Some(c) => c.bare.clone(),
            None => Some(HeaderValue::from_static("Bearer realm=\"sealed-session\"")),
        };
        let bearer = match (&error, in_dpop && dpop.is_some()) {
            (Some(error), false) => HeaderValue::from_str(&format!("{realm}, {error}")).ok(),
            _ => bare(),
        };
        let unauthorized = self.status() == StatusCode::UNAUTHORIZED;
        // A 403 is about the token's rights, not how it was sent: no DPoP challenge then.
        let dpop = dpop
            .filter(|_| unauthorized)
            .and_then(|dpop| match (&error, in_dpop) {
                (Some(error), true) => HeaderValue::from_str(&format!("{dpop}, {error}")).ok(),
                _ => HeaderValue::from_str(dpop).ok(),
            });
        // With a Basic handler, every 401 names Basic too (RFC 7617 §2).
        let basic = self
            .challenge
            .as_ref()
            .and_then(|c| c.basic.clone())
            .filter(|_| unauthorized);
        [bearer, dpop, basic]
    }

    /// A DPoP proof refused for want of a current server nonce: answered `use_dpop_nonce` with a
    /// fresh `DPoP-Nonce`.
    fn wants_dpop_nonce(&self) -> bool {
        matches!(self.kind, RejectionKind::InvalidDpopProof)
            && self.failed_check == Some(DPOP_NONCE_CHECK)
    }

    /// The default response: the text/plain body (a static one needs no allocation), and no
    /// other header yet.
    fn default_response(&self) -> Response {
        let body = match self.static_body() {
            Some(text) => axum_core::body::Body::from(text),
            None => axum_core::body::Body::from(self.body_text()),
        };
        let mut response = Response::new(body);
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.body_text())
    }
}

impl std::error::Error for AuthRejection {}

/// A rejection made without the layer's settings (`AuthRejection::from(kind)` in a handler),
/// carried in its response's extensions: the layer renders it again with its own realm, body
/// hook and Basic challenge ([`RequestContext::finalize`](crate::context::RequestContext)).
#[derive(Clone)]
pub(crate) struct Unbound(pub(crate) AuthRejection);

impl AuthRejection {
    /// This rejection with the layer's settings. `navigation` is the request's URI when the
    /// request was a browser navigation without credentials: a "no credentials" rejection then
    /// becomes the layer's login redirect, as it would have been had the layer made it.
    pub(crate) fn bind(mut self, challenge: &Arc<Challenge>, navigation: Option<&Uri>) -> Self {
        if self.challenge.is_none() {
            self.challenge = Some(challenge.clone());
        }
        if let (RejectionKind::MissingCredentials, None, Some(uri), Some(login)) = (
            &self.kind,
            &self.location,
            navigation,
            challenge.login_redirect.as_deref(),
        ) {
            self.location = Some(login_location(login, uri));
        }
        self
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let unbound = (self.challenge.is_none()
            && !matches!(self.kind, RejectionKind::MissingLayer))
        .then(|| self.clone());
        let mut response = match self.challenge.as_ref().and_then(|c| c.body.as_ref()) {
            Some(shape) => {
                let mut response = shape(&self);
                // The app's body may carry any header: these follow the table, whatever it set.
                let headers = response.headers_mut();
                headers.remove(WWW_AUTHENTICATE);
                headers.remove(RETRY_AFTER);
                headers.remove(LOCATION);
                response
            }
            // Made here, with none of them.
            None => self.default_response(),
        };
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        for challenge in self.challenges().into_iter().flatten() {
            headers.append(WWW_AUTHENTICATE, challenge);
        }
        if let Some(location) = self
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            headers.insert(LOCATION, location);
        }
        if matches!(self.kind, RejectionKind::Unavailable) {
            let retry = self
                .challenge
                .as_ref()
                .map_or(HeaderValue::from_static("5"), |c| c.retry_after.clone());
            headers.insert(RETRY_AFTER, retry);
        }
        if self.wants_dpop_nonce() {
            let source = self.challenge.as_ref().and_then(|c| c.dpop_nonce.as_ref());
            if let Some(nonce) = source.and_then(|fresh| fresh()) {
                headers.insert("dpop-nonce", nonce);
            }
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response.extensions_mut().insert(self.kind);
        if let Some(unbound) = unbound {
            response.extensions_mut().insert(Unbound(unbound));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_keep_slashes_and_encode_the_rest() {
        assert_eq!(
            encode_return_path("/secret?x=1&y=2"),
            "/secret%3Fx%3D1%26y%3D2"
        );
        assert_eq!(encode_return_path("/a b/\u{e9}"), "/a%20b/%C3%A9");
    }

    #[test]
    fn scope_tokens_exclude_quotes_backslashes_and_spaces() {
        assert!(is_scope_token("repo:read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token(""));
    }

    #[test]
    fn the_step_up_challenge_follows_rfc_9470() {
        assert_eq!(
            step_up_error(Some(300), Some("a b")),
            "error=\"insufficient_user_authentication\", error_description=\"A more recent authentication is required\", max_age=\"300\", acr_values=\"a b\""
        );
        let bad_acr = step_up_error(None, Some("a\"b"));
        assert!(!bad_acr.contains("acr_values"), "{bad_acr}");
        assert!(bad_acr.contains("A different authentication level is required"));
        let r = AuthRejection::from(RejectionKind::StepUp {
            reasons: vec!["x".into()],
            max_age: Some(5),
            acr_values: None,
        });
        assert_eq!(r.status(), 401);
        assert_eq!(r.reasons(), ["x"]);
        let res = r.into_response();
        assert!(res.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"max_age="5""#));
    }

    #[test]
    fn missing_layer_is_a_500_that_names_the_layer() {
        let r = AuthRejection::from(RejectionKind::MissingLayer);
        assert_eq!(r.status(), 500);
        assert!(r.body_text().contains("SessionLayer"));
    }
}
