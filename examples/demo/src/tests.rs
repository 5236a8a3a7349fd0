//! The demo's routes end to end, in process: password login, the session page, tokens, guards,
//! the cookie limit, idle expiry, "log out everywhere", key rotation and cross-site posts.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use sealed_session::testing::ManualClock;
use sealed_session::{LiveKeys, TokenHandler as _};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt as _;

use crate::app::{self, AppState};
use crate::config::Config;
use crate::store::Db;
use crate::testdir::TestDir;
use crate::{accounts, keyfile};

struct Harness {
    _dir: TestDir,
    key_file: std::path::PathBuf,
    state: AppState,
    clock: ManualClock,
    keys: LiveKeys,
    app: Router,
}

impl Harness {
    fn new(name: &str) -> Self {
        let dir = TestDir::new(name);
        let data = dir.path().to_string_lossy().into_owned();
        let config = Config::parse(
            [
                "--data-dir".to_owned(),
                data,
                "--idle-timeout".into(),
                "1h".into(),
            ],
            |_| None,
        )
        .unwrap();
        let key_file = config.key_file();
        let ring = keyfile::load_or_create(&key_file).unwrap().ring;
        let db = Db::open(&config.database()).unwrap();
        db.call_blocking(accounts::seed).unwrap();
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        let state = AppState::new(config, db, None, Arc::new(clock.clone()));
        let keys = LiveKeys::new(ring);
        let app = app::router(state.clone(), keys.clone());
        Self {
            _dir: dir,
            key_file,
            state,
            clock,
            keys,
            app,
        }
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.app.clone().oneshot(request).await.unwrap()
    }

    /// A browser navigation (the demo's pages are visited, not fetched).
    async fn get(&self, path: &str, cookie: Option<&str>) -> Response<Body> {
        let mut req = Request::get(path).header("sec-fetch-mode", "navigate");
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    async fn bearer(&self, method: &str, path: &str, token: &str) -> Response<Body> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.send(req).await
    }

    async fn post(&self, path: &str, cookie: Option<&str>, form: &str) -> Response<Body> {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        self.send(req.body(Body::from(form.to_owned())).unwrap())
            .await
    }

    /// Signs in and returns the `Cookie` header value.
    async fn login(&self, uid: &str) -> String {
        let res = self
            .post(
                "/login",
                None,
                &format!("username={uid}&password={uid}-demo-password"),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        set_cookie(&res)
            .unwrap_or_else(|| panic!("login sets the session cookie: {:?}", res.headers()))
    }

    /// Creates a token through the form and returns it.
    async fn create_token(&self, path: &str, cookie: &str, form: &str) -> String {
        let res = self.post(path, Some(cookie), form).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = body(res).await;
        let start = page.find("<pre id=\"new-token\">").unwrap() + 20;
        let end = start + page[start..].find('<').unwrap();
        page[start..end].to_owned()
    }
}

fn set_cookie(res: &Response<Body>) -> Option<String> {
    let line = res.headers().get(header::SET_COOKIE)?.to_str().ok()?;
    let pair = line.split(';').next()?.to_owned();
    let (_, value) = pair.split_once('=')?;
    (!value.is_empty()).then_some(pair)
}

fn is_deletion(res: &Response<Body>) -> bool {
    res.headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("__Host-session=;") && v.contains("Max-Age=0"))
}

async fn body(res: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn location(res: &Response<Body>) -> &str {
    res.headers()[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn password_login_opens_the_session_page_and_logout_deletes_the_cookie() {
    let h = Harness::new("routes-login");
    let res = h.get("/session", None).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login?login=/session");
    assert_eq!(
        h.get("/api/me", None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let res = h
        .post("/login", None, "username=alice&password=wrong")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert!(body(res).await.contains("Wrong user name or password"));

    let res = h
        .post(
            "/login",
            None,
            "username=alice&password=alice-demo-password&next=%2Ftokens",
        )
        .await;
    assert_eq!(location(&res), "/tokens");
    let line = res.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(line.starts_with("__Host-session="));
    assert!(
        line.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{line}"
    );
    let cookie = set_cookie(&res).unwrap();
    let page = body(h.get("/session", Some(&cookie)).await).await;
    for text in [
        "alice",
        "admin",
        "maintainers",
        "builds:read builds:write",
        "time-left",
    ] {
        assert!(page.contains(text), "{text} missing");
    }
    let res = h
        .post(
            "/login",
            None,
            "username=alice&password=alice-demo-password&next=%2F%2Fevil.example",
        )
        .await;
    assert_eq!(
        location(&res),
        "/session",
        "an off-site return path is dropped"
    );

    let res = h.post("/logout", Some(&cookie), "").await;
    assert_eq!(location(&res), "/login?signed_out=1");
    assert!(is_deletion(&res));
    // A copy of the cookie taken before sign-out is refused: the session has ended.
    let res = h.get("/session", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(is_deletion(&res));
    assert_eq!(
        h.get("/api/me", Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_session_page_lists_active_sessions_and_ends_them() {
    let h = Harness::new("routes-active");
    let laptop = h.login("alice").await;
    let phone = h.login("alice").await;
    let tablet = h.login("alice").await;
    let bob = h.login("bob").await;
    let page = body(h.get("/session", Some(&laptop)).await).await;
    assert_eq!(
        page.matches(r#"class="active-session""#).count(),
        3,
        "{page}"
    );
    assert_eq!(page.matches(r#"id="this-session""#).count(), 1);

    // End the phone's session from the laptop's list.
    let phone_page = body(h.get("/session", Some(&phone)).await).await;
    let row = phone_page.find(r#"id="this-session""#).unwrap();
    let start = row + phone_page[row..].find(r#"name="id" value=""#).unwrap() + 17;
    let phone_id = &phone_page[start..start + phone_page[start..].find('"').unwrap()];
    let res = h
        .post("/session/end", Some(&laptop), &format!("id={phone_id}"))
        .await;
    assert_eq!(location(&res), "/session?ended=1");
    assert_eq!(
        h.get("/session", Some(&phone)).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(
        h.get("/session", Some(&laptop)).await.status(),
        StatusCode::OK
    );
    // Bob cannot end alice's sessions, and junk is a 400, not a 500.
    let res = h
        .post("/session/end", Some(&bob), &format!("id={phone_id}"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h.post("/session/end", Some(&bob), "id=not-an-id").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Sign out other sessions: the tablet ends, the laptop stays, bob is untouched. (The test
    // clock stands still: the store refuses sessions created before that time, to the ms.)
    h.clock.advance(Duration::milliseconds(1));
    let res = h.post("/logout/others", Some(&laptop), "").await;
    assert!(
        location(&res).starts_with("/session?others_ended="),
        "{}",
        location(&res)
    );
    assert_eq!(
        h.get("/session", Some(&tablet)).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(
        h.get("/session", Some(&laptop)).await.status(),
        StatusCode::OK
    );
    assert_eq!(h.get("/session", Some(&bob)).await.status(), StatusCode::OK);
    // A cross-site post to end a session is refused, like every other form.
    let req = Request::post("/session/end")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, &bob)
        .header("sec-fetch-site", "cross-site")
        .body(Body::from("id=AAAAAAAAAAAAAAAAAAAAAA"))
        .unwrap();
    assert_eq!(h.send(req).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_admin_page_needs_the_role_and_shows_a_readable_403() {
    let h = Harness::new("routes-admin");
    let bob = h.login("bob").await;
    let res = h.get("/admin", Some(&bob)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = body(res).await;
    assert!(
        page.contains("Not allowed") && page.contains("admin"),
        "{page}"
    );
    let alice = h.login("alice").await;
    let page = body(h.get("/admin", Some(&alice)).await).await;
    assert!(page.contains("Role-account tokens") && page.contains("ci-bot"));
    assert_eq!(h.get("/admin", None).await.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn personal_access_tokens_carry_their_scopes_and_revocation_is_immediate() {
    let h = Harness::new("routes-tokens");
    let bob = h.login("bob").await;
    let token = h
        .create_token(
            "/tokens",
            &bob,
            "name=laptop&scope=builds%3Aread&lifetime=0",
        )
        .await;
    assert!(token.starts_with(crate::tokens::PREFIX));
    let listing = body(h.get("/tokens", Some(&bob)).await).await;
    assert!(
        listing.contains("laptop") && !listing.contains(&token),
        "listed, never shown again"
    );

    let res = h.bearer("GET", "/api/builds", &token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    assert!(body(res).await.contains(r#""source":"bearer""#));
    let res = h.bearer("POST", "/api/builds", &token).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert_eq!(
        h.bearer("GET", "/tokens", &token).await.status(),
        StatusCode::FORBIDDEN,
        "a token cannot manage tokens"
    );

    let res = h
        .post(
            "/tokens",
            Some(&bob),
            "name=x&scope=builds%3Awrite&lifetime=0",
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "bob has no builds:write to give"
    );

    let id = h
        .state
        .db
        .call_blocking(|c| {
            Ok(
                c.query_row("SELECT id FROM tokens WHERE name = 'laptop'", [], |r| {
                    r.get::<_, i64>(0)
                })?,
            )
        })
        .unwrap();
    let alice = h.login("alice").await;
    let res = h
        .post(&format!("/tokens/{id}/revoke"), Some(&alice), "")
        .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "only the owner revokes"
    );
    let res = h
        .post(&format!("/tokens/{id}/revoke"), Some(&bob), "")
        .await;
    assert_eq!(location(&res), "/tokens?revoked=1");
    let res = h.bearer("GET", "/api/builds", &token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    h.clock.advance(Duration::days(8));
    let bob = h.login("bob").await;
    let token = h
        .create_token("/tokens", &bob, "name=short&lifetime=0")
        .await;
    assert_eq!(
        h.bearer("GET", "/api/me", &token).await.status(),
        StatusCode::OK
    );
    h.clock.advance(Duration::hours(1));
    assert_eq!(
        h.bearer("GET", "/api/me", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "expired after its hour, even from the cache"
    );
}

#[tokio::test]
async fn role_account_tokens_come_from_the_admin_page() {
    let h = Harness::new("routes-role");
    let alice = h.login("alice").await;
    let token = h
        .create_token(
            "/admin/role-tokens",
            &alice,
            "name=deploy&scope=builds%3Awrite&lifetime=1",
        )
        .await;
    let res = h.bearer("POST", "/api/builds", &token).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let json = body(res).await;
    assert!(json.contains(r#""role_account":true"#) && json.contains(r#""uid":"ci-bot""#));
    let bob = h.login("bob").await;
    assert_eq!(
        h.post("/admin/role-tokens", Some(&bob), "name=x&lifetime=0")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_note_past_the_cookie_limit_is_refused_and_the_session_kept() {
    let h = Harness::new("routes-limit");
    let cookie = h.login("bob").await;
    let res = h.post("/session/note", Some(&cookie), "note=hello").await;
    assert_eq!(location(&res), "/session?saved=1");
    let cookie = set_cookie(&res).unwrap();

    let res = h.post("/session/note", Some(&cookie), "pad=5000").await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        res.headers().get(header::SET_COOKIE).is_none(),
        "the browser keeps its cookie"
    );
    let page = body(res).await;
    assert!(page.contains("Refused: too large for a cookie"));
    // One story, one unit: the data's size against the data a __Host-session cookie holds
    // (3,032 bytes once sealed and encoded), and the browser's 4,096-byte limit as the reason.
    let size: usize = page
        .split("the session's data would be ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(|n| n.replace(',', ""))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the message gives the data's size: {page}"));
    assert!(size > 5_000, "{size}");
    assert!(page.contains("at most 4,096 bytes for a cookie"));
    assert!(page.contains("this cookie holds at most 3,032 bytes of data"));
    let page = body(h.get("/session", Some(&cookie)).await).await;
    assert!(page.contains(">hello</textarea>"), "the old note is intact");
}

#[tokio::test]
async fn an_idle_session_goes_back_to_the_login_page() {
    let h = Harness::new("routes-idle");
    let cookie = h.login("bob").await;
    h.clock.advance(Duration::minutes(59));
    assert_eq!(
        h.get("/session", Some(&cookie)).await.status(),
        StatusCode::OK
    );
    h.clock.advance(Duration::hours(1));
    let res = h.get("/session", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(location(&res), "/login?login=/session");
    assert!(is_deletion(&res));
    assert!(body(h.get("/login?login=/session", None).await)
        .await
        .contains("Please sign in to continue"));
}

#[tokio::test]
async fn log_out_everywhere_ends_every_browser_and_survives_a_restart() {
    let h = Harness::new("routes-everywhere");
    let laptop = h.login("alice").await;
    let phone = h.login("alice").await;
    let bob = h.login("bob").await;
    let res = h.post("/logout/everywhere", Some(&laptop), "").await;
    assert_eq!(location(&res), "/login?everywhere=1");
    for (cookie, status) in [
        (&laptop, StatusCode::FOUND),
        (&phone, StatusCode::FOUND),
        (&bob, StatusCode::OK),
    ] {
        assert_eq!(h.get("/session", Some(cookie)).await.status(), status);
    }
    h.clock.advance(Duration::seconds(1));
    let again = h.login("alice").await;
    assert_eq!(
        h.get("/session", Some(&again)).await.status(),
        StatusCode::OK
    );

    let restarted = sealed_session::NotBefore::new();
    assert_eq!(
        accounts::load_not_before(&h.state.db, &restarted).unwrap(),
        1
    );
}

#[tokio::test]
async fn a_rotated_key_keeps_everyone_signed_in() {
    let h = Harness::new("routes-rotate");
    let cookie = h.login("bob").await;
    keyfile::rotate(&h.key_file).unwrap();
    // What the key-file watcher does: the same router, the live ring replaced.
    h.keys.replace(keyfile::load(&h.key_file).unwrap().ring);
    let res = h.get("/session", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let resealed = set_cookie(&res).expect("re-sealed with the new key on the same response");
    assert_ne!(resealed, cookie);
    assert_eq!(
        h.get("/session", Some(&resealed)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_errors_are_pages() {
    let h = Harness::new("routes-csrf");
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from("username=bob&password=bob-demo-password"))
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get(header::SET_COOKIE).is_none());
    let req = Request::post("/login")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ORIGIN, "http://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.status(), StatusCode::FORBIDDEN);
    // A bearer request carries no ambient credential: exempt from the check, judged by its
    // token (here an unknown one: 401 with a challenge, not the CSRF page).
    let req = Request::post("/api/builds")
        .header(header::AUTHORIZATION, "Bearer not-a-real-token")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    let res = h.send(req).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));

    let bob = h.login("bob").await;
    let res = h.post("/tokens/not-a-number/revoke", Some(&bob), "").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body(res).await.starts_with("<!doctype html>"));
    let res = h.get("/no/such/page", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body(res).await.contains("There is nothing here"));
}

#[tokio::test]
async fn the_purge_job_shows_progress_then_its_outcome() {
    let h = Harness::new("routes-job");
    let alice = h.login("alice").await;
    let res = h.post("/admin/jobs/purge", Some(&alice), "").await;
    let job = location(&res).to_owned();
    let page = body(h.get(&job, Some(&alice)).await).await;
    assert!(page.contains("http-equiv=\"refresh\"") && page.contains("<progress"));
    for _ in 0..100 {
        let page = body(h.get(&job, Some(&alice)).await).await;
        if page.contains("job-done") {
            assert!(page.contains("Deleted 0 expired or revoked tokens"));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the job did not finish within 10 s");
}

#[tokio::test]
async fn a_panicking_handler_is_a_readable_page_without_its_message() {
    let app: Router = Router::new()
        .route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("secret detail");
                }
                "unreachable"
            }),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::pages::panic_page,
        ));
    let res = app
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let page = body(res).await;
    assert!(page.contains("Something went wrong") && !page.contains("secret detail"));
}

#[tokio::test]
async fn the_start_up_token_has_the_scopes_the_banner_names() {
    let h = Harness::new("routes-startup-token");
    let token = crate::startup_token(&h.state).await.unwrap();
    let who = h.state.tokens.resolve(&token).await.unwrap().unwrap();
    assert_eq!(who.uid(), Some(accounts::ROLE_ACCOUNT));
    assert_eq!(
        who.metadata()["scope"],
        serde_json::json!(crate::STARTUP_SCOPES)
    );
    assert_eq!(
        h.bearer("GET", "/api/builds", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        h.bearer("POST", "/api/builds", &token).await.status(),
        StatusCode::FORBIDDEN,
        "the banner says POST needs builds:write, which this token lacks"
    );
    // The next start revokes it.
    let next = crate::startup_token(&h.state).await.unwrap();
    assert!(h.state.tokens.resolve(&token).await.unwrap().is_none());
    assert!(h.state.tokens.resolve(&next).await.unwrap().is_some());
}
