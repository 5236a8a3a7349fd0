//! Every variant the bench measures, and what they share: one session payload, one cookie (the
//! same bytes in every run), one set of API tokens. [`floors`] holds the bare handler and the
//! primitive floors, [`ours`] sealed-session's routes, [`peers`] the other crates and the
//! hand-written layers. [`build`] makes them all and puts them in the order they are measured.

mod floors;
mod ours;
mod peers;
mod revocation;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::Router;
use sealed_session::testing::TestKit;
use sealed_session::{Identity, Key, SessionLayer};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use crate::harness::{FloorOf, Variant, Work};
use floors::Floor;

pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// The payload: the same plaintext for every variant
// ---------------------------------------------------------------------------------------------

/// A struct shaped like the session plaintext (sealed-session's wire format v1, keys in the
/// order serde_json writes them), so the floor parses the very bytes our cookie carries and the
/// peers store the very same JSON.
#[derive(Clone, Serialize, Deserialize)]
#[allow(dead_code)] // Every field is parsed and written; handlers read only a few.
pub(crate) struct Payload {
    pub(crate) v: u8,
    pub(crate) i: String,
    pub(crate) u: String,
    pub(crate) c: i64,
    pub(crate) l: i64,
    pub(crate) a: i64,
    pub(crate) r: Vec<String>,
    pub(crate) g: Vec<String>,
    pub(crate) m: Meta,
    pub(crate) d: Data,
    /// Last validator check (written at login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) k: Option<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) scope: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Data {
    pub(crate) counter: u64,
    pub(crate) csrf: String,
    pub(crate) lang: String,
    pub(crate) theme: String,
}

pub(crate) fn identity() -> Identity {
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
pub(crate) fn material(seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(7);
    (0..64)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

pub(crate) const COOKIE_NAME: &str = "__Host-session";
/// The AEAD associated data of our cookie: format version, purpose and cookie name
/// (`src/config.rs`, `Shared::build`). Checked at start-up by opening a real cookie with it.
pub(crate) const CONTEXT: &str = "sealed-session/1\u{1f}session\u{1f}__Host-session";

/// What every variant is built from.
pub(crate) struct Fixture {
    pub(crate) key: Key,
    pub(crate) key_material: Vec<u8>,
    /// Our cookie's value: [`identity`] sealed by the layer, re-sealed with a fixed id and nonce.
    pub(crate) value: String,
    /// `__Host-session=<value>`.
    pub(crate) cookie_line: String,
    /// The cookie's plaintext (the peers store these very bytes).
    pub(crate) plaintext: String,
    pub(crate) payload: Payload,
    /// The floors' cipher, opening that very cookie.
    pub(crate) floor: Arc<Floor>,
    /// Ten API tokens; requests present `token`, the eighth.
    pub(crate) tokens: Vec<String>,
    pub(crate) token: String,
}

impl Fixture {
    fn new() -> Self {
        let key_material = material(1);
        let key = Key::try_from(key_material.as_slice()).expect("key");
        let kit = TestKit::new(&layer(&key));
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
        let tokens = tokens();
        let token = tokens[7].clone();
        Self {
            key,
            key_material,
            value,
            cookie_line,
            plaintext,
            payload,
            floor,
            tokens,
            token,
        }
    }

    /// Our layer as every variant of ours has it.
    pub(crate) fn layer(&self) -> SessionLayer {
        layer(&self.key)
    }
}

/// `SessionLayer` defaults, except that there is no renewal during the run: a read stays a read
/// however long the run takes.
fn layer(key: &Key) -> SessionLayer {
    SessionLayer::new(key.clone()).with_refresh_interval(time::Duration::hours(1))
}

/// Ten API tokens; requests present the eighth.
pub(crate) fn tokens() -> Vec<String> {
    (0..10u32)
        .map(|i| {
            format!(
                "tok-{i:02}-{:032x}",
                u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
            )
        })
        .collect()
}

pub(crate) fn bearer_identity() -> Identity {
    Identity::new("ci-bot")
        .with_role_account(true)
        .with_scopes(["builds:read", "builds:write"])
}

// ---------------------------------------------------------------------------------------------
// Routes and requests
// ---------------------------------------------------------------------------------------------

pub(crate) fn get_request(headers: &[(header::HeaderName, HeaderValue)]) -> Request {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = axum::http::Uri::from_static("/");
    for (name, value) in headers {
        req.headers_mut().append(name.clone(), value.clone());
    }
    req
}

pub(crate) fn route(
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
pub(crate) fn unfinalised_route(
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

pub(crate) fn cookie_header(line: &str) -> Vec<(header::HeaderName, HeaderValue)> {
    vec![(
        header::COOKIE,
        HeaderValue::from_str(line).expect("cookie header"),
    )]
}

pub(crate) fn bearer_header(token: &str) -> Vec<(header::HeaderName, HeaderValue)> {
    vec![(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("bearer header"),
    )]
}

pub(crate) async fn bare() -> &'static str {
    "ok"
}

// ---------------------------------------------------------------------------------------------
// Building every variant
// ---------------------------------------------------------------------------------------------

pub(crate) struct Built {
    pub(crate) variants: Vec<Variant>,
    pub(crate) payload_len: usize,
    pub(crate) cookie_len: usize,
    /// What the variants need alive while they run (the Redis variants' server and runtime);
    /// dropped last.
    pub(crate) _keep: Vec<Box<dyn std::any::Any>>,
}

pub(crate) fn build(rt: &Runtime) -> Built {
    let fx = Fixture::new();
    let mut variants = floors::variants(&fx);
    variants.extend(ours::variants(&fx, rt));
    variants.extend(peers::variants(&fx, rt));
    let (revocation, keep) = revocation::variants(&fx, rt);
    variants.extend(revocation);

    // Measured (and shown) in this order, so that what a target compares runs close together.
    const ORDER: [&str; 33] = [
        "bare",
        "bare_with_cookie",
        "noop_layer",
        "noop_layer_unfinalised",
        "ours_no_extractor",
        "ours_no_extractor_unfinalised",
        "ours_anonymous",
        "towerhttp_bearer",
        "ours_bearer_cached",
        "map_bearer",
        "map_bearer_borrowed",
        "ours_bearer_uncached_map",
        "ours_bearer_uncached_apikeys",
        "floor_read",
        "ours_read",
        "ours_read_memory",
        "ours_read_redis",
        "ours_read_memory_revoked",
        "ours_read_redis_revoked",
        "ours_tampered",
        "ours_foreign",
        "hand_read",
        "extra_read",
        "ts_read",
        "sesh_read",
        "floor_write",
        "ours_write",
        "hand_write",
        "extra_write",
        "ts_write",
        "sesh_write",
        "ours_junk_forged",
        "ours_junk_plain",
    ];
    // Every variant has its place; the Redis ones may be skipped (no feature, no redis-server).
    assert!(
        variants.iter().all(|v| ORDER.contains(&v.id)),
        "every variant ordered"
    );
    assert!(variants.len() >= ORDER.len() - 2);
    variants.sort_by_key(|v| ORDER.iter().position(|id| *id == v.id).expect("ordered"));

    Built {
        variants,
        payload_len: fx.plaintext.len(),
        cookie_len: fx.value.len(),
        _keep: keep,
    }
}
