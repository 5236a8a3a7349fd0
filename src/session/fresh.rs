//! How fresh a session is, on the layer's clock: time since it was last used, since it began,
//! and since the caller last authenticated. For per-route limits stricter than the layer's
//! (asfquart's `session.read(expiry_time=…)`) and re-authentication before sensitive changes;
//! see [`Requirement::max_idle`](crate::Requirement::max_idle) and
//! [`Requirement::max_auth_age`](crate::Requirement::max_auth_age).

use time::Duration;

use super::Session;

impl Session {
    /// How long the session had been unused when this request came: the request's time minus
    /// the last-seen time sealed in the cookie (zero for a bearer or Basic session, which is
    /// made for each request). Never negative.
    ///
    /// ```
    /// use sealed_session::{testing::{ManualClock, TestKit}, Identity, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()).with_clock(clock.clone()));
    /// let value = kit.cookie_value(Identity::new("alice"));
    /// clock.advance(Duration::hours(2));
    /// let session = kit.open(&value).unwrap();
    /// assert_eq!(session.idle_for(), Duration::hours(2));
    /// ```
    #[must_use]
    pub fn idle_for(&self) -> Duration {
        self.since(self.read(|r| r.last_seen))
    }

    /// How long ago the session began (its creation time), on the layer's clock. Never
    /// negative.
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.age(), time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn age(&self) -> Duration {
        self.since(self.read(|r| r.created))
    }

    /// How long ago the caller last authenticated ([`Session::auth_time`]), on the layer's
    /// clock. Never negative.
    ///
    /// ```
    /// # use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// # let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let session = kit.session(Identity::new("alice"));
    /// assert_eq!(session.auth_age(), time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn auth_age(&self) -> Duration {
        self.since(self.read(|r| r.auth_time))
    }

    fn since(&self, then: i64) -> Duration {
        Duration::seconds(self.inner.now.saturating_sub(then).max(0))
    }
}
