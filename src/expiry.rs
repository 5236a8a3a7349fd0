//! Expiry arithmetic: idle timeout, absolute max age and clock skew, in whole Unix seconds.
//!
//! A session is expired when `now − t ≥ limit`. Differences are taken in `i128`, where no pair of
//! `i64` timestamps can overflow, so the verdicts are exact for every input and monotone in
//! `now`: once expired, a later `now` is expired too.

/// What the timestamps of a record say at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Live.
    Live,
    /// Idle for the idle timeout or longer.
    Idle,
    /// Created the max age ago or longer.
    Absolute,
    /// Created further in the future than the skew allowance, or unrepresentable.
    Future,
}

/// The limits, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) idle: i64,
    pub(crate) max_age: i64,
    pub(crate) skew: i64,
}

impl Limits {
    /// Checks `created` and `last_seen` at `now`.
    ///
    /// A `last_seen` ahead of `now` (a clock that stepped back) counts as zero idle time: a
    /// backwards step never expires a session. A `created` ahead of `now` is accepted within the
    /// skew allowance and refused beyond it.
    pub(crate) fn check(&self, now: i64, created: i64, last_seen: i64) -> Verdict {
        let age = i128::from(now) - i128::from(created);
        let idle = i128::from(now) - i128::from(last_seen);
        if age >= i128::from(self.max_age) {
            return Verdict::Absolute;
        }
        if -age > i128::from(self.skew) {
            return Verdict::Future;
        }
        if idle >= i128::from(self.idle) {
            return Verdict::Idle;
        }
        Verdict::Live
    }

    /// Seconds the session has left at `now`: the smaller of the idle time left after
    /// `last_seen` and the absolute time left after `created`, within `0..=idle` (a last-seen
    /// ahead of `now` never stretches a cookie's life past one idle timeout).
    pub(crate) fn remaining(&self, now: i64, created: i64, last_seen: i64) -> i64 {
        let left = |start: i64, limit: i64| i128::from(start) + i128::from(limit) - i128::from(now);
        let left = left(created, self.max_age)
            .min(left(last_seen, self.idle))
            .clamp(0, i128::from(self.idle));
        i64::try_from(left).unwrap_or(0)
    }
}

/// `last_seen` after activity at `now`: never moves back.
pub(crate) fn touch(last_seen: i64, now: i64) -> i64 {
    last_seen.max(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        idle: 100,
        max_age: 1000,
        skew: 10,
    };

    #[test]
    fn idle_boundary_is_inclusive() {
        assert_eq!(L.check(1099, 1000, 1000), Verdict::Live);
        assert_eq!(L.check(1100, 1000, 1000), Verdict::Idle);
    }

    #[test]
    fn absolute_boundary_is_inclusive_and_ignores_activity() {
        assert_eq!(L.check(1999, 1000, 1990), Verdict::Live);
        assert_eq!(L.check(2000, 1000, 1999), Verdict::Absolute);
    }

    #[test]
    fn future_creation_within_skew_is_accepted() {
        assert_eq!(L.check(1000, 1010, 1010), Verdict::Live);
        assert_eq!(L.check(1000, 1011, 1011), Verdict::Future);
    }

    #[test]
    fn a_backwards_clock_never_expires() {
        // last seen far ahead of now: zero idle time, not an expiry.
        assert_eq!(L.check(1000, 900, 5000), Verdict::Live);
        assert_eq!(touch(5000, 1000), 5000);
        assert_eq!(touch(1000, 5000), 5000);
    }

    #[test]
    fn extremes_do_not_overflow() {
        for &(now, c, l) in &[
            (i64::MIN, i64::MAX, i64::MAX),
            (i64::MAX, i64::MIN, i64::MIN),
            (0, i64::MIN, 0),
            (i64::MAX, i64::MAX, i64::MIN),
        ] {
            let _ = L.check(now, c, l);
            let _ = L.remaining(now, c, l);
        }
        assert_eq!(L.check(i64::MAX, i64::MIN, 0), Verdict::Absolute);
        assert_eq!(L.check(i64::MIN, i64::MAX, i64::MAX), Verdict::Future);
        assert_eq!(L.remaining(i64::MAX, i64::MAX, i64::MAX), 100);
        assert_eq!(L.remaining(i64::MIN, i64::MAX, i64::MAX), 100);
        assert_eq!(L.remaining(i64::MAX, i64::MIN, i64::MIN), 0);
    }

    /// Regression (fuzz target `expiry`): an age past `i64::MAX` is expired, not "future", so a
    /// later `now` never turns an expired session into a different verdict.
    #[test]
    fn huge_ages_stay_expired() {
        let limits = Limits {
            idle: i64::from(u32::MAX),
            max_age: i64::from(u32::MAX),
            skew: 65_535,
        };
        assert_eq!(limits.check(-1, i64::MIN, i64::MIN), Verdict::Absolute);
        assert_eq!(
            limits.check(-1 + i64::from(u32::MAX), i64::MIN, i64::MIN),
            Verdict::Absolute
        );
    }

    /// Regression (fuzz target `expiry`): a last-seen ahead of now never makes the cookie's
    /// Max-Age longer than the idle timeout.
    #[test]
    fn remaining_never_exceeds_the_idle_timeout() {
        let limits = Limits {
            idle: 100,
            max_age: 1000,
            skew: 10,
        };
        assert_eq!(limits.remaining(1000, 900, 5000), 100);
        assert_eq!(limits.remaining(1000, 1005, 1005), 100);
    }

    #[test]
    fn verdicts_are_monotone_in_now() {
        // Once expired, a later `now` never makes a session live again.
        for created in [0i64, 50, 900] {
            for last in [created, created + 40, created + 500] {
                let mut expired = false;
                for now in -100..3000 {
                    let v = L.check(now, created, last);
                    if matches!(v, Verdict::Idle | Verdict::Absolute) {
                        expired = true;
                    } else if expired {
                        panic!("live again at {now} (created {created}, last {last})");
                    }
                }
            }
        }
    }

    #[test]
    fn remaining_is_the_smaller_of_idle_and_absolute() {
        assert_eq!(L.remaining(1000, 1000, 1000), 100);
        assert_eq!(L.remaining(1950, 1000, 1950), 50);
        assert_eq!(L.remaining(2500, 1000, 2500), 0);
        // A re-seal that keeps last-seen (rotation) keeps the idle time already used.
        assert_eq!(L.remaining(1030, 1000, 1000), 70);
    }
}
