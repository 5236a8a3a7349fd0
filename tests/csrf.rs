//! CSRF protection for cookie sessions (issue 14, ASVS 3.5): tower-http's `Sec-Fetch-Site`
//! check through `sealed_session::csrf::CsrfLayer`, with bearer requests exempt.
#![cfg(feature = "csrf")]

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{body, key};
use sealed_session::csrf::{CsrfLayer, ProtectionErrorKind};
use sealed_session::{token_fn, Auth, Identity, Session, SessionLayer, TokenError};
use tower::ServiceExt as _;

fn app(csrf: CsrfLayer) -> Router {
    let tokens = token_fn(|token: String| async move {
        Ok::<_, TokenError>((token == "api-token-1").then(|| Identity::new("robot")))
    });
    Router::new()
        .route(
            "/login",
            post(|auth: Auth| async move {
                auth.login(Identity::new("alice")).unwrap();
                "in"
            }),
        )
        .route(
            "/note",
            post(|s: Session| async move { format!("noted by {}", s.uid().unwrap_or_default()) }),
        )
        .layer(csrf)
        .layer(SessionLayer::new(key(1)).with_token_handler(tokens))
}

async fn cookie_of(app: &Router) -> String {
    let res = app
        .clone()
        .oneshot(
            Request::post("/login")
                .header("sec-fetch-site", "same-origin")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let line = res.headers()[header::SET_COOKIE].to_str().unwrap();
    line.split(';').next().unwrap().to_owned()
}

async fn post_note(app: &Router, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = Request::builder().method(Method::POST).uri("/note");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    (res.status(), body(res).await)
}

#[tokio::test]
async fn cross_site_and_same_site_cookie_posts_are_refused() {
    let app = app(CsrfLayer::new());
    let cookie = cookie_of(&app).await;
    let c = cookie.as_str();
    for headers in [
        vec![("cookie", c), ("sec-fetch-site", "cross-site")],
        vec![("cookie", c), ("sec-fetch-site", "same-site")],
        vec![
            ("cookie", c),
            ("origin", "https://evil.example"),
            ("host", "app.example.org"),
        ],
    ] {
        let (status, text) = post_note(&app, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(text, "Cross-site request refused.\n");
    }
    for headers in [
        vec![("cookie", c), ("sec-fetch-site", "same-origin")],
        vec![
            ("cookie", c),
            ("origin", "https://app.example.org"),
            ("host", "app.example.org"),
        ],
        // Neither header: not a browser (curl), which a cross-site page cannot be.
        vec![("cookie", c)],
    ] {
        let (status, text) = post_note(&app, &headers).await;
        assert_eq!(status, StatusCode::OK, "{headers:?}");
        assert_eq!(text, "noted by alice");
    }
}

#[tokio::test]
async fn bearer_requests_are_exempt_they_carry_no_ambient_credential() {
    let app = app(CsrfLayer::new());
    let (status, text) = post_note(
        &app,
        &[
            ("authorization", "Bearer api-token-1"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "noted by robot");
    // A bad bearer token is still the session layer's 401, never a cookie fallback.
    let cookie = cookie_of(&app).await;
    let (status, _) = post_note(
        &app,
        &[
            ("cookie", cookie.as_str()),
            ("authorization", "Bearer wrong"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another scheme the layer does not take is no exemption: the cookie would decide.
    let (status, _) = post_note(
        &app,
        &[
            ("cookie", cookie.as_str()),
            ("authorization", "Digest x"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_trusted_origin_and_a_custom_rejection() {
    let layer = CsrfLayer::new()
        .add_trusted_origin("https://admin.example.org")
        .unwrap()
        .with_rejection_response(|error| {
            let kind = match error.kind() {
                ProtectionErrorKind::CrossOriginRequest => "fetch-metadata",
                _ => "origin",
            };
            (StatusCode::FORBIDDEN, format!("refused by {kind}")).into_response()
        });
    let app = app(layer);
    let cookie = cookie_of(&app).await;
    let c = cookie.as_str();
    let (status, _) = post_note(
        &app,
        &[
            ("cookie", c),
            ("sec-fetch-site", "same-site"),
            ("origin", "https://admin.example.org"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, text) = post_note(&app, &[("cookie", c), ("sec-fetch-site", "cross-site")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(text, "refused by fetch-metadata");
    assert!(CsrfLayer::new()
        .add_trusted_origin("https://x.example/path")
        .is_err());
}

use axum::response::IntoResponse as _;
