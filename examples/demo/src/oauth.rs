//! OAuth login: configured by `DEMO_OAUTH_ISSUER`, `DEMO_OAUTH_CLIENT_ID` and
//! `DEMO_OAUTH_CLIENT_SECRET`. When the issuer is set, the login page offers "Sign in with …",
//! which goes to `/auth?login=<return path>`.
//!
//! The flow itself is the crate's `/auth` service (feature `oauth`): the demo discovers the
//! provider at start-up, maps its answer to a session, and mounts the service at [`MOUNT_PATH`].
//! Built without the feature, `/auth` answers a page that says how to turn it on.
//!
//! With the feature, the JSON API also accepts the provider's JWT access tokens ([`ApiTokens`]):
//! signed by the issuer's keys (found through its discovery document), for the audience
//! `DEMO_OAUTH_AUDIENCE` (default: the demo's own URL, `http://127.0.0.1:<port>`), with the
//! token's `scope` as the session's scopes. A token by client credentials from the mock:
//!
//! ```text
//! curl -s -d grant_type=client_credentials -d scope=builds:read -d aud=http://127.0.0.1:3000 \
//!   http://127.0.0.1:9400/token
//! ```
//!
//! Try it with the mock provider the tests use:
//!
//! ```text
//! npm ci --prefix tests/oauth
//! node tests/oauth/mock-server.mjs --port 9400 --lifetime 0 &
//! DEMO_OAUTH_ISSUER=http://127.0.0.1:9400 cargo run -p sealed-session-demo --features oauth
//! ```

use std::fmt;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::pages::{escape, notice, Page, Viewer};

/// Where the auth service is mounted (also the OAuth redirect URI's path).
pub(crate) const MOUNT_PATH: &str = "/auth";

/// The OAuth provider, from the environment.
#[derive(Clone)]
pub(crate) struct OAuthSettings {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    /// Never printed.
    pub(crate) client_secret: Option<String>,
    /// The `aud` the API's JWT access tokens must name (`DEMO_OAUTH_AUDIENCE`); `None`: the
    /// demo's own URL.
    pub(crate) audience: Option<String>,
    /// The API's handler for the provider's JWT access tokens, behind its own cache, once
    /// [`OAuthSettings::connect`] has run.
    #[cfg(feature = "oauth")]
    jwt: Option<sealed_session::TokenCache>,
    /// The crate's `/auth` service, once [`OAuthSettings::connect`] has discovered the provider.
    #[cfg(feature = "oauth")]
    service: Option<sealed_session::oauth::AuthService>,
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("audience", &self.audience)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "REDACTED"),
            )
            .finish()
    }
}

impl OAuthSettings {
    /// `None` unless `DEMO_OAUTH_ISSUER` is set.
    pub(crate) fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let issuer = env("DEMO_OAUTH_ISSUER").filter(|s| !s.trim().is_empty())?;
        Some(Self {
            issuer,
            client_id: env("DEMO_OAUTH_CLIENT_ID").unwrap_or_else(|| "sealed-session-demo".into()),
            client_secret: env("DEMO_OAUTH_CLIENT_SECRET"),
            audience: env("DEMO_OAUTH_AUDIENCE").filter(|s| !s.trim().is_empty()),
            #[cfg(feature = "oauth")]
            jwt: None,
            #[cfg(feature = "oauth")]
            service: None,
        })
    }

    /// Discovers the provider and builds the `/auth` service for an app served at `base_url`.
    #[cfg(feature = "oauth")]
    pub(crate) async fn connect(
        &mut self,
        base_url: &str,
        db: crate::store::Db,
    ) -> Result<(), String> {
        use sealed_session::oauth::{MapError, OAuthLogin, Provider, ProviderAnswer};
        use sealed_session::Identity;

        let mut provider = Provider::discover(self.issuer.clone(), self.client_id.clone())
            .await
            .map_err(|e| format!("{e} (is the provider at {} running?)", self.issuer))?
            .with_scopes(["openid", "email"]);
        if let Some(secret) = &self.client_secret {
            provider = provider.with_client_secret(secret.as_str());
        }
        let login = OAuthLogin::new(provider, base_url)
            .with_mount_path(MOUNT_PATH)
            .with_identity(move |answer: ProviderAnswer| {
                let db = db.clone();
                async move {
                    // Provider accounts live in their own namespace (`oauth:<sub>`), so a provider
                    // subject can never be mistaken for a local account of the same name.
                    // (One provider, so the bare `sub`; the default mapping's uid would be
                    // `<issuer>#<sub>`.)
                    let identity = answer
                        .oidc_identity()
                        .ok_or_else(|| MapError::denied("the provider sent no subject"))?;
                    let uid = format!("oauth:{}", answer.subject().unwrap_or_default());
                    // A users row (no password: it cannot sign in with one), so tokens and "sign
                    // out everywhere" work for provider accounts as for local ones.
                    let row = uid.clone();
                    db.call(move |conn| {
                        conn.execute(
                            "INSERT OR IGNORE INTO users (uid, scopes) VALUES (?1, 'builds:read')",
                            [&row],
                        )?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| MapError::backend(e.to_string()))?;
                    Ok(Some(
                        Identity::new(uid)
                            .with_mfa(identity.mfa())
                            .with_groups(identity.groups().to_vec())
                            .with_metadata(identity.metadata().clone())
                            .with_scopes(["builds:read"]),
                    ))
                }
            });
        self.service = Some(login.service().map_err(|e| e.to_string())?);

        // The API's access tokens: the same issuer, this API as the audience. Verified tokens
        // are cached for a minute, never past their `exp`.
        let audience = self.api_audience(base_url);
        let jwt = sealed_session::jwt::JwtHandler::new(sealed_session::jwt::Issuer::new(
            self.issuer.clone(),
            audience,
        ));
        jwt.check()
            .map_err(|e| format!("the API's JWT access tokens: {e}"))?;
        self.jwt = Some(sealed_session::TokenCache::new(jwt).with_ttl(time::Duration::minutes(1)));
        Ok(())
    }

    /// The `aud` the API's access tokens must carry: `DEMO_OAUTH_AUDIENCE`, else `base_url`.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))] // printed in the banner with `oauth`
    pub(crate) fn api_audience(&self, base_url: &str) -> String {
        self.audience.clone().unwrap_or_else(|| base_url.to_owned())
    }

    /// The handler for the provider's JWT access tokens, once connected.
    #[cfg(feature = "oauth")]
    pub(crate) fn jwt_tokens(&self) -> Option<&sealed_session::TokenCache> {
        self.jwt.as_ref()
    }
}

/// The API's token handler with OAuth configured: a token that looks like a JWT (three
/// dot-separated parts) goes to the provider's [`JwtHandler`](sealed_session::jwt::JwtHandler)
/// only; anything else (the demo's `demo_pat_…` personal tokens, which never contain a dot) to
/// the SQL token store only. A forged JWT is never looked up in the database, and a personal
/// token never reaches the JWT parser.
#[cfg(feature = "oauth")]
#[derive(Debug, Clone)]
pub(crate) struct ApiTokens<J, P> {
    pub(crate) jwt: J,
    pub(crate) personal: P,
}

/// Three non-empty parts separated by dots: the compact form of a JWS.
#[cfg(feature = "oauth")]
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty()
    )
}

#[cfg(feature = "oauth")]
#[sealed_session::async_trait]
impl<J: sealed_session::TokenHandler, P: sealed_session::TokenHandler> sealed_session::TokenHandler
    for ApiTokens<J, P>
{
    async fn resolve(
        &self,
        token: &str,
    ) -> Result<Option<sealed_session::Identity>, sealed_session::TokenError> {
        if looks_like_jwt(token) {
            self.jwt.resolve(token).await
        } else {
            self.personal.resolve(token).await
        }
    }

    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<sealed_session::Identity, Option<&'static str>>, sealed_session::TokenError>
    {
        if looks_like_jwt(token) {
            self.jwt.resolve_checked(token).await
        } else {
            self.personal.resolve_checked(token).await
        }
    }
}

/// Whether this build can run the OAuth flow: built with the crate's `oauth` feature.
pub(crate) const AVAILABLE: bool = cfg!(feature = "oauth");

/// Mounts the auth service at [`MOUNT_PATH`] when OAuth is configured.
pub(crate) fn mount<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: Option<&OAuthSettings>,
) -> Router<S> {
    let Some(settings) = settings else {
        return router;
    };
    #[cfg(feature = "oauth")]
    if let Some(service) = &settings.service {
        return router.route_service(MOUNT_PATH, service.clone());
    }
    // Built without the `oauth` feature: say how to get it.
    let issuer = settings.issuer.clone();
    router.route(
        MOUNT_PATH,
        get(move || async move {
            let body = notice(
                "note",
                &format!(
                    "OAuth is configured (issuer <code>{}</code>), but the demo was built without \
                     the crate's <code>oauth</code> feature: run it with \
                     <code>cargo run -p sealed-session-demo --features oauth</code>. Sign in with a local \
                     account meanwhile.",
                    escape(&issuer)
                ),
            ) + r#"<p><a href="/login">Back to the sign-in page</a></p>"#;
            Page::new("OAuth login", Viewer::default(), body)
                .with_status(StatusCode::NOT_IMPLEMENTED)
                .into_response()
        }),
    )
}

/// The login page's OAuth section: empty unless configured.
pub(crate) fn login_section(settings: Option<&OAuthSettings>, return_path: &str) -> String {
    let Some(settings) = settings else {
        return String::new();
    };
    let href = format!("{MOUNT_PATH}?login={}", percent_encode(return_path));
    format!(
        r#"<h2>Or</h2><p><a id="oauth-login" href="{}">Sign in with {}</a></p>"#,
        escape(&href),
        escape(&settings.issuer)
    )
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_only_by_the_issuer_and_the_secret_never_prints() {
        assert!(OAuthSettings::from_env(|_| None).is_none());
        let s = OAuthSettings::from_env(|k| match k {
            "DEMO_OAUTH_ISSUER" => Some("http://127.0.0.1:9000".into()),
            "DEMO_OAUTH_CLIENT_SECRET" => Some("s3cret-value".into()),
            _ => None,
        })
        .unwrap();
        assert!(!format!("{s:?}").contains("s3cret-value"));
        let section = login_section(Some(&s), "/session?a=1");
        assert!(
            section.contains(r#"href="/auth?login=/session%3Fa%3D1""#),
            "{section}"
        );
        assert!(login_section(None, "/").is_empty());
        assert_eq!(s.api_audience("http://127.0.0.1:1"), "http://127.0.0.1:1");
        let s = OAuthSettings::from_env(|k| match k {
            "DEMO_OAUTH_ISSUER" => Some("http://127.0.0.1:9000".into()),
            "DEMO_OAUTH_AUDIENCE" => Some("https://builds.example".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            s.api_audience("http://127.0.0.1:1"),
            "https://builds.example"
        );
    }

    #[cfg(feature = "oauth")]
    #[tokio::test]
    async fn jwt_shaped_tokens_go_to_the_jwt_handler_only() {
        use sealed_session::{token_fn, Identity, TokenHandler};

        assert!(looks_like_jwt("a.b.c"));
        for not in ["demo_pat_abc", "a.b", "a.b.c.d", "a..c", ".b.c", "a.b.", ""] {
            assert!(!looks_like_jwt(not), "{not}");
        }
        let tokens = ApiTokens {
            jwt: token_fn(|t: String| async move {
                Ok((t == "h.p.s").then(|| Identity::new("from-jwt")))
            }),
            personal: token_fn(|t: String| async move {
                Ok((t == "demo_pat_x" || t == "h.p.s").then(|| Identity::new("from-sql")))
            }),
        };
        let uid = |i: Option<Identity>| i.and_then(|i| i.uid().map(str::to_owned));
        assert_eq!(
            uid(tokens.resolve("h.p.s").await.unwrap()).as_deref(),
            Some("from-jwt")
        );
        assert_eq!(
            uid(tokens.resolve("demo_pat_x").await.unwrap()).as_deref(),
            Some("from-sql")
        );
        // A JWT the JWT handler refuses is refused: never tried as a personal token.
        assert!(tokens.resolve("x.y.z").await.unwrap().is_none());
        assert!(tokens.resolve_checked("demo_pat_y").await.unwrap().is_err());
    }
}
