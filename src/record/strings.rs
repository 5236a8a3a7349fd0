//! The role and group lists of an opened record, kept as their sealed JSON text until read as a
//! whole (see the [parts module](super::parts)).

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use serde_json::value::RawValue;

use super::parts::Span;
use super::scan::{any_array_string, is_string_array};

/// A list of strings of the envelope (`r`, `g`). See the [module docs](self).
#[derive(Clone)]
pub(crate) enum Strings {
    /// The sealed text: a JSON array of strings, checked.
    Raw(Span),
    /// Parsed, or built in this process.
    Parsed(Vec<String>),
    /// Built in this process and shared (a [`TokenCache`](crate::TokenCache) entry's parts).
    #[cfg(feature = "cache")]
    Cached(Arc<[String]>),
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
            #[cfg(feature = "cache")]
            Self::Cached(list) => list.is_empty(),
        }
    }

    /// Whether any string satisfies `f` (without allocating, unless a string has escapes).
    pub(crate) fn any(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            // Checked at decode to be an array of strings.
            Self::Raw(raw) => any_array_string(raw.get(), &mut f),
            Self::Parsed(list) => list.iter().any(|s| f(s)),
            #[cfg(feature = "cache")]
            Self::Cached(list) => list.iter().any(|s| f(s)),
        }
    }

    /// The strings.
    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            Self::Raw(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
            Self::Parsed(list) => list.clone(),
            #[cfg(feature = "cache")]
            Self::Cached(list) => list.to_vec(),
        }
    }

    /// Writes the list's JSON: a `Raw` list's text as it was sealed.
    pub(crate) fn write_json<W: Write>(&self, w: &mut W) -> io::Result<()> {
        match self {
            Self::Raw(raw) => w.write_all(raw.get().as_bytes()),
            Self::Parsed(list) => serde_json::to_writer(w, list).map_err(io::Error::from),
            #[cfg(feature = "cache")]
            Self::Cached(list) => serde_json::to_writer(w, &**list).map_err(io::Error::from),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[cfg(feature = "cache")]
    #[test]
    fn shared_lists_read_in_place() {
        let list: Arc<[String]> = vec!["a".to_owned(), "b".to_owned()].into();
        let strings = Strings::Cached(list);
        assert!(strings.any(|s| s == "b"));
        assert!(!strings.is_empty());
        assert_eq!(strings.to_vec(), ["a", "b"]);
        let mut json = Vec::new();
        strings.write_json(&mut json).unwrap();
        assert_eq!(json, br#"["a","b"]"#);
        assert!(Strings::Cached(Vec::new().into()).is_empty());
    }
}
