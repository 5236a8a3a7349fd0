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

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
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
        // A visitor rather than `Cow<str>`, whose `Deserialize` always allocates.
        struct Id;
        impl Visitor<'_> for Id {
            type Value = SessionId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session id")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SessionId, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Id)
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
    #[serde(rename = "m", default, skip_serializing_if = "Object::is_empty")]
    pub(crate) metadata: Object,
    #[serde(rename = "d", default, skip_serializing_if = "Object::is_empty")]
    pub(crate) values: Object,
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
            .field("metadata_keys", &self.metadata.keys())
            .field("value_keys", &self.values.keys())
            .finish_non_exhaustive()
    }
}

impl Record {
    /// The plaintext of this record.
    pub(crate) fn encode(&self) -> String {
        // Serialising plain data (strings, integers, JSON values with string keys) cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Appends the plaintext of this record to `buf`.
    pub(crate) fn encode_into(&self, buf: &mut Vec<u8>) {
        // As in `encode`: writing plain data into a `Vec` cannot fail.
        let _ = serde_json::to_writer(buf, self);
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

/// A JSON object of the envelope (`m`, `d`), kept as the text it was sealed as until something
/// reads or changes it.
///
/// Most requests read a session's uid, flags and a value or two: building a `serde_json::Map`
/// (a B-tree node, a `String` per key, a `Value` per entry) for every object on every request, and
/// dropping it again, was about a third of a cookie read. A `Raw` object is checked for JSON syntax
/// when the record is decoded; reading one key scans the text without allocating; the first
/// change parses it into a `Map`. Re-encoding an unchanged `Raw` object writes its text as it was.
///
/// The text comes from an authenticated seal, so it was written by this crate's encoder (which
/// writes what a `Map` serialises to). Should an authentic text still fail to parse (a keyholder's
/// hand-made record with a number out of range), whole-object reads see no entries, single keys
/// still read (the bad one as an error), inserts still splice, and changes that need the parsed
/// object (removal, metadata) fail with [`SessionError::Serde`](crate::SessionError::Serde); the
/// text is re-sealed as it came.
#[derive(Clone)]
pub(crate) enum Object {
    /// The sealed text: a JSON object, its syntax checked.
    Raw(Box<RawValue>),
    /// Parsed, or built in this process.
    Parsed(Map<String, Value>),
}

impl Default for Object {
    fn default() -> Self {
        Self::Parsed(Map::new())
    }
}

impl From<Map<String, Value>> for Object {
    fn from(map: Map<String, Value>) -> Self {
        Self::Parsed(map)
    }
}

impl Object {
    /// Whether the object has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Raw(raw) => is_empty_object(raw.get()),
            Self::Parsed(map) => map.is_empty(),
        }
    }

    /// The parsed entries, borrowed when parsed already.
    pub(crate) fn map(&self) -> Result<Cow<'_, Map<String, Value>>, serde_json::Error> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).map(Cow::Owned),
            Self::Parsed(map) => Ok(Cow::Borrowed(map)),
        }
    }

    /// The parsed entries, or none when the text does not parse.
    pub(crate) fn map_or_empty(&self) -> Cow<'_, Map<String, Value>> {
        self.map().unwrap_or_default()
    }

    /// The entries, to change: parses a `Raw` object first (it stays `Raw` when that fails).
    pub(crate) fn map_mut(&mut self) -> Result<&mut Map<String, Value>, serde_json::Error> {
        if let Self::Raw(raw) = self {
            *self = Self::Parsed(serde_json::from_str(raw.get())?);
        }
        let Self::Parsed(map) = self else {
            // Replaced just above.
            return Err(serde::de::Error::custom("unparsed object"));
        };
        Ok(map)
    }

    /// Sets `key` to `value`. A `Raw` object stays text: the entry's value is replaced in place
    /// (or the entry appended), without parsing the other entries. With `keep`, returns the
    /// object as it was, to put back.
    pub(crate) fn insert(
        &mut self,
        key: &str,
        value: Value,
        keep: bool,
    ) -> Result<Option<Self>, serde_json::Error> {
        match self {
            Self::Raw(raw) => {
                let spliced = splice(raw.get(), key, &value)?;
                let old = std::mem::replace(self, Self::Raw(spliced));
                Ok(keep.then_some(old))
            }
            Self::Parsed(map) => {
                let old = keep.then(|| Self::Parsed(map.clone()));
                map.insert(key.to_owned(), value);
                Ok(old)
            }
        }
    }

    /// Applies `f` to the parsed entries. With `keep`, also returns the object as it was, to put
    /// back (a `Raw` object is moved out, not copied).
    pub(crate) fn edit<R>(
        &mut self,
        keep: bool,
        f: impl FnOnce(&mut Map<String, Value>) -> R,
    ) -> Result<(R, Option<Self>), serde_json::Error> {
        let old = match self {
            Self::Raw(raw) => {
                let map = serde_json::from_str(raw.get())?;
                Some(std::mem::replace(self, Self::Parsed(map)))
            }
            Self::Parsed(map) => keep.then(|| Self::Parsed(map.clone())),
        };
        let Self::Parsed(map) = self else {
            // Replaced just above.
            return Err(serde::de::Error::custom("unparsed object"));
        };
        Ok((f(map), old.filter(|_| keep)))
    }

    /// The keys, for `Debug`.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.map_or_empty().keys().cloned().collect()
    }

    /// The value under `key` as a `T`, without building the rest of the object. As with a `Map`,
    /// the last of repeated keys counts.
    pub(crate) fn get_as<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, serde_json::Error> {
        match self {
            Self::Raw(raw) => match find(raw.get(), key)? {
                Some(value) => serde_json::from_str(value.get()).map(Some),
                None => Ok(None),
            },
            Self::Parsed(map) => map.get(key).map(T::deserialize).transpose(),
        }
    }

    /// The value under `key`, borrowed when parsed already. `None` also when the text does not
    /// parse.
    pub(crate) fn get(&self, key: &str) -> Option<Cow<'_, Value>> {
        match self {
            Self::Raw(raw) => {
                let value = find(raw.get(), key).ok()??;
                serde_json::from_str(value.get()).ok().map(Cow::Owned)
            }
            Self::Parsed(map) => map.get(key).map(Cow::Borrowed),
        }
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        match self {
            Self::Raw(raw) => matches!(find(raw.get(), key), Ok(Some(_))),
            Self::Parsed(map) => map.contains_key(key),
        }
    }
}

impl PartialEq for Object {
    /// The same entries; texts that do not parse compare as text.
    fn eq(&self, other: &Self) -> bool {
        match (self.map(), other.map()) {
            (Ok(a), Ok(b)) => a == b,
            _ => match (self, other) {
                (Self::Raw(a), Self::Raw(b)) => a.get() == b.get(),
                _ => false,
            },
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Raw(raw) => raw.serialize(s),
            Self::Parsed(map) => map.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        if raw.get().starts_with('{') {
            Ok(Self::Raw(raw))
        } else {
            Err(serde::de::Error::custom("expected a JSON object"))
        }
    }
}

/// The JSON object `text` with `key` set to `value`: the last entry named `key` gets the new
/// value in place, or the entry is appended. Every other byte stays as it was.
fn splice(text: &str, key: &str, value: &Value) -> Result<Box<RawValue>, serde_json::Error> {
    use serde::de::Error as _;
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + key.len() + 32);
    match find(text, key)? {
        Some(old) => {
            // `old` borrows from `text`: its offset in `text` is where the value starts.
            let start = (old.get().as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
            let end = start.saturating_add(old.get().len());
            let (Some(before), Some(was), Some(after)) =
                (text.get(..start), text.get(start..end), text.get(end..))
            else {
                return Err(serde_json::Error::custom("value outside its object"));
            };
            if was != old.get() {
                return Err(serde_json::Error::custom("value outside its object"));
            }
            out.extend_from_slice(before.as_bytes());
            serde_json::to_writer(&mut out, value)?;
            out.extend_from_slice(after.as_bytes());
        }
        None => {
            let Some(body) = text.strip_suffix('}') else {
                return Err(serde_json::Error::custom("not an object"));
            };
            out.extend_from_slice(body.as_bytes());
            if !is_empty_object(text) {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key)?;
            out.push(b':');
            serde_json::to_writer(&mut out, value)?;
            out.push(b'}');
        }
    }
    let out = String::from_utf8(out).map_err(serde_json::Error::custom)?;
    RawValue::from_string(out)
}

/// Whether the JSON object `text` has no entries.
fn is_empty_object(text: &str) -> bool {
    text.strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .is_some_and(|s| s.trim_ascii().is_empty())
}

/// The raw value of the last entry named `key` in the JSON object `text`.
fn find<'a>(text: &'a str, key: &str) -> Result<Option<&'a RawValue>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let found = Find(key).deserialize(&mut de)?;
    de.end()?;
    Ok(found)
}

/// Walks an object's entries, keeping the raw value of the last one named `.0`.
struct Find<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = entries.next_key_seed(KeyIs(self.0))? {
            if is_key {
                found = Some(entries.next_value::<&'de RawValue>()?);
            } else {
                entries.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads an object key and tells whether it is `.0`, without allocating.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
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
            metadata: metadata.into(),
            values: Object::default(),
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
        assert_eq!(
            record.metadata.get("n").and_then(|n| n.as_f64()),
            Some(1.544_444_444_444_444_2)
        );
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

    #[test]
    fn objects_stay_raw_until_changed_and_re_encode_as_sealed() {
        let text = r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"m":{"scope":["a","b"]},"d":{"n":41,"s":"x\"y","o":{"k":[1,2]}}}"#;
        let mut record = Record::decode(text).unwrap();
        assert!(matches!(record.values, Object::Raw(_)));
        assert!(matches!(record.metadata, Object::Raw(_)));
        assert_eq!(
            record.encode(),
            text,
            "an unchanged record re-encodes byte for byte"
        );
        assert_eq!(record.values.get_as::<u64>("n").unwrap(), Some(41));
        assert_eq!(
            record.values.get_as::<String>("s").unwrap().as_deref(),
            Some("x\"y")
        );
        assert_eq!(record.values.get_as::<u64>("missing").unwrap(), None);
        assert!(record.values.get_as::<u64>("s").is_err());
        assert!(record.values.contains_key("o") && !record.values.contains_key("k"));
        assert_eq!(
            record.values.get("o").as_deref(),
            Some(&serde_json::json!({"k": [1, 2]}))
        );
        assert_eq!(record.values.keys(), ["n", "o", "s"]);
        record
            .values
            .map_mut()
            .unwrap()
            .insert("n".into(), 42.into());
        assert!(matches!(record.values, Object::Parsed(_)));
        let again = Record::decode(&record.encode()).unwrap();
        assert_eq!(again.values.get_as::<u64>("n").unwrap(), Some(42));
        assert_eq!(again, record);
    }

    #[test]
    fn raw_objects_read_as_maps_do() {
        // The last of repeated keys counts, as a `Map` keeps it.
        let text = r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"d":{"n":1,"n":2}}"#;
        let record = Record::decode(text).unwrap();
        assert_eq!(record.values.get_as::<u64>("n").unwrap(), Some(2));
        assert_eq!(record.values.map().unwrap()["n"], 2);
        // Empty objects, with or without spaces, are empty.
        for empty in ["{}", "{ }", "{\n}"] {
            let text =
                format!(r#"{{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"d":{empty}}}"#);
            let record = Record::decode(&text).unwrap();
            assert!(record.values.is_empty(), "{empty}");
            assert_eq!(record, Record::decode(&record.encode()).unwrap());
        }
        // Anything but an object is refused, as it was when the maps were parsed at once.
        for other in ["[]", "1", "\"x\"", "null", "{", "{\"a\"}", "{\"a\":}"] {
            let text =
                format!(r#"{{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"m":{other}}}"#);
            assert_eq!(Record::decode(&text), None, "{other}");
        }
    }

    #[test]
    fn inserting_into_a_raw_object_splices_the_text() {
        let raw = |text: &str| Object::Raw(RawValue::from_string(text.to_owned()).unwrap());
        let text_of = |o: &Object| match o {
            Object::Raw(r) => r.get().to_owned(),
            Object::Parsed(_) => panic!("parsed"),
        };
        let cases = [
            // Replaced in place; the other bytes stay as they were.
            (
                r#"{"a":1,"k":"old","z":[1]}"#,
                "k",
                r#"{"a":1,"k":{"new":true},"z":[1]}"#,
            ),
            // The last of repeated keys is the one that counts, and the one replaced.
            (r#"{"k":1,"k":2}"#, "k", r#"{"k":1,"k":{"new":true}}"#),
            // Appended.
            (r#"{"a":1}"#, "k", r#"{"a":1,"k":{"new":true}}"#),
            (r#"{}"#, "k", r#"{"k":{"new":true}}"#),
            (r#"{ }"#, "k", r#"{ "k":{"new":true}}"#),
            // Keys are compared unescaped, and written escaped.
            (r#"{"k\u0022":1}"#, "k\"", r#"{"k\u0022":{"new":true}}"#),
            (r#"{"a":1}"#, "q\"", r#"{"a":1,"q\"":{"new":true}}"#),
        ];
        for (text, key, expected) in cases {
            let mut object = raw(text);
            let old = object
                .insert(key, serde_json::json!({"new": true}), true)
                .unwrap();
            assert_eq!(text_of(&object), expected, "{text} + {key}");
            assert_eq!(text_of(&old.unwrap()), text);
            assert_eq!(
                object.get(key).as_deref(),
                Some(&serde_json::json!({"new": true}))
            );
            let mut parsed = raw(text).map().unwrap().into_owned();
            parsed.insert(key.to_owned(), serde_json::json!({"new": true}));
            // No `Debug` for objects: they hold session values.
            assert!(
                object == Object::Parsed(parsed),
                "the same entries as a Map insert"
            );
        }
    }

    /// Syntax is checked when the record is decoded, number ranges only when the object is
    /// parsed: an authentic text with an out-of-range number (this crate never writes one) reads
    /// as no entries, refuses changes that need it parsed, and re-encodes as it came.
    #[test]
    fn a_raw_object_that_does_not_parse_reads_empty_and_refuses_changes() {
        let text =
            r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1,"d":{"n":1e400,"ok":1}}"#;
        let mut record = Record::decode(text).unwrap();
        assert!(record.values.map().is_err());
        assert!(record.values.map_or_empty().is_empty());
        assert!(record.values.get_as::<f64>("n").is_err());
        assert_eq!(record.values.get_as::<u64>("ok").unwrap(), Some(1));
        assert!(record.values.map_mut().is_err());
        assert!(record.values.edit(true, |m| m.remove("ok")).is_err());
        assert!(matches!(record.values, Object::Raw(_)));
        assert_eq!(record.encode(), text);
        assert_eq!(Record::decode(&record.encode()).as_ref(), Some(&record));
    }
}
