//! The resource server against a certified OpenID provider: `oidc-provider` 9.13.3 on
//! 127.0.0.1 (`tests/oauth/oidc-resource-provider.mjs`), for what the mock does not model:
//! RFC 9068 JWT access tokens for a resource indicator, opaque tokens checked by
//! introspection (RFC 7662), and DPoP-bound tokens (RFC 9449).
#![cfg(feature = "jwt")]

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::keys::{P256_A as KEY_1, P256_B as KEY_2};
use common::node::NodeProvider;
use common::{body, challenges, key};
use jsonwebtoken::{EncodingKey, Header};
use sealed_session::jwt::{
    DpopError, DpopVerifier, HttpTransport, HyperTransport, IntrospectionHandler, Issuer, JwtError,
    JwtHandler, MemoryReplayCache, ReplayCache,
};
use sealed_session::{RequireAuth, Session, SessionLayer, TokenCache};
use serde_json::{json, Value};
use sha2::Digest as _;
use tower::ServiceExt as _;

const JWT_API: &str = "https://api.example.org";
const OPAQUE_API: &str = "https://opaque.example.org";
const MACHINE: (&str, &str) = ("machine", "machine-secret-7c6d5e");
const INTROSPECTOR: (&str, &str) = ("api", "api-introspection-secret-1f2e");

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(StdDuration::from_secs(60), f)
        .await
        .expect("test deadline")
}

/// The provider (`tests/oauth/oidc-resource-provider.mjs`), killed by pid when dropped.
struct Op {
    issuer: String,
    transport: HyperTransport,
    _node: NodeProvider,
}

impl Op {
    async fn start() -> Self {
        let node = NodeProvider::start(
            "oidc-resource-provider.mjs",
            "oidc-provider",
            &["--lifetime", "120"],
            true,
        )
        .await;
        Self {
            issuer: node.issuer.clone(),
            transport: HyperTransport::new(),
            _node: node,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// A client-credentials token for `resource`, DPoP-bound to `dpop_key` when given.
    async fn token(&self, resource: &str, dpop_key: Option<(&str, &str, &str)>) -> Value {
        let url = self.url("/token");
        let form = format!(
            "grant_type=client_credentials&scope=read&resource={}",
            url_encode(resource)
        );
        let mut req = Request::post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    STANDARD.encode(format!("{}:{}", MACHINE.0, MACHINE.1))
                ),
            );
        if let Some(k) = dpop_key {
            req = req.header("dpop", proof(k, "POST", &url, None, now(), "token-request"));
        }
        let res = self
            .transport
            .send(req.body(form.into_bytes()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(res.body())
        );
        serde_json::from_slice(res.body()).unwrap()
    }
}

fn url_encode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A DPoP proof signed by `key` (RFC 9449 §4.2).
fn proof(
    key: (&str, &str, &str),
    htm: &str,
    htu: &str,
    token: Option<&str>,
    iat: i64,
    jti: &str,
) -> String {
    let der = STANDARD.decode(key.0).unwrap();
    let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
    h.typ = Some("dpop+jwt".to_owned());
    h.jwk = Some(
        serde_json::from_value(json!({"kty": "EC", "crv": "P-256", "x": key.1, "y": key.2}))
            .unwrap(),
    );
    let mut claims = json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat});
    if let Some(token) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
    }
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_ec_der(&der)).unwrap()
}

fn app(handler: impl sealed_session::TokenHandler) -> Router {
    Router::new()
        .route(
            "/reports",
            get(|s: Session| async move { s.uid().unwrap_or_default() })
                .route_layer(RequireAuth::scope("read")),
        )
        .layer(SessionLayer::new(key(3)).with_token_handler(handler))
}

async fn call(app: &Router, token: &str) -> Response<Body> {
    let req = Request::get("/reports")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn rfc_9068_access_tokens_for_a_resource_indicator() {
    within(async {
        let op = Op::start().await;
        // Keys by discovery; strict RFC 9068 mode: `typ: at+jwt`, `jti`, `client_id`, `iat`.
        let handler =
            JwtHandler::new(Issuer::new(op.issuer.clone(), JWT_API).with_strict_type(true));
        let app = app(handler.clone());
        let answer = op.token(JWT_API, None).await;
        let token = answer["access_token"].as_str().unwrap();
        let res = call(&app, token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, format!("{}#machine", op.issuer));
        let verified = handler.verify(token).await.unwrap();
        assert_eq!(verified.claims()["client_id"], "machine");
        // A token for the other resource is opaque: not a JWT, refused.
        let opaque = op.token(OPAQUE_API, None).await;
        let res = call(&app, opaque["access_token"].as_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // An API with another identifier refuses this provider's token for JWT_API.
        let other = JwtHandler::new(Issuer::new(
            op.issuer.clone(),
            "https://other-api.example.org",
        ));
        assert_eq!(other.verify(token).await.unwrap_err(), JwtError::Audience);
    })
    .await;
}

#[tokio::test]
async fn opaque_tokens_are_introspected() {
    within(async {
        let op = Op::start().await;
        let introspection = || {
            IntrospectionHandler::new(
                op.issuer.clone(),
                op.url("/token/introspection"),
                INTROSPECTOR.0,
                INTROSPECTOR.1,
            )
            .with_audience(OPAQUE_API)
        };
        let app = app(TokenCache::new(introspection()));
        let token = op.token(OPAQUE_API, None).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = call(&app, &token).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, format!("{}#machine", op.issuer));
        // An unknown token: `active: false`, 401.
        let res = call(&app, "made-up-opaque-token-1234567890").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        // A token for another audience is refused by the audience rule.
        let jwt = op.token(JWT_API, None).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(call(&app, &jwt).await.status(), StatusCode::UNAUTHORIZED);
        // Wrong client credentials at the endpoint: the backend refuses us, 503 (not 401).
        let wrong = IntrospectionHandler::new(
            op.issuer.clone(),
            op.url("/token/introspection"),
            "api",
            "wrong",
        )
        .with_audience(OPAQUE_API);
        let res = call(&self::app(wrong), &token).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        // The provider goes away: 503.
        let issuer = op.issuer.clone();
        let endpoint = op.url("/token/introspection");
        drop(op);
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        let gone = IntrospectionHandler::new(issuer, endpoint, INTROSPECTOR.0, INTROSPECTOR.1);
        let res = call(&self::app(gone), &token).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    })
    .await;
}

#[tokio::test]
async fn dpop_bound_tokens_need_their_proof() {
    within(async {
        let op = Op::start().await;
        let answer = op.token(JWT_API, Some(KEY_1)).await;
        assert_eq!(answer["token_type"], "DPoP");
        let token = answer["access_token"].as_str().unwrap().to_owned();
        let handler = JwtHandler::new(Issuer::new(op.issuer.clone(), JWT_API));

        // Presented as a plain bearer token, a DPoP-bound token is refused (RFC 9449 §7.2).
        assert_eq!(
            call(&app(handler.clone()), &token).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            handler.verify(&token).await.unwrap_err(),
            JwtError::DpopBound
        );

        let url = "https://api.example.org/reports";
        let shared: Arc<dyn ReplayCache> = Arc::new(MemoryReplayCache::new());
        let instance_a = DpopVerifier::new().with_shared_replay_cache(Arc::clone(&shared));
        let instance_b = DpopVerifier::new().with_shared_replay_cache(shared);

        // A valid proof.
        let good = proof(KEY_1, "GET", url, Some(&token), now(), "p-1");
        let verified = handler
            .verify_with_proof(&token, &good, "GET", url, &instance_a)
            .await
            .unwrap();
        assert_eq!(
            verified.identity().uid(),
            Some(format!("{}#machine", op.issuer).as_str())
        );
        // Replayed, to the same instance and to another one sharing the store.
        for verifier in [&instance_a, &instance_b] {
            let err = handler
                .verify_with_proof(&token, &good, "GET", url, verifier)
                .await
                .unwrap_err();
            assert_eq!(err, JwtError::Dpop(DpopError::Replayed));
        }
        let cases = [
            (
                proof(KEY_1, "POST", url, Some(&token), now(), "p-2"),
                DpopError::Method,
            ),
            (
                proof(
                    KEY_1,
                    "GET",
                    "https://api.example.org/admin",
                    Some(&token),
                    now(),
                    "p-3",
                ),
                DpopError::Url,
            ),
            (
                proof(KEY_1, "GET", url, Some("another-token"), now(), "p-4"),
                DpopError::TokenHash,
            ),
            (
                proof(KEY_1, "GET", url, Some(&token), now() - 3600, "p-5"),
                DpopError::IssuedAt,
            ),
            (
                proof(KEY_2, "GET", url, Some(&token), now(), "p-6"),
                DpopError::Binding,
            ),
        ];
        for (p, error) in cases {
            let err = handler
                .verify_with_proof(&token, &p, "GET", url, &instance_a)
                .await
                .unwrap_err();
            assert_eq!(err, JwtError::Dpop(error.clone()), "{error:?}");
            assert_eq!(err.check(), "dpop");
        }
        // An unbound token presented with a proof.
        let unbound = op.token(JWT_API, None).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let p = proof(KEY_1, "GET", url, Some(&unbound), now(), "p-7");
        assert_eq!(
            handler
                .verify_with_proof(&unbound, &p, "GET", url, &instance_a)
                .await
                .unwrap_err(),
            JwtError::NotBound
        );
    })
    .await;
}

/// Every `WWW-Authenticate` value of a response.
async fn send(app: &Router, authorization: &str, proof: Option<&str>) -> Response<Body> {
    let mut req = Request::get("/reports").header(header::AUTHORIZATION, authorization);
    if let Some(proof) = proof {
        req = req.header("dpop", proof);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn dpop_through_the_layer() {
    use sealed_session::jwt::DpopSupport;
    within(async {
        let op = Op::start().await;
        let token = op.token(JWT_API, Some(KEY_1)).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let unbound = op.token(JWT_API, None).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let handler = JwtHandler::new(Issuer::new(op.issuer.clone(), JWT_API));
        let shared: Arc<dyn ReplayCache> = Arc::new(MemoryReplayCache::new());
        let instance = |required: bool| {
            let dpop = DpopSupport::new(handler.clone(), "https://api.example.org")
                .with_verifier(DpopVerifier::new().with_shared_replay_cache(Arc::clone(&shared)))
                .required(required);
            Router::new()
                .route(
                    "/reports",
                    get(|s: Session| async move { s.uid().unwrap_or_default() })
                        .route_layer(RequireAuth::scope("read")),
                )
                .layer(
                    SessionLayer::new(key(3))
                        .with_token_handler(handler.clone())
                        .with_dpop(dpop),
                )
        };
        let (a, b) = (instance(false), instance(false));
        let url = "https://api.example.org/reports";
        let scheme = format!("DPoP {token}");
        let algs = "DPoP algs=\"ES256 RS256 PS256 EdDSA\"";

        // No credentials: both challenges.
        let res = a.clone().oneshot(Request::get("/reports").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenges(&res), ["Bearer realm=\"sealed-session\"", algs]);

        // A valid proof.
        let good = proof(KEY_1, "GET", url, Some(&token), now(), "layer-1");
        let res = send(&a, &scheme, Some(&good)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, format!("{}#machine", op.issuer));

        // Replayed, to the same instance and to another one sharing the store.
        for app in [&a, &b] {
            let res = send(app, &scheme, Some(&good)).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(
                challenges(&res),
                [
                    "Bearer realm=\"sealed-session\"".to_owned(),
                    format!("{algs}, error=\"invalid_dpop_proof\", error_description=\"the DPoP proof failed the replay check\"")
                ]
            );
        }

        // Proofs that do not fit the request or the token.
        let cases = [
            (proof(KEY_1, "POST", url, Some(&token), now(), "layer-2"), "htm"),
            (proof(KEY_1, "GET", "https://api.example.org/other", Some(&token), now(), "layer-3"), "htu"),
            (proof(KEY_1, "GET", url, Some("another-token"), now(), "layer-4"), "ath"),
            (proof(KEY_1, "GET", url, Some(&token), now() - 3600, "layer-5"), "iat"),
            (proof(KEY_2, "GET", url, Some(&token), now(), "layer-6"), "jkt"),
        ];
        for (p, check) in cases {
            let res = send(&a, &scheme, Some(&p)).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{check}");
            let www = challenges(&res).join(" | ");
            assert!(www.contains("error=\"invalid_dpop_proof\""), "{check}: {www}");
            assert!(www.contains(&format!("the DPoP proof failed the {check} check")), "{check}: {www}");
        }
        // No proof, or two.
        let res = send(&a, &scheme, None).await;
        assert!(challenges(&res).join(" ").contains("invalid_dpop_proof"));
        let req = Request::get("/reports")
            .header(header::AUTHORIZATION, &scheme)
            .header("dpop", &good)
            .header("dpop", &good)
            .body(Body::empty())
            .unwrap();
        let res = a.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(challenges(&res).join(" ").contains("invalid_dpop_proof"));

        // The bound token as a plain bearer token: refused (RFC 9449 §7.2).
        let res = send(&a, &format!("Bearer {token}"), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenges(&res)[0],
            "Bearer realm=\"sealed-session\", error=\"invalid_token\", error_description=\"the token failed the cnf check\""
        );
        // An unbound token with the DPoP scheme: the error is in the DPoP challenge.
        let p = proof(KEY_1, "GET", url, Some(&unbound), now(), "layer-7");
        let res = send(&a, &format!("DPoP {unbound}"), Some(&p)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenges(&res)[1],
            format!("{algs}, error=\"invalid_token\", error_description=\"the token failed the cnf check\"")
        );
        // Unbound bearer tokens pass unless DPoP is required.
        assert_eq!(send(&a, &format!("Bearer {unbound}"), None).await.status(), StatusCode::OK);
        let strict = instance(true);
        let res = send(&strict, &format!("Bearer {unbound}"), None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(challenges(&res)[0].contains("the token failed the dpop check"));
        let p = proof(KEY_1, "GET", url, Some(&token), now(), "layer-8");
        assert_eq!(send(&strict, &scheme, Some(&p)).await.status(), StatusCode::OK);
    })
    .await;
}
