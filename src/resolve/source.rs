//! Extra places a request may carry a token: a header (`X-API-Key`), an id header + key header
//! pair (Bitfount's `x-api-key-id` + `x-api-key`), or a plain cookie holding a token (ARENA's
//! MQTT token; never the sealed session cookie). Named with
//! [`SessionLayer::with_credential_source`](crate::SessionLayer::with_credential_source).
//!
//! What a source finds goes to the layer's token handler exactly as a bearer token would: the
//! same token68 parsing and length limit, at most one handler call per request, and the same
//! RFC 6750 answers (`invalid_token` 401, `invalid_request` 400, 503 when the handler cannot
//! answer). A request carrying credentials in two places (`Authorization` and a source, or two
//! sources) is refused with `invalid_request`. A query parameter is never a source: tokens in
//! URLs leak into logs and `Referer` (RFC 6750 §2.3).

use std::fmt;

use http::{HeaderMap, HeaderName};

use crate::parse::{is_tchar, is_token68, scan_cookies};

/// Where else, besides `Authorization: Bearer`, a request may carry a token.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{body::Body, http::{HeaderName, Request}, routing::get, Router};
/// use sealed_session::{ApiKeys, CredentialSource, Identity, Key, Session, SessionLayer};
/// use tower::ServiceExt;
///
/// let keys = ApiKeys::new().with_key("k1", "s3cret", Identity::new("bot")).unwrap();
/// let layer = SessionLayer::new(Key::generate())
///     .with_token_handler(keys)
///     .with_credential_source(CredentialSource::key_pair(
///         HeaderName::from_static("x-api-key-id"),
///         HeaderName::from_static("x-api-key"),
///     ));
/// let app = Router::new()
///     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
///     .layer(layer);
/// let req = Request::get("/me")
///     .header("x-api-key-id", "k1")
///     .header("x-api-key", "s3cret")
///     .body(Body::empty())
///     .unwrap();
/// assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSource(Kind);

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Header(HeaderName),
    KeyPair { id: HeaderName, key: HeaderName },
    Cookie(String),
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Header(name) => write!(f, "header {name}"),
            Kind::KeyPair { id, key } => write!(f, "key pair {id} + {key}"),
            Kind::Cookie(name) => write!(f, "cookie {name}"),
        }
    }
}

/// What the sources found in a request. No `Debug`: it holds the token.
pub(crate) enum Found<'h> {
    /// No source is present.
    Nothing,
    /// One token, borrowed from the request.
    Token(&'h str),
    /// An id + key pair, joined as `<id>.<key>`.
    Joined(String),
    /// A present source whose value is empty, too long or not token68, or an id that is not a
    /// key id.
    Malformed,
    /// A source repeated, two sources present, or half of a key pair.
    Ambiguous,
}

impl CredentialSource {
    /// A header holding the token alone (no scheme), such as `X-API-Key`.
    ///
    /// ```
    /// use axum::http::HeaderName;
    /// use sealed_session::CredentialSource;
    ///
    /// let source = CredentialSource::header(HeaderName::from_static("x-api-key"));
    /// assert_eq!(format!("{source:?}"), "header x-api-key");
    /// ```
    #[must_use]
    pub fn header(name: HeaderName) -> Self {
        Self(Kind::Header(name))
    }

    /// An id header and a key header, both required: the token handler sees `<id>.<key>`, the
    /// form [`ApiKeys::with_key`](crate::ApiKeys::with_key) reads. The id must be a key id (ASCII
    /// letters, digits, `-`, `_`; at most [`MAX_KEY_ID`](crate::MAX_KEY_ID) bytes).
    ///
    /// ```
    /// use axum::http::HeaderName;
    /// use sealed_session::CredentialSource;
    ///
    /// let bitfount = CredentialSource::key_pair(
    ///     HeaderName::from_static("x-api-key-id"),
    ///     HeaderName::from_static("x-api-key"),
    /// );
    /// assert_eq!(format!("{bitfount:?}"), "key pair x-api-key-id + x-api-key");
    /// ```
    #[must_use]
    pub fn key_pair(id: HeaderName, key: HeaderName) -> Self {
        Self(Kind::KeyPair { id, key })
    }

    /// A plain (not sealed) cookie holding a token, such as ARENA's MQTT token cookie. It must
    /// not be the session cookie's name; the layer checks when it is built.
    ///
    /// A browser sends the cookie with every request, so a request carrying it is a credential
    /// request: it never starts or ends the sealed cookie session.
    ///
    /// ```
    /// use sealed_session::CredentialSource;
    ///
    /// let arena = CredentialSource::cookie("mqtt_token");
    /// assert_eq!(format!("{arena:?}"), "cookie mqtt_token");
    /// ```
    #[must_use]
    pub fn cookie(name: impl Into<String>) -> Self {
        Self(Kind::Cookie(name.into()))
    }

    /// Why this source cannot be used beside the session cookie `session_cookie`, if it cannot.
    pub(crate) fn invalid(&self, session_cookie: &str) -> Option<&'static str> {
        let reserved =
            |name: &HeaderName| name == http::header::AUTHORIZATION || name == http::header::COOKIE;
        match &self.0 {
            Kind::Header(name) if reserved(name) => {
                Some("a header source cannot be Authorization or Cookie")
            }
            Kind::KeyPair { id, key } if reserved(id) || reserved(key) || id == key => {
                Some("a key pair needs two distinct headers, neither Authorization nor Cookie")
            }
            Kind::Cookie(name) if name.is_empty() || !name.bytes().all(is_tchar) => {
                Some("a cookie source's name must be RFC 9110 tchar")
            }
            Kind::Cookie(name) if name == session_cookie || is_chunk_of(name, session_cookie) => {
                Some("a cookie source cannot be the session cookie")
            }
            _ => None,
        }
    }

    /// Whether the source is present in `headers` at all, well-formed or not.
    fn is_present(&self, headers: &HeaderMap) -> bool {
        match &self.0 {
            Kind::Header(name) => headers.contains_key(name),
            Kind::KeyPair { id, key } => headers.contains_key(id) || headers.contains_key(key),
            Kind::Cookie(name) => scan_cookies(headers, name.as_bytes(), usize::MAX).present,
        }
    }

    fn read<'h>(&self, headers: &'h HeaderMap, max_len: usize) -> Found<'h> {
        match &self.0 {
            Kind::Header(name) => header_token(headers, name, max_len),
            Kind::KeyPair { id, key } => {
                match (
                    header_token(headers, id, max_len),
                    header_token(headers, key, max_len),
                ) {
                    (Found::Nothing, Found::Nothing) => Found::Nothing,
                    (Found::Token(id), Found::Token(key)) if crate::token::keys::is_key_id(id) => {
                        Found::Joined(format!("{id}.{key}"))
                    }
                    (Found::Token(_), Found::Token(_)) => Found::Malformed,
                    (Found::Nothing, _) | (_, Found::Nothing) => Found::Ambiguous,
                    (Found::Ambiguous, _) | (_, Found::Ambiguous) => Found::Ambiguous,
                    _ => Found::Malformed,
                }
            }
            Kind::Cookie(name) => {
                let scan = scan_cookies(headers, name.as_bytes(), max_len);
                match scan.values() {
                    [] if scan.present => Found::Malformed,
                    [] => Found::Nothing,
                    [token] if is_token68(token.as_bytes()) => Found::Token(token),
                    [_] => Found::Malformed,
                    _ => Found::Ambiguous,
                }
            }
        }
    }
}

/// Whether `name` is `<session>.<n>`, a chunk of a chunked session cookie.
fn is_chunk_of(name: &str, session: &str) -> bool {
    name.strip_prefix(session)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The token in the header `name`: exactly one field, token68, at most `max_len` bytes.
fn header_token<'h>(headers: &'h HeaderMap, name: &HeaderName, max_len: usize) -> Found<'h> {
    let mut fields = headers.get_all(name).iter();
    let Some(first) = fields.next() else {
        return Found::Nothing;
    };
    if fields.next().is_some() {
        return Found::Ambiguous;
    }
    let bytes = first.as_bytes();
    if bytes.len() > max_len || !is_token68(bytes) {
        return Found::Malformed;
    }
    std::str::from_utf8(bytes).map_or(Found::Malformed, Found::Token)
}

/// What `sources` find in `headers`: at most one may be present.
pub(crate) fn find<'h>(
    sources: &[CredentialSource],
    headers: &'h HeaderMap,
    max_len: usize,
) -> Found<'h> {
    let mut found = Found::Nothing;
    for source in sources {
        match source.read(headers, max_len) {
            Found::Nothing => {}
            _ if !matches!(found, Found::Nothing) => return Found::Ambiguous,
            other => found = other,
        }
    }
    found
}

/// Whether any of `sources` is present in `headers`, well-formed or not.
pub(crate) fn any_present(sources: &[CredentialSource], headers: &HeaderMap) -> bool {
    sources.iter().any(|s| s.is_present(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(*n, HeaderValue::from_static(v));
        }
        map
    }

    fn found(sources: &[CredentialSource], pairs: &[(&'static str, &'static str)]) -> String {
        let h = headers(pairs);
        match find(sources, &h, 16) {
            Found::Nothing => "nothing".into(),
            Found::Token(t) => format!("token {t}"),
            Found::Joined(t) => format!("joined {t}"),
            Found::Malformed => "malformed".into(),
            Found::Ambiguous => "ambiguous".into(),
        }
    }

    #[test]
    fn headers_pairs_and_cookies_are_read_strictly() {
        let api = [CredentialSource::header(HeaderName::from_static(
            "x-api-key",
        ))];
        assert_eq!(found(&api, &[]), "nothing");
        assert_eq!(found(&api, &[("x-api-key", "abc")]), "token abc");
        assert_eq!(found(&api, &[("x-api-key", "a b")]), "malformed");
        assert_eq!(found(&api, &[("x-api-key", "")]), "malformed");
        assert_eq!(
            found(&api, &[("x-api-key", "x".repeat(17).leak())]),
            "malformed"
        );
        assert_eq!(
            found(&api, &[("x-api-key", "a"), ("x-api-key", "a")]),
            "ambiguous"
        );

        let pair = [CredentialSource::key_pair(
            HeaderName::from_static("x-api-key-id"),
            HeaderName::from_static("x-api-key"),
        )];
        assert_eq!(
            found(&pair, &[("x-api-key-id", "k1"), ("x-api-key", "s")]),
            "joined k1.s"
        );
        assert_eq!(found(&pair, &[("x-api-key-id", "k1")]), "ambiguous");
        assert_eq!(found(&pair, &[("x-api-key", "s")]), "ambiguous");
        assert_eq!(
            found(&pair, &[("x-api-key-id", "k.1"), ("x-api-key", "s")]),
            "malformed"
        );

        let cookie = [CredentialSource::cookie("mqtt")];
        assert_eq!(found(&cookie, &[("cookie", "a=1; mqtt=tok")]), "token tok");
        assert_eq!(found(&cookie, &[("cookie", "mqtt=t\"k")]), "malformed");
        assert_eq!(found(&cookie, &[("cookie", "mqtt=a; mqtt=b")]), "ambiguous");
        assert_eq!(found(&cookie, &[("cookie", "mqttx=a")]), "nothing");

        let both = [api[0].clone(), cookie[0].clone()];
        assert_eq!(
            found(&both, &[("x-api-key", "a"), ("cookie", "mqtt=b")]),
            "ambiguous"
        );
    }

    #[test]
    fn sources_that_clash_with_the_layer_are_refused() {
        let s = "__Host-session";
        assert!(CredentialSource::header(http::header::AUTHORIZATION)
            .invalid(s)
            .is_some());
        assert!(CredentialSource::cookie(s).invalid(s).is_some());
        assert!(CredentialSource::cookie("__Host-session.2")
            .invalid(s)
            .is_some());
        assert!(CredentialSource::cookie("a b").invalid(s).is_some());
        assert!(CredentialSource::cookie("mqtt").invalid(s).is_none());
        let x = HeaderName::from_static("x");
        assert!(CredentialSource::key_pair(x.clone(), x)
            .invalid(s)
            .is_some());
    }
}
