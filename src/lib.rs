//! Encrypted cookie sessions and bearer tokens in one tower layer, for axum.
//!
//! [`SessionLayer`] answers "who is calling, and what may they do?" for a browser holding a sealed
//! session cookie and for a script sending `Authorization: Bearer <token>`:
//!
//! - it opens the cookie (AES-256-GCM in the `cookie` crate's private-jar format, with a
//!   [`KeyRing`] for rotation) or resolves the token through the app's [`TokenHandler`];
//! - it enforces the idle timeout and the absolute max age from timestamps inside the seal;
//! - handlers take a [`Session`] (uid, roles, groups, metadata, scopes, typed values), or
//!   `Option<Session>`, and [`Auth`] to log in and out;
//! - [`RequireAuth`] turns unmet requirements into correct 401, 403 or redirect responses.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::{Request, StatusCode}, routing::{get, post}, Router};
//! use sealed_session::{ApiKeys, Auth, Identity, Key, RequireAuth, Session, SessionLayer};
//! use time::Duration;
//! use tower::ServiceExt;
//!
//! async fn me(session: Session) -> String {
//!     session.uid().unwrap_or_default()
//! }
//!
//! async fn login(auth: Auth) -> Result<&'static str, sealed_session::SessionError> {
//!     // ... check a password or an OAuth callback first ...
//!     auth.login(Identity::new("alice").with_scopes(["admin"]))?;
//!     Ok("welcome")
//! }
//!
//! # /*
//! let key = Key::try_from(&key_bytes[..])?; // at least 64 random bytes, kept secret
//! # */
//! # let key = Key::generate();
//! let sessions = SessionLayer::new(key)
//!     .with_token_handler(ApiKeys::new().with_token("ci-secret-token", Identity::new("ci").with_role_account(true)))
//!     .with_idle_timeout(Duration::days(7))
//!     .with_max_age(Duration::days(30));
//!
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(|| async { "admin" }).route_layer(RequireAuth::scope("admin")))
//!     .route("/login", post(login))
//!     .layer(sessions);
//!
//! // No credentials: 401 with a Bearer challenge.
//! let res = app.clone().oneshot(Request::get("/me").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert!(res.headers().contains_key("www-authenticate"));
//!
//! // Log in: the response carries the sealed cookie.
//! let res = app.clone().oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
//! let set_cookie = res.headers()["set-cookie"].to_str().unwrap();
//! assert!(set_cookie.starts_with("__Host-session="));
//! assert!(set_cookie.contains("; Secure; HttpOnly; SameSite=Lax"));
//! let cookie = set_cookie.split(';').next().unwrap().to_owned();
//!
//! // The cookie opens the guarded route.
//! let req = Request::get("/admin").header("cookie", &cookie).body(Body::empty()).unwrap();
//! assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
//!
//! // So does the bearer token, for /me.
//! let req = Request::get("/me").header("authorization", "Bearer ci-secret-token").body(Body::empty()).unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it enables |
//! |---|---|---|
//! | `cache` | yes | [`TokenCache`], a token-lookup cache (quick_cache) |
//! | `oauth` | no | the `/auth` login service ([`oauth`]) |
//! | `test-util` | no | the test kit (`testing`): mint cookies, a manual clock; for tests only |
//!
//! # Naming
//!
//! As in tower-http: [`SessionLayer`] makes the [`SessionManager`] service, whose future is
//! [`layer::ResponseFuture`]; the [`RequireAuth`] guard makes [`RequireAuthService`], whose
//! future is [`require::ResponseFuture`].
//!
//! # Security
//!
//! The cookie is encrypted and authenticated, and bound to its name and purpose; its expiry is
//! inside the seal. It is **stateless**: logging out deletes the browser's copy, but a copy taken
//! earlier stays valid until its idle timeout or max age. Removing a key from the ring ends every
//! session sealed with it (rotating, with the old key kept as a previous key, ends none).
//! See the README for the full list of guarantees and defaults.
//!
//! The cookie is opened, and the token handler called, only when something asks (an extractor
//! or a guard): a route that never asks pays almost nothing, and its response never carries a
//! session `Set-Cookie` (no renewal, no deletion of a bad cookie).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// No panics on the request path: every request byte is untrusted.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[macro_use]
mod macros;

mod basic;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod clock;
mod config;
mod context;
mod cookie;
#[cfg(feature = "csrf")]
#[cfg_attr(docsrs, doc(cfg(feature = "csrf")))]
pub mod csrf;
mod expiry;
mod extract;
mod future;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "oauth", feature = "jwt", feature = "client"))]
mod https;
mod identity;
#[cfg(any(feature = "oauth", feature = "jwt"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "oauth", feature = "jwt"))))]
pub mod jwks;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;
mod key;
pub mod layer;
#[cfg(feature = "oauth")]
#[cfg_attr(docsrs, doc(cfg(feature = "oauth")))]
pub mod oauth;
mod parse;
mod record;
pub mod rejection;
pub mod require;
mod resolve;
pub mod revocation;
mod rotation;
pub mod scope;
mod seal;
pub mod session;
pub mod store;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
pub mod token;
// The HTTP client of the `oauth` and `jwt` features (kept in `oauth/`, shared by both).
#[cfg(any(feature = "oauth", feature = "jwt"))]
#[path = "oauth/transport.rs"]
mod transport;

/// Re-exported so a [`TokenHandler`] can be implemented without a direct dependency.
pub use async_trait::async_trait;
pub use basic::{basic_fn, BasicError, BasicFn, BasicHandler, MAX_BASIC_PASSWORD, MAX_BASIC_USER};
#[cfg(feature = "cache")]
pub use cache::TokenCache;
pub use clock::{Clock, SystemClock};
pub use config::{ConfigError, SameSite};
pub use cookie::chunk::MAX_COOKIE_CHUNKS;
pub use cookie::CookieOverflow;
pub use extract::Auth;
pub use identity::{Identity, SCOPE_KEY};
pub use key::{Key, KeyError, KeyRing, MAX_PREVIOUS_KEYS, MIN_KEY_LEN};
pub use layer::{SessionLayer, SessionManager};
pub use record::{InvalidSessionId, SessionId};
pub use rejection::{AuthRejection, RejectionKind};
pub use require::{RequireAuth, RequireAuthService, Requirement};
pub use resolve::CookieRefusal;
pub use resolve::CredentialSource;
pub use revocation::{
    validator_fn, NotBefore, Privileges, Recheck, SessionValidator, Validation, ValidationError,
    ValidatorFn,
};
pub use rotation::LiveKeys;
pub use session::{Session, SessionError, SessionSource};
pub use token::keys::{InvalidKeyId, MAX_KEY_ID};
pub use token::{token_fn, ApiKeys, TokenError, TokenFn, TokenHandler};

/// The porting guide's examples (docs/porting.md), compiled and run as doctests.
#[cfg(all(doctest, feature = "client"))]
#[doc = include_str!("../docs/porting.md")]
struct PortingGuideDoctests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
