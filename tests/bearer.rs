//! Bearer tokens through a real `Router`: every row of the RFC 6750 status matrix, the
//! `Authorization` parser, the once-per-request token handler, precedence over the cookie, and the
//! built-in `ApiKeys` and `token_fn` handlers.

mod common;
use common::*;

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use sealed_session::testing::ManualClock;
use sealed_session::{
    token_fn, ApiKeys, Identity, RequireAuth, Requirement, Session, SessionLayer, SessionSource,
    TokenError,
};
use time::Duration;
use tower::ServiceExt as _;

const BARE: &str = r#"Bearer realm="sealed-session""#;
const INVALID_TOKEN: &str = r#"Bearer realm="sealed-session", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="sealed-session", error="invalid_request""#;

fn get_req(path: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    request(Method::GET, path, headers)
}

/// Asserts a 401 with exactly `challenge` and no cookie.
async fn assert_401(res: Response<Body>, challenge: &str, what: &str) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(www(&res), Some(challenge), "{what}");
    assert_eq!(
        res.headers().get_all("www-authenticate").iter().count(),
        1,
        "{what}"
    );
    assert_no_set_cookie(&res);
}

/// The harness routes plus routes that combine a guard with extractors, behind the app's layer.
fn extended(app: &App) -> Router {
    routes()
        .route(
            "/guarded-me",
            get(|a: Session, b: Option<Session>| async move {
                format!("{} {}", a.uid().unwrap_or_default(), b.is_some())
            })
            .route_layer(RequireAuth::scope("read")),
        )
        .route(
            "/whoami",
            get(|s: Session| async move {
                let source = match s.source() {
                    SessionSource::Bearer => "bearer",
                    SessionSource::Cookie => "cookie",
                    _ => "other",
                };
                format!("{}|{source}", s.uid().unwrap_or_default())
            }),
        )
        .layer(app.layer.clone())
}

// ---------------------------------------------------------------------------------------------
// Status matrix
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_credentials_is_401_with_a_bare_challenge() {
    let app = app();
    for path in ["/me", "/guarded", "/admin", "/ops", "/twice"] {
        let res = app.get(path).await;
        assert_401(res, BARE, path).await;
    }
    assert_eq!(app.tokens.calls(), 0);
}

#[tokio::test]
async fn a_scheme_other_than_bearer_is_401_with_a_bare_challenge() {
    let app = app();
    let values: [&[u8]; 5] = [
        b"Basic YWxpY2U6c2VjcmV0",
        b"Token good-token-abc",
        b"Bearert x",
        b"Digest username=\"alice\"",
        b"Bearer-good-token-abc",
    ];
    for value in values {
        for path in ["/me", "/guarded", "/admin"] {
            let res = app.send(get_req(path, &[("authorization", value)])).await;
            assert_401(
                res,
                BARE,
                &format!("{path} {}", String::from_utf8_lossy(value)),
            )
            .await;
        }
        // Option<Session> sees an anonymous caller.
        let res = app
            .send(get_req("/optional", &[("authorization", value)]))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "anonymous");
    }
    // An empty field has no scheme at all: a 401 with a Bearer challenge, never a session.
    let res = app.send(get_req("/me", &[("authorization", b"")])).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        www(&res).is_some_and(|c| c.starts_with(BARE)),
        "{:?}",
        www(&res)
    );
    assert_eq!(
        app.tokens.calls(),
        0,
        "a non-Bearer scheme never reaches the handler"
    );
}

#[tokio::test]
async fn malformed_bearer_credentials_are_401_invalid_token() {
    let app = app();
    let too_long = format!("Bearer {}", "a".repeat(4097));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty token", b"Bearer ".to_vec()),
        ("empty token, several spaces", b"Bearer    ".to_vec()),
        ("scheme only", b"Bearer".to_vec()),
        ("scheme only, lower case", b"bearer".to_vec()),
        ("HTAB separator", b"Bearer\tgood-token-abc".to_vec()),
        ("HTAB after space", b"Bearer \tgood-token-abc".to_vec()),
        ("quoted token", b"Bearer \"good-token-abc\"".to_vec()),
        ("= in the middle", b"Bearer good=token".to_vec()),
        ("= only", b"Bearer =".to_vec()),
        ("non-ASCII", "Bearer tok\u{e9}n".as_bytes().to_vec()),
        ("obs-text byte", b"Bearer tok\xe9n".to_vec()),
        ("space inside", b"Bearer good token".to_vec()),
        (
            "auth-param syntax",
            b"Bearer token=\"good-token-abc\"".to_vec(),
        ),
        ("over 4096 bytes", too_long.into_bytes()),
    ];
    for (what, value) in &cases {
        for path in ["/me", "/guarded", "/admin", "/ops"] {
            let res = app.send(get_req(path, &[("authorization", value)])).await;
            assert_401(res, INVALID_TOKEN, &format!("{what} on {path}")).await;
        }
    }
    assert_eq!(
        app.tokens.calls(),
        0,
        "a malformed token never reaches the handler"
    );
}

#[tokio::test]
async fn the_token_length_limit_is_4096_bytes_inclusive() {
    let app = app();
    // Exactly 4096 bytes is well-formed: it reaches the handler (which does not know it).
    let res = app.get_with_bearer("/me", &"a".repeat(4096)).await;
    assert_401(res, INVALID_TOKEN, "4096 bytes").await;
    assert_eq!(
        app.tokens.calls(),
        1,
        "a 4096-byte token is passed to the handler"
    );
    // One more byte is refused before the handler.
    let res = app.get_with_bearer("/me", &"a".repeat(4097)).await;
    assert_401(res, INVALID_TOKEN, "4097 bytes").await;
    assert_eq!(
        app.tokens.calls(),
        1,
        "a 4097-byte token never reaches the handler"
    );
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_401_invalid_token() {
    let app = app();
    for token in [
        "unknown-token",
        EXPIRED,
        "good-token-ab",
        "good-token-abcd",
        "GOOD-TOKEN-ABC",
    ] {
        for path in ["/me", "/guarded", "/admin"] {
            let res = app.get_with_bearer(path, token).await;
            assert_401(res, INVALID_TOKEN, &format!("{token} on {path}")).await;
        }
    }
}

#[tokio::test]
async fn two_authorization_fields_are_400_invalid_request() {
    let app = app();
    let cases: [(&str, &[&[u8]]); 4] = [
        (
            "same token twice",
            &[b"Bearer good-token-abc", b"Bearer good-token-abc"],
        ),
        (
            "two tokens",
            &[b"Bearer good-token-abc", b"Bearer admin-token-xyz"],
        ),
        (
            "bearer and basic",
            &[b"Basic YWxpY2U6c2VjcmV0", b"Bearer good-token-abc"],
        ),
        ("comma-joined", &[b"Bearer a, Bearer b"]),
    ];
    for (what, values) in cases {
        for path in ["/me", "/guarded", "/admin", "/optional", "/twice"] {
            let headers: Vec<(&str, &[u8])> =
                values.iter().map(|v| ("authorization", *v)).collect();
            let res = app.send(get_req(path, &headers)).await;
            let label = format!("{what} on {path}");
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{label}");
            assert_eq!(www(&res), Some(INVALID_REQUEST), "{label}");
            assert_no_set_cookie(&res);
        }
    }
    assert_eq!(
        app.tokens.calls(),
        0,
        "a repeated credential never reaches the handler"
    );
}

#[tokio::test]
async fn a_comma_inside_one_token_is_401_invalid_token_not_a_repeated_credential() {
    // RFC 6750 §2.1: a bearer token has no comma; RFC 9110 §11.6.2: one credential per field.
    // Only a second auth-scheme after the comma is a second credential (400, above).
    let app = app();
    for value in [
        &b"Bearer a,b"[..],
        b"Bearer good-token-abc,",
        b"Bearer a, b",
        b"Bearer a,,b",
        b"Bearer a ,b",
    ] {
        let res = app
            .send(get_req("/guarded", &[("authorization", value)]))
            .await;
        let label = String::from_utf8_lossy(value).into_owned();
        assert_401(res, INVALID_TOKEN, &label).await;
    }
    for value in [
        &b"Bearer a, Bearer b"[..],
        b"Bearer a,Basic YWxpY2U6c2VjcmV0",
        b"Bearer a,  bearer b",
    ] {
        let res = app
            .send(get_req("/guarded", &[("authorization", value)]))
            .await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(value)
        );
        assert_eq!(www(&res), Some(INVALID_REQUEST));
    }
    assert_eq!(app.tokens.calls(), 0, "neither reaches the handler");
}

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let app = app();
    let res = app.get_with_bearer("/admin", GOOD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin""#)
    );
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "missing scope: admin");
    // The same for a cookie session without the scope.
    let cookie = app
        .kit
        .cookie_header(Identity::new("bob").with_scopes(["read"]));
    let res = app.get_with_cookie("/admin", &cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin""#)
    );
    // With the scope: 200.
    let res = app.get_with_bearer("/admin", ADMIN).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "admin");
}

#[tokio::test]
async fn insufficient_scope_names_the_scope_the_resource_requires_not_only_the_missing_one() {
    // RFC 6750 §3: `scope` is the scope required to access the resource.
    let app = app();
    let router = routes()
        .route(
            "/both",
            get(|| async { "both" }).route_layer(RequireAuth::all_of([
                Requirement::scope("admin"),
                Requirement::scope("write"),
            ])),
        )
        .route(
            "/either",
            get(|| async { "either" }).route_layer(RequireAuth::any_of([
                Requirement::scope("write"),
                Requirement::scope("deploy"),
            ])),
        )
        .route(
            "/mixed",
            get(|| async { "mixed" }).route_layer(
                RequireAuth::scope("admin")
                    .with_any_of([Requirement::scope("write"), Requirement::scope("deploy")]),
            ),
        )
        .layer(app.layer.clone());
    let get_as = |path: &'static str| {
        let router = router.clone();
        async move {
            router
                .oneshot(get_req(
                    path,
                    &[("authorization", &b"Bearer admin-token-xyz"[..])],
                ))
                .await
                .unwrap()
        }
    };
    // The token holds `admin` and `read`: `/both` needs `admin write`, both named.
    let res = get_as("/both").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin write""#)
    );
    // Any of several: one acceptable alternative is named, never a list that reads "all".
    let res = get_as("/either").await;
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="write""#)
    );
    let res = get_as("/mixed").await;
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin write""#)
    );
}

#[tokio::test]
async fn another_unmet_requirement_is_403_with_the_reason_as_text() {
    let app = app();
    let res = app.get_with_bearer("/ops", GOOD).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = www(&res).unwrap_or_default().to_owned();
    assert!(!challenge.contains("insufficient_scope"), "{challenge}");
    assert!(!challenge.contains("invalid_token"), "{challenge}");
    let content_type = header(&res, "content-type").unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "missing role: ops");
    // ADMIN has the role.
    let res = app.get_with_bearer("/ops", ADMIN).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "ops");
}

#[tokio::test]
async fn a_failing_token_backend_is_503_with_retry_after() {
    let app = app();
    for path in ["/me", "/guarded", "/admin", "/optional", "/twice"] {
        let res = app.get_with_bearer(path, FAILING).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let retry = header(&res, "retry-after").expect("Retry-After").to_owned();
        assert!(
            retry.parse::<u64>().is_ok_and(|s| s > 0),
            "Retry-After {retry}"
        );
        assert_no_set_cookie(&res);
        let text = body(res).await;
        assert!(
            !text.contains(FAILING),
            "the token never appears in the body: {text}"
        );
        assert!(
            !text.contains("database"),
            "the backend's message stays in the logs: {text}"
        );
    }
}

#[tokio::test]
async fn a_slow_token_backend_times_out_as_503_with_retry_after() {
    let app = app();
    for path in ["/me", "/optional"] {
        let start = Instant::now();
        let res = app.get_with_bearer(path, SLOW).await;
        let elapsed = start.elapsed();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(header(&res, "retry-after").is_some(), "{path}: Retry-After");
        assert_no_set_cookie(&res);
        assert!(
            elapsed >= std::time::Duration::from_millis(250),
            "the timeout is 300 ms, took {elapsed:?}"
        );
        // No upper bound on the time (machines are noisy): the handler sleeps far longer than
        // the test could wait, so a 503 at all shows the timeout fired.
    }
}

#[tokio::test]
async fn a_panicking_token_handler_is_500_and_the_router_keeps_serving() {
    let app = app();
    for path in ["/me", "/guarded", "/optional"] {
        let res = app.get_with_bearer(path, PANICKING).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_no_set_cookie(&res);
        // The same router answers the next request normally.
        let res = app.get_with_bearer("/me", GOOD).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "alice");
    }
    let cookie = app.kit.cookie_header(Identity::new("carol"));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "carol");
}

// ---------------------------------------------------------------------------------------------
// The Authorization parser
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_token_reaches_the_handler_byte_exact_with_trailing_padding() {
    let app = app();
    let res = app.get_with_bearer("/me", PADDED).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "padded");
    // Without the padding, or with different padding, it is another token.
    for token in ["padded-token", "padded-token=", "padded-token==="] {
        let res = app.get_with_bearer("/me", token).await;
        assert_401(res, INVALID_TOKEN, token).await;
    }

    // An echoing handler sees exactly the bytes after the spaces. It echoes the token's digest,
    // not the token: the uid is logged, and the harness checks that no token reaches the logs.
    let echo = |token: &str| -> String {
        let digest = ApiKeys::digest(token);
        format!(
            "<{}>",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    let layer = SessionLayer::new(key(1))
        .with_clock(ManualClock::new(T0))
        .with_token_handler(token_fn(move |token: String| async move {
            Ok(Some(Identity::new(echo(&token))))
        }));
    let router = routes().layer(layer);
    for token in ["a-b.c_d~e+f/g==", "ABCxyz019", "x=", "/+/+", "~~~", "a.b.c"] {
        let res = send(
            &router,
            get_req(
                "/me",
                &[("authorization", format!("Bearer {token}").as_bytes())],
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{token}");
        assert_eq!(body(res).await, echo(token));
        let res = send(
            &router,
            get_req(
                "/me",
                &[("authorization", format!("Bearer     {token}").as_bytes())],
            ),
        )
        .await;
        assert_eq!(body(res).await, echo(token), "several spaces");
    }
}

#[tokio::test]
async fn the_scheme_is_case_insensitive_and_several_spaces_are_fine() {
    let app = app();
    let values = [
        "Bearer good-token-abc",
        "bearer good-token-abc",
        "BEARER good-token-abc",
        "bEaReR good-token-abc",
        "Bearer  good-token-abc",
        "Bearer     good-token-abc",
        "BEARER          good-token-abc",
    ];
    for value in values {
        let res = app
            .send(get_req("/me", &[("authorization", value.as_bytes())]))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{value}");
        assert_no_set_cookie(&res);
        assert_eq!(body(res).await, "alice", "{value}");
    }
    assert_eq!(app.tokens.calls(), values.len());
}

#[tokio::test]
async fn a_token_in_the_query_string_is_never_accepted() {
    let app = app();
    for path in [
        "/me?access_token=good-token-abc",
        "/guarded?access_token=good-token-abc",
        "/admin?access_token=admin-token-xyz",
    ] {
        let res = app.get(path).await;
        assert_401(res, BARE, path).await;
    }
    let res = app.get("/optional?access_token=good-token-abc").await;
    assert_eq!(body(res).await, "anonymous");
    assert_eq!(
        app.tokens.calls(),
        0,
        "the query string is never read for a token"
    );
}

#[tokio::test]
async fn a_token_in_a_form_body_is_never_accepted() {
    let app = app();
    let router = Router::new()
        .route(
            "/me",
            axum::routing::post(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .layer(app.layer.clone());
    let req = Request::post("/me")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("access_token={GOOD}")))
        .expect("request");
    let res = send(&router, req).await;
    assert_401(res, BARE, "form body").await;
    assert_eq!(app.tokens.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// The handler runs at most once, and only when asked
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_handler_runs_once_for_several_extractors() {
    let app = app();
    let res = app.get_with_bearer("/twice", GOOD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "alice true alice");
    assert_eq!(app.tokens.calls(), 1);

    // Also when the answer is "unknown", an error or a timeout.
    for (token, status) in [
        ("nobody-knows-me", StatusCode::UNAUTHORIZED),
        (FAILING, StatusCode::SERVICE_UNAVAILABLE),
        (SLOW, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let before = app.tokens.calls();
        let res = app.get_with_bearer("/twice", token).await;
        assert_eq!(res.status(), status, "{token}");
        assert_eq!(app.tokens.calls(), before + 1, "{token}: one call");
    }
}

#[tokio::test]
async fn the_handler_runs_once_for_a_guard_plus_extractors() {
    let app = app();
    let router = extended(&app);
    let res = send(
        &router,
        get_req(
            "/guarded-me",
            &[("authorization", b"Bearer good-token-abc")],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "alice true");
    assert_eq!(app.tokens.calls(), 1);

    let res = send(
        &router,
        get_req("/guarded-me", &[("authorization", b"Bearer ci-token-123")]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.tokens.calls(), 2);

    let start = Instant::now();
    let res = send(
        &router,
        get_req("/guarded-me", &[("authorization", b"Bearer slow-token")]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.tokens.calls(), 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_route_that_never_asks_never_calls_the_handler() {
    let app = app();
    for token in [GOOD, FAILING, SLOW, PANICKING, "unknown"] {
        let start = Instant::now();
        let res = app.get_with_bearer("/public", token).await;
        assert_eq!(res.status(), StatusCode::OK, "{token}");
        assert_no_set_cookie(&res);
        assert_eq!(body(res).await, "public");
        assert!(
            start.elapsed() < std::time::Duration::from_millis(250),
            "{token}: not resolved"
        );
    }
    assert_eq!(app.tokens.calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// A bearer request never gets a Set-Cookie
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn login_on_a_bearer_request_is_an_error_and_sets_no_cookie() {
    let app = app();
    for value in [
        "Bearer good-token-abc",
        "Bearer unknown-token",
        "Bearer \"malformed\"",
    ] {
        let req = request(
            Method::POST,
            "/login?uid=mallory",
            &[("authorization", value.as_bytes())],
        );
        let res = app.send(req).await;
        // The harness answers 409 with the error text for any error other than TooLarge.
        assert_eq!(res.status(), StatusCode::CONFLICT, "{value}");
        assert_no_set_cookie(&res);
        let text = body(res).await;
        assert!(text.contains("bearer"), "{value}: {text}");
    }
}

#[tokio::test]

async fn logout_on_a_bearer_request_sets_no_cookie() {
    let app = app();
    let cookie = app.kit.cookie_header(Identity::new("carol"));
    let cases: [Vec<(&str, &[u8])>; 4] = [
        vec![("authorization", b"Bearer good-token-abc")],
        vec![
            ("authorization", b"Bearer good-token-abc"),
            ("cookie", cookie.as_bytes()),
        ],
        vec![("authorization", b"Bearer unknown-token")],
        vec![("authorization", b"Bearer \"malformed\"")],
    ];
    for headers in cases {
        let res = app.send(request(Method::POST, "/logout", &headers)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_no_set_cookie(&res);
    }
}

#[tokio::test]
async fn session_logout_on_a_bearer_request_sets_no_cookie() {
    let app = app();
    let cookie = app.kit.cookie_header(Identity::new("carol"));
    for headers in [
        vec![("authorization", &b"Bearer good-token-abc"[..])],
        vec![
            ("authorization", &b"Bearer good-token-abc"[..]),
            ("cookie", cookie.as_bytes()),
        ],
    ] {
        let res = app
            .send(request(Method::POST, "/session-logout", &headers))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_no_set_cookie(&res);
    }
}

#[tokio::test]
async fn changes_to_a_bearer_session_set_no_cookie() {
    let app = app();
    let res = app
        .send(request(
            Method::POST,
            "/insert?k=theme&v=dark",
            &[("authorization", b"Bearer good-token-abc")],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "ok");
    // Nothing persisted: the next bearer request does not see the value.
    let res = app.get_with_bearer("/read?k=theme", GOOD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "");
    // A 5xx on a bearer request sets nothing either.
    let res = app
        .send(request(
            Method::POST,
            "/fail",
            &[("authorization", b"Bearer good-token-abc")],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_no_set_cookie(&res);
}

#[tokio::test]
async fn a_bearer_request_with_a_valid_cookie_sets_no_cookie() {
    let app = app();
    let router = extended(&app);
    let cookie = app.kit.cookie_header(Identity::new("carol"));
    // Past the refresh interval: the cookie alone would be renewed.
    app.clock.advance(Duration::hours(1));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(set_cookies(&res).len(), 1, "the cookie alone is renewed");

    for path in [
        "/me",
        "/whoami",
        "/twice",
        "/guarded",
        "/optional",
        "/public",
    ] {
        let req = get_req(
            path,
            &[
                ("authorization", b"Bearer good-token-abc"),
                ("cookie", cookie.as_bytes()),
            ],
        );
        let res = send(&router, req).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_no_set_cookie(&res);
        let text = body(res).await;
        assert!(
            !text.contains("carol"),
            "{path}: the bearer identity wins: {text}"
        );
    }
    let req = get_req(
        "/whoami",
        &[
            ("authorization", b"Bearer good-token-abc"),
            ("cookie", cookie.as_bytes()),
        ],
    );
    assert_eq!(body(send(&router, req).await).await, "alice|bearer");
    // Login is refused and sets nothing, even with a cookie.
    let req = request(
        Method::POST,
        "/login?uid=mallory",
        &[
            ("authorization", b"Bearer good-token-abc"),
            ("cookie", cookie.as_bytes()),
        ],
    );
    let res = app.send(req).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_no_set_cookie(&res);
}

// ---------------------------------------------------------------------------------------------
// Precedence
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_invalid_token_never_falls_back_to_a_valid_cookie() {
    let app = app();
    let cookie = app.kit.cookie_header(
        Identity::new("carol")
            .with_scopes(["admin"])
            .with_roles(["ops"]),
    );
    let bad: [&[u8]; 4] = [
        b"Bearer unknown-token",
        b"Bearer expired-token",
        b"Bearer \"quoted\"",
        b"Bearer",
    ];
    for value in bad {
        for path in ["/me", "/guarded", "/admin", "/ops", "/twice"] {
            let res = app
                .send(get_req(
                    path,
                    &[("authorization", value), ("cookie", cookie.as_bytes())],
                ))
                .await;
            let label = format!("{} on {path}", String::from_utf8_lossy(value));
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{label}");
            assert_eq!(www(&res), Some(INVALID_TOKEN), "{label}");
            assert_no_set_cookie(&res);
            assert!(!body(res).await.contains("carol"), "{label}");
        }
        // Option<Session> never yields the cookie identity either.
        let res = app
            .send(get_req(
                "/optional",
                &[("authorization", value), ("cookie", cookie.as_bytes())],
            ))
            .await;
        assert!(!body(res).await.contains("carol"));
    }
}

#[tokio::test]
async fn a_valid_cookie_with_a_basic_header_is_anonymous() {
    let app = app();
    let cookie = app
        .kit
        .cookie_header(Identity::new("carol").with_scopes(["admin"]));
    let auth: &[u8] = b"Basic YWxpY2U6c2VjcmV0";
    let res = app
        .send(get_req(
            "/optional",
            &[("authorization", auth), ("cookie", cookie.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "anonymous");
    for path in ["/me", "/guarded", "/admin"] {
        let res = app
            .send(get_req(
                path,
                &[("authorization", auth), ("cookie", cookie.as_bytes())],
            ))
            .await;
        assert_401(res, BARE, path).await;
    }
}

#[tokio::test]
async fn an_expired_cookie_does_not_hide_a_valid_token() {
    let app = app();
    let router = extended(&app);
    let cookie = app.kit.cookie_header(Identity::new("carol"));
    app.clock.advance(Duration::days(8));
    // The cookie alone is expired.
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // With the token: the bearer identity, and the request does not touch the cookie.
    for path in ["/whoami", "/guarded", "/admin"] {
        let token: &[u8] = if path == "/admin" {
            b"Bearer admin-token-xyz"
        } else {
            b"Bearer good-token-abc"
        };
        let res = send(
            &router,
            get_req(
                path,
                &[("cookie", cookie.as_bytes()), ("authorization", token)],
            ),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_no_set_cookie(&res);
        if path == "/whoami" {
            assert_eq!(body(res).await, "alice|bearer");
        }
    }
    // A tampered cookie does not hide the token either.
    let res = send(
        &router,
        get_req(
            "/whoami",
            &[
                ("cookie", b"__Host-session=AAAA"),
                ("authorization", b"Bearer good-token-abc"),
            ],
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "alice|bearer");
}

// ---------------------------------------------------------------------------------------------
// Built-in handlers
// ---------------------------------------------------------------------------------------------

fn api_keys_app() -> (Router, ManualClock) {
    let clock = ManualClock::new(T0);
    let keys = ApiKeys::new()
        .with_token(
            "pat-alice-0f3c9e",
            Identity::new("alice")
                .with_scopes(["repo:read", "builds/+/logs"])
                .with_expires_at(T0 + Duration::hours(1)),
        )
        .with_token(
            "ci-robot-77aa21",
            Identity::new("ci")
                .with_role_account(true)
                .with_scopes(["deploy"]),
        )
        .with_digest(
            ApiKeys::digest("by-digest-42"),
            Identity::new("digest-user"),
        );
    let layer = SessionLayer::new(key(1))
        .with_clock(clock.clone())
        .with_token_handler(keys);
    let router = Router::new()
        .route(
            "/who",
            get(|s: Session| async move {
                format!(
                    "{}|{}|{}|{:?}|{}",
                    s.uid().unwrap_or_default(),
                    s.is_role_account(),
                    s.scopes().join(","),
                    s.expires_at().map(|t| t.unix_timestamp()),
                    s.source() == SessionSource::Bearer,
                )
            }),
        )
        .route(
            "/deploy",
            get(|| async { "deployed" }).route_layer(
                RequireAuth::scope("deploy").with_all_of([Requirement::role_account()]),
            ),
        )
        .route(
            "/human",
            get(|| async { "hello human" }).route_layer(RequireAuth::from(Requirement::human())),
        )
        .route(
            "/logs",
            get(|| async { "logs" })
                .route_layer(RequireAuth::from(Requirement::permits("builds/42/logs"))),
        )
        .layer(layer);
    (router, clock)
}

fn bearer(path: &str, token: &str) -> Request<Body> {
    get_req(
        path,
        &[("authorization", format!("Bearer {token}").as_bytes())],
    )
}

#[tokio::test]
async fn api_keys_resolve_through_a_router() {
    let (router, _clock) = api_keys_app();
    let res = send(&router, bearer("/who", "pat-alice-0f3c9e")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    let expiry = (T0 + Duration::hours(1)).unix_timestamp();
    assert_eq!(
        body(res).await,
        format!("alice|false|repo:read,builds/+/logs|Some({expiry})|true")
    );

    let res = send(&router, bearer("/who", "ci-robot-77aa21")).await;
    assert_eq!(body(res).await, "ci|true|deploy|None|true");
    let res = send(&router, bearer("/who", "by-digest-42")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "digest-user|false||None|true");

    // Role account flag and scopes drive the guards.
    assert_eq!(
        send(&router, bearer("/deploy", "ci-robot-77aa21"))
            .await
            .status(),
        StatusCode::OK
    );
    let res = send(&router, bearer("/deploy", "pat-alice-0f3c9e")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="deploy""#)
    );
    assert_eq!(
        body(res).await,
        "missing scope: deploy\nonly role accounts may do this"
    );
    assert_eq!(
        send(&router, bearer("/human", "pat-alice-0f3c9e"))
            .await
            .status(),
        StatusCode::OK
    );
    let res = send(&router, bearer("/human", "ci-robot-77aa21")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "role accounts may not do this");
    assert_eq!(
        send(&router, bearer("/logs", "pat-alice-0f3c9e"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&router, bearer("/logs", "ci-robot-77aa21"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Unknown, near-miss and padded variants are refused.
    for token in [
        "pat-alice-0f3c9",
        "pat-alice-0f3c9e=",
        "PAT-ALICE-0F3C9E",
        "ci-robot-77aa21x",
    ] {
        let res = send(&router, bearer("/who", token)).await;
        assert_401(res, INVALID_TOKEN, token).await;
    }
}

#[tokio::test]
async fn api_key_expiry_is_enforced_by_the_layer() {
    let (router, clock) = api_keys_app();
    clock.set(T0 + Duration::hours(1) - Duration::seconds(1));
    let res = send(&router, bearer("/who", "pat-alice-0f3c9e")).await;
    assert_eq!(res.status(), StatusCode::OK, "one second before expiry");
    clock.set(T0 + Duration::hours(1));
    let res = send(&router, bearer("/who", "pat-alice-0f3c9e")).await;
    assert_401(res, INVALID_TOKEN, "at expiry").await;
    clock.advance(Duration::days(400));
    let res = send(&router, bearer("/who", "pat-alice-0f3c9e")).await;
    assert_401(res, INVALID_TOKEN, "long after expiry").await;
    // A token without expiry still works.
    let res = send(&router, bearer("/who", "ci-robot-77aa21")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Option<Session> does not fall back to anonymous for the expired token: 401 invalid_token
    // (never a 500, a stale identity or an anonymous page).
    let router = Router::new()
        .route(
            "/optional",
            get(|s: Option<Session>| async move {
                s.and_then(|s| s.uid())
                    .unwrap_or_else(|| "anonymous".into())
            }),
        )
        .layer(
            SessionLayer::new(key(1))
                .with_clock(clock.clone())
                .with_token_handler(
                    ApiKeys::new().with_token("t-1", Identity::new("x").with_expires_at(T0)),
                ),
        );
    let res = send(&router, bearer("/optional", "t-1")).await;
    assert_401(res, INVALID_TOKEN, "Option<Session> with an expired token").await;
}

#[tokio::test]
async fn a_token_fn_closure_works_through_a_router() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let tokens = token_fn(move |token: String| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            match token.as_str() {
                "let-me-in" => Ok(Some(Identity::new("robot").with_scopes(["admin"]))),
                "db-down" => Err(TokenError::new("connection refused")),
                _ => Ok(None),
            }
        }
    });
    let layer = SessionLayer::new(key(1))
        .with_clock(ManualClock::new(T0))
        .with_token_handler(tokens);
    let router = routes().layer(layer);

    let res = send(&router, bearer("/me", "let-me-in")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "robot");
    assert_eq!(
        send(&router, bearer("/admin", "let-me-in")).await.status(),
        StatusCode::OK
    );
    let res = send(&router, bearer("/twice", "let-me-in")).await;
    assert_eq!(body(res).await, "robot true robot");
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "once per request"
    );

    let res = send(&router, bearer("/me", "let-me-out")).await;
    assert_401(res, INVALID_TOKEN, "unknown").await;
    let res = send(&router, bearer("/me", "db-down")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&res, "retry-after").is_some());
    assert!(!body(res).await.contains("connection refused"));
}

#[tokio::test]
async fn without_a_token_handler_every_token_is_invalid() {
    let layer = SessionLayer::new(key(1)).with_clock(ManualClock::new(T0));
    let router = routes().layer(layer);
    let res = send(&router, bearer("/me", GOOD)).await;
    assert_401(res, INVALID_TOKEN, "no handler").await;
    let res = send(&router, get_req("/me", &[])).await;
    assert_401(res, BARE, "no credentials").await;
}

#[tokio::test]
async fn bearer_decided_responses_vary_on_authorization_and_cookie_ones_on_cookie() {
    let app = app();
    let res = app.get_with_bearer("/me", GOOD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "vary"), Some("Authorization"));
    let res = app.get("/optional").await;
    assert_eq!(header(&res, "vary"), Some("Cookie"));
    let res = app.get("/public").await;
    assert_eq!(
        header(&res, "vary"),
        None,
        "a route that never asks adds nothing"
    );
}
