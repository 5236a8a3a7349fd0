//! Login and logout through an OAuth2 or OpenID Connect provider: asfquart's `/auth` endpoint,
//! done right. Feature `oauth`.
//!
//! [`OAuthLogin`] builds an [`AuthService`] that the app mounts at one path (`/auth` by
//! default), under its [`SessionLayer`](crate::SessionLayer). It answers asfquart's verbs:
//!
//! | request | answer |
//! |---|---|
//! | `GET /auth?login` or `?login=/path` (optional `&prompt=…&max_age=…`) | 302 to the provider when the user started it on this site (`Sec-Fetch-Site: same-origin` or `none`, or our `Origin`/`Referer` without Fetch Metadata); the flow state goes into a sealed, 15-minute, single-use cookie. Any other request gets a small page with a button that starts the login, so no other site can create a session without the user acting |
//! | `GET /auth?code=…&state=…` (the callback) | code exchange with PKCE, ID-token check, a fresh session, then 303 to `/path` |
//! | `POST /auth?logout` or `?logout=/path` | session cookie deleted, `Clear-Site-Data`, then 204 or 303 (with [`OAuthLogin::with_provider_logout`], 303 to the provider's end-session endpoint); needs `Sec-Fetch-Site: same-origin` or a matching `Origin` |
//! | `GET /auth` | the live session as JSON (cookie or bearer), or 404 |
//!
//! Return paths must be same-origin relative paths (400 otherwise). The callback URL is built
//! from the configured external base URL, never from the `Host` header. Flow state needs no
//! server memory, so any instance sharing the key can finish a flow another one started.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use sealed_session::oauth::{OAuthLogin, Provider};
//! use sealed_session::{Key, RequireAuth, SessionLayer};
//! use tower::ServiceExt as _;
//!
//! let provider = Provider::oidc("https://idp.example.com", "my-app")
//!     .with_client_secret("s3cret")
//!     .with_endpoints(
//!         "https://idp.example.com/authorize",
//!         "https://idp.example.com/token",
//!         "https://idp.example.com/jwks",
//!     );
//! let login = OAuthLogin::new(provider, "https://app.example.org")
//!     .with_identity(|answer| async move { Ok(answer.oidc_identity()) });
//! let app = Router::new()
//!     .route("/secret", get(|| async { "secret" }).route_layer(RequireAuth::authenticated()))
//!     .route_service(login.mount_path(), login.service().unwrap())
//!     .layer(SessionLayer::new(Key::generate()).with_login_redirect("/auth"));
//!
//! // An anonymous browser navigation is sent to log in, and will come back to /secret.
//! let visit = Request::get("/secret").header("sec-fetch-mode", "navigate");
//! let res = app.clone().oneshot(visit.body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FOUND);
//! assert_eq!(res.headers()["location"], "/auth?login=/secret");
//!
//! // A login start from another site (or unknown) gets a page with a button, nothing more.
//! let res = app.clone().oneshot(Request::get("/auth?login=/secret").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert!(res.headers().get("set-cookie").is_none());
//!
//! // Started on this site, it sends the browser to the provider, with PKCE and a flow cookie.
//! let start = Request::get("/auth?login=/secret").header("sec-fetch-site", "same-origin");
//! let res = app.oneshot(start.body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FOUND);
//! let to = res.headers()["location"].to_str().unwrap();
//! assert!(to.starts_with("https://idp.example.com/authorize?response_type=code&client_id=my-app"));
//! assert!(to.contains("code_challenge_method=S256"));
//! assert!(res.headers()["set-cookie"].to_str().unwrap().starts_with("__Host-auth-"));
//! # }
//! ```

mod answer;
mod exchange;
mod flow;
mod id_token;
mod provider;
mod return_path;
mod service;
// Shared with the `jwt` feature: compiled once, at the crate root.
use crate::transport;

pub use answer::{MapError, MfaPolicy, ProviderAnswer};
pub use provider::{
    ClientAuth, ClientSecret, DiscoveryError, OAuthConfigError, Protocol, Provider, ASF_OAUTH_BASE,
};
pub(crate) use service::LoginSeen;
pub use service::{
    AuthService, OAuthLogin, DEFAULT_FLOW_TTL, DEFAULT_HTTP_TIMEOUT, DEFAULT_MOUNT_PATH,
};
pub use transport::{
    HttpTransport, HyperTransport, TransportError, TransportErrorKind, MAX_RESPONSE_BODY,
};
