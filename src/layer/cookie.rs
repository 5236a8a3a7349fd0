//! The cookie's name, attributes and purpose.

use super::SessionLayer;
use crate::config::SameSite;

impl SessionLayer {
    /// The cookie name. Default `__Host-session`. Renaming a cookie ends every session (the name
    /// is bound into the seal).
    ///
    /// Keep the `__Host-` prefix where you can: without it, a sibling subdomain can plant cookies
    /// with the same name, and since at most four candidates are tried per request, enough
    /// planted cookies hide the real one (the user then appears logged out).
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_cookie_name("__Host-app");
    /// assert!(TestKit::new(&layer).deletion_line().to_str().unwrap().starts_with("__Host-app=;"));
    /// ```
    pub fn with_cookie_name(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.set(|s| s.name = name)
    }

    /// The cookie `Path`. Default `/` (which a `__Host-` name requires).
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_cookie_name("app").with_path("/app");
    /// assert!(TestKit::new(&layer).deletion_line().to_str().unwrap().contains("; Path=/app;"));
    /// ```
    pub fn with_path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.set(|s| s.path = path)
    }

    /// The cookie `Domain`. Default none (host-only), as `__Host-` requires.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_cookie_name("__Secure-session")
    ///     .with_domain("example.com");
    /// let deletion = TestKit::new(&layer).deletion_line().to_str().unwrap().to_owned();
    /// assert!(deletion.contains("; Domain=example.com;"));
    /// ```
    pub fn with_domain(self, domain: impl Into<String>) -> Self {
        let domain = domain.into();
        self.set(|s| s.domain = Some(domain))
    }

    /// The `Secure` attribute. Default on. Turning it off needs a name without a `__Host-` or
    /// `__Secure-` prefix, and is meant for plain-HTTP development only.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, ConfigError, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_secure(false);
    /// assert!(matches!(layer.validate(), Err(ConfigError::HostPrefix { .. })));
    /// let dev = layer.with_cookie_name("dev-session");
    /// assert!(!TestKit::new(&dev).deletion_line().to_str().unwrap().contains("Secure"));
    /// ```
    pub fn with_secure(self, secure: bool) -> Self {
        self.set(|s| s.secure = secure)
    }

    /// The `HttpOnly` attribute. Default on.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_http_only(false);
    /// assert!(!TestKit::new(&layer).deletion_line().to_str().unwrap().contains("HttpOnly"));
    /// ```
    pub fn with_http_only(self, http_only: bool) -> Self {
        self.set(|s| s.http_only = http_only)
    }

    /// The `SameSite` attribute. Default `Lax`. `None` requires `Secure`.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SameSite, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_same_site(SameSite::Strict);
    /// assert!(TestKit::new(&layer).deletion_line().to_str().unwrap().contains("; SameSite=Strict"));
    /// ```
    pub fn with_same_site(self, same_site: SameSite) -> Self {
        self.set(|s| s.same_site = same_site)
    }

    /// The `Partitioned` attribute (CHIPS). Default off. Requires `Secure`.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_partitioned(true);
    /// assert!(TestKit::new(&layer).deletion_line().to_str().unwrap().contains("; Partitioned"));
    /// ```
    pub fn with_partitioned(self, partitioned: bool) -> Self {
        self.set(|s| s.partitioned = partitioned)
    }

    /// Persistent cookies: `Max-Age` set to the smaller of the idle and absolute time left,
    /// capped at 400 days. Default off: a browser-session cookie. Expiry is enforced from the
    /// sealed timestamps either way, never from `Max-Age`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::post, Router};
    /// use sealed_session::{Auth, Identity, Key, SessionLayer};
    /// use time::Duration;
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate())
    ///     .with_persistent(true)
    ///     .with_max_age(Duration::hours(1));
    /// let app = Router::new()
    ///     .route("/login", post(|auth: Auth| async move { auth.login(Identity::new("a")).map(drop) }))
    ///     .layer(layer);
    /// let res = app.oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    /// assert!(res.headers()["set-cookie"].to_str().unwrap().ends_with("; Max-Age=3600"));
    /// # }
    /// ```
    pub fn with_persistent(self, persistent: bool) -> Self {
        self.set(|s| s.persistent = persistent)
    }

    /// The purpose bound into every seal, so apps sharing a key cannot swap cookies. Default
    /// `session`: set it to the app's name when several apps share a key.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    ///
    /// let key = Key::generate();
    /// let wiki = TestKit::new(&SessionLayer::new(key.clone()).with_purpose("wiki"));
    /// let shop = TestKit::new(&SessionLayer::new(key).with_purpose("shop"));
    /// let cookie = wiki.cookie_value(Identity::new("alice"));
    /// assert!(wiki.open(&cookie).is_some());
    /// assert!(shop.open(&cookie).is_none());
    /// ```
    pub fn with_purpose(self, purpose: impl Into<String>) -> Self {
        let purpose = purpose.into();
        self.set(|s| s.purpose = purpose)
    }
}
