//! The cookie writer: the session cookie's spec, and writing the session (or its deletion) into
//! a response with `Set-Cookie`, `Vary` and `Cache-Control`.

use http::header::Entry;
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use crate::clock::LayerClock;
use crate::expiry::{Limits, Verdict};
use std::sync::Arc;

use crate::key::KeyRing;
use crate::record::{self, Record};
use crate::revocation::NotBefore;
use crate::rotation::LiveKeys;
use crate::seal::{self, OpenedWith, COOKIE_LIMIT};
use crate::session::State;
use crate::store::{RevocationStore, Standing};

pub(crate) mod chunk;

/// Inserted into the response extensions when a session cookie could not be written because it
/// would pass the 4,096-byte browser limit. The response is then a 500 and carries no cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieOverflow {
    /// The size the cookie's name and value would have had, in bytes.
    pub size: usize,
}

/// Browsers clamp `Max-Age` to 400 days (RFC 6265bis).
pub(crate) const MAX_AGE_CAP: i64 = 400 * 24 * 60 * 60;

/// The buffer reserved for a plaintext before it is written (it grows past this if needed):
/// room for a typical session, and with the nonce and tag under 512 bytes, which allocators
/// serve from their fast per-thread caches (glibc's stops at 1,032).
const PLAINTEXT_HINT: usize = 512 - 12 - 16;

/// Where the cookie's keys come from: the ring given to the layer, or a live ring that can
/// change while the app runs (read once per open or seal).
#[derive(Debug)]
pub(crate) enum KeySource {
    Fixed(Arc<KeyRing>),
    Live(LiveKeys),
}

impl KeySource {
    /// Runs `f` with the ring as it is now.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&KeyRing) -> R) -> R {
        match self {
            Self::Fixed(ring) => f(ring),
            Self::Live(live) => f(&live.snapshot()),
        }
    }

    /// The ring as it is now, shared.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) fn snapshot(&self) -> Arc<KeyRing> {
        match self {
            Self::Fixed(ring) => ring.clone(),
            Self::Live(live) => live.snapshot(),
        }
    }
}

/// The session cookie as configured: how it is opened, sealed, written and deleted.
pub(crate) struct CookieSpec {
    pub(crate) keys: KeySource,
    pub(crate) name: String,
    /// The AEAD associated data: format version, purpose and cookie name.
    pub(crate) aad: String,
    /// `; Path=…; Secure; HttpOnly; SameSite=…` as written after every session cookie.
    pub(crate) attributes: String,
    /// The whole `Set-Cookie` line that deletes the cookie.
    pub(crate) deletion: HeaderValue,
    /// Whether the cookie carries `Max-Age`.
    pub(crate) persistent: bool,
    /// The most plaintext a cookie with this name holds, in bytes.
    pub(crate) budget: usize,
    /// How stale last-seen must be before a live cookie is re-sealed, in seconds.
    pub(crate) refresh: i64,
    /// The chunks after the first, when sessions are split across cookies (`chunk.rs`);
    /// empty otherwise.
    pub(crate) chunks: Box<[chunk::Chunk]>,
}

/// A session sealed into the response: why (`login`, `modified`, `renewed`, `rotated`), and the
/// id it replaced when it was re-minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) reason: &'static str,
    pub(crate) replaced: Option<crate::record::SessionId>,
}

/// Why no `Set-Cookie` line was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// The cookie's name and value would pass the browser limit.
    TooLarge {
        /// Their size, in bytes.
        size: usize,
    },
    /// The nonce or the encryption failed (not expected to happen).
    Seal,
}

impl CookieSpec {
    /// Opens a session cookie value with any key of the ring.
    #[cfg(any(feature = "test-util", fuzzing))]
    pub(crate) fn open(&self, value: &str) -> Option<(Record, OpenedWith)> {
        self.open_checked(value).ok()
    }

    /// [`open`](Self::open), saying why a value was refused.
    pub(crate) fn open_checked(
        &self,
        value: &str,
    ) -> Result<(Record, OpenedWith), crate::resolve::CookieRefusal> {
        self.keys
            .with(|keys| record::open_checked(keys, &self.aad, value))
    }

    /// The sealed value of `record`, with the current key (for minting test cookies).
    #[cfg(feature = "test-util")]
    pub(crate) fn seal_value(&self, record: &Record) -> String {
        self.keys
            .with(|keys| seal::seal(keys.current(), &self.aad, &record.encode()))
    }

    /// The `Set-Cookie` value of a session cookie holding `record`, sealed with the current key,
    /// with `Max-Age` when persistent.
    ///
    /// # Errors
    ///
    /// [`LineError::TooLarge`] when the cookie's name and value would pass the browser limit.
    pub(crate) fn seal_line(
        &self,
        record: &Record,
        max_age: i64,
    ) -> Result<HeaderValue, LineError> {
        let sealed = self
            .keys
            .with(|keys| {
                seal::seal_raw(
                    keys.current(),
                    &self.aad,
                    PLAINTEXT_HINT.min(self.budget),
                    |buf| record.encode_into(buf),
                )
            })
            .map_err(|_| LineError::Seal)?;
        let size = self.name.len() + seal::value_len(&sealed);
        if size > COOKIE_LIMIT {
            return Err(LineError::TooLarge { size });
        }
        // One buffer for the whole line, sized up front; it becomes the header's bytes as is
        // (`HeaderValue` checks them).
        let mut line = Vec::with_capacity(size + 1 + self.attributes.len() + 32);
        line.extend_from_slice(self.name.as_bytes());
        line.push(b'=');
        seal::encode_into(&sealed, &mut line);
        line.extend_from_slice(self.attributes.as_bytes());
        if self.persistent {
            use std::io::Write as _;
            let _ = write!(line, "; Max-Age={}", max_age.clamp(0, MAX_AGE_CAP));
        }
        HeaderValue::from_maybe_shared(bytes::Bytes::from(line)).map_err(|_| LineError::Seal)
    }

    /// Writes the deletion line.
    pub(crate) fn delete(&self, headers: &mut HeaderMap) {
        set_session_cookie(headers, &self.name, self.deletion.clone());
        if self.is_chunked() {
            self.delete_chunks(headers);
        }
    }
}

impl CookieSpec {
    /// Seals the session into the response when it must be (login, change, renewal, rotation),
    /// or deletes the cookie when the session expired or was revoked while the handler ran. A
    /// server-error response is never given a session cookie. An overflow makes the response a
    /// typed 500 without a cookie.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write<B: Default>(
        &self,
        state: &mut State,
        is_login: bool,
        rotated: bool,
        limits: &Limits,
        not_before: Option<&NotBefore>,
        store: Option<&dyn RevocationStore>,
        clock: &LayerClock,
        response: &mut Response<B>,
    ) -> Option<Sealed> {
        if response.status().is_server_error() {
            tracing::debug!(target: "sealed_session", reason = "not_sealed_5xx", "session not sealed: the response is a server error");
            return None;
        }
        let now = clock.now();
        let record = state.record();
        let refused =
            not_before.is_some_and(|nb| nb.refuses(record.uid.as_deref(), record.created));
        if refused
            || (!is_login && limits.check(now, record.created, record.last_seen) != Verdict::Live)
        {
            // It expired, or was revoked, while the handler ran: delete rather than renew.
            self.delete(response.headers_mut());
            return None;
        }
        let modified = state.is_modified();
        let renew = now.saturating_sub(record.last_seen) >= self.refresh;
        if !(is_login || modified || rotated || renew) {
            return None;
        }
        // The session as it was opened must still stand in the revocation store before it is
        // re-sealed: one revoked while its request was in flight is neither renewed nor
        // re-minted, and its cookie is deleted. A response that re-seals nothing does not ask
        // (the request was checked when its cookie was opened; the next one is refused): a
        // second look-up on every read would double what revocation costs a request.
        let opened = state.opened().filter(|_| !is_login);
        if let (Some(store), Some(opened)) = (store, opened) {
            match store.check(&opened.id, record.uid.as_deref(), opened.minted_ms) {
                Standing::Live => {}
                Standing::Revoked(by) => {
                    tracing::info!(target: "sealed_session", reason = "revoked", revoked_by = by.reason(), uid = ?record.uid, "session revoked while its request was in flight: deleted, not re-sealed");
                    self.delete(response.headers_mut());
                    return None;
                }
                _ => {
                    tracing::warn!(target: "sealed_session", reason = "store_unavailable", uid = ?record.uid, "revocation store cannot vouch for the session: not re-sealed");
                    return None;
                }
            }
        }
        let reason = if is_login {
            "login"
        } else if modified {
            "modified"
        } else if renew {
            "renewed"
        } else {
            "rotated"
        };
        // Updated in place: the lock is held, and a failed seal replaces the response anyway.
        if is_login || modified || renew {
            state.touch(now);
        }
        // With a store, a new id (login, or re-minted by a privilege change) carries its mint
        // time to the millisecond, and the id it replaces is denied once the new one is sealed.
        let reminted = opened.is_some_and(|o| o.id != state.record().id);
        if store.is_some() && (is_login || reminted) {
            let ms = clock.source().unix_nanos().div_euclid(1_000_000);
            state.set_minted(i64::try_from(ms).unwrap_or(i64::MAX));
        }
        let record = state.record();
        let max_age = limits.remaining(now, record.created, record.last_seen);
        let line = if self.is_chunked() {
            self.write_chunks(record, max_age, response.headers_mut())
                .map(|()| None)
        } else {
            self.seal_line(record, max_age).map(Some)
        };
        let line = match line {
            Ok(line) => line,
            Err(error) => {
                *response = Response::new(B::default());
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                match error {
                    LineError::TooLarge { size } => {
                        tracing::error!(target: "sealed_session", reason = "too_large", size, limit = COOKIE_LIMIT, "session cookie would pass the browser limit: not sent");
                        response.extensions_mut().insert(CookieOverflow { size });
                    }
                    LineError::Seal => {
                        tracing::error!(target: "sealed_session", reason = "seal_failed", "session cookie could not be sealed: not sent");
                    }
                }
                return None;
            }
        };
        if rotated {
            tracing::info!(target: "sealed_session", reason = "rotated", uid = ?record.uid, "session re-sealed with the current key");
        }
        tracing::debug!(target: "sealed_session", reason, uid = ?record.uid, "session sealed");
        state.sealed();
        if let Some(line) = line {
            set_session_cookie(response.headers_mut(), &self.name, line);
        }
        let replaced = opened.filter(|_| reminted).map(|o| o.id);
        if let Some(store) = store.filter(|_| reminted) {
            if let Some(write) = state.deny_opened(store) {
                tracing::info!(target: "sealed_session", reason = "reminted", uid = ?state.record().uid, "session id re-minted: the old id is denied");
                write.detach();
            }
        }
        Some(Sealed { reason, replaced })
    }
}

/// Sets the one session `Set-Cookie` line (dropping any other line for the same cookie), with
/// `Cache-Control: no-store` and `Vary: Cookie`.
fn set_session_cookie(headers: &mut HeaderMap, name: &str, line: HeaderValue) {
    // Most responses carry no other `Set-Cookie`: nothing to filter.
    if let Entry::Vacant(entry) = headers.entry(SET_COOKIE) {
        entry.insert(line);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        add_vary(headers, "Cookie");
        return;
    }
    let others: Vec<HeaderValue> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter(|v| {
            let b = v.as_bytes();
            !(b.starts_with(name.as_bytes()) && b.get(name.len()) == Some(&b'='))
        })
        .cloned()
        .collect();
    headers.remove(SET_COOKIE);
    for other in others {
        headers.append(SET_COOKIE, other);
    }
    headers.append(SET_COOKIE, line);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    add_vary(headers, "Cookie");
}

/// [`set_session_cookie`], for the chunks of a chunked session.
pub(crate) fn set_cookie_line(headers: &mut HeaderMap, name: &str, line: HeaderValue) {
    set_session_cookie(headers, name, line);
}

/// Adds `field` to `Vary` unless it is there (or `Vary: *`).
pub(crate) fn add_vary(headers: &mut HeaderMap, field: &'static str) {
    // One lookup: most responses have no `Vary` yet.
    match headers.entry(VARY) {
        Entry::Vacant(entry) => {
            entry.insert(HeaderValue::from_static(field));
        }
        Entry::Occupied(mut entry) => {
            let present = entry.iter().any(|v| {
                // Most often the field itself, added earlier in this response: no split then.
                v.as_bytes().eq_ignore_ascii_case(field.as_bytes())
                    || v.to_str().is_ok_and(|s| {
                        s.split(',')
                            .any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case(field))
                    })
            });
            if !present {
                entry.append(HeaderValue::from_static(field));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::key::Key;
    use crate::layer::SessionLayer;
    use crate::session::Session;

    /// A change that slipped past the size check (for example, timestamps that grew a digit)
    /// must not reach the browser: the response becomes a typed 500 without a cookie.
    #[test]
    fn an_oversized_cookie_at_response_time_is_a_typed_500_without_a_cookie() {
        let config = SessionLayer::new(Key::generate()).config().unwrap();
        let now = config.clock.now();
        let session = Session::login(Identity::new("a"), now, config.resolver.session).unwrap();
        // Past the size check: the value goes in as a change that slipped past it would.
        session.force_value_for_test("big", "x".repeat(4000));
        let mut response = Response::new(String::from("handler body"));
        config.cookie.write(
            &mut session.lock(),
            true,
            false,
            &config.resolver.expiry,
            None,
            None,
            &config.clock,
            &mut response,
        );
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(SET_COOKIE).is_none());
        assert!(response.body().is_empty(), "the handler's body is not sent");
        let overflow = response.extensions().get::<CookieOverflow>().unwrap();
        assert!(overflow.size > COOKIE_LIMIT);
    }
}
