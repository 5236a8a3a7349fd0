//! The client side: getting, refreshing and attaching tokens when calling a protected API.
//!
//! - [`ClientAuthLayer`] is a tower layer for any HTTP client (`Service<http::Request<B>>`). It
//!   adds `Authorization: Bearer <token>` (or fixed [`ApiKeyHeaders`]), replaces the token
//!   **before** it expires (a configurable margin), makes **one** call to the token source
//!   however many requests need a new token at once, and on a 401 whose challenge says
//!   `error="invalid_token"` gets a new token once and retries the request once, when its body
//!   can be replayed ([`ReplayBody`]). It never retries a 403: the caller finds the
//!   [`Challenge`] (with the missing scopes of `insufficient_scope`) in the response's
//!   extensions.
//! - A [`TokenSource`] says where tokens come from: the host's own code (Home Assistant's
//!   `AbstractAuth`, or [`token_source_fn`] for Bitfount's `get_token` hook), a refresh token
//!   ([`RefreshingSource`], which rotates it and hands each new [`TokenSet`] to the host), or
//!   the client-credentials grant ([`ClientCredentials`]).
//! - [`OAuthClient`] holds the client registration and runs the grants: the device flow
//!   ([`DeviceFlow`], RFC 8628), the browser flow with a loopback redirect and PKCE
//!   ([`LoopbackFlow`], RFC 8252), refresh, client credentials and revocation (RFC 7009).
//! - [`TokenSet`] is serde-serialisable: the library returns it, the host keeps it, or uses the
//!   optional [`FileStore`] (mode 0600; a set for another provider, client id, scopes or
//!   audience is discarded).
//! - [`ApiClient`] is the ready-made client: a base URL, an [`HttpClient`] (hyper-util) and the
//!   layer, for apps that do not want to assemble tower services.
//!
//! No token, code or secret appears in a log line, an error message or `Debug` output; the
//! `Authorization` header is marked sensitive.
//!
//! DPoP-bound tokens (RFC 9449) are sent with the `DPoP` scheme, but this module does not make
//! the per-request proof: add the `DPoP` header in a layer of your own.
//!
//! # Example
//!
//! An API that refuses the first token as expired: the layer gets a new one and retries once.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use sealed_session::client::{token_source_fn, AccessToken, ClientAuthLayer};
//! use tower::{Service as _, ServiceExt as _, Layer as _};
//!
//! // The host's token hook: t0, t1, t2, ...
//! let issued = Arc::new(AtomicUsize::new(0));
//! let counter = issued.clone();
//! let auth = ClientAuthLayer::new(token_source_fn(move || {
//!     let n = counter.fetch_add(1, Ordering::SeqCst);
//!     async move { Ok(AccessToken::bearer(format!("t{n}"))) }
//! }));
//!
//! // The API: t0 has expired.
//! let api = tower::service_fn(|req: Request<Full<Bytes>>| async move {
//!     let res = match req.headers()["authorization"].to_str().unwrap() {
//!         "Bearer t0" => Response::builder()
//!             .status(StatusCode::UNAUTHORIZED)
//!             .header("www-authenticate", r#"Bearer error="invalid_token""#)
//!             .body(String::new()),
//!         _ => Response::builder().body("hello".to_owned()),
//!     };
//!     Ok::<_, std::convert::Infallible>(res.unwrap())
//! });
//!
//! let mut client = auth.layer(api);
//! let req = Request::post("http://api.example/x").body(Full::new(Bytes::from("{}"))).unwrap();
//! let res = client.ready().await.unwrap().call(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "hello");
//! assert_eq!(issued.load(Ordering::SeqCst), 2); // t0, refused; t1
//! # }
//! ```

mod cache;
mod challenge;
mod client_credentials;
mod device;
mod error;
mod future;
mod http;
mod layer;
mod loopback;
mod provider;
mod refresh;
mod replay;
mod revoke;
mod service;
mod source;
mod store;
mod token;
mod transport;

pub use self::challenge::Challenge;
pub use self::client_credentials::ClientCredentials;
pub use self::device::{DeviceCode, DeviceFlow, MAX_DEVICE_CODE_LIFETIME};
pub use self::error::ClientError;
pub use self::future::ResponseFuture;
pub use self::http::{ApiClient, HttpClient, DEFAULT_MAX_RESPONSE_BODY};
pub use self::layer::{ClientAuthLayer, DEFAULT_REFRESH_MARGIN};
pub use self::loopback::{LoopbackFlow, DEFAULT_LOOPBACK_TIMEOUT};
pub use self::provider::{OAuthClient, DEFAULT_PROVIDER_TIMEOUT};
pub use self::refresh::{RefreshingSource, TokenUpdater};
pub use self::replay::ReplayBody;
pub use self::service::{CallError, ClientAuth};
pub use self::source::{token_source_fn, ApiKeyHeaders, TokenRequest, TokenSource, TokenSourceFn};
pub use self::store::FileStore;
pub use self::token::{AccessToken, TokenSet, TokenType};
pub use self::transport::{ServiceTransport, Transport, MAX_PROVIDER_BODY};
