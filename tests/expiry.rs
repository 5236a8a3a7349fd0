//! Expiry through a real Router: idle and absolute boundaries, throttled renewal, clock skew,
//! backwards clocks, and creation time that never changes.

mod common;

use axum::http::StatusCode;
use common::*;
use sealed_session::Identity;
use time::Duration;

const IDLE: i64 = 7 * 24 * 3600;
const MAX: i64 = 30 * 24 * 3600;

fn t0() -> i64 {
    T0.unix_timestamp()
}

/// A cookie created and last seen at the given offsets from `T0`, in seconds.
fn cookie_at(app: &App, created: i64, last_seen: i64) -> axum::http::HeaderValue {
    app.kit.header_for(&app.kit.cookie_value_at(
        Identity::new("alice"),
        t0() + created,
        t0() + last_seen,
    ))
}

async fn status_at(app: &App, now: i64, created: i64, last_seen: i64) -> StatusCode {
    app.clock.set(T0 + Duration::seconds(now));
    let res = app
        .get_with_cookie("/me", &cookie_at(app, created, last_seen))
        .await;
    if res.status() == StatusCode::UNAUTHORIZED {
        assert_deletion(&res);
    }
    res.status()
}

#[tokio::test]
async fn idle_timeout_boundary() {
    let app = app();
    assert_eq!(status_at(&app, IDLE - 1, 0, 0).await, StatusCode::OK);
    assert_eq!(status_at(&app, IDLE, 0, 0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status_at(&app, IDLE + 1, 0, 0).await,
        StatusCode::UNAUTHORIZED
    );
    // Measured from last seen, not from creation.
    assert_eq!(
        status_at(&app, 100 + IDLE - 1, 0, 100).await,
        StatusCode::OK
    );
    assert_eq!(
        status_at(&app, 100 + IDLE, 0, 100).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn absolute_max_age_boundary_holds_however_active() {
    let app = app();
    assert_eq!(status_at(&app, MAX - 1, 0, MAX - 2).await, StatusCode::OK);
    assert_eq!(
        status_at(&app, MAX, 0, MAX - 1).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn custom_limits_are_enforced_to_the_second() {
    let app = app_with(key(1), |l| {
        l.with_idle_timeout(Duration::minutes(30))
            .with_max_age(Duration::hours(12))
            .with_refresh_interval(Duration::minutes(1))
    });
    assert_eq!(status_at(&app, 1799, 0, 0).await, StatusCode::OK);
    assert_eq!(status_at(&app, 1800, 0, 0).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_at(&app, 43_199, 0, 43_100).await, StatusCode::OK);
    assert_eq!(
        status_at(&app, 43_200, 0, 43_199).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_active_user_is_renewed_until_the_absolute_limit() {
    let app = app();
    let mut cookie = app.login("uid=alice").await;
    // One request every 6 days: each renews the idle window, none moves creation.
    for day in [6, 12, 18, 24] {
        app.clock.set(T0 + Duration::days(day));
        let res = app.get_with_cookie("/me", &cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "day {day}");
        let session = app.kit.session_from_response(&res).expect("renewed");
        assert_eq!(session.created_at(), T0);
        assert_eq!(session.auth_time(), T0);
        assert_eq!(session.last_seen(), app.clock.now());
        cookie = cookie_from(&res).unwrap();
    }
    app.clock
        .set(T0 + Duration::days(30) - Duration::seconds(1));
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::OK
    );
    app.clock.set(T0 + Duration::days(30));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
}

#[tokio::test]
async fn renewal_is_throttled_by_the_refresh_interval() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::seconds(59));
    assert_no_set_cookie(&app.get_with_cookie("/me", &cookie).await);
    app.clock.advance(Duration::seconds(1));
    let res = app.get_with_cookie("/me", &cookie).await;
    let session = app
        .kit
        .session_from_response(&res)
        .expect("renewed at 60 s");
    assert_eq!(session.last_seen(), T0 + Duration::seconds(60));
    assert_eq!(session.created_at(), T0);
    // The renewed cookie is not renewed again within the interval.
    let renewed = cookie_from(&res).unwrap();
    app.clock.advance(Duration::seconds(30));
    assert_no_set_cookie(&app.get_with_cookie("/me", &renewed).await);
}

#[tokio::test]
async fn writes_never_move_the_creation_time() {
    let app = app();
    let mut cookie = app.login("uid=alice").await;
    for i in 0..3 {
        app.clock.advance(Duration::hours(1));
        let res = app
            .post_with_cookie(&format!("/insert?k=n&v={i}"), &cookie)
            .await;
        let session = app.kit.session_from_response(&res).unwrap();
        assert_eq!(session.created_at(), T0);
        cookie = cookie_from(&res).unwrap();
    }
}

#[tokio::test]
async fn a_future_creation_time_is_accepted_only_within_the_skew_allowance() {
    let app = app();
    assert_eq!(status_at(&app, 0, 60, 60).await, StatusCode::OK);
    assert_eq!(status_at(&app, 0, 61, 61).await, StatusCode::UNAUTHORIZED);
    let strict = app_with(key(1), |l| l.with_clock_skew(Duration::ZERO));
    assert_eq!(status_at(&strict, 0, 0, 0).await, StatusCode::OK);
    assert_eq!(status_at(&strict, 0, 1, 1).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_clock_that_steps_back_logs_nobody_out_and_last_seen_never_moves_back() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::hours(2));
    let res = app.get_with_cookie("/me", &cookie).await;
    let cookie = cookie_from(&res).unwrap();
    let seen = app.kit.session_from_response(&res).unwrap().last_seen();
    assert_eq!(seen, T0 + Duration::hours(2));

    // Step back 5 minutes, 90 minutes, and to 30 s before the login (within the skew
    // allowance): still logged in, and last-seen stays where it was.
    for now in [
        seen - Duration::minutes(5),
        seen - Duration::minutes(90),
        T0 - Duration::seconds(30),
    ] {
        app.clock.set(now);
        let res = app.get_with_cookie("/me", &cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "clock at {now}");
        assert_no_set_cookie(&res);
        let res = app.post_with_cookie("/insert?k=a&v=b", &cookie).await;
        let s = app.kit.session_from_response(&res).expect("write sealed");
        assert_eq!(s.last_seen(), seen, "last-seen never moves back");
        assert_eq!(s.created_at(), T0);
    }
    // Idle time is measured from the latest last-seen once the clock catches up again.
    app.clock
        .set(seen + Duration::days(7) - Duration::seconds(1));
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_session_reads_as_anonymous_for_optional_routes() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::days(8));
    let res = app.get_with_cookie("/optional", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_deletion(&res);
    assert_eq!(body(res).await, "anonymous");
}

#[tokio::test]
async fn a_zero_refresh_interval_reseals_every_request() {
    let app = app_with(key(1), |l| l.with_refresh_interval(Duration::ZERO));
    let cookie = app.login("uid=alice").await;
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(session_cookies(&res, "__Host-session").len(), 1);
}

#[tokio::test]
async fn a_clock_that_steps_back_past_the_login_logs_nobody_out() {
    let app = app();
    app.clock.set(T0 + Duration::hours(5));
    let cookie = app.login("uid=alice").await;
    // The clock steps back an hour, then three: the login is now "in the future", but this layer
    // has seen later times, so its now does not move back.
    for back in [1, 3] {
        app.clock
            .set(T0 + Duration::hours(5) - Duration::hours(back));
        let res = app.get_with_cookie("/me", &cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "stepped back {back} h");
        let res = app.post_with_cookie("/insert?k=a&v=b", &cookie).await;
        let s = app.kit.session_from_response(&res).expect("write sealed");
        assert_eq!(s.last_seen(), T0 + Duration::hours(5));
        assert_eq!(s.created_at(), T0 + Duration::hours(5));
    }
    // The idle timeout still runs from the latest time seen.
    app.clock.set(T0 + Duration::hours(5) + Duration::days(7));
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_rotation_only_reseal_keeps_the_idle_time_already_used_in_max_age() {
    use sealed_session::testing::TestKit;
    use sealed_session::{KeyRing, SessionLayer};
    let ring = KeyRing::new(key(2)).with_previous(key(1)).unwrap();
    let app = app_with(ring, |l| {
        l.with_persistent(true)
            .with_idle_timeout(Duration::hours(1))
    });
    let old = TestKit::new(&SessionLayer::new(key(1)).with_clock(app.clock.clone()));
    let value = old.cookie_value_at(Identity::new("a"), t0() - 30, t0() - 30);
    let res = app.get_with_cookie("/me", &old.header_for(&value)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let line = session_cookies(&res, "__Host-session")
        .pop()
        .expect("re-sealed");
    assert!(line.ends_with("; Max-Age=3570"), "{line}");
}
