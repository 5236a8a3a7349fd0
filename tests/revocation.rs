//! Revocation and stale privileges through a real Router: per-user and global not-before times,
//! the session validator (interval, renewal, revoke, refresh, failures), and id re-minting on
//! privilege change.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use common::*;
use sealed_session::{
    async_trait, Identity, NotBefore, Privileges, RequireAuth, Session, SessionValidator,
    Validation, ValidationError,
};
use time::Duration;

#[tokio::test]
async fn a_per_user_not_before_logs_one_user_out_everywhere() {
    let not_before = NotBefore::new();
    let app = app_with(key(1), |l| l.with_not_before(not_before.clone()));
    let alice = app.login("uid=alice").await;
    let bob = app.login("uid=bob").await;
    app.clock.advance(Duration::minutes(30));
    not_before.log_out_user("alice", app.clock.now());
    let res = app.get_with_cookie("/me", &alice).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
    assert_eq!(
        app.get_with_cookie("/me", &bob).await.status(),
        StatusCode::OK
    );
    // A new login after the not-before time works.
    let alice_again = app.login("uid=alice").await;
    assert_eq!(
        body(app.get_with_cookie("/me", &alice_again).await).await,
        "alice"
    );
    not_before.forget_user("alice");
    assert_eq!(
        app.get_with_cookie("/me", &alice).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_global_not_before_logs_everyone_out_without_rotating_keys() {
    let not_before = NotBefore::new();
    let app = app_with(key(1), |l| l.with_not_before(not_before.clone()));
    let alice = app.login("uid=alice").await;
    let nobody = app.login("scopes=x").await;
    app.clock.advance(Duration::seconds(5));
    not_before.log_out_everyone(app.clock.now());
    for cookie in [&alice, &nobody] {
        assert_eq!(
            app.get_with_cookie("/me", cookie).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let fresh = app.login("uid=alice").await;
    assert_eq!(
        app.get_with_cookie("/me", &fresh).await.status(),
        StatusCode::OK
    );
    // An earlier time does not undo a later one.
    not_before.log_out_everyone(app.clock.now() - Duration::days(1));
    assert_eq!(
        app.get_with_cookie("/me", &alice).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_not_before_set_during_a_request_stops_the_reseal() {
    let not_before = NotBefore::new();
    let app = app_with(key(1), |l| l.with_not_before(not_before.clone()));
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::minutes(1));
    let nb = not_before.clone();
    let clock = app.clock.clone();
    let router = Router::new()
        .route(
            "/change-password",
            get(move |s: Session| {
                let nb = nb.clone();
                let clock = clock.clone();
                async move {
                    s.insert("pw", &"changed").unwrap();
                    nb.log_out_user("alice", clock.now() + Duration::seconds(1));
                    "ok"
                }
            }),
        )
        .layer(app.layer.clone());
    let res = send(
        &router,
        axum::http::Request::get("/change-password")
            .header("cookie", cookie)
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_deletion(&res);
}

#[derive(Clone, Default)]
struct Checker {
    calls: Arc<AtomicUsize>,
    verdict: Arc<Mutex<Option<Validation>>>,
    fail: Arc<Mutex<Option<&'static str>>>,
}

#[async_trait]
impl SessionValidator for Checker {
    async fn validate(&self, session: &Session) -> Result<Validation, ValidationError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(session.uid().is_some());
        let fail = *self.fail.lock().unwrap();
        match fail {
            Some("error") => return Err(ValidationError::new("directory unreachable")),
            Some("panic") => panic!("validator bug"),
            Some("hang") => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
            _ => {}
        }
        Ok(self
            .verdict
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Validation::Keep))
    }
}

fn validated(checker: &Checker) -> App {
    let checker = checker.clone();
    app_with(key(1), move |l| {
        l.with_validator(checker)
            .with_validation_interval(Duration::minutes(5))
            .with_refresh_interval(Duration::hours(1))
    })
}

#[tokio::test]
async fn the_validator_runs_at_most_once_per_interval_and_the_check_is_sealed() {
    let checker = Checker::default();
    let app = validated(&checker);
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::minutes(4));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        checker.calls.load(Ordering::SeqCst),
        0,
        "a login counts as a check"
    );
    assert_no_set_cookie(&res);

    app.clock.advance(Duration::minutes(1));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(checker.calls.load(Ordering::SeqCst), 1);
    let checked = cookie_from(&res).expect("the check is sealed into the cookie");
    for _ in 0..3 {
        app.clock.advance(Duration::minutes(1));
        assert_eq!(
            app.get_with_cookie("/me", &checked).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        checker.calls.load(Ordering::SeqCst),
        1,
        "within the interval of the sealed check"
    );
}

#[tokio::test]
async fn the_validator_runs_again_before_every_renewal() {
    let checker = Checker::default();
    let app = app_with(key(1), {
        let checker = checker.clone();
        move |l| {
            l.with_validator(checker)
                .with_validation_interval(Duration::hours(6))
        }
    });
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::seconds(61));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert!(app.kit.session_from_response(&res).is_some(), "renewed");
    assert_eq!(checker.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_validator_can_revoke() {
    let checker = Checker::default();
    *checker.verdict.lock().unwrap() = Some(Validation::Revoke);
    let app = validated(&checker);
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::minutes(5));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
    assert_eq!(
        body(app.get_with_cookie("/optional", &cookie).await).await,
        "anonymous"
    );
}

#[tokio::test]
async fn the_validator_can_refresh_privileges_which_remints_the_id() {
    let checker = Checker::default();
    *checker.verdict.lock().unwrap() = Some(Validation::Refresh(
        Privileges::new().with_roles(["ops"]).with_scopes(["admin"]),
    ));
    let app = validated(&checker);
    let cookie = app.login("uid=alice&roles=viewer").await;
    let before = app
        .kit
        .open(cookie.to_str().unwrap().split_once('=').unwrap().1)
        .unwrap();
    assert_eq!(
        app.get_with_cookie("/ops", &cookie).await.status(),
        StatusCode::FORBIDDEN
    );
    app.clock.advance(Duration::minutes(5));
    // The refreshed role already counts for this request's guard.
    let res = app.get_with_cookie("/ops", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = app.kit.session_from_response(&res).expect("re-sealed");
    assert_eq!(after.roles(), ["ops"]);
    assert_eq!(after.scopes(), ["admin"]);
    assert_ne!(
        after.id(),
        before.id(),
        "privilege change re-mints the session id"
    );
    assert_eq!(after.created_at(), before.created_at());
}

#[tokio::test]
async fn a_failing_validator_is_a_503_and_never_anonymous() {
    for (mode, status) in [
        ("error", StatusCode::SERVICE_UNAVAILABLE),
        ("hang", StatusCode::SERVICE_UNAVAILABLE),
        ("panic", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let checker = Checker::default();
        let app = validated(&checker);
        let cookie = app.login("uid=alice").await;
        *checker.fail.lock().unwrap() = Some(mode);
        app.clock.advance(Duration::minutes(5));
        for path in ["/me", "/optional"] {
            let res = app.get_with_cookie(path, &cookie).await;
            assert_eq!(res.status(), status, "{mode} on {path}");
            assert_no_set_cookie(&res);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(res.headers().contains_key("retry-after"));
            }
        }
    }
}

#[tokio::test]
async fn changing_roles_in_a_handler_remints_the_session_id() {
    let app = app();
    let router = Router::new()
        .route(
            "/promote",
            get(|s: Session| async move {
                s.set_roles(["admin"]).unwrap();
                "ok"
            }),
        )
        .route(
            "/admin-only",
            get(|| async { "x" }).route_layer(RequireAuth::role("admin")),
        )
        .layer(app.layer.clone());
    let value = app.kit.cookie_value(Identity::new("alice"));
    let before = app.kit.open(&value).unwrap();
    let res = send(
        &router,
        axum::http::Request::get("/promote")
            .header("cookie", app.kit.header_for(&value))
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let after = app.kit.session_from_response(&res).unwrap();
    assert_eq!(after.roles(), ["admin"]);
    assert_ne!(after.id(), before.id());
    assert_eq!(after.created_at(), before.created_at());
}
