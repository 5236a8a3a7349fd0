//! The client against a real OpenID provider nobody here wrote: `oidc-provider` 9.x, started
//! per test on 127.0.0.1 from tests/oauth/oidc-client-provider.mjs. The test plays the user:
//! it opens the verification page, types the user code, confirms, signs in (or cancels), and
//! for the browser flow follows the redirects back to the loopback listener.
#![cfg(feature = "client")]

mod client_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use sealed_session::client::{
    ApiClient, ClientAuthLayer, ClientCredentials, ClientError, DeviceCode, FileStore, HttpClient,
    OAuthClient, RefreshingSource, TokenSet, Transport,
};
use sealed_session::{token_fn, Identity, Key, Session, SessionLayer};

use client_support::{form_value, logs, serve, Browser, NodeServer};

const LOGIN: &str = "tester";
const PASSWORD: &str = "correct horse battery staple";
const SERVICE_SECRET: &str = "service-secret-5a1f0c3e9b";
/// A fast "second" for the device flow's polling (its interval is 5 s).
const UNIT: Duration = Duration::from_millis(40);

async fn discover(op: &NodeServer, client_id: &str) -> OAuthClient {
    OAuthClient::discover(op.issuer.clone(), client_id)
        .await
        .expect("discovery")
        .with_scopes(["openid", "api:read"])
}

/// The user on another device: opens the verification page, types the code, confirms, and
/// signs in (`approve`) or cancels at the confirmation.
async fn user_approves_device(code_uri: String, user_code: String, approve: bool) {
    let mut browser = Browser::default();
    let page = browser.request(Method::GET, &code_uri, None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let xsrf = form_value(&String::from_utf8_lossy(page.body()), "xsrf");
    let confirm = browser
        .request(
            Method::POST,
            &code_uri,
            Some(&[("xsrf", &xsrf), ("user_code", &user_code)]),
        )
        .await;
    assert_eq!(confirm.status(), StatusCode::OK, "{:?}", confirm.body());
    let xsrf = form_value(&String::from_utf8_lossy(confirm.body()), "xsrf");
    if !approve {
        let res = browser
            .request(
                Method::POST,
                &code_uri,
                Some(&[("xsrf", &xsrf), ("user_code", &user_code), ("abort", "yes")]),
            )
            .await;
        assert!(!res.status().is_server_error());
        return;
    }
    let to_login = browser
        .post_redirect(
            &code_uri,
            &[
                ("xsrf", &xsrf),
                ("user_code", &user_code),
                ("confirm", "yes"),
            ],
        )
        .await;
    let origin = format!("{}/", code_uri.split("/device").next().unwrap());
    let (login_page, res) = browser.follow(&origin, &to_login).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(login_page.contains("/interaction/"), "{login_page}");
    let mut page = login_page;
    for _ in 0..3 {
        let back = browser
            .post_redirect(
                &format!("{page}/login"),
                &[("login", LOGIN), ("password", PASSWORD)],
            )
            .await;
        let (next, done) = browser.follow(&origin, &back).await;
        assert_eq!(done.status(), StatusCode::OK, "{:?}", done.body());
        if !next.contains("/interaction/") {
            return;
        }
        page = next;
    }
    panic!("the device approval did not finish within three interactions");
}

fn on_code(approve: bool, seen: Arc<Mutex<Option<DeviceCode>>>) -> impl FnOnce(&DeviceCode) {
    move |code: &DeviceCode| {
        *seen.lock().unwrap() = Some(code.clone());
        tokio::spawn(user_approves_device(
            code.verification_uri().to_owned(),
            code.user_code().to_owned(),
            approve,
        ));
    }
}

/// An API whose token handler asks the provider's userinfo endpoint who the token belongs to.
fn userinfo_api(userinfo: String) -> Router {
    let http = HttpClient::new();
    let tokens = token_fn(move |token: String| {
        let (http, userinfo) = (http.clone(), userinfo.clone());
        async move {
            let req = Request::get(userinfo)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Bytes::new())
                .unwrap();
            let res = http
                .send(req)
                .await
                .map_err(|e| sealed_session::TokenError::new(e.to_string()))?;
            if !res.status().is_success() {
                return Ok(None);
            }
            let claims: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            Ok(Some(Identity::new(
                claims["sub"].as_str().unwrap_or_default(),
            )))
        }
    });
    Router::new()
        .route(
            "/whoami",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens))
}

#[tokio::test]
async fn device_flow_then_refresh_across_expiry_store_rotation_and_revocation() {
    let log = logs();
    // 4-second access tokens.
    let op = NodeServer::oidc(4).await;
    let client = discover(&op, "device-cli").await;
    let seen = Arc::new(Mutex::new(None));
    let set = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(on_code(true, seen.clone()))
        .await
        .expect("device flow");
    let code = seen.lock().unwrap().clone().unwrap();
    assert!(code
        .verification_uri_complete()
        .unwrap()
        .contains(code.user_code()));
    assert!(
        op.count("token:urn:ietf:params:oauth:grant-type:device_code")
            .await
            >= 1
    );
    assert_eq!(set.provider(), op.issuer);
    assert_eq!(set.client_id(), "device-cli");
    assert!(set.refresh_token().is_some() && set.id_token().is_some());
    assert!(set.access_token().is_fresh(Duration::from_secs(1)));
    let mut secrets = vec![
        set.access_token_secret().to_owned(),
        set.refresh_token().unwrap().to_owned(),
        set.id_token().unwrap().to_owned(),
    ];

    // The host stores every new set; the API is called across the access token's expiry.
    let dir = std::env::temp_dir().join(format!("client-oidc-{}", std::process::id()));
    let store = FileStore::new(dir.join("tokens.json"), &client);
    store.save(&set).unwrap();
    let store2 = store.clone();
    let updates = Arc::new(Mutex::new(Vec::<TokenSet>::new()));
    let sink = updates.clone();
    let source = RefreshingSource::new(client.clone(), store.load().unwrap().expect("stored"))
        .with_token_updater(move |set| {
            store2.save(set).unwrap();
            sink.lock().unwrap().push(set.clone());
        });
    let addr = serve(userinfo_api(format!("{}/me", op.issuer))).await;
    let api = ApiClient::new(&format!("http://{addr}"), ClientAuthLayer::new(source)).unwrap();
    let res = api.get("whoami").await.unwrap();
    assert_eq!(
        (res.status(), res.body().as_ref()),
        (StatusCode::OK, LOGIN.as_bytes())
    );
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let res = api.get("whoami").await.unwrap();
    assert_eq!(
        (res.status(), res.body().as_ref()),
        (StatusCode::OK, LOGIN.as_bytes())
    );
    let refreshed = updates.lock().unwrap().last().cloned().expect("a refresh");
    // Every refresh reached the host (how many depends on how long sign-in took).
    let refreshes = op.count("token:refresh_token").await;
    assert!(refreshes >= 1);
    assert_eq!(refreshes, updates.lock().unwrap().len() as u64);
    assert_ne!(refreshed.refresh_token(), set.refresh_token(), "rotated");
    assert_eq!(
        store.load().unwrap().as_ref(),
        Some(&refreshed),
        "the host's file has the new set"
    );
    secrets.push(refreshed.access_token_secret().to_owned());
    secrets.push(refreshed.refresh_token().unwrap().to_owned());

    // The rotated-out refresh token no longer works: sign in again.
    let err = client.refresh(&set).await.unwrap_err();
    assert!(err.is_login_required(), "{err}");

    // Sign out: revoke; the refresh token is dead afterwards.
    let fresh = client.refresh(&refreshed).await;
    // (Reusing a rotated token may have ended the grant at this provider; either way, after
    // revocation nothing refreshes.)
    let last = fresh.unwrap_or(refreshed);
    client.revoke(&last).await.expect("revoke");
    assert!(op.count("revocation").await >= 1);
    let err = client.refresh(&last).await.unwrap_err();
    assert!(err.is_login_required(), "{err}");
    store.clear().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    log.assert_clean(&secrets);
}

#[tokio::test]
async fn device_flow_user_cancels_is_access_denied() {
    let op = NodeServer::oidc(30).await;
    let client = discover(&op, "device-cli").await;
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(on_code(false, Arc::default()))
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::AccessDenied);
}

#[tokio::test]
async fn device_flow_survives_slow_down_from_the_provider() {
    let op = NodeServer::oidc(30).await;
    op.control("slow-down", serde_json::json!({"n": 2})).await;
    let client = discover(&op, "device-cli").await;
    // The user approves only after the provider said slow_down twice.
    let polls = "token:urn:ietf:params:oauth:grant-type:device_code";
    let approve_late = |code: &DeviceCode| {
        let (uri, user_code) = (
            code.verification_uri().to_owned(),
            code.user_code().to_owned(),
        );
        let counts = format!("{}/__control/counts", uri.trim_end_matches("/device"));
        tokio::spawn(async move {
            let http = HttpClient::new();
            for _ in 0..200 {
                let res = http
                    .send(Request::get(&counts).body(Bytes::new()).unwrap())
                    .await
                    .unwrap();
                let c: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
                if c[polls].as_u64().unwrap_or(0) >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            user_approves_device(uri, user_code, true).await;
        });
    };
    let set = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(approve_late)
        .await
        .expect("device flow after slow_down");
    assert!(set.refresh_token().is_some());
    assert!(op.count(polls).await >= 3);
}

#[tokio::test]
async fn device_flow_cancelled_by_the_app() {
    let op = NodeServer::oidc(30).await;
    let client = discover(&op, "device-cli").await;
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run_until(|_| {}, tokio::time::sleep(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Cancelled);
}

/// The browser: follows the authorization URL to the login page, signs in or cancels, and
/// follows the redirects back to the loopback listener.
async fn browser_signs_in(
    issuer: String,
    url: String,
    approve: bool,
) -> (String, StatusCode, String) {
    let mut browser = Browser::default();
    let (login_page, res) = browser.follow(&format!("{issuer}/"), &url).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{login_page}: {:?}",
        res.body()
    );
    let action = if approve { "login" } else { "abort" };
    let mut page = login_page;
    let mut callback = None;
    // Sign in, then (if the provider asks) consent: at most three interaction pages.
    for _ in 0..3 {
        let back = browser
            .post_redirect(
                &format!("{page}/{action}"),
                &[("login", LOGIN), ("password", PASSWORD)],
            )
            .await;
        let (next, _) = browser.follow(&format!("{issuer}/"), &back).await;
        if next.contains("/interaction/") {
            page = next;
        } else {
            callback = Some(next);
            break;
        }
    }
    let callback = callback.expect("back to the app within three interactions");
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let res = browser.request(Method::GET, &callback, None).await;
    (
        callback,
        res.status(),
        String::from_utf8_lossy(res.body()).into_owned(),
    )
}

#[tokio::test]
async fn loopback_flow_signs_in_with_pkce_and_listens_once() {
    let log = logs();
    let op = NodeServer::oidc(30).await;
    let client = discover(&op, "browser-cli").await;
    let browser = Arc::new(Mutex::new(None));
    let handle = browser.clone();
    let issuer = op.issuer.clone();
    let set = client
        .loopback_flow()
        .with_timeout(Duration::from_secs(30))
        .run(move |url| {
            assert!(url.contains("code_challenge_method=S256"));
            assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
            *handle.lock().unwrap() =
                Some(tokio::spawn(browser_signs_in(issuer, url.to_owned(), true)));
        })
        .await
        .expect("loopback flow");
    let task = browser.lock().unwrap().take().unwrap();
    let (callback, status, page) = task.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Signed in"));
    assert_eq!(set.client_id(), "browser-cli");
    assert!(set.refresh_token().is_some() && set.id_token().is_some());
    assert_eq!(op.count("token:authorization_code").await, 1);
    // One callback only: the listener is gone.
    let again = HttpClient::new()
        .send(Request::get(&callback).body(Bytes::new()).unwrap())
        .await;
    assert!(
        matches!(again, Err(ClientError::Transport { .. })),
        "{again:?}"
    );
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    log.assert_clean(&[
        set.access_token_secret(),
        set.refresh_token().unwrap(),
        &code,
    ]);
}

#[tokio::test]
async fn loopback_flow_error_answer_is_access_denied() {
    let op = NodeServer::oidc(30).await;
    let client = discover(&op, "browser-cli").await;
    let issuer = op.issuer.clone();
    let browser = Arc::new(Mutex::new(None));
    let handle = browser.clone();
    let err = client
        .loopback_flow()
        .with_timeout(Duration::from_secs(30))
        .run(move |url| {
            *handle.lock().unwrap() = Some(tokio::spawn(browser_signs_in(
                issuer,
                url.to_owned(),
                false,
            )));
        })
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::AccessDenied);
    let task = browser.lock().unwrap().take().unwrap();
    let (callback, status, _) = task.await.unwrap();
    assert!(callback.contains("error=access_denied"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(op.count("token:authorization_code").await, 0);
}

/// A forged callback (wrong state, after an unrelated request; then another issuer's `iss`):
/// the flow ends with a typed error, and no code is exchanged (the token endpoint is a closed
/// port, so an exchange would be a transport error).
#[tokio::test]
async fn loopback_flow_wrong_state_wrong_issuer_and_timeout() {
    let client = OAuthClient::new(
        "http://127.0.0.1:9",
        "browser-cli",
        "http://127.0.0.1:9/token",
    )
    .with_authorization_endpoint("http://127.0.0.1:9/auth");
    let seen = Arc::new(Mutex::new(None));
    let handle = seen.clone();
    let err = client
        .loopback_flow()
        .with_timeout(Duration::from_secs(30))
        .run(move |url| {
            let redirect = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .unwrap()
                .1
                .into_owned();
            *handle.lock().unwrap() = Some(tokio::spawn(async move {
                let mut browser = Browser::default();
                let base = redirect.trim_end_matches("/callback").to_owned();
                let favicon = browser
                    .request(Method::GET, &format!("{base}/favicon.ico"), None)
                    .await;
                let forged = browser
                    .request(
                        Method::GET,
                        &format!("{redirect}?code=stolen&state=wrong"),
                        None,
                    )
                    .await;
                (favicon.status(), forged.status())
            }));
        })
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::StateMismatch);
    let task = seen.lock().unwrap().take().unwrap();
    let statuses = task.await.unwrap();
    assert_eq!(statuses, (StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST));

    // The right state, but the answer names another issuer (RFC 9207 mix-up).
    let seen = Arc::new(Mutex::new(None));
    let handle = seen.clone();
    let err = client
        .loopback_flow()
        .with_timeout(Duration::from_secs(30))
        .run(move |url| {
            let url = url::Url::parse(url).unwrap();
            let param = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .unwrap()
                    .1
                    .into_owned()
            };
            let (redirect, state) = (param("redirect_uri"), param("state"));
            *handle.lock().unwrap() = Some(tokio::spawn(async move {
                let mut browser = Browser::default();
                let url =
                    format!("{redirect}?code=c0de&state={state}&iss=https%3A%2F%2Fevil.example");
                browser.request(Method::GET, &url, None).await.status()
            }));
        })
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::IssuerMismatch);
    let task = seen.lock().unwrap().take().unwrap();
    assert_eq!(task.await.unwrap(), StatusCode::BAD_REQUEST);

    // A silent preconnect, then the (forged) callback, within a flow timeout shorter than the
    // listener's per-connection timeout (10 s): the callback is served at once.
    let seen = Arc::new(Mutex::new(None));
    let handle = seen.clone();
    let err = client
        .loopback_flow()
        .with_timeout(Duration::from_secs(5))
        .run(move |url| {
            let redirect = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .unwrap()
                .1
                .into_owned();
            *handle.lock().unwrap() = Some(tokio::spawn(async move {
                let addr = redirect
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap()
                    .to_owned();
                let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let mut browser = Browser::default();
                let status = browser
                    .request(Method::GET, &format!("{redirect}?code=x&state=y"), None)
                    .await
                    .status();
                drop(silent);
                status
            }));
        })
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::StateMismatch);
    let task = seen.lock().unwrap().take().unwrap();
    assert_eq!(task.await.unwrap(), StatusCode::BAD_REQUEST);

    // Nobody comes back.
    let err = client
        .loopback_flow()
        .with_timeout(Duration::from_millis(300))
        .run(|_| {})
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::TimedOut);
}

#[tokio::test]
async fn client_credentials_for_a_service_account() {
    let log = logs();
    let op = NodeServer::oidc(30).await;
    let client = OAuthClient::discover(op.issuer.clone(), "service")
        .await
        .unwrap()
        .with_client_secret(SERVICE_SECRET)
        .with_scopes(["api:read"]);
    let layer = ClientAuthLayer::new(ClientCredentials::new(client.clone()));
    let token = layer.access_token().await.unwrap();
    assert!(token.is_fresh(Duration::from_secs(10)));
    // Cached: no second call.
    let again = layer.access_token().await.unwrap();
    assert!(again.same_secret(&token));
    assert_eq!(op.count("token:client_credentials").await, 1);
    let wrong = client.clone().with_client_secret("wrong-secret-123");
    let err = wrong.client_credentials().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Provider { ref error, .. } if error == "invalid_client"),
        "{err}"
    );
    log.assert_clean(&[SERVICE_SECRET, token.secret()]);
}
