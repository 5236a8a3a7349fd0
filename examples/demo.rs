//! The sealed-session demo server: cookie sessions and bearer tokens in one app.
//!
//! Run with `cargo run --example demo` (add `-- --port 8080` for another port). It listens on
//! 127.0.0.1 only, needs no outside service, and prints ready-made `curl` commands.
//!
//! Routes:
//! - `GET /`: who you are (anonymous, a cookie session or a bearer token);
//! - `POST /login?uid=alice&scope=builds:read&role=admin`: dev login, no password (demo only);
//! - `POST /logout`: ends the cookie session;
//! - `GET /me`: the session as JSON (401 without one);
//! - `GET /api/builds`: needs the `builds:read` scope (cookie or bearer);
//! - `GET /admin`: needs the `admin` role.

use std::net::SocketAddr;

use axum::extract::Query;
use axum::response::{IntoResponse, Json};
use axum::routing::{get, post};
use axum::Router;
use sealed_session::{
    ApiKeys, Auth, Identity, Key, RequireAuth, Session, SessionError, SessionLayer,
};
use serde::Deserialize;
use time::Duration;

/// The built-in token map. Real apps keep only digests (see `ApiKeys::with_digest`).
const ALICE_TOKEN: &str = "demo-alice-7f3c9a1e5b";
const CI_TOKEN: &str = "demo-ci-2d8e4b6a0c";

fn tokens() -> ApiKeys {
    ApiKeys::new()
        .with_token(
            ALICE_TOKEN,
            Identity::new("alice").with_scopes(["builds:read"]),
        )
        .with_token(
            CI_TOKEN,
            Identity::new("ci-bot")
                .with_role_account(true)
                .with_scopes(["builds:read", "builds:write"]),
        )
}

fn describe(session: &Session) -> serde_json::Value {
    serde_json::json!({
        "uid": session.uid(),
        "source": format!("{:?}", session.source()),
        "role_account": session.is_role_account(),
        "mfa": session.mfa(),
        "roles": session.roles(),
        "groups": session.groups(),
        "scopes": session.scopes(),
        "metadata": session.metadata(),
        "created_at": session.created_at().to_string(),
        "last_seen": session.last_seen().to_string(),
        "auth_time": session.auth_time().to_string(),
        "expires_at": session.expires_at().map(|t| t.to_string()),
    })
}

async fn home(session: Option<Session>) -> String {
    match session {
        Some(s) => format!(
            "Hello {} ({:?} session). Scopes: {:?}\n",
            s.uid().unwrap_or_else(|| "(no uid)".into()),
            s.source(),
            s.scopes()
        ),
        None => {
            "Hello, anonymous. POST /login?uid=alice to start a session, or send a bearer token.\n"
                .into()
        }
    }
}

#[derive(Deserialize)]
struct LoginParams {
    uid: Option<String>,
    scope: Option<String>,
    role: Option<String>,
}

async fn login(
    auth: Auth,
    Query(params): Query<LoginParams>,
) -> Result<Json<serde_json::Value>, SessionError> {
    let uid = params.uid.unwrap_or_else(|| "alice".into());
    let mut identity = Identity::new(uid);
    if let Some(scope) = params.scope {
        identity = identity.with_scopes(scope.split([',', ' ']).filter(|s| !s.is_empty()));
    }
    if let Some(role) = params.role {
        identity = identity.with_roles([role]);
    }
    let session = auth.login(identity)?;
    Ok(Json(describe(&session)))
}

async fn logout(auth: Auth) -> &'static str {
    auth.logout();
    "logged out\n"
}

async fn me(session: Session) -> impl IntoResponse {
    Json(describe(&session))
}

async fn builds(session: Session) -> String {
    format!(
        "builds visible to {}: #41 ok, #42 running\n",
        session.uid().unwrap_or_default()
    )
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route(
            "/api/builds",
            get(builds).route_layer(RequireAuth::scope("builds:read")),
        )
        .route(
            "/admin",
            get(|| async { "admin area\n" }).route_layer(RequireAuth::role("admin")),
        )
        .layer(layer)
}

fn port() -> u16 {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            if let Some(p) = args.next().and_then(|p| p.parse().ok()) {
                return p;
            }
        }
    }
    std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_target(true)
        .with_max_level(tracing::Level::INFO)
        .init();

    // A fresh key per run: sessions end when the demo restarts. Real apps load >= 64 secret
    // random bytes from a secret store and pass them to `Key::try_from`.
    let layer = SessionLayer::new(Key::generate())
        .with_token_handler(tokens())
        .with_idle_timeout(Duration::days(7))
        .with_max_age(Duration::days(30));
    layer.validate()?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port()));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("sealed-session demo listening on {url}");
    println!();
    println!("Bearer API (token for alice, scope builds:read):");
    println!("  curl -i -H 'Authorization: Bearer {ALICE_TOKEN}' {url}/api/builds");
    println!("Role account token (ci-bot): {CI_TOKEN}");
    println!("Dev login (cookie session, then reuse the cookie):");
    println!("  curl -i -X POST '{url}/login?uid=alice&scope=builds:read&role=admin'");
    println!("No credentials (401 with a Bearer challenge):");
    println!("  curl -i {url}/me");

    axum::serve(listener, app(layer))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
