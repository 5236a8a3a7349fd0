//! The device flow's polling rules against a scripted in-process provider (an axum `Router`
//! reached through `ServiceTransport`): `authorization_pending`, `slow_down` (+5 units, for
//! good), `expired_token`, `access_denied`, the code's lifetime, cancellation. The time unit is
//! shortened to 10 ms, so "5 seconds" is 50 ms; only lower bounds on waits are asserted.
#![cfg(feature = "client")]

mod client_support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Form, Json, Router};
use sealed_session::client::{ClientError, DeviceCode, OAuthClient, ServiceTransport};
use serde_json::json;

use client_support::logs;

const UNIT: Duration = Duration::from_millis(10);
const DEVICE_CODE: &str = "device-code-secret-77";

#[derive(Default)]
struct Script {
    /// Answers to the token polls, in order; when empty: tokens.
    answers: VecDeque<&'static str>,
    polls: Vec<Instant>,
    expires_in: u64,
    forms: Vec<Vec<(String, String)>>,
}

fn provider(script: Arc<Mutex<Script>>) -> Router {
    let s1 = script.clone();
    Router::new()
        .route(
            "/device",
            post(move |Form(form): Form<Vec<(String, String)>>| {
                let s = s1.clone();
                async move {
                    let mut s = s.lock().unwrap();
                    s.forms.push(form);
                    Json(json!({
                        "device_code": DEVICE_CODE,
                        "user_code": "WDJB-MJHT",
                        "verification_uri": "https://id.example/device",
                        "verification_uri_complete": "https://id.example/device?user_code=WDJB-MJHT",
                        "expires_in": s.expires_in,
                        "interval": 5,
                    }))
                }
            }),
        )
        .route(
            "/token",
            post(move |Form(form): Form<Vec<(String, String)>>| {
                let s = script.clone();
                async move {
                    let mut s = s.lock().unwrap();
                    s.polls.push(Instant::now());
                    assert!(form.contains(&("device_code".into(), DEVICE_CODE.into())));
                    assert!(form.contains(&(
                        "grant_type".into(),
                        "urn:ietf:params:oauth:grant-type:device_code".into()
                    )));
                    match s.answers.pop_front() {
                        Some(error) => (
                            http::StatusCode::BAD_REQUEST,
                            Json(json!({ "error": error })),
                        ),
                        None => (
                            http::StatusCode::OK,
                            Json(json!({
                                "access_token": "device-access-token-1",
                                "token_type": "Bearer",
                                "expires_in": 600,
                                "refresh_token": "device-refresh-token-1",
                            })),
                        ),
                    }
                }
            }),
        )
}

fn setup(answers: &[&'static str], expires_in: u64) -> (OAuthClient, Arc<Mutex<Script>>) {
    let script = Arc::new(Mutex::new(Script {
        answers: answers.iter().copied().collect(),
        expires_in,
        ..Script::default()
    }));
    let transport = ServiceTransport::<_, axum::body::Body>::new(provider(script.clone()));
    let client = OAuthClient::new("https://id.example", "cli", "https://id.example/token")
        .with_device_authorization_endpoint("https://id.example/device")
        .with_scopes(["openid", "offline_access"])
        .with_audience("https://api.example")
        .with_transport(transport);
    (client, script)
}

fn gaps(polls: &[Instant]) -> Vec<Duration> {
    polls.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn pending_then_slow_down_adds_five_units_for_good() {
    let log = logs();
    let (client, script) = setup(
        &[
            "authorization_pending",
            "slow_down",
            "authorization_pending",
            "authorization_pending",
        ],
        600,
    );
    let shown = Arc::new(Mutex::new(None::<DeviceCode>));
    let sink = shown.clone();
    let started = Instant::now();
    let set = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(move |code| *sink.lock().unwrap() = Some(code.clone()))
        .await
        .unwrap();
    assert_eq!(set.access_token_secret(), "device-access-token-1");
    assert_eq!(set.refresh_token(), Some("device-refresh-token-1"));
    assert_eq!(set.audience(), Some("https://api.example"));
    let code = shown.lock().unwrap().clone().unwrap();
    assert_eq!(code.user_code(), "WDJB-MJHT");
    assert_eq!(code.interval(), Duration::from_secs(5));
    assert!(!format!("{code:?}").contains(DEVICE_CODE));
    let s = script.lock().unwrap();
    // The device request carried the client id, the scopes and the audience.
    let form = &s.forms[0];
    assert!(form.contains(&("client_id".into(), "cli".into())));
    assert!(form.contains(&("scope".into(), "openid offline_access".into())));
    assert!(form.contains(&("audience".into(), "https://api.example".into())));
    assert_eq!(s.polls.len(), 5);
    // First poll after one interval (5 units); after slow_down, every gap is at least 10 units.
    assert!(s.polls[0] - started >= UNIT * 5);
    let g = gaps(&s.polls);
    assert!(g[0] >= UNIT * 5, "{g:?}");
    assert!(g[1] >= UNIT * 10, "slow_down not honoured: {g:?}");
    assert!(g[2] >= UNIT * 10, "slow_down not kept: {g:?}");
    assert!(g[3] >= UNIT * 10, "slow_down not kept: {g:?}");
    drop(s);
    log.assert_clean(&[
        DEVICE_CODE,
        "device-access-token-1",
        "device-refresh-token-1",
    ]);
}

#[tokio::test]
async fn two_slow_downs_add_up() {
    let (client, script) = setup(&["slow_down", "slow_down", "authorization_pending"], 600);
    client
        .device_flow()
        .with_time_unit(UNIT)
        .run(|_| {})
        .await
        .unwrap();
    let g = gaps(&script.lock().unwrap().polls);
    assert!(
        g[0] >= UNIT * 10 && g[1] >= UNIT * 15 && g[2] >= UNIT * 15,
        "{g:?}"
    );
}

#[tokio::test]
async fn expired_token_and_access_denied_stop_with_typed_errors() {
    let (client, script) = setup(&["authorization_pending", "expired_token"], 600);
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(|_| {})
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Expired);
    assert_eq!(script.lock().unwrap().polls.len(), 2);

    let (client, script) = setup(&["access_denied"], 600);
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(|_| {})
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::AccessDenied);
    assert_eq!(script.lock().unwrap().polls.len(), 1);

    let (client, _) = setup(&["invalid_client"], 600);
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Provider { ref error, .. } if error == "invalid_client"),
        "{err}"
    );
}

#[tokio::test]
async fn polling_ends_with_the_code_s_lifetime() {
    // Always pending; the code lives 1 s; a poll every 50 ms at most.
    let (client, script) = setup(&["authorization_pending"; 200], 1);
    let started = Instant::now();
    let err = client
        .device_flow()
        .with_time_unit(UNIT)
        .run(|_| {})
        .await
        .unwrap_err();
    assert_eq!(err, ClientError::Expired);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let polls = script.lock().unwrap().polls.len();
    assert!((1..=20).contains(&polls), "{polls} polls in 1 s at 50 ms");
}

#[tokio::test]
async fn cancelling_stops_polling() {
    let (client, script) = setup(&["authorization_pending"; 200], 600);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let flow = client.device_flow().with_time_unit(UNIT);
    let task = tokio::spawn(flow.run_until(
        move |_| {
            // The user closes the window as soon as the code is shown.
            let _ = tx.send(());
        },
        async move {
            let _ = rx.await;
        },
    ));
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err, ClientError::Cancelled);
    let polls = script.lock().unwrap().polls.len();
    tokio::time::sleep(UNIT * 20).await;
    assert_eq!(
        script.lock().unwrap().polls.len(),
        polls,
        "no polling after cancel"
    );
    assert!(polls <= 1);
}

#[tokio::test]
async fn no_device_endpoint_is_unsupported() {
    let client = OAuthClient::new("https://id", "cli", "https://id/token");
    let err = client.device_flow().start().await.unwrap_err();
    assert!(matches!(err, ClientError::Unsupported { .. }));
}
