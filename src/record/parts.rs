//! Parts of the session envelope kept as the JSON text they were sealed as, until something reads
//! or changes them: the metadata and values objects (`m`, `d`) and the role and group lists
//! (`r`, `g`).
//!
//! Most requests read a session's uid, flags and a value or two. Building a `serde_json::Map`
//! (a B-tree node, a `String` per key, a `Value` per entry) and two `Vec<String>` for every
//! request, and dropping them again, was about a third of a cookie read. Instead, decoding checks
//! each part's syntax and shape (an object; an array of strings) and keeps where it lies in the
//! opened plaintext, which all parts share ([`Span`]): no allocation per part. Reading one key or
//! checking one role scans the text without allocating; the first change to an object parses it
//! (or, for an insert, splices the text); re-encoding writes an unchanged part's text as it was.
//!
//! The text comes from an authenticated seal, so it was written by this crate's encoder, which
//! writes what a `Map` or a `Vec<String>` serialises to. Should an authentic object still fail to
//! parse (a keyholder's hand-made record with a number out of range: the syntax check does not
//! look at number ranges), whole-object reads see no entries, single keys still read (the bad one
//! as an error), inserts still splice, and changes that need the parsed object (removal,
//! metadata) fail with [`SessionError::Serde`](crate::SessionError::Serde); the text is re-sealed
//! as it came.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::scan::{any_array_string, find_text, is_empty_object, splice, string_value};

/// A part of a text that several parts share.
#[derive(Clone)]
pub(crate) struct Span {
    text: Arc<str>,
    start: usize,
    end: usize,
}

impl Span {
    /// All of `text`.
    pub(crate) fn whole(text: String) -> Self {
        let end = text.len();
        Self {
            text: text.into(),
            start: 0,
            end,
        }
    }

    /// `part`, which must be a slice of `text` (as a value borrowed while deserialising `text`
    /// is); `None` when it is not.
    pub(crate) fn within(text: &Arc<str>, part: &str) -> Option<Self> {
        let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        let same = text
            .get(start..end)
            .is_some_and(|s| std::ptr::eq(s.as_ptr(), part.as_ptr()));
        same.then(|| Self {
            text: text.clone(),
            start,
            end,
        })
    }

    /// The part's text.
    pub(crate) fn get(&self) -> &str {
        self.text.get(self.start..self.end).unwrap_or_default()
    }
}

/// A JSON object of the envelope (`m`, `d`). See the [module docs](self).
#[derive(Clone)]
pub(crate) enum Object {
    /// The sealed text: a JSON object, its syntax checked.
    Raw(Span),
    /// Parsed, or built in this process.
    Parsed(Map<String, Value>),
    /// Built in this process and shared (a [`TokenCache`](crate::TokenCache) entry's parts):
    /// read in place, copied on the first change.
    #[cfg(feature = "cache")]
    Cached(Arc<Map<String, Value>>),
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
    /// Checks that `raw` is an object and keeps it as a part of `text`.
    pub(crate) fn decode(text: &Arc<str>, raw: &RawValue) -> Option<Self> {
        if !raw.get().starts_with('{') {
            return None;
        }
        Span::within(text, raw.get()).map(Self::Raw)
    }

    /// Whether the object has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Raw(raw) => is_empty_object(raw.get()),
            Self::Parsed(map) => map.is_empty(),
            #[cfg(feature = "cache")]
            Self::Cached(map) => map.is_empty(),
        }
    }

    /// Writes the object's JSON: a `Raw` object's text as it was sealed.
    pub(crate) fn write_json<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match self {
            Self::Raw(raw) => w.write_all(raw.get().as_bytes()),
            Self::Parsed(map) => serde_json::to_writer(w, map).map_err(io::Error::from),
            #[cfg(feature = "cache")]
            Self::Cached(map) => serde_json::to_writer(w, &**map).map_err(io::Error::from),
        }
    }

    /// The parsed entries, borrowed when parsed already.
    pub(crate) fn map(&self) -> Result<Cow<'_, Map<String, Value>>, serde_json::Error> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).map(Cow::Owned),
            Self::Parsed(map) => Ok(Cow::Borrowed(map)),
            #[cfg(feature = "cache")]
            Self::Cached(map) => Ok(Cow::Borrowed(&**map)),
        }
    }

    /// The parsed entries, or none when the text does not parse.
    pub(crate) fn map_or_empty(&self) -> Cow<'_, Map<String, Value>> {
        self.map().unwrap_or_default()
    }

    /// The entries, to change: parses a `Raw` object first (it stays `Raw` when that fails).
    pub(crate) fn map_mut(&mut self) -> Result<&mut Map<String, Value>, serde_json::Error> {
        match self {
            Self::Raw(raw) => *self = Self::Parsed(serde_json::from_str(raw.get())?),
            #[cfg(feature = "cache")]
            Self::Cached(map) => *self = Self::Parsed(Map::clone(map)),
            Self::Parsed(_) => {}
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
                let old = std::mem::replace(self, Self::Raw(Span::whole(spliced)));
                Ok(keep.then_some(old))
            }
            Self::Parsed(map) => {
                let old = keep.then(|| Self::Parsed(map.clone()));
                map.insert(key.to_owned(), value);
                Ok(old)
            }
            #[cfg(feature = "cache")]
            Self::Cached(map) => {
                let mut copy = Map::clone(map);
                copy.insert(key.to_owned(), value);
                let old = std::mem::replace(self, Self::Parsed(copy));
                Ok(keep.then_some(old))
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
            #[cfg(feature = "cache")]
            Self::Cached(map) => {
                let copy = Map::clone(map);
                Some(std::mem::replace(self, Self::Parsed(copy)))
            }
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
            Self::Raw(raw) => match find_text(raw.get(), key)? {
                Some(value) => serde_json::from_str(value).map(Some),
                None => Ok(None),
            },
            Self::Parsed(map) => map.get(key).map(T::deserialize).transpose(),
            #[cfg(feature = "cache")]
            Self::Cached(map) => map.get(key).map(T::deserialize).transpose(),
        }
    }

    /// The value under `key`, borrowed when parsed already. `None` also when the text does not
    /// parse.
    pub(crate) fn get(&self, key: &str) -> Option<Cow<'_, Value>> {
        match self {
            Self::Raw(raw) => {
                let value = find_text(raw.get(), key).ok()??;
                serde_json::from_str(value).ok().map(Cow::Owned)
            }
            Self::Parsed(map) => map.get(key).map(Cow::Borrowed),
            #[cfg(feature = "cache")]
            Self::Cached(map) => map.get(key).map(Cow::Borrowed),
        }
    }

    /// Whether any string under `key` satisfies `f`: the value is an array (its string items;
    /// other items are skipped) or one space-separated string, as scopes are written. Reads a
    /// sealed text in place: no `Value` is built, and nothing is allocated unless a string has
    /// escapes. `false` when the key is absent, of another type, or does not parse.
    pub(crate) fn any_str(&self, key: &str, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Self::Raw(raw) => {
                let Ok(Some(value)) = find_text(raw.get(), key) else {
                    return false;
                };
                match string_value(value) {
                    Some(words) => words.split_ascii_whitespace().any(f),
                    None => any_array_string(value, &mut f),
                }
            }
            Self::Parsed(map) => any_str_in(map.get(key), f),
            #[cfg(feature = "cache")]
            Self::Cached(map) => any_str_in(map.get(key), f),
        }
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        match self {
            Self::Raw(raw) => matches!(find_text(raw.get(), key), Ok(Some(_))),
            Self::Parsed(map) => map.contains_key(key),
            #[cfg(feature = "cache")]
            Self::Cached(map) => map.contains_key(key),
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

/// [`Object::any_str`] on a parsed value.
fn any_str_in(value: Option<&Value>, f: impl FnMut(&str) -> bool) -> bool {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(f),
        Some(Value::String(s)) => s.split_ascii_whitespace().any(f),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_object(text: &str) -> Object {
        Object::Raw(Span::whole(text.to_owned()))
    }

    fn text_of(o: &Object) -> String {
        match o {
            Object::Raw(r) => r.get().to_owned(),
            _ => panic!("not raw"),
        }
    }

    #[test]
    fn strings_under_a_key_are_read_in_place_like_the_parsed_value() {
        let cases = [
            (r#"{"scope":["a","b\"c",1,null,["x"],{"k":"y"},"d"]}"#, true),
            (r#"{"x":1,"scope":"a  b\"c\td"}"#, true),
            (r#"{"scope":{"a":"b"}}"#, false),
            (r#"{"scope":7}"#, false),
            (r#"{"other":["a"]}"#, false),
        ];
        for (json, has_strings) in cases {
            let text: Arc<str> = Arc::from(json);
            let raw: &RawValue = serde_json::from_str(&text).unwrap();
            let lazy = Object::decode(&text, raw).unwrap();
            let parsed = Object::Parsed(serde_json::from_str(json).unwrap());
            for probe in ["a", "b\"c", "d", "x", "y", "1", ""] {
                let want = parsed.any_str("scope", |s| s == probe);
                assert_eq!(
                    lazy.any_str("scope", |s| s == probe),
                    want,
                    "{json} {probe}"
                );
            }
            assert_eq!(lazy.any_str("scope", |_| true), has_strings, "{json}");
            assert!(!lazy.any_str("scope", |s| s == "x" || s == "y"), "{json}");
        }
        let mut seen = Vec::new();
        let text: Arc<str> = Arc::from(r#"{"scope":["a","b","c"]}"#);
        let raw: &RawValue = serde_json::from_str(&text).unwrap();
        assert!(Object::decode(&text, raw).unwrap().any_str("scope", |s| {
            seen.push(s.to_owned());
            s == "b"
        }));
        assert_eq!(seen, ["a", "b"], "the walk stops at the first yes");
    }

    #[cfg(feature = "cache")]
    #[test]
    fn shared_parts_read_in_place_and_are_copied_on_change() {
        let map: Map<String, Value> = serde_json::from_str(r#"{"n":41,"s":"x"}"#).unwrap();
        let shared = Arc::new(map.clone());
        let mut o = Object::Cached(shared.clone());
        assert!(!o.is_empty());
        assert_eq!(o.get_as::<u64>("n").unwrap(), Some(41));
        assert!(o.contains_key("s"));
        assert!(matches!(o.map().unwrap(), Cow::Borrowed(_)));
        assert!(o == Object::Parsed(map.clone()));
        let mut json = Vec::new();
        o.write_json(&mut json).unwrap();
        assert_eq!(json, serde_json::to_vec(&map).unwrap());

        let old = o.insert("n", Value::from(42), true).unwrap();
        assert!(matches!(old, Some(Object::Cached(_))));
        assert_eq!(o.get_as::<u64>("n").unwrap(), Some(42));
        assert_eq!(shared["n"], 41, "the shared map is untouched");

        let mut o = Object::Cached(shared.clone());
        let (removed, old) = o.edit(true, |m| m.remove("s")).unwrap();
        assert_eq!(removed, Some(Value::from("x")));
        assert!(matches!(old, Some(Object::Cached(_))));
        assert!(!o.contains_key("s"));
        let mut o = Object::Cached(shared.clone());
        o.map_mut().unwrap().clear();
        assert!(o.is_empty());
        assert_eq!(shared.len(), 2);
    }

    #[test]
    fn spans_are_parts_of_their_text() {
        let text: Arc<str> = Arc::from(r#"{"a":[1]}"#);
        let part = text.get(5..8).unwrap();
        assert_eq!(Span::within(&text, part).unwrap().get(), "[1]");
        assert!(Span::within(&text, "[1]").is_none(), "a copy elsewhere");
        let other: Arc<str> = Arc::from(r#"{"a":[1]}"#);
        assert!(Span::within(&other, part).is_none());
    }

    /// The shape scan agrees with serde_json reading a `Vec<String>`, on valid JSON.
    #[test]
    fn raw_objects_read_as_maps_do() {
        let object = raw_object(r#"{"n":1,"s":"x\"y","o":{"k":[1,2]},"n":2}"#);
        // The last of repeated keys counts, as a `Map` keeps it.
        assert_eq!(object.get_as::<u64>("n").unwrap(), Some(2));
        assert_eq!(object.map().unwrap()["n"], 2);
        assert_eq!(
            object.get_as::<String>("s").unwrap().as_deref(),
            Some("x\"y")
        );
        assert_eq!(object.get_as::<u64>("missing").unwrap(), None);
        assert!(object.get_as::<u64>("s").is_err());
        assert!(object.contains_key("o") && !object.contains_key("k"));
        assert_eq!(
            object.get("o").as_deref(),
            Some(&serde_json::json!({"k": [1, 2]}))
        );
        assert_eq!(object.keys(), ["n", "o", "s"]);
        for empty in ["{}", "{ }", "{\n}"] {
            assert!(raw_object(empty).is_empty());
        }
        assert!(!raw_object(r#"{"a":{}}"#).is_empty());
    }

    /// The byte scan finds what serde_json's walk finds, on every shape of object.
    #[test]
    fn inserting_into_a_raw_object_splices_the_text() {
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
            let mut object = raw_object(text);
            let old = object
                .insert(key, serde_json::json!({"new": true}), true)
                .unwrap();
            assert_eq!(text_of(&object), expected, "{text} + {key}");
            assert!(serde_json::from_str::<&RawValue>(&text_of(&object)).is_ok());
            assert_eq!(text_of(&old.unwrap()), text);
            assert_eq!(
                object.get(key).as_deref(),
                Some(&serde_json::json!({"new": true}))
            );
            let mut parsed = raw_object(text).map().unwrap().into_owned();
            parsed.insert(key.to_owned(), serde_json::json!({"new": true}));
            // No `Debug` for objects: they hold session values.
            assert!(
                object == Object::Parsed(parsed),
                "the same entries as a Map insert"
            );
        }
    }

    #[test]
    fn a_raw_object_that_does_not_parse_reads_empty_and_refuses_changes_that_parse() {
        let mut object = raw_object(r#"{"n":1e400,"ok":1}"#);
        assert!(object.map().is_err());
        assert!(object.map_or_empty().is_empty());
        assert!(object.get_as::<f64>("n").is_err());
        assert_eq!(object.get_as::<u64>("ok").unwrap(), Some(1));
        assert!(object.map_mut().is_err());
        assert!(object.edit(true, |m| m.remove("ok")).is_err());
        assert_eq!(text_of(&object), r#"{"n":1e400,"ok":1}"#);
    }
}
