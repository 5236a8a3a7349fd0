//! OAuth login: configured by `DEMO_OAUTH_ISSUER`, `DEMO_OAUTH_CLIENT_ID` and
//! `DEMO_OAUTH_CLIENT_SECRET`. When the issuer is set, the login page offers "Sign in with …",
//! which goes to `/auth?login=<return path>`.
//!
//! The login flow itself belongs to the crate (issue #5: the `oauth` feature, a mountable
//! `/auth` service under `SessionLayer`). Until it exists, [`mount`] serves a page that says so.
//! **OAUTH MOUNT POINT:** replace the body of [`mount`] with the crate's service, for example
//! `router.route_service(MOUNT_PATH, login.service()?)`, built from [`OAuthSettings`].

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
        })
    }
}

/// Whether this build can run the OAuth flow. `false` until the crate's `oauth` feature exists.
pub(crate) const AVAILABLE: bool = false;

/// Mounts the auth service at [`MOUNT_PATH`] when OAuth is configured.
pub(crate) fn mount<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    settings: Option<&OAuthSettings>,
) -> Router<S> {
    let Some(settings) = settings else {
        return router;
    };
    // OAUTH MOUNT POINT (issue #5): until the crate ships its auth service, say so.
    let issuer = settings.issuer.clone();
    router.route(
        MOUNT_PATH,
        get(move || async move {
            let body = notice(
                "note",
                &format!(
                    "OAuth is configured (issuer <code>{}</code>), but this build of the crate \
                     has no OAuth login yet (issue #5). Sign in with a local account instead.",
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
