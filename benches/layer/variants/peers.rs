//! The peers, each given the very plaintext our cookie carries: axum-extra's `PrivateCookieJar`,
//! tower-sessions with its `MemoryStore`, seshcookie, a hand-written cookie layer doing what ours
//! does, tower-http's static bearer compare, and a bearer lookup in a `HashMap` by an async
//! middleware.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use axum_extra::extract::cookie::PrivateCookieJar;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use super::{
    bare, bearer_header, cookie_header, get_request, route, Fixture, Payload, COOKIE_NAME,
};
use crate::harness::{FloorOf, Variant};

// --- axum-extra PrivateCookieJar ---------------------------------------------------------------

fn extra_payload(jar: &PrivateCookieJar) -> Option<Payload> {
    let cookie = jar.get("session")?;
    serde_json::from_str(cookie.value()).ok()
}

async fn extra_read(jar: PrivateCookieJar) -> &'static str {
    match extra_payload(&jar) {
        Some(p) if !p.u.is_empty() && p.d.counter > 0 => "ok",
        _ => "none",
    }
}

async fn extra_write(jar: PrivateCookieJar) -> (PrivateCookieJar, &'static str) {
    let Some(mut p) = extra_payload(&jar) else {
        return (jar, "none");
    };
    p.d.counter += 1;
    let json = serde_json::to_string(&p).expect("payload serialises");
    (
        jar.add(axum_extra::extract::cookie::Cookie::new("session", json)),
        "ok",
    )
}

// --- tower-sessions MemoryStore ----------------------------------------------------------------

async fn ts_read(session: tower_sessions::Session) -> &'static str {
    match session.get::<Payload>("p").await {
        Ok(Some(p)) if !p.u.is_empty() && p.d.counter > 0 => "ok",
        _ => "none",
    }
}

async fn ts_write(
    State(seed): State<Arc<Payload>>,
    session: tower_sessions::Session,
) -> &'static str {
    let mut p = match session.get::<Payload>("p").await {
        Ok(Some(p)) => p,
        _ => (*seed).clone(),
    };
    p.d.counter += 1;
    match session.insert("p", &p).await {
        Ok(()) => "ok",
        Err(_) => "error",
    }
}

// --- a hand-written cookie layer (cookie crate private jar + serde_json), like for like -------
//
// It does what our cookie read and write do, no more and no less (issue 16):
// - request: find the cookie in `Cookie`, open it with the cookie crate's private jar (base64 +
//   AES-256-GCM), parse only what a read needs (uid, creation and last-seen times, the value the
//   handler reads; serde skips the rest, checking its syntax), the idle / absolute / clock-skew
//   checks with our limits, and the renewal decision (last seen an interval ago);
// - handler: reads the uid and the counter in place (write: changes the counter);
// - response: `Vary: Cookie` when a cookie was read; when changed or due for renewal, the whole
//   record again (a second, borrowing parse of the kept plaintext: no copy of its strings), the
//   counter and last-seen time updated, serialised, sealed with the private jar, and written as
//   `Set-Cookie` with our attributes plus `Cache-Control: no-store`.

/// Our layer's settings (`SessionLayer` defaults, refresh interval 1 h as in the bench).
const HAND_IDLE: i64 = 7 * 24 * 3600;
const HAND_MAX_AGE: i64 = 30 * 24 * 3600;
const HAND_SKEW: i64 = 60;
const HAND_REFRESH: i64 = 3600;

/// What a read needs of the record; every other field is skipped (syntax-checked by serde).
#[derive(serde::Deserialize)]
struct HandHead {
    u: String,
    c: i64,
    l: i64,
    d: HandHeadData,
}

#[derive(serde::Deserialize)]
struct HandHeadData {
    counter: u64,
}

/// The whole record, borrowed from the plaintext, for a re-seal: untouched parts stay raw JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct HandWire<'a> {
    v: u8,
    #[serde(borrow)]
    i: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    u: std::borrow::Cow<'a, str>,
    c: i64,
    l: i64,
    a: i64,
    #[serde(borrow)]
    r: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    g: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    m: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    d: HandWireData<'a>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HandWireData<'a> {
    counter: u64,
    #[serde(borrow)]
    csrf: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    lang: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    theme: std::borrow::Cow<'a, str>,
}

#[derive(Clone)]
struct HandSlot(Arc<Mutex<HandState>>);

struct HandState {
    /// The opened cookie (its value is the plaintext), kept for a re-seal.
    opened: cookie::Cookie<'static>,
    uid: String,
    counter: u64,
    dirty: bool,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n == name).then_some(v)
        })
}

/// Opens and checks the cookie: the state and whether it is due for renewal.
fn hand_open(key: &cookie::Key, value: &str, now: i64) -> Option<(HandState, bool)> {
    let opened = cookie::CookieJar::new()
        .private(key)
        .decrypt(cookie::Cookie::new(COOKIE_NAME, value.to_owned()))?;
    let head: HandHead = serde_json::from_str(opened.value()).ok()?;
    let age = now - head.c;
    if age >= HAND_MAX_AGE || -age > HAND_SKEW || now - head.l >= HAND_IDLE {
        return None;
    }
    let renew = now - head.l >= HAND_REFRESH;
    Some((
        HandState {
            opened,
            uid: head.u,
            counter: head.d.counter,
            dirty: false,
        },
        renew,
    ))
}

/// The `Set-Cookie` line of `state`, re-sealed at `now`.
fn hand_seal(key: &cookie::Key, state: &HandState, now: i64) -> Option<HeaderValue> {
    let mut wire: HandWire<'_> = serde_json::from_str(state.opened.value()).ok()?;
    wire.d.counter = state.counter;
    wire.l = wire.l.max(now);
    let json = serde_json::to_string(&wire).ok()?;
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(key)
        .add(cookie::Cookie::new(COOKIE_NAME, json));
    let sealed = jar.get(COOKIE_NAME)?;
    HeaderValue::try_from(format!(
        "{COOKIE_NAME}={}; Path=/; Secure; HttpOnly; SameSite=Lax",
        sealed.value()
    ))
    .ok()
}

async fn hand_layer(State(key): State<Arc<cookie::Key>>, mut req: Request, next: Next) -> Response {
    let now = unix_now();
    let found = find_cookie(req.headers(), COOKIE_NAME).map(|value| hand_open(&key, value, now));
    let had_cookie = found.is_some();
    let mut renew = false;
    let slot = found.flatten().map(|(state, due)| {
        renew = due;
        HandSlot(Arc::new(Mutex::new(state)))
    });
    if let Some(slot) = &slot {
        req.extensions_mut().insert(slot.clone());
    }
    let mut res = next.run(req).await;
    if had_cookie {
        res.headers_mut()
            .append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    if let Some(slot) = slot {
        let state = slot.0.lock().expect("hand slot");
        if state.dirty || renew {
            if let Some(line) = hand_seal(&key, &state, now) {
                let headers = res.headers_mut();
                headers.append(header::SET_COOKIE, line);
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
        }
    }
    res
}

async fn hand_read(Extension(slot): Extension<HandSlot>) -> &'static str {
    let state = slot.0.lock().expect("hand slot");
    if !state.uid.is_empty() && state.counter > 0 {
        "ok"
    } else {
        "none"
    }
}

async fn hand_write(Extension(slot): Extension<HandSlot>) -> &'static str {
    let mut state = slot.0.lock().expect("hand slot");
    state.counter += 1;
    state.dirty = true;
    "ok"
}

// --- seshcookie 0.1 (ChaCha20-Poly1305, typed `Session<T>`) ------------------------------------

/// Read: `modify` reads the payload in place (`get` would clone the whole payload).
async fn sesh_read(session: seshcookie::Session<Payload>) -> &'static str {
    let ok = session
        .modify(|p| {
            p.as_ref()
                .is_some_and(|p| !p.u.is_empty() && p.d.counter > 0)
        })
        .await;
    if ok {
        "ok"
    } else {
        "none"
    }
}

async fn sesh_write(session: seshcookie::Session<Payload>) -> &'static str {
    let changed = session
        .modify(|p| {
            p.as_mut().map(|p| {
                p.d.counter += 1;
            })
        })
        .await;
    if changed.is_some() {
        "ok"
    } else {
        "none"
    }
}

async fn sesh_login(
    State(seed): State<Arc<Payload>>,
    session: seshcookie::Session<Payload>,
) -> &'static str {
    session.insert((*seed).clone()).await;
    "ok"
}

// --- bearer peers ------------------------------------------------------------------------------

/// What the HashMap middleware attaches to the request: an identity-ish record.
#[derive(Clone)]
#[allow(dead_code)] // Cloned per request like an identity would be; the handler reads the uid.
struct Ident {
    uid: String,
    scopes: Vec<String>,
    role_account: bool,
}

async fn map_layer(
    State(tokens): State<Arc<HashMap<String, Ident>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let found = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| tokens.get(token))
        .cloned();
    match found {
        Some(ident) => {
            req.extensions_mut().insert(ident);
            next.run(req).await
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// The same lookup, borrowing: the identity is checked in place in the map, and nothing is
/// cloned or handed to the route (which cannot read it). The floor of a HashMap middleware.
async fn map_layer_borrowed(
    State(tokens): State<Arc<HashMap<String, Ident>>>,
    req: Request,
    next: Next,
) -> Response {
    let known = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| tokens.get(token))
        .is_some_and(|ident| !ident.uid.is_empty());
    if known {
        next.run(req).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn map_handler(Extension(ident): Extension<Ident>) -> &'static str {
    if ident.uid.is_empty() {
        "none"
    } else {
        "ok"
    }
}

#[allow(deprecated)] // The module is deprecated as "too basic"; it is exactly the peer we compare.
fn tower_http_bearer(
    token: &str,
) -> tower_http::validate_request::ValidateRequestHeaderLayer<
    tower_http::auth::require_authorization::Bearer<Body>,
> {
    tower_http::validate_request::ValidateRequestHeaderLayer::bearer(token)
}

pub(crate) fn variants(fx: &Fixture, rt: &Runtime) -> Vec<Variant> {
    let mut variants = Vec::new();
    let (key_material, plaintext) = (&fx.key_material, &fx.plaintext);
    let (tokens, token) = (&fx.tokens, &fx.token);
    // --- peers: axum-extra PrivateCookieJar ---
    let peer_key = cookie::Key::derive_from(key_material);
    let sealed_with = |name: &str| {
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(&peer_key)
            .add(cookie::Cookie::new(name.to_owned(), plaintext.clone()));
        jar.get(name).expect("sealed").value().to_owned()
    };
    let extra_cookie = format!("session={}", sealed_with("session"));
    variants.push(route(
        "extra_read",
        "axum-extra `PrivateCookieJar` read + serde_json",
        FloorOf::Read,
        Router::new()
            .route("/", get(extra_read))
            .with_state(peer_key.clone()),
        cookie_header(&extra_cookie),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "extra_write",
        "axum-extra `PrivateCookieJar` read + write back",
        FloorOf::Write,
        Router::new()
            .route("/", get(extra_write))
            .with_state(peer_key.clone()),
        cookie_header(&extra_cookie),
        StatusCode::OK,
        true,
    ));

    // --- peers: tower-sessions MemoryStore ---
    let store = tower_sessions::MemoryStore::default();
    let seed = Arc::new(fx.payload.clone());
    let ts_write_router = Router::new()
        .route("/", get(ts_write))
        .layer(tower_sessions::SessionManagerLayer::new(store.clone()))
        .with_state(seed);
    let ts_cookie = rt.block_on(async {
        let res = ts_write_router
            .clone()
            .oneshot(get_request(&[]))
            .await
            .expect("infallible");
        let line = res
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("tower-sessions sets its cookie");
        line.split(';').next().expect("pair").to_owned()
    });
    variants.push(route(
        "ts_read",
        "tower-sessions 0.15 `MemoryStore` read",
        FloorOf::Read,
        Router::new()
            .route("/", get(ts_read))
            .layer(tower_sessions::SessionManagerLayer::new(store)),
        cookie_header(&ts_cookie),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "ts_write",
        "tower-sessions 0.15 `MemoryStore` write",
        FloorOf::Write,
        ts_write_router,
        cookie_header(&ts_cookie),
        StatusCode::OK,
        true,
    ));

    // --- peers: the hand-written layer, like for like ---
    let hand_key = Arc::new(peer_key.clone());
    let hand_cookie = format!("{COOKIE_NAME}={}", sealed_with(COOKIE_NAME));
    variants.push(route(
        "hand_read",
        "hand-written cookie layer (cookie private jar + serde_json, same checks) read",
        FloorOf::Read,
        Router::new()
            .route("/", get(hand_read))
            .layer(middleware::from_fn_with_state(hand_key.clone(), hand_layer)),
        cookie_header(&hand_cookie),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "hand_write",
        "hand-written cookie layer write",
        FloorOf::Write,
        Router::new()
            .route("/", get(hand_write))
            .layer(middleware::from_fn_with_state(hand_key, hand_layer)),
        cookie_header(&hand_cookie),
        StatusCode::OK,
        true,
    ));

    // --- peers: seshcookie ---
    let sesh_layer = || {
        let keys = seshcookie::SessionKeys::new(key_material).expect("seshcookie key");
        let config = seshcookie::SessionConfig::default()
            .cookie_name(COOKIE_NAME)
            .max_age(std::time::Duration::from_secs(30 * 24 * 3600))
            .refresh_after(Some(std::time::Duration::from_secs(3600)));
        seshcookie::SessionLayer::<Payload>::new(keys, config).expect("seshcookie layer")
    };
    let sesh = sesh_layer();
    let sesh_cookie = rt.block_on(async {
        let res = Router::new()
            .route("/", get(sesh_login))
            .layer(sesh.clone())
            .with_state(Arc::new(fx.payload.clone()))
            .oneshot(get_request(&[]))
            .await
            .expect("infallible");
        let line = res
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("seshcookie sets its cookie");
        line.split(';').next().expect("pair").to_owned()
    });
    variants.push(route(
        "sesh_read",
        "seshcookie 0.1 `Session<T>` read (ChaCha20-Poly1305 + serde_json)",
        FloorOf::Read,
        Router::new().route("/", get(sesh_read)).layer(sesh.clone()),
        cookie_header(&sesh_cookie),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "sesh_write",
        "seshcookie 0.1 `Session<T>` write",
        FloorOf::Write,
        Router::new().route("/", get(sesh_write)).layer(sesh),
        cookie_header(&sesh_cookie),
        StatusCode::OK,
        true,
    ));

    // --- peers: bearer ---
    variants.push(route(
        "towerhttp_bearer",
        "tower-http `ValidateRequestHeaderLayer::bearer` (static compare)",
        FloorOf::None,
        Router::new()
            .route("/", get(bare))
            .layer(tower_http_bearer(token)),
        bearer_header(token),
        StatusCode::OK,
        false,
    ));
    let idents: Arc<HashMap<String, Ident>> = Arc::new(
        tokens
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    Ident {
                        uid: "ci-bot".into(),
                        scopes: vec!["builds:read".into(), "builds:write".into()],
                        role_account: true,
                    },
                )
            })
            .collect(),
    );
    variants.push(route(
        "map_bearer",
        "bearer looked up in a HashMap by an async middleware (`from_fn`)",
        FloorOf::None,
        Router::new()
            .route("/", get(map_handler))
            .layer(middleware::from_fn_with_state(idents.clone(), map_layer)),
        bearer_header(token),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "map_bearer_borrowed",
        "bearer looked up in a HashMap by an async middleware (`from_fn`), borrowing: nothing cloned",
        FloorOf::None,
        Router::new()
            .route("/", get(bare))
            .layer(middleware::from_fn_with_state(idents, map_layer_borrowed)),
        bearer_header(token),
        StatusCode::OK,
        false,
    ));
    variants
}
