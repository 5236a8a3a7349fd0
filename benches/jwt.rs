//! The cost of checking a JWT access token (issue 12): `JwtHandler` beside the floor
//! (`jsonwebtoken::decode` alone on the same token), for RS256 and ES256, alone and as a whole
//! request through an axum `Router` + `SessionLayer` + `RequireAuth`; and a cached JWT request
//! (`TokenCache` hit) beside the uncached `token_fn` over a `HashMap`.
//!
//! ```text
//! cargo bench --features jwt --bench jwt
//! ```
//!
//! Targets: the uncached overhead of `JwtHandler::verify` over the floor under 15 %; a cached
//! JWT request no dearer than the uncached `token_fn` request. Keys are static (no fetch); the
//! keys below were made for this bench only.
//!
//! Instruction counts (callgrind, noise-free; what `scripts/jwt_instructions.py` runs): with
//! `SEALED_SESSION_JWT_INSTRUCTIONS=<n>` the bench runs, for each variant (or the one named by
//! `SEALED_SESSION_JWT_ONLY`), `n` uncounted calls to warm it, then a batch of `n` and one of
//! `2n` calls, each one call of [`callgrind_counted`], announced on stdout as
//! `instructions-phase <id> <calls>`; each request is built in [`callgrind_uncounted`]. Per call
//! = (count(2n) − count(n)) / n. `SEALED_SESSION_JWT_INSTRUCTIONS=symbol` prints the two
//! symbols and the variant ids.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::routing::get;
use axum::Router;
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
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
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

fn handler() -> JwtHandler {
    JwtHandler::new(Issuer::new(ISS, AUD).with_keys(keys()))
}

fn floor_key(alg: Algorithm) -> DecodingKey {
    match alg {
        Algorithm::RS256 => DecodingKey::from_rsa_components(RSA_N, RSA_E).unwrap(),
        _ => DecodingKey::from_ec_components(EC_X, EC_Y).unwrap(),
    }
}

fn router(tokens: impl sealed_session::TokenHandler) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "ok" }).route_layer(RequireAuth::scope("read")),
        )
        .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens))
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

/// What one counted call does: a floor or a handler call, or one request through a router.
enum Work {
    Call(Box<dyn Fn(&Runtime) + Send + Sync>),
    Route(Router, HeaderValue),
}

/// Every variant of the instruction mode, by id: the floors and `JwtHandler::verify`, uncached
/// and cached requests, the `token_fn` request (the cached target) and the route with no layer.
fn instruction_variants(handler: &JwtHandler) -> Vec<(String, Work)> {
    let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
    let mut variants: Vec<(String, Work)> = Vec::new();
    for (name, alg, kid) in [
        ("rs256", Algorithm::RS256, "rs"),
        ("es256", Algorithm::ES256, "es"),
    ] {
        let t = token(alg, kid);
        let key = floor_key(alg);
        let mut validation = Validation::new(alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        let floor_token = t.clone();
        variants.push((
            format!("floor_{name}"),
            Work::Call(Box::new(move |_| {
                black_box(
                    jsonwebtoken::decode::<Map<String, Value>>(
                        black_box(&floor_token),
                        &key,
                        &validation,
                    )
                    .unwrap(),
                );
            })),
        ));
        let (verifier, verify_token) = (handler.clone(), t.clone());
        variants.push((
            format!("verify_{name}"),
            Work::Call(Box::new(move |rt| {
                black_box(
                    rt.block_on(verifier.verify(black_box(&verify_token)))
                        .unwrap(),
                );
            })),
        ));
        variants.push((
            format!("request_uncached_{name}"),
            Work::Route(router(handler.clone()), bearer(&t)),
        ));
    }
    let t = token(Algorithm::RS256, "rs");
    variants.push((
        "request_cached_rs256".into(),
        Work::Route(router(TokenCache::new(handler.clone())), bearer(&t)),
    ));
    variants.push((
        "request_token_fn_hashmap".into(),
        Work::Route(hashmap_router(), bearer(HASHMAP_TOKEN)),
    ));
    variants.push((
        "request_no_layer".into(),
        Work::Route(
            Router::new().route("/", get(|| async { "ok" })),
            bearer(HASHMAP_TOKEN),
        ),
    ));
    variants
}

const HASHMAP_TOKEN: &str = "hashmap-token-0123456789";

/// The uncached `token_fn` over a `HashMap`: the target of a cached JWT request.
fn hashmap_router() -> Router {
    let map: Arc<HashMap<String, Identity>> = Arc::new(HashMap::from([(
        HASHMAP_TOKEN.to_owned(),
        Identity::new("alice").with_scopes(["read", "write"]),
    )]));
    router(token_fn(move |token: String| {
        let map = Arc::clone(&map);
        async move { Ok(map.get(&token).cloned()) }
    }))
}

/// What callgrind counts: `calls` calls of `work`, each request built uncounted and its
/// response checked and dropped. Never inlined, so that callgrind finds it.
#[inline(never)]
fn callgrind_counted(rt: &Runtime, work: &Work, calls: u64) {
    match work {
        Work::Call(f) => {
            for _ in 0..calls {
                f(rt);
            }
        }
        Work::Route(app, auth) => rt.block_on(async {
            for _ in 0..calls {
                let req = callgrind_uncounted(auth);
                let res = app.clone().oneshot(req).await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                black_box(res);
            }
        }),
    }
}

/// Builds one request, not counted (see [`callgrind_counted`]).
#[inline(never)]
fn callgrind_uncounted(auth: &HeaderValue) -> Request<Body> {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = axum::http::Uri::from_static("/");
    req.headers_mut()
        .insert(header::AUTHORIZATION, auth.clone());
    req
}

/// The instruction mode (see the module docs).
fn instructions(rt: &Runtime, mode: &str) {
    let variants = instruction_variants(&handler());
    if mode == "symbol" {
        println!(
            "{} {}",
            std::any::type_name_of_val(&callgrind_counted),
            std::any::type_name_of_val(&callgrind_uncounted)
        );
        for (id, _) in &variants {
            println!("{id}");
        }
        return;
    }
    let n: u64 = mode
        .parse()
        .expect("SEALED_SESSION_JWT_INSTRUCTIONS: a number or `symbol`");
    let only = std::env::var("SEALED_SESSION_JWT_ONLY").ok();
    for (id, work) in &variants {
        if only.as_deref().is_some_and(|o| o != id) {
            continue;
        }
        // On a thread of its own: a fresh allocator arena, as in benches/layer.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                callgrind_counted(rt, work, n);
                for calls in [n, 2 * n] {
                    println!("instructions-phase {id} {calls}");
                    callgrind_counted(rt, work, calls);
                }
            });
        });
    }
}

fn main() {
    if let Ok(mode) = std::env::var("SEALED_SESSION_JWT_INSTRUCTIONS") {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        instructions(&rt, &mode);
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
    let handler = handler();
    for (name, alg, kid) in [
        ("rs256", Algorithm::RS256, "rs"),
        ("es256", Algorithm::ES256, "es"),
    ] {
        let t = token(alg, kid);
        let key = floor_key(alg);
        let mut validation = Validation::new(alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        assert!(jsonwebtoken::decode::<Map<String, Value>>(&t, &key, &validation).is_ok());
        c.bench_function(&format!("jwt/floor/{name}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Map<String, Value>>(black_box(&t), &key, &validation)
                    .unwrap()
            })
        });
        assert!(rt.block_on(handler.verify(&t)).is_ok());
        c.bench_function(&format!("jwt/verify/{name}"), |b| {
            b.iter(|| rt.block_on(handler.verify(black_box(&t))).unwrap())
        });
        let app = router(handler.clone());
        c.bench_function(&format!("jwt/request/uncached/{name}"), |b| {
            b.iter(|| request(&rt, &app, &t))
        });
    }
    let t = token(Algorithm::RS256, "rs");
    let cached = router(TokenCache::new(handler.clone()));
    request(&rt, &cached, &t);
    c.bench_function("jwt/request/cached/rs256", |b| {
        b.iter(|| request(&rt, &cached, &t))
    });
    let by_map = hashmap_router();
    c.bench_function("jwt/request/token_fn_hashmap", |b| {
        b.iter(|| request(&rt, &by_map, HASHMAP_TOKEN))
    });
    c.final_summary();
}
