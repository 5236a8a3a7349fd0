//! The layer's token cache: one current token, and at most one call to the source at a time
//! (single-flight), however many requests wait for it.

use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, SystemTime};

use super::{AccessToken, ClientError, TokenRequest, TokenSource};

/// The current token and the outcome of the last attempt to get one.
#[derive(Default)]
struct State {
    /// The current token, its generation (bumped on every new token) and when to replace it.
    current: Option<Current>,
    generation: u64,
    /// How many calls to the source have finished.
    attempts: u64,
    /// The last call's error, if it failed; cleared by a success.
    last_error: Option<ClientError>,
}

struct Current {
    generation: u64,
    token: AccessToken,
    /// `None`: the expiry is unknown, keep the token until the API refuses it.
    refresh_at: Option<SystemTime>,
}

/// When to replace a token: `margin` before its expiry, or at half its remaining lifetime when
/// that is shorter (so a 30-second token is not refreshed on every request under a 60-second
/// margin).
fn refresh_at(token: &AccessToken, margin: Duration) -> Option<SystemTime> {
    let expires_at = token.expires_at()?;
    let now = SystemTime::now();
    let left = expires_at.duration_since(now).unwrap_or(Duration::ZERO);
    let early = margin.min(left / 2);
    Some(expires_at.checked_sub(early).unwrap_or(expires_at))
}

/// Shared by every clone of the layer and its services.
pub(crate) struct TokenCache {
    source: Arc<dyn TokenSource>,
    margin: Duration,
    // A sync lock for the few field reads and writes (never held across an await), and an
    // async one that serialises the calls to the source (held across it).
    state: SyncMutex<State>,
    fetch: tokio::sync::Mutex<()>,
}

impl TokenCache {
    pub(crate) fn new(source: Arc<dyn TokenSource>, margin: Duration) -> Self {
        Self {
            source,
            margin,
            state: SyncMutex::new(State::default()),
            fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// A new, empty cache over the same source with another margin.
    pub(crate) fn rebuilt(&self, margin: Duration) -> Self {
        Self::new(self.source.clone(), margin)
    }

    pub(crate) fn margin(&self) -> Duration {
        self.margin
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current token if it is usable: fresh beyond the margin, and not the rejected one.
    fn usable(&self, rejected: Option<u64>) -> Option<(u64, AccessToken)> {
        let state = self.lock();
        let current = state.current.as_ref()?;
        let fresh = current.refresh_at.is_none_or(|at| SystemTime::now() < at);
        (fresh && Some(current.generation) != rejected)
            .then(|| (current.generation, current.token.clone()))
    }

    /// Whether the current token is usable now (Bitfount's `authenticated`).
    pub(crate) fn authenticated(&self) -> bool {
        self.usable(None).is_some()
    }

    /// Forgets the current token (sign-out).
    pub(crate) fn clear(&self) {
        self.lock().current = None;
    }

    /// A usable token, calling the source at most once for all the callers waiting together.
    /// `rejected` is the generation of a token the API refused.
    ///
    /// When a call to the source fails, every caller that was waiting for it gets its error;
    /// the next caller (arriving after the failure) tries again.
    pub(crate) async fn get(
        &self,
        rejected: Option<u64>,
    ) -> Result<(u64, AccessToken), ClientError> {
        if let Some(hit) = self.usable(rejected) {
            return Ok(hit);
        }
        let attempts_before = self.lock().attempts;
        let _fetching = self.fetch.lock().await;
        // Someone else may have fetched while this caller waited.
        if let Some(hit) = self.usable(rejected) {
            return Ok(hit);
        }
        {
            let state = self.lock();
            if state.attempts > attempts_before {
                if let Some(error) = &state.last_error {
                    return Err(error.clone());
                }
            }
        }
        let rejected_token = {
            let state = self.lock();
            match (&state.current, rejected) {
                (Some(c), Some(r)) if c.generation == r => Some(c.token.clone()),
                _ => None,
            }
        };
        let request = TokenRequest::new(rejected_token.clone(), self.margin);
        let result = self.source.access_token(&request).await;
        let mut state = self.lock();
        state.attempts += 1;
        match result {
            Ok(token) => {
                state.generation += 1;
                state.last_error = None;
                let generation = state.generation;
                state.current = Some(Current {
                    generation,
                    refresh_at: refresh_at(&token, self.margin),
                    token: token.clone(),
                });
                tracing::debug!(target: "sealed_session::client", generation, "new access token");
                Ok((generation, token))
            }
            Err(error) => {
                tracing::warn!(target: "sealed_session::client", code = error.code(), error = %error, "could not get an access token");
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::token_source_fn;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn caches_until_rejected() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let source = token_source_fn(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(AccessToken::bearer(format!("t{n}"))) }
        });
        let cache = TokenCache::new(Arc::new(source), Duration::from_secs(60));
        let (g1, t1) = cache.get(None).await.unwrap();
        let (g2, _) = cache.get(None).await.unwrap();
        assert_eq!((g1, g2), (1, 1));
        assert_eq!(t1.secret(), "t0");
        let (g3, t3) = cache.get(Some(g1)).await.unwrap();
        assert_eq!(g3, 2);
        assert_eq!(t3.secret(), "t1");
        // An old rejection does not refetch.
        let (g4, _) = cache.get(Some(g1)).await.unwrap();
        assert_eq!(g4, 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(cache.authenticated());
        cache.clear();
        assert!(!cache.authenticated());
    }

    #[test]
    fn short_tokens_refresh_at_half_life() {
        let token = AccessToken::bearer("t").with_expires_in(Duration::from_secs(20));
        let at = refresh_at(&token, Duration::from_secs(60)).unwrap();
        let left = at.duration_since(SystemTime::now()).unwrap();
        assert!(
            left > Duration::from_secs(8) && left <= Duration::from_secs(10),
            "{left:?}"
        );
        let long = AccessToken::bearer("t").with_expires_in(Duration::from_secs(3600));
        let at = refresh_at(&long, Duration::from_secs(600)).unwrap();
        let left = at.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(2990) && left <= Duration::from_secs(3000));
        assert!(refresh_at(&AccessToken::bearer("t"), Duration::from_secs(1)).is_none());
    }
}
