//! OAuth login: configured by `DEMO_OAUTH_ISSUER`, `DEMO_OAUTH_CLIENT_ID` and
//! `DEMO_OAUTH_CLIENT_SECRET`. When the issuer is set, the login page offers "Sign in with …",
//! which goes to `/auth?login=<return path>`.
//!
//! The flow itself is the crate's `/auth` service (feature `oauth`): the demo discovers the
//! provider at start-up, maps its answer to a session, and mounts the service at [`MOUNT_PATH`].
//! Built without the feature, `/auth` answers a page that says how to turn it on.
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
    /// The crate's `/auth` service, once [`OAuthSettings::connect`] has discovered the provider.
    #[cfg(feature = "oauth")]
    service: Option<sealed_session::oauth::AuthService>,
}

impl fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
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
        Ok(())
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
    }
}
