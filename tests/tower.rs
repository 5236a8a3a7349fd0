//! The layers as plain tower services: readiness is respected (an inner `Buffer` only accepts a
//! call on the instance it readied), and responses are not lost under concurrency.

mod common;

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use common::*;
use sealed_session::{Identity, RequireAuth, Session, SessionLayer};
use tower::buffer::Buffer;
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};

/// The guarded inner service: answers 200 to whatever the guard lets through.
async fn ok(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::from("ok")))
}

#[tokio::test]
async fn guard_and_layer_call_the_inner_service_they_readied() {
    let app = app();
    let inner = Buffer::new(service_fn(ok), 4);
    let mut svc = ServiceBuilder::new()
        .layer(app.layer.clone())
        .layer(RequireAuth::authenticated())
        .service(inner);
    let cookie = app.kit.cookie_header(Identity::new("alice"));
    let mut calls = Vec::new();
    for i in 0..64 {
        let req = if i % 2 == 0 {
            Request::get("/")
                .header(header::COOKIE, cookie.clone())
                .body(Body::empty())
                .unwrap()
        } else {
            Request::get("/").body(Body::empty()).unwrap()
        };
        let ready: &mut _ = svc.ready().await.expect("ready");
        // Spawned, so each call makes progress (and frees its buffer slot) while the next
        // `ready` waits: the buffer holds 4, the test sends 64.
        calls.push(tokio::spawn(ready.call(req)));
    }
    let mut ok = 0;
    let mut unauthorized = 0;
    for call in calls {
        let res: Response<Body> = call.await.expect("joined").expect("no error");
        match res.status() {
            StatusCode::OK => ok += 1,
            StatusCode::UNAUTHORIZED => unauthorized += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, unauthorized), (32, 32));
}

#[tokio::test]
async fn extractors_work_behind_a_plain_tower_stack() {
    let app = app();
    let handler = service_fn(|req: Request<Body>| async move {
        let (mut parts, _) = req.into_parts();
        let session =
            <Session as axum::extract::FromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await;
        Ok::<_, Infallible>(Response::new(Body::from(match session {
            Ok(s) => s.uid().unwrap_or_default(),
            Err(_) => "none".into(),
        })))
    });
    let svc = SessionLayer::new(key(1)).with_clock(app.clock.clone());
    let mut svc = ServiceBuilder::new().layer(svc).service(handler);
    let req = Request::get("/")
        .header(header::COOKIE, app.kit.cookie_header(Identity::new("zoe")))
        .body(Body::empty())
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(body(res).await, "zoe");
}
