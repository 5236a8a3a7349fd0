//! Side-by-side cost of `SessionLayer` against its peers and against the primitive floor
//! (issue 3). See BENCHMARKS.md for the method, the results and what they show.
//!
//! Every variant is one `GET /` through an axum 0.8 `Router` built once (and finalised with
//! `with_state(())`, as `axum::serve` does), called with `router.clone().oneshot(req)` on a
//! current-thread tokio runtime, with the same ≈290-byte session plaintext. Requests are built
//! before the clock starts, so a time is the cost of routing, the layer, the handler and dropping
//! the response. The floors are the bare primitives (base64, AES-256-GCM with a prepared key,
//! serde_json into a typed struct) on the same plaintext.
//!
//! ```text
//! cargo bench --bench layer                                # full run, about 3 minutes
//! SEALED_SESSION_BENCH_QUICK=1 cargo bench --bench layer   # CI smoke run, under a minute
//! SEALED_SESSION_BENCH_ONLY=bare,ours_read cargo bench --bench layer   # some variants only
//! SEALED_SESSION_BENCH_PROFILE=ours_read target/release/deps/layer-*   # one variant, for a profiler
//! ```
//!
//! A run has three parts: criterion measures each variant once (its usual report, and history
//! under `target/criterion`); then an interleaved sampler makes passes over all variants, one
//! timed batch of about a millisecond each, so that what a target compares is measured close
//! together in time on a shared machine; then allocations are counted with `stats_alloc` over a
//! bounded number of requests, outside every timed loop. It prints a markdown table (medians
//! over passes, with criterion's median beside them) and a met / not met line per target, each
//! ratio taken within a pass and then the median over passes. Run without `--bench` (for
//! example by `cargo test --benches`), everything runs a few times only: a smoke check.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use axum_extra::extract::cookie::PrivateCookieJar;
use base64::Engine as _;
use criterion::Criterion;
use rand::RngCore as _;
use sealed_session::testing::TestKit;
use sealed_session::{
    token_fn, ApiKeys, Identity, Key, Session, SessionError, SessionLayer, TokenCache, TokenFn,
    TokenHandler,
};
use serde::{Deserialize, Serialize};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Every allocation is counted (see `count_allocs`).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The criterion group every variant is in (and its directory under `target/criterion`).
const GROUP: &str = "layer";
/// Requests built ahead of each timed chunk.
const CHUNK: usize = 256;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// Run settings
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `cargo bench --bench layer`.
    Full,
    /// `SEALED_SESSION_BENCH_QUICK=1`: short runs for a CI smoke check.
    Quick,
    /// No `--bench` argument (`cargo test --benches`): criterion runs each variant once.
    Test,
}

#[derive(Clone, Copy)]
struct Settings {
    mode: Mode,
    /// Criterion, one pass over the variants: warm-up per variant.
    warm_up: Duration,
    /// Criterion: measurement time per variant.
    measurement: Duration,
    /// Criterion: samples per variant.
    sample_size: usize,
    /// Criterion: bootstrap resamples.
    resamples: usize,
    /// Interleaved sampling: at most this many passes over all variants...
    passes: usize,
    /// ...and at least this many, however long they take...
    min_passes: usize,
    /// ...stopping at the first pass that starts after this much time.
    budget: Duration,
    /// Interleaved sampling: how long one timed batch of one variant lasts, about.
    batch: Duration,
    /// Requests (or floor calls) per variant for the allocation count.
    alloc_requests: usize,
}

impl Settings {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; `cargo test --benches` (criterion's test mode, each
        // variant run once) does not, and gets the shortest settings.
        let mode = if !std::env::args().any(|a| a == "--bench") {
            Mode::Test
        } else if std::env::var_os("SEALED_SESSION_BENCH_QUICK").is_some_and(|v| v != "0") {
            Mode::Quick
        } else {
            Mode::Full
        };
        match mode {
            Mode::Full => Self {
                mode,
                warm_up: Duration::from_millis(300),
                measurement: Duration::from_secs(1),
                sample_size: 30,
                resamples: 20_000,
                passes: 3_000,
                min_passes: 200,
                budget: Duration::from_secs(150),
                batch: Duration::from_millis(1),
                alloc_requests: 1_000,
            },
            Mode::Quick => Self {
                mode,
                warm_up: Duration::from_millis(100),
                measurement: Duration::from_millis(300),
                sample_size: 10,
                resamples: 1_000,
                passes: 400,
                min_passes: 50,
                budget: Duration::from_secs(12),
                batch: Duration::from_micros(500),
                alloc_requests: 100,
            },
            Mode::Test => Self {
                mode,
                warm_up: Duration::from_millis(100),
                measurement: Duration::from_millis(300),
                sample_size: 10,
                resamples: 1_000,
                passes: 3,
                min_passes: 3,
                budget: Duration::from_secs(1),
                batch: Duration::from_micros(20),
                alloc_requests: 10,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The payload: the same plaintext for every variant
// ---------------------------------------------------------------------------------------------

/// A struct shaped like the session plaintext (sealed-session's wire format v1, keys in the
/// order serde_json writes them), so the floor parses the very bytes our cookie carries and the
/// peers store the very same JSON.
#[derive(Clone, Serialize, Deserialize)]
#[allow(dead_code)] // Every field is parsed and written; handlers read only a few.
struct Payload {
    v: u8,
    i: String,
    u: String,
    c: i64,
    l: i64,
    a: i64,
    r: Vec<String>,
    g: Vec<String>,
    m: Meta,
    d: Data,
    /// Last validator check (written at login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Meta {
    scope: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Data {
    counter: u64,
    csrf: String,
    lang: String,
    theme: String,
}

fn identity() -> Identity {
    Identity::new("alice")
        .with_roles(["admin", "ops"])
        .with_groups(["infra", "security"])
        .with_scopes(["builds:read", "builds:write", "repo:read"])
        .with_json_value("counter", serde_json::json!(41))
        .with_json_value("csrf", serde_json::json!("q9VxN2bK7hT4mW1sZ8cR3f"))
        .with_json_value("lang", serde_json::json!("en"))
        .with_json_value("theme", serde_json::json!("dark"))
}

/// Deterministic, non-degenerate key material.
fn material(seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(7);
    (0..64)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

const COOKIE_NAME: &str = "__Host-session";
/// The AEAD associated data of our cookie: format version, purpose and cookie name
/// (`src/config.rs`, `Shared::build`). Checked at start-up by opening a real cookie with it.
const CONTEXT: &str = "sealed-session/1\u{1f}session\u{1f}__Host-session";

// ---------------------------------------------------------------------------------------------
// The floor
// ---------------------------------------------------------------------------------------------

/// The primitives with nothing around them: a prepared AES-256-GCM key, one base64 pass, one
/// decryption in place, one serde_json pass into a typed struct.
struct Floor {
    cipher: Aes256Gcm,
    value: String,
}

impl Floor {
    fn new(material: &[u8], value: String) -> Self {
        let key = cookie::Key::derive_from(material);
        let cipher = Aes256Gcm::new(GenericArray::from_slice(key.encryption()));
        Self { cipher, value }
    }

    /// base64 decode + AES-256-GCM open + JSON parse.
    fn read(&self) -> Option<Payload> {
        self.with_plaintext(|body| serde_json::from_slice(body).ok())?
    }

    /// base64 decode + AES-256-GCM open in place, then `f` on the plaintext.
    fn with_plaintext<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let mut data = B64.decode(&self.value).ok()?;
        if data.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = data.split_at_mut(12);
        let (body, tag) = rest.split_at_mut(rest.len() - 16);
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                CONTEXT.as_bytes(),
                body,
                GenericArray::from_slice(tag),
            )
            .ok()?;
        Some(f(body))
    }

    /// `plaintext` with its session id replaced by a fixed one, sealed with a fixed nonce: the
    /// same cookie bytes in every run (minted cookies carry a random id and nonce, and base64 and
    /// the JSON scans branch on the bytes, which moved instruction counts by ≈ 0.5 % between
    /// runs).
    fn fixed_cookie(&self, plaintext: &str) -> String {
        let mut payload: Payload = serde_json::from_str(plaintext).expect("payload");
        payload.i = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*b"sealed-session-1");
        let mut data = vec![7u8; 12];
        serde_json::to_writer(&mut data, &payload).expect("payload serialises");
        let (nonce, body) = data.split_at_mut(12);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), CONTEXT.as_bytes(), body)
            .expect("seal");
        data.extend_from_slice(&tag);
        B64.encode(&data)
    }

    /// The read floor + change a value + serialise + seal (fresh nonce) + encode.
    fn write(&self) -> Option<String> {
        let mut payload = self.read()?;
        payload.d.counter += 1;
        let mut data = Vec::with_capacity(512);
        data.resize(12, 0);
        rand::thread_rng().fill_bytes(&mut data);
        serde_json::to_writer(&mut data, &payload).ok()?;
        let (nonce, body) = data.split_at_mut(12);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), CONTEXT.as_bytes(), body)
            .ok()?;
        data.extend_from_slice(&tag);
        Some(B64.encode(&data))
    }
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

type MakeRequest = Box<dyn Fn() -> Request + Send + Sync>;

enum Work {
    Route {
        router: Router,
        make: MakeRequest,
        expect: StatusCode,
        expect_set_cookie: bool,
    },
    Floor(Box<dyn Fn() -> bool + Send + Sync>),
}

/// Which floor an overhead is divided by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FloorOf {
    None,
    Read,
    Write,
}

struct Variant {
    id: &'static str,
    label: &'static str,
    floor_of: FloorOf,
    work: Work,
}

fn get_request(headers: &[(header::HeaderName, HeaderValue)]) -> Request {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = axum::http::Uri::from_static("/");
    for (name, value) in headers {
        req.headers_mut().append(name.clone(), value.clone());
    }
    req
}

fn route(
    id: &'static str,
    label: &'static str,
    floor_of: FloorOf,
    router: Router,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    expect: StatusCode,
    expect_set_cookie: bool,
) -> Variant {
    Variant {
        id,
        label,
        floor_of,
        work: Work::Route {
            // Turn every handler into a `Route` now, as `axum::serve` does (`into_make_service`
            // calls `with_state(())`). Without it, axum rebuilds the route on every request,
            // cloning and re-applying each layer: a cost no server pays.
            router: router.with_state(()),
            make: Box::new(move || get_request(&headers)),
            expect,
            expect_set_cookie,
        },
    }
}

/// A route variant whose `Router` is called as it is, not finalised: what tests and custom
/// servers that call `Router::call` pay (axum rebuilds layered routes per request). `200`, no
/// `Set-Cookie`.
fn unfinalised_route(
    id: &'static str,
    label: &'static str,
    router: Router,
    headers: Vec<(header::HeaderName, HeaderValue)>,
) -> Variant {
    Variant {
        id,
        label,
        floor_of: FloorOf::None,
        work: Work::Route {
            router,
            make: Box::new(move || get_request(&headers)),
            expect: StatusCode::OK,
            expect_set_cookie: false,
        },
    }
}

fn cookie_header(line: &str) -> Vec<(header::HeaderName, HeaderValue)> {
    vec![(
        header::COOKIE,
        HeaderValue::from_str(line).expect("cookie header"),
    )]
}

fn bearer_header(token: &str) -> Vec<(header::HeaderName, HeaderValue)> {
    vec![(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("bearer header"),
    )]
}

// --- our handlers ------------------------------------------------------------------------------

async fn ours_read(session: Session) -> &'static str {
    let uid = session.uid();
    let counter = session.get::<u64>("counter").ok().flatten();
    if uid.is_some() && counter.is_some() {
        "ok"
    } else {
        "none"
    }
}

async fn ours_write(session: Session) -> Result<&'static str, SessionError> {
    let counter = session.get::<u64>("counter")?.unwrap_or(0);
    session.insert("counter", &(counter + 1))?;
    Ok("ok")
}

async fn ours_optional(session: Option<Session>) -> &'static str {
    if session.is_some() {
        "session"
    } else {
        "anonymous"
    }
}

async fn ours_bearer(session: Session) -> &'static str {
    if session.uid().is_some() {
        "ok"
    } else {
        "none"
    }
}

async fn bare() -> &'static str {
    "ok"
}

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

async fn map_handler(Extension(ident): Extension<Ident>) -> &'static str {
    if ident.uid.is_empty() {
        "none"
    } else {
        "ok"
    }
}

/// Ten API tokens; requests present the eighth.
fn tokens() -> Vec<String> {
    (0..10u32)
        .map(|i| {
            format!(
                "tok-{i:02}-{:032x}",
                u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            )
        })
        .collect()
}

fn bearer_identity() -> Identity {
    Identity::new("ci-bot")
        .with_role_account(true)
        .with_scopes(["builds:read", "builds:write"])
}

type MapHandler = TokenFn<
    Box<
        dyn Fn(String) -> std::future::Ready<Result<Option<Identity>, sealed_session::TokenError>>
            + Send
            + Sync,
    >,
>;

/// A token handler looking a `HashMap` up directly: what "a database" costs at its cheapest.
fn map_token_handler(tokens: &[String]) -> MapHandler {
    let map: Arc<HashMap<String, Identity>> = Arc::new(
        tokens
            .iter()
            .map(|t| (t.clone(), bearer_identity()))
            .collect(),
    );
    token_fn(Box::new(move |token: String| {
        std::future::ready(Ok(map.get(&token).cloned()))
    }))
}

// ---------------------------------------------------------------------------------------------
// Building every variant
// ---------------------------------------------------------------------------------------------

struct Built {
    variants: Vec<Variant>,
    payload_len: usize,
    cookie_len: usize,
}

fn build(rt: &Runtime) -> Built {
    let mut variants = Vec::new();
    let key_material = material(1);
    let key = Key::try_from(key_material.as_slice()).expect("key");
    // No renewal during the run: a read stays a read however long the run takes.
    let layer = || SessionLayer::new(key.clone()).with_refresh_interval(time::Duration::hours(1));
    let kit = TestKit::new(&layer());
    let minted = kit.cookie_value(identity());
    let plaintext = Floor::new(&key_material, minted)
        .with_plaintext(|p| String::from_utf8(p.to_vec()).ok())
        .flatten()
        .expect("the floor opens our cookie (is CONTEXT still the crate's?)");
    let value = Floor::new(&key_material, String::new()).fixed_cookie(&plaintext);
    assert!(
        kit.open(&value).is_some(),
        "the layer opens the re-sealed cookie"
    );
    let cookie_line = format!("{COOKIE_NAME}={value}");

    // The floor opens our real cookie: same bytes, same associated data.
    let floor = Arc::new(Floor::new(&key_material, value.clone()));
    // The peers carry the very bytes our cookie carries.
    let plaintext = floor
        .with_plaintext(|p| String::from_utf8(p.to_vec()).ok())
        .flatten()
        .expect("the floor opens the re-sealed cookie");
    let payload: Payload = serde_json::from_str(&plaintext).expect("payload");
    assert!(floor.read().is_some());
    assert!(floor.write().is_some());

    // --- baselines and floors ---
    let bare_router = Router::new().route("/", get(bare));
    variants.push(route(
        "bare",
        "bare handler (no layer, no credentials)",
        FloorOf::None,
        bare_router.clone(),
        vec![],
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "bare_with_cookie",
        "bare handler, request carries the session cookie",
        FloorOf::None,
        bare_router,
        cookie_header(&cookie_line),
        StatusCode::OK,
        false,
    ));
    // Any layer added with `Router::layer` costs something in axum itself (the layered route is
    // a boxed, cloned service with a boxed future): this one does nothing at all.
    variants.push(route(
        "noop_layer",
        "bare handler behind a no-op tower layer, cookie sent (axum's cost of any layer)",
        FloorOf::None,
        Router::new()
            .route("/", get(bare))
            .layer(tower::util::MapRequestLayer::new(|req: Request| req)),
        cookie_header(&cookie_line),
        StatusCode::OK,
        false,
    ));
    let f = floor.clone();
    variants.push(Variant {
        id: "floor_read",
        label: "floor: read (base64 + AES-256-GCM open + JSON parse)",
        floor_of: FloorOf::None,
        work: Work::Floor(Box::new(move || black_box(f.read()).is_some())),
    });
    let f = floor;
    variants.push(Variant {
        id: "floor_write",
        label: "floor: write (read floor + serialise + seal + encode)",
        floor_of: FloorOf::None,
        work: Work::Floor(Box::new(move || black_box(f.write()).is_some())),
    });

    // --- ours: cookie ---
    variants.push(route(
        "ours_read",
        "**sealed-session** cookie read (`Session`)",
        FloorOf::Read,
        Router::new().route("/", get(ours_read)).layer(layer()),
        cookie_header(&cookie_line),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "ours_write",
        "**sealed-session** cookie write (value changed, re-sealed)",
        FloorOf::Write,
        Router::new().route("/", get(ours_write)).layer(layer()),
        cookie_header(&cookie_line),
        StatusCode::OK,
        true,
    ));
    let tampered = {
        // Flip one ciphertext character to another base64 digit: still canonical base64.
        let mut bytes = value.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).expect("ascii")
    };
    variants.push(route(
        "ours_tampered",
        "**sealed-session** tampered cookie (`Session` → 401)",
        FloorOf::None,
        Router::new().route("/", get(ours_read)).layer(layer()),
        cookie_header(&format!("{COOKIE_NAME}={tampered}")),
        StatusCode::UNAUTHORIZED,
        true,
    ));
    let foreign = {
        let other = Key::try_from(material(2).as_slice()).expect("key");
        TestKit::new(&SessionLayer::new(other)).cookie_value(identity())
    };
    variants.push(route(
        "ours_foreign",
        "**sealed-session** foreign-key cookie (`Session` → 401)",
        FloorOf::None,
        Router::new().route("/", get(ours_read)).layer(layer()),
        cookie_header(&format!("{COOKIE_NAME}={foreign}")),
        StatusCode::UNAUTHORIZED,
        true,
    ));
    variants.push(route(
        "ours_junk_forged",
        "**sealed-session** 64 KiB junk Cookie, 4 forged 4 KiB session values (→ 401)",
        FloorOf::None,
        Router::new().route("/", get(ours_read)).layer(layer()),
        vec![(header::COOKIE, junk_header(true))],
        StatusCode::UNAUTHORIZED,
        true,
    ));
    variants.push(route(
        "ours_junk_plain",
        "**sealed-session** 64 KiB junk Cookie, no session pair (→ 401)",
        FloorOf::None,
        Router::new().route("/", get(ours_read)).layer(layer()),
        vec![(header::COOKIE, junk_header(false))],
        StatusCode::UNAUTHORIZED,
        false,
    ));
    variants.push(route(
        "ours_anonymous",
        "**sealed-session** anonymous (`Option<Session>`, no credentials)",
        FloorOf::None,
        Router::new().route("/", get(ours_optional)).layer(layer()),
        vec![],
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "ours_no_extractor",
        "**sealed-session** route without extractor, valid cookie sent",
        FloorOf::None,
        Router::new().route("/", get(bare)).layer(layer()),
        cookie_header(&cookie_line),
        StatusCode::OK,
        false,
    ));
    // The same route in a `Router` that is not finalised, called as tests and custom servers
    // call it (`Router::call` / `oneshot` without `with_state` or `into_make_service`): axum then
    // rebuilds the layered route on every request, cloning the layer.
    variants.push(unfinalised_route(
        "ours_no_extractor_unfinalised",
        "**sealed-session** route without extractor, valid cookie sent, `Router` not finalised",
        Router::new().route("/", get(bare)).layer(layer()),
        cookie_header(&cookie_line),
    ));

    // --- ours: bearer ---
    let tokens = tokens();
    let token = tokens[7].clone();
    variants.push(route(
        "ours_bearer_uncached_map",
        "**sealed-session** bearer, uncached (`token_fn` over a HashMap)",
        FloorOf::None,
        Router::new()
            .route("/", get(ours_bearer))
            .layer(layer().with_token_handler(map_token_handler(&tokens))),
        bearer_header(&token),
        StatusCode::OK,
        false,
    ));
    let api_keys = tokens.iter().fold(ApiKeys::new(), |keys, t| {
        keys.with_token(t, bearer_identity())
    });
    variants.push(route(
        "ours_bearer_uncached_apikeys",
        "**sealed-session** bearer, uncached (`ApiKeys`, 10 keys, SHA-256 + constant-time scan)",
        FloorOf::None,
        Router::new()
            .route("/", get(ours_bearer))
            .layer(layer().with_token_handler(api_keys)),
        bearer_header(&token),
        StatusCode::OK,
        false,
    ));
    let cache = TokenCache::new(map_token_handler(&tokens)).with_ttl(time::Duration::hours(1));
    // Warm the cache so every timed request is a hit.
    rt.block_on(async {
        assert!(cache.resolve(&token).await.expect("lookup").is_some());
    });
    variants.push(route(
        "ours_bearer_cached",
        "**sealed-session** bearer, cached (`TokenCache` over the HashMap handler, hit)",
        FloorOf::None,
        Router::new()
            .route("/", get(ours_bearer))
            .layer(layer().with_token_handler(cache)),
        bearer_header(&token),
        StatusCode::OK,
        false,
    ));

    // --- peers: axum-extra PrivateCookieJar ---
    let peer_key = cookie::Key::derive_from(&key_material);
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
    let seed = Arc::new(payload);
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
            .layer(tower_http_bearer(&token)),
        bearer_header(&token),
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
            .layer(middleware::from_fn_with_state(idents, map_layer)),
        bearer_header(&token),
        StatusCode::OK,
        false,
    ));

    // Measured (and shown) in this order, so that what a target compares runs close together.
    const ORDER: [&str; 25] = [
        "bare",
        "bare_with_cookie",
        "noop_layer",
        "ours_no_extractor",
        "ours_no_extractor_unfinalised",
        "ours_anonymous",
        "towerhttp_bearer",
        "ours_bearer_cached",
        "map_bearer",
        "ours_bearer_uncached_map",
        "ours_bearer_uncached_apikeys",
        "floor_read",
        "ours_read",
        "ours_tampered",
        "ours_foreign",
        "hand_read",
        "extra_read",
        "ts_read",
        "floor_write",
        "ours_write",
        "hand_write",
        "extra_write",
        "ts_write",
        "ours_junk_forged",
        "ours_junk_plain",
    ];
    assert_eq!(variants.len(), ORDER.len());
    variants.sort_by_key(|v| ORDER.iter().position(|id| *id == v.id).expect("ordered"));

    Built {
        variants,
        payload_len: plaintext.len(),
        cookie_len: value.len(),
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

/// A 64 KiB `Cookie` header of junk pairs. With `forged`, it starts with four session-named
/// values of 4,088 canonical base64 characters each (the most candidates the layer tries, each
/// as long as a cookie may be): the attacker's worst case.
fn junk_header(forged: bool) -> HeaderValue {
    const SIZE: usize = 64 * 1024;
    let mut s = String::with_capacity(SIZE + 64);
    if forged {
        for i in 0..4u8 {
            let digit = char::from(b'A' + i);
            let _ = write!(s, "{COOKIE_NAME}={}; ", digit.to_string().repeat(4088));
        }
    }
    let mut n = 0u32;
    while s.len() < SIZE - 40 {
        let _ = write!(
            s,
            "j{n}={:024x}; ",
            u128::from(n).wrapping_mul(0x2545_f491_4f6c_dd1d)
        );
        n += 1;
    }
    while s.len() < SIZE {
        s.push('x');
    }
    HeaderValue::from_str(&s).expect("junk header")
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// Times `iters` requests of a route variant; requests are built before each chunk is timed.
fn time_route(rt: &Runtime, router: &Router, make: &MakeRequest, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut reqs: Vec<Request> = Vec::with_capacity(CHUNK);
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        reqs.extend((0..n).map(|_| make()));
        total += rt.block_on(async {
            let start = Instant::now();
            for req in reqs.drain(..) {
                let res = router.clone().oneshot(req).await;
                black_box(res.ok());
            }
            start.elapsed()
        });
        left -= n as u64;
    }
    total
}

fn time_floor(f: &dyn Fn() -> bool, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

fn time_work(rt: &Runtime, work: &Work, iters: u64) -> Duration {
    match work {
        Work::Route { router, make, .. } => time_route(rt, router, make, iters),
        Work::Floor(f) => time_floor(f.as_ref(), iters),
    }
}

#[derive(Clone, Copy, Default)]
struct Allocs {
    /// Allocator calls (allocations + reallocations) per request.
    calls: f64,
    bytes: f64,
}

fn count_allocs(rt: &Runtime, work: &Work, n: usize) -> Allocs {
    let stats = match work {
        Work::Route { router, make, .. } => {
            let reqs: Vec<Request> = (0..n).map(|_| make()).collect();
            rt.block_on(async {
                let region = Region::new(GLOBAL);
                for req in reqs {
                    let res = router.clone().oneshot(req).await;
                    black_box(res.ok());
                }
                region.change()
            })
        }
        Work::Floor(f) => {
            let region = Region::new(GLOBAL);
            for _ in 0..n {
                black_box(f());
            }
            region.change()
        }
    };
    let n = n.max(1) as f64;
    Allocs {
        calls: (stats.allocations + stats.reallocations) as f64 / n,
        bytes: stats.bytes_allocated as f64 / n,
    }
}

/// One request through a route variant, checked: a benchmark of a 500 is worthless.
fn check(rt: &Runtime, v: &Variant) {
    let Work::Route {
        router,
        make,
        expect,
        expect_set_cookie,
    } = &v.work
    else {
        return;
    };
    let res = rt
        .block_on(router.clone().oneshot(make()))
        .expect("infallible");
    assert_eq!(res.status(), *expect, "{}: unexpected status", v.id);
    assert_eq!(
        res.headers().contains_key(header::SET_COOKIE),
        *expect_set_cookie,
        "{}: Set-Cookie presence",
        v.id
    );
}

// --- criterion: one pass, for its report and its history -------------------------------------

/// Samples criterion handed to a variant's routine: (iterations, measured time).
type Samples = Rc<RefCell<Vec<(u64, Duration)>>>;

fn bench_variant(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    v: &Variant,
    samples: &Samples,
) {
    group.bench_function(v.id, |b| {
        b.iter_custom(|iters| {
            let took = time_work(rt, &v.work, iters);
            samples.borrow_mut().push((iters, took));
            took
        });
    });
}

fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion's median for a variant, if it wrote one during this run.
fn criterion_median(dir: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(GROUP).join(id).join("new").join("estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// The median per-iteration time of the last `n` samples criterion took (its measurement
/// phase follows the warm-up), for when criterion wrote no estimates (test mode).
fn captured_median(samples: &[(u64, Duration)], n: usize) -> Option<f64> {
    let start = samples.len().saturating_sub(n);
    median_of(
        samples[start..]
            .iter()
            .filter(|(iters, _)| *iters > 0)
            .map(|(iters, d)| d.as_nanos() as f64 / *iters as f64)
            .collect(),
    )
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] * (1.0 - frac) + sorted[hi] * frac)
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    values
}

fn median_of(values: Vec<f64>) -> Option<f64> {
    quantile(&sorted(values), 0.5)
}

// --- interleaved sampling: what the table and the targets use --------------------------------

/// Iterations per batch so that one batch of `work` lasts about `target` (1 to 65,536).
fn batch_size(rt: &Runtime, work: &Work, target: Duration) -> u64 {
    // The largest of three calibrations: a one-off stall in a round (a first call after other
    // variants ran, a cache's housekeeping) would otherwise set a batch of a couple of requests
    // for the whole run, and such a batch measures cold caches. (The cached-bearer variant got
    // batches of 2 and ~10x its criterion time in some full runs before this.)
    (0..3)
        .map(|_| calibrate(rt, work, target))
        .max()
        .unwrap_or(1)
}

fn calibrate(rt: &Runtime, work: &Work, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = time_work(rt, work, iters).max(Duration::from_nanos(1));
        if took >= target / 4 || iters >= 1 << 16 {
            let per_iter = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_iter) as u64).clamp(1, 1 << 16);
        }
        iters *= 2;
    }
}

/// ns per iteration of each variant, one value per pass: `samples[variant][pass]`.
struct Interleaved {
    samples: Vec<Vec<f64>>,
    batches: Vec<u64>,
}

/// Passes over every variant, one timed batch each, starting each pass one variant further on.
/// A pass takes a few dozen milliseconds, so what a target compares is measured close together
/// in time, whatever the machine does over minutes: ratios are then taken within each pass.
fn interleave(rt: &Runtime, variants: &[Variant], settings: &Settings) -> Interleaved {
    let batches: Vec<u64> = variants
        .iter()
        .map(|v| batch_size(rt, &v.work, settings.batch))
        .collect();
    let n = variants.len();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(settings.passes); n];
    let start = Instant::now();
    // One untimed pass first: every variant warm.
    for (v, &iters) in variants.iter().zip(&batches) {
        black_box(time_work(rt, &v.work, iters));
    }
    for pass in 0..settings.passes {
        if pass >= settings.min_passes && start.elapsed() > settings.budget {
            break;
        }
        for k in 0..n {
            let i = (k + pass) % n;
            let took = time_work(rt, &variants[i].work, batches[i]);
            samples[i].push(took.as_nanos() as f64 / batches[i] as f64);
        }
    }
    Interleaved { samples, batches }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

struct Outcome {
    /// The median over passes of the interleaved sampling.
    median_ns: Option<f64>,
    /// (75th − 25th percentile) / median, over passes.
    iqr: Option<f64>,
    /// Criterion's median (its own pass), for comparison.
    criterion_ns: Option<f64>,
    allocs: Allocs,
}

fn fmt_ns(ns: f64) -> String {
    let n = ns.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 {
        format!("−{out}")
    } else {
        out
    }
}

struct Report<'a> {
    variants: &'a [Variant],
    outcomes: &'a [Outcome],
    sampled: &'a Interleaved,
    /// Whether verdicts mean anything (not in criterion's test mode).
    evaluate: bool,
}

/// A target's value: the median over passes of the value computed within each pass, and the
/// middle half of the per-pass values.
struct Across {
    value: f64,
    p25: f64,
    p75: f64,
}

impl Across {
    fn detail(&self, digits: usize, unit: &str) -> String {
        format!(
            "{:.digits$}{unit} (middle half of passes: {:.digits$}–{:.digits$})",
            self.value, self.p25, self.p75
        )
    }
}

impl Report<'_> {
    fn index(&self, id: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.id == id)
    }

    fn median(&self, id: &str) -> Option<f64> {
        self.outcomes[self.index(id)?].median_ns
    }

    /// A variant's time in one pass, or its median over all passes (`None`).
    fn at(&self, id: &str, pass: Option<usize>) -> Option<f64> {
        let i = self.index(id)?;
        match pass {
            Some(p) => self.sampled.samples[i].get(p).copied(),
            None => self.outcomes[i].median_ns,
        }
    }

    /// `id`'s time minus the bare handler's, in one pass or over all passes.
    fn over_bare(&self, id: &str, pass: Option<usize>) -> Option<f64> {
        Some(self.at(id, pass)? - self.at("bare", pass)?)
    }

    fn passes(&self) -> usize {
        self.sampled.samples.first().map_or(0, Vec::len)
    }

    /// `f` computed within each pass, then the median over passes.
    fn across(&self, f: impl Fn(Option<usize>) -> Option<f64>) -> Option<Across> {
        let values = sorted((0..self.passes()).filter_map(|p| f(Some(p))).collect());
        Some(Across {
            value: quantile(&values, 0.5)?,
            p25: quantile(&values, 0.25)?,
            p75: quantile(&values, 0.75)?,
        })
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| variant | median ns/request | IQR | criterion median | × bare | overhead over bare (ns) | overhead / floor | allocs/request | bytes allocated/request |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let floor_read = self.median("floor_read");
        let floor_write = self.median("floor_write");
        let bare = self.median("bare");
        for (v, o) in self.variants.iter().zip(self.outcomes) {
            let is_floor = matches!(v.work, Work::Floor(_));
            let median = o.median_ns.map_or("–".into(), fmt_ns);
            let iqr = o.iqr.map_or("–".into(), |s| format!("{:.0} %", s * 100.0));
            let criterion = o.criterion_ns.map_or("–".into(), fmt_ns);
            let (times_bare, overhead) = match (o.median_ns, bare) {
                (Some(m), Some(b)) if !is_floor && v.id != "bare" => {
                    (format!("{:.2}", m / b), fmt_ns(m - b))
                }
                _ => ("–".into(), "–".into()),
            };
            let floor = match v.floor_of {
                FloorOf::Read => floor_read,
                FloorOf::Write => floor_write,
                FloorOf::None => None,
            };
            let per_floor = match (o.median_ns, bare, floor) {
                (Some(m), Some(b), Some(f)) => format!("{:.2}", (m - b) / f),
                _ => "–".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {median} | {iqr} | {criterion} | {times_bare} | {overhead} | {per_floor} | {:.1} | {} |",
                v.label,
                o.allocs.calls,
                fmt_ns(o.allocs.bytes)
            );
        }
        out
    }

    fn targets(&self) -> String {
        let mut out = String::new();
        let evaluate = self.evaluate;
        let mut line = |name: &str, value: Option<(bool, String)>| {
            let _ = match value {
                Some((_, detail)) if !evaluate => {
                    writeln!(out, "- {name} — not evaluated (test mode): {detail}")
                }
                Some((met, detail)) => writeln!(
                    out,
                    "- {} — **{}**: {detail}",
                    name,
                    if met { "met" } else { "not met" }
                ),
                None => writeln!(
                    out,
                    "- {name} — no value (not measured, or a peer overhead ≤ 0 in this run)"
                ),
            };
        };
        // No ratio against a non-positive denominator (an overhead lost in noise in that pass).
        let ratio = |num: Option<f64>, den: Option<f64>| {
            let den = den.filter(|d| *d > 0.0)?;
            Some(num? / den)
        };

        let r = self.across(|p| ratio(self.over_bare("ours_read", p), self.at("floor_read", p)));
        line(
            "Cookie read: overhead / read floor ≤ 1.2",
            r.map(|a| (a.value <= 1.2, a.detail(2, ""))),
        );
        let r = self.across(|p| ratio(self.over_bare("ours_write", p), self.at("floor_write", p)));
        line(
            "Cookie write: overhead / write floor ≤ 1.3",
            r.map(|a| (a.value <= 1.3, a.detail(2, ""))),
        );
        for (id, what) in [
            (
                "ours_tampered",
                "Tampered cookie costs no more than a valid one",
            ),
            (
                "ours_foreign",
                "Foreign-key cookie costs no more than a valid one",
            ),
        ] {
            let r = self.across(|p| ratio(self.at(id, p), self.at("ours_read", p)));
            line(
                what,
                r.map(|a| (a.value <= 1.0, a.detail(2, "× the valid read"))),
            );
        }
        let junk = self.across(|p| self.at("ours_junk_forged", p).map(|ns| ns / 1000.0));
        line(
            "64 KiB junk Cookie header rejected in under 100 µs (worst case: 4 forged 4 KiB values)",
            junk.map(|a| (a.value < 100.0, a.detail(1, " µs"))),
        );
        let same = self.across(|p| {
            ratio(
                self.at("ours_no_extractor", p),
                self.at("bare_with_cookie", p),
            )
        });
        let plain = self.across(|p| ratio(self.at("ours_no_extractor", p), self.at("bare", p)));
        let noop =
            self.across(|p| ratio(self.at("ours_no_extractor", p), self.at("noop_layer", p)));
        line(
            "Route that never asks for the session ≤ 1.1× bare handler",
            same.map(|a| {
                (
                    a.value <= 1.1,
                    format!(
                        "{} the bare handler given the same request (cookie sent); {} the bare handler without the cookie; {} the bare handler behind a no-op layer",
                        a.detail(2, "×"),
                        plain.map_or("–".into(), |p| p.detail(2, "×")),
                        noop.map_or("–".into(), |p| p.detail(2, "×"))
                    ),
                )
            }),
        );
        // tower-http's overhead is a few dozen to a few hundred ns, the size of one pass's noise:
        // compare the medians of the per-pass overheads rather than per-pass ratios.
        let cached = self.across(|p| self.over_bare("ours_bearer_cached", p));
        let static_compare = self.across(|p| self.over_bare("towerhttp_bearer", p));
        let r = match (&cached, &static_compare) {
            (Some(c), Some(t)) if t.value > 0.0 => Some((c.value / t.value, c, t)),
            _ => None,
        };
        line(
            "Bearer cached: overhead ≤ 1.5× tower-http's static compare overhead",
            r.map(|(r, c, t)| {
                (
                    r <= 1.5,
                    format!(
                        "{r:.1}× (overheads: ours {} ns, tower-http {} ns)",
                        c.detail(0, ""),
                        t.detail(0, "")
                    ),
                )
            }),
        );
        for (id, what) in [
            (
                "ours_bearer_uncached_map",
                "Bearer uncached (`token_fn` HashMap): overhead ≤ the HashMap middleware's",
            ),
            (
                "ours_bearer_uncached_apikeys",
                "Bearer uncached (`ApiKeys`): overhead ≤ the HashMap middleware's",
            ),
        ] {
            let r = self.across(|p| ratio(self.over_bare(id, p), self.over_bare("map_bearer", p)));
            line(what, r.map(|a| (a.value <= 1.0, a.detail(2, "×"))));
        }
        let allocs = |id: &str| {
            self.index(id).map_or("–".into(), |i| {
                format!("{:.1}", self.outcomes[i].allocs.calls)
            })
        };
        let _ = writeln!(
            out,
            "- Allocations per request (reported): read — ours {}, axum-extra {}, tower-sessions {}, hand-written {}, floor {}; write — ours {}, axum-extra {}, tower-sessions {}, hand-written {}, floor {}",
            allocs("ours_read"),
            allocs("extra_read"),
            allocs("ts_read"),
            allocs("hand_read"),
            allocs("floor_read"),
            allocs("ours_write"),
            allocs("extra_write"),
            allocs("ts_write"),
            allocs("hand_write"),
            allocs("floor_write"),
        );
        out
    }

    /// The bare handler's median in each fifth of the passes: how much the machine drifted.
    fn drift(&self) -> Option<String> {
        let bare = &self.sampled.samples[self.index("bare")?];
        if bare.len() < 5 {
            return None;
        }
        let fifth = bare.len() / 5;
        let parts: Vec<String> = (0..5)
            .filter_map(|k| median_of(bare[k * fifth..(k + 1) * fifth].to_vec()))
            .map(fmt_ns)
            .collect();
        Some(parts.join(" / "))
    }
}

/// CPU time, in clock ticks, from `/proc` (Linux): (busy ticks of the whole machine, all ticks of
/// the whole machine, ticks this process used). `None` elsewhere.
fn cpu_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = own.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((total - idle, total, utime + stime))
}

/// The share of the machine's CPU that other processes used between two readings.
fn others_busy(start: Option<(u64, u64, u64)>, end: Option<(u64, u64, u64)>) -> Option<f64> {
    let ((b0, t0, o0), (b1, t1, o1)) = (start?, end?);
    let total = t1.checked_sub(t0)?;
    if total == 0 {
        return None;
    }
    let others = (b1 - b0).saturating_sub(o1 - o0);
    Some(others as f64 / total as f64)
}

/// What one instrumented allocation + deallocation costs, for reading the table: every
/// allocation in every variant pays it, because `stats_alloc` is the global allocator.
fn allocator_calibration() -> f64 {
    const N: u32 = 200_000;
    let start = Instant::now();
    for i in 0..N {
        black_box(Box::new(black_box([i; 16])));
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

/// `SEALED_SESSION_BENCH_PROFILE=<variant id>`: runs one variant a bounded number of times
/// (`SEALED_SESSION_BENCH_ITERS`, default 20,000) without criterion, for `valgrind --tool=callgrind`
/// or `perf record`, and prints its mean time.
fn profile(rt: &Runtime, variants: &[Variant], id: &str) {
    let iters: u64 = std::env::var("SEALED_SESSION_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
        .min(10_000_000);
    let Some(v) = variants.iter().find(|v| v.id == id) else {
        let ids: Vec<&str> = variants.iter().map(|v| v.id).collect();
        eprintln!("unknown variant {id:?}; one of: {}", ids.join(", "));
        std::process::exit(2);
    };
    let took = time_work(rt, &v.work, iters);
    println!(
        "{id}: {iters} iterations, {:.0} ns each",
        took.as_nanos() as f64 / iters as f64
    );
}

/// `SEALED_SESSION_BENCH_INSTRUCTIONS=<n>`: for each variant (or each of
/// `SEALED_SESSION_BENCH_ONLY`), `n` untimed requests to warm it, then `n` and `2n` requests, each
/// batch one call of [`callgrind_counted`], announced on stdout as
/// `instructions-phase <id> <requests> <label>`. Run under `valgrind --tool=callgrind
/// --collect-atstart=no --toggle-collect='<module>::callgrind_*counted'
/// --dump-after=<module>::callgrind_counted`, with the symbols
/// `SEALED_SESSION_BENCH_INSTRUCTIONS=symbol` prints first (`--dump-after` takes no wildcard),
/// each batch is one dump, in the announced order; `scripts/instructions.py` does that and takes (count(2n) − count(n)) / n per request,
/// so whatever a batch costs once (entering the runtime) cancels.
///
/// Each variant runs on a thread of its own, so on a fresh allocator arena: the state the setup
/// left in the main thread's heap (which varies from run to run with hash seeds and random ids)
/// moved a variant's count by up to 0.7 % in glibc's `_int_malloc` / `_int_free` otherwise.
fn instructions(rt: &Runtime, variants: &[Variant], n: u64) {
    let n = n.clamp(1, 100_000);
    for v in variants {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                black_box(time_work(rt, &v.work, n));
                for requests in [n, 2 * n] {
                    println!("instructions-phase {} {requests} {}", v.id, v.label);
                    callgrind_counted(rt, &v.work, requests);
                }
            });
        });
    }
}

/// What callgrind counts in instruction mode: `iters` requests through a route variant's router,
/// responses dropped, or `iters` calls of a floor. Each request is built just before it is sent,
/// in [`callgrind_uncounted`], which switches the count off while it runs, so that the heap sees
/// one request at a time, as a server's does. Never inlined, so that callgrind finds them.
#[inline(never)]
fn callgrind_counted(rt: &Runtime, work: &Work, iters: u64) {
    match work {
        Work::Route { router, make, .. } => rt.block_on(async {
            for _ in 0..iters {
                let req = callgrind_uncounted(make);
                let res = router.clone().oneshot(req).await;
                black_box(res.ok());
            }
        }),
        Work::Floor(f) => {
            for _ in 0..iters {
                black_box(f());
            }
        }
    }
}

/// Builds one request, not counted (see [`callgrind_counted`]).
#[inline(never)]
fn callgrind_uncounted(make: &MakeRequest) -> Request {
    make()
}

fn main() {
    let settings = Settings::from_env();
    let started = SystemTime::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut built = build(&rt);
    for v in &built.variants {
        check(&rt, v);
    }
    if std::env::var_os("SEALED_SESSION_BENCH_INSTRUCTIONS").is_some_and(|v| v == "symbol") {
        // The symbol callgrind is told to count in (see `instructions`), then the variant ids.
        println!(
            "{} {}",
            std::any::type_name_of_val(&callgrind_counted),
            std::any::type_name_of_val(&callgrind_uncounted)
        );
        for v in &built.variants {
            println!("{}", v.id);
        }
        return;
    }
    // `SEALED_SESSION_BENCH_ONLY=id,id,...`: only these variants (targets that need others then
    // read "no value").
    if let Ok(only) = std::env::var("SEALED_SESSION_BENCH_ONLY") {
        let keep: Vec<&str> = only.split(',').map(str::trim).collect();
        built.variants.retain(|v| keep.contains(&v.id));
    }
    if let Ok(id) = std::env::var("SEALED_SESSION_BENCH_PROFILE") {
        profile(&rt, &built.variants, &id);
        return;
    }
    if let Some(n) = std::env::var("SEALED_SESSION_BENCH_INSTRUCTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        instructions(&rt, &built.variants, n);
        return;
    }

    let run_started = Instant::now();
    let ticks_start = cpu_ticks();

    // 1. Criterion, one pass over the variants: its usual report, and its history under
    //    target/criterion for comparing commits.
    let dir = output_directory();
    let mut criterion = Criterion::default()
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .sample_size(settings.sample_size)
        .nresamples(settings.resamples)
        .without_plots()
        .output_directory(&dir)
        .configure_from_args();
    let captured: Vec<Samples> = built.variants.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group(GROUP);
        for (v, samples) in built.variants.iter().zip(&captured) {
            bench_variant(&mut group, &rt, v, samples);
        }
        group.finish();
    }
    criterion.final_summary();

    // 2. Interleaved sampling: the table and the targets.
    eprintln!(
        "interleaved sampling: up to {} passes over {} variants, about {:?} per batch, at most {:?}...",
        settings.passes,
        built.variants.len(),
        settings.batch,
        settings.budget
    );
    let sampled = interleave(&rt, &built.variants, &settings);

    // 3. Allocations, outside every timed loop.
    let outcomes: Vec<Outcome> = built
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let values = sorted(sampled.samples[i].clone());
            let median_ns = quantile(&values, 0.5);
            let iqr = match (quantile(&values, 0.25), quantile(&values, 0.75), median_ns) {
                (Some(lo), Some(hi), Some(m)) if m > 0.0 => Some((hi - lo) / m),
                _ => None,
            };
            let criterion_ns = criterion_median(&dir, v.id, started)
                .or_else(|| captured_median(&captured[i].borrow(), settings.sample_size));
            Outcome {
                median_ns,
                iqr,
                criterion_ns,
                allocs: count_allocs(&rt, &v.work, settings.alloc_requests),
            }
        })
        .collect();
    let calibration = allocator_calibration();
    let elapsed = run_started.elapsed();
    let others = others_busy(ticks_start, cpu_ticks());

    let report = Report {
        variants: &built.variants,
        outcomes: &outcomes,
        sampled: &sampled,
        evaluate: settings.mode != Mode::Test,
    };
    let passes = report.passes();
    let (min_batch, max_batch) = (
        sampled.batches.iter().min().copied().unwrap_or(0),
        sampled.batches.iter().max().copied().unwrap_or(0),
    );
    println!();
    println!("## sealed-session: side-by-side, one run");
    println!();
    println!(
        "mode: {}; medians over {passes} interleaved passes (every variant once per pass, one \
         batch of {min_batch}–{max_batch} requests ≈ {:?} each, the starting variant rotating); \
         criterion column: criterion's own median (warm-up {:?}, measurement {:?}, {} samples); \
         allocations over {} requests per variant; plaintext {} bytes, cookie value {} bytes; \
         measuring took {:.0} s",
        match settings.mode {
            Mode::Full => "full",
            Mode::Quick => "QUICK (SEALED_SESSION_BENCH_QUICK=1)",
            Mode::Test => "TEST (no --bench: smoke check only, not a measurement)",
        },
        settings.batch,
        settings.warm_up,
        settings.measurement,
        settings.sample_size,
        settings.alloc_requests,
        built.payload_len,
        built.cookie_len,
        elapsed.as_secs_f64()
    );
    println!();
    print!("{}", report.table());
    println!();
    if let Some(others) = others {
        println!(
            "Other processes used {:.0} % of the machine's CPU during the run (this one uses \
             one core of {}).",
            others * 100.0,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    if let Some(drift) = report.drift() {
        println!(
            "Drift: the bare handler's median in each fifth of the passes was {drift} ns; \
             IQR is the spread of one variant over the passes. Targets compare variants within \
             each pass."
        );
    }
    println!();
    println!("Overhead = variant median − bare median. Allocator calls counted with stats_alloc (allocations + reallocations); one instrumented allocation + free costs ≈ {calibration:.0} ns here, and every variant pays it per allocation.");
    println!();
    println!("### Targets (issue 3), this run");
    println!();
    print!("{}", report.targets());
}
