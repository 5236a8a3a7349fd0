//! The token cache through a real Router: one handler call per token across requests, errors
//! still 503 and never cached, revocation by invalidation.
#![cfg(feature = "cache")]

mod common;

use axum::http::StatusCode;
use common::*;
use sealed_session::{SessionLayer, TokenCache};
use time::Duration;
use tower::ServiceExt;

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
            router.oneshot(req).await.unwrap()
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
