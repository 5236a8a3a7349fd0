//! The versioned plaintext sealed inside a session cookie (wire format version 1).
//!
//! The plaintext is a compact JSON object with short keys, chosen for size (a cookie holds about
//! 3,000 bytes of plaintext) and for speed (one `serde_json` pass, no second base64 layer):
//!
//! | key | meaning | type |
//! |---|---|---|
//! | `v` | format version, always `1` | integer |
//! | `i` | session id: 128 random bits, base64url without padding | string (22) |
//! | `u` | uid, absent for a session without one | string |
//! | `c` | created at, Unix seconds; never changes | integer |
//! | `l` | last seen, Unix seconds; never moves back | integer |
//! | `a` | authenticated at, Unix seconds | integer |
//! | `ra` | role account, absent when false | bool |
//! | `mf` | MFA, absent when false | bool |
//! | `r` | roles, absent when empty | array of strings |
//! | `g` | groups, absent when empty | array of strings |
//! | `m` | metadata (scopes under `m.scope`), absent when empty | object |
//! | `d` | typed application values, absent when empty | object |
//! | `k` | last checked by the session validator, Unix seconds; absent when never | integer |
//!
//! The envelope is bound to its purpose by the AEAD associated data (see
//! [`SessionLayer::with_purpose`](crate::SessionLayer::with_purpose)), not by a field, so a
//! cookie sealed for one purpose does not open for another. Unknown keys are ignored, so later
//! versions of the crate can add optional keys without a format bump; a change of meaning bumps
//! `v`, and a cookie of an unknown version does not open.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The only format version this crate writes and reads.
pub(crate) const VERSION: u8 = 1;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A session id: 128 random bits, minted at login.
///
/// It identifies a session for logs and revocation lists; it is not a credential on its own (the
/// sealed cookie is). Displays as 22 characters of base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A fresh random id from a CSPRNG.
    pub(crate) fn random() -> Self {
        use rand::RngCore as _;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The id's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        match B64URL.encode_slice(self.0, &mut buf) {
            Ok(n) => f.write_str(
                std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default(),
            ),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidSessionId;

    /// Parses the 22-character base64url form that [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 22 {
            return Err(InvalidSessionId);
        }
        // `decode_slice` wants room for its estimate (18 bytes for 22 characters).
        let mut buf = [0u8; 18];
        let mut bytes = [0u8; 16];
        match B64URL.decode_slice(s, &mut buf) {
            Ok(16) => {
                bytes.copy_from_slice(buf.get(..16).ok_or(InvalidSessionId)?);
                Ok(Self(bytes))
            }
            _ => Err(InvalidSessionId),
        }
    }
}

/// The string was not a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSessionId;

impl fmt::Display for InvalidSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a session id: expected 22 characters of base64url")
    }
}

impl std::error::Error for InvalidSessionId {}

impl Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The session record: what the sealed cookie carries, and what a bearer token resolves to.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(rename = "v")]
    pub(crate) version: u8,
    #[serde(rename = "i")]
    pub(crate) id: SessionId,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub(crate) uid: Option<String>,
    #[serde(rename = "c")]
    pub(crate) created: i64,
    #[serde(rename = "l")]
    pub(crate) last_seen: i64,
    #[serde(rename = "a")]
    pub(crate) auth_time: i64,
    #[serde(rename = "ra", default, skip_serializing_if = "is_false")]
    pub(crate) role_account: bool,
    #[serde(rename = "mf", default, skip_serializing_if = "is_false")]
    pub(crate) mfa: bool,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) roles: Vec<String>,
    #[serde(rename = "g", default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) groups: Vec<String>,
    #[serde(rename = "m", default, skip_serializing_if = "Map::is_empty")]
    pub(crate) metadata: Map<String, Value>,
    #[serde(rename = "d", default, skip_serializing_if = "Map::is_empty")]
    pub(crate) values: Map<String, Value>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    pub(crate) checked: Option<i64>,
}

impl fmt::Debug for Record {
    /// Names, flags and timestamps; metadata and values by key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("uid", &self.uid)
            .field("created", &self.created)
            .field("last_seen", &self.last_seen)
            .field("auth_time", &self.auth_time)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .field("value_keys", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Record {
    /// The plaintext of this record.
    pub(crate) fn encode(&self) -> String {
        // Serialising plain data (strings, integers, JSON values with string keys) cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The length of [`Record::encode`]'s output, without building it.
    pub(crate) fn encoded_len(&self) -> usize {
        struct Counter(usize);
        impl std::io::Write for Counter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        match serde_json::to_writer(&mut counter, self) {
            Ok(()) => counter.0,
            Err(_) => usize::MAX,
        }
    }

    /// Parses a plaintext. `None` for anything that is not a version-1 record.
    pub(crate) fn decode(plaintext: &str) -> Option<Self> {
        let record: Self = serde_json::from_str(plaintext).ok()?;
        (record.version == VERSION).then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let mut metadata = Map::new();
        metadata.insert("scope".into(), serde_json::json!(["read", "write"]));
        Record {
            version: VERSION,
            id: SessionId([7; 16]),
            uid: Some("alice".into()),
            created: 1_700_000_000,
            last_seen: 1_700_000_060,
            auth_time: 1_700_000_000,
            role_account: false,
            mfa: true,
            roles: vec!["admin".into()],
            groups: vec![],
            metadata,
            values: Map::new(),
            checked: None,
        }
    }

    #[test]
    fn encoding_is_compact_and_round_trips() {
        let record = sample();
        let text = record.encode();
        assert_eq!(
            text,
            r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","u":"alice","c":1700000000,"l":1700000060,"a":1700000000,"mf":true,"r":["admin"],"m":{"scope":["read","write"]}}"#
        );
        assert_eq!(record.encoded_len(), text.len());
        assert_eq!(Record::decode(&text), Some(record));
    }

    /// Regression (fuzz target `decode_payload`): floats in metadata and values survive any
    /// number of re-seals exactly (serde_json's `float_roundtrip`).
    #[test]
    fn floats_round_trip_exactly() {
        let text = r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"m":{"n":1.5444444444444442},"d":{"x":[0.1,2.2250738585072014e-308,1.7976931348623157e308]}}"#;
        let record = Record::decode(text).unwrap();
        let again = Record::decode(&record.encode()).unwrap();
        assert_eq!(again, record);
        assert_eq!(record.metadata["n"].as_f64(), Some(1.544_444_444_444_444_2));
    }

    #[test]
    fn other_versions_and_junk_do_not_decode() {
        let text = sample().encode().replace(r#""v":1"#, r#""v":2"#);
        assert_eq!(Record::decode(&text), None);
        assert_eq!(Record::decode(""), None);
        assert_eq!(Record::decode("null"), None);
        assert_eq!(Record::decode(r#"{"v":1}"#), None);
        let dup = sample()
            .encode()
            .replace(r#""u":"alice""#, r#""u":"alice","u":"bob""#);
        assert_eq!(Record::decode(&dup), None);
    }

    #[test]
    fn session_ids_are_random_and_parse_back() {
        let (a, b) = (SessionId::random(), SessionId::random());
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 22);
        assert_eq!(a.to_string().parse::<SessionId>(), Ok(a));
        assert!("short".parse::<SessionId>().is_err());
        assert!("!!!!!!!!!!!!!!!!!!!!!!".parse::<SessionId>().is_err());
    }
}
