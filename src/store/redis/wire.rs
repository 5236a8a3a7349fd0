//! How entries are written in Redis: one string key per revocation, its value the times, its
//! TTL the entry's life; the same key and value travel in the pub/sub message.
//!
//! | entry | key (after the prefix) | value |
//! |---|---|---|
//! | denied session id | `d:<session id>` | `<until>` |
//! | user not-before | `u:<uid>` | `<at> <until> <kept session id or ->` |
//! | global not-before | `g` | `<at> <until>` |
//! | token invalidation | `t:<hex SHA-256 of the token>` | `<at> <until>` |
//! | user's tokens | `tu:<uid>` | `<at> <until>` |
//! | forced validator check | `r:<uid>` | `<at> <until>` |
//! | single-use key | `o:<hex SHA-256 of the key>` | `1` |
//! | active sessions | `a:<uid>` (a hash: session id → `<created> <last seen> <expires> <label>`) | |
//!
//! Times are Unix milliseconds. A message is `<value>\n<key after the prefix>` (a uid may hold
//! spaces, never a newline in the value).

use std::fmt::Write as _;

use crate::record::SessionId;
use crate::store::local::Entry;
use crate::store::ActiveSession;

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// An entry as written: the key after the prefix, the value, and the number that orders two
/// writes of one key (the later `at`, or the later `until` for a denied id).
pub(super) struct Written {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) order: i64,
}

pub(super) fn write(entry: &Entry) -> Written {
    match entry {
        Entry::Denied { id, until } => Written {
            key: format!("d:{id}"),
            value: until.to_string(),
            order: *until,
        },
        Entry::User {
            uid,
            at,
            until,
            keep,
        } => Written {
            key: format!("u:{uid}"),
            value: match keep {
                Some(keep) => format!("{at} {until} {keep}"),
                None => format!("{at} {until} -"),
            },
            order: *at,
        },
        Entry::Everyone { at, until } => Written {
            key: "g".to_owned(),
            value: format!("{at} {until}"),
            order: *at,
        },
        Entry::Token { digest, at, until } => Written {
            key: format!("t:{}", hex(digest)),
            value: format!("{at} {until}"),
            order: *at,
        },
        Entry::UserTokens { uid, at, until } => Written {
            key: format!("tu:{uid}"),
            value: format!("{at} {until}"),
            order: *at,
        },
        Entry::Recheck { uid, at, until } => Written {
            key: format!("r:{uid}"),
            value: format!("{at} {until}"),
            order: *at,
        },
    }
}

fn two(value: &str) -> Option<(i64, i64)> {
    let (at, until) = value.split_once(' ')?;
    Some((at.parse().ok()?, until.parse().ok()?))
}

/// Reads an entry back from its key (after the prefix) and value. `None` for keys that are not
/// revocations (single-use keys, active sessions) and for anything malformed.
pub(super) fn read(key: &str, value: &str) -> Option<Entry> {
    if let Some(id) = key.strip_prefix("d:") {
        return Some(Entry::Denied {
            id: id.parse().ok()?,
            until: value.parse().ok()?,
        });
    }
    if let Some(uid) = key.strip_prefix("u:") {
        let mut parts = value.splitn(3, ' ');
        let at = parts.next()?.parse().ok()?;
        let until = parts.next()?.parse().ok()?;
        let keep = match parts.next()? {
            "-" => None,
            id => Some(id.parse::<SessionId>().ok()?),
        };
        return Some(Entry::User {
            uid: uid.to_owned(),
            at,
            until,
            keep,
        });
    }
    if key == "g" {
        let (at, until) = two(value)?;
        return Some(Entry::Everyone { at, until });
    }
    if let Some(digest) = key.strip_prefix("t:") {
        let (at, until) = two(value)?;
        return Some(Entry::Token {
            digest: unhex(digest)?,
            at,
            until,
        });
    }
    if let Some(uid) = key.strip_prefix("tu:") {
        let (at, until) = two(value)?;
        return Some(Entry::UserTokens {
            uid: uid.to_owned(),
            at,
            until,
        });
    }
    if let Some(uid) = key.strip_prefix("r:") {
        let (at, until) = two(value)?;
        return Some(Entry::Recheck {
            uid: uid.to_owned(),
            at,
            until,
        });
    }
    None
}

/// The pub/sub message for a write.
pub(super) fn message(written: &Written) -> String {
    format!("{}\n{}", written.value, written.key)
}

/// Reads a pub/sub message back.
pub(super) fn read_message(message: &str) -> Option<Entry> {
    let (value, key) = message.split_once('\n')?;
    read(key, value)
}

/// An active session's hash value.
pub(super) fn active_value(session: &ActiveSession) -> String {
    format!(
        "{} {} {} {}",
        session.created_ms, session.last_seen_ms, session.expires_ms, session.label
    )
}

/// Reads an active session back from its hash field and value.
pub(super) fn read_active(field: &str, value: &str) -> Option<ActiveSession> {
    let mut parts = value.splitn(4, ' ');
    let created_ms = parts.next()?.parse().ok()?;
    let last_seen_ms = parts.next()?.parse().ok()?;
    let expires_ms = parts.next()?.parse().ok()?;
    let label = parts.next().unwrap_or_default().to_owned();
    Some(ActiveSession {
        id: field.parse().ok()?,
        created_ms,
        last_seen_ms,
        expires_ms,
        label,
    })
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped, then `*`.
pub(super) fn scan_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::tests::id;

    #[test]
    fn every_entry_reads_back_from_its_key_value_and_message() {
        let entries = [
            Entry::Denied {
                id: id(1),
                until: 1_700_000_000_123,
            },
            Entry::User {
                uid: "alice smith".into(),
                at: 5,
                until: 9,
                keep: Some(id(2)),
            },
            Entry::User {
                uid: "bob".into(),
                at: -5,
                until: 9,
                keep: None,
            },
            Entry::Everyone { at: 1, until: 2 },
            Entry::Token {
                digest: [0xab; 32],
                at: 3,
                until: 4,
            },
            Entry::UserTokens {
                uid: "u:with:colons".into(),
                at: 3,
                until: 4,
            },
            Entry::Recheck {
                uid: "carol".into(),
                at: 7,
                until: 8,
            },
        ];
        for entry in entries {
            let written = write(&entry);
            assert_eq!(read(&written.key, &written.value).as_ref(), Some(&entry));
            assert_eq!(read_message(&message(&written)).as_ref(), Some(&entry));
        }
    }

    #[test]
    fn malformed_or_foreign_keys_read_as_nothing() {
        assert_eq!(read("o:abcd", "1"), None);
        assert_eq!(read("a:alice", "x"), None);
        assert_eq!(read("d:not-an-id", "5"), None);
        assert_eq!(read("t:zz", "1 2"), None);
        assert_eq!(read("g", "1"), None);
        assert_eq!(read("r:alice", "1"), None);
        assert_eq!(read("u:alice", "1 2 nope"), None);
        assert_eq!(read_message("no newline"), None);
    }

    #[test]
    fn active_sessions_keep_labels_with_spaces() {
        let session = ActiveSession {
            id: id(3),
            created_ms: 1,
            last_seen_ms: 2,
            expires_ms: 3,
            label: "Firefox on Linux".into(),
        };
        let back = read_active(&id(3).to_string(), &active_value(&session));
        assert_eq!(back, Some(session));
    }

    #[test]
    fn the_scan_pattern_escapes_glob_characters() {
        assert_eq!(scan_pattern("app[1]:*"), "app\\[1\\]:\\**");
    }
}
