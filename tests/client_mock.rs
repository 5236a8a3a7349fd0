//! Refresh failures, scripted with `oauth2-mock-server` (tests/oauth/mock-server.mjs) on
//! 127.0.0.1: concurrency against a slow token endpoint, a provider that fails, refuses the
//! refresh token, answers too slowly, or goes away. Calls on the token endpoint are counted by
//! the mock.
#![cfg(feature = "client")]

mod client_support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use sealed_session::client::{
    CallError, ClientAuth, ClientAuthLayer, ClientError, OAuthClient, RefreshingSource, TokenSet,
};
use serde_json::json;
use tower::{Layer as _, Service as _, ServiceExt as _};

use client_support::{logs, NodeServer};

const CLIENT: &str = "sealed-cli";
const OLD_REFRESH: &str = "old-refresh-token-0001";
const OLD_ACCESS: &str = "old-access-token-0001";

type Inner = tower::util::ServiceFn<
    fn(Request<Full<Bytes>>) -> std::future::Ready<Result<Response<()>, Infallible>>,
>;

fn ok(_req: Request<Full<Bytes>>) -> std::future::Ready<Result<Response<()>, Infallible>> {
    std::future::ready(Ok(Response::new(())))
}

struct Setup {
    mock: NodeServer,
    layer: ClientAuthLayer,
    svc: ClientAuth<Inner>,
    updates: Arc<Mutex<Vec<TokenSet>>>,
}

/// A refreshing client whose access token has just expired, against the mock.
async fn setup(timeout: Duration) -> Setup {
    let mock = NodeServer::mock().await;
    let client = OAuthClient::new(mock.issuer.clone(), CLIENT, mock.url("/token"))
        .with_scopes(["openid"])
        .with_timeout(timeout);
    let expired = TokenSet::new(OLD_ACCESS, mock.issuer.clone(), CLIENT)
        .with_refresh_token(OLD_REFRESH)
        .with_scopes(["openid"])
        .with_expires_at(0);
    let updates = Arc::new(Mutex::new(Vec::new()));
    let sink = updates.clone();
    let source = RefreshingSource::new(client, expired)
        .with_token_updater(move |set| sink.lock().unwrap().push(set.clone()));
    let layer = ClientAuthLayer::new(source);
    let svc = layer.layer(tower::service_fn(ok as fn(_) -> _));
    Setup {
        mock,
        layer,
        svc,
        updates,
    }
}

async fn call(svc: &ClientAuth<Inner>) -> Result<StatusCode, CallError<Infallible>> {
    let mut svc = svc.clone();
    let req = Request::get("http://api/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    svc.ready().await?.call(req).await.map(|r| r.status())
}

async fn storm(
    svc: &ClientAuth<Inner>,
    n: usize,
) -> Vec<Result<StatusCode, CallError<Infallible>>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move { call(&svc).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// One runtime thread: the 100 tasks are all spawned before the first runs, so they all wait
/// on the same refresh.
#[tokio::test(flavor = "current_thread")]
async fn a_hundred_requests_with_an_expired_token_make_one_refresh_call() {
    let log = logs();
    let s = setup(Duration::from_secs(10)).await;
    s.mock
        .control("delay", json!({"path": "/token", "ms": 300}))
        .await;
    let results = storm(&s.svc, 100).await;
    assert!(results.iter().all(|r| matches!(r, Ok(StatusCode::OK))));
    assert_eq!(s.mock.count("/token").await, 1, "exactly one refresh call");
    let updates = s.updates.lock().unwrap().clone();
    assert_eq!(updates.len(), 1, "the host got the new set once");
    let new = &updates[0];
    // Rotated refresh token, fresh access token, same client.
    assert_ne!(new.refresh_token(), Some(OLD_REFRESH));
    assert!(new.refresh_token().is_some());
    assert!(new.access_token().is_fresh(Duration::from_secs(60)));
    assert_eq!(new.client_id(), CLIENT);
    assert!(s.layer.authenticated());
    log.assert_clean(&[
        OLD_ACCESS,
        OLD_REFRESH,
        new.access_token_secret(),
        new.refresh_token().unwrap(),
    ]);
}

#[tokio::test(flavor = "current_thread")]
async fn provider_failing_gives_every_waiter_the_error_once_and_the_next_request_retries() {
    let s = setup(Duration::from_secs(10)).await;
    s.mock
        .control("delay", json!({"path": "/token", "ms": 200}))
        .await;
    s.mock
        .control("fail", json!({"path": "/token", "status": 503}))
        .await;
    let results = storm(&s.svc, 100).await;
    for r in &results {
        match r {
            // The mock answers 503 with an OAuth body `{"error":"server_error"}`.
            Err(CallError::Token(ClientError::Provider { error, .. }))
                if error == "server_error" => {}
            other => panic!("expected the provider's typed error, got {other:?}"),
        }
    }
    assert_eq!(s.mock.count("/token").await, 1, "no stampede");
    // The provider is back: the next request tries again and succeeds.
    s.mock
        .control("fail", json!({"path": "/token", "status": 0}))
        .await;
    assert_eq!(call(&s.svc).await.unwrap(), StatusCode::OK);
    assert_eq!(s.mock.count("/token").await, 2);
    assert_eq!(s.updates.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_grant_means_sign_in_again_without_a_loop() {
    let log = logs();
    let s = setup(Duration::from_secs(10)).await;
    s.mock
        .control(
            "token-response",
            json!({"status": 400, "body": {"error": "invalid_grant", "error_description": "refresh token revoked"}}),
        )
        .await;
    for _ in 0..3 {
        match call(&s.svc).await {
            Err(CallError::Token(e)) => {
                assert!(e.is_login_required(), "{e}");
                assert_eq!(e.to_string(), "sign in again: refresh token revoked");
            }
            other => panic!("expected LoginRequired, got {other:?}"),
        }
    }
    assert_eq!(
        s.mock.count("/token").await,
        1,
        "the refused token is not tried again"
    );
    assert!(s.updates.lock().unwrap().is_empty());
    log.assert_clean(&[OLD_ACCESS, OLD_REFRESH]);
}

#[tokio::test]
async fn a_slow_provider_times_out_with_a_typed_error() {
    let s = setup(Duration::from_millis(300)).await;
    s.mock
        .control("delay", json!({"path": "/token", "ms": 5000}))
        .await;
    match call(&s.svc).await {
        Err(CallError::Token(ClientError::Transport { message })) => {
            assert_eq!(message, "no answer in time");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_provider_that_went_away_is_a_transport_error() {
    let mut s = setup(Duration::from_secs(5)).await;
    s.mock.kill().await;
    for _ in 0..2 {
        match call(&s.svc).await {
            Err(CallError::Token(ClientError::Transport { message })) => {
                assert!(!message.contains(OLD_REFRESH));
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
    }
    assert!(!s.layer.authenticated());
}

#[tokio::test]
async fn client_credentials_against_the_mock() {
    let mock = NodeServer::mock().await;
    let client = OAuthClient::new(mock.issuer.clone(), "svc", mock.url("/token"))
        .with_client_secret("svc-secret-value-1")
        .with_scopes(["api:read"]);
    let set = client.client_credentials().await.unwrap();
    assert_eq!(set.granted_scope(), Some("api:read"));
    assert!(set.refresh_token().is_none());
    assert!(set.access_token().is_fresh(Duration::from_secs(60)));
    // The mock saw Basic client authentication, no client_id in the form.
    let req = Request::get(mock.url("/__control/last-token-request"))
        .body(Bytes::new())
        .unwrap();
    let res =
        sealed_session::client::Transport::send(&sealed_session::client::HttpClient::new(), req)
            .await
            .unwrap();
    let last: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
    assert_eq!(last["basic_auth"], true);
    assert_eq!(last["grant_type"], "client_credentials");
    assert_eq!(last["client_id"], serde_json::Value::Null);
}
