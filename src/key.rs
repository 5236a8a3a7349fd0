//! Keys and key rings for sealing session cookies.
//!
//! A [`Key`] is made from at least 64 random bytes. A [`KeyRing`] holds the current key, which
//! seals every new cookie, and up to three previous keys, which still open cookies sealed before
//! a rotation. A cookie opened with a previous key is re-sealed with the current one on the same
//! response, keeping its id and timestamps.
//!
//! ```
//! use sealed_session::{Key, KeyError, KeyRing};
//!
//! let old = Key::generate();
//! let new = Key::generate();
//! let ring = KeyRing::new(new).with_previous(old)?;
//! assert_eq!(ring.len(), 2);
//!
//! // Short or degenerate material is a typed error, never a panic.
//! assert!(matches!(Key::try_from(&[7u8; 16][..]), Err(KeyError::TooShort { len: 16 })));
//! assert!(matches!(Key::try_from(&[0u8; 64][..]), Err(KeyError::Degenerate)));
//!
//! // Key material never prints.
//! assert_eq!(format!("{:?}", Key::generate()), "Key(REDACTED)");
//! # Ok::<(), KeyError>(())
//! ```

use std::fmt;

use subtle::ConstantTimeEq;

/// The least number of bytes of key material [`Key::try_from`] accepts.
pub const MIN_KEY_LEN: usize = 64;

/// The most previous keys a [`KeyRing`] holds.
pub const MAX_PREVIOUS_KEYS: usize = 3;

/// A key that seals and opens session cookies.
///
/// Made from at least [`MIN_KEY_LEN`] bytes of random material. Every byte of the material counts:
/// it is expanded with HKDF-SHA256 (the `cookie` crate's `Key::derive_from`) into the AES-256-GCM
/// key of the `cookie` crate's private jar.
///
/// `Debug` prints `Key(REDACTED)`. Equality is constant-time.
#[derive(Clone)]
pub struct Key {
    /// A SHA-256 fingerprint of the material: used to refuse duplicate keys in a ring, and to name
    /// a key in logs without revealing it.
    fingerprint: [u8; 32],
    /// The `cookie` crate's key, kept in tests only, which check the format against its jar.
    #[cfg(test)]
    pub(crate) inner: cookie::Key,
    /// The private jar's AES-256-GCM key, expanded once (the jar expands it on every call).
    pub(crate) cipher: aes_gcm::Aes256Gcm,
}

impl Key {
    /// Generates a key from the operating system's random source.
    ///
    /// # Panics
    ///
    /// Panics if the operating system cannot provide randomness. See [`Key::try_generate`].
    #[must_use]
    #[allow(clippy::panic)] // Documented; start-up only, never on a request. See `try_generate`.
    pub fn generate() -> Self {
        match Self::try_generate() {
            Some(key) => key,
            None => panic!("sealed-session: the operating system provided no randomness for a key"),
        }
    }

    /// Generates a key from the operating system's random source, or `None` when there is none.
    #[must_use]
    pub fn try_generate() -> Option<Self> {
        let material = cookie::Key::try_generate()?;
        Self::try_from(material.master()).ok()
    }

    /// A short, non-secret fingerprint of this key (the first 8 hex digits of a SHA-256 of the
    /// material), for logs and operations. It does not reveal the key.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        self.fingerprint
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl TryFrom<&[u8]> for Key {
    type Error = KeyError;

    /// Makes a key from `material`: at least [`MIN_KEY_LEN`] random bytes.
    ///
    /// # Errors
    ///
    /// [`KeyError::TooShort`] below 64 bytes, and [`KeyError::Degenerate`] for material that is
    /// plainly not random: a single repeated byte, a short repeated block, or fewer than 12
    /// distinct byte values.
    fn try_from(material: &[u8]) -> Result<Self, Self::Error> {
        if material.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                len: material.len(),
            });
        }
        if is_degenerate(material) {
            return Err(KeyError::Degenerate);
        }
        let fingerprint = sha256(material);
        // `derive_from` panics only below 32 bytes; we checked for 64 above.
        let inner = cookie::Key::derive_from(material);
        let cipher = {
            use aes_gcm::aead::KeyInit as _;
            // The encryption half of a cookie key is always 32 bytes.
            aes_gcm::Aes256Gcm::new_from_slice(inner.encryption())
                .map_err(|_| KeyError::Degenerate)?
        };
        Ok(Self {
            fingerprint,
            #[cfg(test)]
            inner,
            cipher,
        })
    }
}

impl TryFrom<Vec<u8>> for Key {
    type Error = KeyError;

    fn try_from(material: Vec<u8>) -> Result<Self, Self::Error> {
        Self::try_from(material.as_slice())
    }
}

impl<const N: usize> TryFrom<&[u8; N]> for Key {
    type Error = KeyError;

    fn try_from(material: &[u8; N]) -> Result<Self, Self::Error> {
        Self::try_from(&material[..])
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint.ct_eq(&other.fingerprint).into()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(REDACTED)")
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Material that is plainly not random. 64 random bytes have about 56 distinct values and no
/// period; these checks only catch mistakes (a zeroed buffer, a password repeated to length).
fn is_degenerate(material: &[u8]) -> bool {
    let mut seen = [false; 256];
    for &b in material {
        if let Some(slot) = seen.get_mut(usize::from(b)) {
            *slot = true;
        }
    }
    let distinct = seen.iter().filter(|s| **s).count();
    if distinct < 12 {
        return true;
    }
    // A block of up to 32 bytes repeated over the whole material.
    (1..=32).any(|period| {
        material
            .iter()
            .zip(material.iter().skip(period))
            .all(|(a, b)| a == b)
    })
}

/// Why key material or a key ring was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Fewer than [`MIN_KEY_LEN`] bytes of material.
    TooShort {
        /// How many bytes were given.
        len: usize,
    },
    /// The material is plainly not random (a repeated byte or block, or too few distinct bytes).
    Degenerate,
    /// More than [`MAX_PREVIOUS_KEYS`] previous keys.
    TooManyPreviousKeys {
        /// How many previous keys were given.
        count: usize,
    },
    /// The same key appears twice in a ring.
    DuplicateKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(
                f,
                "key material is too short: expected >= {MIN_KEY_LEN} random bytes, got {len} bytes"
            ),
            Self::Degenerate => f.write_str(
                "key material is not random: it repeats a byte or a block, or has too few distinct bytes",
            ),
            Self::TooManyPreviousKeys { count } => write!(
                f,
                "a key ring holds at most {MAX_PREVIOUS_KEYS} previous keys, got {count}"
            ),
            Self::DuplicateKey => f.write_str("the same key appears twice in the key ring"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The current key and up to [`MAX_PREVIOUS_KEYS`] previous keys.
///
/// The current key seals every cookie. Cookies are opened with the current key first, then with
/// each previous key in the order given. Removing a key from the ring ends every session sealed
/// with it. A key that may have leaked must be removed, not kept as a previous key.
///
/// `Debug` prints only the number of keys.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRing {
    current: Key,
    previous: Vec<Key>,
}

impl KeyRing {
    /// A ring with only the current key.
    #[must_use]
    pub fn new(current: Key) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// Adds a previous key, tried after the current key and the previous keys added before it.
    ///
    /// # Errors
    ///
    /// [`KeyError::TooManyPreviousKeys`] past three previous keys, and [`KeyError::DuplicateKey`]
    /// when the key is already in the ring.
    pub fn with_previous(mut self, key: Key) -> Result<Self, KeyError> {
        if self.all().any(|k| *k == key) {
            return Err(KeyError::DuplicateKey);
        }
        if self.previous.len() >= MAX_PREVIOUS_KEYS {
            return Err(KeyError::TooManyPreviousKeys {
                count: self.previous.len() + 1,
            });
        }
        self.previous.push(key);
        Ok(self)
    }

    /// Builds a ring from the current key and the previous keys, newest first.
    ///
    /// # Errors
    ///
    /// As [`KeyRing::with_previous`].
    pub fn from_keys(
        current: Key,
        previous: impl IntoIterator<Item = Key>,
    ) -> Result<Self, KeyError> {
        let mut ring = Self::new(current);
        let previous: Vec<Key> = previous.into_iter().collect();
        if previous.len() > MAX_PREVIOUS_KEYS {
            return Err(KeyError::TooManyPreviousKeys {
                count: previous.len(),
            });
        }
        for key in previous {
            ring = ring.with_previous(key)?;
        }
        Ok(ring)
    }

    /// The key that seals new cookies.
    #[must_use]
    pub fn current(&self) -> &Key {
        &self.current
    }

    /// The previous keys, newest first.
    pub fn previous(&self) -> impl Iterator<Item = &Key> {
        self.previous.iter()
    }

    /// Every key, the current one first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    /// The number of keys, the current one included.
    #[must_use]
    pub fn len(&self) -> usize {
        1 + self.previous.len()
    }

    /// Always `false`: a ring holds at least its current key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl From<Key> for KeyRing {
    fn from(key: Key) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(seed: u8) -> Vec<u8> {
        // Not random, but not degenerate: a simple LCG over bytes.
        let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..64)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn short_material_is_a_typed_error() {
        assert_eq!(
            Key::try_from(&[1u8; 63][..]).unwrap_err(),
            KeyError::TooShort { len: 63 }
        );
        assert_eq!(
            Key::try_from(&[][..]).unwrap_err(),
            KeyError::TooShort { len: 0 }
        );
    }

    #[test]
    fn degenerate_material_is_refused() {
        assert_eq!(Key::try_from(&[0u8; 64]).unwrap_err(), KeyError::Degenerate);
        assert_eq!(
            Key::try_from(&[0xAAu8; 100]).unwrap_err(),
            KeyError::Degenerate
        );
        let repeated = b"correct horse battery staple!!!!".repeat(2);
        assert_eq!(
            Key::try_from(repeated.as_slice()).unwrap_err(),
            KeyError::Degenerate
        );
        let hexish = b"0123456789".repeat(7);
        assert_eq!(
            Key::try_from(hexish.as_slice()).unwrap_err(),
            KeyError::Degenerate
        );
    }

    #[test]
    fn random_and_sequential_material_is_accepted() {
        assert!(Key::try_from(material(1)).is_ok());
        let sequential: Vec<u8> = (0..64).collect();
        assert!(Key::try_from(sequential).is_ok());
        assert!(Key::try_from(&[0u8; 64][..]).is_err());
    }

    #[test]
    fn every_byte_of_long_material_counts() {
        let mut a = material(3);
        a.extend_from_slice(&material(4));
        let mut b = a.clone();
        *b.last_mut().unwrap() ^= 1;
        let (ka, kb) = (Key::try_from(a).unwrap(), Key::try_from(b).unwrap());
        assert_ne!(ka, kb);
        assert_ne!(ka.inner.encryption(), kb.inner.encryption());
    }

    #[test]
    fn debug_never_prints_material() {
        let key = Key::try_from(material(5)).unwrap();
        let shown = format!("{key:?} {:?}", KeyRing::new(key.clone()));
        assert_eq!(shown, "Key(REDACTED) KeyRing { keys: 1, .. }");
        assert_eq!(key.fingerprint().len(), 8);
    }

    #[test]
    fn ring_holds_at_most_three_previous_keys_without_duplicates() {
        let keys: Vec<Key> = (10..15)
            .map(|s| Key::try_from(material(s)).unwrap())
            .collect();
        let ring = KeyRing::from_keys(keys[0].clone(), keys[1..4].iter().cloned()).unwrap();
        assert_eq!(ring.len(), 4);
        assert_eq!(ring.current(), &keys[0]);
        assert_eq!(
            ring.previous().cloned().collect::<Vec<_>>(),
            keys[1..4].to_vec()
        );
        assert_eq!(
            ring.with_previous(keys[4].clone()).unwrap_err(),
            KeyError::TooManyPreviousKeys { count: 4 }
        );
        assert_eq!(
            KeyRing::from_keys(keys[0].clone(), keys[1..5].iter().cloned()).unwrap_err(),
            KeyError::TooManyPreviousKeys { count: 4 }
        );
        assert_eq!(
            KeyRing::new(keys[0].clone())
                .with_previous(keys[0].clone())
                .unwrap_err(),
            KeyError::DuplicateKey
        );
    }
}
