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
async fn a_session_answers_as_the_same_json_shape_and_logs_in_again_from_it() {
    let app = app();
    let router = dict_routes()
        .route(
            "/export",
            get(|s: Session| async move { Json(s.to_identity()) }),
        )
        .layer(app.layer.clone());
    let res = send(
        &router,
        Request::get("/export")
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let exported = body(res).await;
    let json: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(json["uid"], "root");
    assert_eq!(json["mfa"], true);
    assert_eq!(json["roles"], serde_json::json!(["ops"]));
    assert_eq!(
        json["metadata"]["scope"],
        serde_json::json!(["admin", "read"])
    );
    // Exported from a bearer session, logged in as a cookie session: the same identity.
    let req = Request::post("/login-dict")
        .header("content-type", "application/json")
        .body(Body::from(exported))
        .unwrap();
    let res = send(&router, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let session = app.kit.session_from_response(&res).unwrap();
    assert_eq!(session.uid().as_deref(), Some("root"));
    assert!(session.mfa());
    assert!(session.has_scope("admin"));
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

// ---------------------------------------------------------------------------------------------
// Guards that see the request

fn guarded_routes() -> Router {
    use sealed_session::{RequireAuth, Requirement};
    let manager = Requirement::role_from_request(|req| {
        req.param("id").map(|id| format!("list-{id}-manager"))
    });
    let publish = Requirement::permits_from_request(|req| {
        Some(format!("realm/s/{}/objects", req.param("scene")?))
    });
    let writes = Requirement::request("only editors may write", |session, req| {
        req.method() == Method::GET || session.has_role("editor")
    });
    Router::new()
        .route(
            "/lists/{id}",
            post(|body: String| async move { format!("got {body}") })
                .route_layer(RequireAuth::from(manager.clone())),
        )
        .route(
            "/scenes/{scene}/objects",
            post(|| async { "published" }).route_layer(
                RequireAuth::all_of([Requirement::human()]).with_any_of([publish, writes]),
            ),
        )
        // `Router::layer` wraps each route too (after routing): the parameters are known.
        .merge(
            Router::new()
                .route("/early/{id}", get(|| async { "early" }))
                .layer(RequireAuth::from(manager)),
        )
}

fn guarded_app() -> (App, Router) {
    let app = app();
    let router = guarded_routes().layer(app.layer.clone());
    (app, router)
}

async fn post_as(
    router: &Router,
    path: &str,
    cookie: &str,
    body: &'static str,
) -> axum::http::Response<Body> {
    let req = Request::post(path)
        .header("cookie", cookie)
        .body(Body::from(body))
        .unwrap();
    send(router, req).await
}

#[tokio::test]
async fn a_role_built_from_the_path_guards_the_route_and_names_itself_in_the_403() {
    let (app, router) = guarded_app();
    let carol = app
        .kit
        .cookie_header(Identity::new("carol").with_roles(["list-x23-manager"]));
    let carol = carol.to_str().unwrap();
    let res = post_as(&router, "/lists/x23", carol, "payload").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        body(res).await,
        "got payload",
        "the request reaches the handler whole"
    );

    let res = post_as(&router, "/lists/x24", carol, "payload").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "missing role: list-x24-manager");

    // Percent-decoded parameters: `x%32%33` is `x23`.
    let res = post_as(&router, "/lists/x%32%33", carol, "p").await;
    assert_eq!(res.status(), StatusCode::OK);

    // Nobody: still a 401 challenge, never a 403.
    let res = send(
        &router,
        Request::post("/lists/x23").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_topic_from_the_path_or_a_method_rule_lets_a_publisher_in() {
    let (app, router) = guarded_app();
    let alice = app
        .kit
        .cookie_header(Identity::new("alice").with_scopes(["realm/s/lobby/#"]));
    let alice = alice.to_str().unwrap();
    assert_eq!(
        post_as(&router, "/scenes/lobby/objects", alice, "")
            .await
            .status(),
        StatusCode::OK
    );
    let res = post_as(&router, "/scenes/vault/objects", alice, "").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body(res).await,
        "no scope permits: realm/s/vault/objects\nonly editors may write"
    );
    // An editor passes the any_of through the method rule; a role account never passes.
    let editor = app
        .kit
        .cookie_header(Identity::new("ed").with_roles(["editor"]));
    assert_eq!(
        post_as(
            &router,
            "/scenes/vault/objects",
            editor.to_str().unwrap(),
            ""
        )
        .await
        .status(),
        StatusCode::OK
    );
    let bot = app.kit.cookie_header(
        Identity::new("bot")
            .with_roles(["editor"])
            .with_role_account(true),
    );
    let res = post_as(&router, "/scenes/vault/objects", bot.to_str().unwrap(), "").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "role accounts may not do this");
}

#[tokio::test]
async fn a_request_guard_sees_parameters_under_router_layer_but_none_around_the_router() {
    use sealed_session::{RequireAuth, Requirement};
    use tower::Layer;
    let (app, router) = guarded_app();
    let carol = app
        .kit
        .cookie_header(Identity::new("carol").with_roles(["list-x23-manager"]));
    let carol = carol.to_str().unwrap();
    assert_eq!(
        app_get(&router, "/early/x23", carol).await.status(),
        StatusCode::OK
    );
    let res = app_get(&router, "/early/x24", carol).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "missing role: list-x24-manager");

    // Around the whole router, before routing: no parameters, so the role is never met.
    let manager = Requirement::role_from_request(|req| {
        req.param("id").map(|id| format!("list-{id}-manager"))
    });
    let outside = Router::new().fallback_service(
        RequireAuth::from(manager)
            .layer(Router::new().route("/early/{id}", get(|| async { "early" }))),
    );
    let outside = outside.layer(app.layer.clone());
    let res = app_get(&outside, "/early/x23", carol).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "missing role for this resource");
}

#[tokio::test]
async fn a_request_guard_waits_for_a_bearer_token_and_still_sees_the_path() {
    let app = app();
    let tokens = ApiKeys::new().with_token(
        "manager-token",
        Identity::new("m").with_roles(["list-a1-manager"]),
    );
    let layer = app.layer.clone().with_token_handler(tokens);
    let router2 = guarded_routes().layer(layer);
    let bearer = |path: &str| {
        Request::post(path)
            .header("authorization", "Bearer manager-token")
            .body(Body::from("x"))
            .unwrap()
    };
    let res = send(&router2, bearer("/lists/a1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "got x");
    let res = send(&router2, bearer("/lists/a2")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "missing role: list-a2-manager");
}

async fn app_get(router: &Router, path: &str, cookie: &str) -> axum::http::Response<Body> {
    let req = Request::get(path)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    send(router, req).await
}

// ---------------------------------------------------------------------------------------------
// Freshness and step-up

fn fresh_app(login_redirect: bool) -> (App, Router) {
    use sealed_session::{RequireAuth, Requirement};
    let app = app_with(key(1), |l| {
        if login_redirect {
            l.with_login_redirect("/auth")
        } else {
            l
        }
    });
    let router = Router::new()
        .route(
            "/password",
            post(|| async { "changed" }).route_layer(RequireAuth::from(Requirement::max_auth_age(
                time::Duration::minutes(5),
            ))),
        )
        .route(
            "/daily",
            get(|s: Session| async move { format!("idle {}", s.idle_for().whole_seconds()) })
                .route_layer(RequireAuth::from(Requirement::max_idle(
                    time::Duration::days(1),
                ))),
        )
        .route(
            "/mfa",
            get(|| async { "strong" }).route_layer(
                RequireAuth::from(Requirement::mfa()).with_acr_values("urn:example:mfa"),
            ),
        )
        .route(
            "/mfa-and-role",
            get(|| async { "strong" }).route_layer(RequireAuth::all_of([
                Requirement::mfa(),
                Requirement::role("ops"),
            ])),
        )
        .route(
            "/ages",
            get(|s: Session| async move {
                format!(
                    "{} {} {}",
                    s.idle_for().whole_seconds(),
                    s.age().whole_seconds(),
                    s.auth_age().whole_seconds()
                )
            }),
        )
        .merge(routes())
        .layer(app.layer.clone());
    (app, router)
}

#[tokio::test]
async fn session_ages_are_read_on_the_layers_clock() {
    let (app, router) = fresh_app(false);
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    app.clock.advance(time::Duration::seconds(90));
    let res = app_get(&router, "/ages", cookie.to_str().unwrap()).await;
    assert_eq!(body(res).await, "90 90 90");
    let res = send(
        &router,
        Request::get("/ages")
            .header("authorization", format!("Bearer {GOOD}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        body(res).await,
        "0 0 0",
        "a bearer session is made for its request"
    );
}

#[tokio::test]
async fn a_route_stricter_than_the_layer_refuses_an_idle_session() {
    let (app, router) = fresh_app(false);
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    let cookie = cookie.to_str().unwrap();
    app.clock.advance(time::Duration::hours(23));
    let res = app_get(&router, "/daily", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, format!("idle {}", 23 * 3600));
    // The same cookie, unused for more than a day (the layer's own limit is 7 days).
    app.clock.advance(time::Duration::hours(2));
    let res = app_get(&router, "/daily", cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body(res).await,
        "session unused for more than 86400 seconds: log in again"
    );
    assert_eq!(
        app_get(&router, "/me", cookie).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_old_login_sends_a_browser_to_log_in_again_with_its_return_path() {
    let (app, router) = fresh_app(true);
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    let cookie = cookie.to_str().unwrap();
    assert_eq!(
        post_as(&router, "/password", cookie, "").await.status(),
        StatusCode::OK
    );
    app.clock.advance(time::Duration::minutes(6));
    let res = post_as(&router, "/password", cookie, "").await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/password&prompt=login&max_age=300")
    );
    assert!(www(&res).is_none());
    // X-No-Redirect: the reasons, as a 403.
    let req = Request::post("/password")
        .header("cookie", cookie)
        .header("x-no-redirect", "1")
        .body(Body::empty())
        .unwrap();
    let res = send(&router, req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A new login records a new auth time: the route opens again.
    let fresh = app.login("uid=alice").await;
    let res = post_as(&router, "/password", fresh.to_str().unwrap(), "").await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_clients_get_the_rfc_9470_step_up_challenge() {
    let (_app, router) = fresh_app(true);
    let bearer = |path: &str, token: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    // GOOD has no MFA.
    let res = send(&router, bearer("/mfa", GOOD)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&res).unwrap();
    assert_eq!(c.scheme, "Bearer");
    assert_eq!(c.param("error"), Some("insufficient_user_authentication"));
    assert_eq!(c.param("acr_values"), Some("urn:example:mfa"));
    assert_eq!(c.param("max_age"), None);
    assert!(header(&res, "location").is_none());
    assert_eq!(body(res).await, "multi-factor authentication required");
    // ADMIN has MFA.
    assert_eq!(
        send(&router, bearer("/mfa", ADMIN)).await.status(),
        StatusCode::OK
    );
    // Logging in again would not give a role: a plain 403.
    let res = send(&router, bearer("/mfa-and-role", GOOD)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // A cookie session without MFA and no login page keeps the 403.
    let (app, router) = fresh_app(false);
    let cookie = app.kit.cookie_header(Identity::new("bob"));
    let res = app_get(&router, "/mfa", cookie.to_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// RFC 9470 `max_age` through a Router (a review finding: it was only unit-tested). A token
/// handler states when the caller authenticated (`Identity::with_auth_time`, as `JwtHandler`
/// does from a token's `auth_time`); a route that needs a more recent authentication answers
/// the API client 401 `insufficient_user_authentication` with the strictest unmet limit as
/// `max_age`, and the guard's `acr_values`, never a redirect, even with a login page.
#[tokio::test]
async fn api_clients_get_max_age_in_the_step_up_challenge() {
    use sealed_session::{token_fn, RequireAuth, Requirement};
    let minutes = time::Duration::minutes;
    let tokens = token_fn(move |token: String| async move {
        let (ago, mfa) = match token.as_str() {
            "recent" => (1, false),
            "old" => (10, false),
            "old-mfa" => (10, true),
            "future" => (-10, false),
            _ => return Ok(None),
        };
        Ok(Some(
            Identity::new("alice")
                .with_mfa(mfa)
                .with_auth_time(T0 - minutes(ago)),
        ))
    });
    // Behind a cache: a cached answer keeps the stated time.
    let app = app_with(key(1), |l| {
        l.with_login_redirect("/auth")
            .with_token_handler(sealed_session::TokenCache::new(tokens))
    });
    let router = Router::new()
        .route(
            "/password",
            post(|| async { "changed" })
                .route_layer(RequireAuth::from(Requirement::max_auth_age(minutes(5)))),
        )
        .route(
            "/recent-and-active",
            get(|| async { "ok" }).route_layer(RequireAuth::all_of([
                Requirement::max_auth_age(minutes(8)),
                Requirement::max_auth_age(minutes(3)),
            ])),
        )
        .route(
            "/strong",
            get(|| async { "ok" }).route_layer(
                RequireAuth::all_of([Requirement::mfa(), Requirement::max_auth_age(minutes(5))])
                    .with_acr_values("urn:example:mfa"),
            ),
        )
        .route(
            "/ages",
            get(|s: Session| async move { s.auth_age().whole_seconds().to_string() }),
        )
        .layer(app.layer.clone());
    let bearer = |method: Method, path: &str, token: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };

    let res = send(&router, bearer(Method::POST, "/password", "old")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        header(&res, "location").is_none(),
        "an API client is never redirected"
    );
    assert_eq!(
        www(&res),
        Some(
            "Bearer realm=\"sealed-session\", error=\"insufficient_user_authentication\", \
             error_description=\"A more recent authentication is required\", max_age=\"300\""
        )
    );
    assert_eq!(
        body(res).await,
        "authenticated more than 300 seconds ago: log in again"
    );
    let res = send(&router, bearer(Method::POST, "/password", "recent")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The same tokens again, from the cache.
    let res = send(&router, bearer(Method::POST, "/password", "old")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&res).unwrap().param("max_age"), Some("300"));

    // Two limits unmet: the strictest is asked for.
    let res = send(&router, bearer(Method::GET, "/recent-and-active", "old")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&res).unwrap();
    assert_eq!(c.param("error"), Some("insufficient_user_authentication"));
    assert_eq!(c.param("max_age"), Some("180"));

    // MFA and a limit: both in the challenge; with MFA, only the limit.
    let res = send(&router, bearer(Method::GET, "/strong", "old")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&res).unwrap();
    assert_eq!(c.param("max_age"), Some("300"));
    assert_eq!(c.param("acr_values"), Some("urn:example:mfa"));
    let res = send(&router, bearer(Method::GET, "/strong", "old-mfa")).await;
    let c = challenge(&res).unwrap();
    assert_eq!(c.param("max_age"), Some("300"));

    // The session reads the stated time; one in the future counts as now.
    let res = send(&router, bearer(Method::GET, "/ages", "old")).await;
    assert_eq!(body(res).await, "600");
    let res = send(&router, bearer(Method::GET, "/ages", "future")).await;
    assert_eq!(body(res).await, "0");
}

#[tokio::test]
async fn a_bearer_session_is_authenticated_by_its_own_request() {
    use sealed_session::{RequireAuth, Requirement};
    let app = app();
    let router = Router::new()
        .route(
            "/strict",
            get(|| async { "ok" }).route_layer(RequireAuth::from(Requirement::max_auth_age(
                time::Duration::ZERO,
            ))),
        )
        .layer(app.layer.clone());
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    app.clock.advance(time::Duration::seconds(1));
    let res = app_get(&router, "/strict", cookie.to_str().unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "no login page: the 403"
    );
    let res = send(
        &router,
        Request::get("/strict")
            .header("authorization", format!("Bearer {GOOD}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a bearer session authenticated just now"
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions over 4 KB

/// The `(name, value)` pairs of the session chunks a response sets (deletions left out).
fn chunks_set(res: &axum::http::Response<Body>) -> Vec<(String, String)> {
    set_cookies(res)
        .iter()
        .filter_map(|line| {
            let pair = line.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            (name.starts_with("__Host-session") && !value.is_empty())
                .then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The names a response deletes.
fn chunks_deleted(res: &axum::http::Response<Body>) -> Vec<String> {
    set_cookies(res)
        .iter()
        .filter(|line| line.contains("Max-Age=0"))
        .filter_map(|line| line.split_once('=').map(|(n, _)| n.to_owned()))
        .collect()
}

fn cookie_of(chunks: &[(String, String)]) -> String {
    chunks
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn chunked_app() -> App {
    app_with(key(1), |l| l.with_cookie_chunks(4))
}

#[tokio::test]
async fn a_large_session_is_split_across_cookies_and_opens_whole() {
    let app = chunked_app();
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=6000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let chunks = chunks_set(&res);
    let names: Vec<&str> = chunks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["__Host-session", "__Host-session.1", "__Host-session.2"]
    );
    for (name, value) in &chunks {
        assert!(name.len() + value.len() <= 4096, "{name}: {}", value.len());
    }
    assert_eq!(
        chunks_deleted(&res),
        ["__Host-session.3"],
        "the unused slot is cleared"
    );
    for line in set_cookies(&res) {
        assert!(line.contains("; Secure; HttpOnly; SameSite=Lax"), "{line}");
    }

    let cookie = cookie_of(&chunks);
    let res = app
        .send(request(
            Method::GET,
            "/read?k=pad",
            &[("cookie", cookie.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await.len(), 6000);

    // Past every chunk: refused as too large, as without chunking.
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=20000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_shrinking_session_deletes_its_stale_chunks() {
    let app = chunked_app();
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=6000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let cookie = cookie_of(&chunks_set(&res));
    let res = app
        .send(request(
            Method::POST,
            "/insert?k=pad&v=small",
            &[("cookie", cookie.as_bytes())],
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let chunks = chunks_set(&res);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].0, "__Host-session");
    let mut deleted = chunks_deleted(&res);
    deleted.sort();
    assert_eq!(
        deleted,
        ["__Host-session.1", "__Host-session.2", "__Host-session.3"]
    );
    let res = app
        .send(request(
            Method::GET,
            "/read?k=pad",
            &[("cookie", cookie_of(&chunks).as_bytes())],
        ))
        .await;
    assert_eq!(body(res).await, "small");
}

#[tokio::test]
async fn a_missing_or_reordered_chunk_is_no_session_and_every_chunk_is_deleted() {
    let app = chunked_app();
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=6000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let chunks = chunks_set(&res);
    assert_eq!(chunks.len(), 3);
    let swapped = vec![
        (chunks[0].0.clone(), chunks[0].1.clone()),
        (chunks[1].0.clone(), chunks[2].1.clone()),
        (chunks[2].0.clone(), chunks[1].1.clone()),
    ];
    let cases = [
        ("missing last", cookie_of(&chunks[..2])),
        (
            "missing middle",
            cookie_of(&[chunks[0].clone(), chunks[2].clone()]),
        ),
        ("missing first", cookie_of(&chunks[1..])),
        ("reordered", cookie_of(&swapped)),
        (
            "duplicated",
            format!("{}; {}={}", cookie_of(&chunks), chunks[1].0, chunks[1].1),
        ),
    ];
    for (what, cookie) in cases {
        let res = app
            .send(request(
                Method::GET,
                "/me",
                &[("cookie", cookie.as_bytes())],
            ))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
        let mut deleted = chunks_deleted(&res);
        deleted.sort();
        assert_eq!(
            deleted,
            [
                "__Host-session",
                "__Host-session.1",
                "__Host-session.2",
                "__Host-session.3"
            ],
            "{what}"
        );
    }
}

#[tokio::test]
async fn chunk_counts_outside_the_bound_are_configuration_errors() {
    for chunks in [0, sealed_session::MAX_COOKIE_CHUNKS + 1] {
        let layer = app().layer.with_cookie_chunks(chunks);
        assert_eq!(
            layer.validate(),
            Err(sealed_session::ConfigError::InvalidCookieChunks { chunks })
        );
    }
    // Without chunking, a large session is still refused.
    let app = app();
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=6000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
