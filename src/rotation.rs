//! [`LiveKeys`]: a key ring that can change while the app runs.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::key::{Key, KeyError, KeyRing, MAX_PREVIOUS_KEYS};

/// A key ring that can change while the app runs.
///
/// Clones share one ring. [`LiveKeys::rotate`] makes a new key current and keeps the old one as
/// the newest previous key (sessions sealed with it still open, and are re-sealed with the new
/// key when renewed); the oldest previous key beyond [`MAX_PREVIOUS_KEYS`] is dropped, which
/// ends the sessions sealed with it. [`LiveKeys::retire_previous`] drops every previous key (after
/// a leak). Every open and seal reads the ring as it is, so a change takes effect on the next request on
/// this instance. Keys never leave the process: instances that share cookies rotate each their
/// own handle, from the app's secret store.
///
/// ```
/// use sealed_session::{Key, LiveKeys};
///
/// let (old, new) = (Key::generate(), Key::generate());
/// let keys = LiveKeys::new(old.clone());
/// keys.rotate(new.clone()).unwrap();
/// let ring = keys.snapshot();
/// assert_eq!(ring.current(), &new);
/// assert_eq!(ring.previous().collect::<Vec<_>>(), [&old]);
///
/// keys.retire_previous();
/// assert_eq!(keys.snapshot().len(), 1);
/// ```
#[derive(Clone)]
pub struct LiveKeys {
    ring: Arc<RwLock<Arc<KeyRing>>>,
}

impl fmt::Debug for LiveKeys {
    /// The number of keys only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveKeys")
            .field("keys", &self.snapshot().len())
            .finish()
    }
}

impl LiveKeys {
    /// A live ring starting as `ring` (a [`Key`] or a [`KeyRing`]).
    #[must_use]
    pub fn new(ring: impl Into<KeyRing>) -> Self {
        Self {
            ring: Arc::new(RwLock::new(Arc::new(ring.into()))),
        }
    }

    /// The ring as it is now. A request holds one snapshot from start to end.
    #[must_use]
    pub fn snapshot(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `key` current; the current key becomes the newest previous key, and the oldest
    /// previous key past [`MAX_PREVIOUS_KEYS`] is dropped.
    ///
    /// # Errors
    ///
    /// [`KeyError::DuplicateKey`] when `key` is already in the ring (nothing changes).
    pub fn rotate(&self, key: Key) -> Result<(), KeyError> {
        let mut slot = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        if slot.current() == &key || slot.previous().any(|k| *k == key) {
            return Err(KeyError::DuplicateKey);
        }
        let previous: Vec<Key> = std::iter::once(slot.current().clone())
            .chain(slot.previous().cloned())
            .take(MAX_PREVIOUS_KEYS)
            .collect();
        *slot = Arc::new(KeyRing::from_keys(key, previous)?);
        Ok(())
    }

    /// Replaces the whole ring.
    pub fn replace(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
    }

    /// Drops every previous key: sessions sealed with them end (for a key that may have leaked).
    pub fn retire_previous(&self) {
        let mut slot = self.ring.write().unwrap_or_else(PoisonError::into_inner);
        *slot = Arc::new(KeyRing::new(slot.current().clone()));
    }
}

impl From<KeyRing> for LiveKeys {
    fn from(ring: KeyRing) -> Self {
        Self::new(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_at_most_the_allowed_previous_keys_newest_first() {
        let keys: Vec<Key> = (0..6).map(|_| Key::generate()).collect();
        let live = LiveKeys::new(keys[0].clone());
        for key in &keys[1..] {
            live.rotate(key.clone()).unwrap();
        }
        let ring = live.snapshot();
        assert_eq!(ring.current(), &keys[5]);
        let previous: Vec<&Key> = ring.previous().collect();
        assert_eq!(previous, [&keys[4], &keys[3], &keys[2]]);
        assert_eq!(live.rotate(keys[3].clone()), Err(KeyError::DuplicateKey));
        assert_eq!(live.snapshot().current(), &keys[5], "unchanged");
    }

    #[test]
    fn a_snapshot_taken_before_a_rotation_keeps_its_keys() {
        let (a, b) = (Key::generate(), Key::generate());
        let live = LiveKeys::new(a.clone());
        let layer_side = live.clone();
        let before = live.snapshot();
        live.rotate(b.clone()).unwrap();
        assert_eq!(before.current(), &a);
        // Clones share the ring: the layer's copy sees the rotation.
        assert_eq!(layer_side.snapshot().current(), &b);
        assert_eq!(layer_side.snapshot().previous().next(), Some(&a));
        let shown = format!("{live:?}");
        assert_eq!(shown, "LiveKeys { keys: 2 }");
    }
}
