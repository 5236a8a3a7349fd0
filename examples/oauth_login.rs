//! Login through an OpenID Connect provider with the `/auth` service (feature `oauth`).
//!
//! The provider comes from environment variables:
//!
//! | variable | default |
//! |---|---|
//! | `OAUTH_ISSUER` | `http://127.0.0.1:9400` (discovered through `/.well-known/openid-configuration`) |
//! | `OAUTH_CLIENT_ID` | `sealed-session-example` |
//! | `OAUTH_CLIENT_SECRET` | none (a public client, PKCE only) |
//! | `OAUTH_SCOPES` | `openid email` |
//! | `APP_BASE_URL` | `http://localhost:3000` (plain http: cookies without `Secure` and `__Host-`) |
//! | `PORT` | `3000` |
//!
//! Try it with the mock provider the tests use (Node.js ≥ 20.19):
//!
//! ```text
//! npm ci --prefix tests/oauth
//! node tests/oauth/mock-server.mjs --port 9400 --lifetime 0 &
//! cargo run --example oauth_login --features oauth
//! # then open http://localhost:3000/me in a browser: it goes to the mock and comes back
//! # logged in as "johndoe". http://localhost:3000/auth shows the session as JSON.
//! ```

use std::env;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use sealed_session::oauth::{OAuthLogin, Provider};
use sealed_session::{Key, RequireAuth, Session, SessionLayer};

async fn home(session: Option<Session>) -> Html<String> {
    let who = match &session {
        // The uid comes from the provider: escape it before it goes into HTML.
        Some(s) => format!(
            "Logged in as <b>{}</b>.",
            escape(&s.uid().unwrap_or_default())
        ),
        None => "Not logged in.".to_owned(),
    };
    Html(format!(
        "<p>{who}</p>
         <p><a href=\"/me\">/me</a> (needs a login) · <a href=\"/auth\">/auth</a> (session JSON)
         · <a href=\"/auth?login=/\">log in</a></p>
         <form method=\"post\" action=\"/auth?logout=/\"><button>Log out</button></form>"
    ))
}

async fn me(session: Session) -> String {
    format!(
        "uid: {}\ngroups: {:?}\nmfa: {}\nmetadata: {}\n",
        session.uid().unwrap_or_default(),
        session.groups(),
        session.mfa(),
        serde_json::Value::Object(session.metadata())
    )
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn var(name: &str, default: &str) -> String {
    env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_target(false).init();
    let issuer = var("OAUTH_ISSUER", "http://127.0.0.1:9400");
    let base = var("APP_BASE_URL", "http://localhost:3000");
    let port: u16 = var("PORT", "3000").parse()?;

    let mut provider = Provider::discover(
        issuer.clone(),
        var("OAUTH_CLIENT_ID", "sealed-session-example"),
    )
    .await
    .map_err(|e| format!("{e} (is the provider running at {issuer}?)"))?
    .with_scopes(
        var("OAUTH_SCOPES", "openid email")
            .split(' ')
            .map(str::to_owned),
    );
    if let Ok(secret) = env::var("OAUTH_CLIENT_SECRET") {
        provider = provider.with_client_secret(secret);
    }
    let login = OAuthLogin::new(provider, base.clone());

    // Plain http (local development) cannot use Secure or __Host- cookies.
    let mut layer = SessionLayer::new(Key::generate()).with_login_redirect(login.mount_path());
    if base.starts_with("http://") {
        layer = layer.with_cookie_name("session").with_secure(false);
    }
    let app = Router::new()
        .route("/", get(home))
        .route("/me", get(me).route_layer(RequireAuth::authenticated()))
        .route_service(login.mount_path(), login.service()?)
        .layer(layer);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {base} (127.0.0.1:{port}); provider {issuer}");
    axum::serve(listener, app).await?;
    Ok(())
}
