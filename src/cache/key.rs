//! The in-process key of a [`TokenCache`](super::TokenCache) entry: SipHash-2-4 with 128-bit
//! output, under a random 128-bit key that each cache draws from the operating system and never
//! shows.
//!
//! Why not SHA-256, the token's digest everywhere else: a cache hit hashed the whole token, and
//! for a 600-byte JWT SHA-256 was half of a hit's cost. What the key has to guarantee is that
//! two tokens share an entry only if they are the same token, against an attacker who chooses
//! tokens:
//!
//! - The key covers every byte of the token and its length: a token that differs from a cached
//!   one anywhere (a changed payload under the original signature) has another key, except by a
//!   collision of the PRF.
//! - SipHash-2-4 is a pseudorandom function keyed with 128 secret bits. Its outputs never leave
//!   the process (not in `Debug`, logs, errors, or the revocation store); the only thing an
//!   attacker observes is whether a request of theirs was answered from the cache. To be served
//!   another caller's entry, a forged token must hit one of the cache's N keys: a guess at an
//!   unknown 128-bit function, about 2^128 / N requests. Collisions among the attacker's own
//!   tokens gain nothing (each of them would be an identity they already hold), and need ~2^64
//!   requests to find by chance anyway.
//! - Each cache draws its own key: no key is shared between processes, so nothing learnt on one
//!   instance applies to another.
//!
//! Digests that cross the process boundary stay SHA-256 of the token (stable, the same on every
//! instance): [`TokenCache::invalidate_digest`](super::TokenCache::invalidate_digest), and the
//! token invalidations a [`RevocationStore`](crate::store::RevocationStore) shares. An entry
//! keeps its token's SHA-256 digest, computed on the miss that stored it, for them.

use std::hash::{BuildHasher, Hasher};

use rand::RngCore as _;
use siphasher::sip128::SipHasher24;

/// An entry's key: the 128-bit SipHash-2-4 digest of the token.
pub(super) type CacheKey = u128;

/// Hashes tokens into [`CacheKey`]s under this cache's secret key. No `Debug`: the key is a
/// secret.
#[derive(Clone)]
pub(super) struct KeyHasher {
    /// The secret key's two halves (16 bytes here, where a prepared hasher's state is 72).
    k0: u64,
    k1: u64,
}

impl KeyHasher {
    /// A hasher under a fresh random key from the operating system.
    pub(super) fn random() -> Self {
        Self {
            k0: rand::rngs::OsRng.next_u64(),
            k1: rand::rngs::OsRng.next_u64(),
        }
    }

    /// The key of `token`'s entry.
    pub(super) fn key(&self, token: &str) -> CacheKey {
        SipHasher24::new_with_keys(self.k0, self.k1)
            .hash(token.as_bytes())
            .into()
    }
}

/// The table's hasher for [`CacheKey`]s: they are already outputs of a keyed PRF, so the
/// table's hash is 64 of their bits, folded, rather than another hash pass over them.
/// Flooding one bucket needs tokens whose keys share bits, which takes the secret key.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = Folded;

    fn build_hasher(&self) -> Folded {
        Folded(0)
    }
}

/// See [`Prehashed`].
#[derive(Debug)]
pub(super) struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, n: u128) {
        let (high, low) = ((n >> 64) as u64, n as u64);
        self.0 ^= high ^ low;
    }

    /// Not used for [`CacheKey`]s (`u128` hashes through `write_u128`); any other input is
    /// folded in, byte by byte.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cover_every_byte_and_differ_between_caches() {
        let keys = KeyHasher::random();
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        assert_eq!(keys.key(token), keys.key(token));
        // One changed byte anywhere, or one more or less, is another key.
        for at in 0..token.len() {
            let mut changed = token.as_bytes().to_vec();
            changed[at] ^= 1;
            let changed = String::from_utf8(changed).unwrap();
            assert_ne!(keys.key(&changed), keys.key(token), "byte {at}");
        }
        assert_ne!(keys.key(&token[..token.len() - 1]), keys.key(token));
        assert_ne!(keys.key(&format!("{token}=")), keys.key(token));
        // Another cache, another secret key: another key for the same token.
        assert_ne!(KeyHasher::random().key(token), keys.key(token));
    }

    #[test]
    fn the_table_hash_folds_both_halves() {
        let hash = |n: u128| Prehashed.hash_one(n);
        assert_eq!(hash(0), 0);
        assert_ne!(hash(1), hash(1 << 64 | 1), "the high half counts");
        assert_ne!(hash(1), hash(2));
    }
}
