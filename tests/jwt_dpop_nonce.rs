//! DPoP server nonces (RFC 9449 §9, `use_dpop_nonce`) through real Routers: a proof without a
//! current nonce is refused with 401, `error="use_dpop_nonce"` in the `DPoP` challenge and a
//! fresh `DPoP-Nonce`; a proof made with it passes, on this instance and on another with the
//! same nonce secret (no store); the previous window's nonce is accepted, an older one is not;
//! an instance with another secret refuses them. Access tokens and proofs are made in the test
//! (ES256, static keys).
#![cfg(feature = "jwt")]

mod common;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::keys::{P256_A, P256_B};
use common::{body, challenges, key};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use sealed_session::jwt::{thumbprint, DpopNonces, DpopSupport, Issuer, JwtHandler};
use sealed_session::testing::ManualClock;
use sealed_session::{Session, SessionLayer};
use serde_json::{json, Value};
use sha2::Digest as _;
use tower::ServiceExt as _;

const ISSUER: &str = "https://login.example.org";
const API: &str = "https://api.example.org";
const URL: &str = "https://api.example.org/reports";
const SECRET: &[u8] = b"the DPoP nonce secret every instance shares";

/// The issuer's signing key and the client's proof key.
const ISSUER_KEY: (&str, &str, &str) = P256_B;
const CLIENT_KEY: (&str, &str, &str) = P256_A;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn public(key: (&str, &str, &str)) -> Value {
    json!({"kty": "EC", "crv": "P-256", "x": key.1, "y": key.2})
}

fn sign(key: (&str, &str, &str), header: Header, claims: &Value) -> String {
    let der = STANDARD.decode(key.0).unwrap();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&der)).unwrap()
}

/// An access token bound to the client's key (`cnf.jkt`).
fn access_token() -> String {
    let jkt = thumbprint(&serde_json::from_value(public(CLIENT_KEY)).unwrap()).unwrap();
    let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some("issuer-1".to_owned());
    let claims = json!({"iss": ISSUER, "aud": API, "sub": "machine", "iat": now(),
        "exp": now() + 600, "scope": "read", "cnf": {"jkt": jkt}});
    sign(ISSUER_KEY, h, &claims)
}

/// A DPoP proof for `GET /reports` with `token`, and `nonce` if given.
fn proof(token: &str, jti: &str, nonce: Option<&str>, htm: &str) -> String {
    let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
    h.typ = Some("dpop+jwt".to_owned());
    h.jwk = Some(serde_json::from_value(public(CLIENT_KEY)).unwrap());
    let mut claims = json!({"jti": jti, "htm": htm, "htu": URL, "iat": now(),
        "ath": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))});
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    sign(CLIENT_KEY, h, &claims)
}

fn handler() -> JwtHandler {
    let mut jwk = public(ISSUER_KEY);
    jwk["kid"] = json!("issuer-1");
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let keys: JwkSet = serde_json::from_value(json!({"keys": [jwk]})).unwrap();
    JwtHandler::new(Issuer::new(ISSUER, API).with_keys(keys))
}

/// One app instance; `nonces` as configured (or none).
fn instance(nonces: Option<DpopNonces>) -> Router {
    let tokens = handler();
    let mut dpop = DpopSupport::new(tokens.clone(), API);
    if let Some(nonces) = nonces {
        dpop = dpop.with_nonces(nonces);
    }
    Router::new()
        .route(
            "/reports",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .layer(
            SessionLayer::new(key(3))
                .with_token_handler(tokens)
                .with_dpop(dpop),
        )
}

async fn send(app: &Router, token: &str, proof: &str) -> Response<Body> {
    let req = Request::get("/reports")
        .header(header::AUTHORIZATION, format!("DPoP {token}"))
        .header("dpop", proof)
        .body(Body::empty())
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), app.clone().oneshot(req))
        .await
        .expect("no request hangs")
        .unwrap()
}

fn nonce_of(res: &Response<Body>) -> Option<String> {
    res.headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned())
}

const USE_NONCE: &str = "DPoP algs=\"ES256 RS256 PS256 EdDSA\", error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"";

/// Asserts the `use_dpop_nonce` answer and returns its fresh nonce.
fn assert_use_nonce(res: &Response<Body>) -> String {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(res),
        ["Bearer realm=\"sealed-session\"", USE_NONCE],
        "the error is in the DPoP challenge only"
    );
    nonce_of(res).expect("a fresh DPoP-Nonce")
}

#[tokio::test]
async fn a_proof_without_a_current_nonce_gets_use_dpop_nonce_and_one_to_retry_with() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let nonces = || DpopNonces::new(SECRET).unwrap().with_clock(clock.clone());
    // Two instances with the same secret, no store between them.
    let (a, b) = (instance(Some(nonces())), instance(Some(nonces())));
    let token = access_token();

    // The first request has no nonce: 401 use_dpop_nonce, with one to use.
    let res = send(&a, &token, &proof(&token, "p-1", None, "GET")).await;
    let nonce = assert_use_nonce(&res);
    assert_eq!(nonce.len(), 43);

    // The retry with it passes, and so does a proof for the other instance.
    let res = send(&a, &token, &proof(&token, "p-2", Some(&nonce), "GET")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, format!("{ISSUER}#machine"));
    let res = send(&b, &token, &proof(&token, "p-3", Some(&nonce), "GET")).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "instances agree without a store"
    );

    // A made-up nonce: refused, with the current one.
    let res = send(
        &b,
        &token,
        &proof(&token, "p-4", Some("made-up-nonce"), "GET"),
    )
    .await;
    assert_eq!(assert_use_nonce(&res), nonce);

    // The next window: a new nonce is handed out, the previous one still passes (grace).
    clock.advance(time::Duration::minutes(5));
    let res = send(&a, &token, &proof(&token, "p-5", Some(&nonce), "GET")).await;
    assert_eq!(res.status(), StatusCode::OK, "the previous window's nonce");
    let res = send(&a, &token, &proof(&token, "p-6", None, "GET")).await;
    let second = assert_use_nonce(&res);
    assert_ne!(second, nonce);

    // Two windows on: the first nonce is refused, the answer carries the current one.
    clock.advance(time::Duration::minutes(5));
    let res = send(&b, &token, &proof(&token, "p-7", Some(&nonce), "GET")).await;
    let third = assert_use_nonce(&res);
    assert_ne!(third, second);
    let res = send(&b, &token, &proof(&token, "p-8", Some(&third), "GET")).await;
    assert_eq!(res.status(), StatusCode::OK);

    // An instance with another secret refuses these nonces.
    let other = instance(Some(
        DpopNonces::new(b"another secret, of at least thirty-two bytes")
            .unwrap()
            .with_clock(clock.clone()),
    ));
    let res = send(&other, &token, &proof(&token, "p-9", Some(&third), "GET")).await;
    assert_ne!(assert_use_nonce(&res), third);
}

#[tokio::test]
async fn other_proof_failures_stay_invalid_dpop_proof_and_nonces_are_opt_in() {
    let nonces = DpopNonces::new(SECRET).unwrap();
    let current = nonces.current();
    let with = instance(Some(nonces));
    let token = access_token();
    // The proof's own checks come first: a wrong method is invalid_dpop_proof, without a nonce.
    let res = send(&with, &token, &proof(&token, "q-1", Some(&current), "POST")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenges(&res)[1].contains("error=\"invalid_dpop_proof\""),
        "{:?}",
        challenges(&res)
    );
    assert_eq!(nonce_of(&res), None);
    // A refused nonce does not use up the proof's jti: made again with the nonce, it passes.
    let res = send(&with, &token, &proof(&token, "q-2", None, "GET")).await;
    let nonce = assert_use_nonce(&res);
    let res = send(&with, &token, &proof(&token, "q-2", Some(&nonce), "GET")).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Without nonces: no nonce needed, none handed out.
    let without = instance(None);
    let res = send(&without, &token, &proof(&token, "q-3", None, "GET")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(nonce_of(&res), None);
    let res = send(&without, &token, &proof(&token, "q-3", None, "GET")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "replayed");
    assert_eq!(nonce_of(&res), None);
    assert!(challenges(&res)[1].contains("the DPoP proof failed the replay check"));
}
