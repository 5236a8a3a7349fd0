//! Opening the session cookie: scan the `Cookie` fields, open each candidate, check expiry and
//! the not-before times, and tell whether the validator is due.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use http::HeaderMap;

use super::{Resolution, Resolver};
use crate::clock::LayerClock;
use crate::cookie::CookieSpec;
use crate::expiry::Verdict;
use crate::parse;
use crate::record::Record;
use crate::seal::{OpenedWith, COOKIE_LIMIT};
use crate::session::Session;
use crate::store::Standing;

/// Why a session cookie was refused. The response is the same for all of them (no session, and
/// the cookie deleted); the reason goes to the app's hook
/// ([`SessionLayer::on_cookie_refused`](crate::SessionLayer::on_cookie_refused)) and to the
/// `tracing` event's `reason` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CookieRefusal {
    /// Idle for longer than the idle timeout.
    ExpiredIdle,
    /// Older than the absolute lifetime.
    ExpiredAbsolute,
    /// Well formed, but no key of the ring opens it: sealed with another (or a removed) key,
    /// or tampered with. AES-GCM cannot tell these apart.
    UnknownKey,
    /// Not the sealed format at all (not canonical base64, too short).
    Malformed,
    /// It opened but cannot be used: an undecodable record, a creation time beyond the clock
    /// skew, or two different valid session cookies at once.
    Invalid,
    /// Created before its user's (or everyone's) not-before time.
    Revoked,
}

impl CookieRefusal {
    /// The reason as the `tracing` events name it: `expired_idle`, `expired_absolute`,
    /// `unknown_key`, `malformed`, `invalid`, `revoked`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExpiredIdle => "expired_idle",
            Self::ExpiredAbsolute => "expired_absolute",
            Self::UnknownKey => "unknown_key",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
            Self::Revoked => "revoked",
        }
    }
}

/// The app's hook for refused cookies.
pub(crate) type RefusalHook = Arc<dyn Fn(CookieRefusal) + Send + Sync>;

/// How often, at most, a layer warns about cookies that do not open: a flood of forged cookies
/// gives one WARN a minute, with the count, and DEBUG events in between.
const WARN_INTERVAL: i64 = 60;

/// The counter and rate limit of warnings about cookies that do not open.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    /// Refusals since the last warning.
    since_warning: AtomicU64,
    /// When the last warning was logged (Unix seconds), or 0.
    last_warning: AtomicI64,
}

impl Resolver {
    /// Reports a refused cookie: the app's hook, and a rate-limited event.
    fn refused(&self, why: CookieRefusal, uid: Option<&str>, now: i64) {
        if let Some(hook) = &self.on_refused {
            // The hook is the app's code: a panic there must not fail the request.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(why)));
        }
        let reason = why.as_str();
        match why {
            // Anyone can send these: warn at most once a minute, with the count since.
            CookieRefusal::UnknownKey | CookieRefusal::Malformed | CookieRefusal::Invalid => {
                let log = &self.refusal_log;
                let count = log.since_warning.fetch_add(1, Ordering::Relaxed) + 1;
                let last = log.last_warning.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= WARN_INTERVAL
                    && log
                        .last_warning
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    log.since_warning.store(0, Ordering::Relaxed);
                    tracing::warn!(target: "sealed_session", reason, refused = count, "session cookies refused (count since the last warning; further ones at debug for a minute)");
                } else {
                    tracing::debug!(target: "sealed_session", reason, "session cookie refused");
                }
            }
            _ => {
                tracing::info!(target: "sealed_session", reason, uid = ?uid, "session cookie refused");
            }
        }
    }
}

/// A live cookie session that the validator must see before it is used.
pub(crate) struct Due {
    pub(super) session: Session,
    pub(super) now: i64,
    pub(super) rotated: bool,
}

impl Resolver {
    /// Opens the session cookie: the resolution, or the session the validator must see first.
    /// Not `async`, so that the common path adds nothing to the extractor's future.
    pub(super) fn open_cookie(
        &self,
        headers: &HeaderMap,
        cookie: &CookieSpec,
        clock: &LayerClock,
    ) -> Result<Resolution, Due> {
        let scan = parse::scan_cookies(headers, cookie.name.as_bytes(), COOKIE_LIMIT);
        let joined;
        let one: [&str; 1];
        let candidates = if cookie.is_chunked() {
            match crate::cookie::chunk::join(headers, cookie) {
                crate::cookie::chunk::Joined::Absent => {
                    return Ok(Resolution::Anonymous {
                        cookie_invalid: false,
                    })
                }
                crate::cookie::chunk::Joined::Invalid => {
                    // Missing, duplicated, reordered or foreign chunks: one refusal reason, under
                    // the same rate-limited log and hook as any other bad cookie.
                    self.refused(CookieRefusal::Malformed, None, clock.now());
                    return Ok(Resolution::Anonymous {
                        cookie_invalid: true,
                    });
                }
                crate::cookie::chunk::Joined::Value(value) => {
                    joined = value;
                    one = [joined.as_str()];
                    &one[..]
                }
            }
        } else {
            scan.values()
        };
        if !scan.present {
            return Ok(Resolution::Anonymous {
                cookie_invalid: false,
            });
        }
        let now = clock.now();
        let mut opened: Option<(&str, Record, OpenedWith)> = None;
        let mut first_refusal = None;
        let mut ambiguous = false;
        for &value in candidates {
            let (record, with) = match cookie.open_checked(value) {
                Ok(opened) => opened,
                Err(why) => {
                    first_refusal.get_or_insert(why);
                    continue;
                }
            };
            match &opened {
                None => opened = Some((value, record, with)),
                Some((first, ..)) if *first == value => {}
                Some(_) => ambiguous = true,
            }
        }
        let invalid = Resolution::Anonymous {
            cookie_invalid: true,
        };
        if ambiguous {
            // Two valid cookies cannot be forged by just anyone: an event of its own.
            tracing::info!(target: "sealed_session", reason = "ambiguous", "two different session cookies opened: treated as no session");
            self.refused(CookieRefusal::Invalid, None, now);
            return Ok(invalid);
        }
        let Some((_, record, with)) = opened else {
            self.refused(first_refusal.unwrap_or(CookieRefusal::Malformed), None, now);
            return Ok(invalid);
        };
        let why = match self.expiry.check(now, record.created, record.last_seen) {
            Verdict::Live if self.is_refused(record.uid.as_deref(), record.created) => {
                Some(CookieRefusal::Revoked)
            }
            Verdict::Live => None,
            Verdict::Idle => Some(CookieRefusal::ExpiredIdle),
            Verdict::Absolute => Some(CookieRefusal::ExpiredAbsolute),
            Verdict::Future => Some(CookieRefusal::Invalid),
        };
        if let Some(why) = why {
            self.refused(why, record.uid.as_deref(), now);
            return Ok(invalid);
        }
        if let Some(store) = &self.store {
            match store.check(&record.id, record.uid.as_deref(), record.minted_ms()) {
                Standing::Live => {}
                Standing::Revoked(by) => {
                    tracing::debug!(target: "sealed_session", revoked_by = by.reason(), uid = ?record.uid, "session revoked in the revocation store");
                    self.refused(CookieRefusal::Revoked, record.uid.as_deref(), now);
                    return Ok(invalid);
                }
                // `Standing` is non-exhaustive: anything else is "cannot tell", never a pass.
                _ => {
                    tracing::warn!(target: "sealed_session", reason = "store_unavailable", uid = ?record.uid, "revocation store cannot vouch for the session: 503");
                    return Ok(Resolution::Unavailable);
                }
            }
        }
        // The validator is due once per interval, and before every renewal.
        let due = self.validator.is_some()
            && (record
                .checked
                .unwrap_or(record.created)
                .saturating_add(self.validation_interval)
                <= now
                || now.saturating_sub(record.last_seen) >= self.refresh
                || self.recheck.as_ref().is_some_and(|recheck| {
                    recheck.due(
                        record.uid.as_deref(),
                        record.checked.unwrap_or(record.created),
                    )
                })
                // A recheck shared through the store (seconds in the cookie: its earliest ms).
                || self.store.as_ref().zip(record.uid.as_deref()).is_some_and(|(store, uid)| {
                    let checked = record.checked.unwrap_or(record.created);
                    store.recheck_due(uid, checked.saturating_mul(1000))
                }));
        tracing::debug!(target: "sealed_session", reason = "opened", uid = ?record.uid, "session opened");
        let session = Session::from_cookie(record, now, self.session);
        let rotated = with == OpenedWith::Previous;
        if due {
            return Err(Due {
                session,
                now,
                rotated,
            });
        }
        Ok(Resolution::Cookie { session, rotated })
    }
}
