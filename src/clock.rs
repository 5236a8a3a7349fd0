//! The clock that expiry reads.
//!
//! Every expiry decision reads the time from a [`Clock`]. The default is [`SystemClock`]; tests
//! use `testing::ManualClock` (feature `test-util`) to move time without sleeping.
//!
//! ```
//! use sealed_session::{Clock, SystemClock};
//! use time::OffsetDateTime;
//!
//! let before = OffsetDateTime::now_utc();
//! assert!(SystemClock.now() >= before);
//! ```

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// A source of the current time.
///
/// Implement it to control time in tests, or to read a trusted time source.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock ([`OffsetDateTime::now_utc`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The clock a layer or cache reads: the system clock read directly (no calendar arithmetic, as
/// `OffsetDateTime` does on every read), or a custom [`Clock`].
#[derive(Clone, Default)]
pub(crate) struct ClockSource(Option<Arc<dyn Clock>>);

impl ClockSource {
    pub(crate) fn custom(clock: impl Clock) -> Self {
        Self(Some(Arc::new(clock)))
    }

    /// The current time in Unix seconds, rounded down, as `OffsetDateTime::unix_timestamp`.
    pub(crate) fn unix_seconds(&self) -> i64 {
        match &self.0 {
            Some(clock) => clock.now().unix_timestamp(),
            None => match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                Err(e) => {
                    let d = e.duration();
                    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                    (-secs).saturating_sub(i64::from(d.subsec_nanos() > 0))
                }
            },
        }
    }

    /// The current time in Unix nanoseconds, as `OffsetDateTime::unix_timestamp_nanos`.
    #[cfg(feature = "cache")]
    pub(crate) fn unix_nanos(&self) -> i128 {
        match &self.0 {
            Some(clock) => clock.now().unix_timestamp_nanos(),
            None => match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
                Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
            },
        }
    }
}

/// A layer's "now": its clock's time in Unix seconds, but never earlier than a time this layer
/// has already read, so that a clock stepping back never logs a session out and last-seen never
/// moves back.
pub(crate) struct LayerClock {
    source: ClockSource,
    high_water: AtomicI64,
}

impl LayerClock {
    pub(crate) fn new(source: ClockSource) -> Self {
        Self {
            source,
            high_water: AtomicI64::new(i64::MIN),
        }
    }

    /// The layer's "now", in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        let now = self.source.unix_seconds();
        // Read first: the write (shared between cores) happens once a second, not per request.
        let seen = self.high_water.load(Ordering::Relaxed);
        if now <= seen {
            return seen;
        }
        self.high_water.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// The clock's own time, without the high-water mark (for minting test cookies).
    #[cfg(feature = "test-util")]
    pub(crate) fn source(&self) -> &ClockSource {
        &self.source
    }
}

impl<F> Clock for F
where
    F: Fn() -> OffsetDateTime + Send + Sync + 'static,
{
    fn now(&self) -> OffsetDateTime {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_read_directly_agrees_with_offset_date_time() {
        let system = ClockSource::default();
        let custom = ClockSource::custom(SystemClock);
        let (a, b, c) = (
            custom.unix_seconds(),
            system.unix_seconds(),
            custom.unix_seconds(),
        );
        assert!(a <= b && b <= c);
        #[cfg(feature = "cache")]
        let (a, b, c) = (
            custom.unix_nanos(),
            system.unix_nanos(),
            custom.unix_nanos(),
        );
        assert!(a <= b && b <= c);
    }
}
