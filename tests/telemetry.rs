//! Every refused session cookie has a reason the app can see (issue 14, "Telemetry"), while the
//! response stays the same for all of them; a flood of bad cookies does not flood the log.
#![cfg(feature = "test-util")]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use common::{body, key};
use sealed_session::testing::{ManualClock, TestKit};
use sealed_session::{CookieRefusal, Identity, NotBefore, Session, SessionLayer};
use time::macros::datetime;
use time::Duration;
use tower::ServiceExt as _;

/// The log capture is shared by the binary: the tests take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn each_refused_cookie_reports_its_reason_and_answers_the_same() {
    let _turn = SERIAL.lock().await;
    let seen: Arc<Mutex<Vec<CookieRefusal>>> = Arc::default();
    let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
    let record = seen.clone();
    let not_before = NotBefore::new();
    let layer = SessionLayer::new(key(1))
        .with_clock(clock.clone())
        .with_idle_timeout(Duration::hours(1))
        .with_max_age(Duration::days(1))
        .with_not_before(not_before.clone())
        .on_cookie_refused(move |why| record.lock().unwrap().push(why));
    let kit = TestKit::new(&layer);
    let foreign = TestKit::new(&SessionLayer::new(key(2)));
    let app = Router::new()
        .route(
            "/me",
            get(|s: Option<Session>| async move { format!("{:?}", s.map(|s| s.uid())) }),
        )
        .layer(layer);
    let ask = |cookie: String| {
        let app = app.clone();
        async move {
            let res = app
                .oneshot(
                    Request::get("/me")
                        .header("cookie", cookie)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            body(res).await
        }
    };
    let now = clock.now().unix_timestamp();
    let cookie = |value: String| kit.header_for(&value).to_str().unwrap().to_owned();

    // Malformed: not even the sealed format.
    assert_eq!(ask(cookie("not*base64".to_owned())).await, "None");
    // Unknown key: well formed, sealed under another key (or tampered: indistinguishable).
    assert_eq!(
        ask(cookie(foreign.cookie_value(Identity::new("eve")))).await,
        "None"
    );
    // Revoked: created before the user's not-before time.
    not_before.log_out_user("dave", clock.now() + Duration::seconds(1));
    assert_eq!(
        ask(cookie(kit.cookie_value(Identity::new("dave")))).await,
        "None"
    );
    // Idle: last seen two hours ago (idle limit 1 hour). Absolute: created 2 days ago, seen now.
    let day = 24 * 3600;
    assert_eq!(
        ask(cookie(kit.cookie_value_at(
            Identity::new("bob"),
            now - 7200,
            now - 7200
        )))
        .await,
        "None"
    );
    assert_eq!(
        ask(cookie(kit.cookie_value_at(
            Identity::new("carol"),
            now - 2 * day,
            now
        )))
        .await,
        "None"
    );
    // A live one is no refusal.
    assert_eq!(
        ask(cookie(kit.cookie_value(Identity::new("alice")))).await,
        "Some(Some(\"alice\"))"
    );
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            CookieRefusal::Malformed,
            CookieRefusal::UnknownKey,
            CookieRefusal::Revoked,
            CookieRefusal::ExpiredIdle,
            CookieRefusal::ExpiredAbsolute,
        ]
    );
    assert_eq!(CookieRefusal::ExpiredAbsolute.as_str(), "expired_absolute");
}

#[tokio::test]
async fn a_flood_of_bad_cookies_gives_one_warning_with_a_count() {
    let _turn = SERIAL.lock().await;
    let capture = common::log_capture();
    let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
    let layer = SessionLayer::new(key(1)).with_clock(clock.clone());
    let kit = TestKit::new(&layer);
    let app = Router::new()
        .route(
            "/me",
            get(|s: Option<Session>| async move { s.is_some().to_string() }),
        )
        .layer(layer);
    let start = capture.len();
    for i in 0..50 {
        let forged = kit.header_for(&format!("forged-cookie-number-{i:04}"));
        let res = app
            .clone()
            .oneshot(
                Request::get("/me")
                    .header("cookie", forged)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(body(res).await, "false");
    }
    let logged = capture.since(start);
    let warnings = logged.lines().filter(|l| l.contains(" WARN ")).count();
    assert_eq!(warnings, 1, "{logged}");
    assert!(logged.contains("refused=1"), "{logged}");
    // A minute later, the next one warns again with the count of those in between.
    clock.advance(Duration::seconds(61));
    let forged = kit.header_for("forged-cookie-after-a-minute");
    let _ = app
        .oneshot(
            Request::get("/me")
                .header("cookie", forged)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let logged = capture.since(start);
    assert_eq!(
        logged.lines().filter(|l| l.contains(" WARN ")).count(),
        2,
        "{logged}"
    );
    assert!(logged.contains("refused=50"), "{logged}");
}
