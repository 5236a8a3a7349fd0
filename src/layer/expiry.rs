//! Expiry: the idle timeout, the max age, renewal, the clock-skew allowance and the clock.

use time::Duration;

use super::SessionLayer;
use crate::clock::{Clock, ClockSource};

impl SessionLayer {
    /// Idle timeout: a session not seen for this long is expired. Default: the smaller of 7 days
    /// and the max age, so that setting only a short max age never contradicts it.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_idle_timeout(Duration::hours(8));
    /// let session = TestKit::new(&layer).session(Identity::new("alice"));
    /// assert_eq!(session.expires_at(), Some(session.last_seen() + Duration::hours(8)));
    /// ```
    pub fn with_idle_timeout(self, idle: Duration) -> Self {
        self.set(|s| s.idle = Some(idle))
    }

    /// Absolute max age: a session this old is expired, however active. Default 30 days.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Identity, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// // Alone, a max age shorter than 7 days is also the idle timeout.
    /// let layer = SessionLayer::new(Key::generate()).with_max_age(Duration::hours(24));
    /// let session = TestKit::new(&layer).session(Identity::new("alice"));
    /// assert_eq!(session.expires_at(), Some(session.created_at() + Duration::hours(24)));
    /// ```
    pub fn with_max_age(self, max_age: Duration) -> Self {
        self.set(|s| s.max_age = max_age)
    }

    /// How stale last-seen must be before a live cookie is re-sealed (sliding renewal). Default:
    /// the smaller of 60 seconds and half the idle timeout; must be below the idle timeout. Zero
    /// re-seals on every request.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_idle_timeout(Duration::hours(1));
    /// assert_eq!(layer.clone().with_refresh_interval(Duration::minutes(5)).validate(), Ok(()));
    /// assert_eq!(
    ///     layer.with_refresh_interval(Duration::hours(1)).validate(),
    ///     Err(ConfigError::RefreshNotBelowIdle)
    /// );
    /// ```
    pub fn with_refresh_interval(self, refresh: Duration) -> Self {
        self.set(|s| s.refresh = Some(refresh))
    }

    /// How far in the future a creation time may be and still be accepted. Default: the smaller
    /// of 60 seconds and half the idle timeout; must be below the idle timeout.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate()).with_idle_timeout(Duration::minutes(10));
    /// assert_eq!(layer.clone().with_clock_skew(Duration::seconds(5)).validate(), Ok(()));
    /// assert_eq!(
    ///     layer.with_clock_skew(Duration::minutes(10)).validate(),
    ///     Err(ConfigError::SkewNotBelowIdle)
    /// );
    /// ```
    pub fn with_clock_skew(self, skew: Duration) -> Self {
        self.set(|s| s.skew = Some(skew))
    }

    /// The clock expiry reads. Default [`SystemClock`](crate::SystemClock).
    ///
    /// ```
    /// use sealed_session::{testing::{ManualClock, TestKit}, Identity, Key, SessionLayer};
    /// use time::macros::datetime;
    ///
    /// let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
    /// let layer = SessionLayer::new(Key::generate()).with_clock(clock);
    /// let session = TestKit::new(&layer).session(Identity::new("alice"));
    /// assert_eq!(session.created_at(), datetime!(2026-01-01 00:00 UTC));
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock = ClockSource::custom(clock);
        self.set(|s| s.clock = clock)
    }
}
