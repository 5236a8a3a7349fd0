//! The load-test target for `scripts/load.sh`: one small app, with or without the session layer.
//!
//! Run with `cargo run --release --example bench_server -- --mode cookie` (add `--port N`, or
//! set `PORT`; default 3100, and 0 picks a free port). It listens on 127.0.0.1 only and logs
//! nothing while serving. Modes:
//!
//! - `bare`: the same route without `SessionLayer`; the handler returns a body of the same size;
//! - `cookie`: `SessionLayer`; `GET /me` takes a `Session` and returns its uid;
//! - `cookie-write`: as `cookie`, and the handler changes a session value, so every response
//!   re-seals the session (`Set-Cookie`);
//! - `never-asks`: `SessionLayer` around a handler that takes no session (the cookie is sent);
//! - `bearer`: as `cookie`, with the token handler wrapped in `TokenCache`;
//! - `bearer-uncached`: as `cookie`, with the token handler called on every request;
//! - `extra-read`: no `SessionLayer`; axum-extra's `PrivateCookieJar` opens a cookie holding a
//!   JSON session of the same plaintext size, parsed with serde_json;
//! - `ts-read`: no `SessionLayer`; tower-sessions with its `MemoryStore`, the same JSON session
//!   stored under the session id its cookie carries;
//! - `floor-read`: no layer at all, the read floor in the handler: the cookie's value
//!   base64-decoded, opened with AES-256-GCM (a prepared key) and the same-size JSON session
//!   parsed with serde_json: what any encrypted-cookie read must do, with nothing around it;
//! - `map-bearer`: no `SessionLayer`; a `from_fn` middleware looks the bearer token up in a
//!   `HashMap` and hands the handler an owned clone of the identity (the reference of issue 16's
//!   cached-bearer target).
//!
//! At start it prints the credentials, then `ready <url>` once the socket is bound:
//!
//! ```text
//! cookie __Host-session=…     (every mode but the bearer ones: a `Cookie` header value)
//! plaintext 270               (the same modes: the session's plaintext size, bytes)
//! token bench-token-…         (bearer modes)
//! ready http://127.0.0.1:3100
//! ```
//!
//! The bare app ignores the cookie it prints: it is there so that a load test can send the
//! same request bytes to both apps. Sessions are re-sealed at most once an hour, so a run
//! measures opening a valid cookie, never sliding renewal (`cookie-write` re-seals because the
//! session changed).

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::{Cookie, Key as JarKey, PrivateCookieJar};
use sealed_session::testing::TestKit;
use sealed_session::{ApiKeys, Identity, Key, Session, SessionError, SessionLayer, TokenCache};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;
use tower::ServiceExt as _;

/// The uid every mode answers with, so every mode returns the same body.
const UID: &str = "bench";
/// The bearer token the bearer modes accept.
const TOKEN: &str = "bench-token-5c1f0e9a7d3b4e62a8f1";
/// Other tokens in the handler, so the lookup is not a one-entry special case.
const OTHER_TOKENS: usize = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    Cookie,
    CookieWrite,
    NeverAsks,
    Bearer,
    BearerUncached,
    ExtraRead,
    TsRead,
    FloorRead,
    MapBearer,
}

impl Mode {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "bare" => Some(Self::Bare),
            "cookie" => Some(Self::Cookie),
            "cookie-write" => Some(Self::CookieWrite),
            "never-asks" => Some(Self::NeverAsks),
            "bearer" => Some(Self::Bearer),
            "bearer-uncached" => Some(Self::BearerUncached),
            "extra-read" => Some(Self::ExtraRead),
            "ts-read" => Some(Self::TsRead),
            "floor-read" => Some(Self::FloorRead),
            "map-bearer" => Some(Self::MapBearer),
            _ => None,
        }
    }
}

struct Args {
    mode: Mode,
    port: u16,
}

fn usage() -> String {
    "usage: bench_server --mode bare|cookie|cookie-write|never-asks|bearer|bearer-uncached|\
     extra-read|ts-read [--port N]"
        .to_owned()
}

fn args() -> Result<Args, String> {
    let mut mode = None;
    let mut port = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match flag.as_str() {
            "--mode" => {
                let v = value().ok_or_else(usage)?;
                mode = Some(
                    Mode::parse(&v).ok_or_else(|| format!("unknown mode {v:?}; {}", usage()))?,
                );
            }
            "--port" => {
                let v = value().ok_or_else(usage)?;
                port = Some(v.parse().map_err(|_| format!("bad port {v:?}"))?);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}; {}", usage())),
        }
    }
    let port = match port {
        Some(p) => p,
        None => match std::env::var("PORT") {
            Ok(p) => p.parse().map_err(|_| format!("bad PORT {p:?}"))?,
            Err(_) => 3100,
        },
    };
    Ok(Args {
        mode: mode.ok_or_else(usage)?,
        port,
    })
}

/// The plaintext size of the benchmark's cookie session, in bytes: a typical web session.
const PLAINTEXT_LEN: usize = 270;

/// The identity behind the cookie and the token: roles, groups, scopes and metadata, and an
/// application value `pad` of `pad` bytes (see [`cookie`]).
fn identity(pad: usize) -> Identity {
    Identity::new(UID)
        .with_roles(["member", "committer"])
        .with_groups(["infra", "builds"])
        .with_scopes(["builds:read", "builds:write", "repo:read"])
        .with_mfa(true)
        .with_metadata_entry("email", json!("bench@example.org"))
        .with_json_value("pad", json!("x".repeat(pad)))
}

/// The token handler: the benchmark token (its identity padded like the cookie's) among others.
fn tokens(pad: usize) -> ApiKeys {
    (0..OTHER_TOKENS).fold(
        ApiKeys::new().with_token(TOKEN, identity(pad)),
        |keys, i| {
            keys.with_token(
                &format!("other-token-{i:04}-0f4e2a9c"),
                Identity::new(format!("user{i}")),
            )
        },
    )
}

async fn me_bare() -> String {
    UID.to_owned()
}

async fn me(session: Session) -> String {
    session.uid().unwrap_or_default()
}

async fn me_write(session: Session) -> Result<String, SessionError> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0);
    session.insert("visits", &(visits + 1))?;
    Ok(session.uid().unwrap_or_default())
}

/// The peers' session: the fields of [`identity`] as a plain JSON object, padded like ours.
#[derive(Clone, Serialize, Deserialize)]
struct PeerSession {
    uid: String,
    roles: Vec<String>,
    groups: Vec<String>,
    scopes: Vec<String>,
    mfa: bool,
    email: String,
    created: i64,
    last_seen: i64,
    pad: String,
}

/// A peer session whose JSON is `len` bytes (or just over, when the fields alone are longer).
fn peer_session(len: usize) -> PeerSession {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut session = PeerSession {
        uid: UID.to_owned(),
        roles: vec!["member".into(), "committer".into()],
        groups: vec!["infra".into(), "builds".into()],
        scopes: vec![
            "builds:read".into(),
            "builds:write".into(),
            "repo:read".into(),
        ],
        mfa: true,
        email: "bench@example.org".into(),
        created: now,
        last_seen: now,
        pad: String::new(),
    };
    let bare = serde_json::to_string(&session).map_or(0, |j| j.len());
    session.pad = "x".repeat(len.saturating_sub(bare));
    session
}

async fn me_extra(jar: PrivateCookieJar) -> Result<String, axum::http::StatusCode> {
    jar.get("session")
        .and_then(|c| serde_json::from_str::<PeerSession>(c.value()).ok())
        .map(|s| s.uid)
        .ok_or(axum::http::StatusCode::UNAUTHORIZED)
}

async fn me_ts(session: tower_sessions::Session) -> Result<String, axum::http::StatusCode> {
    match session.get::<PeerSession>("s").await {
        Ok(Some(s)) => Ok(s.uid),
        _ => Err(axum::http::StatusCode::UNAUTHORIZED),
    }
}

/// The read floor's key: AES-256-GCM, expanded once at start.
#[derive(Clone)]
struct FloorKey(std::sync::Arc<aes_gcm::Aes256Gcm>);

const FLOOR_B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// base64 + AES-256-GCM open + serde_json, on the `session` cookie: nothing else.
async fn me_floor(
    axum::extract::State(key): axum::extract::State<FloorKey>,
    headers: axum::http::HeaderMap,
) -> Result<String, axum::http::StatusCode> {
    use aes_gcm::aead::AeadInPlace as _;
    use base64::Engine as _;
    let value = headers
        .get(axum::http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|line| line.strip_prefix("session="))
        .ok_or(axum::http::StatusCode::UNAUTHORIZED)?;
    let mut data = FLOOR_B64
        .decode(value)
        .map_err(|_| axum::http::StatusCode::UNAUTHORIZED)?;
    if data.len() < 12 + 16 {
        return Err(axum::http::StatusCode::UNAUTHORIZED);
    }
    let mut body = data.split_off(12);
    let tag = body.split_off(body.len() - 16);
    key.0
        .decrypt_in_place_detached(
            aes_gcm::Nonce::from_slice(&data),
            b"",
            &mut body,
            aes_gcm::Tag::from_slice(&tag),
        )
        .map_err(|_| axum::http::StatusCode::UNAUTHORIZED)?;
    serde_json::from_slice::<PeerSession>(&body)
        .map(|s| s.uid)
        .map_err(|_| axum::http::StatusCode::UNAUTHORIZED)
}

/// The floor's sealed value of `plaintext`: base64url of nonce ‖ ciphertext ‖ tag.
fn floor_value(key: &aes_gcm::Aes256Gcm, plaintext: &str) -> String {
    use aes_gcm::aead::{Aead as _, AeadCore as _, OsRng};
    use base64::Engine as _;
    let nonce = aes_gcm::Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = key
        .encrypt(&nonce, plaintext.as_bytes())
        .unwrap_or_default();
    FLOOR_B64.encode([nonce.as_slice(), &sealed].concat())
}

/// The `map-bearer` middleware's identity: what a handler needs, owned.
#[derive(Clone)]
struct MapIdentity {
    uid: String,
    #[expect(
        dead_code,
        reason = "cloned with the identity, as an app's would be; not read here"
    )]
    scopes: Vec<String>,
}

/// Looks the bearer token up and inserts an owned clone of its identity (401 when unknown).
async fn map_lookup(
    axum::extract::State(map): axum::extract::State<
        std::sync::Arc<std::collections::HashMap<String, MapIdentity>>,
    >,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let found = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| map.get(token))
        .cloned();
    match found {
        Some(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        None => axum::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn me_map(axum::Extension(identity): axum::Extension<MapIdentity>) -> String {
    identity.uid
}

fn layer() -> SessionLayer {
    // Re-seal at most once an hour, so a run never pays for sliding renewal.
    SessionLayer::new(Key::generate()).with_refresh_interval(Duration::hours(1))
}

/// The plaintext length of a sealed `Cookie` header value: its base64 is of nonce (12) ‖
/// ciphertext ‖ tag (16).
fn plaintext_len(header: &str) -> usize {
    let value = header.split_once('=').map_or("", |(_, v)| v);
    let padding = value.bytes().rev().take_while(|&b| b == b'=').count();
    (value.len() / 4 * 3).saturating_sub(padding + 12 + 16)
}

/// A `Cookie` header value carrying a fresh session for [`identity`], sealed for `layer`, with
/// the padding value sized so that the plaintext is [`PLAINTEXT_LEN`] bytes (or just over, if the
/// record without padding is already longer). Returns the header, the plaintext length and the padding.
fn cookie(layer: &SessionLayer) -> (String, usize, usize) {
    let kit = TestKit::new(layer);
    let mint = |pad| {
        let header = kit.cookie_header(identity(pad));
        let header = header.to_str().unwrap_or_default().to_owned();
        let len = plaintext_len(&header);
        (header, len, pad)
    };
    let (header, len, _) = mint(0);
    match PLAINTEXT_LEN.checked_sub(len) {
        Some(missing) if missing > 0 => mint(missing),
        _ => (header, len, 0),
    }
}

/// The app for `mode`, and the credential lines to print.
async fn app(mode: Mode) -> (Router, Vec<String>) {
    let routes = Router::new();
    let cookie_lines =
        |cookie: &str, len: usize| vec![format!("cookie {cookie}"), format!("plaintext {len}")];
    match mode {
        // The bare app ignores cookies; it prints one of the same size (from a layer it does not
        // use) so that the load script can send the same request bytes to both apps.
        Mode::Bare => {
            let (cookie, len, _) = cookie(&layer());
            (
                routes.route("/me", get(me_bare)),
                cookie_lines(&cookie, len),
            )
        }
        Mode::Cookie | Mode::CookieWrite | Mode::NeverAsks => {
            let layer = layer();
            let (cookie, len, _) = cookie(&layer);
            let app = match mode {
                Mode::Cookie => routes.route("/me", get(me)),
                Mode::CookieWrite => routes.route("/me", get(me_write)),
                _ => routes.route("/me", get(me_bare)),
            };
            (app.layer(layer), cookie_lines(&cookie, len))
        }
        Mode::Bearer | Mode::BearerUncached => {
            // The token's identity gets the same padding as the cookie session.
            let (_, _, pad) = cookie(&layer());
            let layer = if mode == Mode::Bearer {
                layer().with_token_handler(TokenCache::new(tokens(pad)))
            } else {
                layer().with_token_handler(tokens(pad))
            };
            let app = routes.route("/me", get(me)).layer(layer);
            (app, vec![format!("token {TOKEN}")])
        }
        Mode::ExtraRead => {
            let (_, len, _) = cookie(&layer());
            let key = JarKey::generate();
            let json = serde_json::to_string(&peer_session(len)).unwrap_or_default();
            let value = sealed_value(&key, json);
            let app = Router::<JarKey>::new()
                .route("/me", get(me_extra))
                .with_state(key);
            (app, cookie_lines(&format!("session={value}"), len))
        }
        Mode::FloorRead => {
            use aes_gcm::KeyInit as _;
            let (_, len, _) = cookie(&layer());
            let cipher =
                aes_gcm::Aes256Gcm::new(&aes_gcm::Aes256Gcm::generate_key(aes_gcm::aead::OsRng));
            let json = serde_json::to_string(&peer_session(len)).unwrap_or_default();
            let value = floor_value(&cipher, &json);
            let app = Router::new()
                .route("/me", get(me_floor))
                .with_state(FloorKey(std::sync::Arc::new(cipher)));
            (app, cookie_lines(&format!("session={value}"), len))
        }
        Mode::MapBearer => {
            let mut map = std::collections::HashMap::new();
            map.insert(
                TOKEN.to_owned(),
                MapIdentity {
                    uid: UID.to_owned(),
                    scopes: vec![
                        "builds:read".into(),
                        "builds:write".into(),
                        "repo:read".into(),
                    ],
                },
            );
            for i in 0..OTHER_TOKENS {
                map.insert(
                    format!("other-token-{i:04}-0f4e2a9c"),
                    MapIdentity {
                        uid: format!("user{i}"),
                        scopes: Vec::new(),
                    },
                );
            }
            let app = routes
                .route("/me", get(me_map))
                .layer(axum::middleware::from_fn_with_state(
                    std::sync::Arc::new(map),
                    map_lookup,
                ));
            (app, vec![format!("token {TOKEN}")])
        }
        Mode::TsRead => {
            let (_, len, _) = cookie(&layer());
            let store = tower_sessions::MemoryStore::default();
            let session = peer_session(len);
            let login = Router::new()
                .route(
                    "/login",
                    get(move |s: tower_sessions::Session| {
                        let session = session.clone();
                        async move { s.insert("s", session).await.is_ok().to_string() }
                    }),
                )
                .layer(tower_sessions::SessionManagerLayer::new(store.clone()));
            let request = axum::http::Request::get("/login")
                .body(axum::body::Body::empty())
                .unwrap_or_default();
            let cookie = match login.oneshot(request).await {
                Ok(res) => res
                    .headers()
                    .get(axum::http::header::SET_COOKIE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|line| line.split(';').next())
                    .unwrap_or_default()
                    .to_owned(),
                Err(never) => match never {},
            };
            let app = routes
                .route("/me", get(me_ts))
                .layer(tower_sessions::SessionManagerLayer::new(store));
            (app, cookie_lines(&cookie, len))
        }
    }
}

/// The private jar's sealed value of `plaintext` for the cookie `session`, as its response
/// writes it (the jar keeps plaintext until then).
fn sealed_value(key: &JarKey, plaintext: String) -> String {
    use axum::response::IntoResponse as _;
    let res = PrivateCookieJar::new(key.clone())
        .add(Cookie::new("session", plaintext))
        .into_response();
    res.headers()
        .get(axum::http::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|line| line.split(';').next())
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(message) => {
            eprintln!("bench_server: {message}");
            return ExitCode::from(2);
        }
    };
    let (app, lines) = app(args.mode).await;
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(error) => {
            eprintln!("bench_server: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(error) => {
            eprintln!("bench_server: {error}");
            return ExitCode::FAILURE;
        }
    };
    for line in lines {
        println!("{line}");
    }
    println!("ready {url}");
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_server: {error}");
            ExitCode::FAILURE
        }
    }
}
