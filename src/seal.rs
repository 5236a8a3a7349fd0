//! Sealing and opening cookie values with the `cookie` crate's private jar (AES-256-GCM).
//!
//! A sealed value is standard base64 (with padding) of `nonce (12) ‖ ciphertext ‖ tag (16)`, as
//! the private jar writes it. The associated data is not the cookie name alone but a context
//! string that also names the format version and the purpose, so two applications sharing a key
//! cannot swap cookies.

use cookie::{Cookie, CookieJar};

use crate::key::{Key, KeyRing};

/// Bytes the private jar adds to a plaintext before base64: a 12-byte nonce and a 16-byte tag.
const OVERHEAD: usize = 12 + 16;

/// The most bytes a browser keeps for a cookie's name and value together (RFC 6265bis).
pub(crate) const COOKIE_LIMIT: usize = 4096;

/// The length of the sealed value of a `plaintext_len`-byte plaintext.
#[cfg(test)]
const fn sealed_len(plaintext_len: usize) -> usize {
    (plaintext_len + OVERHEAD).div_ceil(3) * 4
}

/// The largest plaintext whose sealed value fits a cookie named with `name_len` bytes.
pub(crate) const fn plaintext_budget(name_len: usize) -> usize {
    let value = COOKIE_LIMIT.saturating_sub(name_len);
    (value / 4 * 3).saturating_sub(OVERHEAD)
}

/// Seals `plaintext` with `key`, binding it to `context`.
pub(crate) fn seal(key: &Key, context: &str, plaintext: String) -> String {
    let mut jar = CookieJar::new();
    jar.private_mut(&key.inner)
        .add(Cookie::new(context.to_owned(), plaintext));
    jar.get(context)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// Which key of the ring opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenedWith {
    Current,
    Previous,
}

/// An opened value: the plaintext, read in place (no copy), and which key opened it.
pub(crate) struct Opened {
    cookie: Cookie<'static>,
    pub(crate) with: OpenedWith,
}

impl Opened {
    /// The plaintext.
    pub(crate) fn plaintext(&self) -> &str {
        self.cookie.value()
    }
}

/// Opens a sealed `value` bound to `context`, trying each key of the ring in order.
///
/// `None` for anything that is not canonical base64 or does not authenticate. Callers never learn
/// why.
pub(crate) fn open(keys: &KeyRing, context: &str, value: &str) -> Option<Opened> {
    if !is_canonical_base64(value.as_bytes()) {
        return None;
    }
    let jar = CookieJar::new();
    for (index, key) in keys.all().enumerate() {
        let candidate = Cookie::new(context.to_owned(), value.to_owned());
        if let Some(opened) = jar.private(&key.inner).decrypt(candidate) {
            let with = if index == 0 {
                OpenedWith::Current
            } else {
                OpenedWith::Previous
            };
            return Some(Opened {
                cookie: opened,
                with,
            });
        }
    }
    None
}

/// The value of a standard-alphabet base64 digit, or `None`.
const fn digit(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Whether `s` is the one canonical spelling of some bytes in standard base64 with padding: a
/// multiple of four characters, the standard alphabet, padding only at the end, and zero unused
/// bits before the padding. Any other spelling of the same bytes is refused.
pub(crate) fn is_canonical_base64(s: &[u8]) -> bool {
    if s.is_empty() || s.len() % 4 != 0 {
        return false;
    }
    let pad = s.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return false;
    }
    let body = s.get(..s.len() - pad).unwrap_or_default();
    let mut last = 0;
    for &b in body {
        match digit(b) {
            Some(d) => last = d,
            None => return false,
        }
    }
    match pad {
        1 => last & 0b11 == 0,
        2 => last & 0b1111 == 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> (KeyRing, Key, Key) {
        let a = Key::try_from((0..64).collect::<Vec<u8>>()).unwrap();
        let b = Key::try_from((64..128).collect::<Vec<u8>>()).unwrap();
        (
            KeyRing::new(a.clone()).with_previous(b.clone()).unwrap(),
            a,
            b,
        )
    }

    fn open(keys: &KeyRing, context: &str, value: &str) -> Option<(String, OpenedWith)> {
        super::open(keys, context, value).map(|o| (o.plaintext().to_owned(), o.with))
    }

    #[test]
    fn seal_then_open_with_current_and_previous_keys() {
        let (ring, current, previous) = ring();
        let v = seal(&current, "ctx", "hello".into());
        assert_eq!(v.len(), sealed_len(5));
        assert_eq!(
            open(&ring, "ctx", &v),
            Some(("hello".into(), OpenedWith::Current))
        );
        let v = seal(&previous, "ctx", "hello".into());
        assert_eq!(
            open(&ring, "ctx", &v),
            Some(("hello".into(), OpenedWith::Previous))
        );
        assert_eq!(open(&KeyRing::new(current), "ctx", &v), None);
    }

    #[test]
    fn context_is_bound() {
        let (ring, current, _) = ring();
        let v = seal(&current, "ctx-a", "hello".into());
        assert_eq!(open(&ring, "ctx-b", &v), None);
    }

    #[test]
    fn nonces_differ_per_seal() {
        let (_, current, _) = ring();
        let a = seal(&current, "ctx", "same".into());
        let b = seal(&current, "ctx", "same".into());
        assert_ne!(a, b);
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let (ring, current, _) = ring();
        // 5 + 28 = 33 bytes: no padding. 6 + 28 = 34 bytes: two padding characters.
        let v = seal(&current, "ctx", "hello!".into());
        assert!(v.ends_with("=="));
        assert!(open(&ring, "ctx", &v).is_some());
        assert!(open(&ring, "ctx", v.trim_end_matches('=')).is_none());
        let url_safe = v.replace('+', "-").replace('/', "_");
        if url_safe != v {
            assert!(open(&ring, "ctx", &url_safe).is_none());
        }
        // Flip unused low bits of the last digit before the padding.
        let mut bytes = v.clone().into_bytes();
        let i = bytes.len() - 3;
        let d = digit(bytes[i]).unwrap();
        bytes[i] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[usize::from(d | 1)];
        assert!(!is_canonical_base64(&bytes));
        assert!(open(&ring, "ctx", &format!("\"{v}\"")).is_none());
        assert!(open(&ring, "ctx", &format!("{v}====")).is_none());
    }

    #[test]
    fn canonical_base64_rules() {
        assert!(is_canonical_base64(b"QUJD"));
        assert!(is_canonical_base64(b"QUI="));
        assert!(is_canonical_base64(b"QQ=="));
        assert!(!is_canonical_base64(b"QR=="));
        assert!(!is_canonical_base64(b"QUJ="));
        assert!(!is_canonical_base64(b"QQ="));
        assert!(!is_canonical_base64(b"Q==="));
        assert!(!is_canonical_base64(b"QU=D"));
        assert!(!is_canonical_base64(b""));
    }

    #[test]
    fn budget_matches_the_cookie_limit() {
        for name_len in [1, 14, 100] {
            let p = plaintext_budget(name_len);
            assert!(name_len + sealed_len(p) <= COOKIE_LIMIT);
            assert!(name_len + sealed_len(p + 1) > COOKIE_LIMIT);
        }
        assert_eq!(plaintext_budget("__Host-session".len()), 3032);
    }
}
