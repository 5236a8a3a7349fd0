//! HTTP Basic credentials for API clients: asfquart's LDAP path, apicrud's password login.
//!
//! Off by default: without a [`BasicHandler`], `Authorization: Basic …` is treated like any
//! scheme the layer does not know (anonymous, and the cookie is not read). With one, the layer
//! decodes the credentials and asks the handler, under the same timeout, concurrency limit and
//! panic guard as the token handler. A Basic session is per request: it never sets a cookie,
//! and [`Auth::login`](crate::Auth::login) refuses it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use sealed_session::{basic_fn, Identity, Key, Session, SessionLayer};
//! use tower::ServiceExt as _;
//!
//! let passwords = basic_fn(|user: String, password: String| async move {
//!     // A real handler verifies a password hash (in constant time) or binds to LDAP, and
//!     // rate-limits; a plain comparison is only for this example.
//!     Ok((user == "alice" && password == "correct horse").then(|| Identity::new("alice")))
//! });
//! let app = Router::new()
//!     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
//!     .layer(SessionLayer::new(Key::generate()).with_basic_handler(passwords));
//!
//! // "alice:correct horse", base64.
//! let req = Request::get("/me")
//!     .header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==")
//!     .body(Body::empty())
//!     .unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert!(res.headers().get("set-cookie").is_none());
//!
//! let req = Request::get("/me")
//!     .header("authorization", "Basic YWxpY2U6d3Jvbmc=") // alice:wrong
//!     .body(Body::empty())
//!     .unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::identity::Identity;

/// The longest user name accepted, in bytes.
pub const MAX_BASIC_USER: usize = 256;
/// The longest password accepted, in bytes.
pub const MAX_BASIC_PASSWORD: usize = 1024;

/// Maps a user name and password to an [`Identity`].
///
/// Return `Ok(None)` for wrong credentials (401), `Err` when the backend cannot answer (503).
/// The password is a secret: never log it, and compare hashes (argon2 and the like verify in
/// constant time), never plain strings. Rate limiting and lockout are the handler's job.
///
/// Meant for API clients. A browser that has been sent Basic credentials (by a login prompt or
/// a proxy in front of the app) resends them on its own, cross-site requests included, just
/// like a cookie: guard state-changing routes reached with Basic the way you guard cookie
/// routes (`Sec-Fetch-Site` / `Origin` checks).
#[async_trait]
pub trait BasicHandler: Send + Sync + 'static {
    /// Checks `user` and `password`.
    async fn verify(&self, user: &str, password: &str) -> Result<Option<Identity>, BasicError>;
}

/// The Basic backend (a password store, LDAP) could not answer. The client gets 503 with
/// `Retry-After`.
///
/// Its message goes to the `tracing` event, never to the client. Do not put the password in it.
///
/// ```
/// use sealed_session::BasicError;
///
/// let error = BasicError::new("directory unavailable");
/// assert_eq!(error.to_string(), "Basic backend error: directory unavailable");
/// ```
#[derive(Debug)]
pub struct BasicError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl BasicError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for BasicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Basic backend error: {}", self.message)
    }
}

impl std::error::Error for BasicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A [`BasicHandler`] made from an async closure; see [`basic_fn`].
#[derive(Clone)]
pub struct BasicFn<F>(F);

impl<F> fmt::Debug for BasicFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicFn")
    }
}

/// Makes a [`BasicHandler`] from an async closure taking the user name and password as owned
/// strings.
pub fn basic_fn<F, Fut>(f: F) -> BasicFn<F>
where
    F: Fn(String, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Identity>, BasicError>> + Send + 'static,
{
    BasicFn(f)
}

#[async_trait]
impl<F, Fut> BasicHandler for BasicFn<F>
where
    F: Fn(String, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Identity>, BasicError>> + Send + 'static,
{
    async fn verify(&self, user: &str, password: &str) -> Result<Option<Identity>, BasicError> {
        (self.0)(user.to_owned(), password.to_owned()).await
    }
}

/// What a `Basic` field holds. No `Debug`: the password is a secret.
pub(crate) enum BasicCredentials {
    /// Not a `Basic` field.
    NotBasic,
    /// `Basic` with something that is not canonical base64 of `user:password` in UTF-8, within
    /// the limits.
    Malformed,
    Valid {
        user: String,
        password: String,
    },
}

/// Reads a single `Authorization: Basic` field (the caller has checked there is exactly one).
pub(crate) fn parse(headers: &HeaderMap, max_len: usize) -> BasicCredentials {
    let Some(field) = headers.get(AUTHORIZATION) else {
        return BasicCredentials::NotBasic;
    };
    let (scheme, rest) = crate::parse::split_scheme(field.as_bytes());
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return BasicCredentials::NotBasic;
    }
    if rest.first() != Some(&b' ') {
        return BasicCredentials::Malformed;
    }
    let token = rest.trim_ascii_start();
    if token.is_empty() || token.len() > max_len || !crate::parse::is_token68(token) {
        return BasicCredentials::Malformed;
    }
    let Ok(decoded) = crate::parse::CANONICAL.decode(token) else {
        return BasicCredentials::Malformed;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return BasicCredentials::Malformed;
    };
    let Some((user, password)) = text.split_once(':') else {
        return BasicCredentials::Malformed;
    };
    if user.is_empty()
        || user.len() > MAX_BASIC_USER
        || password.len() > MAX_BASIC_PASSWORD
        || text.chars().any(char::is_control)
    {
        return BasicCredentials::Malformed;
    }
    BasicCredentials::Valid {
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

/// Whether the single `Authorization` field uses the `Basic` scheme.
pub(crate) fn is_basic(headers: &HeaderMap) -> bool {
    headers.get(AUTHORIZATION).is_some_and(|field| {
        crate::parse::split_scheme(field.as_bytes())
            .0
            .eq_ignore_ascii_case(b"basic")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse_value(value: &str) -> BasicCredentials {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        parse(&h, 4096)
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn well_formed_credentials_split_at_the_first_colon() {
        match parse_value(&format!("Basic {}", b64("alice:pa:ss"))) {
            BasicCredentials::Valid { user, password } => {
                assert_eq!(user, "alice");
                assert_eq!(password, "pa:ss");
            }
            _ => panic!("valid"),
        }
        assert!(matches!(
            parse_value(&format!("bAsIc {}", b64("bob:"))),
            BasicCredentials::Valid { .. }
        ));
    }

    #[test]
    fn malformed_credentials_are_refused() {
        for value in [
            "Basic ".to_owned(),
            "Basic !!!".to_owned(),
            format!("Basic {}", b64("no-colon")),
            format!("Basic {}", b64(":no-user")),
            format!("Basic {}", b64("ctl:\u{7}")),
            format!("Basic {}", b64(&format!("{}:x", "u".repeat(257)))),
            format!("Basic {}", b64("alice:pw").trim_end_matches('=')),
        ] {
            assert!(
                matches!(parse_value(&value), BasicCredentials::Malformed),
                "{value}"
            );
        }
        assert!(matches!(
            parse_value("Bearer abc"),
            BasicCredentials::NotBasic
        ));
        assert!(matches!(
            parse_value("Basicx abc"),
            BasicCredentials::NotBasic
        ));
        assert!(matches!(parse_value("Basic"), BasicCredentials::Malformed));
    }
}
