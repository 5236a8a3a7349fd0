//! Sealing and opening cookie values in the `cookie` crate's private-jar format (AES-256-GCM).
//!
//! A sealed value is standard base64 (with padding) of `nonce (12) ‖ ciphertext ‖ tag (16)`, as
//! the private jar writes it, and the private jar opens what this module seals (a test pins both
//! directions). Both directions use the `aes-gcm` AEAD with each key's state expanded once, not
//! the jar itself, which expands the key and builds a jar, a cookie and three buffers per call. The associated data is not the cookie name alone but a context
//! string that also names the format version and the purpose, so two applications sharing a key
//! cannot swap cookies.

use crate::key::{Key, KeyRing};
use crate::parse::CANONICAL;

/// The private jar's nonce length.
const NONCE_LEN: usize = 12;
/// The AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Bytes the private jar adds to a plaintext before base64: a 12-byte nonce and a 16-byte tag.
const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The most bytes a browser keeps for a cookie's name and value together (RFC 6265bis).
pub(crate) const COOKIE_LIMIT: usize = 4096;

/// The length of the sealed value of a `plaintext_len`-byte plaintext.
#[cfg(any(test, feature = "test-util", feature = "oauth"))]
pub(crate) const fn sealed_len(plaintext_len: usize) -> usize {
    (plaintext_len + OVERHEAD).div_ceil(3) * 4
}

/// The largest plaintext whose sealed value fits a cookie named with `name_len` bytes.
pub(crate) const fn plaintext_budget(name_len: usize) -> usize {
    let value = COOKIE_LIMIT.saturating_sub(name_len);
    (value / 4 * 3).saturating_sub(OVERHEAD)
}

/// The largest plaintext whose sealed value is at most `value_len` bytes.
pub(crate) const fn plaintext_budget_of_value(value_len: usize) -> usize {
    (value_len / 4 * 3).saturating_sub(OVERHEAD)
}

/// Seals `plaintext` with `key`, binding it to `context`.
#[cfg(any(test, feature = "test-util", feature = "oauth"))]
pub(crate) fn seal(key: &Key, context: &str, plaintext: &str) -> String {
    let mut out = Vec::with_capacity(sealed_len(plaintext.len()));
    if let Ok(sealed) = seal_raw(key, context, plaintext.len(), |buf| {
        buf.extend_from_slice(plaintext.as_bytes());
    }) {
        encode_into(&sealed, &mut out);
    }
    // Base64 is ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// The length of the cookie value of `sealed` (what [`encode_into`] appends).
pub(crate) const fn value_len(sealed: &[u8]) -> usize {
    sealed.len().div_ceil(3) * 4
}

/// Appends the cookie value of `sealed` (standard base64 with padding) to `out`.
pub(crate) fn encode_into(sealed: &[u8], out: &mut Vec<u8>) {
    use base64::Engine as _;
    // Straight into the reserved bytes: `encode_string` goes through a chunked encoder and a
    // second buffer.
    let start = out.len();
    out.resize(start + value_len(sealed), 0);
    let written = out.get_mut(start..).map(|tail| {
        base64::engine::general_purpose::STANDARD
            .encode_slice(sealed, tail)
            .unwrap_or(0)
    });
    out.truncate(start + written.unwrap_or(0));
}

/// The nonce or the encryption failed (neither happens with `ThreadRng` and a plaintext under
/// 64 GiB).
#[derive(Debug)]
pub(crate) struct SealError;

/// Seals the plaintext that `write` appends to a buffer with `key`, binding it to `context`:
/// `nonce ‖ ciphertext ‖ tag` in one buffer, encrypted in place (base64 it with [`encode_into`]).
/// `hint` is the expected plaintext length.
pub(crate) fn seal_raw(
    key: &Key,
    context: &str,
    hint: usize,
    write: impl FnOnce(&mut Vec<u8>),
) -> Result<Vec<u8>, SealError> {
    use aes_gcm::aead::AeadInPlace as _;
    use rand::RngCore as _;

    let mut data = Vec::with_capacity(NONCE_LEN + hint + TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    // A fresh random nonce per seal, from the same CSPRNG the private jar uses.
    rand::thread_rng()
        .try_fill_bytes(&mut nonce)
        .map_err(|_| SealError)?;
    data.extend_from_slice(&nonce);
    write(&mut data);
    let plaintext = data.get_mut(NONCE_LEN..).ok_or(SealError)?;
    let tag = key
        .cipher
        .encrypt_in_place_detached(&aes_gcm::Nonce::from(nonce), context.as_bytes(), plaintext)
        .map_err(|_| SealError)?;
    data.extend_from_slice(&tag);
    Ok(data)
}

/// Which key of the ring opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenedWith {
    Current,
    Previous,
}

/// An opened value: the plaintext, and which key opened it.
pub(crate) struct Opened {
    plaintext: String,
    pub(crate) with: OpenedWith,
}

impl Opened {
    /// The plaintext.
    pub(crate) fn plaintext(&self) -> &str {
        &self.plaintext
    }
}

/// Opens a sealed `value` bound to `context`, trying each key of the ring in order.
///
/// The private jar's format, opened in place: one base64 decode into one buffer, and each key's
/// AES-256-GCM state expanded once per key rather than once per call. The tag is checked before
/// anything is decrypted, so a key that fails leaves the buffer as it was for the next key.
///
/// `None` for anything that is not canonical base64 or does not authenticate. Callers never learn
/// why.
#[cfg_attr(not(feature = "oauth"), allow(dead_code))]
pub(crate) fn open(keys: &KeyRing, context: &str, value: &str) -> Option<Opened> {
    open_checked(keys, context, value).ok()
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Not canonical base64, or too short for a nonce and a tag.
    Malformed,
    /// Well formed, but no key of the ring opens it (another key, or tampered: AES-GCM cannot
    /// tell which).
    UnknownKey,
    /// It opened, but the plaintext is not UTF-8.
    Undecodable,
}

/// [`open`], saying why a value did not open.
pub(crate) fn open_checked(
    keys: &KeyRing,
    context: &str,
    value: &str,
) -> Result<Opened, OpenError> {
    use aes_gcm::aead::AeadInPlace as _;
    use base64::Engine as _;

    let mut data = CANONICAL.decode(value).map_err(|_| OpenError::Malformed)?;
    let (nonce, rest) = data
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(OpenError::Malformed)?;
    let (_, tag) = rest
        .split_last_chunk::<TAG_LEN>()
        .ok_or(OpenError::Malformed)?;
    let nonce = aes_gcm::Nonce::from(*nonce);
    let tag = aes_gcm::Tag::from(*tag);
    let end = data.len() - TAG_LEN;
    let ciphertext = data.get_mut(NONCE_LEN..end).ok_or(OpenError::Malformed)?;
    for (index, key) in keys.all().enumerate() {
        if key
            .cipher
            .decrypt_in_place_detached(&nonce, context.as_bytes(), ciphertext, &tag)
            .is_ok()
        {
            let with = if index == 0 {
                OpenedWith::Current
            } else {
                OpenedWith::Previous
            };
            // Keep only the plaintext, in the same buffer.
            data.truncate(end);
            data.drain(..NONCE_LEN);
            return String::from_utf8(data)
                .map(|plaintext| Opened { plaintext, with })
                .map_err(|_| OpenError::Undecodable);
        }
    }
    Err(OpenError::UnknownKey)
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
        let v = seal(&current, "ctx", "hello");
        assert_eq!(v.len(), sealed_len(5));
        assert_eq!(
            open(&ring, "ctx", &v),
            Some(("hello".into(), OpenedWith::Current))
        );
        let v = seal(&previous, "ctx", "hello");
        assert_eq!(
            open(&ring, "ctx", &v),
            Some(("hello".into(), OpenedWith::Previous))
        );
        assert_eq!(open(&KeyRing::new(current), "ctx", &v), None);
    }

    #[test]
    fn context_is_bound() {
        let (ring, current, _) = ring();
        let v = seal(&current, "ctx-a", "hello");
        assert_eq!(open(&ring, "ctx-b", &v), None);
    }

    #[test]
    fn nonces_differ_per_seal() {
        let (_, current, _) = ring();
        let a = seal(&current, "ctx", "same");
        let b = seal(&current, "ctx", "same");
        assert_ne!(a, b);
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let (ring, current, _) = ring();
        // 5 + 28 = 33 bytes: no padding. 6 + 28 = 34 bytes: two padding characters.
        let v = seal(&current, "ctx", "hello!");
        assert!(v.ends_with("=="));
        assert!(open(&ring, "ctx", &v).is_some());
        assert!(open(&ring, "ctx", v.trim_end_matches('=')).is_none());
        let url_safe = v.replace('+', "-").replace('/', "_");
        if url_safe != v {
            assert!(open(&ring, "ctx", &url_safe).is_none());
        }
        // Flip unused low bits of the last digit before the padding.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bytes = v.clone().into_bytes();
        let i = bytes.len() - 3;
        let d = ALPHABET.iter().position(|&c| c == bytes[i]).unwrap();
        bytes[i] = ALPHABET[d | 1];
        assert_ne!(bytes, v.as_bytes(), "a different spelling");
        assert!(open(&ring, "ctx", std::str::from_utf8(&bytes).unwrap()).is_none());
        assert!(open(&ring, "ctx", &format!("\"{v}\"")).is_none());
        assert!(open(&ring, "ctx", &format!("{v}====")).is_none());
    }

    #[test]
    fn canonical_base64_rules() {
        use base64::Engine as _;
        let canonical = |s: &str| CANONICAL.decode(s).is_ok();
        assert!(canonical("QUJD"));
        assert!(canonical("QUI="));
        assert!(canonical("QQ=="));
        assert!(!canonical("QR=="));
        assert!(!canonical("QUJ="));
        assert!(!canonical("QQ="));
        assert!(!canonical("QQ"));
        assert!(!canonical("Q==="));
        assert!(!canonical("QU=D"));
        assert!(!canonical("QU I"));
        assert!(!canonical("QUI-"));
    }

    #[test]
    fn the_opener_and_the_private_jar_agree_both_ways() {
        use cookie::{Cookie, CookieJar};
        let (ring, current, _) = ring();
        // Sealed by the jar, opened by `open`.
        let mut jar = CookieJar::new();
        jar.private_mut(&current.inner)
            .add(Cookie::new("ctx", "from the jar"));
        let from_jar = jar.get("ctx").unwrap().value().to_owned();
        assert_eq!(open(&ring, "ctx", &from_jar).unwrap().0, "from the jar");
        assert_eq!(from_jar.len(), sealed_len("from the jar".len()));
        // Sealed by `seal`, opened by the jar and by `open`.
        let value = seal(&current, "ctx", "plain text");
        let jar = CookieJar::new();
        let decrypted = jar
            .private(&current.inner)
            .decrypt(Cookie::new("ctx", value.clone()))
            .unwrap();
        assert_eq!(decrypted.value(), "plain text");
        assert_eq!(open(&ring, "ctx", &value).unwrap().0, "plain text");
        // Whatever the jar refuses, `open` refuses.
        let mut tampered = value.into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(jar
            .private(&current.inner)
            .decrypt(Cookie::new("ctx", tampered.clone()))
            .is_none());
        assert!(open(&ring, "ctx", &tampered).is_none());
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
