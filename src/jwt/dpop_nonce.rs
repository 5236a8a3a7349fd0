//! [`DpopNonces`]: server-issued DPoP nonces (RFC 9449 §8 and §9, `use_dpop_nonce`).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::clock::{Clock, ClockSource};
use crate::config::ConfigError;

/// How long one nonce window lasts, by default: a nonce is accepted for one to two of them.
pub const DEFAULT_NONCE_PERIOD: Duration = Duration::from_secs(300);
/// The shortest secret [`DpopNonces::new`] takes, in bytes.
pub const MIN_NONCE_SECRET: usize = 32;
/// How far ahead another instance's clock may be: the next window's nonce is accepted this
/// long before the window starts.
const NEXT_WINDOW_ALLOWANCE: i64 = 5;
/// What is MACed before the window number, so these MACs are never those of another use of
/// the same secret.
const CONTEXT: &[u8] = b"sealed-session DPoP nonce v1\0";

/// Stateless DPoP nonces (RFC 9449 §8 and §9), shared by every instance with the same secret;
/// in a layer through [`DpopSupport::with_nonces`](super::DpopSupport::with_nonces).
///
/// A nonce limits how long a proof made in advance stays usable: with nonces on, a proof must
/// carry a `nonce` claim the server issued recently. The server hands one out in the
/// `DPoP-Nonce` header of a 401 whose `DPoP` challenge says `error="use_dpop_nonce"`; the client
/// makes a new proof with it and retries.
///
/// The nonces here are **stateless**: a nonce is the HMAC-SHA256, under a secret the app gives,
/// of the number of the current time window (default 5 minutes). Every instance configured with
/// the same secret issues and accepts the same nonces, without a store. The nonce of the
/// previous window is accepted too (a grace window: a nonce handed out just before a window ends
/// stays usable for one more), and the next window's within a few seconds of its start (clocks
/// of two instances differ a little). Without the secret, a nonce cannot be guessed or made for
/// a future window.
///
/// ```
/// use sealed_session::jwt::DpopNonces;
/// use sealed_session::testing::ManualClock;
/// use time::{macros::datetime, Duration};
///
/// let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
/// let secret = b"a nonce secret of at least 32 bytes, shared by every instance";
/// let nonces = DpopNonces::new(secret).unwrap().with_clock(clock.clone());
/// // Another instance with the same secret agrees.
/// let other = DpopNonces::new(secret).unwrap().with_clock(clock.clone());
/// let issued = nonces.current();
/// assert_eq!(other.current(), issued);
/// assert!(other.accepts(&issued));
///
/// // The next window: a new nonce, and the previous one is still accepted.
/// clock.advance(Duration::minutes(5));
/// assert_ne!(nonces.current(), issued);
/// assert!(nonces.accepts(&issued));
/// // Two windows later it is not, and neither is anything made up.
/// clock.advance(Duration::minutes(5));
/// assert!(!nonces.accepts(&issued));
/// assert!(!nonces.accepts("made-up"));
/// // A short secret is refused.
/// assert!(DpopNonces::new(b"short").is_err());
/// ```
///
/// Clones share one secret. `Debug` never shows it.
#[derive(Clone)]
pub struct DpopNonces {
    mac: Arc<Hmac<Sha256>>,
    period: i64,
    clock: ClockSource,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("secret", &"<redacted>")
            .field("period_seconds", &self.period)
            .finish()
    }
}

impl DpopNonces {
    /// Nonces made with `secret` (at least 32 bytes; give every instance the same one, and keep
    /// it out of the code like any key). Windows of 5 minutes, on the system clock.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidDpop`] when the secret is shorter than 32 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ConfigError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_NONCE_SECRET {
            return Err(ConfigError::InvalidDpop {
                reason: format!("the nonce secret must be at least {MIN_NONCE_SECRET} bytes"),
            });
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| {
            ConfigError::InvalidDpop {
                reason: "the nonce secret cannot key HMAC-SHA256".to_owned(),
            }
        })?;
        Ok(Self {
            mac: Arc::new(mac),
            period: period_seconds(DEFAULT_NONCE_PERIOD),
            clock: ClockSource::default(),
        })
    }

    /// Nonces with a random secret from the operating system: for a single instance (another
    /// instance would not accept them). `None` when the system has no randomness to give.
    ///
    /// ```
    /// use sealed_session::jwt::DpopNonces;
    ///
    /// let nonces = DpopNonces::try_generate().unwrap();
    /// assert!(nonces.accepts(&nonces.current()));
    /// ```
    #[must_use]
    pub fn try_generate() -> Option<Self> {
        use rand::RngCore as _;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.try_fill_bytes(&mut secret).ok()?;
        Self::new(secret).ok()
    }

    /// How long a window lasts (at least one second; default 5 minutes). A nonce is accepted in
    /// its window and the next one.
    ///
    /// ```
    /// use sealed_session::jwt::DpopNonces;
    /// use std::time::Duration;
    ///
    /// let nonces = DpopNonces::new([7u8; 32]).unwrap().with_period(Duration::from_secs(60));
    /// assert_eq!(nonces.period(), Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = period_seconds(period);
        self
    }

    /// The length of a window.
    #[must_use]
    pub fn period(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.period).unwrap_or(1))
    }

    /// The clock windows are read from (default the system clock). Instances that share
    /// nonces need clocks within a few seconds of each other.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::custom(clock);
        self
    }

    /// The nonce to hand out now (`DPoP-Nonce`): 43 base64url characters.
    ///
    /// ```
    /// use sealed_session::jwt::DpopNonces;
    ///
    /// let nonces = DpopNonces::new([7u8; 32]).unwrap();
    /// let nonce = nonces.current();
    /// assert_eq!(nonce.len(), 43);
    /// assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    /// ```
    #[must_use]
    pub fn current(&self) -> String {
        self.for_window(self.window(self.clock.unix_seconds()))
    }

    /// Whether `nonce` is one this secret issued for the current window or the previous one
    /// (or the next one, within a few seconds of its start). Compared in constant time.
    ///
    /// ```
    /// use sealed_session::jwt::DpopNonces;
    ///
    /// let ours = DpopNonces::new([7u8; 32]).unwrap();
    /// let theirs = DpopNonces::new([8u8; 32]).unwrap();
    /// assert!(ours.accepts(&ours.current()));
    /// assert!(!ours.accepts(&theirs.current()));
    /// ```
    #[must_use]
    pub fn accepts(&self, nonce: &str) -> bool {
        let now = self.clock.unix_seconds();
        let current = self.window(now);
        let next = self.window(now.saturating_add(NEXT_WINDOW_ALLOWANCE));
        let mut accepted = false;
        for window in [current.saturating_sub(1), current, next] {
            let expected = self.for_window(window);
            // No early exit: the time taken does not say which window matched.
            accepted |= bool::from(expected.as_bytes().ct_eq(nonce.as_bytes()));
        }
        accepted
    }

    fn window(&self, unix_seconds: i64) -> i64 {
        unix_seconds.div_euclid(self.period)
    }

    fn for_window(&self, window: i64) -> String {
        let mut mac = (*self.mac).clone();
        mac.update(CONTEXT);
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

fn period_seconds(period: Duration) -> i64 {
    i64::try_from(period.as_secs()).unwrap_or(i64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ManualClock;
    use time::macros::datetime;

    fn nonces(clock: &ManualClock) -> DpopNonces {
        DpopNonces::new([42u8; 32])
            .unwrap()
            .with_period(Duration::from_secs(60))
            .with_clock(clock.clone())
    }

    #[test]
    fn a_nonce_lives_for_its_window_and_the_next_one() {
        let clock = ManualClock::new(datetime!(2026-01-01 00:00:10 UTC));
        let n = nonces(&clock);
        let first = n.current();
        clock.advance(time::Duration::seconds(49));
        assert_eq!(n.current(), first, "same window");
        clock.advance(time::Duration::seconds(1));
        let second = n.current();
        assert_ne!(second, first, "a new window, a new nonce");
        assert!(n.accepts(&first), "grace: the previous window");
        assert!(n.accepts(&second));
        clock.advance(time::Duration::seconds(60));
        assert!(!n.accepts(&first), "two windows old");
        assert!(n.accepts(&second));
    }

    #[test]
    fn the_next_windows_nonce_is_accepted_only_just_before_it_starts() {
        let clock = ManualClock::new(datetime!(2026-01-01 00:00:00 UTC));
        let ahead = ManualClock::new(datetime!(2026-01-01 00:01:00 UTC));
        let from_ahead = nonces(&ahead).current();
        let n = nonces(&clock);
        assert!(!n.accepts(&from_ahead), "a minute early");
        clock.advance(time::Duration::seconds(54));
        assert!(!n.accepts(&from_ahead), "six seconds early");
        clock.advance(time::Duration::seconds(1));
        assert!(n.accepts(&from_ahead), "an instance five seconds ahead");
    }

    #[test]
    fn nonces_depend_on_the_secret_and_never_show_it() {
        let clock = ManualClock::new(datetime!(2026-01-01 00:00:00 UTC));
        let a = nonces(&clock);
        let b = DpopNonces::new([43u8; 32])
            .unwrap()
            .with_period(Duration::from_secs(60))
            .with_clock(clock);
        assert_ne!(a.current(), b.current());
        assert!(!a.accepts(&b.current()));
        assert!(!a.accepts(""));
        assert!(!a.accepts(&a.current()[..42]));
        let shown = format!("{a:?}");
        assert!(
            shown.contains("redacted") && !shown.contains("42, 42"),
            "{shown}"
        );
        assert!(matches!(
            DpopNonces::new([1u8; 31]),
            Err(ConfigError::InvalidDpop { .. })
        ));
    }

    #[test]
    fn the_period_is_at_least_a_second() {
        let n = DpopNonces::new([1u8; 32])
            .unwrap()
            .with_period(Duration::ZERO);
        assert_eq!(n.period(), Duration::from_secs(1));
        assert!(n.accepts(&n.current()));
    }
}
