//! Known-answer test: a fixed key and a fixed cookie string must decode the same forever.
//!
//! This pins wire format version 1: the envelope, the AEAD context (format version, purpose,
//! cookie name), the key derivation from key material, and base64. If this test fails, the change
//! broke every cookie in the field: bump the format version instead.

use sealed_session::testing::{ManualClock, TestKit};
use sealed_session::{Identity, Key, SessionLayer, SessionSource};
use serde_json::json;
use time::macros::datetime;

/// Sealed on 2026-11-22 with wire format 1; never regenerate it.
const COOKIE: &str = "7hNXJX/5piE5IsOufVChr2VzzXAyEHbKZyg/h8mohBDzrGzh0MghytyF+6fgU4bqGWk4h61s0LQWrZe1eVJk2W4mVYThgejfrjLshqYUF9gmGdeE2abJSEzHjQeXbuo6t60Wjsx8dB8nnF8/B5rQPI3H0dPFoJGw/h9gO5T9TpJPzxVoDyjYyedDO7GjbheCWYUqJQIAikUxF0OTNx6Wp2OaZ/Ce+horqpx/rBR4wC73UGadH5OVCYvrwPhU75kAEHNV6kdH2xu+hVAWHqES+CmJywXyYATOfVXGCtBFdUy6biRtE37cAtv9xscCQ+HWyWgTemIlKcNK76U=";

fn layer() -> SessionLayer {
    let material: Vec<u8> = (0..64u32).map(|i| (i * 7 + 3) as u8).collect();
    SessionLayer::new(Key::try_from(material).expect("fixed key"))
        .with_purpose("kat")
        .with_clock(ManualClock::new(datetime!(2026-01-01 00:01 UTC)))
}

#[test]
fn fixed_cookie_decodes_the_same_forever() {
    let kit = TestKit::new(&layer());
    let session = kit.open(COOKIE).expect("the fixed cookie opens");
    assert_eq!(session.source(), SessionSource::Cookie);
    assert_eq!(session.id().to_string(), "cwVZ_04ZZpmdnuqnL2kkbA");
    assert_eq!(session.uid().as_deref(), Some("alice"));
    assert_eq!(session.roles(), ["admin"]);
    assert_eq!(session.groups(), ["infra"]);
    assert!(session.mfa());
    assert!(!session.is_role_account());
    assert_eq!(session.scopes(), ["repo:read", "builds/+/logs"]);
    assert_eq!(session.metadata()["fullname"], json!("Alice Example"));
    assert_eq!(
        session.get::<String>("theme").unwrap().as_deref(),
        Some("dark")
    );
    assert_eq!(session.created_at(), datetime!(2026-01-01 00:00 UTC));
    assert_eq!(session.auth_time(), datetime!(2026-01-01 00:00 UTC));
    assert_eq!(session.last_seen(), datetime!(2026-01-01 00:01:40 UTC));
}

#[test]
fn the_fixed_cookie_is_bound_to_its_key_purpose_and_name() {
    let other_purpose = TestKit::new(&layer().with_purpose("other"));
    assert!(other_purpose.open(COOKIE).is_none());
    let other_name = TestKit::new(&layer().with_cookie_name("__Host-other"));
    assert!(other_name.open(COOKIE).is_none());
    let other_key = TestKit::new(&SessionLayer::new(Key::generate()).with_purpose("kat"));
    assert!(other_key.open(COOKIE).is_none());
}

#[test]
fn new_seals_of_the_same_session_open_with_the_same_fields() {
    let kit = TestKit::new(&layer());
    let value = kit.cookie_value(Identity::new("bob").with_scopes(["x"]));
    assert_ne!(value, COOKIE);
    let session = kit.open(&value).unwrap();
    assert_eq!(session.uid().as_deref(), Some("bob"));
    assert_eq!(session.scopes(), ["x"]);
}

/// The same format with the optional millisecond mint time (`im`), as sealed with a revocation
/// store: login at 2026-01-01 00:00:00.123. Sealed on 2026-12-06; never regenerate it.
const COOKIE_MS: &str = "BAKCce4wVsTy8N3F+xPQXq033+ZORMvRaSOU67oPtMN0txBZ48mv+chwauUihcFBfoPSqORUea03UN7l0Lfwqcs/faD4fngLUSMxp1lnMVsHT5prHoYwcGAApn8kTWfk92XzD4MasXbGg4EXyBEWWTLVdLpwZfXNMWpp2ku6wDNTtbZJsedOtqb5dz42nfa2ZTB06HWyoFm/JVT5O9YDU+Z0TTMT/W05Ow==";

#[tokio::test]
async fn fixed_cookie_with_a_millisecond_mint_time_decodes_the_same_forever() {
    use axum::{body::Body, http::Request, routing::get, Router};
    use sealed_session::store::{MemoryStore, RevocationStore};
    use sealed_session::Session;
    use tower::ServiceExt;

    // Without a store, it opens as any version-1 cookie (the key is ignored).
    let kit = TestKit::new(&layer());
    let session = kit.open(COOKIE_MS).expect("the fixed cookie opens");
    assert_eq!(session.uid().as_deref(), Some("alice"));
    assert_eq!(session.roles(), ["admin"]);
    assert_eq!(session.created_at(), datetime!(2026-01-01 00:00 UTC));

    // With a store, its mint time is .123: a not-before at .123 spares it, one at .124 does not.
    let clock = ManualClock::new(datetime!(2026-01-01 00:00:10 UTC));
    let me = || {
        Request::get("/me")
            .header("cookie", format!("__Host-session={COOKIE_MS}"))
            .body(Body::empty())
            .unwrap()
    };
    for (at, status) in [
        (datetime!(2026-01-01 00:00:00.123 UTC), 200),
        (datetime!(2026-01-01 00:00:00.124 UTC), 401),
    ] {
        let store = MemoryStore::new().with_clock(clock.clone());
        store.log_out_user("alice", at).await.unwrap();
        let app = Router::new()
            .route(
                "/me",
                get(|s: Session| async move { s.uid().unwrap_or_default() }),
            )
            .layer(layer().with_clock(clock.clone()).with_revocation(store));
        assert_eq!(app.oneshot(me()).await.unwrap().status(), status, "{at}");
    }
}
