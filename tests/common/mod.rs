//! Shared harness for the behaviour tests: a real axum `Router` behind `SessionLayer`, a manual
//! clock, a counting token handler, and helpers to send requests and read responses.
#![allow(dead_code, unreachable_pub)]

pub mod keys;
pub mod node;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use sealed_session::testing::{ManualClock, TestKit};
use sealed_session::{
    Auth, Identity, Key, KeyRing, RequireAuth, Session, SessionError, SessionLayer, TokenError,
    TokenHandler,
};
use serde::Deserialize;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

/// The start of every test clock.
pub const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

/// A deterministic, non-degenerate 64-byte key material.
pub fn material(seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(7);
    (0..64)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

pub fn key(seed: u8) -> Key {
    Key::try_from(material(seed)).expect("test key")
}

/// Tokens the counting handler knows.
pub const GOOD: &str = "good-token-abc";
pub const ADMIN: &str = "admin-token-xyz";
pub const CI: &str = "ci-token-123";
pub const EXPIRED: &str = "expired-token";
pub const FAILING: &str = "failing-token";
pub const SLOW: &str = "slow-token";
pub const PANICKING: &str = "panicking-token";
pub const PADDED: &str = "padded-token==";

/// A token handler that counts its calls.
#[derive(Clone, Default)]
pub struct Tokens {
    pub calls: Arc<AtomicUsize>,
    pub clock: Option<ManualClock>,
}

impl Tokens {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[sealed_session::async_trait]
impl TokenHandler for Tokens {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.as_ref().map_or(T0, ManualClock::now);
        match token {
            GOOD => Ok(Some(Identity::new("alice").with_scopes(["read"]))),
            PADDED => Ok(Some(Identity::new("padded"))),
            ADMIN => Ok(Some(
                Identity::new("root")
                    .with_scopes(["admin", "read"])
                    .with_roles(["ops"])
                    .with_mfa(true),
            )),
            CI => Ok(Some(
                Identity::new("ci-bot")
                    .with_role_account(true)
                    .with_scopes(["builds/+/write"]),
            )),
            EXPIRED => Ok(Some(
                Identity::new("old").with_expires_at(now - Duration::seconds(1)),
            )),
            FAILING => Err(TokenError::new("database unreachable")),
            SLOW => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok(None)
            }
            PANICKING => panic!("token handler bug"),
            _ => Ok(None),
        }
    }
}

#[derive(Deserialize)]
pub struct LoginParams {
    pub uid: Option<String>,
    pub scopes: Option<String>,
    pub roles: Option<String>,
    pub pad: Option<usize>,
}

#[derive(Deserialize)]
pub struct KvParams {
    pub k: String,
    pub v: Option<String>,
    pub n: Option<usize>,
}

fn split(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

async fn login(auth: Auth, Query(p): Query<LoginParams>) -> Response<Body> {
    let mut identity = match p.uid {
        Some(uid) => Identity::new(uid),
        None => Identity::anonymous(),
    };
    identity = identity
        .with_scopes(split(p.scopes))
        .with_roles(split(p.roles));
    if let Some(n) = p.pad {
        identity = identity.with_value("pad", &"x".repeat(n)).expect("json");
    }
    match auth.login(identity) {
        Ok(s) => s.id().to_string().into_response(),
        Err(SessionError::TooLarge { .. }) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response()
        }
        Err(e) => (StatusCode::CONFLICT, e.to_string()).into_response(),
    }
}

async fn insert(session: Session, Query(p): Query<KvParams>) -> Response<Body> {
    let value = match (p.v, p.n) {
        (Some(v), _) => v,
        (None, Some(n)) => "y".repeat(n),
        (None, None) => String::new(),
    };
    match session.insert(p.k, &value) {
        Ok(()) => "ok".into_response(),
        Err(SessionError::TooLarge { .. }) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "too large").into_response()
        }
        Err(e) => (StatusCode::CONFLICT, e.to_string()).into_response(),
    }
}

async fn read(session: Session, Query(p): Query<KvParams>) -> String {
    session
        .get::<String>(&p.k)
        .expect("typed")
        .unwrap_or_default()
}

/// The routes every behaviour test uses.
pub fn routes() -> Router {
    Router::new()
        .route("/public", get(|| async { "public" }))
        .route(
            "/optional",
            get(|s: Option<Session>| async move {
                s.map_or("anonymous".to_owned(), |s| s.uid().unwrap_or_default())
            }),
        )
        .route(
            "/me",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .route(
            "/twice",
            get(|a: Session, b: Option<Session>, c: Session| async move {
                format!(
                    "{} {} {}",
                    a.uid().unwrap_or_default(),
                    b.is_some(),
                    c.uid().unwrap_or_default()
                )
            }),
        )
        .route("/login", post(login))
        .route(
            "/logout",
            post(|auth: Auth| async move {
                auth.logout();
                "bye"
            }),
        )
        .route(
            "/session-logout",
            post(|s: Session| async move {
                s.logout();
                "bye"
            }),
        )
        .route("/insert", post(insert))
        .route("/read", get(read))
        .route(
            "/fail",
            post(|s: Session| async move {
                s.insert("k", &"v").expect("insert");
                (StatusCode::INTERNAL_SERVER_ERROR, "boom")
            }),
        )
        .route(
            "/fail-read",
            get(|_s: Session| async move { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireAuth::scope("admin")),
        )
        .route(
            "/ops",
            get(|| async { "ops" }).route_layer(RequireAuth::role("ops")),
        )
        .route(
            "/guarded",
            get(|| async { "guarded" }).route_layer(RequireAuth::authenticated()),
        )
}

/// A test app: router, clock, kit and token handler sharing one configuration.
pub struct App {
    pub router: Router,
    pub clock: ManualClock,
    pub kit: TestKit,
    pub tokens: Tokens,
    pub layer: SessionLayer,
}

/// The base layer of the tests: a manual clock at `T0` and the counting token handler. `tweak`
/// adjusts it.
pub fn app_with(keys: impl Into<KeyRing>, tweak: impl FnOnce(SessionLayer) -> SessionLayer) -> App {
    let clock = ManualClock::new(T0);
    let tokens = Tokens {
        calls: Arc::default(),
        clock: Some(clock.clone()),
    };
    let layer = tweak(
        SessionLayer::new(keys)
            .with_clock(clock.clone())
            .with_token_handler(tokens.clone())
            .with_handler_timeout(Duration::milliseconds(300)),
    );
    let kit = TestKit::new(&layer);
    App {
        router: routes().layer(layer.clone()),
        clock,
        kit,
        tokens,
        layer,
    }
}

pub fn app() -> App {
    app_with(key(1), |l| l)
}

/// Every `tracing` event of this test binary, at every level, formatted.
#[derive(Clone, Default)]
pub struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    /// A subscriber that writes every event, at every level, into this capture.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish()
    }

    pub fn len(&self) -> usize {
        self.0.lock().expect("log").len()
    }

    pub fn since(&self, start: usize) -> String {
        let log = self.0.lock().expect("log");
        String::from_utf8_lossy(log.get(start..).unwrap_or_default()).into_owned()
    }
}

/// The binary-wide log capture, installed as the global subscriber on first use.
pub fn log_capture() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = capture.subscriber();
        // Another test may have installed one first; then this capture stays empty and the
        // per-request check below is vacuous for that binary, so say so loudly.
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            eprintln!("warning: a global subscriber was already set; log checks are off");
        }
        capture
    })
}

/// The secrets a request carries: bearer tokens and cookie values (long enough to be unique).
fn secrets_of(req: &Request<Body>) -> Vec<String> {
    let mut secrets = Vec::new();
    for value in req.headers().get_all(header::AUTHORIZATION) {
        let text = String::from_utf8_lossy(value.as_bytes());
        if let Some((_, token)) = text.split_once(' ') {
            if token.trim().len() >= 8 {
                secrets.push(token.trim().to_owned());
            }
        }
    }
    for value in req.headers().get_all(header::COOKIE) {
        for pair in String::from_utf8_lossy(value.as_bytes()).split(';') {
            if let Some((_, v)) = pair.split_once('=') {
                if v.trim().len() >= 16 {
                    secrets.push(v.trim().to_owned());
                }
            }
        }
    }
    secrets
}

/// Sends `req` through `router`, and checks that none of its secrets, nor the new cookie of the
/// response, reached any `tracing` output. Every test file sends through here.
pub async fn send(router: &Router, req: Request<Body>) -> Response<Body> {
    let log = log_capture();
    let mut secrets = secrets_of(&req);
    let start = log.len();
    let res = router.clone().oneshot(req).await.expect("infallible");
    for line in set_cookies(&res) {
        if let Some(value) = line.split(';').next().and_then(|p| p.split_once('=')) {
            if value.1.len() >= 16 {
                secrets.push(value.1.to_owned());
            }
        }
    }
    let logged = log.since(start);
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
    }
    res
}

/// A request with raw header values (bytes, so non-ASCII and HTAB can be sent).
pub fn request(method: Method, path: &str, headers: &[(&str, &[u8])]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    builder.body(Body::empty()).expect("request")
}

/// The response's `WWW-Authenticate` field, as sent.
pub fn www(res: &Response<Body>) -> Option<&str> {
    header(res, "www-authenticate")
}

/// Every `WWW-Authenticate` field of the response, in order (Bearer, then DPoP or Basic).
pub fn challenges(res: &Response<Body>) -> Vec<String> {
    res.headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().expect("visible ASCII").to_owned())
        .collect()
}

/// A parsed `WWW-Authenticate` challenge (RFC 9110 §11.6.1): the scheme and its auth-params,
/// quoted values unquoted, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of the auth-param `name` (case-insensitive), if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the response's single `WWW-Authenticate` challenge. Panics on a malformed one: the
/// layer must only ever send well-formed challenges.
pub fn challenge(res: &Response<Body>) -> Option<Challenge> {
    let text = www(res)?;
    let (scheme, mut rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut params = Vec::new();
    while !rest.trim().is_empty() {
        let (name, after) = rest.trim_start().split_once('=').expect("auth-param name");
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next().expect("closing quote") {
                    (i, '"') => break i,
                    (_, '\\') => value.push(chars.next().expect("escaped char").1),
                    (_, c) => value.push(c),
                }
            };
            (value, &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((name.trim().to_owned(), value));
        let after = after.trim_start();
        rest = after.strip_prefix(',').unwrap_or(after);
        assert!(
            rest.len() < after.len() || rest.trim().is_empty(),
            "auth-params are separated by commas: {text}"
        );
    }
    Some(Challenge {
        scheme: scheme.to_owned(),
        params,
    })
}

impl App {
    /// Sends a request through the app's router; see [`send`].
    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        send(&self.router, req).await
    }

    pub async fn get(&self, path: &str) -> Response<Body> {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get_with_cookie(&self, path: &str, cookie: &HeaderValue) -> Response<Body> {
        self.send(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn post_with_cookie(&self, path: &str, cookie: &HeaderValue) -> Response<Body> {
        self.send(
            Request::post(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn get_with_bearer(&self, path: &str, token: &str) -> Response<Body> {
        self.send(
            Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Logs `uid` in and returns the `Cookie` header value for the new session.
    pub async fn login(&self, query: &str) -> HeaderValue {
        let res = self
            .send(
                Request::post(format!("/login?{query}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login failed");
        cookie_from(&res).expect("login sets a cookie")
    }
}

/// Every `Set-Cookie` line of a response.
pub fn set_cookies(res: &Response<Body>) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .collect()
}

/// The `Set-Cookie` lines for the session cookie `name`.
pub fn session_cookies(res: &Response<Body>, name: &str) -> Vec<String> {
    set_cookies(res)
        .into_iter()
        .filter(|l| l.starts_with(&format!("{name}=")))
        .collect()
}

/// The `name=value` pair of the response's first `Set-Cookie`, as a `Cookie` request header.
pub fn cookie_from(res: &Response<Body>) -> Option<HeaderValue> {
    let line = set_cookies(res).into_iter().next()?;
    let pair = line.split(';').next()?.to_owned();
    if pair.split_once('=')?.1.is_empty() {
        return None;
    }
    HeaderValue::from_str(&pair).ok()
}

pub async fn body(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

pub fn header<'a>(res: &'a Response<Body>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().expect("ascii"))
}

/// Asserts the response carries no `Set-Cookie` at all.
pub fn assert_no_set_cookie(res: &Response<Body>) {
    assert!(
        set_cookies(res).is_empty(),
        "unexpected Set-Cookie: {:?}",
        set_cookies(res)
    );
}

/// Asserts the response deletes the default session cookie with the default attributes.
pub fn assert_deletion(res: &Response<Body>) {
    let lines = session_cookies(res, "__Host-session");
    assert_eq!(lines.len(), 1, "one session Set-Cookie: {lines:?}");
    assert_eq!(
        lines[0],
        "__Host-session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    );
    assert_eq!(header(res, "cache-control"), Some("no-store"));
}
