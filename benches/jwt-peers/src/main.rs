//! JWT requests side by side, in one run (issue 12): sealed-session's `JwtHandler` (uncached and
//! behind `TokenCache`) in a `SessionLayer` + `RequireAuth::scope`, the same route with
//! `axum-jwt-auth`'s `Claims` extractor over a `LocalDecoder` (the scope checked in the handler,
//! as a user of it would), and the floor: `jsonwebtoken::decode` alone on the same token.
//!
//! ```text
//! cargo bench --manifest-path benches/jwt-peers/Cargo.toml
//! ```
//!
//! One process has one jsonwebtoken crypto provider: sealed-session installs aws-lc-rs, so
//! axum-jwt-auth verifies with aws-lc-rs here too (its own builds default to RustCrypto). The
//! comparison is of the middleware around the same signature check. Keys: the ones in
//! `benches/jwt.rs`, made for the benches only.
//!
//! For a profile, `JWT_PEERS_PROFILE=cached` (or `hashmap`) runs 20,000 requests of that variant
//! in `profile_loop` and exits, without criterion:
//!
//! ```text
//! JWT_PEERS_PROFILE=cached valgrind --tool=callgrind --collect-atstart=no \
//!   --toggle-collect='*profile_loop*' target/release/deps/peers-…
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use axum_jwt_auth::{Claims, Decoder, LocalDecoder};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use criterion::Criterion;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sealed_session::jwt::{Issuer, JwtHandler};
use sealed_session::{token_fn, Identity, Key, RequireAuth, SessionLayer, TokenCache};
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

const ISS: &str = "https://idp.example.com";
const AUD: &str = "https://api.example.com";
const RSA_DER: &str = "MIIEpAIBAAKCAQEAoT7RAdefMDzh803FbP3bdfH09clomz/an2h+gd9isQwCLNocncM5tvzL1KRpzWXDBWZs7ylcQ3Tp3Uk9pbO/yc/pB60Nm0RZAOa3zP6xsgKDhXn69J3MeoHCW54NVwn6BppckNiWRk6h+oHS5OiL0gCfDn2o9sIvC1uSA8y3J4cdsMlQa0APMV+4aKqVxTMASuxFAAIqi/2N6BCvOLPNIaXH/XKn/yxoVg6sXPop0Ytro8AXuiVdlwyuV3ia41iz9U91W32cENJBbRWPAowx+joRs70fEOp1jGpR0MdG5PnHCYEdfdm6zgw9cnzR9MlU1iSPrGKMc02x5VwsFik6dwIDAQABAoIBACHPeCf4vIpy2bYYwqL9//yVRZYcK3ESTJdMY+p7msghCnu5KHL0Mq/qBhuKdhz5j5EcTw8/DveeFkOuTdzm+fopPGW9pbK+/CKyPiwf48a9vDJKx5JvXCb7+nMXixiLIQAtced1Yt1PM6vBeSVClb7tHmz9cGZ9hTvOcamWTXleCFuGIavQiSHuPYRPJPrmvpVH74p+QwZ7gUrKAsq56Y61hNinMafll37e+gY45+30LjId21G8AMrAtMliYiQ/Svq2uRCa4nSNun+x3AkGNwBlg4s62/RY19sJquI47iHRizZLKQGAlTMzCVRVu/ONsorWjSNbkIVFXJd3lPH35JECgYEA0oiH5tj2E8kKOqJ7OTp8IIylSmomh+zc3WXtSFZYwfkeNQTnG53InIlmIe2a4P1DFM22SmPDEUMR8sZira/4Xj/KfYPJvSexAXzeqavgG128b3v7AjkKtQpD8uVOTlRtrKcQuKVCsUfllVa6XL58PdKkzDJmoPm+knW79/s6t30CgYEAxBFetlLyS9bHSaPSHivJNu02dU4tWeFJwIYZwoZ21TJ1GjbghzfvhmqWHl1I47tt7gYQG/WjMR2Xj3OXvg65lQwv6YLBVqGXTQbSydzohTgSG6pILqrZ+SSRCsGGATHOXazyvFDKxonCuIOA4N0mMNLR1+7P65u6FXkC94gxpAMCgYEAqx6193hZavN5EPeH2Jgk0//9SWLGNqzbSEjUeHtWYTMuzkFR5yx0Jme3T9RkkoLHx1z80bIMlzdAm2eMRUhGQ7TtzN8VVl2wjVkFUjuVSCkEREktWD0s6sGRQRgIcbpF+pNAEBSjBJ0/igaYK1HYghd4Q1CkAit8LmbrhT/6FbECgYEAvNDhfgHJNsHCr6ck7UtLfirZHATKZdkwlkhOPGgTvmLWJQWeGnoCoFa69MjvLejNB8Es+FAI9X7C+zHdevlhPSk8Zss194CsXVBp5F5qSgjiX2QQGWkNewH87/fIXhQh4VJxfGrtrF70d46kqWgvpCsSTLm93+7bOFyOP+UXsRMCgYBNmVpPdLvVZCcqsd0tHzaTWhWQK/Tnwif4DUBsx8T8NlBvudcPrLKDG/RusUp6GBlUNXsm1IAp75uBRfVQFvGNSD03Q/rAqPksmxeqT4ifQXc40QDyhYFmeYolhOztkt+8VA+h4e7ZormlnqLZIYHUGcZsSvgKeJ5Sf3Cld8LPfQ==";
const RSA_N: &str = "oT7RAdefMDzh803FbP3bdfH09clomz_an2h-gd9isQwCLNocncM5tvzL1KRpzWXDBWZs7ylcQ3Tp3Uk9pbO_yc_pB60Nm0RZAOa3zP6xsgKDhXn69J3MeoHCW54NVwn6BppckNiWRk6h-oHS5OiL0gCfDn2o9sIvC1uSA8y3J4cdsMlQa0APMV-4aKqVxTMASuxFAAIqi_2N6BCvOLPNIaXH_XKn_yxoVg6sXPop0Ytro8AXuiVdlwyuV3ia41iz9U91W32cENJBbRWPAowx-joRs70fEOp1jGpR0MdG5PnHCYEdfdm6zgw9cnzR9MlU1iSPrGKMc02x5VwsFik6dw";
const RSA_E: &str = "AQAB";
const EC_DER: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpRYqvcp9tgpdJYQcnHPk6yrTpu7zx0fuIF0TolJibAyhRANCAAQ2xlYaWYkxl8kCokVgyq5xrb+R0KFDoDMhn0xb1DF6/Kf/DDvZDHtbsmVZbcK5qCTu8R4yv83ylm2CVs7R2W3z";
const EC_X: &str = "NsZWGlmJMZfJAqJFYMquca2_kdChQ6AzIZ9MW9Qxevw";
const EC_Y: &str = "p_8MO9kMe1uyZVltwrmoJO7xHjK_zfKWbYJWztHZbfM";

fn token(alg: Algorithm, kid: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 86_400,
        "scope": "read write", "client_id": "bench"});
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&STANDARD.decode(RSA_DER).unwrap()),
        _ => EncodingKey::from_ec_der(&STANDARD.decode(EC_DER).unwrap()),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn keys() -> JwkSet {
    serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "use": "sig", "n": RSA_N, "e": RSA_E},
        {"kty": "EC", "kid": "es", "alg": "ES256", "use": "sig", "crv": "P-256", "x": EC_X, "y": EC_Y},
    ]}))
    .unwrap()
}

fn decoding_key(alg: Algorithm) -> DecodingKey {
    match alg {
        Algorithm::RS256 => DecodingKey::from_rsa_components(RSA_N, RSA_E).unwrap(),
        _ => DecodingKey::from_ec_components(EC_X, EC_Y).unwrap(),
    }
}

fn validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    validation
}

fn ours(tokens: impl sealed_session::TokenHandler) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(RequireAuth::scope("read")),
        )
        .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens))
}

/// axum-jwt-auth has no scope guard: the handler checks the `scope` claim.
async fn peer_handler(claims: Claims<Map<String, Value>>) -> Result<&'static str, StatusCode> {
    let scopes = claims
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("");
    if scopes.split(' ').any(|s| s == "read") {
        Ok("ok")
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

fn peer(alg: Algorithm) -> Router {
    let decoder: Decoder<Map<String, Value>> = Arc::new(
        LocalDecoder::builder()
            .keys(vec![decoding_key(alg)])
            .validation(validation(alg))
            .build()
            .unwrap(),
    );
    Router::new()
        .route("/", get(peer_handler))
        .with_state(decoder)
}

fn request(rt: &Runtime, app: &Router, token: &str) {
    let req = Request::get("/")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = rt.block_on(app.clone().oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    black_box(res);
}

/// The uncached `token_fn` over a `HashMap`: the target a cached JWT request should meet.
fn hashmap_router() -> Router {
    let map: Arc<HashMap<String, Identity>> = Arc::new(HashMap::from([(
        "hashmap-token-0123456789".to_owned(),
        Identity::new("alice").with_scopes(["read", "write"]),
    )]));
    ours(token_fn(move |token: String| {
        let map = Arc::clone(&map);
        async move { Ok(map.get(&token).cloned()) }
    }))
}

#[inline(never)]
fn profile_loop(rt: &Runtime, app: &Router, token: &str, n: usize) {
    for _ in 0..n {
        request(rt, app, token);
    }
}

fn main() {
    // The process's one provider (sealed-session would install the same on first use).
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    if let Ok(variant) = std::env::var("JWT_PEERS_PROFILE") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (app, t) = match variant.as_str() {
            "hashmap" => (hashmap_router(), "hashmap-token-0123456789".to_owned()),
            _ => {
                let handler = JwtHandler::new(Issuer::new(ISS, AUD).with_keys(keys()));
                (
                    ours(TokenCache::new(handler)),
                    token(Algorithm::RS256, "rs"),
                )
            }
        };
        request(&rt, &app, &t);
        profile_loop(&rt, &app, &t, 20_000);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handler = JwtHandler::new(Issuer::new(ISS, AUD).with_keys(keys()));
    for (name, alg, kid) in [
        ("rs256", Algorithm::RS256, "rs"),
        ("es256", Algorithm::ES256, "es"),
    ] {
        let t = token(alg, kid);
        let key = decoding_key(alg);
        let floor = validation(alg);
        assert!(jsonwebtoken::decode::<Map<String, Value>>(&t, &key, &floor).is_ok());
        c.bench_function(&format!("peers/{name}/floor_decode"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Map<String, Value>>(black_box(&t), &key, &floor).unwrap()
            })
        });
        let uncached = ours(handler.clone());
        c.bench_function(&format!("peers/{name}/sealed_session_uncached"), |b| {
            b.iter(|| request(&rt, &uncached, &t))
        });
        let cached = ours(TokenCache::new(handler.clone()));
        request(&rt, &cached, &t);
        c.bench_function(&format!("peers/{name}/sealed_session_cached"), |b| {
            b.iter(|| request(&rt, &cached, &t))
        });
        let other = peer(alg);
        c.bench_function(&format!("peers/{name}/axum_jwt_auth"), |b| {
            b.iter(|| request(&rt, &other, &t))
        });
    }
    // What a `TokenCache` hit pays to find its entry: SHA-256 of the whole token.
    let t = token(Algorithm::RS256, "rs");
    c.bench_function(
        &format!("peers/sha256_of_the_token_{}_bytes", t.len()),
        |b| b.iter(|| <sha2::Sha256 as sha2::Digest>::digest(black_box(t.as_bytes()))),
    );
    let by_map = hashmap_router();
    c.bench_function("peers/token_fn_hashmap", |b| {
        b.iter(|| request(&rt, &by_map, "hashmap-token-0123456789"))
    });
    c.final_summary();
}
