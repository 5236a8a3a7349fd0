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
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

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
    Shared(Arc<Map<String, Value>>),
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
            Self::Shared(map) => map.is_empty(),
        }
    }

    /// Writes the object's JSON: a `Raw` object's text as it was sealed.
    pub(crate) fn write_json<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match self {
            Self::Raw(raw) => w.write_all(raw.get().as_bytes()),
            Self::Parsed(map) => serde_json::to_writer(w, map).map_err(io::Error::from),
            Self::Shared(map) => serde_json::to_writer(w, &**map).map_err(io::Error::from),
        }
    }

    /// The parsed entries, borrowed when parsed already.
    pub(crate) fn map(&self) -> Result<Cow<'_, Map<String, Value>>, serde_json::Error> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).map(Cow::Owned),
            Self::Parsed(map) => Ok(Cow::Borrowed(map)),
            Self::Shared(map) => Ok(Cow::Borrowed(&**map)),
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
            Self::Shared(map) => *self = Self::Parsed(Map::clone(map)),
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
            Self::Shared(map) => {
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
            Self::Shared(map) => {
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
            Self::Shared(map) => map.get(key).map(T::deserialize).transpose(),
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
            Self::Shared(map) => map.get(key).map(Cow::Borrowed),
        }
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        match self {
            Self::Raw(raw) => matches!(find_text(raw.get(), key), Ok(Some(_))),
            Self::Parsed(map) => map.contains_key(key),
            Self::Shared(map) => map.contains_key(key),
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

/// A list of strings of the envelope (`r`, `g`). See the [module docs](self).
#[derive(Clone)]
pub(crate) enum Strings {
    /// The sealed text: a JSON array of strings, checked.
    Raw(Span),
    /// Parsed, or built in this process.
    Parsed(Vec<String>),
    /// Built in this process and shared (a [`TokenCache`](crate::TokenCache) entry's parts).
    Shared(Arc<[String]>),
}

impl Default for Strings {
    fn default() -> Self {
        Self::Parsed(Vec::new())
    }
}

impl From<Vec<String>> for Strings {
    fn from(list: Vec<String>) -> Self {
        Self::Parsed(list)
    }
}

impl Strings {
    /// Checks that `raw` is an array of strings and keeps it as a part of `text`.
    pub(crate) fn decode(text: &Arc<str>, raw: &RawValue) -> Option<Self> {
        if !is_string_array(raw.get().as_bytes()) {
            return None;
        }
        Span::within(text, raw.get()).map(Self::Raw)
    }

    /// Whether the list is empty.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Self::Raw(raw) => raw
                .get()
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .is_some_and(|s| s.trim_ascii().is_empty()),
            Self::Parsed(list) => list.is_empty(),
            Self::Shared(list) => list.is_empty(),
        }
    }

    /// Whether any string satisfies `f` (without allocating, unless a string has escapes).
    pub(crate) fn any(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Self::Raw(raw) => {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                EachStr(&mut f).deserialize(&mut de).unwrap_or(false)
            }
            Self::Parsed(list) => list.iter().any(|s| f(s)),
            Self::Shared(list) => list.iter().any(|s| f(s)),
        }
    }

    /// The strings.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
            Self::Parsed(list) => list.clone(),
            Self::Shared(list) => list.to_vec(),
        }
    }

    /// Writes the list's JSON: a `Raw` list's text as it was sealed.
    pub(crate) fn write_json<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match self {
            Self::Raw(raw) => w.write_all(raw.get().as_bytes()),
            Self::Parsed(list) => serde_json::to_writer(w, list).map_err(io::Error::from),
            Self::Shared(list) => serde_json::to_writer(w, &**list).map_err(io::Error::from),
        }
    }
}

impl PartialEq for Strings {
    fn eq(&self, other: &Self) -> bool {
        self.to_vec() == other.to_vec()
    }
}

impl fmt::Debug for Strings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

/// Walks an array that must hold only strings, until `.0` says yes to one.
struct EachStr<'f, F>(&'f mut F);

impl<'de, F: FnMut(&str) -> bool> DeserializeSeed<'de> for EachStr<'_, F> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&str) -> bool> Visitor<'de> for EachStr<'_, F> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
        let mut found = false;
        // Every element is checked to be a string, even after a match.
        while let Some(yes) = items.next_element_seed(StrIs(&mut *self.0))? {
            found |= yes;
        }
        Ok(found)
    }
}

/// Reads a string (and nothing else) and tells what `.0` says of it, without allocating.
struct StrIs<'f, F>(&'f mut F);

impl<'de, F: FnMut(&str) -> bool> DeserializeSeed<'de> for StrIs<'_, F> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<F: FnMut(&str) -> bool> Visitor<'_> for StrIs<'_, F> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<bool, E> {
        Ok((self.0)(s))
    }
}

/// The JSON object `text` with `key` set to `value`: the last entry named `key` gets the new
/// value in place, or the entry is appended. Every other byte stays as it was.
fn splice(text: &str, key: &str, value: &Value) -> Result<String, serde_json::Error> {
    use serde::de::Error as _;
    let mut out: Vec<u8> = Vec::with_capacity(text.len() + key.len() + 32);
    match find_text(text, key)? {
        Some(old) => {
            // `old` borrows from `text`: its offset in `text` is where the value starts.
            let start = (old.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
            let end = start.saturating_add(old.len());
            let (Some(before), Some(was), Some(after)) =
                (text.get(..start), text.get(start..end), text.get(end..))
            else {
                return Err(serde_json::Error::custom("value outside its object"));
            };
            if !std::ptr::eq(was.as_ptr(), old.as_ptr()) {
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
    // Valid JSON by construction: a valid object, with one value replaced by, or one entry of,
    // serde_json's own output.
    String::from_utf8(out).map_err(serde_json::Error::custom)
}

/// Whether the JSON object `text` has no entries.
fn is_empty_object(text: &str) -> bool {
    text.strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .is_some_and(|s| s.trim_ascii().is_empty())
}

/// The text of the value of the last entry named `key` in the JSON object `text`, the object's
/// syntax already checked: a byte scan of the top level, with serde_json's walk ([`find`]) when
/// the scan cannot decide (an escaped key, anything unexpected).
fn find_text<'a>(text: &'a str, key: &str) -> Result<Option<&'a str>, serde_json::Error> {
    match scan_entries(text.as_bytes(), key.as_bytes()) {
        Some(Some((start, end))) => Ok(text.get(start..end)),
        Some(None) => Ok(None),
        None => find(text, key).map(|found| found.map(RawValue::get)),
    }
}

/// The byte range of the value of the last top-level entry named `key` in the JSON object
/// `text`; `Some(None)` when there is none, `None` when this scan cannot tell.
fn scan_entries(text: &[u8], key: &[u8]) -> Option<Option<(usize, usize)>> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b'}') {
        return Some(None);
    }
    let mut found = None;
    loop {
        if text.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let end = start + memchr::memchr2(b'"', b'\\', text.get(start..)?)?;
        if text.get(end) != Some(&b'"') {
            // An escape in a key: compare it unescaped, as serde_json does.
            return None;
        }
        let name = text.get(start..end)?;
        i = skip_ws(text, end + 1);
        if text.get(i) != Some(&b':') {
            return None;
        }
        let value = skip_ws(text, i + 1);
        i = skip_value(text, value)?;
        if name == key {
            found = Some((value, i));
        }
        i = skip_ws(text, i);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return Some(found),
            _ => return None,
        }
    }
}

/// Whether the JSON value `text` (its syntax already checked) is an array of strings: a byte
/// scan of its top level.
fn is_string_array(text: &[u8]) -> bool {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'[') {
        return false;
    }
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b']') {
        return skip_ws(text, i + 1) == text.len();
    }
    loop {
        if text.get(i) != Some(&b'"') {
            return false;
        }
        let Some(end) = skip_string(text, i) else {
            return false;
        };
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b']') => return skip_ws(text, i + 1) == text.len(),
            _ => return false,
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while matches!(text.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the JSON value starting at `i`.
fn skip_value(text: &[u8], i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match text.get(j)? {
                    b'"' => {
                        j = skip_string(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = text.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The end of the JSON string starting at `i` (its opening quote).
fn skip_string(text: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j += memchr::memchr2(b'"', b'\\', text.get(j..)?)?;
        match text.get(j)? {
            b'\\' => j += 2,
            _ => return Some(j + 1),
        }
    }
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

    fn raw_object(text: &str) -> Object {
        Object::Raw(Span::whole(text.to_owned()))
    }

    fn text_of(o: &Object) -> String {
        match o {
            Object::Raw(r) => r.get().to_owned(),
            Object::Parsed(_) | Object::Shared(_) => panic!("not raw"),
        }
    }

    #[test]
    fn shared_parts_read_in_place_and_are_copied_on_change() {
        let map: Map<String, Value> = serde_json::from_str(r#"{"n":41,"s":"x"}"#).unwrap();
        let shared = Arc::new(map.clone());
        let mut o = Object::Shared(shared.clone());
        assert!(!o.is_empty());
        assert_eq!(o.get_as::<u64>("n").unwrap(), Some(41));
        assert!(o.contains_key("s"));
        assert!(matches!(o.map().unwrap(), Cow::Borrowed(_)));
        assert!(o == Object::Parsed(map.clone()));
        let mut json = Vec::new();
        o.write_json(&mut json).unwrap();
        assert_eq!(json, serde_json::to_vec(&map).unwrap());

        let old = o.insert("n", Value::from(42), true).unwrap();
        assert!(matches!(old, Some(Object::Shared(_))));
        assert_eq!(o.get_as::<u64>("n").unwrap(), Some(42));
        assert_eq!(shared["n"], 41, "the shared map is untouched");

        let mut o = Object::Shared(shared.clone());
        let (removed, old) = o.edit(true, |m| m.remove("s")).unwrap();
        assert_eq!(removed, Some(Value::from("x")));
        assert!(matches!(old, Some(Object::Shared(_))));
        assert!(!o.contains_key("s"));
        let mut o = Object::Shared(shared.clone());
        o.map_mut().unwrap().clear();
        assert!(o.is_empty());
        assert_eq!(shared.len(), 2);

        let list: Arc<[String]> = vec!["a".to_owned(), "b".to_owned()].into();
        let strings = Strings::Shared(list);
        assert!(strings.any(|s| s == "b"));
        assert!(!strings.is_empty());
        assert_eq!(strings.to_vec(), ["a", "b"]);
        let mut json = Vec::new();
        strings.write_json(&mut json).unwrap();
        assert_eq!(json, br#"["a","b"]"#);
        assert!(Strings::Shared(Vec::new().into()).is_empty());
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

    #[test]
    fn string_lists_check_their_shape_and_match_without_parsing() {
        let text: Arc<str> = Arc::from(r#"["a","b\"c",""]"#);
        let raw: &RawValue = serde_json::from_str(&text).unwrap();
        let list = Strings::decode(&text, raw).unwrap();
        assert!(list.any(|s| s == "b\"c") && list.any(str::is_empty) && !list.any(|s| s == "d"));
        assert_eq!(list.to_vec(), ["a", "b\"c", ""]);
        assert!(!list.is_empty());
        assert!(list == Strings::from(vec!["a".into(), "b\"c".into(), String::new()]));
        for bad in ["[1]", r#"["a",null]"#, "{}", "null", r#""a""#, "[[]]"] {
            let text: Arc<str> = Arc::from(bad);
            let raw: &RawValue = serde_json::from_str(&text).unwrap();
            assert!(Strings::decode(&text, raw).is_none(), "{bad}");
        }
        for empty in ["[]", "[ ]"] {
            let text: Arc<str> = Arc::from(empty);
            let raw: &RawValue = serde_json::from_str(&text).unwrap();
            assert!(Strings::decode(&text, raw).unwrap().is_empty());
        }
    }

    /// The shape scan agrees with serde_json reading a `Vec<String>`, on valid JSON.
    #[test]
    fn the_string_array_scan_agrees_with_serde_json() {
        let cases = [
            "[]",
            "[ ]",
            r#"["a"]"#,
            r#"[ "a" , "b\"]" ]"#,
            r#"["\\",""]"#,
            r#"["a",1]"#,
            r#"[1,"a"]"#,
            r#"["a",["b"]]"#,
            r#"[["a"]]"#,
            r#"["a",null]"#,
            r#"["a",{}]"#,
            "{}",
            "null",
            r#""a""#,
            "[true]",
            r#"["a","b","c"]"#,
        ];
        for case in cases {
            serde_json::from_str::<&RawValue>(case).expect("valid JSON");
            let typed = serde_json::from_str::<Vec<String>>(case).is_ok();
            assert_eq!(is_string_array(case.as_bytes()), typed, "{case}");
        }
    }

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
    fn the_key_scan_agrees_with_serde_json() {
        let values = [
            "1",
            "-2.5e3",
            "true",
            "null",
            r#""s""#,
            r#""a\"b\\""#,
            r#""}]{[,:""#,
            "[]",
            "{}",
            r#"[1,{"k":[2,"]"]}]"#,
            r#"{"k":{"k":1},"x":"\\"}"#,
            "[ 1 , 2 ]",
        ];
        let keys = ["k", "x", "k\"", "", "kk"];
        let spellings = [
            r#""k""#,
            r#""x""#,
            r#""k\"""#,
            r#""""#,
            r#""\u006b""#,
            r#""kk""#,
        ];
        let mut cases = vec![String::from("{}"), String::from(" { } ")];
        for (n, v) in values.iter().enumerate() {
            for (m, k) in spellings.iter().enumerate() {
                let other = values[(n + m) % values.len()];
                cases.push(format!("{{{k}:{v}}}"));
                cases.push(format!(r#"{{"a":{other},{k}:{v},"z":{other}}}"#));
                cases.push(format!("{{ {k} : {v} , {k} :{other} }}"));
                cases.push(format!("{{\n\t{k}:\r{other},\"k\":{v}}}"));
            }
        }
        for case in &cases {
            serde_json::from_str::<&RawValue>(case).expect("valid JSON");
            for key in keys {
                let walked = find(case, key).unwrap().map(RawValue::get);
                assert_eq!(find_text(case, key).unwrap(), walked, "{case} {key}");
            }
        }
    }

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
