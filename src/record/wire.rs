//! The record's wire encoding: compact JSON, keys as in the table of the [module docs](super).

use std::io::{self, Write};
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::id::{SessionId, B64URL};
use super::{Object, Record, Strings, VERSION};

/// The plaintext as read: the lazy parts borrowed from it. Repeated keys are refused, unknown
/// keys ignored; `null` is refused for the lazy parts, as for the typed fields they replaced.
#[derive(Deserialize)]
struct Wire<'a> {
    v: u8,
    i: SessionId,
    #[serde(default)]
    u: Option<String>,
    c: i64,
    l: i64,
    a: i64,
    #[serde(default)]
    ra: bool,
    #[serde(default)]
    mf: bool,
    #[serde(default, borrow, deserialize_with = "raw")]
    r: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    g: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    m: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "raw")]
    d: Option<&'a RawValue>,
    #[serde(default)]
    k: Option<i64>,
}

/// A present key's raw value, `null` included (an `Option` would read `null` as absent).
fn raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl Record {
    /// The plaintext of this record.
    #[cfg(any(test, fuzzing, feature = "test-util"))]
    pub(crate) fn encode(&self) -> String {
        let mut buf = Vec::with_capacity(512);
        self.encode_into(&mut buf);
        // JSON written from `str`s and serde_json's output is UTF-8.
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Appends the plaintext of this record to `buf`.
    pub(crate) fn encode_into(&self, buf: &mut Vec<u8>) {
        // Writing into a `Vec` cannot fail.
        let _ = self.write_json(buf);
    }

    /// The length of [`Record::encode`]'s output, without building it.
    pub(crate) fn encoded_len(&self) -> usize {
        struct Counter(usize);
        impl Write for Counter {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut counter = Counter(0);
        match self.write_json(&mut counter) {
            Ok(()) => counter.0,
            Err(_) => usize::MAX,
        }
    }

    /// Writes the compact JSON of the record: keys in the order of the table in the module docs,
    /// optional ones only when set, strings escaped by serde_json, lazy parts that were not
    /// changed as their sealed text.
    fn write_json<W: Write>(&self, w: &mut W) -> io::Result<()> {
        #[inline]
        fn int<W: Write>(w: &mut W, key: &[u8], n: i64) -> io::Result<()> {
            w.write_all(key)?;
            serde_json::to_writer(&mut *w, &n).map_err(io::Error::from)
        }
        w.write_all(b"{\"v\":")?;
        serde_json::to_writer(&mut *w, &self.version)?;
        // The id's 22 base64url characters, without the formatting machinery of `Display`.
        let mut id = [0u8; 22];
        let n = B64URL
            .encode_slice(self.id.as_bytes(), &mut id)
            .map_err(io::Error::other)?;
        w.write_all(b",\"i\":\"")?;
        w.write_all(id.get(..n).unwrap_or_default())?;
        w.write_all(b"\"")?;
        if let Some(uid) = &self.uid {
            w.write_all(b",\"u\":")?;
            serde_json::to_writer(&mut *w, uid)?;
        }
        int(w, b",\"c\":", self.created)?;
        int(w, b",\"l\":", self.last_seen)?;
        int(w, b",\"a\":", self.auth_time)?;
        if self.role_account {
            w.write_all(b",\"ra\":true")?;
        }
        if self.mfa {
            w.write_all(b",\"mf\":true")?;
        }
        if !self.roles.is_empty() {
            w.write_all(b",\"r\":")?;
            self.roles.write_json(w)?;
        }
        if !self.groups.is_empty() {
            w.write_all(b",\"g\":")?;
            self.groups.write_json(w)?;
        }
        if !self.metadata.is_empty() {
            w.write_all(b",\"m\":")?;
            self.metadata.write_json(w)?;
        }
        if !self.values.is_empty() {
            w.write_all(b",\"d\":")?;
            self.values.write_json(w)?;
        }
        if let Some(checked) = self.checked {
            int(w, b",\"k\":", checked)?;
        }
        w.write_all(b"}")
    }

    /// Parses a plaintext. `None` for anything that is not a version-1 record.
    pub(crate) fn decode(plaintext: &str) -> Option<Self> {
        Self::decode_shared(&Arc::from(plaintext))
    }

    /// [`Record::decode`], the lazy parts keeping `plaintext` alive.
    pub(crate) fn decode_shared(plaintext: &Arc<str>) -> Option<Self> {
        let wire: Wire<'_> = serde_json::from_str(plaintext).ok()?;
        if wire.v != VERSION {
            return None;
        }
        let strings = |raw: Option<&RawValue>| match raw {
            Some(raw) => Strings::decode(plaintext, raw),
            None => Some(Strings::default()),
        };
        let object = |raw: Option<&RawValue>| match raw {
            Some(raw) => Object::decode(plaintext, raw),
            None => Some(Object::default()),
        };
        Some(Self {
            version: wire.v,
            id: wire.i,
            uid: wire.u,
            created: wire.c,
            last_seen: wire.l,
            auth_time: wire.a,
            role_account: wire.ra,
            mfa: wire.mf,
            roles: strings(wire.r)?,
            groups: strings(wire.g)?,
            metadata: object(wire.m)?,
            values: object(wire.d)?,
            checked: wire.k,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let mut metadata = serde_json::Map::new();
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
            roles: vec!["admin".to_owned()].into(),
            groups: Strings::default(),
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
        let dup = sample()
            .encode()
            .replace(r#""r":["admin"]"#, r#""r":["admin"],"r":[]"#);
        assert_eq!(Record::decode(&dup), None);
        // The lazy parts are checked for their shape as the typed fields were: `null` included.
        let base = r#"{"v":1,"i":"BwcHBwcHBwcHBwcHBwcHBw","c":1,"l":1,"a":1"#;
        assert!(Record::decode(&format!("{base}}}")).is_some());
        for (key, bad) in [
            ("r", "null"),
            ("r", "[1]"),
            ("r", r#""admin""#),
            ("r", r#"["a",["b"]]"#),
            ("g", "{}"),
            ("m", "null"),
            ("m", "[]"),
            ("d", "null"),
            ("d", "1"),
            ("d", r#"{"a"}"#),
        ] {
            let text = format!(r#"{base},"{key}":{bad}}}"#);
            assert_eq!(Record::decode(&text), None, "{text}");
        }
        let ok = format!(r#"{base},"r":["a\"b"],"g":[],"m":{{}},"d":{{"x":[{{}}]}}}}"#);
        let record = Record::decode(&ok).unwrap();
        assert!(record.roles.any(|r| r == "a\"b"));
        assert!(record.groups.is_empty() && record.metadata.is_empty());
        assert_eq!(Record::decode(&record.encode()), Some(record));
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
