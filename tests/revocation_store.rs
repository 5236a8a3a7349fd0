//! Sessions that can be ended, through a real Router: `SessionLayer::with_revocation` with the
//! in-memory store. A copy of the cookie taken before logout, a privilege change, a new id or a
//! new login is refused afterwards; "log out everywhere" is to the millisecond; "log out my
//! other sessions" keeps the current one; a session revoked while its request is in flight is
//! not re-sealed; a store that cannot vouch gives 503.

mod common;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::*;
use sealed_session::store::{
    ActiveSession, MemoryStore, RevocationStore, Standing, StoreError, StoreWrite, TokenListener,
};
use sealed_session::{async_trait, Session, SessionId, SessionLayer};
use time::{Duration, OffsetDateTime};

/// The extra routes these tests need, around the common ones.
fn revocation_routes(store: Arc<dyn RevocationStore>) -> Router {
    Router::new()
        .route(
            "/demote",
            post(|s: Session| async move {
                s.set_roles(Vec::<String>::new()).unwrap();
                "demoted"
            }),
        )
        .route(
            "/regenerate",
            post(|s: Session| async move {
                s.regenerate_id().unwrap();
                "new id"
            }),
        )
        .route(
            "/logout-others",
            post(
                |State(store): State<Arc<dyn RevocationStore>>, s: Session| async move {
                    let uid = s.uid().unwrap();
                    store
                        .log_out_other_sessions(&uid, s.id(), OffsetDateTime::now_utc())
                        .await
                        .unwrap();
                    "others out"
                },
            ),
        )
        .route(
            "/revoked-in-flight",
            post(
                |State(store): State<Arc<dyn RevocationStore>>, s: Session| async move {
                    // Another instance ends this session while its request runs...
                    store
                        .deny_session(s.id(), OffsetDateTime::now_utc() + Duration::days(1))
                        .await
                        .unwrap();
                    // ...and the handler changes it, which would re-seal it.
                    s.insert("k", &"v").unwrap();
                    "changed"
                },
            ),
        )
        .with_state(store)
}

struct Revocable {
    app: App,
    store: MemoryStore,
}

/// The common app with a memory store sharing its clock (the store's TTLs read the same time).
fn revocable() -> Revocable {
    // An hour behind the system clock, which the routes' own store calls read: "now" in a route
    // is always after every login of the test.
    let clock =
        sealed_session::testing::ManualClock::new(OffsetDateTime::now_utc() - Duration::hours(1));
    let store = MemoryStore::new().with_clock(clock.clone());
    let shared: Arc<dyn RevocationStore> = Arc::new(store.clone());
    let mut app = app_with(key(1), |l| {
        l.with_clock(clock.clone()).with_revocation(store.clone())
    });
    app.clock = clock;
    app.router = routes()
        .merge(revocation_routes(shared))
        .layer(app.layer.clone());
    Revocable { app, store }
}

#[tokio::test]
async fn a_copy_of_the_cookie_taken_before_logout_is_refused() {
    let Revocable { app, .. } = revocable();
    let cookie = app.login("uid=alice").await;
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::OK
    );
    let log = log_capture();
    let start = log.len();
    let res = app.post_with_cookie("/logout", &cookie).await;
    assert_deletion(&res);
    // The copy: refused like an expired session, with a deletion cookie and a reason.
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
    let logged = log.since(start);
    assert!(logged.contains("session_denied"), "{logged}");
    assert_eq!(
        body(app.get_with_cookie("/optional", &cookie).await).await,
        "anonymous"
    );
}

#[tokio::test]
async fn logging_out_through_the_session_handle_denies_it_too() {
    let Revocable { app, .. } = revocable();
    let cookie = app.login("uid=alice").await;
    assert_deletion(&app.post_with_cookie("/session-logout", &cookie).await);
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_cookie_from_before_a_privilege_change_is_refused() {
    let Revocable { app, .. } = revocable();
    let admin = app.login("uid=alice&roles=ops").await;
    assert_eq!(
        app.get_with_cookie("/ops", &admin).await.status(),
        StatusCode::OK
    );
    let res = app.post_with_cookie("/demote", &admin).await;
    assert_eq!(res.status(), StatusCode::OK);
    let demoted = cookie_from(&res).expect("re-sealed with the new privileges");
    // The new cookie: authenticated, without the role.
    assert_eq!(
        app.get_with_cookie("/ops", &demoted).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        body(app.get_with_cookie("/me", &demoted).await).await,
        "alice"
    );
    // The copy taken before: no session at all (it no longer passes the role guard).
    let res = app.get_with_cookie("/ops", &admin).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_deletion(&res);
}

#[tokio::test]
async fn a_regenerated_id_ends_the_old_one() {
    let Revocable { app, .. } = revocable();
    let old = app.login("uid=alice").await;
    let res = app.post_with_cookie("/regenerate", &old).await;
    let new = cookie_from(&res).unwrap();
    assert_eq!(
        app.get_with_cookie("/me", &new).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_cookie("/me", &old).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_new_login_over_a_session_ends_the_previous_one() {
    let Revocable { app, .. } = revocable();
    let first = app.login("uid=alice").await;
    let res = app
        .send(
            axum::http::Request::post("/login?uid=alice")
                .header("cookie", &first)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = cookie_from(&res).unwrap();
    assert_eq!(
        app.get_with_cookie("/me", &second).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_cookie("/me", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn log_out_everywhere_is_to_the_millisecond() {
    let Revocable { app, store } = revocable();
    // Whole seconds on the clock, then: login at .100, "log out everywhere" at .900, login at .950.
    let start = app.clock.now().replace_millisecond(0).unwrap() + Duration::seconds(1);
    app.clock.set(start + Duration::milliseconds(100));
    let early = app.login("uid=alice").await;
    let bob = app.login("uid=bob").await;
    app.clock.set(start + Duration::milliseconds(900));
    store.log_out_user("alice", app.clock.now()).await.unwrap();
    app.clock.set(start + Duration::milliseconds(950));
    let late = app.login("uid=alice").await;
    assert_eq!(
        app.get_with_cookie("/me", &early).await.status(),
        StatusCode::UNAUTHORIZED,
        "created in the same second, before"
    );
    assert_eq!(
        app.get_with_cookie("/me", &late).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_cookie("/me", &bob).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::milliseconds(1));
    store.log_out_everyone(app.clock.now()).await.unwrap();
    for cookie in [&late, &bob] {
        assert_eq!(
            app.get_with_cookie("/me", cookie).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn log_out_my_other_sessions_keeps_this_one() {
    let Revocable { app, .. } = revocable();
    let phone = app.login("uid=alice").await;
    let laptop = app.login("uid=alice").await;
    let bob = app.login("uid=bob").await;
    app.clock.advance(Duration::milliseconds(5));
    let res = app.post_with_cookie("/logout-others", &laptop).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get_with_cookie("/me", &laptop).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_cookie("/me", &phone).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_with_cookie("/me", &bob).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_revoked_while_its_request_runs_is_not_re_sealed() {
    let Revocable { app, .. } = revocable();
    let cookie = app.login("uid=alice").await;
    let res = app.post_with_cookie("/revoked-in-flight", &cookie).await;
    // The handler's answer stands, but the change is not sealed: the cookie is deleted.
    assert_eq!(res.status(), StatusCode::OK);
    assert_deletion(&res);
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn renewal_checks_the_store_and_keeps_the_session_live() {
    let Revocable { app, .. } = revocable();
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::minutes(2)); // past the refresh interval: renewed
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = cookie_from(&res).expect("renewed");
    assert_eq!(
        app.get_with_cookie("/me", &renewed).await.status(),
        StatusCode::OK
    );
    // Renewal keeps the id: the copy still works too (only revocation ends it).
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::OK
    );
}

/// A store whose mirror is too old to vouch for anyone (as a Redis store failing closed).
#[derive(Debug, Clone)]
struct Blind(MemoryStore);

#[async_trait]
impl RevocationStore for Blind {
    fn check(&self, id: &SessionId, uid: Option<&str>, created_ms: i64) -> Standing {
        match self.0.check(id, uid, created_ms) {
            Standing::Live => Standing::Unavailable {
                retry_after: std::time::Duration::from_secs(1),
            },
            other => other,
        }
    }
    fn deny_session(&self, id: SessionId, until: OffsetDateTime) -> StoreWrite {
        self.0.deny_session(id, until)
    }
    fn log_out_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        self.0.log_out_user(uid, at)
    }
    fn log_out_other_sessions(&self, uid: &str, keep: SessionId, at: OffsetDateTime) -> StoreWrite {
        self.0.log_out_other_sessions(uid, keep, at)
    }
    fn log_out_everyone(&self, at: OffsetDateTime) -> StoreWrite {
        self.0.log_out_everyone(at)
    }
    fn recheck_user(&self, uid: &str, at: OffsetDateTime) -> StoreWrite {
        self.0.recheck_user(uid, at)
    }
    fn recheck_due(&self, uid: &str, checked_ms: i64) -> bool {
        self.0.recheck_due(uid, checked_ms)
    }
    fn record_active(&self, uid: &str, session: ActiveSession) -> StoreWrite {
        self.0.record_active(uid, session)
    }
    async fn active_sessions(&self, uid: &str) -> Result<Vec<ActiveSession>, StoreError> {
        self.0.active_sessions(uid).await
    }
    async fn end_session(&self, uid: &str, id: SessionId) -> Result<bool, StoreError> {
        self.0.end_session(uid, id).await
    }
    fn invalidate_token(&self, digest: [u8; 32]) -> StoreWrite {
        self.0.invalidate_token(digest)
    }
    fn invalidate_user_tokens(&self, uid: &str) -> StoreWrite {
        self.0.invalidate_user_tokens(uid)
    }
    async fn use_once(&self, key: &[u8], lives_for: Duration) -> Result<bool, StoreError> {
        self.0.use_once(key, lives_for).await
    }
    fn on_token_invalidation(&self, listener: TokenListener) {
        self.0.on_token_invalidation(listener);
    }
}

#[tokio::test]
async fn a_store_that_cannot_vouch_gives_503_with_retry_after_never_a_pass() {
    let plain = app();
    let cookie = plain.login("uid=alice").await;
    let blind = app_with(key(1), |l| l.with_revocation(Blind(MemoryStore::new())));
    let res = blind.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&res, "retry-after").is_some());
    assert_no_set_cookie(&res);
    // Routes that do not ask for the session, and anonymous requests, are not affected.
    assert_eq!(
        blind.get_with_cookie("/public", &cookie).await.status(),
        StatusCode::OK
    );
    assert_eq!(body(blind.get("/optional").await).await, "anonymous");
}

#[tokio::test]
async fn without_a_store_nothing_is_denied() {
    let app = app();
    let cookie = app.login("uid=alice").await;
    assert_deletion(&app.post_with_cookie("/logout", &cookie).await);
    // Stateless as before: the copy still opens (the README says so).
    assert_eq!(
        app.get_with_cookie("/me", &cookie).await.status(),
        StatusCode::OK
    );
    let _: SessionLayer = app.layer;
}

/// Waits (bounded: 200 tries, 2 seconds) until `store` lists `n` sessions of `uid`.
async fn listed(store: &MemoryStore, uid: &str, n: usize) -> Vec<ActiveSession> {
    for _ in 0..200 {
        let list = store.active_sessions(uid).await.unwrap();
        if list.len() == n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{uid} never had {n} active sessions");
}

#[tokio::test]
async fn active_sessions_are_listed_with_their_user_agent_and_ended_from_the_list() {
    let clock = sealed_session::testing::ManualClock::new(OffsetDateTime::now_utc());
    let store = MemoryStore::new().with_clock(clock.clone());
    let mut app = app_with(key(1), |l| {
        l.with_clock(clock.clone())
            .with_revocation(store.clone())
            .with_active_sessions()
    });
    app.clock = clock;
    let login = |agent: &'static str| {
        let app = &app;
        async move {
            let res = app
                .send(
                    axum::http::Request::post("/login?uid=alice")
                        .header("user-agent", agent)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await;
            cookie_from(&res).unwrap()
        }
    };
    let firefox = login("Firefox\t<b>").await;
    app.clock.advance(Duration::seconds(1));
    let safari = login("Safari").await;
    let list = listed(&store, "alice", 2).await;
    assert_eq!(list[0].label, "Firefox <b>", "control characters replaced");
    assert_eq!(list[1].label, "Safari");

    // Renewal updates last-seen.
    app.clock.advance(Duration::minutes(2));
    let res = app.get_with_cookie("/me", &safari).await;
    assert!(cookie_from(&res).is_some(), "renewed");
    let list = listed(&store, "alice", 2).await;
    assert!(list[1].last_seen_ms > list[1].created_ms);

    // Ending one from the list (say, on a "your sessions" page) refuses its cookie.
    assert!(store.end_session("alice", list[0].id).await.unwrap());
    assert_eq!(
        app.get_with_cookie("/me", &firefox).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Logging out removes its entry.
    assert_deletion(&app.post_with_cookie("/logout", &safari).await);
    listed(&store, "alice", 0).await;
}

/// `RevocationStore::recheck_user` (apicrud's `update_auth`), through a Router with the memory
/// store: the next request of that user's sessions runs the validator, once per cookie; other
/// users are not rechecked.
#[tokio::test]
async fn a_recheck_through_the_store_runs_the_validator_once_for_that_user_only() {
    let clock =
        sealed_session::testing::ManualClock::new(OffsetDateTime::now_utc() - Duration::hours(1));
    let store = MemoryStore::new().with_clock(clock.clone());
    let validated = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = validated.clone();
    let validator = sealed_session::validator_fn(move |s: Session| {
        seen.lock().unwrap().push(s.uid().unwrap_or_default());
        async { Ok(sealed_session::Validation::Keep) }
    });
    let app = app_with(key(1), |l| {
        l.with_clock(clock.clone())
            .with_revocation(store.clone())
            .with_validator(validator)
            .with_validation_interval(Duration::hours(6))
            .with_refresh_interval(Duration::hours(1))
    });
    let alice = app.login("uid=alice").await;
    let bob = app.login("uid=bob").await;
    clock.advance(Duration::minutes(1));
    for cookie in [&alice, &bob] {
        assert_eq!(
            app.get_with_cookie("/me", cookie).await.status(),
            StatusCode::OK
        );
    }
    assert!(validated.lock().unwrap().is_empty(), "within the interval");

    store.recheck_user("alice", clock.now()).await.unwrap();
    // Cookies record the check to the second: a check in the recheck's own second would be
    // due once more.
    clock.advance(Duration::seconds(1));
    let res = app.get_with_cookie("/me", &alice).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(*validated.lock().unwrap(), ["alice"]);
    let checked = cookie_from(&res).expect("the check is sealed into the cookie");
    for cookie in [&checked, &bob, &checked] {
        assert_eq!(
            app.get_with_cookie("/me", cookie).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(*validated.lock().unwrap(), ["alice"], "once, and not bob");
    // A copy of the cookie from before the check is still due (its sealed check is older).
    assert_eq!(
        app.get_with_cookie("/me", &alice).await.status(),
        StatusCode::OK
    );
    assert_eq!(*validated.lock().unwrap(), ["alice", "alice"]);
    // Without a validator on the layer, a recheck changes nothing.
    let plain = app_with(key(1), |l| {
        l.with_clock(clock.clone()).with_revocation(store.clone())
    });
    let carol = plain.login("uid=carol").await;
    store.recheck_user("carol", clock.now()).await.unwrap();
    assert_eq!(
        plain.get_with_cookie("/me", &carol).await.status(),
        StatusCode::OK
    );
}
