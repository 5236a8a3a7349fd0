//! The token cache through a real Router: one handler call per token across requests, errors
//! still 503 and never cached, revocation by invalidation.
#![cfg(feature = "cache")]

mod common;

use axum::http::StatusCode;
use common::*;
use sealed_session::{SessionLayer, TokenCache};
use time::Duration;

#[tokio::test]
async fn cached_tokens_call_the_handler_once_across_requests() {
    let tokens = Tokens::default();
    let cache = TokenCache::new(tokens.clone()).with_ttl(Duration::minutes(1));
    let router = routes().layer(SessionLayer::new(key(1)).with_token_handler(cache.clone()));
    let send = |path: &'static str, token: &'static str| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            send(&router, req).await
        }
    };
    for _ in 0..10 {
        assert_eq!(send("/me", GOOD).await.status(), StatusCode::OK);
    }
    assert_eq!(tokens.calls(), 1);

    // Unknown tokens are not cached by default; errors are never cached.
    for _ in 0..3 {
        assert_eq!(
            send("/me", "nobody-knows").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(tokens.calls(), 4);
    for _ in 0..3 {
        let res = send("/me", FAILING).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("retry-after"));
    }
    assert_eq!(tokens.calls(), 7);

    // Revocation: after invalidation the handler is asked again.
    cache.invalidate(GOOD).await;
    assert_eq!(send("/me", GOOD).await.status(), StatusCode::OK);
    assert_eq!(tokens.calls(), 8);
}

/// A cached identity is shared between requests: what one request changes in its bearer session
/// never reaches the cache, the next request with the token, or the identity `resolve` returns.
#[tokio::test]
async fn changes_to_a_cached_bearer_session_stay_in_their_request() {
    use sealed_session::TokenHandler;
    let tokens = Tokens::default();
    let cache = TokenCache::new(tokens.clone()).with_ttl(Duration::minutes(1));
    // Behind an `Arc`, as apps that share one cache between layers hold it.
    let layer = SessionLayer::new(key(1)).with_token_handler(std::sync::Arc::new(cache.clone()));
    let router = routes().layer(layer);
    let send = |method: &'static str, path: &'static str, token: &'static str| {
        let router = router.clone();
        async move {
            let req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = send(&router, req).await;
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    for _ in 0..2 {
        assert_eq!(
            send("GET", "/me", ADMIN).await,
            (StatusCode::OK, "root".into())
        );
        assert_eq!(send("GET", "/admin", ADMIN).await.0, StatusCode::OK);
        assert_eq!(send("GET", "/ops", ADMIN).await.0, StatusCode::OK);
        assert_eq!(
            send("POST", "/insert?k=note&v=changed", ADMIN).await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(
            send("GET", "/read?k=note", ADMIN).await,
            (StatusCode::OK, String::new())
        );
    }
    assert_eq!(tokens.calls(), 1);
    let cached = cache.resolve(ADMIN).await.unwrap().unwrap();
    assert_eq!(
        cached,
        sealed_session::Identity::new("root")
            .with_scopes(["admin", "read"])
            .with_roles(["ops"])
            .with_mfa(true)
    );
    assert_eq!(tokens.calls(), 1);
}
