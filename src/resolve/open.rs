//! Opening the session cookie: scan the `Cookie` fields, open each candidate, check expiry and
//! the not-before times, and tell whether the validator is due.

use http::HeaderMap;

use super::{Resolution, Resolver};
use crate::clock::LayerClock;
use crate::cookie::CookieSpec;
use crate::expiry::Verdict;
use crate::parse;
use crate::record::Record;
use crate::seal::{OpenedWith, COOKIE_LIMIT};
use crate::session::Session;

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
        if !scan.present {
            return Ok(Resolution::Anonymous {
                cookie_invalid: false,
            });
        }
        let mut opened: Option<(&str, Record, OpenedWith)> = None;
        let mut ambiguous = false;
        for &value in scan.values() {
            let Some((record, with)) = cookie.open(value) else {
                continue;
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
            tracing::warn!(target: "sealed_session", reason = "ambiguous", "two different session cookies opened: treated as no session");
            return Ok(invalid);
        }
        let Some((_, record, with)) = opened else {
            tracing::warn!(target: "sealed_session", reason = "invalid", "session cookie did not open (tampered, foreign or undecodable)");
            return Ok(invalid);
        };
        let now = clock.now();
        match self.expiry.check(now, record.created, record.last_seen) {
            Verdict::Live => {}
            Verdict::Idle => {
                tracing::info!(target: "sealed_session", reason = "expired_idle", uid = ?record.uid, "session expired: idle timeout");
                return Ok(invalid);
            }
            Verdict::Absolute => {
                tracing::info!(target: "sealed_session", reason = "expired_absolute", uid = ?record.uid, "session expired: max age");
                return Ok(invalid);
            }
            Verdict::Future => {
                tracing::warn!(target: "sealed_session", reason = "invalid", uid = ?record.uid, "session created in the future beyond the clock-skew allowance");
                return Ok(invalid);
            }
        }
        if self.is_refused(record.uid.as_deref(), record.created) {
            tracing::info!(target: "sealed_session", reason = "revoked", uid = ?record.uid, "session created before its not-before time");
            return Ok(invalid);
        }
        // The validator is due once per interval, and before every renewal.
        let due = self.validator.is_some()
            && (record
                .checked
                .unwrap_or(record.created)
                .saturating_add(self.validation_interval)
                <= now
                || now.saturating_sub(record.last_seen) >= self.refresh);
        tracing::debug!(target: "sealed_session", reason = "opened", uid = ?record.uid, "session opened");
        let session = Session::from_cookie(record, self.session);
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
