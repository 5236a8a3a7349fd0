//! The clock that expiry reads.
//!
//! Every expiry decision reads the time from a [`Clock`]. The default is [`SystemClock`]; tests
//! use [`ManualClock`](crate::testing::ManualClock) to move time without sleeping.
//!
//! ```
//! use sealed_session::{Clock, SystemClock};
//! use time::OffsetDateTime;
//!
//! let before = OffsetDateTime::now_utc();
//! assert!(SystemClock.now() >= before);
//! ```

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

impl<F> Clock for F
where
    F: Fn() -> OffsetDateTime + Send + Sync + 'static,
{
    fn now(&self) -> OffsetDateTime {
        self()
    }
}
