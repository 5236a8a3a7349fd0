//! Sessions over 4 KB: the sealed value split across up to N cookies (`__Host-session`,
//! `__Host-session.1`, …), each within the browser's 4,096-byte limit. Opt in with
//! [`SessionLayer::with_cookie_chunks`](crate::SessionLayer::with_cookie_chunks).
//!
//! The value is one AEAD message, sealed whole and split after sealing: it opens only when
//! every chunk is present, in order, once. A missing, duplicated, reordered or foreign chunk
//! makes the joined value fail to open: the request has no session, and the response deletes
//! every chunk. When the session shrinks, the chunks it no longer needs are deleted.
//!
//! The total stays bounded: at most [`MAX_COOKIE_CHUNKS`] cookies of 4,096 bytes, and every
//! request to the cookie's path carries all of them (servers commonly refuse request headers
//! over 8 to 16 KB in total). Keep sessions small; chunking is for the few that are not.

use http::{HeaderMap, HeaderValue};

use super::{set_cookie_line, CookieSpec, LineError};
use crate::parse::scan_cookies;
use crate::record::Record;
use crate::seal::{self, COOKIE_LIMIT};

/// The most cookies a chunked session is split into.
pub const MAX_COOKIE_CHUNKS: usize = 8;

/// A chunk after the first: its cookie name and deletion line.
pub(crate) struct Chunk {
    pub(crate) name: String,
    pub(crate) deletion: HeaderValue,
}

/// The longest value of one chunk for a cookie named `name` (the longest chunk name is
/// `name.N`, N one digit).
pub(crate) const fn piece_len(name_len: usize) -> usize {
    COOKIE_LIMIT.saturating_sub(name_len + 2)
}

/// The plaintext budget of a session split into `chunks` cookies named after `name_len` bytes.
pub(crate) const fn budget(name_len: usize, chunks: usize) -> usize {
    seal::plaintext_budget_of_value(piece_len(name_len) * chunks)
}

/// The chunks after the first for the cookie `name`, with its deletion line `deletion`
/// (`name=; attributes…`).
pub(crate) fn chunks_of(name: &str, deletion: &HeaderValue, chunks: usize) -> Vec<Chunk> {
    let tail = deletion
        .as_bytes()
        .get(name.len()..)
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("=");
    (1..chunks)
        .filter_map(|i| {
            let name = format!("{name}.{i}");
            let deletion = HeaderValue::from_str(&format!("{name}{tail}")).ok()?;
            Some(Chunk { name, deletion })
        })
        .collect()
}

/// The joined value of a chunked session cookie. No `Debug`: it is a secret.
pub(crate) enum Joined {
    /// No chunk at all.
    Absent,
    /// A chunk is duplicated, unusable, or follows a missing one.
    Invalid,
    /// Every chunk present, joined in order.
    Value(String),
}

/// Joins the chunks of the session cookie in `headers`.
pub(crate) fn join(headers: &HeaderMap, cookie: &CookieSpec) -> Joined {
    let names =
        std::iter::once(cookie.name.as_str()).chain(cookie.chunks.iter().map(|c| c.name.as_str()));
    let mut value = String::new();
    let mut ended = false;
    let mut any = false;
    for name in names {
        let scan = scan_cookies(headers, name.as_bytes(), COOKIE_LIMIT);
        if !scan.present {
            ended = true;
            continue;
        }
        any = true;
        match scan.values() {
            [piece] if !ended && !piece.is_empty() => value.push_str(piece),
            _ => return Joined::Invalid,
        }
    }
    match (any, value.is_empty()) {
        (false, _) => Joined::Absent,
        (true, true) => Joined::Invalid,
        (true, false) => Joined::Value(value),
    }
}

impl CookieSpec {
    /// Whether sessions are split across several cookies.
    pub(crate) fn is_chunked(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Seals `record` and writes it as chunks into `headers`, deleting the chunks it does not
    /// need.
    ///
    /// # Errors
    ///
    /// [`LineError::TooLarge`] when it does not fit every chunk.
    pub(crate) fn write_chunks(
        &self,
        record: &Record,
        max_age: i64,
        headers: &mut HeaderMap,
    ) -> Result<(), LineError> {
        let sealed = self
            .keys
            .with(|keys| {
                seal::seal_raw(keys.current(), &self.aad, self.budget, |buf| {
                    record.encode_into(buf)
                })
            })
            .map_err(|_| LineError::Seal)?;
        let mut value = Vec::with_capacity(seal::value_len(&sealed));
        seal::encode_into(&sealed, &mut value);
        let piece = piece_len(self.name.len());
        let count = value.len().div_ceil(piece).max(1);
        if count > self.chunks.len() + 1 {
            return Err(LineError::TooLarge {
                size: self.name.len() + value.len(),
            });
        }
        let mut lines = Vec::with_capacity(count);
        for (i, part) in value.chunks(piece).enumerate() {
            let name = match i.checked_sub(1) {
                None => self.name.as_str(),
                Some(j) => self.chunks.get(j).map_or("", |c| c.name.as_str()),
            };
            let mut line =
                Vec::with_capacity(name.len() + 1 + part.len() + self.attributes.len() + 32);
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
            line.extend_from_slice(part);
            line.extend_from_slice(self.attributes.as_bytes());
            if self.persistent {
                use std::io::Write as _;
                let _ = write!(line, "; Max-Age={}", max_age.clamp(0, super::MAX_AGE_CAP));
            }
            let line = HeaderValue::from_maybe_shared(bytes::Bytes::from(line))
                .map_err(|_| LineError::Seal)?;
            lines.push((name, line));
        }
        for (name, line) in lines {
            set_cookie_line(headers, name, line);
        }
        for stale in self.chunks.iter().skip(count - 1) {
            set_cookie_line(headers, &stale.name, stale.deletion.clone());
        }
        Ok(())
    }

    /// Deletes every chunk after the first.
    pub(crate) fn delete_chunks(&self, headers: &mut HeaderMap) {
        for chunk in self.chunks.iter() {
            set_cookie_line(headers, &chunk.name, chunk.deletion.clone());
        }
    }
}
