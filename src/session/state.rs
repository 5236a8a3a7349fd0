//! A session's state behind its lock.

use super::Record;

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
}
