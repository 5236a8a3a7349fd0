//! The peers, each given the very plaintext our cookie carries: axum-extra's `PrivateCookieJar`,
//! tower-sessions with its `MemoryStore`, a minimal hand-written cookie layer, tower-http's static
//! bearer compare, and a bearer lookup in a `HashMap` by an async middleware.

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

use super::{bare, bearer_header, cookie_header, get_request, route, Fixture, Payload};
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

// --- a minimal hand-written cookie layer (cookie crate private jar + serde_json) ---------------

#[derive(Clone)]
struct HandSlot(Arc<Mutex<HandState>>);

struct HandState {
    payload: Payload,
    dirty: bool,
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

async fn hand_layer(State(key): State<Arc<cookie::Key>>, mut req: Request, next: Next) -> Response {
    let payload = find_cookie(req.headers(), "s").and_then(|value| {
        let jar = cookie::CookieJar::new();
        let opened = jar
            .private(&key)
            .decrypt(cookie::Cookie::new("s", value.to_owned()))?;
        serde_json::from_str::<Payload>(opened.value()).ok()
    });
    let slot = payload.map(|payload| {
        HandSlot(Arc::new(Mutex::new(HandState {
            payload,
            dirty: false,
        })))
    });
    if let Some(slot) = &slot {
        req.extensions_mut().insert(slot.clone());
    }
    let mut res = next.run(req).await;
    if let Some(slot) = slot {
        let state = slot.0.lock().expect("hand slot");
        if state.dirty {
            let json = serde_json::to_string(&state.payload).expect("payload serialises");
            let mut jar = cookie::CookieJar::new();
            jar.private_mut(&key).add(cookie::Cookie::new("s", json));
            if let Some(sealed) = jar.get("s") {
                let line = format!(
                    "s={}; Path=/; Secure; HttpOnly; SameSite=Lax",
                    sealed.value()
                );
                if let Ok(line) = HeaderValue::from_str(&line) {
                    res.headers_mut().append(header::SET_COOKIE, line);
                }
            }
        }
    }
    res
}

async fn hand_read(Extension(slot): Extension<HandSlot>) -> &'static str {
    let state = slot.0.lock().expect("hand slot");
    if !state.payload.u.is_empty() && state.payload.d.counter > 0 {
        "ok"
    } else {
        "none"
    }
}

async fn hand_write(Extension(slot): Extension<HandSlot>) -> &'static str {
    let mut state = slot.0.lock().expect("hand slot");
    state.payload.d.counter += 1;
    state.dirty = true;
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

    // --- peers: minimal hand-written layer ---
    let hand_key = Arc::new(peer_key.clone());
    let hand_cookie = format!("s={}", sealed_with("s"));
    variants.push(route(
        "hand_read",
        "hand-written cookie layer (cookie private jar + serde_json) read",
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
