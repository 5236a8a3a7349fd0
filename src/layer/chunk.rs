//! Splitting sessions over 4 KB across several cookies.

use super::SessionLayer;

impl SessionLayer {
    /// Lets a session be split across up to `chunks` cookies (`__Host-session`,
    /// `__Host-session.1`, …), each within the browser's 4,096-byte limit, for sessions that
    /// outgrow one cookie (about 3,000 bytes of plaintext). Default 1: not split, and a change
    /// that would not fit is refused ([`SessionError::TooLarge`](crate::SessionError::TooLarge)).
    /// At most [`MAX_COOKIE_CHUNKS`](crate::MAX_COOKIE_CHUNKS); a value outside `1..=8` is a
    /// [`ConfigError::InvalidCookieChunks`](crate::ConfigError::InvalidCookieChunks).
    ///
    /// The sealed value is one AEAD message: it opens only with every chunk present, in order,
    /// once; otherwise the request has no session and the response deletes every chunk. Chunks a
    /// shrunk session no longer needs are deleted. Every request carries every chunk: `chunks`
    /// cookies of up to 4 KB each, so keep `chunks` small (servers commonly refuse request
    /// headers over 8 to 16 KB).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::{body::Body, http::Request, routing::post, Router};
    /// use sealed_session::{Auth, Identity, Key, SessionLayer};
    /// use tower::ServiceExt;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_cookie_chunks(3);
    /// let app = Router::new()
    ///     .route("/login", post(|auth: Auth| async move {
    ///         let committees: Vec<String> = (0..400).map(|i| format!("committee-{i}")).collect();
    ///         auth.login(Identity::new("alice").with_groups(committees)).map(|_| "ok").map_err(|e| e.to_string())
    ///     }))
    ///     .layer(layer);
    /// let res = app.oneshot(Request::post("/login").body(Body::empty()).unwrap()).await.unwrap();
    /// assert_eq!(res.status(), 200);
    /// let lines: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    /// assert_eq!(lines.len(), 3, "two chunks and the deletion of the third");
    /// // Name and value together within 4,096 bytes, as RFC 6265bis counts them.
    /// for line in lines {
    ///     let (name, value) = line.to_str().unwrap().split(';').next().unwrap().split_once('=').unwrap();
    ///     assert!(name.len() + value.len() <= 4096);
    /// }
    /// # }
    /// ```
    pub fn with_cookie_chunks(self, chunks: usize) -> Self {
        self.set(|s| s.chunks = chunks)
    }
}
