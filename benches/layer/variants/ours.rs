//! sealed-session's routes: cookie read and write, bad cookies, junk, anonymous, a route that
//! never asks (in a finalised `Router` and in one that is not), and bearer tokens (uncached over a
//! `HashMap`, `ApiKeys`, and a warm `TokenCache`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use sealed_session::testing::TestKit;
use sealed_session::{
    token_fn, ApiKeys, Identity, Key, Session, SessionError, SessionLayer, TokenCache, TokenFn,
    TokenHandler,
};
use tokio::runtime::Runtime;

use super::{
    bare, bearer_header, bearer_identity, cookie_header, identity, material, route,
    unfinalised_route, Fixture, COOKIE_NAME,
};
use crate::harness::{FloorOf, Variant};

pub(crate) async fn read_handler(session: Session) -> &'static str {
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

pub(crate) type MapHandler = TokenFn<
    Box<
        dyn Fn(String) -> std::future::Ready<Result<Option<Identity>, sealed_session::TokenError>>
            + Send
            + Sync,
    >,
>;

/// A token handler looking a `HashMap` up directly: what "a database" costs at its cheapest.
pub(crate) fn map_token_handler(tokens: &[String]) -> MapHandler {
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

pub(crate) fn variants(fx: &Fixture, rt: &Runtime) -> Vec<Variant> {
    let mut variants = Vec::new();
    let layer = || fx.layer();
    let (value, cookie_line) = (&fx.value, &fx.cookie_line);
    let (tokens, token) = (&fx.tokens, &fx.token);
    // --- ours: cookie ---
    variants.push(route(
        "ours_read",
        "**sealed-session** cookie read (`Session`)",
        FloorOf::Read,
        Router::new().route("/", get(read_handler)).layer(layer()),
        cookie_header(cookie_line),
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "ours_write",
        "**sealed-session** cookie write (value changed, re-sealed)",
        FloorOf::Write,
        Router::new().route("/", get(ours_write)).layer(layer()),
        cookie_header(cookie_line),
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
        Router::new().route("/", get(read_handler)).layer(layer()),
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
        Router::new().route("/", get(read_handler)).layer(layer()),
        cookie_header(&format!("{COOKIE_NAME}={foreign}")),
        StatusCode::UNAUTHORIZED,
        true,
    ));
    variants.push(route(
        "ours_junk_forged",
        "**sealed-session** 64 KiB junk Cookie, 4 forged 4 KiB session values (→ 401)",
        FloorOf::None,
        Router::new().route("/", get(read_handler)).layer(layer()),
        vec![(header::COOKIE, junk_header(true))],
        StatusCode::UNAUTHORIZED,
        true,
    ));
    variants.push(route(
        "ours_junk_plain",
        "**sealed-session** 64 KiB junk Cookie, no session pair (→ 401)",
        FloorOf::None,
        Router::new().route("/", get(read_handler)).layer(layer()),
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
        cookie_header(cookie_line),
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
        cookie_header(cookie_line),
    ));

    // --- ours: bearer ---
    variants.push(route(
        "ours_bearer_uncached_map",
        "**sealed-session** bearer, uncached (`token_fn` over a HashMap)",
        FloorOf::None,
        Router::new()
            .route("/", get(ours_bearer))
            .layer(layer().with_token_handler(map_token_handler(tokens))),
        bearer_header(token),
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
        bearer_header(token),
        StatusCode::OK,
        false,
    ));
    let cache = TokenCache::new(map_token_handler(tokens)).with_ttl(time::Duration::hours(1));
    // Warm the cache so every timed request is a hit.
    rt.block_on(async {
        assert!(cache.resolve(token).await.expect("lookup").is_some());
    });
    variants.push(route(
        "ours_bearer_cached",
        "**sealed-session** bearer, cached (`TokenCache` over the HashMap handler, hit)",
        FloorOf::None,
        Router::new()
            .route("/", get(ours_bearer))
            .layer(layer().with_token_handler(cache)),
        bearer_header(token),
        StatusCode::OK,
        false,
    ));
    variants
}
