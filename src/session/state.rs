//! A session's state behind its lock.

use super::Record;
use crate::record::SessionId;
use crate::store::{RevocationStore, StoreWrite};

/// The id a cookie session was opened with, and when it was minted (Unix milliseconds): what a
/// revocation store checks and denies, whatever the handler did to the record since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) id: SessionId,
    pub(crate) minted_ms: i64,
    /// When the session could live until at the latest (its max age), Unix milliseconds.
    pub(crate) until_ms: i64,
}

/// A session's state. Its fields are written only by the `session` module; the cookie writer
/// reads the record and reports a seal through [`State::touch`] and [`State::sealed`].
pub(crate) struct State {
    pub(super) record: Record,
    /// A bearer session's end, from the token handler.
    pub(super) expires_at: Option<i64>,
    /// The record changed and must be sealed again.
    pub(super) modified: bool,
    /// The session was logged out.
    pub(super) ended: bool,
    /// A cookie session: the id it was opened with.
    pub(super) opened: Option<Opened>,
    /// The opened id was denied in the revocation store.
    pub(super) denied: bool,
}

impl State {
    /// The record.
    pub(crate) fn record(&self) -> &Record {
        &self.record
    }

    /// Whether the record changed since it was opened or last sealed.
    pub(crate) fn is_modified(&self) -> bool {
        self.modified
    }

    /// Whether the session was logged out.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// Activity at `now`: last-seen moves forward, never back.
    pub(crate) fn touch(&mut self, now: i64) {
        self.record.last_seen = crate::expiry::touch(self.record.last_seen, now);
    }

    /// The record was sealed into the response.
    pub(crate) fn sealed(&mut self) {
        self.modified = false;
    }

    /// The id this cookie session was opened with (`None` for a login or a bearer session).
    pub(crate) fn opened(&self) -> Option<Opened> {
        self.opened
    }

    /// Sets when the record's id was minted (Unix milliseconds), to seal with it.
    pub(crate) fn set_minted(&mut self, ms: i64) {
        self.record.minted = Some(ms);
    }

    /// Denies the opened id in `store` until the session would have expired anyway, once: the
    /// write, or `None` when there is nothing (left) to deny.
    pub(crate) fn deny_opened(&mut self, store: &dyn RevocationStore) -> Option<StoreWrite> {
        let opened = self.opened.filter(|_| !self.denied)?;
        self.denied = true;
        let until = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(opened.until_ms).saturating_mul(1_000_000),
        )
        .ok()?;
        Some(store.deny_session(opened.id, until))
    }
}
