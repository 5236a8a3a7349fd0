//! The smallest bearer-token API: `ApiKeys` resolves tokens to identities with scopes, and
//! `RequireAuth` guards each method: `GET /builds` needs `builds:read`, `POST /builds` needs
//! `builds:write`. No token or a bad one: 401 with an RFC 6750 challenge; a missing scope: 403.
//! `cargo run --example bearer_api` prints two tokens and curl commands. Its tests:
//! `cargo test --examples`.

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sealed_session::{ApiKeys, Identity, Key, RequireAuth, Session, SessionLayer};

async fn list_builds(session: Session) -> String {
    format!("builds 41, 42 (for {})", session.uid().unwrap_or_default())
}

async fn start_build(session: Session) -> (StatusCode, String) {
    let uid = session.uid().unwrap_or_default();
    (StatusCode::ACCEPTED, format!("build 43 queued by {uid}"))
}

/// `reader` may list builds; `writer`, a CI robot, may also start them.
fn app(reader: &str, writer: &str) -> Router {
    // ApiKeys keeps SHA-256 digests, not the tokens. Over a database, implement `TokenHandler`.
    let tokens = ApiKeys::new()
        .with_token(
            reader,
            Identity::new("dashboard").with_scopes(["builds:read"]),
        )
        .with_token(
            writer,
            Identity::new("ci")
                .with_role_account(true)
                .with_scopes(["builds:read", "builds:write"]),
        );
    let builds = get(list_builds)
        .route_layer(RequireAuth::scope("builds:read"))
        .merge(post(start_build).route_layer(RequireAuth::scope("builds:write")));
    // The layer needs a key for cookies; a bearer request never gets one.
    Router::new()
        .route("/builds", builds)
        .layer(SessionLayer::new(Key::generate()).with_token_handler(tokens))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Real tokens come from your secret store; these are new at each start, printed once.
    let new_token = || URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let (reader, writer) = (new_token(), new_token());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("curl -H 'Authorization: Bearer {reader}' http://127.0.0.1:3000/builds");
    println!("curl -X POST -H 'Authorization: Bearer {writer}' http://127.0.0.1:3000/builds");
    axum::serve(listener, app(&reader, &writer)).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use tower::ServiceExt as _;

    /// Sends a request with an optional bearer token: the status and the `WWW-Authenticate` header.
    async fn send(method: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri("/builds");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let app = super::app("reader-token", "writer-token");
        let res = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(
            res.headers().get(header::SET_COOKIE).is_none(),
            "bearer calls set no cookie"
        );
        let challenge = res.headers().get(header::WWW_AUTHENTICATE);
        (
            res.status(),
            challenge.map_or("", |v| v.to_str().unwrap()).to_owned(),
        )
    }

    #[tokio::test]
    async fn scopes_decide_and_every_refusal_says_why() {
        assert_eq!(
            send("GET", Some("reader-token")).await,
            (StatusCode::OK, String::new())
        );
        assert_eq!(
            send("POST", Some("writer-token")).await.0,
            StatusCode::ACCEPTED
        );
        let (status, challenge) = send("POST", Some("reader-token")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(challenge.contains("builds:write"), "{challenge}");
        let (status, challenge) = send("GET", Some("wrong-token")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        let (status, challenge) = send("GET", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge, r#"Bearer realm="sealed-session""#);
    }
}
