//! The OAuth 2 resource server: an API that accepts access tokens from an identity provider.
//! Feature `jwt`.
//!
//! - [`JwtHandler`] verifies JWT access tokens (RFC 9068, RFC 8725) against the keys of one or
//!   more trusted [`Issuer`]s, from their discovery document, a JWKS URL or static keys, kept
//!   in the crate's one [`JwksCache`], and maps the claims to an
//!   [`Identity`](crate::Identity) with a [`ClaimMapping`] and an optional closure.
//! - [`IntrospectionHandler`] asks the provider about opaque tokens (RFC 7662).
//! - [`ProtectedResource`] serves the RFC 9728 metadata at
//!   `/.well-known/oauth-protected-resource`, so a client can discover where to get a token.
//! - [`DpopVerifier`] checks RFC 9449 DPoP proofs, with a [`ReplayCache`] for their `jti`;
//!   [`DpopSupport`] puts DPoP in the layer
//!   ([`SessionLayer::with_dpop`](crate::SessionLayer::with_dpop)).
//!
//! Both handlers are [`TokenHandler`](crate::TokenHandler)s: give one to
//! [`SessionLayer::with_token_handler`](crate::SessionLayer::with_token_handler), behind a
//! [`TokenCache`](crate::TokenCache) if you like (a cached token is still refused once its
//! `exp` passes). An invalid token is 401 `invalid_token`; a provider that cannot be reached is
//! 503 with `Retry-After`, never "anonymous".
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use sealed_session::jwt::{ClaimMapping, Issuer, JwtHandler};
//! use sealed_session::{Key, RequireAuth, SessionLayer};
//! use tower::ServiceExt as _;
//!
//! let tokens = JwtHandler::new(
//!     Issuer::new("https://login.example.com", "https://api.example.com")
//!         .with_mapping(ClaimMapping::new().with_roles_claim("realm_access.roles")),
//! );
//! let app = Router::new()
//!     .route("/reports", get(|| async { "reports" }).route_layer(RequireAuth::scope("reports:read")))
//!     .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens));
//!
//! let res = app.oneshot(Request::get("/reports").header("authorization", "Bearer not.a.jwt")
//!     .body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
//! # }
//! ```

mod claims;
mod dpop;
mod dpop_nonce;
mod handler;
mod introspection;
mod issuers;
mod mapping;
mod metadata;
mod support;

pub use crate::jwks::{JwksCache, JwksError};
pub use crate::transport::{
    HttpTransport, HyperTransport, TransportError, TransportErrorKind, MAX_RESPONSE_BODY,
};
pub use claims::JwtError;
pub use dpop::{
    bound_key, dpop_challenge, request_target, thumbprint, DpopError, DpopProof, DpopRequest,
    DpopVerifier, MemoryReplayCache, ReplayCache, ReplayError, DEFAULT_DPOP_ALGORITHMS,
    DEFAULT_PROOF_MAX_AGE, DEFAULT_REPLAY_CAPACITY, MAX_PROOF_LEN,
};
pub use dpop_nonce::{DpopNonces, DEFAULT_NONCE_PERIOD, MIN_NONCE_SECRET};
pub use handler::{JwtHandler, VerifiedToken, DEFAULT_MAX_JWT_LEN};
pub use introspection::{IntrospectionAuth, IntrospectionHandler, DEFAULT_INTROSPECTION_TIMEOUT};
pub use issuers::{Claims, Issuer, DEFAULT_ALGORITHMS, MIN_HMAC_SECRET};
pub use jsonwebtoken::Algorithm;

/// The allowance for clock differences with a provider or client, by default: 60 seconds.
pub(crate) const DEFAULT_SKEW_SECONDS: i64 = 60;
pub use mapping::ClaimMapping;
pub use metadata::{MetadataService, ProtectedResource, WELL_KNOWN_PATH};
pub use support::DpopSupport;
pub(crate) use support::{DpopCredentials, DpopOutcome};
