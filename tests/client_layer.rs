//! The client layer against the crate's own server: a `SessionLayer` API on 127.0.0.1 whose
//! bearer tokens expire (a `token_fn` with `Identity::with_expires_at`), called through
//! `ApiClient` (hyper-util over TCP) and through the layer over an in-process service.
#![cfg(feature = "client")]

mod client_support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use sealed_session::client::{
    token_source_fn, AccessToken, ApiClient, ApiKeyHeaders, CallError, Challenge, ClientAuthLayer,
    ClientError,
};
use sealed_session::{token_fn, ApiKeys, Identity, Key, RequireAuth, Session, SessionLayer};
use time::OffsetDateTime;
use tower::{Layer as _, Service as _, ServiceExt as _};

use client_support::{logs, serve};

/// The tokens the test "provider" issued: token -> (uid, expiry, scopes).
type Issued = Arc<Mutex<HashMap<String, (OffsetDateTime, Vec<String>)>>>;

async fn me(session: Session) -> String {
    session.uid().unwrap_or_default()
}

/// A protected API: `/me` (any token), `/admin` (scope `admin`), `/echo` (POST, echoes the body).
fn api(issued: Issued) -> Router {
    let tokens = token_fn(move |token: String| {
        let issued = issued.clone();
        async move {
            let found = issued.lock().unwrap().get(&token).cloned();
            Ok::<_, sealed_session::TokenError>(found.map(|(expires, scopes)| {
                Identity::new("alice")
                    .with_scopes(scopes)
                    .with_expires_at(expires)
            }))
        }
    });
    Router::new()
        .route("/me", get(me))
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireAuth::scope("admin")),
        )
        .route(
            "/echo",
            post(|_s: Session, body: String| async move { body }),
        )
        .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens))
}

/// A token source that mints `tok-<n>-<random>` valid for `lifetime` with `scopes`, and counts.
fn minting(
    issued: Issued,
    lifetime: Duration,
    scopes: &[&str],
    calls: Arc<AtomicUsize>,
) -> ClientAuthLayer {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    ClientAuthLayer::new(token_source_fn(move || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let secret = format!("tok-{n}-{:016x}", rand_u64());
        let expires = OffsetDateTime::now_utc() + lifetime;
        issued
            .lock()
            .unwrap()
            .insert(secret.clone(), (expires, scopes.clone()));
        async move { Ok(AccessToken::bearer(secret).with_expires_in(lifetime)) }
    }))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(42);
    h.finish()
}

fn secrets(issued: &Issued) -> Vec<String> {
    issued.lock().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn keeps_working_across_token_expiry() {
    let log = logs();
    let issued = Issued::default();
    let addr = serve(api(issued.clone())).await;
    let calls = Arc::new(AtomicUsize::new(0));
    // 2-second tokens: the layer replaces them at half-life (1 s) under its 60-second margin.
    let layer = minting(
        issued.clone(),
        Duration::from_secs(2),
        &["read"],
        calls.clone(),
    );
    let api = ApiClient::new(&format!("http://{addr}/"), layer.clone()).unwrap();

    let res = api.get("/me").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "alice");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(layer.authenticated());
    // Still fresh: no new token.
    assert_eq!(api.get("/me").await.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Past the first token's expiry, the client replaced it before sending.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(!layer.authenticated());
    let res = api.get("/me").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.body());
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The server forgets every token (revoked, or expired early): 401 invalid_token, one new
    // token, one retry.
    issued.lock().unwrap().clear();
    let res = api.get("/me").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    log.assert_clean(
        &secrets(&issued)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
}

#[tokio::test]
async fn invalid_token_with_a_fresh_token_refreshes_once_retries_once_then_gives_the_401() {
    let log = logs();
    let issued = Issued::default();
    let addr = serve(api(issued.clone())).await;
    let calls = Arc::new(AtomicUsize::new(0));
    // A source whose tokens the server never accepts (not registered).
    let c = calls.clone();
    let layer = ClientAuthLayer::new(token_source_fn(move || {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(AccessToken::bearer(format!("unknown-token-{n}"))
                .with_expires_in(Duration::from_secs(3600)))
        }
    }));
    let api = ApiClient::new(&format!("http://{addr}"), layer).unwrap();
    let res = api.get("me").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.extensions().get::<Challenge>().expect("challenge");
    assert!(challenge.is_invalid_token());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one refresh, no loop");
    log.assert_clean(&["unknown-token-0", "unknown-token-1"]);
}

#[tokio::test]
async fn insufficient_scope_is_not_retried_and_names_the_scope() {
    let issued = Issued::default();
    let addr = serve(api(issued.clone())).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = minting(
        issued.clone(),
        Duration::from_secs(3600),
        &["read"],
        calls.clone(),
    );
    let api = ApiClient::new(&format!("http://{addr}"), layer).unwrap();
    let res = api.get("admin").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.extensions().get::<Challenge>().expect("challenge");
    assert!(challenge.is_insufficient_scope());
    assert_eq!(challenge.scopes(), ["admin"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no refresh on 403");
}

#[tokio::test]
async fn replays_a_post_body_on_retry() {
    let issued = Issued::default();
    let addr = serve(api(issued.clone())).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = minting(
        issued.clone(),
        Duration::from_secs(3600),
        &[],
        calls.clone(),
    );
    let api = ApiClient::new(&format!("http://{addr}"), layer).unwrap();
    assert_eq!(api.get("me").await.unwrap().status(), StatusCode::OK);
    issued.lock().unwrap().clear();
    let res = api
        .post_json("echo", &serde_json::json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), r#"{"n":1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The layer over an in-process service, for bodies `ApiClient` never sends.
#[tokio::test]
async fn a_stream_body_is_not_replayed_and_the_401_comes_back() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let layer = ClientAuthLayer::new(token_source_fn(move || {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok(AccessToken::bearer("never-accepted-token")) }
    }));
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let inner = tower::service_fn(
        move |_req: Request<http_body_util::combinators::BoxBody<Bytes, Infallible>>| {
            h.fetch_add(1, Ordering::SeqCst);
            async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(401)
                        .header(
                            "www-authenticate",
                            r#"Bearer realm="x", error="invalid_token""#,
                        )
                        .body(())
                        .unwrap(),
                )
            }
        },
    );
    let mut svc = layer.layer(inner);
    let req = Request::post("http://x/upload")
        .body(Full::new(Bytes::from("stream")).boxed())
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res
        .extensions()
        .get::<Challenge>()
        .unwrap()
        .is_invalid_token());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// 100 concurrent requests with a just-expired token: exactly one call to the source. (One
/// runtime thread: all 100 tasks are spawned before any runs, so all of them wait together.)
#[tokio::test(flavor = "current_thread")]
async fn a_hundred_concurrent_requests_make_one_refresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let layer = ClientAuthLayer::new(token_source_fn(move || {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            // The first token is already expired; the refresh takes a while.
            if n == 0 {
                return Ok(AccessToken::bearer("expired-token-0")
                    .with_expires_at(std::time::SystemTime::UNIX_EPOCH));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(AccessToken::bearer(format!("fresh-token-{n}"))
                .with_expires_in(Duration::from_secs(3600)))
        }
    }));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let inner = tower::service_fn(move |req: Request<Full<Bytes>>| {
        s.lock()
            .unwrap()
            .push(req.headers()["authorization"].to_str().unwrap().to_owned());
        async { Ok::<_, Infallible>(Response::new(())) }
    });
    let svc = layer.layer(inner);
    // Fetch the expired token first.
    assert_eq!(
        layer.access_token().await.unwrap().secret(),
        "expired-token-0"
    );
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let mut svc = svc.clone();
            tokio::spawn(async move {
                let req = Request::get("http://x/")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                svc.ready()
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), StatusCode::OK);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one initial fetch, one refresh"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|h| h == "Bearer fresh-token-1"));
}

/// A failing refresh: every waiting request gets the typed error from the one call; the next
/// request tries again.
#[tokio::test(flavor = "current_thread")]
async fn a_failing_refresh_fails_the_waiters_once_and_the_next_request_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (c, f) = (calls.clone(), fail.clone());
    let layer = ClientAuthLayer::new(token_source_fn(move || {
        c.fetch_add(1, Ordering::SeqCst);
        let fail = f.load(Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if fail {
                Err(ClientError::source_error("provider down"))
            } else {
                Ok(AccessToken::bearer("recovered-token"))
            }
        }
    }));
    let inner = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(()))
    });
    let svc = layer.layer(inner);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let mut svc = svc.clone();
            tokio::spawn(async move {
                let req = Request::get("http://x/")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                svc.ready()
                    .await
                    .unwrap()
                    .call(req)
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(CallError::Token(ClientError::Source { message })) => {
                assert_eq!(message, "provider down");
                errors += 1;
            }
            other => panic!("expected the token error, got {other:?}"),
        }
    }
    assert_eq!(errors, 100);
    let after_storm = calls.load(Ordering::SeqCst);
    assert_eq!(after_storm, 1, "one call for 100 waiters, no stampede");
    // The next request tries again, and succeeds once the provider is back.
    fail.store(false, Ordering::SeqCst);
    let mut one = svc.clone();
    let req = Request::get("http://x/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        one.ready().await.unwrap().call(req).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(calls.load(Ordering::SeqCst), after_storm + 1);
}

/// API keys (Bitfount's id + key pair) go on every request, unchanged.
#[tokio::test]
async fn api_key_headers_reach_the_server() {
    let log = logs();
    let router = Router::new()
        .route(
            "/keys",
            get(|headers: http::HeaderMap| async move {
                format!(
                    "{}:{}",
                    headers
                        .get("x-api-key-id")
                        .map_or("-", |v| v.to_str().unwrap()),
                    headers.get("x-api-key").map_or(0, |v| v.len())
                )
            }),
        )
        .route("/me", get(me))
        .layer(SessionLayer::new(Key::generate()).with_token_handler(
            ApiKeys::new().with_token("bearer-api-key-123", Identity::new("ci")),
        ));
    let addr = serve(router).await;
    let keys = ApiKeyHeaders::id_and_key("key-id-7", "api-key-secret-value").unwrap();
    let api = ApiClient::new(&format!("http://{addr}"), ClientAuthLayer::api_keys(keys)).unwrap();
    let res = api.get("keys").await.unwrap();
    assert_eq!(res.body(), "key-id-7:20");
    // A static bearer token through a closure source, against ApiKeys.
    let layer = ClientAuthLayer::new(token_source_fn(|| async {
        Ok(AccessToken::bearer("bearer-api-key-123"))
    }));
    let api = ApiClient::new(&format!("http://{addr}"), layer).unwrap();
    assert_eq!(api.get("me").await.unwrap().body(), "ci");
    log.assert_clean(&["api-key-secret-value", "bearer-api-key-123"]);
}

/// A source that cannot give a token: the caller gets the typed error, no request is sent.
#[tokio::test]
async fn login_required_reaches_the_caller() {
    let layer = ClientAuthLayer::new(token_source_fn(|| async {
        Err(ClientError::LoginRequired {
            reason: "refresh token expired".into(),
        })
    }));
    let api = ApiClient::new("http://127.0.0.1:9/", layer).unwrap();
    let err = api.get("me").await.unwrap_err();
    assert!(err.is_login_required(), "{err}");
}

/// A 401 without `error="invalid_token"` (a bare challenge, or none) is not a refresh signal.
#[tokio::test]
async fn a_401_without_invalid_token_is_not_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let layer = ClientAuthLayer::new(token_source_fn(move || {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok(AccessToken::bearer("some-token-value")) }
    }));
    for challenge in [
        Some(r#"Bearer realm="x""#),
        Some(r#"Basic realm="x""#),
        None,
    ] {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let inner = tower::service_fn(move |_req: Request<Full<Bytes>>| {
            h.fetch_add(1, Ordering::SeqCst);
            let mut res = Response::builder().status(401);
            if let Some(c) = challenge {
                res = res.header("www-authenticate", c);
            }
            async move { Ok::<_, Infallible>(res.body(()).unwrap()) }
        });
        let mut svc = layer.layer(inner);
        let req = Request::get("http://x/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{challenge:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
