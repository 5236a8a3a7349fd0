//! The rows of the table: what each one measures, and how it is built (only when measured).
//!
//! Every cookie row sends the cookie of a session created by the layer itself (a login route or
//! the test kit), to a layer that never renews during the run (refresh interval one hour). The
//! read handler takes `Session` and reads the uid and the stored value `visits`; the write
//! handler increments `visits`, so the session is re-sealed. A handler that finds no value
//! answers 500, so the start-up check catches a broken row.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use sealed_session::store::{MemoryStore, RevocationStore};
use sealed_session::testing::TestKit;
use sealed_session::{
    token_fn, Auth, Identity, Key, KeyRing, RequireAuth, Requirement, Session, SessionError,
    SessionId, SessionLayer, TokenCache, TokenHandler,
};
use serde_json::json;
use stats_alloc::Region;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use crate::harness::{FloorOf, MakeRequest, Variant, Work};
use crate::GLOBAL;

/// How many entries the large structures hold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scale {
    /// 10³ and 10⁶.
    Full,
    /// 10³ and 10⁴: `cargo test --benches` builds without optimisation.
    Smoke,
}

impl Scale {
    fn big(self) -> usize {
        match self {
            Self::Full => 1_000_000,
            Self::Smoke => 10_000,
        }
    }
}

/// A row before it is built.
pub(crate) struct Spec {
    pub(crate) id: &'static str,
    pub(crate) group: &'static str,
    pub(crate) case: &'static str,
}

const fn spec(id: &'static str, group: &'static str, case: &'static str) -> Spec {
    Spec { id, group, case }
}

const REFERENCE: &str = "reference";
const SIZE: &str = "cookie plaintext size";
const RING: &str = "key ring";
const ROLES: &str = "roles and scopes, guard `all_of` 3";
const REVOCATION: &str = "revocation on (`MemoryStore`)";
const CACHE: &str = "`TokenCache` hit";
const JWT: &str = "JWT bearer";

/// Every row, in the order measured and shown.
pub(crate) const SPECS: &[Spec] = &[
    spec("bare", REFERENCE, "bare handler, no layer, no credentials"),
    spec("size_100_read", SIZE, "100 B, read"),
    spec("size_1k_read", SIZE, "1 KB, read"),
    spec("size_3k_read", SIZE, "3 KB, read"),
    spec("size_8k_read", SIZE, "8 KB in 3 chunked cookies, read"),
    spec("size_100_write", SIZE, "100 B, write"),
    spec("size_1k_write", SIZE, "1 KB, write"),
    spec("size_3k_write", SIZE, "3 KB, write"),
    spec("size_8k_write", SIZE, "8 KB in 3 chunked cookies, write"),
    spec("ring1_current", RING, "1 key, cookie sealed with it"),
    spec(
        "ring4_current",
        RING,
        "4 keys, cookie sealed with the current key",
    ),
    spec(
        "ring4_oldest",
        RING,
        "4 keys, cookie sealed with the oldest previous key (read, re-sealed with the current key)",
    ),
    spec(
        "ring1_foreign",
        RING,
        "1 key, cookie sealed with another key (→ 401)",
    ),
    spec(
        "ring4_foreign",
        RING,
        "4 keys, cookie sealed with another key (→ 401)",
    ),
    spec("roles_1_noguard", ROLES, "1 role + 1 scope, no guard"),
    spec("roles_1", ROLES, "1 role + 1 scope, guard"),
    spec("roles_10_noguard", ROLES, "10 roles + 10 scopes, no guard"),
    spec("roles_10", ROLES, "10 roles + 10 scopes, guard"),
    spec(
        "roles_100_noguard",
        ROLES,
        "100 roles + 100 scopes, no guard",
    ),
    spec("roles_100", ROLES, "100 roles + 100 scopes, guard"),
    spec("rev_off", REVOCATION, "revocation off"),
    spec("rev_1e3", REVOCATION, "10³ revoked ids"),
    spec("rev_1e6", REVOCATION, "10⁶ revoked ids"),
    spec("cache_1e3", CACHE, "10³ entries"),
    spec("cache_1e6", CACHE, "10⁶ entries"),
    spec("jwt_rs256", JWT, "RS256, uncached"),
    spec("jwt_es256", JWT, "ES256, uncached"),
    spec("jwt_eddsa", JWT, "EdDSA (Ed25519), uncached"),
    spec("jwt_rs256_cached", JWT, "RS256, `TokenCache` hit"),
    spec("jwt_es256_cached", JWT, "ES256, `TokenCache` hit"),
    spec("jwt_eddsa_cached", JWT, "EdDSA, `TokenCache` hit"),
];

/// What the report shows about a row besides its time.
pub(crate) struct Info {
    pub(crate) id: &'static str,
    pub(crate) group: &'static str,
    pub(crate) case: String,
    /// The memory the row's structure took, per entry.
    pub(crate) memory: Option<String>,
    /// A check after the run: a note when the row did not measure what it says.
    pub(crate) after_run: Option<Box<dyn Fn() -> Option<String>>>,
    /// Whatever must live as long as the row is measured.
    pub(crate) _keep: Option<Box<dyn Any>>,
}

pub(crate) struct Row {
    pub(crate) variant: Variant,
    pub(crate) info: Info,
}

/// A built row: its route, the requests it sends (in turn), and what the report shows.
pub(crate) struct Built {
    router: Router,
    requests: Vec<Vec<(HeaderName, HeaderValue)>>,
    expect: StatusCode,
    set_cookie: bool,
    detail: String,
    memory: Option<String>,
    after_run: Option<Box<dyn Fn() -> Option<String>>>,
    keep: Option<Box<dyn Any>>,
}

impl Built {
    pub(crate) fn new(router: Router, requests: Vec<Vec<(HeaderName, HeaderValue)>>) -> Self {
        Self {
            router,
            requests,
            expect: StatusCode::OK,
            set_cookie: false,
            detail: String::new(),
            memory: None,
            after_run: None,
            keep: None,
        }
    }

    fn expect(mut self, status: StatusCode, set_cookie: bool) -> Self {
        self.expect = status;
        self.set_cookie = set_cookie;
        self
    }

    pub(crate) fn detail(mut self, detail: String) -> Self {
        self.detail = detail;
        self
    }
}

pub(crate) fn build(spec: &Spec, rt: &Runtime, scale: Scale) -> Row {
    let built = match spec.id {
        "bare" => Built::new(
            Router::new().route("/", get(|| async { "ok" })),
            vec![vec![]],
        ),
        "size_100_read" => size(rt, 100, false),
        "size_1k_read" => size(rt, 1_000, false),
        "size_3k_read" => size(rt, 3_000, false),
        "size_8k_read" => size(rt, 8_000, false),
        "size_100_write" => size(rt, 100, true),
        "size_1k_write" => size(rt, 1_000, true),
        "size_3k_write" => size(rt, 3_000, true),
        "size_8k_write" => size(rt, 8_000, true),
        "ring1_current" => ring(1, Sealer::Current),
        "ring4_current" => ring(4, Sealer::Current),
        "ring4_oldest" => ring(4, Sealer::Oldest),
        "ring1_foreign" => ring(1, Sealer::Foreign),
        "ring4_foreign" => ring(4, Sealer::Foreign),
        "roles_1_noguard" => roles(1, false),
        "roles_10_noguard" => roles(10, false),
        "roles_100_noguard" => roles(100, false),
        "roles_1" => roles(1, true),
        "roles_10" => roles(10, true),
        "roles_100" => roles(100, true),
        "rev_off" => revocation(rt, None),
        "rev_1e3" => revocation(rt, Some(1_000)),
        "rev_1e6" => revocation(rt, Some(scale.big())),
        "cache_1e3" => cache(rt, 1_000),
        "cache_1e6" => cache(rt, scale.big()),
        "jwt_rs256" => crate::jwt::row(rt, crate::jwt::Alg::Rs256, false),
        "jwt_es256" => crate::jwt::row(rt, crate::jwt::Alg::Es256, false),
        "jwt_eddsa" => crate::jwt::row(rt, crate::jwt::Alg::EdDsa, false),
        "jwt_rs256_cached" => crate::jwt::row(rt, crate::jwt::Alg::Rs256, true),
        "jwt_es256_cached" => crate::jwt::row(rt, crate::jwt::Alg::Es256, true),
        "jwt_eddsa_cached" => crate::jwt::row(rt, crate::jwt::Alg::EdDsa, true),
        other => unreachable!("no builder for {other}"),
    };
    let case = format!("{}{}", spec.case, built.detail);
    // The harness wants a `'static` label; a run builds each row once.
    let label: &'static str = format!("{}: {case}", spec.group).leak();
    let requests = built.requests;
    let next = AtomicUsize::new(0);
    let make: MakeRequest = Box::new(move || {
        let i = next.fetch_add(1, Ordering::Relaxed) % requests.len();
        request(&requests[i])
    });
    Row {
        variant: Variant {
            id: spec.id,
            label,
            floor_of: FloorOf::None,
            work: Work::Route {
                // Finalised as `axum::serve` does.
                router: built.router.with_state(()),
                make,
                expect: built.expect,
                expect_set_cookie: built.set_cookie,
            },
        },
        info: Info {
            id: spec.id,
            group: spec.group,
            case,
            memory: built.memory,
            after_run: built.after_run,
            _keep: built.keep,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

fn request(headers: &[(HeaderName, HeaderValue)]) -> Request {
    let mut req = Request::new(Body::empty());
    *req.uri_mut() = axum::http::Uri::from_static("/");
    for (name, value) in headers {
        req.headers_mut().append(name.clone(), value.clone());
    }
    req
}

fn cookie(line: &str) -> Vec<(HeaderName, HeaderValue)> {
    vec![(
        header::COOKIE,
        HeaderValue::from_str(line).expect("cookie header"),
    )]
}

/// Deterministic, non-degenerate key material (as the layer bench makes it).
fn key(seed: u8) -> Key {
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(7);
    let material: Vec<u8> = (0..64)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect();
    Key::try_from(material.as_slice()).expect("key")
}

/// `SessionLayer` defaults, with no renewal during the run: a read stays a read.
pub(crate) fn layer(keys: impl Into<KeyRing>) -> SessionLayer {
    SessionLayer::new(keys).with_refresh_interval(time::Duration::hours(1))
}

/// The session of most cookie rows: the layer bench's shape (≈ 290 bytes of plaintext).
fn standard_identity() -> Identity {
    Identity::new("alice")
        .with_roles(["admin", "ops"])
        .with_groups(["infra", "security"])
        .with_scopes(["builds:read", "builds:write", "repo:read"])
        .with_json_value("csrf", json!("q9VxN2bK7hT4mW1sZ8cR3f"))
        .with_json_value("lang", json!("en"))
        .with_json_value("theme", json!("dark"))
        .with_json_value("visits", json!(41))
}

async fn read(session: Session) -> Result<&'static str, StatusCode> {
    match (session.uid(), session.get::<u64>("visits")) {
        (Some(_), Ok(Some(_))) => Ok("ok"),
        _ => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn write(session: Session) -> Result<&'static str, SessionError> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0);
    session.insert("visits", &(visits + 1))?;
    Ok("ok")
}

/// The plaintext length of a sealed value (standard base64 with padding of nonce (12) ‖
/// ciphertext ‖ tag (16)).
fn plaintext_len(value: &str) -> usize {
    let padding = value.bytes().rev().take_while(|&b| b == b'=').count();
    (value.len() / 4 * 3).saturating_sub(padding + 12 + 16)
}

/// A `Cookie` header line for a session of `identity` created by `layer`'s own login (chunked
/// when the layer chunks), its plaintext length and its number of cookies.
fn login_cookie(rt: &Runtime, layer: &SessionLayer, identity: Identity) -> (String, usize, usize) {
    let app = Router::new()
        .route(
            "/",
            get(move |auth: Auth| {
                let identity = identity.clone();
                async move { auth.login(identity).map(|_| "ok") }
            }),
        )
        .layer(layer.clone());
    let res = rt.block_on(app.oneshot(request(&[]))).expect("infallible");
    assert_eq!(res.status(), StatusCode::OK, "login");
    let pairs: Vec<(String, String)> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|line| {
            let pair = line.to_str().ok()?.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            (!value.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect();
    assert!(!pairs.is_empty(), "the login sets the session cookie");
    let joined: String = pairs.iter().map(|(_, v)| v.as_str()).collect();
    let line = pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    (line, plaintext_len(&joined), pairs.len())
}

/// Net bytes allocated while `fill` ran (allocated − freed ± reallocated).
fn net_bytes<T>(fill: impl FnOnce() -> T) -> (T, i64) {
    let region = Region::new(GLOBAL);
    let out = fill();
    let stats = region.change();
    let net = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
        + stats.bytes_reallocated as i64;
    (out, net)
}

fn memory(net: i64, entries: usize, what: &str) -> String {
    format!(
        "{:.0} B / {what} ({:.1} MB for {})",
        net as f64 / entries as f64,
        net as f64 / 1e6,
        crate::thousands(entries as f64)
    )
}

// ---------------------------------------------------------------------------------------------
// The groups
// ---------------------------------------------------------------------------------------------

/// A session of about `target` plaintext bytes (an application value `pad` takes the rest),
/// read or written. Past one cookie's budget the layer chunks it over 3 cookies.
fn size(rt: &Runtime, target: usize, write_it: bool) -> Built {
    let chunked = target > 3_000;
    let layer = if chunked {
        layer(key(1)).with_cookie_chunks(3)
    } else {
        layer(key(1))
    };
    let identity = |pad: usize| {
        Identity::new("alice")
            .with_json_value("pad", json!("x".repeat(pad)))
            .with_json_value("visits", json!(41))
    };
    let (_, bare, _) = login_cookie(rt, &layer, identity(0));
    let (line, len, cookies) = login_cookie(rt, &layer, identity(target.saturating_sub(bare)));
    let router = if write_it {
        Router::new().route("/", get(write))
    } else {
        Router::new().route("/", get(read))
    }
    .layer(layer);
    Built::new(router, vec![cookie(&line)])
        .expect(StatusCode::OK, write_it)
        .detail(format!(
            " (plaintext {len} B, Cookie header {} B{})",
            line.len(),
            if cookies > 1 {
                format!(", {cookies} cookies")
            } else {
                String::new()
            }
        ))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sealer {
    Current,
    Oldest,
    Foreign,
}

/// A read through a layer with a ring of `keys` keys (the current one and up to three previous
/// ones), of a cookie sealed with the current key, the oldest previous one, or a key outside the
/// ring.
fn ring(keys: u8, sealer: Sealer) -> Built {
    let ring = KeyRing::from_keys(key(1), (2..=keys).map(key)).expect("ring");
    let sealed_with = match sealer {
        Sealer::Current => key(1),
        Sealer::Oldest => key(keys),
        Sealer::Foreign => key(9),
    };
    let value = TestKit::new(&layer(sealed_with)).cookie_value(standard_identity());
    let layer = layer(ring);
    let line = TestKit::new(&layer)
        .header_for(&value)
        .to_str()
        .unwrap_or("")
        .to_owned();
    let router = Router::new().route("/", get(read)).layer(layer);
    let built = Built::new(router, vec![cookie(&line)]);
    match sealer {
        Sealer::Current => built,
        // Opened with a previous key: re-sealed with the current one (the client here keeps
        // sending the old cookie, so every request pays the trial and the re-seal).
        Sealer::Oldest => built.expect(StatusCode::OK, true),
        // Refused, and the cookie deleted.
        Sealer::Foreign => built.expect(StatusCode::UNAUTHORIZED, true),
    }
}

/// A read behind `RequireAuth::all_of` of three requirements that each scan a list to its end
/// (the role, the scope and the permitted resource are the last ones), with `n` roles and `n`
/// scopes, or the same cookie without the guard. Every cookie is padded to the plaintext size of
/// the 100-entry one; the guard's cost is a row minus its unguarded twin.
fn roles(n: usize, guard: bool) -> Built {
    let identity = |n: usize, pad: usize| {
        Identity::new("alice")
            .with_roles((0..n).map(|i| format!("role-{i:03}")))
            .with_scopes((0..n).map(|i| format!("scope-{i:03}")))
            .with_json_value("pad", json!("x".repeat(pad)))
            .with_json_value("visits", json!(41))
    };
    let layer = layer(key(1));
    let kit = TestKit::new(&layer);
    let len = |n, pad| plaintext_len(&kit.cookie_value(identity(n, pad)));
    let pad = len(100, 0).saturating_sub(len(n, 0));
    let value = kit.cookie_value(identity(n, pad));
    let line = kit.header_for(&value).to_str().unwrap_or("").to_owned();
    let last = n - 1;
    let route = if guard {
        get(read).route_layer(RequireAuth::all_of([
            Requirement::role(format!("role-{last:03}")),
            Requirement::scope(format!("scope-{last:03}")),
            Requirement::permits(format!("scope-{last:03}")),
        ]))
    } else {
        get(read)
    };
    Built::new(
        Router::new().route("/", route).layer(layer),
        vec![cookie(&line)],
    )
    .detail(format!(" (plaintext {} B)", plaintext_len(&value)))
}

/// Valid cookies the revocation rows rotate through: each a session of its own, so each request
/// looks a different id up.
const COOKIES: usize = 64;

/// A read with revocation off, or on over a `MemoryStore` holding `revoked` denied ids (none of
/// them the cookies'). Reports the store's memory per id.
fn revocation(rt: &Runtime, revoked: Option<usize>) -> Built {
    let base = layer(key(1));
    let kit = TestKit::new(&base);
    let requests: Vec<_> = (0..COOKIES)
        .map(|_| {
            cookie(
                kit.cookie_header(standard_identity())
                    .to_str()
                    .unwrap_or(""),
            )
        })
        .collect();
    let Some(n) = revoked else {
        return Built::new(Router::new().route("/", get(read)).layer(base), requests);
    };
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let ids: Vec<SessionId> = (0..n as u64)
        .map(|i| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            bytes[8..].copy_from_slice(&(i ^ 0x5555).to_le_bytes());
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
                .parse()
                .expect("session id")
        })
        .collect();
    let (store, net) = net_bytes(|| {
        let store = MemoryStore::new().with_capacity(n + 1_024);
        rt.block_on(async {
            // By reference: freeing `ids` here would count against the store.
            for id in &ids {
                store.deny_session(*id, until).await.expect("deny");
            }
        });
        store
    });
    assert_eq!(store.len(), n, "every id denied");
    let mut built = Built::new(
        Router::new()
            .route("/", get(read))
            .layer(base.with_revocation(store.clone())),
        requests,
    );
    built.memory = Some(memory(net, n, "revoked id"));
    built.keep = Some(Box::new(store));
    built
}

/// Tokens the cache rows rotate through, spread over the cache.
const HITS: usize = 256;

/// A bearer request through a `TokenCache` holding `n` entries (each a token resolved once by
/// the wrapped handler to an identity of its own: a uid and two scopes), a hit. Reports the
/// cache's memory per entry.
fn cache(rt: &Runtime, n: usize) -> Built {
    let tokens: Vec<String> = (0..n as u64)
        .map(|i| format!("tok-{i:08}-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let (cache, net) = net_bytes(|| {
        let cache = TokenCache::new(token_fn(move |token: String| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move {
                let uid = format!("user-{}", token.get(4..12).unwrap_or(""));
                Ok(Some(Identity::new(uid).with_scopes(["read", "write"])))
            }
        }))
        .with_capacity((n + n / 4) as u64)
        .with_ttl(time::Duration::hours(1));
        rt.block_on(async {
            for t in &tokens {
                assert!(cache.resolve(t).await.expect("resolve").is_some());
            }
        });
        cache
    });
    let filled = calls.load(Ordering::Relaxed);
    let requests = (0..HITS.min(n))
        .map(|i| {
            let token = &tokens[i * n / HITS.min(n)];
            vec![(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {token}")).expect("bearer header"),
            )]
        })
        .collect();
    let router = Router::new()
        .route(
            "/",
            get(|session: Session| async move { session.uid().map_or("none", |_| "ok") }),
        )
        .layer(layer(key(1)).with_token_handler(cache.clone()));
    let mut built = Built::new(router, requests);
    built.memory = Some(memory(net, n, "entry"));
    built.after_run = Some(Box::new(move || {
        let misses = calls.load(Ordering::Relaxed) - filled;
        (misses > 0).then(|| format!("{misses} lookups missed the cache after the fill"))
    }));
    built.keep = Some(Box::new(cache));
    built
}
