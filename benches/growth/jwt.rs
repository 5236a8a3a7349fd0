//! The JWT rows: a bearer JWT checked by `JwtHandler` against static keys (no fetch), uncached
//! or through a warm `TokenCache`, behind `RequireAuth::scope("read")`. Tokens are made as in
//! `benches/jwt.rs`, with keys of this bench's own (`keys.rs`).

use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sealed_session::jwt::{Issuer, JwtHandler};
use sealed_session::{RequireAuth, Session, TokenCache, TokenHandler};
use serde_json::json;
use tokio::runtime::Runtime;

use crate::keys::{EC_DER, EC_X, EC_Y, ED_DER, ED_X, RSA_DER, RSA_E, RSA_N};
use crate::rows::{layer, Built};

const ISS: &str = "https://idp.example.com";
const AUD: &str = "https://api.example.com";

#[derive(Clone, Copy)]
pub(crate) enum Alg {
    Rs256,
    Es256,
    EdDsa,
}

impl Alg {
    fn kid(self) -> &'static str {
        match self {
            Self::Rs256 => "rs",
            Self::Es256 => "es",
            Self::EdDsa => "ed",
        }
    }
}

/// A token valid for a day, signed with `alg`'s key.
fn token(alg: Alg) -> String {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 86_400,
        "scope": "read write", "client_id": "bench"});
    let (algorithm, key) = match alg {
        Alg::Rs256 => (
            Algorithm::RS256,
            EncodingKey::from_rsa_der(&STANDARD.decode(RSA_DER).expect("base64")),
        ),
        Alg::Es256 => (
            Algorithm::ES256,
            EncodingKey::from_ec_der(&STANDARD.decode(EC_DER).expect("base64")),
        ),
        Alg::EdDsa => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&STANDARD.decode(ED_DER).expect("base64")),
        ),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(alg.kid().to_owned());
    jsonwebtoken::encode(&header, &claims, &key).expect("token")
}

fn keys() -> JwkSet {
    serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig", "n": RSA_N, "e": RSA_E},
        {"kty": "EC", "kid": "es", "alg": "ES256", "use": "sig", "crv": "P-256", "x": EC_X, "y": EC_Y},
        {"kty": "OKP", "kid": "ed", "alg": "EdDSA", "use": "sig", "crv": "Ed25519", "x": ED_X},
    ]}))
    .expect("jwks")
}

pub(crate) fn row(rt: &Runtime, alg: Alg, cached: bool) -> Built {
    let token = token(alg);
    let handler = JwtHandler::new(Issuer::new(ISS, AUD).with_keys(keys()));
    assert!(
        rt.block_on(handler.verify(&token)).is_ok(),
        "the handler accepts the bench's token"
    );
    let layer = layer(sealed_session::Key::generate());
    let layer = if cached {
        let cache = TokenCache::new(handler).with_ttl(time::Duration::hours(1));
        // Warm: every timed request is a hit.
        assert!(rt
            .block_on(cache.resolve(&token))
            .expect("resolve")
            .is_some());
        layer.with_token_handler(cache)
    } else {
        layer.with_token_handler(handler)
    };
    let router = Router::new()
        .route(
            "/",
            get(|session: Session| async move { session.uid().map_or("none", |_| "ok") })
                .route_layer(RequireAuth::scope("read")),
        )
        .layer(layer);
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("bearer header");
    Built::new(router, vec![vec![(header::AUTHORIZATION, bearer)]])
        .detail(format!(" (token {} B)", token.len()))
}
