//! Byte scans of the JSON text of a record's lazy parts: finding a top-level key, checking a
//! string array, splicing one entry, without building a `serde_json` value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self as de, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// The JSON object `text` with `key` set to `value`: the last entry named `key` gets the new
/// value in place, or the entry is appended. Every other byte stays as it was.
#[inline]
pub(super) fn splice(text: &str, key: &str, value: &Value) -> Result<String, serde_json::Error> {
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
pub(super) fn is_empty_object(text: &str) -> bool {
    text.strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .is_some_and(|s| s.trim_ascii().is_empty())
}

/// The text of the value of the last entry named `key` in the JSON object `text`, the object's
/// syntax already checked: a byte scan of the top level, with serde_json's walk ([`find`]) when
/// the scan cannot decide (an escaped key, anything unexpected).
pub(super) fn find_text<'a>(
    text: &'a str,
    key: &str,
) -> Result<Option<&'a str>, serde_json::Error> {
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

/// Whether `f` says yes to a string item of the JSON array `text` (its syntax already checked;
/// items that are not strings are skipped, and `false` for a value that is not an array): a byte
/// scan that borrows every string, and serde_json's walk only when a string has escapes or an
/// item is not a string. `f` is not asked again after its first yes.
pub(super) fn any_array_string(text: &str, f: &mut impl FnMut(&str) -> bool) -> bool {
    any_plain_string(text, f).unwrap_or_else(|| {
        let mut de = serde_json::Deserializer::from_str(text);
        AnyStr(f).deserialize(&mut de).unwrap_or(false)
    })
}

/// The string the JSON value `text` is, borrowed unless it has escapes; `None` for any other
/// value.
pub(super) fn string_value(text: &str) -> Option<Cow<'_, str>> {
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str(text) {
        Ok(Item::Str(s)) => Some(s),
        _ => None,
    }
}

/// Asks `f` about each string of the JSON array `text` (its syntax already checked) until it
/// says yes: a byte scan that borrows every string. `None` when the scan cannot decide (a string
/// with escapes, an item that is not a string): the caller then walks the array with serde_json,
/// asking `f` again from the start, so `f` must answer the same for the same string.
fn any_plain_string(text: &str, f: &mut impl FnMut(&str) -> bool) -> Option<bool> {
    let bytes = text.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(bytes, i + 1);
    if bytes.get(i) == Some(&b']') {
        return Some(false);
    }
    loop {
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let end = start + memchr::memchr2(b'"', b'\\', bytes.get(start..)?)?;
        if bytes.get(end) != Some(&b'"') {
            return None;
        }
        if f(text.get(start..end)?) {
            return Some(true);
        }
        i = skip_ws(bytes, end + 1);
        match bytes.get(i) {
            Some(b',') => i = skip_ws(bytes, i + 1),
            Some(b']') => return Some(false),
            _ => return None,
        }
    }
}

/// Whether the JSON value `text` (its syntax already checked) is an array of strings: a byte
/// scan of its top level.
pub(super) fn is_string_array(text: &[u8]) -> bool {
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

/// Walks a JSON array and tells whether `.0` says yes to one of its strings; other items are
/// skipped, and `.0` is not asked again after the first yes.
struct AnyStr<'f, F>(&'f mut F);

impl<'de, F: FnMut(&str) -> bool> DeserializeSeed<'de> for AnyStr<'_, F> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(&str) -> bool> Visitor<'de> for AnyStr<'_, F> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
        while let Some(item) = items.next_element::<Item<'de>>()? {
            if let Item::Str(s) = item {
                if (self.0)(&s) {
                    // The rest is skipped, not checked: serde_json wants the array read to its end.
                    while items.next_element::<de::IgnoredAny>()?.is_some() {}
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// One array item: a string (borrowed unless it has escapes) or anything else, skipped.
enum Item<'de> {
    Str(Cow<'de, str>),
    Other,
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Item<'de>, E> {
        Ok(Item::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Item<'de>, E> {
        Ok(Item::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item<'de>, E> {
        Ok(Item::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item<'de>, E> {
        Ok(Item::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Item<'de>, E> {
        Ok(Item::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item<'de>, E> {
        Ok(Item::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Item<'de>, E> {
        Ok(Item::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Item<'de>, A::Error> {
        while items.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Item::Other)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut entries: A) -> Result<Item<'de>, A::Error> {
        while entries
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Item::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_are_scanned_and_the_rest_left_to_serde() {
        let mut asked = Vec::new();
        let mut f = |s: &str| {
            asked.push(s.to_owned());
            s == "b"
        };
        assert_eq!(
            any_plain_string(r#" [ "a" , "b", "c" ] "#, &mut f),
            Some(true)
        );
        assert_eq!(asked, ["a", "b"]);
        let mut never = |_: &str| false;
        assert_eq!(any_plain_string(r#"["a","b"]"#, &mut never), Some(false));
        assert_eq!(any_plain_string("[ ]", &mut never), Some(false));
        for undecided in [
            r#"["a\"b"]"#,
            r#"["a",1]"#,
            r#"["a",["b"]]"#,
            r#""a""#,
            "{}",
        ] {
            assert_eq!(any_plain_string(undecided, &mut never), None, "{undecided}");
        }
    }

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
}
