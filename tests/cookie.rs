//! Cookie sessions through a real Router: attributes, login and logout, tampering, rotation,
//! the size limit, 5xx responses and cache headers.

mod common;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use common::*;
use sealed_session::testing::TestKit;
use sealed_session::{Identity, KeyRing, SameSite, Session, SessionLayer};
use time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[tokio::test]
async fn login_sets_one_cookie_with_secure_defaults() {
    let app = app();
    let res = app
        .send(
            Request::post("/login?uid=alice")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let lines = set_cookies(&res);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(line.starts_with("__Host-session="), "{line}");
    let attributes = line.split_once(';').unwrap().1;
    assert_eq!(attributes, " Path=/; Secure; HttpOnly; SameSite=Lax");
    assert!(!line.contains("Domain"));
    assert!(!line.contains("Max-Age"));
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    assert_eq!(header(&res, "vary"), Some("Cookie"));
    let cookie = cookie_from(&res).unwrap();
    assert_eq!(
        body(app.get_with_cookie("/me", &cookie).await).await,
        "alice"
    );
}

#[tokio::test]
async fn anonymous_requests_never_get_a_cookie() {
    let app = app();
    for path in [
        "/public",
        "/optional",
        "/me",
        "/admin",
        "/guarded",
        "/read?k=x",
    ] {
        let res = app.get(path).await;
        assert_no_set_cookie(&res);
    }
    assert_eq!(body(app.get("/optional").await).await, "anonymous");
}

#[tokio::test]
async fn a_live_session_within_the_refresh_interval_gets_no_set_cookie() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::seconds(59));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_set_cookie(&res);
    assert_eq!(
        header(&res, "vary"),
        Some("Cookie"),
        "session-dependent response varies on Cookie"
    );
}

#[tokio::test]
async fn values_written_by_a_handler_are_sealed_into_the_response() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    let res = app
        .post_with_cookie("/insert?k=colour&v=teal", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(session_cookies(&res, "__Host-session").len(), 1);
    let cookie = cookie_from(&res).unwrap();
    assert_eq!(
        body(app.get_with_cookie("/read?k=colour", &cookie).await).await,
        "teal"
    );
}

#[tokio::test]
async fn logout_sends_a_deletion_cookie_with_the_same_attributes() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    let res = app.post_with_cookie("/logout", &cookie).await;
    assert_deletion(&res);
    let res = app.post_with_cookie("/session-logout", &cookie).await;
    assert_deletion(&res);
}

#[tokio::test]
async fn deletion_repeats_custom_attributes_exactly() {
    let app = app_with(key(1), |l| {
        l.with_cookie_name("sid")
            .with_path("/app")
            .with_domain("example.com")
            .with_same_site(SameSite::Strict)
            .with_http_only(false)
    });
    let res = app
        .send(Request::post("/login?uid=a").body(Body::empty()).unwrap())
        .await;
    let line = set_cookies(&res).pop().unwrap();
    let attrs = line.split_once(';').unwrap().1.to_owned();
    assert_eq!(
        attrs,
        " Path=/app; Domain=example.com; Secure; SameSite=Strict"
    );
    let cookie = cookie_from(&res).unwrap();
    let res = app.post_with_cookie("/logout", &cookie).await;
    let lines = session_cookies(&res, "sid");
    assert_eq!(
        lines,
        [format!(
            "sid=;{attrs}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        )]
    );
}

#[tokio::test]
async fn login_discards_the_previous_session() {
    let app = app();
    let cookie = app.login("uid=mallory&roles=ops").await;
    let res = app
        .post_with_cookie("/insert?k=cart&v=planted", &cookie)
        .await;
    let planted = cookie_from(&res).unwrap();
    let old = app
        .kit
        .open(planted.to_str().unwrap().split_once('=').unwrap().1)
        .unwrap();

    app.clock.advance(Duration::minutes(5));
    let res = app.post_with_cookie("/login?uid=alice", &planted).await;
    let new = app.kit.session_from_response(&res).unwrap();
    assert_ne!(new.id(), old.id());
    assert_eq!(new.uid().as_deref(), Some("alice"));
    assert!(new.roles().is_empty());
    assert_eq!(new.get::<String>("cart").unwrap(), None);
    assert_eq!(new.created_at(), app.clock.now());
    assert_eq!(new.auth_time(), app.clock.now());
    assert_eq!(session_cookies(&res, "__Host-session").len(), 1);
}

#[tokio::test]
async fn a_session_without_uid_is_still_a_session() {
    let app = app();
    let cookie = app.login("scopes=x").await;
    let res = app.get_with_cookie("/guarded", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Sends `value` as the session cookie and returns (status, Set-Cookie lines, body).
async fn probe(app: &App, value: &str) -> (StatusCode, Vec<String>, String) {
    let cookie = app.kit.header_for(value);
    let res = app.get_with_cookie("/me", &cookie).await;
    let status = res.status();
    let lines = set_cookies(&res);
    (status, lines, body(res).await)
}

#[tokio::test]
async fn every_bit_flip_truncation_and_extension_is_refused() {
    let app = app();
    let value = app.kit.cookie_value(Identity::new("alice"));
    let bytes = B64.decode(&value).unwrap();
    let expected = probe(&app, "garbage").await;
    assert_eq!(expected.0, StatusCode::UNAUTHORIZED);
    // Bit flips everywhere: nonce (0..12), ciphertext, tag (last 16).
    for i in 0..bytes.len() {
        for bit in [0u8, 3, 7] {
            let mut tampered = bytes.clone();
            tampered[i] ^= 1 << bit;
            assert_eq!(
                probe(&app, &B64.encode(&tampered)).await,
                expected,
                "flip {i}:{bit}"
            );
        }
    }
    // Truncations to every length, and appended bytes.
    for len in 0..bytes.len() {
        let truncated = B64.encode(&bytes[..len]);
        if truncated.is_empty() {
            continue;
        }
        assert_eq!(
            probe(&app, &truncated).await,
            expected,
            "truncated to {len}"
        );
    }
    for extra in [&[0u8][..], b"\x01\x02", b"abc"] {
        let mut longer = bytes.clone();
        longer.extend_from_slice(extra);
        assert_eq!(probe(&app, &B64.encode(&longer)).await, expected);
    }
    // The untouched value still works.
    assert_eq!(probe(&app, &value).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_value_moved_to_another_cookie_name_does_not_open() {
    let a = app_with(key(1), |l| l.with_cookie_name("__Host-a"));
    let b = app_with(key(1), |l| l.with_cookie_name("__Host-b"));
    let value = a.kit.cookie_value(Identity::new("alice"));
    let moved = HeaderValue::from_str(&format!("__Host-b={value}")).unwrap();
    let res = b.get_with_cookie("/me", &moved).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        session_cookies(&res, "__Host-b").len(),
        1,
        "deletion of the bad cookie"
    );
}

#[tokio::test]
async fn a_foreign_key_or_another_purpose_does_not_open() {
    let app = app();
    let foreign = TestKit::new(&SessionLayer::new(key(9)).with_clock(app.clock.clone()));
    let (status, lines, _) = probe(&app, &foreign.cookie_value(Identity::new("alice"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(lines.len(), 1);

    let sibling = TestKit::new(
        &SessionLayer::new(key(1))
            .with_purpose("other-app")
            .with_clock(app.clock.clone()),
    );
    let (status, ..) = probe(&app, &sibling.cookie_value(Identity::new("alice"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_cookies_mean_no_session_with_a_deletion_cookie() {
    let app = app();
    let cookie = app.kit.header_for("not-a-sealed-value");
    let res = app.get_with_cookie("/optional", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_deletion(&res);
    assert_eq!(body(res).await, "anonymous");
    // A route that never asks for the session does not open the cookie at all.
    let res = app.get_with_cookie("/public", &cookie).await;
    assert_no_set_cookie(&res);
}

#[tokio::test]
async fn rotation_reseals_with_the_current_key_keeping_id_and_timestamps() {
    let old_app = app();
    let cookie = old_app.login("uid=alice&scopes=read").await;
    let old = old_app
        .kit
        .open(cookie.to_str().unwrap().split_once('=').unwrap().1)
        .unwrap();

    let ring = KeyRing::new(key(2)).with_previous(key(1)).unwrap();
    let app = app_with(ring, |l| l);
    app.clock.set(old_app.clock.now() + Duration::seconds(10));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let lines = session_cookies(&res, "__Host-session");
    assert_eq!(lines.len(), 1, "re-sealed on the same response");
    let resealed = app.kit.set_cookie_value(&res).unwrap();
    // Sealed with the current key only.
    let current_only = TestKit::new(&SessionLayer::new(key(2)));
    let previous_only = TestKit::new(&SessionLayer::new(key(1)));
    let new = current_only
        .open(&resealed)
        .expect("opens with the current key");
    assert!(previous_only.open(&resealed).is_none());
    assert_eq!(new.id(), old.id());
    assert_eq!(new.created_at(), old.created_at());
    assert_eq!(new.auth_time(), old.auth_time());
    assert_eq!(
        new.last_seen(),
        old.last_seen(),
        "rotation alone keeps last-seen"
    );
    assert_eq!(new.scopes(), ["read"]);

    // Once the old key is removed, old cookies are refused and the re-sealed one still works.
    let app2 = app_with(key(2), |l| l);
    app2.clock.set(app.clock.now());
    assert_eq!(
        app2.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app2
        .get_with_cookie("/me", &app2.kit.header_for(&resealed))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_previous_key_of_a_full_ring_opens_and_new_cookies_use_the_current_one() {
    let ring = KeyRing::from_keys(key(4), [key(3), key(2), key(1)]).unwrap();
    let app = app_with(ring, |l| l);
    for seed in 1..=4 {
        let kit = TestKit::new(&SessionLayer::new(key(seed)).with_clock(app.clock.clone()));
        let value = kit.cookie_value(Identity::new(format!("u{seed}")));
        let res = app.get_with_cookie("/me", &kit.header_for(&value)).await;
        assert_eq!(res.status(), StatusCode::OK, "key {seed}");
        assert_eq!(
            session_cookies(&res, "__Host-session").len(),
            usize::from(seed != 4)
        );
    }
    let res = app
        .send(Request::post("/login?uid=new").body(Body::empty()).unwrap())
        .await;
    let value = app.kit.set_cookie_value(&res).unwrap();
    assert!(TestKit::new(&SessionLayer::new(key(4)))
        .open(&value)
        .is_some());
    for seed in 1..=3 {
        assert!(TestKit::new(&SessionLayer::new(key(seed)))
            .open(&value)
            .is_none());
    }
}

#[tokio::test]
async fn a_change_that_would_overflow_the_cookie_is_refused_and_the_session_kept() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    let res = app.post_with_cookie("/insert?k=a&v=small", &cookie).await;
    let cookie = cookie_from(&res).unwrap();
    let res = app.post_with_cookie("/insert?k=big&n=3100", &cookie).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_no_set_cookie(&res);
    assert_eq!(
        body(app.get_with_cookie("/read?k=a", &cookie).await).await,
        "small"
    );
    // Just under the limit still fits, and every emitted cookie is within 4,096 bytes.
    let mut fitted = None;
    for n in (2700..3100).step_by(25) {
        let res = app
            .post_with_cookie(&format!("/insert?k=big&n={n}"), &cookie)
            .await;
        for line in set_cookies(&res) {
            let pair = line.split(';').next().unwrap();
            assert!(
                pair.len() - 1 <= 4096,
                "name+value {} > 4096",
                pair.len() - 1
            );
        }
        if res.status() == StatusCode::OK {
            fitted = Some(n);
        } else {
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
            assert_no_set_cookie(&res);
        }
    }
    // The value is most of the plaintext (the rest is ~150 bytes of envelope): ~3,000 bytes fit.
    assert!(
        fitted.is_some_and(|n| n >= 2850),
        "about 3,000 bytes fit: {fitted:?}"
    );
}

#[tokio::test]
async fn a_login_too_large_for_a_cookie_is_refused_without_a_cookie() {
    let app = app();
    let res = app
        .send(
            Request::post("/login?uid=alice&pad=4000")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_no_set_cookie(&res);
}

#[tokio::test]
async fn no_session_cookie_is_sealed_for_a_5xx_response() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    let res = app.post_with_cookie("/fail", &cookie).await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_no_set_cookie(&res);
    // Renewal due, but the response is a 503.
    app.clock.advance(Duration::hours(1));
    let res = app.get_with_cookie("/fail-read", &cookie).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_no_set_cookie(&res);
    // The same request on a healthy route renews.
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(session_cookies(&res, "__Host-session").len(), 1);
}

#[tokio::test]
async fn the_app_cannot_make_a_second_session_set_cookie_line() {
    let app = app();
    let router = Router::new()
        .route(
            "/both",
            get(|s: Session| async move {
                s.insert("k", &"v").unwrap();
                (
                    [
                        (header::SET_COOKIE, "__Host-session=forged; Path=/"),
                        (header::SET_COOKIE, "theme=dark; Path=/"),
                        (header::VARY, "Accept-Encoding, cookie"),
                    ],
                    "ok",
                )
                    .into_response()
            }),
        )
        .layer(app.layer.clone());
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    let res = send(
        &router,
        Request::get("/both")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let ours = session_cookies(&res, "__Host-session");
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(!ours[0].starts_with("__Host-session=forged"));
    assert!(set_cookies(&res).contains(&"theme=dark; Path=/".to_owned()));
    let vary: Vec<_> = res.headers().get_all(header::VARY).iter().collect();
    assert_eq!(
        vary,
        ["Accept-Encoding, cookie"],
        "Vary: Cookie not duplicated"
    );
}

#[tokio::test]
async fn persistent_cookies_carry_the_smaller_of_idle_and_absolute_time_left() {
    let app = app_with(key(1), |l| {
        l.with_persistent(true)
            .with_idle_timeout(Duration::hours(2))
            .with_max_age(Duration::hours(10))
    });
    let res = app
        .send(Request::post("/login?uid=a").body(Body::empty()).unwrap())
        .await;
    assert!(
        set_cookies(&res)[0].ends_with("; Max-Age=7200"),
        "{:?}",
        set_cookies(&res)
    );
    let cookie = cookie_from(&res).unwrap();
    // Keep active until only 30 minutes of absolute life are left.
    let mut cookie = cookie;
    for _ in 0..5 {
        app.clock.advance(Duration::minutes(95));
        let res = app.get_with_cookie("/me", &cookie).await;
        assert_eq!(res.status(), StatusCode::OK);
        cookie = cookie_from(&res).unwrap();
    }
    app.clock.advance(Duration::minutes(95));
    let res = app.get_with_cookie("/me", &cookie).await;
    // 10 h − 6 × 95 min = 30 min left.
    assert!(
        set_cookies(&res)[0].ends_with("; Max-Age=1800"),
        "{:?}",
        set_cookies(&res)
    );
}

#[tokio::test]
async fn persistent_max_age_is_capped_at_400_days() {
    let app = app_with(key(1), |l| {
        l.with_persistent(true)
            .with_idle_timeout(Duration::days(500))
            .with_max_age(Duration::days(1000))
    });
    let res = app
        .send(Request::post("/login?uid=a").body(Body::empty()).unwrap())
        .await;
    assert!(
        set_cookies(&res)[0].ends_with("; Max-Age=34560000"),
        "{:?}",
        set_cookies(&res)
    );
}

#[tokio::test]
async fn typed_remove_and_removing_a_missing_key_seals_nothing() {
    let app = app();
    let router = Router::new()
        .route(
            "/rm",
            get(|s: Session| async move {
                let missing = s.remove::<String>("missing").unwrap();
                format!("{missing:?}")
            }),
        )
        .route(
            "/take",
            get(|s: Session| async move {
                s.remove::<u32>("n")
                    .unwrap()
                    .unwrap_or_default()
                    .to_string()
            }),
        )
        .layer(app.layer.clone());
    let cookie = app
        .kit
        .cookie_header(Identity::new("a").with_json_value("n", serde_json::json!(7)));
    let res = send(
        &router,
        Request::get("/rm")
            .header(header::COOKIE, cookie.clone())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, "None");
    let res = send(
        &router,
        Request::get("/take")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let session = app
        .kit
        .session_from_response(&res)
        .expect("sealed without n");
    assert_eq!(body(res).await, "7");
    assert_eq!(session.get::<u32>("n").unwrap(), None);
}

#[tokio::test]
async fn a_type_mismatch_error_never_shows_the_stored_value() {
    let app = app();
    let router = Router::new()
        .route(
            "/wrong-type",
            get(|s: Session| async move { s.get::<u32>("secret").map(|v| format!("{v:?}")) }),
        )
        .layer(app.layer.clone());
    let secret = "s3cr3t-oauth-refresh-token";
    let cookie = app
        .kit
        .cookie_header(Identity::new("a").with_json_value("secret", serde_json::json!(secret)));
    let res = send(
        &router,
        Request::get("/wrong-type")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = body(res).await;
    assert!(!text.contains(secret), "{text}");
    let session = app
        .kit
        .session(Identity::new("a").with_json_value("secret", serde_json::json!(secret)));
    let error = session.get::<u32>("secret").unwrap_err();
    assert!(!error.to_string().contains(secret), "{error}");
    assert!(!format!("{error:?}").contains(secret), "{error:?}");
    assert!(
        error.to_string().contains("\"secret\""),
        "names the key: {error}"
    );
}

#[tokio::test]
async fn after_login_the_old_session_handle_refuses_changes() {
    use sealed_session::{Auth, SessionError};
    let app = app();
    let router = Router::new()
        .route(
            "/relogin",
            get(|old: Session, auth: Auth| async move {
                auth.login(Identity::new("new")).unwrap();
                match old.insert("k", &"v") {
                    Err(SessionError::Ended) => "ended",
                    _ => "still writable",
                }
            }),
        )
        .layer(app.layer.clone());
    let cookie = app.kit.cookie_header(Identity::new("old"));
    let res = send(
        &router,
        Request::get("/relogin")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let session = app.kit.session_from_response(&res).unwrap();
    assert_eq!(session.uid().as_deref(), Some("new"));
    assert_eq!(session.get::<String>("k").unwrap(), None);
    assert_eq!(body(res).await, "ended");
}

#[tokio::test]
async fn the_suite_wide_log_check_sees_the_events() {
    // Every request sent through the harness is checked against this capture; prove it is live.
    let app = app();
    let start = log_capture().len();
    let _ = app
        .get_with_cookie("/me", &app.kit.header_for("garbage"))
        .await;
    let logged = log_capture().since(start);
    assert!(
        logged.contains("sealed_session") && logged.contains("malformed"),
        "{logged}"
    );
}
