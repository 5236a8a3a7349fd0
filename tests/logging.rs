//! Secrets never reach the logs: a subscriber captures every `tracing` event (all levels) while
//! the suite's kinds of traffic run, and no token or cookie value may appear in the output.

mod common;

use axum::body::Body;
use axum::http::{header, Request};
use common::*;
use sealed_session::testing::TestKit;
use sealed_session::{Identity, KeyRing, SessionLayer};
use time::Duration;

#[tokio::test]
async fn no_token_or_cookie_value_is_ever_logged() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());

    let ring = KeyRing::new(key(2)).with_previous(key(1)).unwrap();
    let app = app_with(ring, |l| l);
    let mut secrets: Vec<String> = [
        GOOD,
        ADMIN,
        CI,
        EXPIRED,
        FAILING,
        SLOW,
        PANICKING,
        PADDED,
        "unknown-token-q",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();

    // Bearer traffic of every kind.
    for token in secrets.clone() {
        for path in ["/me", "/admin", "/optional"] {
            let _ = app.get_with_bearer(path, &token).await;
        }
    }
    // Cookie traffic: login, renewal, write, rotation, tampering, expiry, logout.
    let cookie = app.login("uid=alice&scopes=read").await;
    secrets.push(
        cookie
            .to_str()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned(),
    );
    app.clock.advance(Duration::minutes(5));
    let res = app.get_with_cookie("/me", &cookie).await;
    if let Some(v) = app.kit.set_cookie_value(&res) {
        secrets.push(v);
    }
    let res = app
        .post_with_cookie("/insert?k=note&v=hello", &cookie)
        .await;
    secrets.push(app.kit.set_cookie_value(&res).unwrap());
    let old = TestKit::new(&SessionLayer::new(key(1)).with_clock(app.clock.clone()));
    let rotated = old.cookie_value(Identity::new("bob"));
    secrets.push(rotated.clone());
    let _ = app.get_with_cookie("/me", &old.header_for(&rotated)).await;
    let mut tampered = rotated.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    secrets.push(tampered.clone());
    let _ = app
        .get_with_cookie("/me", &app.kit.header_for(&tampered))
        .await;
    let _ = app
        .send(
            Request::get("/me")
                .header(
                    header::COOKIE,
                    format!(
                        "__Host-session={rotated}; __Host-session={}",
                        cookie.to_str().unwrap().split_once('=').unwrap().1
                    ),
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    app.clock.advance(Duration::days(8));
    let _ = app.get_with_cookie("/me", &cookie).await;
    let _ = app.post_with_cookie("/logout", &cookie).await;

    let output = capture.since(0);
    assert!(output.contains("reason"), "events were captured: {output}");
    for reason in [
        "opened",
        "renewed",
        "rotated",
        "invalid",
        "ambiguous",
        "expired_idle",
        "token_unknown",
        "token_error",
        "token_timeout",
        "token_panic",
        "token_expired",
        "login",
        "logout",
    ] {
        assert!(
            output.contains(reason),
            "reason code {reason} missing from the logs"
        );
    }
    for secret in &secrets {
        assert!(
            !output.contains(secret.as_str()),
            "a secret reached the logs: {secret}"
        );
    }
}
