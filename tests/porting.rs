//! Behaviour tests for what porting the seed systems needed (issue 15): identities as data,
//! id + secret API keys, extra credential sources, request-aware guards, freshness and step-up.

mod common;

use axum::body::Body;
use axum::http::{HeaderName, Method, Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use sealed_session::{ApiKeys, Auth, CredentialSource, Identity, Session};

// ---------------------------------------------------------------------------------------------
// Identities as data

/// A login route that takes an asfquart-style session dict as JSON, and a route that reads it.
fn dict_routes() -> Router {
    Router::new()
        .route(
            "/login-dict",
            post(|auth: Auth, Json(who): Json<Identity>| async move {
                auth.login(who).map(|_| "ok").map_err(|e| e.to_string())
            }),
        )
        .route(
            "/who",
            get(|s: Session| async move {
                format!(
                    "{:?} role={} committees={:?} scopes={:?} fullname={:?}",
                    s.uid(),
                    s.is_role_account(),
                    s.groups(),
                    s.scopes(),
                    s.get::<String>("fullname").unwrap_or_default(),
                )
            }),
        )
}

#[tokio::test]
async fn an_asfquart_session_dict_logs_in_with_one_call() {
    let app = app();
    let router = dict_routes().layer(app.layer.clone());
    let dict = r#"{"uid": "alice", "roleaccount": false, "pmcs": ["httpd", "tomcat"],
        "fullname": "Alice A.", "metadata": {"scope": ["repo:read"]}}"#;
    let req = Request::post("/login-dict")
        .header("content-type", "application/json")
        .body(Body::from(dict))
        .unwrap();
    let res = send(&router, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_from(&res).expect("a session cookie");
    let req = Request::get("/who")
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    let res = send(&router, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body(res).await,
        r#"Some("alice") role=false committees=["httpd", "tomcat"] scopes=["repo:read"] fullname=Some("Alice A.")"#
    );
}

#[tokio::test]
async fn a_dict_with_a_non_boolean_flag_is_refused_not_logged_in() {
    let app = app();
    let router = dict_routes().layer(app.layer.clone());
    let req = Request::post("/login-dict")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"uid": "mallory", "roleaccount": "yes"}"#))
        .unwrap();
    let res = send(&router, req).await;
    assert!(res.status().is_client_error(), "{}", res.status());
    assert_no_set_cookie(&res);
}

// ---------------------------------------------------------------------------------------------
// Id + secret API keys and credential sources

fn key_app(keys: ApiKeys, sources: Vec<CredentialSource>) -> App {
    app_with(key(1), move |mut layer| {
        layer = layer.with_token_handler(keys);
        for source in sources {
            layer = layer.with_credential_source(source);
        }
        layer
    })
}

fn bitfount() -> CredentialSource {
    CredentialSource::key_pair(
        HeaderName::from_static("x-api-key-id"),
        HeaderName::from_static("x-api-key"),
    )
}

fn x_api_key() -> CredentialSource {
    CredentialSource::header(HeaderName::from_static("x-api-key"))
}

#[tokio::test]
async fn an_id_and_secret_key_works_as_a_bearer_token_and_dies_when_revoked() {
    let keys = ApiKeys::new()
        .with_key("k1", "s3cret-one", Identity::new("bot"))
        .unwrap();
    let app = key_app(keys.clone(), vec![]);
    let res = app.get_with_bearer("/me", "k1.s3cret-one").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "bot");

    let res = app.get_with_bearer("/me", "k1.s3cret-two").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res).unwrap().param("error"),
        Some("invalid_token")
    );

    assert!(keys.revoke("k1"), "the app's clone revokes for the layer");
    let res = app.get_with_bearer("/me", "k1.s3cret-one").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bitfount_headers_reach_the_handler_as_one_key() {
    let keys = ApiKeys::new()
        .with_key("k1", "s3cret", Identity::new("bot"))
        .unwrap();
    let app = key_app(keys, vec![bitfount()]);
    let pair = |id: &'static str, key: &'static str| {
        request(
            Method::GET,
            "/me",
            &[
                ("x-api-key-id", id.as_bytes()),
                ("x-api-key", key.as_bytes()),
            ],
        )
    };
    let res = app.send(pair("k1", "s3cret")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "bot");

    let res = app.send(pair("k1", "wrong")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&res).unwrap().param("error"),
        Some("invalid_token")
    );

    // Half a pair is a malformed request.
    let res = app
        .send(request(Method::GET, "/me", &[("x-api-key-id", b"k1")]))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        challenge(&res).unwrap().param("error"),
        Some("invalid_request")
    );

    // An id that is not a key id never reaches the handler.
    let res = app.send(pair("k.1", "s3cret")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_x_api_key_header_is_read_strictly_and_the_handler_runs_once() {
    let app = app_with(key(1), |l| l.with_credential_source(x_api_key()));
    let res = app
        .send(request(
            Method::GET,
            "/twice",
            &[("x-api-key", GOOD.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "alice true alice");
    assert_eq!(
        app.tokens.calls(),
        1,
        "one handler call for three extractors"
    );
    assert_no_set_cookie(
        &app.send(request(
            Method::GET,
            "/me",
            &[("x-api-key", GOOD.as_bytes())],
        ))
        .await,
    );

    for bad in [&b"two words"[..], b"", b"a,b", &[b'x'; 4097]] {
        let res = app
            .send(request(Method::GET, "/me", &[("x-api-key", bad)]))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(
            challenge(&res).unwrap().param("error"),
            Some("invalid_token")
        );
    }
    // Two fields, or the header beside Authorization: invalid_request.
    let twice = request(
        Method::GET,
        "/me",
        &[
            ("x-api-key", GOOD.as_bytes()),
            ("x-api-key", GOOD.as_bytes()),
        ],
    );
    assert_eq!(app.send(twice).await.status(), StatusCode::BAD_REQUEST);
    let both = request(
        Method::GET,
        "/me",
        &[
            ("x-api-key", GOOD.as_bytes()),
            ("authorization", format!("Bearer {GOOD}").as_bytes()),
        ],
    );
    assert_eq!(app.send(both).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.tokens.calls(),
        2,
        "refused requests never reach the handler"
    );

    // A failing backend answers 503, as for a bearer token.
    let res = app
        .send(request(
            Method::GET,
            "/me",
            &[("x-api-key", FAILING.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&res, "retry-after").is_some());
}

#[tokio::test]
async fn a_token_cookie_is_a_credential_but_never_the_session_and_never_a_query() {
    let app = app_with(key(1), |l| {
        l.with_credential_source(CredentialSource::cookie("mqtt_token"))
    });
    let cookie = format!("theme=dark; mqtt_token={GOOD}");
    let res = app
        .send(request(
            Method::GET,
            "/me",
            &[("cookie", cookie.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "alice");

    // Beside a sealed session: the token decides, and the session cookie is left alone.
    let session = app.login("uid=bob").await;
    let both = format!("{}; mqtt_token={GOOD}", session.to_str().unwrap());
    let res = app
        .send(request(Method::GET, "/me", &[("cookie", both.as_bytes())]))
        .await;
    assert_eq!(body(res).await, "alice");

    let res = app
        .send(request(
            Method::GET,
            "/me",
            &[("cookie", b"mqtt_token=a; mqtt_token=b")],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.get(&format!("/me?mqtt_token={GOOD}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res).unwrap().param("error"), None);
}

#[tokio::test]
async fn a_source_that_clashes_with_the_session_cookie_is_a_configuration_error() {
    let layer = app()
        .layer
        .with_credential_source(CredentialSource::cookie("__Host-session"));
    assert!(matches!(
        layer.validate(),
        Err(sealed_session::ConfigError::InvalidCredentialSource { .. })
    ));
}
