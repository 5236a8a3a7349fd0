//! Expiry arithmetic: idle timeout, absolute max age and clock skew, in whole Unix seconds.
//!
//! A session is expired when `now − t ≥ limit`. All arithmetic is checked: a timestamp so far out
//! that a difference would overflow is simply not live.

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
        let (Some(age), Some(idle)) = (now.checked_sub(created), now.checked_sub(last_seen)) else {
            return Verdict::Future;
        };
        if age < 0 && age.checked_neg().is_none_or(|ahead| ahead > self.skew) {
            return Verdict::Future;
        }
        if age >= self.max_age {
            return Verdict::Absolute;
        }
        if idle >= self.idle {
            return Verdict::Idle;
        }
        Verdict::Live
    }

    /// Seconds the session has left at `now`: the smaller of the idle time left after
    /// `last_seen` and the absolute time left after `created`. Never negative.
    pub(crate) fn remaining(&self, now: i64, created: i64, last_seen: i64) -> i64 {
        let left = |start: i64, limit: i64| {
            start
                .checked_add(limit)
                .and_then(|end| end.checked_sub(now))
                .unwrap_or(0)
        };
        left(created, self.max_age)
            .min(left(last_seen, self.idle))
            .max(0)
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
        assert_eq!(L.check(i64::MAX, i64::MIN, 0), Verdict::Future);
        assert_eq!(L.remaining(i64::MAX, i64::MAX, i64::MAX), 0);
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
