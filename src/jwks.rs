//! One cache of an issuer's signing keys (its JWK set), shared by the `jwt` resource server and
//! the `oauth` login's ID-token check. Features `jwt` or `oauth`.
//!
//! A [`JwksCache`] gets its keys from one of three places:
//!
//! - the issuer's discovery document ([`JwksCache::discover`]): `<issuer>/.well-known/openid-configuration`,
//!   or the RFC 8414 `/.well-known/oauth-authorization-server` form, whose `issuer` must equal the
//!   configured one and whose `jwks_uri` is then fetched;
//! - a JWKS URL ([`JwksCache::from_url`]);
//! - static keys ([`JwksCache::from_keys`]): never fetched.
//!
//! Fetched keys are refreshed when older than the refresh interval (one hour by default), the
//! next time a key is asked for. A token whose `kid` is not in the set causes **one** refetch (a
//! key rotation at the provider), and at most one per minimum interval (one minute by default),
//! so a stream of tokens with made-up key ids cannot turn into a stream of requests to the
//! provider. Fetches are single-flight: callers that arrive while one is running wait for it and
//! share its result. Only verification keys are kept (no `use: enc`, no symmetric `oct` keys), at
//! most [`DEFAULT_MAX_KEYS`] of them. URLs must be `https` (plain `http` only on a loopback host).
//!
//! When a scheduled refresh fails, the keys already held stay in use for at most one more refresh
//! interval (an identity provider's short outage does not take the API down); a failure with no
//! usable keys is [`JwksError::Unavailable`], which a token handler answers with 503.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sealed_session::jwks::{JwksCache, JwksError};
//!
//! let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
//!     "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
//!     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!     "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
//! }]})).unwrap();
//! let cache = JwksCache::from_keys(set);
//! assert_eq!(cache.key(Some("k1"), None).await.unwrap().kid(), Some("k1"));
//! assert!(matches!(cache.key(Some("k2"), None).await, Err(JwksError::UnknownKey)));
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::transport::{HttpTransport, HyperTransport, TransportErrorKind};

/// How long fetched keys are used before they are fetched again, by default.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// The least time between two refetches caused by an unknown key id, by default.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// The most keys kept from one JWK set, by default.
pub const DEFAULT_MAX_KEYS: usize = 32;
/// How long a failed first fetch is answered from memory before the next try.
const FAILURE_BACKOFF: Duration = Duration::from_secs(1);
/// How long one request to the provider may take, by default.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// The set (even after the one refetch allowed) has no usable key with this `kid`: the token
    /// is invalid.
    UnknownKey,
    /// The keys could not be fetched (provider down or answering garbage): try later.
    /// The message names what failed, never a token.
    Unavailable(String),
    /// The provider did not answer within the fetch timeout: try later.
    TimedOut(String),
}

impl JwksError {
    /// Whether the keys could not be had for now ([`Unavailable`](Self::Unavailable) or
    /// [`TimedOut`](Self::TimedOut)), as opposed to a token naming a key that does not exist.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, Self::UnknownKey)
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey => f.write_str("no usable key with this key id"),
            Self::Unavailable(why) => write!(f, "the signing keys are unavailable: {why}"),
            Self::TimedOut(why) => write!(f, "the signing keys did not arrive in time: {why}"),
        }
    }
}

impl std::error::Error for JwksError {}

/// One verification key from the set, ready to use.
pub struct VerifyingKey {
    jwk: Jwk,
    key: DecodingKey,
}

impl VerifyingKey {
    /// The key's `kid`, if it has one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.jwk.common.key_id.as_deref()
    }

    /// The JWK as published.
    #[must_use]
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The decoding key made from it.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// Whether this key may verify a signature made with `alg`: the key type and curve fit the
    /// algorithm, and the JWK's own `alg`, when it has one, is `alg`.
    #[must_use]
    pub fn fits(&self, alg: Algorithm) -> bool {
        key_fits(&self.jwk, alg)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// Whether `jwk` may verify `alg`: key type, curve and the JWK's `alg` all agree (RFC 8725 §3.1).
pub(crate) fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let type_fits = match (&jwk.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    let alg_fits = match jwk.common.key_algorithm {
        None => true,
        Some(key_alg) => key_alg.to_string() == format!("{alg:?}"),
    };
    type_fits && alg_fits
}

/// Whether a published key is one we keep: a public verification key.
fn usable(jwk: &Jwk) -> bool {
    let for_signing = !matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    );
    let not_secret = !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_));
    let known_alg = !matches!(
        jwk.common.key_algorithm,
        Some(
            KeyAlgorithm::UNKNOWN_ALGORITHM
                | KeyAlgorithm::RSA1_5
                | KeyAlgorithm::RSA_OAEP
                | KeyAlgorithm::RSA_OAEP_256
        )
    );
    for_signing && not_secret && known_alg
}

#[derive(Clone)]
enum Source {
    Static,
    Url(String),
    Discovery(String),
}

#[derive(Clone)]
struct Config {
    source: Source,
    transport: Arc<dyn HttpTransport>,
    timeout: Duration,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
    max_keys: usize,
}

#[derive(Default)]
struct Snapshot {
    keys: Vec<Arc<VerifyingKey>>,
    /// When fetched; `None` for static keys (always fresh) or before the first fetch.
    fetched_at: Option<Instant>,
}

#[derive(Default)]
struct FetchState {
    /// The JWKS URL read from the discovery document.
    jwks_uri: Option<String>,
    /// The error of the last fetch, when it failed.
    last_error: Option<JwksError>,
    last_attempt: Option<Instant>,
    last_unknown_refetch: Option<Instant>,
}

struct State {
    snapshot: RwLock<Arc<Snapshot>>,
    /// Bumped under `fetch` by every fetch, so that a caller who waited knows one happened.
    generation: AtomicU64,
    fetch: tokio::sync::Mutex<FetchState>,
}

/// The signing keys of one issuer, cached. Cheap to clone: clones share the keys.
///
/// Configure it before first use; see the [module docs](self) for the refresh rules.
#[derive(Clone)]
pub struct JwksCache {
    config: Arc<Config>,
    state: Arc<State>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.config.source {
            Source::Static => "static".to_owned(),
            Source::Url(url) => url.clone(),
            Source::Discovery(issuer) => format!("discovery of {issuer}"),
        };
        f.debug_struct("JwksCache")
            .field("source", &source)
            .field("keys", &self.snapshot().keys.len())
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    fn with_source(source: Source, keys: Vec<Arc<VerifyingKey>>) -> Self {
        Self {
            config: Arc::new(Config {
                source,
                transport: Arc::new(HyperTransport::new()),
                timeout: DEFAULT_FETCH_TIMEOUT,
                refresh_interval: DEFAULT_REFRESH_INTERVAL,
                min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
                max_keys: DEFAULT_MAX_KEYS,
            }),
            state: Arc::new(State {
                snapshot: RwLock::new(Arc::new(Snapshot {
                    keys,
                    fetched_at: None,
                })),
                generation: AtomicU64::new(0),
                fetch: tokio::sync::Mutex::new(FetchState::default()),
            }),
        }
    }

    /// Keys fetched from a JWKS URL (`https`, or `http` on a loopback host; checked by
    /// [`JwksCache::check`] and on every fetch).
    pub fn from_url(jwks_url: impl Into<String>) -> Self {
        Self::with_source(Source::Url(jwks_url.into()), Vec::new())
    }

    /// Keys found through the issuer's discovery document (OpenID Connect Discovery, or RFC 8414
    /// authorization-server metadata when the first is not there).
    pub fn discover(issuer: impl Into<String>) -> Self {
        Self::with_source(Source::Discovery(issuer.into()), Vec::new())
    }

    /// Static keys, never fetched. Keys that cannot verify signatures (encryption keys,
    /// symmetric keys, unsupported types) are left out.
    #[must_use]
    pub fn from_keys(set: JwkSet) -> Self {
        let keys = keep(set.keys, DEFAULT_MAX_KEYS);
        Self::with_source(Source::Static, keys)
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The HTTP client (default: [`HyperTransport`]).
    #[must_use]
    pub fn with_transport(mut self, transport: impl HttpTransport) -> Self {
        self.config_mut().transport = Arc::new(transport);
        self
    }

    /// The HTTP client, shared.
    #[must_use]
    pub fn with_shared_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.config_mut().transport = transport;
        self
    }

    /// How long one request to the provider may take (default [`DEFAULT_FETCH_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().timeout = timeout;
        self
    }

    /// How long fetched keys are used before they are fetched again (default one hour).
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.config_mut().refresh_interval = interval;
        self
    }

    /// The least time between two refetches caused by an unknown `kid` (default one minute).
    #[must_use]
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.config_mut().min_refetch_interval = interval;
        self
    }

    /// The most keys kept from one set (default [`DEFAULT_MAX_KEYS`]); the rest are ignored.
    #[must_use]
    pub fn with_max_keys(mut self, max: usize) -> Self {
        self.config_mut().max_keys = max.max(1);
        self
    }

    /// Checks the configuration: the URL or issuer is `https` (or `http` on loopback).
    ///
    /// # Errors
    ///
    /// A message naming what is wrong.
    pub fn check(&self) -> Result<(), String> {
        match &self.config.source {
            Source::Static => {
                if self.snapshot().keys.is_empty() {
                    Err("no usable static key".to_owned())
                } else {
                    Ok(())
                }
            }
            Source::Url(url) => check_url("JWKS URL", url),
            Source::Discovery(issuer) => check_url("issuer", issuer),
        }
    }

    /// The number of keys held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshot().keys.len()
    }

    /// Whether no key is held now (nothing fetched yet, or an empty set).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        match self.state.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn store(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        match self.state.snapshot.write() {
            Ok(mut s) => *s = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }

    fn is_fresh(&self, snapshot: &Snapshot) -> bool {
        match (&self.config.source, snapshot.fetched_at) {
            (Source::Static, _) => true,
            (_, Some(at)) => at.elapsed() < self.config.refresh_interval,
            (_, None) => false,
        }
    }

    /// The key for a token with this `kid` (and `alg`, when given): the key with that id, or,
    /// for a token without `kid`, the only key that fits `alg`.
    ///
    /// Fetches the set when there is none or it is due for refresh; refetches once on an
    /// unknown `kid`, rate-limited.
    ///
    /// # Errors
    ///
    /// [`JwksError::UnknownKey`] when no usable key matches; [`JwksError::Unavailable`] when the
    /// keys could not be fetched.
    pub async fn key(
        &self,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Arc<VerifyingKey>, JwksError> {
        let snapshot = self.snapshot();
        if self.is_fresh(&snapshot) {
            if let Some(found) = find(&snapshot, kid, alg) {
                return Ok(found);
            }
            if matches!(self.config.source, Source::Static) {
                return Err(JwksError::UnknownKey);
            }
        }
        Box::pin(self.key_slow(kid, alg)).await
    }

    async fn key_slow(
        &self,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Arc<VerifyingKey>, JwksError> {
        let seen = self.state.generation.load(Ordering::Acquire);
        let mut fetch = self.state.fetch.lock().await;
        let snapshot = self.snapshot();
        if self.state.generation.load(Ordering::Acquire) != seen {
            // A fetch ran while this caller waited: share its result.
            if let Some(found) = find(&snapshot, kid, alg) {
                return Ok(found);
            }
            if let Some(error) = &fetch.last_error {
                if !self.usable_when_stale(&snapshot) {
                    return Err(error.clone());
                }
            }
            return Err(JwksError::UnknownKey);
        }
        if snapshot.fetched_at.is_none() {
            if let (Some(error), Some(at)) = (&fetch.last_error, fetch.last_attempt) {
                // No keys yet and the last fetch failed a moment ago: answer with its error
                // rather than ask a provider that is down once per request.
                if at.elapsed() < self.config.min_refetch_interval.min(FAILURE_BACKOFF) {
                    return Err(error.clone());
                }
            }
        }
        let fresh = self.is_fresh(&snapshot);
        if fresh {
            if let Some(found) = find(&snapshot, kid, alg) {
                return Ok(found);
            }
            let allowed = fetch
                .last_unknown_refetch
                .is_none_or(|t| t.elapsed() >= self.config.min_refetch_interval);
            if !allowed {
                tracing::debug!(target: "sealed_session::jwks", "unknown key id; refetch rate-limited");
                return Err(JwksError::UnknownKey);
            }
            fetch.last_unknown_refetch = Some(Instant::now());
            tracing::info!(target: "sealed_session::jwks", "unknown key id: refetching the key set once");
        } else if snapshot.fetched_at.is_some() && fetch.last_error.is_some() {
            // A scheduled refresh already failed: retry it only after the minimum interval, and
            // use the stale keys meanwhile.
            let retry = fetch
                .last_attempt
                .is_none_or(|t| t.elapsed() >= self.config.min_refetch_interval);
            if !retry {
                return self.stale(&snapshot, &fetch, kid, alg);
            }
        }
        fetch.last_attempt = Some(Instant::now());
        let result = self.fetch(&mut fetch).await;
        self.state.generation.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(keys) => {
                fetch.last_error = None;
                tracing::debug!(target: "sealed_session::jwks", keys = keys.len(), "fetched the key set");
                self.store(Snapshot {
                    keys,
                    fetched_at: Some(Instant::now()),
                });
                find(&self.snapshot(), kid, alg).ok_or(JwksError::UnknownKey)
            }
            Err(error) => {
                tracing::warn!(target: "sealed_session::jwks", %error, "could not fetch the key set");
                fetch.last_error = Some(error);
                self.stale(&snapshot, &fetch, kid, alg)
            }
        }
    }

    /// Whether keys past their refresh time may still be used after a failed refresh: for at
    /// most one more refresh interval.
    fn usable_when_stale(&self, snapshot: &Snapshot) -> bool {
        snapshot
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.config.refresh_interval.saturating_mul(2))
    }

    fn stale(
        &self,
        snapshot: &Snapshot,
        fetch: &FetchState,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Arc<VerifyingKey>, JwksError> {
        if self.usable_when_stale(snapshot) {
            if let Some(found) = find(snapshot, kid, alg) {
                tracing::warn!(target: "sealed_session::jwks", "using the previous key set: the refresh failed");
                return Ok(found);
            }
        }
        // No usable key, and the fetch that could have brought one failed: the provider is down.
        Err(fetch
            .last_error
            .clone()
            .unwrap_or_else(|| JwksError::Unavailable("no keys".to_owned())))
    }

    async fn fetch(&self, fetch: &mut FetchState) -> Result<Vec<Arc<VerifyingKey>>, JwksError> {
        let url = match &self.config.source {
            Source::Static => return Ok(self.snapshot().keys.clone()),
            Source::Url(url) => url.clone(),
            Source::Discovery(issuer) => match &fetch.jwks_uri {
                Some(uri) => uri.clone(),
                None => {
                    let uri = self.discover_jwks_uri(issuer).await?;
                    fetch.jwks_uri = Some(uri.clone());
                    uri
                }
            },
        };
        check_url("JWKS URL", &url).map_err(JwksError::Unavailable)?;
        let body = self.get_json(&url).await?;
        let Some(Value::Array(keys)) = body.get("keys") else {
            return Err(JwksError::Unavailable(
                "the JWKS endpoint answered something that is not a JWK set".to_owned(),
            ));
        };
        let mut parsed = Vec::new();
        for key in keys.iter().take(self.config.max_keys.saturating_mul(4)) {
            match serde_json::from_value::<Jwk>(key.clone()) {
                Ok(jwk) => parsed.push(jwk),
                Err(_) => {
                    tracing::debug!(target: "sealed_session::jwks", "skipped a key of an unsupported type");
                }
            }
        }
        Ok(keep(parsed, self.config.max_keys))
    }

    /// The `jwks_uri` of the issuer's metadata.
    async fn discover_jwks_uri(&self, issuer: &str) -> Result<String, JwksError> {
        let bad = JwksError::Unavailable;
        check_url("issuer", issuer).map_err(bad)?;
        let doc = match self
            .get_json(&well_known(issuer, "openid-configuration"))
            .await
        {
            Ok(doc) => doc,
            Err(first) => self
                .get_json(&well_known(issuer, "oauth-authorization-server"))
                .await
                .map_err(|_| first)?,
        };
        if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(bad(format!(
                "the discovery document's issuer is not {issuer}"
            )));
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the discovery document has no jwks_uri".to_owned()))?;
        check_url("jwks_uri", uri).map_err(bad)?;
        Ok(uri.to_owned())
    }

    /// `GET url`, a 200 with a JSON object, within the timeout.
    async fn get_json(&self, url: &str) -> Result<serde_json::Map<String, Value>, JwksError> {
        get_json(self.config.transport.as_ref(), self.config.timeout, url).await
    }
}

/// Installs `jsonwebtoken`'s aws-lc-rs provider once (unless the app installed one).
pub(crate) fn install_provider() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        // Fails only when a provider is already installed, which is then used.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

/// `GET url` through `transport`: a 200 with a JSON object, within `timeout`.
pub(crate) async fn get_json(
    transport: &dyn HttpTransport,
    timeout: Duration,
    url: &str,
) -> Result<serde_json::Map<String, Value>, JwksError> {
    let request = http::Request::get(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|_| JwksError::Unavailable(format!("{url} is not a valid URI")))?;
    let response = match tokio::time::timeout(timeout, transport.send(request)).await {
        Err(_) => return Err(JwksError::TimedOut(format!("{url}: no answer in time"))),
        Ok(Err(e)) if e.kind() == TransportErrorKind::Timeout => {
            return Err(JwksError::TimedOut(format!("{url}: no answer in time")))
        }
        Ok(Err(e)) => return Err(JwksError::Unavailable(format!("{url}: {e}"))),
        Ok(Ok(response)) => response,
    };
    if response.status() != http::StatusCode::OK {
        return Err(JwksError::Unavailable(format!(
            "{url} answered {}",
            response.status()
        )));
    }
    serde_json::from_slice(response.body()).map_err(|_| {
        JwksError::Unavailable(format!(
            "{url} answered something that is not a JSON object"
        ))
    })
}

/// `<issuer>/.well-known/<name>`, or for an issuer with a path, the RFC 8414 form with the
/// well-known segment between host and path for `oauth-authorization-server`.
fn well_known(issuer: &str, name: &str) -> String {
    let issuer = issuer.trim_end_matches('/');
    if name == "oauth-authorization-server" {
        if let Ok(url) = url::Url::parse(issuer) {
            let path = url.path().trim_end_matches('/');
            if !path.is_empty() {
                let origin = url.origin().ascii_serialization();
                return format!("{origin}/.well-known/{name}{path}");
            }
        }
    }
    format!("{issuer}/.well-known/{name}")
}

/// `https`, or plain `http` on a loopback host; no fragment.
pub(crate) fn check_url(what: &str, url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|_| format!("the {what} {url:?} is not a URL"))?;
    let loopback = matches!(
        parsed.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "the {what} must be https (plain http only on localhost): {url}"
            ))
        }
    }
    if parsed.fragment().is_some() {
        return Err(format!("the {what} must not have a fragment"));
    }
    Ok(())
}

/// The usable keys of a set, at most `max`, ready to verify.
fn keep(keys: Vec<Jwk>, max: usize) -> Vec<Arc<VerifyingKey>> {
    keys.into_iter()
        .filter(usable)
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(Arc::new(VerifyingKey { jwk, key }))
        })
        .take(max)
        .collect()
}

fn find(
    snapshot: &Snapshot,
    kid: Option<&str>,
    alg: Option<Algorithm>,
) -> Option<Arc<VerifyingKey>> {
    let fits = |k: &&Arc<VerifyingKey>| alg.is_none_or(|alg| k.fits(alg));
    match kid {
        Some(kid) => snapshot
            .keys
            .iter()
            .filter(fits)
            .find(|k| k.kid() == Some(kid))
            .cloned(),
        None => {
            let mut keys = snapshot.keys.iter().filter(fits);
            match (keys.next(), keys.next()) {
                (Some(only), None) => Some(Arc::clone(only)),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportError;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    fn ec(kid: &str) -> Value {
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": X, "y": Y})
    }

    /// A transport answering from a shared body, counting calls.
    #[derive(Clone)]
    struct Fake {
        body: Arc<Mutex<(u16, String)>>,
        calls: Arc<AtomicUsize>,
        delay: Duration,
    }

    impl Fake {
        fn new(keys: Value) -> Self {
            Self {
                body: Arc::new(Mutex::new((200, keys.to_string()))),
                calls: Arc::new(AtomicUsize::new(0)),
                delay: Duration::ZERO,
            }
        }
        fn set(&self, status: u16, body: &str) {
            *self.body.lock().unwrap() = (status, body.to_owned());
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl HttpTransport for Fake {
        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, TransportError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if request.uri().path().ends_with("openid-configuration") {
                let doc = json!({"issuer": "https://idp.example", "jwks_uri": "https://idp.example/keys"});
                return Ok(http::Response::new(doc.to_string().into_bytes()));
            }
            let (status, body) = self.body.lock().unwrap().clone();
            let mut response = http::Response::new(body.into_bytes());
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(response)
        }
    }

    fn cache(fake: &Fake) -> JwksCache {
        JwksCache::from_url("https://idp.example/keys")
            .with_transport(fake.clone())
            .with_min_refetch_interval(Duration::from_secs(3600))
    }

    #[tokio::test]
    async fn an_unknown_kid_causes_one_rate_limited_refetch() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        let cache = cache(&fake);
        assert!(cache.key(Some("a"), Some(Algorithm::ES256)).await.is_ok());
        assert_eq!(fake.calls(), 1);
        assert_eq!(
            cache.key(Some("b"), None).await.unwrap_err(),
            JwksError::UnknownKey
        );
        assert_eq!(fake.calls(), 2, "one refetch");
        assert_eq!(
            cache.key(Some("c"), None).await.unwrap_err(),
            JwksError::UnknownKey
        );
        assert_eq!(fake.calls(), 2, "rate-limited");
        assert!(cache.key(Some("a"), None).await.is_ok());
        assert_eq!(fake.calls(), 2);
    }

    #[tokio::test]
    async fn a_rotated_key_is_found_by_the_refetch() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        let cache = cache(&fake);
        assert!(cache.key(Some("a"), None).await.is_ok());
        fake.set(200, &json!({"keys": [ec("a"), ec("b")]}).to_string());
        assert!(cache.key(Some("b"), None).await.is_ok());
        assert_eq!(fake.calls(), 2);
    }

    #[tokio::test]
    async fn concurrent_first_lookups_share_one_fetch() {
        let mut fake = Fake::new(json!({"keys": [ec("a")]}));
        fake.delay = Duration::from_millis(20);
        let cache = cache(&fake);
        let lookups = (0..8).map(|_| cache.key(Some("a"), None));
        let results = futures_join(lookups).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(fake.calls(), 1);
    }

    async fn futures_join<F: std::future::Future>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send,
    {
        let mut set = Vec::new();
        for f in futures {
            set.push(f);
        }
        let mut out = Vec::new();
        // Poll all together: a tiny join_all.
        let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
        let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (f, slot) in pinned.iter_mut().zip(done.iter_mut()) {
                if slot.is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => *slot = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        for slot in done {
            out.extend(slot);
        }
        out
    }

    #[tokio::test]
    async fn failures_are_unavailable_not_unknown() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        fake.set(500, "oops");
        let cache = cache(&fake);
        assert!(matches!(
            cache.key(Some("a"), None).await,
            Err(JwksError::Unavailable(_))
        ));
        fake.set(200, "<html>garbage</html>");
        let cache = self::cache(&fake);
        assert!(matches!(
            cache.key(Some("a"), None).await,
            Err(JwksError::Unavailable(_))
        ));
        fake.set(200, "{\"keys\": 3}");
        let cache = self::cache(&fake);
        assert!(matches!(
            cache.key(Some("a"), None).await,
            Err(JwksError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn a_provider_that_is_down_is_not_asked_once_per_request() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        fake.set(503, "down");
        let cache = cache(&fake);
        for _ in 0..5 {
            assert!(matches!(
                cache.key(Some("a"), None).await,
                Err(JwksError::Unavailable(_))
            ));
        }
        assert_eq!(fake.calls(), 1);
        fake.set(200, &json!({"keys": [ec("a")]}).to_string());
        tokio::time::sleep(FAILURE_BACKOFF + Duration::from_millis(50)).await;
        assert!(
            cache.key(Some("a"), None).await.is_ok(),
            "recovers after the backoff"
        );
        assert_eq!(fake.calls(), 2);
    }

    #[tokio::test]
    async fn stale_keys_serve_while_a_refresh_fails() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        let cache = JwksCache::from_url("https://idp.example/keys")
            .with_transport(fake.clone())
            .with_refresh_interval(Duration::from_millis(300))
            .with_min_refetch_interval(Duration::from_secs(3600));
        assert!(cache.key(Some("a"), None).await.is_ok());
        fake.set(503, "down");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cache.key(Some("a"), None).await.is_ok(), "stale key used");
        assert_eq!(fake.calls(), 2);
        assert!(cache.key(Some("a"), None).await.is_ok());
        assert_eq!(fake.calls(), 2, "retry waits for the minimum interval");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            matches!(
                cache.key(Some("a"), None).await,
                Err(JwksError::Unavailable(_))
            ),
            "too old"
        );
    }

    #[tokio::test]
    async fn only_verification_keys_are_kept() {
        let fake = Fake::new(json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": X, "y": Y},
            {"kty": "weird", "kid": "w"},
            ec("sig"),
        ]}));
        let cache = cache(&fake);
        assert!(cache.key(Some("sig"), None).await.is_ok());
        assert_eq!(cache.len(), 1);
        let fake =
            Fake::new(json!({"keys": (0..100).map(|i| ec(&i.to_string())).collect::<Vec<_>>()}));
        let cache = self::cache(&fake).with_max_keys(5);
        assert!(cache.key(Some("0"), None).await.is_ok());
        assert_eq!(cache.len(), 5);
    }

    #[tokio::test]
    async fn keys_must_fit_the_algorithm() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        let cache = cache(&fake);
        let key = cache.key(Some("a"), None).await.unwrap();
        assert!(key.fits(Algorithm::ES256));
        assert!(!key.fits(Algorithm::ES384));
        assert!(!key.fits(Algorithm::RS256));
        assert!(!key.fits(Algorithm::HS256));
        let mut jwk = key.jwk().clone();
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES384);
        assert!(!key_fits(&jwk, Algorithm::ES256));
    }

    #[tokio::test]
    async fn discovery_finds_the_jwks_uri() {
        let fake = Fake::new(json!({"keys": [ec("a")]}));
        let cache = JwksCache::discover("https://idp.example").with_transport(fake.clone());
        assert!(cache.key(Some("a"), None).await.is_ok());
        assert_eq!(fake.calls(), 2);
        let cache = JwksCache::discover("https://other.example").with_transport(fake.clone());
        assert!(
            matches!(cache.key(Some("a"), None).await, Err(JwksError::Unavailable(e)) if e.contains("issuer"))
        );
    }

    #[test]
    fn urls_are_https_or_loopback() {
        assert!(check_url("x", "https://idp.example/keys").is_ok());
        assert!(check_url("x", "http://127.0.0.1:8080/keys").is_ok());
        assert!(check_url("x", "http://idp.example/keys").is_err());
        assert!(check_url("x", "https://idp.example/keys#f").is_err());
        assert!(JwksCache::from_url("ftp://x").check().is_err());
        assert_eq!(
            well_known("https://idp.example/tenant", "oauth-authorization-server"),
            "https://idp.example/.well-known/oauth-authorization-server/tenant"
        );
    }
}
