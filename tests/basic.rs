//! The HTTP Basic credentials hook, through a real `Router`: off by default (Basic is an
//! unknown scheme), and when on, a per-request session with the token handler's failure rules.

mod common;

use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use common::{body, challenges, header, key, request, send};
use sealed_session::{
    basic_fn, Auth, BasicError, Identity, Session, SessionError, SessionLayer, SessionSource,
};

fn basic(user_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

async fn who(session: Option<Session>) -> String {
    match session {
        Some(s) => format!(
            "{}:{}",
            s.uid().unwrap_or_default(),
            if s.source() == SessionSource::Basic {
                "basic"
            } else {
                "other"
            }
        ),
        None => "anonymous".to_owned(),
    }
}

async fn login(auth: Auth) -> Result<&'static str, SessionError> {
    auth.login(Identity::new("someone"))?;
    Ok("logged in")
}

fn router(layer: SessionLayer) -> Router {
    Router::new()
        .route("/who", get(who))
        .route("/login", post(login))
        .layer(layer)
}

fn with_handler() -> Router {
    let handler = basic_fn(|user: String, password: String| async move {
        match (user.as_str(), password.as_str()) {
            ("alice", "correct horse") => Ok(Some(Identity::new("alice"))),
            ("down", _) => Err(BasicError::new("directory unavailable")),
            ("panic", _) => panic!("handler bug"),
            _ => Ok(None),
        }
    });
    router(SessionLayer::new(key(1)).with_basic_handler(handler))
}

/// A request to `path` with an optional `Authorization` field, sent through the harness.
async fn call(app: &Router, method: Method, path: &str, auth: Option<&str>) -> Response<Body> {
    let headers: Vec<(&str, &[u8])> = auth
        .map(|auth| ("authorization", auth.as_bytes()))
        .into_iter()
        .collect();
    send(app, request(method, path, &headers)).await
}

#[tokio::test]
async fn without_a_handler_basic_is_an_unknown_scheme() {
    let app = router(SessionLayer::new(key(1)));
    let res = call(
        &app,
        Method::GET,
        "/who",
        Some(&basic("alice:correct horse")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "anonymous");
}

#[tokio::test]
async fn good_credentials_make_a_per_request_session_without_a_cookie() {
    let app = with_handler();
    let res = call(
        &app,
        Method::GET,
        "/who",
        Some(&basic("alice:correct horse")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(body(res).await, "alice:basic");
}

#[tokio::test]
async fn wrong_malformed_failing_and_panicking_handlers_get_typed_answers() {
    let app = with_handler();
    let res = call(&app, Method::GET, "/who", Some(&basic("alice:wrong"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    for malformed in [
        "Basic".to_owned(),
        "Basic !!!".to_owned(),
        basic("no-colon"),
        basic(":no-user"),
        "Basic YWxpY2U6cHc".to_owned(), // "alice:pw" without its padding
    ] {
        let res = call(&app, Method::GET, "/who", Some(&malformed)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{malformed}");
    }

    let res = call(&app, Method::GET, "/who", Some(&basic("down:x"))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&res, "retry-after").is_some());
    assert!(!body(res).await.contains("directory"));

    let res = call(&app, Method::GET, "/who", Some(&basic("panic:x"))).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_basic_request_cannot_start_a_cookie_session() {
    let app = with_handler();
    let res = call(
        &app,
        Method::POST,
        "/login",
        Some(&basic("alice:correct horse")),
    )
    .await;
    assert!(res.headers().get("set-cookie").is_none());
    assert_ne!(res.status(), StatusCode::OK);
    // Without credentials the same route logs in.
    let res = call(&app, Method::POST, "/login", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_some());
}

#[tokio::test]
async fn the_password_never_reaches_the_log() {
    let capture = common::log_capture();
    let start = capture.len();
    let app = with_handler();
    for creds in [
        "alice:correct horse",
        "alice:hunter2-secret",
        "down:s3cr3t-pw",
    ] {
        call(&app, Method::GET, "/who", Some(&basic(creds))).await;
    }
    let log = capture.since(start);
    assert!(
        log.contains("unknown credentials"),
        "the refusals are logged"
    );
    for secret in ["correct horse", "hunter2-secret", "s3cr3t-pw"] {
        assert!(!log.contains(secret), "password in the log");
    }
    for creds in ["alice:correct horse", "alice:hunter2-secret"] {
        let header = basic(creds);
        let encoded = header.trim_start_matches("Basic ");
        assert!(!log.contains(encoded), "encoded credentials in the log");
    }
}

#[tokio::test]
async fn basic_failures_answer_with_a_basic_challenge_beside_the_bearer_one() {
    // RFC 7617 §2: a 401 for Basic credentials carries `Basic realm=…, charset="UTF-8"`.
    let app = with_handler();
    let both = [
        r#"Bearer realm="sealed-session""#.to_owned(),
        r#"Basic realm="sealed-session", charset="UTF-8""#.to_owned(),
    ];
    let res = call(&app, Method::GET, "/who", Some(&basic("alice:wrong"))).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenges(&res),
        both,
        "a wrong password is not an invalid bearer token"
    );
    assert_eq!(body(res).await, "invalid credentials");
    // A bad bearer token keeps its Bearer error, and names Basic too.
    let res = call(&app, Method::GET, "/who", Some("Bearer unknown")).await;
    assert_eq!(
        challenges(&res),
        [
            r#"Bearer realm="sealed-session", error="invalid_token""#.to_owned(),
            both[1].clone()
        ]
    );
    // Without a Basic handler: Bearer only.
    let plain = router(SessionLayer::new(key(1)));
    let res = call(&plain, Method::GET, "/who", Some("Bearer unknown")).await;
    assert_eq!(
        challenges(&res),
        [r#"Bearer realm="sealed-session", error="invalid_token""#.to_owned()]
    );
}
