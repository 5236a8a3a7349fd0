//! sealed-session's cookie read with revocation on (issue 11): the in-memory store and the
//! Redis store (its local mirror; the request path never calls Redis), each with a valid cookie
//! and a revoked one (refused: 401 and a deletion cookie). `ours_read` is the same route with
//! revocation off.
//!
//! Both stores hold the same revocations: [`DENIED`] denied session ids and [`USERS`] per-user
//! not-before times (none of them this cookie's), so a check looks an id up in a populated map.
//!
//! The Redis variants (feature `redis`) start their own `redis-server` on a free 127.0.0.1 port
//! in a temporary directory (the test helper in `tests/redis_server/`), killed by pid when the
//! run ends. Without `redis-server` on `PATH`, or without the feature, they are skipped with a
//! message. The store's background tasks (pub/sub, probe, resync) run on a runtime of their own
//! on another thread, as they do in an app: what a request pays is the mirror check alone.

use std::any::Any;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use sealed_session::store::{MemoryStore, RevocationStore};
use sealed_session::testing::TestKit;
use sealed_session::SessionId;
use time::{Duration, OffsetDateTime};
use tokio::runtime::Runtime;

use super::{cookie_header, identity, route, Fixture, COOKIE_NAME};
use crate::harness::{FloorOf, Variant};

/// Denied session ids in each store.
const DENIED: usize = 1_000;
/// Users with a not-before time in each store.
const USERS: usize = 100;

/// Whether `id` is wanted in this run (`SEALED_SESSION_BENCH_ONLY`), so that a run that does not
/// measure the Redis variants does not start a server.
fn wanted(prefix: &str) -> bool {
    match std::env::var("SEALED_SESSION_BENCH_ONLY") {
        Ok(only) => only.split(',').any(|id| id.trim().starts_with(prefix)),
        Err(_) => true,
    }
}

/// Fills `store` with the same revocations for every store, then denies `revoked`.
async fn fill(store: &dyn RevocationStore, revoked: SessionId) {
    let now = OffsetDateTime::now_utc();
    let until = now + Duration::days(30);
    for i in 0..DENIED {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
        bytes[8..].copy_from_slice(&(i as u64 ^ 0x5555).to_le_bytes());
        let id: SessionId =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
                .parse()
                .expect("session id");
        store.deny_session(id, until).await.expect("deny");
    }
    for i in 0..USERS {
        store
            .log_out_user(&format!("user-{i}"), now)
            .await
            .expect("log out user");
    }
    store.deny_session(revoked, until).await.expect("deny");
}

/// The read route, revocation on, over `store`: a valid cookie (`{prefix}_valid`) and a revoked one
/// (`{prefix}_revoked`).
fn pair<S: RevocationStore + Clone>(
    fx: &Fixture,
    store: &S,
    revoked_line: &str,
    ids: [&'static str; 2],
    labels: [&'static str; 2],
) -> [Variant; 2] {
    let router = || {
        Router::new()
            .route("/", get(super::ours::read_handler))
            .layer(fx.layer().with_revocation(store.clone()))
    };
    [
        route(
            ids[0],
            labels[0],
            FloorOf::Read,
            router(),
            cookie_header(&fx.cookie_line),
            StatusCode::OK,
            false,
        ),
        route(
            ids[1],
            labels[1],
            FloorOf::None,
            router(),
            cookie_header(revoked_line),
            StatusCode::UNAUTHORIZED,
            true,
        ),
    ]
}

/// The revocation variants, and what must live as long as they are measured (the Redis server,
/// the store's runtime).
pub(crate) fn variants(fx: &Fixture, rt: &Runtime) -> (Vec<Variant>, Vec<Box<dyn Any>>) {
    let mut variants = Vec::new();
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    // A second cookie of the same user and shape, whose session id gets denied.
    let kit = TestKit::new(&fx.layer());
    let revoked_value = kit.cookie_value(identity());
    let revoked_id = kit.open(&revoked_value).expect("opens").id();
    let revoked_line = format!("{COOKIE_NAME}={revoked_value}");
    assert_eq!(revoked_value.len(), fx.value.len(), "same cookie size");

    let memory = MemoryStore::new();
    rt.block_on(fill(&memory, revoked_id));
    variants.extend(pair(
        fx,
        &memory,
        &revoked_line,
        ["ours_read_memory", "ours_read_memory_revoked"],
        [
            "**sealed-session** cookie read, revocation on (`MemoryStore`)",
            "**sealed-session** revoked cookie, `MemoryStore` (→ 401, deletion cookie)",
        ],
    ));
    if wanted("ours_read_redis") {
        redis_variants(fx, &revoked_line, revoked_id, &mut variants, &mut keep);
    }
    (variants, keep)
}

#[cfg(not(feature = "redis"))]
fn redis_variants(
    _: &Fixture,
    _: &str,
    _: SessionId,
    _: &mut Vec<Variant>,
    _: &mut Vec<Box<dyn Any>>,
) {
    eprintln!(
        "layer bench: the Redis variants (ours_read_redis*) are skipped: built without the \
         `redis` feature (cargo bench --bench layer --features redis)"
    );
}

#[cfg(feature = "redis")]
fn redis_variants(
    fx: &Fixture,
    revoked_line: &str,
    revoked_id: SessionId,
    variants: &mut Vec<Variant>,
    keep: &mut Vec<Box<dyn Any>>,
) {
    use sealed_session::store::RedisStore;

    #[path = "../../../tests/redis_server/mod.rs"]
    mod redis_server;

    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "layer bench: the Redis variants (ours_read_redis*) are skipped: no redis-server on \
             PATH (apt-get install -y redis-server)"
        );
        return;
    }
    let server = redis_server::RedisServer::start();
    // The store's tasks run here, on another thread, as in an app's multi-threaded runtime.
    let store_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("store runtime");
    let store = store_rt.block_on(async {
        let store = RedisStore::builder(&server.url())
            .expect("url")
            .connect()
            .await
            .expect("connect to the bench's redis-server");
        fill(&store, revoked_id).await;
        store
    });
    assert!(
        store.mirrored() > DENIED,
        "the mirror holds the revocations"
    );
    variants.extend(pair(
        fx,
        &store,
        revoked_line,
        ["ours_read_redis", "ours_read_redis_revoked"],
        [
            "**sealed-session** cookie read, revocation on (`RedisStore`, local mirror)",
            "**sealed-session** revoked cookie, `RedisStore` mirror (→ 401, deletion cookie)",
        ],
    ));
    // Dropped in this order at the end of the run: the store, its runtime, then the server.
    keep.push(Box::new(store));
    keep.push(Box::new(store_rt));
    keep.push(Box::new(server));
}
