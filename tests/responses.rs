//! Status codes and headers of answers the crate makes or shapes (issue 14, "Challenges and
//! status codes"): session errors returned with `?`, and the headers of text answers.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use common::{body, key};
use sealed_session::{token_fn, Auth, Identity, Session, SessionError, SessionLayer, TokenError};
use tower::ServiceExt as _;

fn app() -> Router {
    let tokens = token_fn(|token: String| async move {
        Ok::<_, TokenError>((token == "api-token-1").then(|| Identity::new("robot")))
    });
    Router::new()
        .route(
            "/login",
            post(|auth: Auth| async move {
                auth.login(Identity::new("alice"))?;
                Ok::<_, SessionError>("in")
            }),
        )
        .route(
            "/big",
            post(|session: Session| async move {
                session.insert("blob", &"x".repeat(8000))?;
                Ok::<_, SessionError>("stored")
            }),
        )
        .route(
            "/me",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .layer(SessionLayer::new(key(1)).with_token_handler(tokens))
}

async fn send(app: &Router, req: Request<Body>) -> axum::response::Response {
    app.clone().oneshot(req).await.unwrap()
}

#[tokio::test]
async fn session_errors_returned_with_question_mark_get_their_own_4xx() {
    let app = app();
    // A login on a bearer request: the client's mistake, 400, never a 500.
    let res = send(
        &app,
        Request::post("/login")
            .header(header::AUTHORIZATION, "Bearer api-token-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(
        body(res).await,
        "A login cannot happen on a request that carries bearer or Basic credentials.\n"
    );

    // A session too large for a cookie: 413, and the session is unchanged.
    let res = send(&app, Request::post("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let res = send(
        &app,
        Request::post("/big")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(
        body(res).await,
        "The session would be too large for a cookie.\n"
    );
}

#[tokio::test]
async fn a_rejection_made_in_a_handler_uses_the_layers_realm_and_body_hook() {
    use axum::response::IntoResponse as _;
    use sealed_session::{AuthRejection, RequireAuth};

    let layer = SessionLayer::new(key(1))
        .with_realm("example")
        .with_rejection_body(|r: &AuthRejection| {
            (
                StatusCode::IM_A_TEAPOT,
                format!("{{\"error\":\"{}\"}}", r.body_text()),
            )
                .into_response()
        });
    let kit = sealed_session::testing::TestKit::new(&layer);
    let app = Router::new()
        .route(
            "/admin",
            get(|session: Session| async move {
                RequireAuth::scope("admin")
                    .check(&session)
                    .map_err(AuthRejection::from)?;
                Ok::<_, AuthRejection>("admin")
            }),
        )
        .layer(layer);
    let res = send(
        &app,
        Request::get("/admin")
            .header(header::COOKIE, kit.cookie_header(Identity::new("bob")))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "the status stays the rejection's"
    );
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="example", error="insufficient_scope", scope="admin""#
    );
    assert_eq!(body(res).await, r#"{"error":"missing scope: admin"}"#);
}

#[tokio::test]
async fn a_missing_credentials_rejection_made_in_a_handler_redirects_navigations_to_the_login() {
    use sealed_session::{AuthRejection, RejectionKind};

    let app = Router::new()
        .route(
            "/page",
            get(|session: Option<Session>| async move {
                match session {
                    Some(_) => Ok("page"),
                    None => Err(AuthRejection::from(RejectionKind::MissingCredentials)),
                }
            }),
        )
        .layer(SessionLayer::new(key(1)).with_login_redirect("/login"));
    // A browser navigation: the layer's login redirect, with the return path.
    let res = send(
        &app,
        Request::get("/page?x=1")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        res.headers()[header::LOCATION],
        "/login?login=/page%3Fx%3D1"
    );
    // An API call (a fetch): the 401 challenge, no redirect.
    let res = send(
        &app,
        Request::get("/page")
            .header("sec-fetch-mode", "cors")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(header::LOCATION).is_none());
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
}
