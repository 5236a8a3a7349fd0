//! A test kit for apps: mint a valid cookie, control the clock, read the session back.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{body::Body, http::Request, routing::get, Router};
//! use sealed_session::{testing::{ManualClock, TestKit}, Identity, Key, Session, SessionLayer};
//! use time::Duration;
//! use tower::ServiceExt;
//!
//! let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
//! let layer = SessionLayer::new(Key::generate()).with_clock(clock.clone());
//! let kit = TestKit::new(&layer);
//! let app = Router::new()
//!     .route("/me", get(|s: Session| async move { s.uid().unwrap_or_default() }))
//!     .layer(layer);
//!
//! let cookie = kit.cookie_header(Identity::new("alice"));
//! let me = || Request::get("/me").header("cookie", cookie.clone()).body(Body::empty()).unwrap();
//!
//! // Two minutes later: still live, and re-sealed with a fresh last-seen.
//! clock.advance(Duration::minutes(2));
//! let res = app.clone().oneshot(me()).await.unwrap();
//! assert_eq!(res.status(), 200);
//! assert_eq!(kit.session_from_response(&res).unwrap().last_seen(), clock.now());
//!
//! // Eight days later: idle-expired.
//! clock.advance(Duration::days(8));
//! let res = app.oneshot(me()).await.unwrap();
//! assert_eq!(res.status(), 401);
//! assert!(kit.is_deletion(&res));
//! # }
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{HeaderValue, Response};
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::config::Config;
use crate::identity::Identity;
use crate::layer::SessionLayer;
use crate::record::Record;
use crate::session::Session;

/// A clock that moves only when told to. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `now`.
    #[must_use]
    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            nanos: Arc::new(AtomicI64::new(to_nanos(now))),
        }
    }

    /// Sets the time (forwards or backwards).
    pub fn set(&self, now: OffsetDateTime) {
        self.nanos.store(to_nanos(now), Ordering::SeqCst);
    }

    /// Moves the time by `by` (negative to step back).
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// The current time of this clock.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        let nanos = i128::from(self.nanos.load(Ordering::SeqCst));
        OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn to_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        Self::now(self)
    }
}

/// Mints and reads session cookies with a layer's configuration (key, name, purpose, clock).
#[derive(Debug, Clone)]
pub struct TestKit {
    config: Arc<Config>,
}

impl TestKit {
    /// A kit for `layer`.
    ///
    /// # Panics
    ///
    /// When the layer's configuration is invalid, with the [`ConfigError`](crate::ConfigError).
    #[must_use]
    #[allow(clippy::panic)] // Test set-up only.
    pub fn new(layer: &SessionLayer) -> Self {
        match layer.config() {
            Ok(config) => Self { config },
            Err(error) => panic!("{error}"),
        }
    }

    fn now(&self) -> i64 {
        self.config.clock.source().unix_seconds()
    }

    /// The sealed cookie value of a session for `identity`, created and last seen now.
    #[must_use]
    pub fn cookie_value(&self, identity: Identity) -> String {
        let now = self.now();
        self.cookie_value_at(identity, now, now)
    }

    /// The sealed cookie value of a session for `identity` with the given creation and last-seen
    /// times (Unix seconds), for expiry tests.
    #[must_use]
    pub fn cookie_value_at(&self, identity: Identity, created: i64, last_seen: i64) -> String {
        let mut record = Record::login(identity, created);
        record.last_seen = last_seen;
        self.config.cookie.seal_value(&record)
    }

    /// A `Cookie` request header carrying a session for `identity`.
    #[must_use]
    pub fn cookie_header(&self, identity: Identity) -> HeaderValue {
        self.header_for(&self.cookie_value(identity))
    }

    /// A `Cookie` request header carrying `value` under the layer's cookie name.
    #[must_use]
    pub fn header_for(&self, value: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("{}={value}", self.config.cookie.name))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A detached cookie session for `identity`, as a handler would see it.
    #[must_use]
    pub fn session(&self, identity: Identity) -> Session {
        let record = Record::login(identity, self.now());
        Session::from_cookie(record, self.config.resolver.session)
    }

    /// Opens a sealed cookie value (any key of the ring), without checking expiry.
    #[must_use]
    pub fn open(&self, value: &str) -> Option<Session> {
        let (record, _) = self.config.cookie.open(value)?;
        Some(Session::from_cookie(record, self.config.resolver.session))
    }

    /// The value of the response's session `Set-Cookie`, if it has one (a deletion has an empty
    /// value).
    #[must_use]
    pub fn set_cookie_value<B>(&self, response: &Response<B>) -> Option<String> {
        let prefix = format!("{}=", self.config.cookie.name);
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    }

    /// The session the response's `Set-Cookie` carries, if any.
    #[must_use]
    pub fn session_from_response<B>(&self, response: &Response<B>) -> Option<Session> {
        self.open(&self.set_cookie_value(response)?)
    }

    /// Whether the response deletes the session cookie.
    #[must_use]
    pub fn is_deletion<B>(&self, response: &Response<B>) -> bool {
        self.set_cookie_value(response)
            .is_some_and(|v| v.is_empty())
    }

    /// The `Set-Cookie` line that deletes the session cookie.
    #[must_use]
    pub fn deletion_line(&self) -> &HeaderValue {
        &self.config.cookie.deletion
    }
}
