//! The `/auth` login and logout flow, end to end against a real OAuth2/OIDC server on
//! 127.0.0.1: `oauth2-mock-server` 8.2.3 from the npm registry, started per test from
//! `tests/oauth/` (installed from its committed lock file on first use).
//!
//! The app runs in process (`oneshot`) with the external base URL `https://app.example.org`;
//! the crate's own HTTP client talks to the mock over TCP. A small `Browser` keeps cookies and
//! follows each redirect by hand, so every hop is asserted.
#![cfg(feature = "oauth")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use common::node::NodeProvider;
use common::{body, header, key, log_capture};
use sealed_session::oauth::{
    HttpTransport, HyperTransport, MapError, MfaPolicy, OAuthLogin, Provider, ProviderAnswer,
};
use sealed_session::testing::ManualClock;
use sealed_session::{token_fn, Identity, Key, RequireAuth, Session, SessionLayer, TokenError};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt as _;

const BASE: &str = "https://app.example.org";
const CLIENT_ID: &str = "sealed-app";
const CLIENT_SECRET: &str = "client-secret-9f8e7d6c5b";
const TEST_DEADLINE: StdDuration = StdDuration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The mock provider

struct Mock {
    issuer: String,
    transport: HyperTransport,
    node: NodeProvider,
}

impl Mock {
    async fn start() -> Self {
        let node = NodeProvider::start(
            "mock-server.mjs",
            "oauth2-mock-server",
            &["--lifetime", "120"],
            false,
        )
        .await;
        Self {
            issuer: node.issuer.clone(),
            transport: HyperTransport::new(),
            node,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn provider(&self) -> Provider {
        Provider::oidc(self.issuer.clone(), CLIENT_ID)
            .with_client_secret(CLIENT_SECRET)
            .with_endpoints(
                self.url("/authorize"),
                self.url("/token"),
                self.url("/jwks"),
            )
            .with_scopes(["openid", "email"])
    }

    async fn request(&self, method: Method, path: &str, body: Option<Value>) -> Response<Vec<u8>> {
        let mut req = Request::builder().method(method).uri(self.url(path));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.transport
            .send(req.body(bytes).unwrap())
            .await
            .expect("mock reachable")
    }

    async fn control(&self, what: &str, body: Value) {
        let res = self
            .request(Method::POST, &format!("/__control/{what}"), Some(body))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "control {what}");
    }

    async fn json(&self, what: &str) -> Value {
        let res = self
            .request(Method::GET, &format!("/__control/{what}"), None)
            .await;
        serde_json::from_slice(res.body()).expect("control json")
    }

    async fn count(&self, path: &str) -> u64 {
        self.json("counts").await[path].as_u64().unwrap_or(0)
    }

    /// The browser's visit to the provider: the authorize URL answers with a redirect back.
    async fn visit(&self, url: &str) -> String {
        let res = self
            .transport
            .send(Request::get(url).body(Vec::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FOUND,
            "provider: {}",
            String::from_utf8_lossy(res.body())
        );
        res.headers()[header::LOCATION].to_str().unwrap().to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// The app and the browser

struct App {
    router: Router,
    clock: ManualClock,
}

fn now() -> OffsetDateTime {
    // The mock signs with the real time; the app's clock starts there and moves by hand.
    OffsetDateTime::now_utc()
}

async fn me(session: Session) -> String {
    format!("uid={}", session.uid().unwrap_or_default())
}

fn app_with(key: Key, login: OAuthLogin, layer: impl FnOnce(SessionLayer) -> SessionLayer) -> App {
    let clock = ManualClock::new(now());
    let service = login.service().expect("valid login config");
    let tokens = token_fn(|token: String| async move {
        match token.as_str() {
            "robot-token-1234" => Ok(Some(Identity::new("robot").with_role_account(true))),
            _ => Ok::<_, TokenError>(None),
        }
    });
    let router = Router::new()
        .route("/secret", get(me).route_layer(RequireAuth::authenticated()))
        .route("/me", get(me))
        .route(
            "/remember",
            get(|s: Session| async move {
                s.insert("color", &"blue").unwrap();
                "ok"
            }),
        )
        .route(
            "/color",
            get(|s: Session| async move { format!("{:?}", s.get::<String>("color").unwrap()) }),
        )
        .route_service(login.mount_path(), service)
        .layer(layer(
            SessionLayer::new(key)
                .with_clock(clock.clone())
                .with_login_redirect("/auth")
                .with_token_handler(tokens),
        ));
    App { router, clock }
}

fn app(mock: &Mock) -> App {
    app_with(key(1), OAuthLogin::new(mock.provider(), BASE), |l| l)
}

#[derive(Default, Clone)]
struct Browser {
    jar: BTreeMap<String, String>,
}

impl Browser {
    fn absorb(&mut self, res: &Response<Body>) {
        for line in res.headers().get_all(header::SET_COOKIE) {
            let line = line.to_str().unwrap();
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if line.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie(&self) -> Option<String> {
        (!self.jar.is_empty()).then(|| {
            self.jar
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn flow_cookies(&self) -> Vec<String> {
        self.jar
            .keys()
            .filter(|n| n.starts_with("__Host-auth-"))
            .cloned()
            .collect()
    }

    /// A request to the app: `target` is a path or an absolute URL on the app's origin.
    async fn send(
        &mut self,
        app: &App,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Response<Body> {
        let path = target.strip_prefix(BASE).unwrap_or(target);
        assert!(
            path.starts_with('/'),
            "the browser stays on the app: {target}"
        );
        let mut req = Request::builder().method(method).uri(path);
        if let Some(cookie) = self.cookie() {
            req = req.header(header::COOKIE, cookie);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = app
            .router
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        self.absorb(&res);
        res
    }

    /// A navigation: the browser follows a link or a redirect.
    async fn get(&mut self, app: &App, target: &str) -> Response<Body> {
        self.send(app, Method::GET, target, &[("sec-fetch-mode", "navigate")])
            .await
    }

    /// Starts a login at `target` (a `/auth?login…` path), as a navigation on the app's own
    /// pages, and returns the provider URL.
    async fn start(&mut self, app: &App, target: &str) -> String {
        let res = self
            .send(
                app,
                Method::GET,
                target,
                &[("sec-fetch-site", "same-origin")],
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::FOUND,
            "start: {}",
            body(res).await
        );
        location(&res)
    }

    /// Start, provider, and the callback URL the provider sends the browser to.
    async fn callback_url(&mut self, app: &App, mock: &Mock, target: &str) -> String {
        let authorize = self.start(app, target).await;
        let back = mock.visit(&authorize).await;
        assert!(
            back.starts_with(&format!("{BASE}/auth?")),
            "back to the app: {back}"
        );
        back
    }

    /// The whole login: start, provider, callback. Returns the callback's response.
    async fn login(&mut self, app: &App, mock: &Mock, target: &str) -> Response<Body> {
        let back = self.callback_url(app, mock, target).await;
        self.get(app, &back).await
    }
}

fn location(res: &Response<Body>) -> String {
    header(res, "location").expect("Location").to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_DEADLINE, f)
        .await
        .expect("test deadline")
}

// ---------------------------------------------------------------------------------------------
// The round trip

#[tokio::test]
async fn full_login_round_trip_lands_on_the_return_path() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();

        // A guarded page sends the anonymous browser to log in, remembering where it was.
        let res = browser.get(&app, "/secret?x=1").await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let login = location(&res);
        assert_eq!(login, "/auth?login=/secret%3Fx%3D1");

        // Login start: a redirect to the provider, with PKCE S256, state and nonce.
        let authorize = browser.start(&app, &login).await;
        assert!(
            authorize.starts_with(&mock.url("/authorize?")),
            "{authorize}"
        );
        assert_eq!(
            query_param(&authorize, "response_type").as_deref(),
            Some("code")
        );
        assert_eq!(
            query_param(&authorize, "client_id").as_deref(),
            Some(CLIENT_ID)
        );
        assert_eq!(
            query_param(&authorize, "redirect_uri").as_deref(),
            Some("https://app.example.org/auth")
        );
        assert!(query_param(&authorize, "scope")
            .unwrap()
            .split(' ')
            .any(|s| s == "openid"));
        assert_eq!(
            query_param(&authorize, "code_challenge_method").as_deref(),
            Some("S256")
        );
        assert_eq!(query_param(&authorize, "code_challenge").unwrap().len(), 43);
        assert!(query_param(&authorize, "nonce").unwrap().len() >= 22);
        let state = query_param(&authorize, "state").unwrap();
        assert_eq!(
            browser.flow_cookies(),
            [format!("__Host-auth-{}", &state[..8])]
        );

        // The provider sends the browser back with a code; the callback logs it in.
        let back = mock.visit(&authorize).await;
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        assert_eq!(location(&res), "https://app.example.org/secret?x=1");
        assert!(
            browser.jar.contains_key("__Host-session"),
            "session cookie set"
        );
        assert!(browser.flow_cookies().is_empty(), "flow cookie deleted");
        let session_line = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|l| l.starts_with("__Host-session="))
            .unwrap()
            .to_owned();
        assert!(session_line.contains("; Secure; HttpOnly; SameSite=Lax"));

        // The token request carried the verifier and the exact redirect URI.
        let last = mock.json("last-token-request").await;
        assert_eq!(last["has_code_verifier"], true);
        assert_eq!(last["redirect_uri"], "https://app.example.org/auth");
        assert_eq!(last["basic_auth"], true, "client_secret_basic by default");
        assert_eq!(mock.count("/token").await, 1);
        assert_eq!(mock.count("/jwks").await, 1);

        // It lands where it started, logged in.
        let res = browser.get(&app, "/secret?x=1").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, format!("uid={}#johndoe", mock.issuer));

        // The status endpoint shows the session.
        let res = browser.get(&app, "/auth").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "content-type"), Some("application/json"));
        let status: Value = serde_json::from_str(&body(res).await).unwrap();
        assert_eq!(status["uid"], format!("{}#johndoe", mock.issuer));
        assert_eq!(status["source"], "cookie");
        assert_eq!(status["mfa"], false);
        drop(mock);
    })
    .await;
}

#[tokio::test]
async fn a_bare_login_answers_asfquarts_welcome() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            body(res).await,
            format!("Successfully logged in! Welcome, {}#johndoe\n", mock.issuer)
        );
        // An empty return path is the same as none.
        let res = browser.login(&app, &mock, "/auth?login=").await;
        assert_eq!(res.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn claims_map_to_the_session_through_the_closure() {
    within(async {
        let mock = Mock::start().await;
        mock.control(
            "id-claims",
            json!({"groups": ["dev", "ops"], "amr": ["pwd", "otp", "mfa"]}),
        )
        .await;
        mock.control(
            "userinfo",
            json!({"status": 200, "body": {"sub": "johndoe", "email": "jd@example.org"}}),
        )
        .await;
        let login = OAuthLogin::new(mock.provider().with_userinfo(mock.url("/userinfo")), BASE)
            .with_identity(|answer: ProviderAnswer| async move {
                let mut identity = answer
                    .oidc_identity()
                    .ok_or_else(|| MapError::denied("no sub"))?;
                if answer.strings("groups").iter().any(|g| g == "ops") {
                    identity = identity.with_roles(["operator"]);
                }
                Ok(Some(identity))
            });
        let app = app_with(key(1), login, |l| l);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        let status: Value =
            serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();
        assert_eq!(status["groups"], json!(["dev", "ops"]));
        assert_eq!(status["roles"], json!(["operator"]));
        assert_eq!(status["mfa"], true);
        assert_eq!(status["metadata"]["email"], "jd@example.org");
        assert_eq!(mock.count("/userinfo").await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_mapping_that_refuses_gives_403_and_a_failing_backend_503() {
    within(async {
        let mock = Mock::start().await;
        let denied = OAuthLogin::new(mock.provider(), BASE).with_identity(|_| async { Ok(None) });
        let app = app_with(key(1), denied, |l| l);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(!browser.jar.contains_key("__Host-session"));

        let failing = OAuthLogin::new(mock.provider(), BASE)
            .with_identity(|_| async { Err(MapError::backend("directory down")) });
        let app = app_with(key(1), failing, |l| l);
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body(res).await.contains("directory down"));
    })
    .await;
}

#[tokio::test]
async fn login_discards_the_earlier_session() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        browser.login(&app, &mock, "/auth?login").await;
        assert_eq!(body(browser.get(&app, "/remember").await).await, "ok");
        assert_eq!(
            body(browser.get(&app, "/color").await).await,
            "Some(\"blue\")"
        );
        let before: Value =
            serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();

        let res = browser.login(&app, &mock, "/auth?login=/color").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(body(browser.get(&app, "/color").await).await, "None");
        let after: Value =
            serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();
        assert_ne!(after["id"], before["id"], "a fresh session id");
        assert_eq!(after["created_at"], after["auth_time"]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Flow state

#[tokio::test]
async fn a_callback_is_single_use() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
        let saved = browser.clone();
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(mock.count("/token").await, 1);

        // Replayed by the same browser: its flow cookie is gone.
        let mut replay = browser.clone();
        replay.jar.remove("__Host-session");
        let res = replay.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res)
            .await
            .starts_with("Invalid or expired login state."));
        assert!(!replay.jar.contains_key("__Host-session"));
        assert_eq!(mock.count("/token").await, 1, "no second exchange");

        // Replayed with a copy of the flow cookie: the provider refuses the used code.
        let mut copied = saved;
        let res = copied.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let text = body(res).await;
        assert!(text.contains("invalid_request"), "{text}");
        assert!(!copied.jar.contains_key("__Host-session"));
    })
    .await;
}

#[tokio::test]
async fn an_expired_flow_is_refused_before_any_provider_call() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
        app.clock.advance(Duration::minutes(15));
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(mock.count("/token").await, 0);

        // One second short of 15 minutes still works. (A fresh app: its clock must not run
        // ahead of the provider's, which signs with the real time.)
        let app = self::app(&mock);
        let mut browser = Browser::default();
        let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
        app.clock
            .advance(Duration::minutes(15) - Duration::seconds(1));
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
    })
    .await;
}

#[tokio::test]
async fn a_state_from_another_browser_is_refused() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut alice = Browser::default();
        let back = alice.callback_url(&app, &mock, "/auth?login=/me").await;

        // A browser with no flow cookie (login CSRF: the attacker's callback URL).
        let mut carol = Browser::default();
        let res = carol.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(!carol.jar.contains_key("__Host-session"));

        // A browser with a flow of its own.
        let mut bob = Browser::default();
        bob.start(&app, "/auth?login=/me").await;
        let res = bob.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        // Alice's cookie under a tampered state, and a bit-flipped cookie.
        let state = query_param(&back, "state").unwrap();
        let code = query_param(&back, "code").unwrap();
        let tampered = format!("/auth?code={code}&state={}X", &state[..state.len() - 1]);
        let mut alice2 = alice.clone();
        assert_eq!(
            alice2.get(&app, &tampered).await.status(),
            StatusCode::FORBIDDEN
        );
        let mut flipped = alice.clone();
        let name = flipped.flow_cookies().pop().unwrap();
        let value = flipped.jar.get_mut(&name).unwrap();
        let last = value.pop().unwrap();
        value.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(
            flipped.get(&app, &back).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(mock.count("/token").await, 0, "no exchange for any of them");

        // Alice herself still finishes.
        assert_eq!(alice.get(&app, &back).await.status(), StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn a_pkce_verifier_mismatch_fails_the_login() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let authorize = browser.start(&app, "/auth?login=/me").await;
        // An attacker's code, bound to another challenge.
        let other = "E9Melhoa2OwvFWEzfhLlX8yjJNvxQKFsv9sQ8aL7qoM";
        let challenge = query_param(&authorize, "code_challenge").unwrap();
        let authorize = authorize.replace(&challenge, other);
        let back = mock.visit(&authorize).await;
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let text = body(res).await;
        assert!(text.contains("invalid_request"), "{text}");
        assert!(!text.contains(&query_param(&back, "code").unwrap()));
        assert!(!browser.jar.contains_key("__Host-session"));
    })
    .await;
}

#[tokio::test]
async fn flows_in_several_tabs_finish_in_any_order() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let first = browser.callback_url(&app, &mock, "/auth?login=/one").await;
        let second = browser.callback_url(&app, &mock, "/auth?login=/two").await;
        assert_eq!(browser.flow_cookies().len(), 2);
        let res = browser.get(&app, &second).await;
        assert_eq!(location(&res), "https://app.example.org/two");
        let res = browser.get(&app, &first).await;
        assert_eq!(location(&res), "https://app.example.org/one");

        // A fourth start with three flows pending drops the three.
        let mut tabs = Browser::default();
        for _ in 0..3 {
            tabs.start(&app, "/auth?login").await;
        }
        assert_eq!(tabs.flow_cookies().len(), 3);
        tabs.start(&app, "/auth?login").await;
        assert_eq!(tabs.flow_cookies().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn two_instances_sharing_a_key_finish_each_others_flows() {
    within(async {
        let mock = Mock::start().await;
        let a = app_with(key(7), OAuthLogin::new(mock.provider(), BASE), |l| l);
        let b = app_with(key(7), OAuthLogin::new(mock.provider(), BASE), |l| l);
        let mut browser = Browser::default();
        let back = browser.callback_url(&a, &mock, "/auth?login=/me").await;
        let saved = browser.clone();
        let res = browser.get(&b, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        // And the session B wrote opens on A.
        assert_eq!(
            body(browser.get(&a, "/me").await).await,
            format!("uid={}#johndoe", mock.issuer)
        );

        // An instance with another key, or another purpose, cannot.
        let other_key = app_with(key(8), OAuthLogin::new(mock.provider(), BASE), |l| l);
        let mut copy = saved.clone();
        assert_eq!(
            copy.get(&other_key, &back).await.status(),
            StatusCode::FORBIDDEN
        );
        let other_purpose = app_with(key(7), OAuthLogin::new(mock.provider(), BASE), |l| {
            l.with_purpose("admin")
        });
        let mut copy = saved;
        assert_eq!(
            copy.get(&other_purpose, &back).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(mock.count("/token").await, 1);
    })
    .await;
}

/// Issue 11: with a revocation store shared by two instances, a callback replayed on the other
/// instance, even with a copy of its flow cookie, is refused before any exchange; and
/// `/auth?logout` ends the session everywhere the store reaches.
#[tokio::test]
async fn with_a_store_a_callback_is_single_use_across_instances_and_logout_denies_the_session() {
    within(async {
        let mock = Mock::start().await;
        let store = sealed_session::store::MemoryStore::new();
        let a = app_with(key(7), OAuthLogin::new(mock.provider(), BASE), |l| {
            l.with_revocation(store.clone())
        });
        let b = app_with(key(7), OAuthLogin::new(mock.provider(), BASE), |l| {
            l.with_revocation(store.clone())
        });
        let mut browser = Browser::default();
        let back = browser.callback_url(&a, &mock, "/auth?login=/me").await;
        let saved = browser.clone();
        let res = browser.get(&a, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        assert_eq!(mock.count("/token").await, 1);

        // The copy of the flow cookie on the other instance: refused by the store, no exchange.
        let mut copied = saved;
        let res = copied.get(&b, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res)
            .await
            .starts_with("Invalid or expired login state."));
        assert_eq!(mock.count("/token").await, 1, "no second exchange");

        // The session opens on both; a copy of its cookie is kept, then /auth?logout on B.
        assert_eq!(
            body(browser.get(&b, "/me").await).await,
            format!("uid={}#johndoe", mock.issuer)
        );
        let copy = browser.clone();
        let res = browser
            .send(
                &b,
                Method::POST,
                "/auth?logout",
                &[("sec-fetch-site", "same-origin")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        // The copy is refused on A: no session (sent to log in; the cookie is deleted).
        let mut copy = copy;
        let res = copy.get(&a, "/me").await;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert!(!copy.jar.contains_key("__Host-session"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The provider's answers

#[tokio::test]
async fn each_id_token_check_refuses_a_bad_token() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let past = OffsetDateTime::now_utc().unix_timestamp() - 3600;
        let cases = [
            (json!({"nonce": "another-nonce"}), "nonce"),
            (json!({"aud": "another-client"}), "aud"),
            (json!({"iss": "https://evil.example"}), "iss"),
            (json!({"exp": past}), "exp"),
            (json!({"exp": "99999999999"}), "exp"),
            (json!({"sub": ""}), "sub"),
        ];
        for (claims, check) in cases {
            mock.control("id-claims", claims.clone()).await;
            let mut browser = Browser::default();
            let res = browser.login(&app, &mock, "/auth?login=/me").await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{claims}");
            let text = body(res).await;
            assert!(
                text.contains(&format!("the {check} check")),
                "{claims}: {text}"
            );
            assert!(!browser.jar.contains_key("__Host-session"));
        }
        mock.control("id-claims", json!({})).await;

        // A token signed under a key id the provider never published.
        let mut browser = Browser::default();
        let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
        mock.control("id-header", json!({"kid": "unknown-kid"}))
            .await;
        let jwks_before = mock.count("/jwks").await;
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res).await.contains("the kid check"));
        assert_eq!(
            mock.count("/jwks").await,
            jwks_before + 1,
            "one refetch for an unknown kid"
        );
    })
    .await;
}

#[tokio::test]
async fn the_jwks_is_fetched_once_and_cached() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        assert_eq!(
            browser.login(&app, &mock, "/auth?login=/me").await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(mock.count("/jwks").await, 1);
        // Later logins use the cached key set.
        let mut browser = Browser::default();
        assert_eq!(
            browser.login(&app, &mock, "/auth?login=/me").await.status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(mock.count("/jwks").await, 1);
    })
    .await;
}

#[tokio::test]
async fn provider_errors_get_clear_answers() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);

        mock.control("authorize-error", json!({"error": "access_denied"})).await;
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res).await.contains("access_denied"));
        assert!(browser.flow_cookies().is_empty());

        let cases = [
            (json!({"status": 400, "body": {"error": "invalid_grant", "error_description": "code expired"}}), StatusCode::FORBIDDEN, "invalid_grant"),
            (json!({"status": 400, "body": {"error": "<script>alert(1)</script>"}}), StatusCode::FORBIDDEN, "400"),
            (json!({"status": 500, "body": {"error": "server_error"}}), StatusCode::BAD_GATEWAY, "500"),
            (json!({"status": 200, "body": "not an object"}), StatusCode::BAD_GATEWAY, "without a JSON object"),
            (json!({"status": 200, "body": {"token_type": "Bearer"}}), StatusCode::BAD_GATEWAY, "no access_token"),
        ];
        for (response, status, shown) in cases {
            mock.control("token-response", response.clone()).await;
            let mut browser = Browser::default();
            let res = browser.login(&app, &mock, "/auth?login=/me").await;
            assert_eq!(res.status(), status, "{response}");
            let text = body(res).await;
            assert!(text.contains(shown), "{response}: {text}");
            assert!(!text.contains("<script>"));
            assert!(!text.contains("code expired"), "descriptions are logged, not shown");
            assert!(!browser.jar.contains_key("__Host-session"));
        }
    })
    .await;
}

#[tokio::test]
async fn userinfo_and_jwks_failures_are_refused() {
    within(async {
        let mock = Mock::start().await;
        let with_userinfo = || {
            app_with(
                key(1),
                OAuthLogin::new(mock.provider().with_userinfo(mock.url("/userinfo")), BASE),
                |l| l,
            )
        };
        mock.control(
            "userinfo",
            json!({"status": 401, "body": {"error": "invalid_token"}}),
        )
        .await;
        let app = with_userinfo();
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res).await.contains("invalid_token"));

        mock.control(
            "userinfo",
            json!({"status": 200, "body": {"sub": "mallory"}}),
        )
        .await;
        let app = with_userinfo();
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(body(res).await.contains("another subject"));

        mock.control("fail", json!({"path": "/jwks", "status": 500}))
            .await;
        let app = self::app(&mock);
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
        assert!(body(res).await.contains("jwks"));
    })
    .await;
}

#[tokio::test]
async fn slow_or_dead_providers_time_out_cleanly() {
    within(async {
        let mock = Mock::start().await;
        let provider = mock.provider();
        let login = || {
            OAuthLogin::new(provider.clone(), BASE).with_http_timeout(StdDuration::from_millis(300))
        };
        for path in ["/token", "/jwks"] {
            mock.control("delay", json!({"path": path, "ms": 2000}))
                .await;
            let app = app_with(key(1), login(), |l| l);
            let mut browser = Browser::default();
            let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
            // Without the timeout the delayed answer would arrive and log the browser in.
            let res = browser.get(&app, &back).await;
            assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT, "{path}");
            assert!(body(res).await.contains("did not answer in time"));
            assert!(!browser.jar.contains_key("__Host-session"));
            mock.control("delay", json!({"path": path, "ms": 0})).await;
        }

        // The provider goes away between the start and the callback.
        let mut mock = mock;
        let app = app_with(key(1), login(), |l| l);
        let mut browser = Browser::default();
        let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
        mock.node.kill().await;
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
        let text = body(res).await;
        assert!(
            text.contains("could not reach the provider's token endpoint"),
            "{text}"
        );
        assert!(
            !text.contains("127.0.0.1"),
            "transport details stay in the log: {text}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Return paths

const REFUSED: &[&str] = &[
    "//evil.com",
    "///evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/x\\..\\\\evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r/evil.com",
    "/\0",
    " //evil.com",
    "/.//evil.com",
    "/..//evil.com",
    "/%2e//evil.com",
    "/%2E%2E//evil.com",
    "https://evil.com",
    "HTTPS://app.example.org/x",
    "https:evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    "./x",
    "%2F%2Fevil.com",
];

const ACCEPTED: &[(&str, &str)] = &[
    ("/dashboard", "https://app.example.org/dashboard"),
    ("/a#frag", "https://app.example.org/a#frag"),
    ("/secret?x=1&y=2", "https://app.example.org/secret?x=1&y=2"),
    ("/a/../b", "https://app.example.org/b"),
    (
        "/javascript:alert(1)",
        "https://app.example.org/javascript:alert(1)",
    ),
    ("/@evil.com", "https://app.example.org/@evil.com"),
    ("/%2F%2Fevil.com", "https://app.example.org/%2F%2Fevil.com"),
    ("/é", "https://app.example.org/%C3%A9"),
    (
        "/%0d%0aSet-Cookie:x",
        "https://app.example.org/%0d%0aSet-Cookie:x",
    ),
];

fn encode(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

#[tokio::test]
async fn open_redirects_are_refused_for_login_and_logout() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let long = format!("/{}", "a".repeat(2048));
        for raw in REFUSED.iter().copied().chain([long.as_str()]) {
            let mut browser = Browser::default();
            let res = browser
                .get(&app, &format!("/auth?login={}", encode(raw)))
                .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "login {raw:?}");
            assert_eq!(body(res).await, "Invalid redirect URI.\n");
            assert!(browser.flow_cookies().is_empty(), "no flow for {raw:?}");

            // Logout validates before it acts: the session survives a refused target.
            let mut browser = Browser::default();
            browser.login(&app, &mock, "/auth?login").await;
            let res = browser
                .send(
                    &app,
                    Method::POST,
                    &format!("/auth?logout={}", encode(raw)),
                    &[("sec-fetch-site", "same-origin")],
                )
                .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "logout {raw:?}");
            assert!(
                browser.jar.contains_key("__Host-session"),
                "still logged in after {raw:?}"
            );
        }
        for (raw, absolute) in ACCEPTED {
            let mut browser = Browser::default();
            let res = browser
                .login(&app, &mock, &format!("/auth?login={}", encode(raw)))
                .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{raw:?}");
            assert_eq!(location(&res), *absolute);
            let res = browser
                .send(
                    &app,
                    Method::POST,
                    &format!("/auth?logout={}", encode(raw)),
                    &[("sec-fetch-site", "same-origin")],
                )
                .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "logout {raw:?}");
            assert_eq!(location(&res), *absolute);
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Logout and status

#[tokio::test]
async fn post_logout_needs_a_same_origin_request() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut logged_in = Browser::default();
        logged_in.login(&app, &mock, "/auth?login").await;

        let refused: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "same-site")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "none")],
            &[("sec-fetch-site", "SAME-ORIGIN")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ],
            &[("origin", "https://evil.example")],
            &[("origin", "null")],
            &[("origin", "https://app.example.org.evil.example")],
            &[],
        ];
        for headers in refused {
            let mut browser = logged_in.clone();
            let res = browser
                .send(&app, Method::POST, "/auth?logout", headers)
                .await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{headers:?}");
            assert_eq!(body(res).await, "CSRF protection\n");
            assert!(browser.jar.contains_key("__Host-session"), "{headers:?}");
        }

        let allowed: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "same-origin")],
            &[("sec-fetch-site", "same-origin"), ("origin", BASE)],
            &[("origin", BASE)],
        ];
        for headers in allowed {
            let mut browser = logged_in.clone();
            let res = browser
                .send(&app, Method::POST, "/auth?logout", headers)
                .await;
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{headers:?}");
            assert_eq!(
                header(&res, "clear-site-data"),
                Some("\"cache\", \"storage\"")
            );
            assert_eq!(header(&res, "cache-control"), Some("no-store"));
            let deletion = res.headers().get_all(header::SET_COOKIE).iter().any(|l| {
                l.to_str().unwrap().starts_with(
                    "__Host-session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
                )
            });
            assert!(deletion, "{headers:?}");
            assert!(!browser.jar.contains_key("__Host-session"));
            assert_eq!(
                browser.get(&app, "/auth").await.status(),
                StatusCode::NOT_FOUND
            );
        }
    })
    .await;
}

#[tokio::test]
async fn get_logout_is_opt_in() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        browser.login(&app, &mock, "/auth?login").await;
        let res = browser.get(&app, "/auth?logout").await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&res, "allow"), Some("POST"));
        assert!(browser.jar.contains_key("__Host-session"));

        let app = app_with(
            key(1),
            OAuthLogin::new(mock.provider(), BASE).with_get_logout(true),
            |l| l,
        );
        for site in ["cross-site", "same-site"] {
            let mut b = browser.clone();
            let res = b
                .send(
                    &app,
                    Method::GET,
                    "/auth?logout",
                    &[("sec-fetch-site", site)],
                )
                .await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{site}");
            assert!(b.jar.contains_key("__Host-session"));
        }
        let res = browser.get(&app, "/auth?logout").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "Client session removed, goodbye!\n");
        assert!(!browser.jar.contains_key("__Host-session"));
    })
    .await;
}

#[tokio::test]
async fn status_shows_cookie_and_bearer_sessions_or_404() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let res = browser.get(&app, "/auth").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(res).await, "No active session found.\n");

        let res = browser
            .send(
                &app,
                Method::GET,
                "/auth",
                &[("authorization", "Bearer robot-token-1234")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let status: Value = serde_json::from_str(&body(res).await).unwrap();
        assert_eq!(status["uid"], "robot");
        assert_eq!(status["source"], "bearer");
        assert_eq!(status["role_account"], true);

        let res = browser
            .send(
                &app,
                Method::GET,
                "/auth",
                &[("authorization", "Bearer wrong-token-0000")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&res, "www-authenticate")
            .unwrap()
            .contains("invalid_token"));

        // Ambiguous or broken requests.
        for bad in [
            "/auth?login&logout",
            "/auth?login=/a&login=/b",
            "/auth?code=abc",
            "/auth?state=abc",
        ] {
            assert_eq!(
                browser.get(&app, bad).await.status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The ASF preset, secrets and the log

#[tokio::test]
async fn the_asf_preset_follows_asfquarts_flow() {
    within(async {
        let mock = Mock::start().await;
        let app = app_with(
            key(1),
            OAuthLogin::new(Provider::asf_at(&mock.issuer), BASE),
            |l| l,
        );
        let mut browser = Browser::default();
        let authorize = browser.start(&app, "/auth?login=/me").await;
        assert!(
            authorize.starts_with(&mock.url("/auth-oidc?state=")),
            "{authorize}"
        );
        let state = query_param(&authorize, "state").unwrap();
        assert_eq!(
            query_param(&authorize, "redirect_uri").unwrap(),
            format!("https://app.example.org/auth?state={state}")
        );
        let back = mock.visit(&authorize).await;
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        let status: Value =
            serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();
        assert_eq!(status["uid"], "janedoe");
        assert_eq!(status["groups"], json!(["httpd"]));
        assert_eq!(status["roles"], json!(["member"]));
        assert_eq!(status["mfa"], true);
        assert_eq!(status["metadata"]["fullname"], "Jane Doe");
        assert_eq!(mock.count("/token-oidc").await, 1);
    })
    .await;
}

#[tokio::test]
async fn no_code_state_verifier_token_or_secret_reaches_the_log_or_a_body() {
    let capture = log_capture();
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let start = capture.len();
        let mut browser = Browser::default();
        let authorize = browser.start(&app, "/auth?login=/me").await;
        let back = mock.visit(&authorize).await;
        let flow_cookie = browser.jar.values().next().unwrap().clone();
        let res = browser.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        // A failing login too, to log the error paths.
        mock.control(
            "token-response",
            json!({"status": 400, "body": {"error": "invalid_grant"}}),
        )
        .await;
        let failed = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        let failed_body = body(failed).await;
        let log = capture.since(start);
        let secrets = [
            query_param(&back, "code").unwrap(),
            query_param(&back, "state").unwrap(),
            query_param(&authorize, "nonce").unwrap(),
            flow_cookie,
            browser.jar["__Host-session"].clone(),
            CLIENT_SECRET.to_owned(),
        ];
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "a secret reached the log");
            assert!(!failed_body.contains(secret.as_str()));
        }
        assert!(
            log.contains("login completed"),
            "the log has the login events"
        );
        let debug = format!("{:?}", mock.provider());
        assert!(!debug.contains(CLIENT_SECRET));
    })
    .await;
}

#[tokio::test]
async fn a_strict_session_cookie_lands_with_a_refresh_instead_of_a_redirect() {
    within(async {
        let mock = Mock::start().await;
        let app = app_with(key(1), OAuthLogin::new(mock.provider(), BASE), |l| {
            l.with_same_site(sealed_session::SameSite::Strict)
        });
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "refresh"),
            Some("0; url=https://app.example.org/me")
        );
    })
    .await;
}

#[tokio::test]
async fn the_service_needs_the_session_layer() {
    let login = OAuthLogin::new(
        Provider::oidc("https://idp.example", "app").with_endpoints(
            "https://idp.example/a",
            "https://idp.example/t",
            "https://idp.example/j",
        ),
        BASE,
    );
    let router = Router::new().route_service("/auth", login.service().unwrap());
    let res = router
        .oneshot(Request::get("/auth?login").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn discovery_builds_a_working_provider_and_checks_the_issuer() {
    within(async {
        let mock = Mock::start().await;
        let provider = Provider::discover(mock.issuer.clone(), CLIENT_ID)
            .await
            .unwrap();
        let app = app_with(key(1), OAuthLogin::new(provider, BASE), |l| l);
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        // A public client: the id in the form, no Basic header.
        let last = mock.json("last-token-request").await;
        assert_eq!(last["basic_auth"], false);
        assert_eq!(last["client_id"], CLIENT_ID);

        // The document must name the issuer it was fetched for.
        let wrong = format!("{}/", mock.issuer);
        let error = Provider::discover(wrong, CLIENT_ID).await.unwrap_err();
        assert!(error.to_string().contains("issuer"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn exchanges_past_the_limit_get_a_quick_503() {
    within(async {
        let mock = Mock::start().await;
        mock.control("delay", json!({"path": "/token", "ms": 4000}))
            .await;
        let app = app_with(
            key(1),
            OAuthLogin::new(mock.provider(), BASE).with_max_exchanges(1),
            |l| l,
        );
        let mut first = Browser::default();
        let mut second = Browser::default();
        let back1 = first.callback_url(&app, &mock, "/auth?login=/me").await;
        let back2 = second.callback_url(&app, &mock, "/auth?login=/me").await;
        let slow = first.get(&app, &back1);
        let quick = async {
            // Let the first exchange take the only permit.
            tokio::time::sleep(StdDuration::from_millis(300)).await;
            second.get(&app, &back2).await
        };
        let (slow, quick) = tokio::join!(slow, quick);
        assert_eq!(quick.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(header(&quick, "retry-after").is_some());
        assert_eq!(slow.status(), StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn forged_id_token_signatures_are_refused() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        for (mode, check) in [
            ("payload", "signature"),
            ("foreign-key", "signature"),
            // `alg: none` is not even a known algorithm to the JWT parser: refused as malformed.
            ("none", "format"),
            ("hs256", "alg"),
        ] {
            mock.control("tamper-id-token", json!({ "mode": mode }))
                .await;
            let mut browser = Browser::default();
            let res = browser.login(&app, &mock, "/auth?login=/me").await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{mode}");
            let text = body(res).await;
            assert!(
                text.contains(&format!("the {check} check")),
                "{mode}: {text}"
            );
            assert!(!browser.jar.contains_key("__Host-session"), "{mode}");
        }
        // The same provider, untampered, still logs in.
        let res = Browser::default()
            .login(&app, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    })
    .await;
}

#[tokio::test]
async fn the_host_header_never_shapes_the_redirect_uri() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let res = browser
            .send(
                &app,
                Method::GET,
                "/auth?login=/me",
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("host", "evil.example"),
                    ("x-forwarded-host", "evil.example"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let authorize = location(&res);
        assert_eq!(
            query_param(&authorize, "redirect_uri").as_deref(),
            Some("https://app.example.org/auth")
        );
        let back = mock.visit(&authorize).await;
        let res = browser
            .send(&app, Method::GET, &back, &[("host", "evil.example")])
            .await;
        assert_eq!(location(&res), "https://app.example.org/me");
    })
    .await;
}

#[tokio::test]
async fn the_flow_cookie_is_host_only_http_only_lax_and_short_lived() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let res = Browser::default()
            .send(
                &app,
                Method::GET,
                "/auth?login=/me",
                &[("sec-fetch-site", "none")],
            )
            .await;
        let line = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|l| l.starts_with("__Host-auth-"))
            .expect("a flow cookie");
        let attributes = line.split_once(';').unwrap().1;
        assert_eq!(
            attributes,
            " Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=900"
        );
        assert_eq!(header(&res, "cache-control"), Some("no-store"));

        // On plain http (local development) it is neither __Host- nor Secure.
        let plain = app_with(
            key(1),
            OAuthLogin::new(mock.provider(), "http://localhost:3000"),
            |l| l.with_cookie_name("session").with_secure(false),
        );
        let res = Browser::default()
            .send(
                &plain,
                Method::GET,
                "/auth?login=/me",
                &[("sec-fetch-site", "none")],
            )
            .await;
        let line = header(&res, "set-cookie").unwrap().to_owned();
        assert!(line.starts_with("auth-"), "{line}");
        assert!(
            line.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=900"),
            "{line}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_panicking_mapping_is_a_500_not_a_dropped_connection() {
    within(async {
        let mock = Mock::start().await;
        let login = OAuthLogin::new(mock.provider(), BASE).with_identity(
            |answer: ProviderAnswer| async move {
                if answer.subject().is_some() {
                    panic!("the app's mapping has a bug");
                }
                Ok(None)
            },
        );
        let app = app_with(key(1), login, |l| l);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!browser.jar.contains_key("__Host-session"));
        assert!(browser.flow_cookies().is_empty());
    })
    .await;
}

#[tokio::test]
async fn discovery_refuses_a_plain_http_issuer_off_loopback() {
    let error = Provider::discover("http://idp.example.com", CLIENT_ID)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("https"), "{error}");
}

#[tokio::test]
async fn a_logout_with_a_bearer_token_leaves_the_cookie_session_alone() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        browser.login(&app, &mock, "/auth?login").await;
        let res = browser
            .send(
                &app,
                Method::POST,
                "/auth?logout",
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("authorization", "Bearer robot-token-1234"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert!(
            header(&res, "set-cookie").is_none_or(|l| !l.starts_with("__Host-session=")),
            "a bearer request never touches the session cookie"
        );
        assert_eq!(
            body(browser.get(&app, "/me").await).await,
            format!("uid={}#johndoe", mock.issuer)
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Issue 14: security round 2

fn offline_provider() -> Provider {
    Provider::oidc("https://idp.example.com", CLIENT_ID).with_endpoints(
        "https://idp.example.com/authorize",
        "https://idp.example.com/token",
        "https://idp.example.com/jwks",
    )
}

#[test]
fn an_unbounded_http_timeout_is_refused_at_build_time_not_a_panic_per_callback() {
    for timeout in [
        StdDuration::MAX,
        StdDuration::from_secs(u64::MAX - 1),
        StdDuration::from_secs(3601),
    ] {
        let error = OAuthLogin::new(offline_provider(), BASE)
            .with_http_timeout(timeout)
            .service()
            .unwrap_err();
        assert!(error.to_string().contains("HTTP timeout"), "{error}");
    }
    assert!(OAuthLogin::new(offline_provider(), BASE)
        .with_http_timeout(StdDuration::from_secs(3600))
        .service()
        .is_ok());
}

#[tokio::test]
async fn a_callback_carrying_credentials_is_refused_and_logs_nobody_in() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        for authorization in ["Bearer robot-token-1234", "Bearer unknown-token", "Bearer"] {
            let mut browser = Browser::default();
            let back = browser.callback_url(&app, &mock, "/auth?login=/me").await;
            let res = browser
                .send(
                    &app,
                    Method::GET,
                    &back,
                    &[("authorization", authorization)],
                )
                .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{authorization}");
            assert!(
                res.headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .all(|l| !l.to_str().unwrap().starts_with("__Host-session=")),
                "{authorization}"
            );
            assert!(!browser.jar.contains_key("__Host-session"));
            // The flow was not spent: the same browser can still finish it without the header.
            let res = browser.get(&app, &back).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
            assert!(browser.jar.contains_key("__Host-session"));
        }
        assert_eq!(
            mock.count("/token").await,
            3,
            "one exchange per finished login"
        );
    })
    .await;
}

#[tokio::test]
async fn flow_cookies_keep_the_host_prefix_whatever_the_session_cookie_scope() {
    within(async {
        let mock = Mock::start().await;
        let layers: [fn(SessionLayer) -> SessionLayer; 2] = [
            |l| {
                l.with_cookie_name("__Secure-session")
                    .with_domain("app.example.org")
            },
            |l| l.with_cookie_name("__Secure-session").with_path("/app"),
        ];
        for layer in layers {
            let app = app_with(key(1), OAuthLogin::new(mock.provider(), BASE), layer);
            let mut browser = Browser::default();
            let res = browser
                .send(
                    &app,
                    Method::GET,
                    "/auth?login=/me",
                    &[("sec-fetch-site", "same-origin")],
                )
                .await;
            assert_eq!(res.status(), StatusCode::FOUND);
            let line = res
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .find(|l| l.contains("auth-"))
                .expect("a flow cookie");
            assert!(line.starts_with("__Host-auth-"), "{line}");
            assert!(
                line.contains("; Path=/; Secure; HttpOnly; SameSite=Lax"),
                "{line}"
            );
            assert!(!line.to_ascii_lowercase().contains("domain="), "{line}");
            // The callback finds it under that name.
            let back = mock.visit(&location(&res)).await;
            let res = browser.get(&app, &back).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
            assert!(browser.jar.contains_key("__Secure-session"));
        }
    })
    .await;
}

#[tokio::test]
async fn two_distinct_amr_values_are_not_mfa_unless_the_app_says_so() {
    within(async {
        let mock = Mock::start().await;
        let login = |mock: &Mock| OAuthLogin::new(mock.provider(), BASE);
        let cases: &[(Value, Option<MfaPolicy>, bool)] = &[
            (json!({"amr": ["pwd", "kba"]}), None, false),
            (json!({"amr": ["pwd", "otp"]}), None, false),
            (json!({"amr": ["pwd", "mfa"]}), None, true),
            (json!({"amr": ["mca"]}), None, true),
            (
                json!({"amr": ["pwd", "otp"]}),
                Some(MfaPolicy::new().with_factors(["pwd", "otp"])),
                true,
            ),
            (
                json!({"amr": ["otp", "pwd", "kba"]}),
                Some(MfaPolicy::new().with_factors(["pwd", "otp"])),
                true,
            ),
            (
                json!({"amr": ["pwd", "kba"]}),
                Some(MfaPolicy::new().with_factors(["pwd", "otp"])),
                false,
            ),
            (
                json!({"acr": "urn:example:mfa"}),
                Some(MfaPolicy::new().with_acr(["urn:example:mfa"])),
                true,
            ),
            (
                json!({"acr": "urn:example:pwd", "amr": ["pwd"]}),
                Some(MfaPolicy::new().with_acr(["urn:example:mfa"])),
                false,
            ),
        ];
        for (claims, policy, expected) in cases {
            mock.control("id-claims", claims.clone()).await;
            let mut l = login(&mock);
            if let Some(policy) = policy {
                l = l.with_mfa_policy(policy.clone());
            }
            let app = app_with(key(1), l, |l| l);
            let mut browser = Browser::default();
            let res = browser.login(&app, &mock, "/auth?login=/me").await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
            let status: Value =
                serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();
            assert_eq!(status["mfa"], *expected, "{claims} {policy:?}");
        }
    })
    .await;
}

/// A provider whose discovery document is fixed; every other request fails.
struct FixedDiscovery(Value);

#[sealed_session::async_trait]
impl HttpTransport for FixedDiscovery {
    async fn send(
        &self,
        request: Request<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, sealed_session::oauth::TransportError> {
        assert!(request
            .uri()
            .path()
            .ends_with("/.well-known/openid-configuration"));
        Ok(Response::new(self.0.to_string().into_bytes()))
    }
}

fn discovery_doc(issuer: &str, token: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": token,
        "jwks_uri": format!("{issuer}/jwks"),
    })
}

#[tokio::test]
async fn discovery_refuses_endpoints_off_the_issuers_origin_unless_allowed() {
    let issuer = "https://idp.example.com";
    let ok = FixedDiscovery(discovery_doc(issuer, "https://idp.example.com/oauth/token"));
    assert!(Provider::discover_with(&ok, issuer, CLIENT_ID)
        .await
        .is_ok());

    for foreign in [
        "https://evil.example/token",
        "https://idp.example.com:8443/token",
        "https://sub.idp.example.com/token",
        "http://127.0.0.1:9000/token",
        "https://localhost/token",
    ] {
        let t = FixedDiscovery(discovery_doc(issuer, foreign));
        let error = Provider::discover_with(&t, issuer, CLIENT_ID)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("token_endpoint"),
            "{foreign}: {error}"
        );
    }
    // An explicit allow-list admits another origin, and never a loopback one for a remote issuer.
    let t = FixedDiscovery(discovery_doc(issuer, "https://login.example.net/token"));
    assert!(
        Provider::discover_allowing(&t, issuer, CLIENT_ID, &["https://login.example.net"])
            .await
            .is_ok()
    );
    let t = FixedDiscovery(discovery_doc(issuer, "https://login.example.net/token"));
    assert!(
        Provider::discover_allowing(&t, issuer, CLIENT_ID, &["https://other.example.net"])
            .await
            .is_err()
    );
    let t = FixedDiscovery(discovery_doc(issuer, "http://127.0.0.1:9000/token"));
    assert!(
        Provider::discover_allowing(&t, issuer, CLIENT_ID, &["http://127.0.0.1:9000"])
            .await
            .is_err()
    );
    // A loopback issuer (local development) may use its own origin.
    let local = "http://127.0.0.1:9000";
    let t = FixedDiscovery(discovery_doc(local, "http://127.0.0.1:9000/token"));
    assert!(Provider::discover_with(&t, local, CLIENT_ID).await.is_ok());
}

#[tokio::test]
async fn only_a_navigation_started_here_goes_straight_to_the_provider() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let straight: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "same-origin")],
            &[("sec-fetch-site", "none")],
            &[("origin", BASE)],
            &[("referer", "https://app.example.org/secret?x=1")],
        ];
        for headers in straight {
            let res = Browser::default()
                .send(&app, Method::GET, "/auth?login=/me", headers)
                .await;
            assert_eq!(res.status(), StatusCode::FOUND, "{headers:?}");
            assert!(location(&res).starts_with(&mock.url("/authorize?")));
        }
        let page: &[&[(&str, &str)]] = &[
            &[],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("sec-fetch-site", "cross-site"), ("origin", BASE)],
            &[("origin", "https://evil.example")],
            &[("origin", "null")],
            &[("referer", "https://evil.example/x")],
            &[("referer", "https://app.example.org.evil.example/")],
        ];
        for headers in page {
            let mut browser = Browser::default();
            let res = browser
                .send(
                    &app,
                    Method::GET,
                    "/auth?login=/me%3Fa%3D%22%3E%3Cx",
                    headers,
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{headers:?}");
            assert!(header(&res, "location").is_none());
            assert!(
                browser.flow_cookies().is_empty(),
                "no flow without the user acting"
            );
            assert_eq!(
                header(&res, "content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(header(&res, "x-frame-options"), Some("DENY"));
            assert!(header(&res, "content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'"));
            assert_eq!(header(&res, "cache-control"), Some("no-store"));
            let html = body(res).await;
            assert!(
                html.contains(r#"<form method="get" action="/auth">"#),
                "{html}"
            );
            assert!(
                html.contains(r#"name="login" value="/me?a=&quot;&gt;&lt;x""#),
                "{html}"
            );
            assert!(!html.contains("\"><x"), "{html}");
        }
        // The page's button (a same-origin form submission) starts the login.
        let mut browser = Browser::default();
        let res = browser
            .send(
                &app,
                Method::GET,
                "/auth?login=/me",
                &[("sec-fetch-site", "same-origin")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(browser.flow_cookies().len(), 1);
        // A refused return path is still a 400, whatever the headers.
        let res = Browser::default()
            .send(
                &app,
                Method::GET,
                "/auth?login=//evil.example",
                &[("sec-fetch-site", "cross-site")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    })
    .await;
}

#[tokio::test]
async fn prompt_and_max_age_pass_through_and_max_age_is_enforced() {
    within(async {
        let mock = Mock::start().await;
        let login = OAuthLogin::new(mock.provider(), BASE)
            .with_prompt("login")
            .with_max_age(StdDuration::from_secs(300));
        let configured = app_with(key(1), login, |l| l);
        let mut browser = Browser::default();
        let authorize = browser.start(&configured, "/auth?login=/me").await;
        assert_eq!(query_param(&authorize, "prompt").as_deref(), Some("login"));
        assert_eq!(query_param(&authorize, "max_age").as_deref(), Some("300"));

        // Per login: `?login=/x&prompt=…&max_age=…` override the defaults.
        let app = app(&mock);
        let authorize = Browser::default()
            .start(&app, "/auth?login=/me&prompt=login%20consent&max_age=0")
            .await;
        assert_eq!(
            query_param(&authorize, "prompt").as_deref(),
            Some("login consent")
        );
        assert_eq!(query_param(&authorize, "max_age").as_deref(), Some("0"));
        let authorize = Browser::default().start(&app, "/auth?login=/me").await;
        assert_eq!(query_param(&authorize, "prompt"), None);
        assert_eq!(query_param(&authorize, "max_age"), None);
        for bad in [
            "prompt=sometimes",
            "prompt=",
            "max_age=-1",
            "max_age=soon",
            "max_age=99999999999",
        ] {
            let res = Browser::default()
                .send(
                    &app,
                    Method::GET,
                    &format!("/auth?login=/me&{bad}"),
                    &[("sec-fetch-site", "same-origin")],
                )
                .await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        }

        // With max_age, the ID token must say when the user authenticated, recently enough.
        let fresh = OffsetDateTime::now_utc().unix_timestamp();
        let cases = [
            (json!({"auth_time": fresh}), StatusCode::SEE_OTHER),
            (json!({"auth_time": fresh - 3600}), StatusCode::FORBIDDEN),
            (json!({}), StatusCode::FORBIDDEN),
        ];
        for (claims, expected) in cases {
            mock.control("id-claims", claims.clone()).await;
            let mut browser = Browser::default();
            let res = browser
                .login(&app, &mock, "/auth?login=/me&max_age=60")
                .await;
            assert_eq!(res.status(), expected, "{claims}");
            assert_eq!(
                browser.jar.contains_key("__Host-session"),
                expected == StatusCode::SEE_OTHER
            );
        }
    })
    .await;
}

#[tokio::test]
async fn the_default_uid_names_the_issuer_and_the_session_keeps_it() {
    within(async {
        let mock = Mock::start().await;
        let app = app(&mock);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        let uid = format!("{}#johndoe", mock.issuer);
        assert_eq!(
            body(browser.get(&app, "/me").await).await,
            format!("uid={uid}")
        );
        let status: Value =
            serde_json::from_str(&body(browser.get(&app, "/auth").await).await).unwrap();
        assert_eq!(status["uid"], uid);
        assert_eq!(status["metadata"]["iss"], mock.issuer);
    })
    .await;
}

fn two_logins(first: OAuthLogin, second: OAuthLogin) -> App {
    let clock = ManualClock::new(now());
    let router = Router::new()
        .route("/me", get(me))
        .route_service(first.mount_path(), first.service().unwrap())
        .route_service(second.mount_path(), second.service().unwrap())
        .layer(SessionLayer::new(key(1)).with_clock(clock.clone()));
    App { router, clock }
}

#[tokio::test]
async fn two_login_services_with_bare_uids_on_one_layer_are_refused() {
    within(async {
        let mock = Mock::start().await;
        let asf = || OAuthLogin::new(Provider::asf_at(&mock.issuer), BASE).with_mount_path("/asf");
        let oidc = || OAuthLogin::new(mock.provider(), BASE);
        let start = |app: &App, path: &'static str| {
            let router = app.router.clone();
            async move {
                let req = Request::get(path)
                    .header("sec-fetch-site", "same-origin")
                    .body(Body::empty())
                    .unwrap();
                router.oneshot(req).await.unwrap()
            }
        };

        // The ASF default mapping keeps asfquart's bare uids: beside another provider, a uid
        // could name two people. Once the layer has seen both, both refuse.
        let app = two_logins(oidc(), asf());
        let mut early = Browser::default();
        let back = early.callback_url(&app, &mock, "/auth?login=/me").await;
        let res = start(&app, "/asf?login=/me").await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body(res).await.contains("uid"));
        assert_eq!(
            start(&app, "/auth?login=/me").await.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        // A flow started before the second service was seen does not finish either.
        let res = early.get(&app, &back).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!early.jar.contains_key("__Host-session"));

        // Two services whose default uids name their issuer are fine together...
        let app = two_logins(oidc(), oidc().with_mount_path("/auth2"));
        assert_eq!(
            start(&app, "/auth2?login=/me").await.status(),
            StatusCode::FOUND
        );
        assert_eq!(
            start(&app, "/auth?login=/me").await.status(),
            StatusCode::FOUND
        );
        // ... and so is a mapping of the app's own: it says how its uids are namespaced.
        let mapped = asf().with_identity(|a: ProviderAnswer| async move {
            Ok(a.asf_identity()
                .map(|i| Identity::new(format!("asf:{}", i.uid().unwrap_or_default()))))
        });
        let app = two_logins(oidc(), mapped);
        assert_eq!(
            start(&app, "/asf?login=/me").await.status(),
            StatusCode::FOUND
        );
        assert_eq!(
            start(&app, "/auth?login=/me").await.status(),
            StatusCode::FOUND
        );
    })
    .await;
}

#[tokio::test]
async fn logout_can_end_the_session_at_the_provider_too() {
    within(async {
        let mock = Mock::start().await;
        let provider = Provider::discover(mock.issuer.clone(), CLIENT_ID)
            .await
            .unwrap();
        let login =
            OAuthLogin::new(provider, BASE).with_provider_logout("https://app.example.org/goodbye");
        let app = app_with(key(1), login, |l| l);
        let mut browser = Browser::default();
        let res = browser.login(&app, &mock, "/auth?login=/me").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);

        let res = browser
            .send(
                &app,
                Method::POST,
                "/auth?logout",
                &[("sec-fetch-site", "same-origin")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", body(res).await);
        let to = location(&res);
        assert!(to.starts_with(&mock.url("/endsession?")), "{to}");
        assert_eq!(
            query_param(&to, "post_logout_redirect_uri").as_deref(),
            Some("https://app.example.org/goodbye")
        );
        assert_eq!(query_param(&to, "client_id").as_deref(), Some(CLIENT_ID));
        let hint = query_param(&to, "id_token_hint").expect("id_token_hint");
        assert_eq!(hint.split('.').count(), 3, "a JWT: {hint}");
        assert!(
            !browser.jar.contains_key("__Host-session"),
            "the local session is gone"
        );
        assert!(
            browser.jar.keys().all(|n| !n.starts_with("__Host-auth")),
            "{:?}",
            browser.jar
        );
        // The provider's logout endpoint answers the browser.
        let res = mock
            .transport
            .send(Request::get(&to).body(Vec::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(
            res.headers()[header::LOCATION],
            "https://app.example.org/goodbye"
        );

        // Logout still needs a same-origin request.
        let mut again = Browser::default();
        again.login(&app, &mock, "/auth?login=/me").await;
        let res = again
            .send(
                &app,
                Method::POST,
                "/auth?logout",
                &[("sec-fetch-site", "cross-site")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(again.jar.contains_key("__Host-session"));

        // A post-logout URI off the app's origin, or a provider without an end-session
        // endpoint, is a configuration error.
        let error = OAuthLogin::new(mock.provider(), BASE)
            .with_provider_logout("https://app.example.org/bye")
            .service()
            .unwrap_err();
        assert!(error.to_string().contains("end-session"), "{error}");
        let error = OAuthLogin::new(
            mock.provider()
                .with_end_session_endpoint(mock.url("/endsession")),
            BASE,
        )
        .with_provider_logout("https://evil.example/bye")
        .service()
        .unwrap_err();
        assert!(error.to_string().contains("post-logout"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn callback_answers_are_nosniff_and_never_leak_their_url_as_a_referrer() {
    within(async {
        let mock = Mock::start().await;
        // The welcome text reflects the uid: never sniffed as HTML.
        let app = app(&mock);
        let res = Browser::default().login(&app, &mock, "/auth?login").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
        assert_eq!(header(&res, "referrer-policy"), Some("no-referrer"));
        // The Strict-mode landing page's URL holds the code: no Referer carries it away.
        let strict = app_with(key(1), OAuthLogin::new(mock.provider(), BASE), |l| {
            l.with_same_site(sealed_session::SameSite::Strict)
        });
        let res = Browser::default()
            .login(&strict, &mock, "/auth?login=/me")
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "referrer-policy"), Some("no-referrer"));
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
    })
    .await;
}
