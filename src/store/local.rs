//! The revocations held in this process: the whole [`MemoryStore`](super::MemoryStore), and the
//! mirror of a shared store. Every change is an [`Entry`] applied idempotently (a later time
//! wins, the same entry twice changes nothing), so a resync can merge a snapshot into the mirror
//! without losing a revocation written here meanwhile.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock};

use super::{RevokedBy, StoreError, TokenInvalidation, TokenListener};
use crate::record::SessionId;

/// One revocation. Times are Unix milliseconds; `until` is when the entry has nothing left to
/// refuse and goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A denied session id.
    Denied { id: SessionId, until: i64 },
    /// A user's not-before time, sparing `keep`.
    User {
        uid: String,
        at: i64,
        until: i64,
        keep: Option<SessionId>,
    },
    /// The global not-before time.
    Everyone { at: i64, until: i64 },
    /// A token invalidation, by digest.
    Token {
        digest: [u8; 32],
        at: i64,
        until: i64,
    },
    /// An invalidation of every token of a uid.
    UserTokens { uid: String, at: i64, until: i64 },
    /// A forced validator check of every session of a uid last checked at or before `at`.
    Recheck { uid: String, at: i64, until: i64 },
}

impl Entry {
    pub(crate) fn until(&self) -> i64 {
        match self {
            Self::Denied { until, .. }
            | Self::User { until, .. }
            | Self::Everyone { until, .. }
            | Self::Token { until, .. }
            | Self::UserTokens { until, .. }
            | Self::Recheck { until, .. } => *until,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct UserMark {
    at: i64,
    until: i64,
    keep: Option<SessionId>,
}

#[derive(Default)]
struct State {
    denied: HashMap<SessionId, i64>,
    users: HashMap<String, UserMark>,
    everyone: Option<(i64, i64)>,
    tokens: HashMap<[u8; 32], (i64, i64)>,
    user_tokens: HashMap<String, (i64, i64)>,
    /// Forced validator checks per uid: `(at, until)`.
    rechecks: HashMap<String, (i64, i64)>,
    /// Purge expired entries when the count reaches this (amortised: doubles with the count).
    purge_at: usize,
}

impl State {
    fn len(&self) -> usize {
        self.denied.len()
            + self.users.len()
            + self.tokens.len()
            + self.user_tokens.len()
            + self.rechecks.len()
    }

    fn purge(&mut self, now: i64) {
        self.denied.retain(|_, until| *until > now);
        self.users.retain(|_, mark| mark.until > now);
        self.tokens.retain(|_, (_, until)| *until > now);
        self.user_tokens.retain(|_, (_, until)| *until > now);
        self.rechecks.retain(|_, (_, until)| *until > now);
        if self.everyone.is_some_and(|(_, until)| until <= now) {
            self.everyone = None;
        }
        self.purge_at = (self.len() * 2).max(1024);
    }
}

/// Records `mark` (`(at, until)`) for `key` in the map `pick` chooses, unless the one there is
/// as late: returns whether it changed anything. `room` makes room for a new key, or says the
/// state is full.
fn later_mark<K: std::hash::Hash + Eq + Clone>(
    state: &mut State,
    pick: fn(&mut State) -> &mut HashMap<K, (i64, i64)>,
    key: &K,
    mark: (i64, i64),
    room: impl FnOnce(&mut State) -> Result<(), StoreError>,
) -> Result<bool, StoreError> {
    match pick(state).get_mut(key) {
        Some(old) if old.0 >= mark.0 => return Ok(false),
        Some(old) => {
            *old = mark;
            return Ok(true);
        }
        None => {}
    }
    room(state)?;
    pick(state).insert(key.clone(), mark);
    Ok(true)
}

/// The local revocations. See the [module docs](self).
pub(crate) struct Local {
    state: RwLock<State>,
    listeners: RwLock<Vec<TokenListener>>,
    capacity: usize,
}

impl fmt::Debug for Local {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Local")
            .field("denied", &state.denied.len())
            .field("users", &state.users.len())
            .field("everyone", &state.everyone.is_some())
            .field("tokens", &(state.tokens.len() + state.user_tokens.len()))
            .field("rechecks", &state.rechecks.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Local {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: RwLock::new(State {
                purge_at: 1024,
                ..State::default()
            }),
            listeners: RwLock::new(Vec::new()),
            capacity: capacity.max(1),
        }
    }

    /// Whether session `id` of `uid`, created at `created` (ms), is revoked. Expired entries may
    /// still be read until purged: they refuse only sessions that have expired anyway.
    pub(crate) fn check(
        &self,
        id: &SessionId,
        uid: Option<&str>,
        created: i64,
    ) -> Option<RevokedBy> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        if state.everyone.is_some_and(|(at, _)| created < at) {
            return Some(RevokedBy::Everyone);
        }
        if state.denied.contains_key(id) {
            return Some(RevokedBy::Session);
        }
        let user = uid.and_then(|uid| state.users.get(uid));
        if user.is_some_and(|mark| created < mark.at && mark.keep.as_ref() != Some(id)) {
            return Some(RevokedBy::User);
        }
        None
    }

    /// Whether a session of `uid` last checked by the validator at `checked` (ms) must be
    /// checked again: a recheck of `uid` was asked at or after that time.
    pub(crate) fn recheck_due(&self, uid: &str, checked: i64) -> bool {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .rechecks
            .get(uid)
            .is_some_and(|(at, _)| checked <= *at)
    }

    /// Applies `entry` at `now` (ms). Returns whether it changed anything. Token invalidations
    /// that changed something are handed to the listeners.
    pub(crate) fn apply(&self, entry: &Entry, now: i64) -> Result<bool, StoreError> {
        if entry.until() <= now {
            return Ok(false);
        }
        let changed = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            if state.len() >= state.purge_at {
                state.purge(now);
            }
            let room = |state: &mut State| {
                if state.len() >= self.capacity {
                    state.purge(now);
                }
                if state.len() >= self.capacity {
                    Err(StoreError::Full)
                } else {
                    Ok(())
                }
            };
            match entry {
                Entry::Denied { id, until } => match state.denied.get_mut(id) {
                    Some(old) if *old >= *until => false,
                    Some(old) => {
                        *old = *until;
                        true
                    }
                    None => {
                        room(&mut state)?;
                        state.denied.insert(*id, *until);
                        true
                    }
                },
                Entry::User {
                    uid,
                    at,
                    until,
                    keep,
                } => {
                    let mark = UserMark {
                        at: *at,
                        until: *until,
                        keep: *keep,
                    };
                    match state.users.get_mut(uid.as_str()) {
                        // The same time again: the later call's `keep` wins (a plain "log out
                        // everywhere" right after "log out the others" clears it).
                        Some(old) if old.at > *at || (old.at == *at && old.keep == *keep) => false,
                        Some(old) => {
                            *old = mark;
                            true
                        }
                        None => {
                            room(&mut state)?;
                            state.users.insert(uid.clone(), mark);
                            true
                        }
                    }
                }
                Entry::Everyone { at, until } => match state.everyone {
                    Some((old, _)) if old >= *at => false,
                    _ => {
                        state.everyone = Some((*at, *until));
                        true
                    }
                },
                Entry::Token { digest, at, until } => {
                    later_mark(&mut state, |s| &mut s.tokens, digest, (*at, *until), room)?
                }
                Entry::UserTokens { uid, at, until } => {
                    later_mark(&mut state, |s| &mut s.user_tokens, uid, (*at, *until), room)?
                }
                Entry::Recheck { uid, at, until } => {
                    later_mark(&mut state, |s| &mut s.rechecks, uid, (*at, *until), room)?
                }
            }
        };
        if changed {
            let event = match entry {
                Entry::Token { digest, .. } => Some(TokenInvalidation::Digest(*digest)),
                Entry::UserTokens { uid, .. } => Some(TokenInvalidation::Uid(uid.clone())),
                _ => None,
            };
            if let Some(event) = event {
                let listeners = self
                    .listeners
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                for listener in listeners.iter() {
                    listener(&event);
                }
            }
        }
        Ok(changed)
    }

    pub(crate) fn listen(&self, listener: TokenListener) {
        self.listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// Drops the entries expired at `now`.
    #[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
    pub(crate) fn purge(&self, now: i64) {
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .purge(now);
    }

    /// The number of entries held (expired ones included until purged).
    pub(crate) fn len(&self) -> usize {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.len() + usize::from(state.everyone.is_some())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    pub(crate) fn id(n: u8) -> SessionId {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([n; 16]);
        text.parse().unwrap()
    }

    #[test]
    fn a_later_time_wins_and_the_same_entry_twice_changes_nothing() {
        let local = Local::new(100);
        let user = |at, keep| Entry::User {
            uid: "alice".into(),
            at,
            until: 10_000,
            keep,
        };
        assert!(local.apply(&user(500, Some(id(1))), 0).unwrap());
        assert!(!local.apply(&user(500, Some(id(1))), 0).unwrap());
        assert!(
            !local.apply(&user(400, None), 0).unwrap(),
            "earlier: ignored"
        );
        assert_eq!(local.check(&id(1), Some("alice"), 499), None, "kept");
        assert_eq!(
            local.check(&id(2), Some("alice"), 499),
            Some(RevokedBy::User)
        );
        assert_eq!(
            local.check(&id(2), Some("alice"), 500),
            None,
            "ms precision"
        );
        assert_eq!(local.check(&id(2), Some("bob"), 0), None);
        assert_eq!(local.check(&id(2), None, 0), None);
        // The same millisecond without `keep`: log out everywhere, the kept one included.
        assert!(local.apply(&user(500, None), 0).unwrap());
        assert_eq!(
            local.check(&id(1), Some("alice"), 499),
            Some(RevokedBy::User)
        );
    }

    #[test]
    fn expired_entries_are_not_applied_and_are_purged() {
        let local = Local::new(100);
        let deny = |n, until| Entry::Denied { id: id(n), until };
        assert!(!local.apply(&deny(1, 100), 100).unwrap());
        assert!(local.apply(&deny(2, 200), 100).unwrap());
        assert!(local
            .apply(&Entry::Everyone { at: 50, until: 150 }, 100)
            .unwrap());
        assert_eq!(local.len(), 2);
        local.purge(150);
        assert_eq!(local.len(), 1);
        assert_eq!(local.check(&id(3), None, 0), None);
        assert_eq!(local.check(&id(2), None, 1000), Some(RevokedBy::Session));
        local.purge(200);
        assert_eq!(local.len(), 0);
    }

    #[test]
    fn it_is_bounded_and_says_so_when_full_of_live_entries() {
        let local = Local::new(3);
        for n in 0..3 {
            assert!(local
                .apply(
                    &Entry::Denied {
                        id: id(n),
                        until: 100
                    },
                    0
                )
                .unwrap());
        }
        let more = Entry::Denied {
            id: id(9),
            until: 500,
        };
        assert_eq!(local.apply(&more, 0), Err(StoreError::Full));
        // Once the others expire, there is room again.
        assert_eq!(local.apply(&more, 100), Ok(true));
        assert_eq!(local.len(), 1);
    }

    #[test]
    fn a_recheck_is_due_for_sessions_checked_at_or_before_it_and_only_for_its_user() {
        let local = Local::new(100);
        let recheck = |at, until| Entry::Recheck {
            uid: "alice".into(),
            at,
            until,
        };
        assert!(!local.recheck_due("alice", 0), "nothing asked");
        assert!(local.apply(&recheck(5_000, 9_000), 0).unwrap());
        assert!(!local.apply(&recheck(5_000, 9_000), 0).unwrap(), "twice");
        assert!(local.recheck_due("alice", 4_000));
        assert!(local.recheck_due("alice", 5_000), "the same millisecond");
        assert!(!local.recheck_due("alice", 5_001), "checked after it");
        assert!(!local.recheck_due("bob", 0), "another user");
        assert!(
            !local.apply(&recheck(4_000, 9_000), 0).unwrap(),
            "an earlier recheck changes nothing"
        );
        assert!(local.apply(&recheck(6_000, 9_500), 0).unwrap());
        assert!(local.recheck_due("alice", 5_500));
        // It counts towards the bound, and goes when it expires.
        assert_eq!(local.len(), 1);
        local.purge(9_500);
        assert_eq!(local.len(), 0);
        assert!(!local.recheck_due("alice", 0));
    }

    #[test]
    fn listeners_hear_each_token_invalidation_once() {
        let local = Local::new(100);
        let heard = Arc::new(AtomicUsize::new(0));
        let counted = heard.clone();
        local.listen(Arc::new(move |event: &TokenInvalidation| {
            assert!(matches!(event, TokenInvalidation::Digest(d) if d == &[7; 32]));
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        let token = |at| Entry::Token {
            digest: [7; 32],
            at,
            until: 1000,
        };
        local.apply(&token(10), 0).unwrap();
        local.apply(&token(10), 0).unwrap(); // the echo of our own write, or a resync
        assert_eq!(heard.load(Ordering::SeqCst), 1);
        local.apply(&token(11), 0).unwrap(); // a new invalidation of the same token
        assert_eq!(heard.load(Ordering::SeqCst), 2);
    }
}
