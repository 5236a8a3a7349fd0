//! An API protected by access tokens from an identity provider (feature `jwt`).
//!
//! The provider comes from environment variables:
//!
//! | variable | default |
//! |---|---|
//! | `JWT_ISSUER` | `http://127.0.0.1:9400` (keys found through its discovery document) |
//! | `JWT_AUDIENCE` | `https://api.example.org` (the API's identifier; tokens must name it in `aud`) |
//! | `PORT` | `3000` |
//!
//! Try it with the mock authorization server the tests use (Node.js ≥ 20.19):
//!
//! ```text
//! npm ci --prefix tests/oauth
//! node tests/oauth/jwt-mock.mjs --lifetime 0 &    # prints its issuer URL, e.g. http://127.0.0.1:41234
//! JWT_ISSUER=http://127.0.0.1:41234 cargo run --example jwt_api --features jwt
//! TOKEN=$(curl -s -d 'grant_type=client_credentials&scope=reports:read&aud=https://api.example.org' \
//!   http://127.0.0.1:41234/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
//! curl -H "Authorization: Bearer $TOKEN" http://localhost:3000/reports   # 200
//! curl -i http://localhost:3000/reports                                  # 401, Bearer challenge with resource_metadata
//! curl http://localhost:3000/.well-known/oauth-protected-resource        # where to get a token
//! ```

use std::env;

use axum::routing::get;
use axum::Router;
use sealed_session::jwt::{ClaimMapping, Issuer, JwtHandler, ProtectedResource};
use sealed_session::{Key, RequireAuth, Session, SessionLayer, TokenCache};

async fn reports(session: Session) -> String {
    format!(
        "reports for {} (scopes: {})\n",
        session.uid().unwrap_or_default(),
        session.scopes().join(" ")
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let issuer = env::var("JWT_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:9400".to_owned());
    let audience =
        env::var("JWT_AUDIENCE").unwrap_or_else(|_| "https://api.example.org".to_owned());
    let port = env::var("PORT").unwrap_or_else(|_| "3000".to_owned());

    // Tokens from this issuer, for this API; roles from Keycloak's claim if there is one.
    let tokens = JwtHandler::new(
        Issuer::new(issuer.clone(), audience.clone())
            .with_mapping(ClaimMapping::new().and_roles_claim("realm_access.roles")),
    );
    tokens.check()?;
    // RFC 9728: clients (MCP clients among them) learn here where to get a token.
    let metadata = ProtectedResource::new(audience)
        .with_authorization_server(issuer)
        .with_scopes(["reports:read"]);

    let app = Router::new()
        .route(
            "/reports",
            get(reports).route_layer(RequireAuth::scope("reports:read")),
        )
        .layer(
            // The session key only seals cookies, which this API never sets; a fresh one per
            // start is fine. Verified tokens are cached for a minute, never past their `exp`.
            SessionLayer::new(Key::generate())
                .with_token_handler(TokenCache::new(tokens).with_ttl(time::Duration::minutes(1)))
                // Every 401 says where the metadata is (RFC 9728 §5.1).
                .with_resource_metadata(metadata.metadata_url()),
        )
        .route_service(&metadata.well_known_path(), metadata.service()?);

    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
