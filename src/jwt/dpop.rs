//! RFC 9449 DPoP: the proof a client sends in the `DPoP` header with `Authorization: DPoP
//! <token>`, showing it holds the private key the token is bound to (`cnf.jkt`).
//!
//! [`DpopVerifier::verify`] checks one proof against the request: the header (`typ: dpop+jwt`,
//! an allowed asymmetric `alg`, a public `jwk`, no `crit`), the signature with that embedded
//! key, `htm`, `htu` (compared after normalisation, without query and fragment), `iat` within
//! the window, `ath` (the access token's hash), the token's `cnf.jkt` (the RFC 7638 thumbprint
//! of the proof key), and that its `jti` was not seen before within the window, through a
//! [`ReplayCache`]: in memory ([`MemoryReplayCache`]) or a store shared by every instance.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use sealed_session::jwt::{DpopError, DpopRequest, DpopVerifier};
//!
//! let verifier = DpopVerifier::new();
//! let request = DpopRequest::new("GET", "https://api.example.com/reports")
//!     .with_access_token("the-access-token")
//!     .with_bound_key("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
//! assert_eq!(verifier.verify("not-a-proof", &request).await.unwrap_err(), DpopError::Format);
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

use super::claims::numeric_date;
use crate::clock::{Clock, ClockSource};
use crate::key::sha256;

/// How old a proof may be, by default (its `iat` window).
pub const DEFAULT_PROOF_MAX_AGE: Duration = Duration::from_secs(300);
/// The longest proof read, in bytes.
pub const MAX_PROOF_LEN: usize = 4096;
/// The most `jti`s a [`MemoryReplayCache`] remembers, by default.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
/// The algorithms accepted for proofs by default.
pub const DEFAULT_DPOP_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Why a proof was refused: the client gets 401 with `error="invalid_dpop_proof"` in a `DPoP`
/// challenge (or 503 for [`DpopError::Unavailable`]). [`check`](Self::check) names the check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopError {
    /// Not a compact JWS, too long, or bad base64url or JSON.
    Format,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// `alg` is not an allowed asymmetric algorithm, or does not fit the key.
    Algorithm,
    /// No `jwk` header, a private or symmetric key, or a `crit` header.
    Key,
    /// The signature does not verify with the embedded key.
    Signature,
    /// `jti` is missing, empty or too long.
    Jti,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URL.
    Url,
    /// `iat` is missing, not a number, too old or in the future.
    IssuedAt,
    /// `ath` is missing or not the hash of the access token.
    TokenHash,
    /// The proof key is not the one the token is bound to (`cnf.jkt`).
    Binding,
    /// Nonces are on ([`DpopVerifier::with_nonces`]) and the proof's `nonce` is missing or not
    /// a current one: the client gets 401 `use_dpop_nonce` with a fresh `DPoP-Nonce`.
    Nonce,
    /// This proof was used before.
    Replayed,
    /// The replay store could not answer: answer 503.
    Unavailable(String),
}

impl DpopError {
    /// The name of the failed check.
    #[must_use]
    pub fn check(&self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::Type => "typ",
            Self::Algorithm => "alg",
            Self::Key => "jwk",
            Self::Signature => "signature",
            Self::Jti => "jti",
            Self::Method => "htm",
            Self::Url => "htu",
            Self::IssuedAt => "iat",
            Self::TokenHash => "ath",
            Self::Binding => "jkt",
            Self::Nonce => crate::rejection::DPOP_NONCE_CHECK,
            Self::Replayed => "replay",
            Self::Unavailable(_) => "replay-store",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "the DPoP replay store is unavailable: {why}"),
            other => write!(f, "the DPoP proof failed the {} check", other.check()),
        }
    }
}

impl std::error::Error for DpopError {}

/// The replay store could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError(pub String);

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

/// Remembers proofs already seen, so that each is accepted once.
///
/// The key is a SHA-256 digest of the proof key's thumbprint and the proof's `jti`; it must be
/// remembered for `ttl`. A store shared by several instances (Redis: `SET <key> 1 PX <ttl> NX`)
/// refuses a proof replayed to another instance; the in-memory [`MemoryReplayCache`] only within
/// one process.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sealed_session::jwt::{MemoryReplayCache, ReplayCache};
/// use std::time::Duration;
///
/// let cache = MemoryReplayCache::new();
/// let key = [7u8; 32];
/// assert!(cache.first_use(&key, Duration::from_secs(60)).await.unwrap());
/// assert!(!cache.first_use(&key, Duration::from_secs(60)).await.unwrap());
/// # }
/// ```
#[async_trait]
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `key` for `ttl`: `true` when it was not there (first use), `false` for a replay.
    ///
    /// # Errors
    ///
    /// When the store cannot answer; the request then gets 503, never a pass.
    async fn first_use(&self, key: &[u8; 32], ttl: Duration) -> Result<bool, ReplayError>;
}

/// An in-process [`ReplayCache`], bounded: when full of live entries it refuses new proofs
/// (an error, 503) rather than forget one early.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    seen: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayCache {
    /// A cache of at most [`DEFAULT_REPLAY_CAPACITY`] entries.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_REPLAY_CAPACITY)
    }

    /// A cache of at most `capacity` live entries.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl ReplayCache for MemoryReplayCache {
    async fn first_use(&self, key: &[u8; 32], ttl: Duration) -> Result<bool, ReplayError> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = seen.get(key) {
            if *until > now {
                return Ok(false);
            }
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now);
            if seen.len() >= self.capacity {
                return Err(ReplayError("the DPoP replay cache is full".to_owned()));
            }
        }
        seen.insert(*key, now + ttl);
        Ok(true)
    }
}

/// What a proof must match: the request, and the token it comes with.
#[derive(Debug, Clone)]
pub struct DpopRequest<'a> {
    method: &'a str,
    url: &'a str,
    access_token: Option<&'a str>,
    jkt: Option<&'a str>,
}

impl<'a> DpopRequest<'a> {
    /// A request with this method and absolute URL (as the client addressed it: the app's
    /// external scheme, host and port, not the address behind a proxy).
    #[must_use]
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Self {
            method,
            url,
            access_token: None,
            jkt: None,
        }
    }

    /// The access token the proof comes with: its `ath` must be this token's hash.
    #[must_use]
    pub fn with_access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The thumbprint the token is bound to (its `cnf.jkt`).
    #[must_use]
    pub fn with_bound_key(mut self, jkt: &'a str) -> Self {
        self.jkt = Some(jkt);
        self
    }
}

/// A proof that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof key, base64url.
    pub jkt: String,
    /// The proof's `iat`.
    pub issued_at: i64,
}

/// Checks DPoP proofs (RFC 9449 §4.3): the header (`typ: dpop+jwt`, an allowed asymmetric
/// `alg`, a public `jwk`, no `crit`), the signature with that key, `htm`, `htu` (normalised,
/// without query and fragment), `iat` within the window, `ath`, the token's `cnf.jkt`, and
/// `jti` replay through a [`ReplayCache`].
#[derive(Clone)]
pub struct DpopVerifier {
    algorithms: Vec<Algorithm>,
    max_age: Duration,
    skew: i64,
    replay: Arc<dyn ReplayCache>,
    clock: ClockSource,
    nonces: Option<super::DpopNonces>,
}

impl fmt::Debug for DpopVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopVerifier")
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("skew", &self.skew)
            .field("nonces", &self.nonces)
            .finish_non_exhaustive()
    }
}

impl Default for DpopVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopVerifier {
    /// The defaults: ES256, RS256, PS256 and EdDSA; proofs at most 5 minutes old; 60 s of skew;
    /// an in-memory replay cache.
    #[must_use]
    pub fn new() -> Self {
        Self {
            algorithms: DEFAULT_DPOP_ALGORITHMS.to_vec(),
            max_age: DEFAULT_PROOF_MAX_AGE,
            skew: super::DEFAULT_SKEW_SECONDS,
            replay: Arc::new(MemoryReplayCache::new()),
            clock: ClockSource::default(),
            nonces: None,
        }
    }

    /// The accepted proof algorithms (HMAC ones are ignored: a proof key is always public).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        self
    }

    /// The accepted proof algorithms, as `algs="…"` in a `DPoP` challenge.
    #[must_use]
    pub fn algorithm_names(&self) -> Vec<String> {
        self.algorithms.iter().map(|a| format!("{a:?}")).collect()
    }

    /// How old a proof may be (default 5 minutes); its `jti` is remembered that long (plus skew).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The allowance for a client's clock running ahead (default 60 s).
    #[must_use]
    pub fn with_clock_skew(mut self, skew: time::Duration) -> Self {
        self.skew = skew.whole_seconds().max(0);
        self
    }

    /// The replay store (default: in memory). Give every instance the same shared store so a
    /// proof replayed to another instance is refused too.
    #[must_use]
    pub fn with_replay_cache(mut self, cache: impl ReplayCache) -> Self {
        self.replay = Arc::new(cache);
        self
    }

    /// The replay store, shared.
    #[must_use]
    pub fn with_shared_replay_cache(mut self, cache: Arc<dyn ReplayCache>) -> Self {
        self.replay = cache;
        self
    }

    /// The clock `iat` is checked against.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::custom(clock);
        self
    }

    /// Requires a server nonce in every proof (RFC 9449 §9): its `nonce` claim must be one
    /// `nonces` issued for the current or the previous window, else [`DpopError::Nonce`]. In a
    /// layer, use [`DpopSupport::with_nonces`](super::DpopSupport::with_nonces), which also
    /// hands out nonces.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use sealed_session::jwt::{DpopNonces, DpopVerifier};
    ///
    /// let nonces = DpopNonces::new([7u8; 32]).unwrap();
    /// let verifier = DpopVerifier::new().with_nonces(nonces);
    /// assert!(verifier.nonces().is_some_and(|n| n.accepts(&n.current())));
    /// # }
    /// ```
    #[must_use]
    pub fn with_nonces(mut self, nonces: super::DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// The server nonces, when they are required.
    #[must_use]
    pub fn nonces(&self) -> Option<&super::DpopNonces> {
        self.nonces.as_ref()
    }

    /// Verifies `proof` for `request`.
    ///
    /// # Errors
    ///
    /// The [`DpopError`] naming the first failed check.
    pub async fn verify(
        &self,
        proof: &str,
        request: &DpopRequest<'_>,
    ) -> Result<DpopProof, DpopError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(DpopError::Format);
        }
        let mut parts = proof.split('.');
        let (Some(header_b64), Some(_), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DpopError::Format);
        };
        if sig.is_empty() {
            return Err(DpopError::Algorithm);
        }
        let header: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(DpopError::Format)?;
        if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
            return Err(DpopError::Type);
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<Algorithm>().ok())
            .filter(|a| self.algorithms.contains(a))
            .ok_or(DpopError::Algorithm)?;
        if header.contains_key("crit") {
            return Err(DpopError::Key);
        }
        let jwk_value = header.get("jwk").ok_or(DpopError::Key)?;
        let jwk = public_jwk(jwk_value)?;
        if !crate::jwks::key_fits(&jwk, alg) {
            return Err(DpopError::Algorithm);
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| DpopError::Key)?;
        crate::jwks::install_provider();
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => DpopError::Signature,
                _ => DpopError::Format,
            })?
            .claims;
        let jti = match claims.get("jti") {
            Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= 256 => jti,
            _ => return Err(DpopError::Jti),
        };
        if claims.get("htm").and_then(Value::as_str) != Some(request.method) {
            return Err(DpopError::Method);
        }
        match claims.get("htu").and_then(Value::as_str) {
            Some(htu) if same_target(htu, request.url) => {}
            _ => return Err(DpopError::Url),
        }
        let now = self.clock.unix_seconds();
        let max_age = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
        let iat = match numeric_date(&claims, "iat") {
            Some(Ok(iat))
                if iat <= now.saturating_add(self.skew) && iat >= now.saturating_sub(max_age) =>
            {
                iat
            }
            _ => return Err(DpopError::IssuedAt),
        };
        if let Some(nonces) = &self.nonces {
            match claims.get("nonce").and_then(Value::as_str) {
                Some(nonce) if nonces.accepts(nonce) => {}
                _ => return Err(DpopError::Nonce),
            }
        }
        if let Some(token) = request.access_token {
            let expected = URL_SAFE_NO_PAD.encode(sha256(token.as_bytes()));
            match claims.get("ath").and_then(Value::as_str) {
                Some(ath) if bool::from(ath.as_bytes().ct_eq(expected.as_bytes())) => {}
                _ => return Err(DpopError::TokenHash),
            }
        }
        let jkt = thumbprint(&jwk).ok_or(DpopError::Key)?;
        if let Some(bound) = request.jkt {
            if !bool::from(bound.as_bytes().ct_eq(jkt.as_bytes())) {
                return Err(DpopError::Binding);
            }
        }
        let mut replay_key = Vec::with_capacity(jkt.len() + 1 + jti.len());
        replay_key.extend_from_slice(jkt.as_bytes());
        replay_key.push(0);
        replay_key.extend_from_slice(jti.as_bytes());
        let ttl = self.max_age + Duration::from_secs(u64::try_from(self.skew).unwrap_or(0));
        match self.replay.first_use(&sha256(&replay_key), ttl).await {
            Ok(true) => {}
            Ok(false) => return Err(DpopError::Replayed),
            Err(e) => return Err(DpopError::Unavailable(e.0)),
        }
        Ok(DpopProof {
            jkt,
            issued_at: iat,
        })
    }
}

/// The proof's `jwk`: a public asymmetric key, never private or symmetric members.
fn public_jwk(value: &Value) -> Result<Jwk, DpopError> {
    let object = value.as_object().ok_or(DpopError::Key)?;
    const PRIVATE: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if PRIVATE.iter().any(|m| object.contains_key(*m)) {
        return Err(DpopError::Key);
    }
    let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| DpopError::Key)?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(DpopError::Key);
    }
    Ok(jwk)
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK, base64url.
#[must_use]
pub fn thumbprint(jwk: &Jwk) -> Option<String> {
    let s = |v: &str| serde_json::to_string(v).ok();
    let canonical = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            let crv = serde_json::to_value(&ec.curve).ok()?;
            format!(
                "{{\"crv\":{},\"kty\":\"EC\",\"x\":{},\"y\":{}}}",
                serde_json::to_string(&crv).ok()?,
                s(&ec.x)?,
                s(&ec.y)?
            )
        }
        AlgorithmParameters::RSA(rsa) => {
            format!(
                "{{\"e\":{},\"kty\":\"RSA\",\"n\":{}}}",
                s(&rsa.e)?,
                s(&rsa.n)?
            )
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            let crv = serde_json::to_value(&okp.curve).ok()?;
            format!(
                "{{\"crv\":{},\"kty\":\"OKP\",\"x\":{}}}",
                serde_json::to_string(&crv).ok()?,
                s(&okp.x)?
            )
        }
        AlgorithmParameters::OctetKey(_) => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes())))
}

/// The `htu` a proof for this request must carry: the app's external origin (`https://host[:port]`,
/// as clients address it, never taken from the request's `Host`) and the request's path, without
/// query.
///
/// ```
/// use sealed_session::jwt::request_target;
///
/// let uri: http::Uri = "/reports/7?full=1".parse().unwrap();
/// assert_eq!(request_target("https://api.example.com/", &uri), "https://api.example.com/reports/7");
/// ```
#[must_use]
pub fn request_target(origin: &str, uri: &http::Uri) -> String {
    format!("{}{}", origin.trim_end_matches('/'), uri.path())
}

/// The value of a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1): the accepted algorithms,
/// and an error code with its description when a proof or token was refused. The description is
/// kept to RFC 6750's characters (printable ASCII without `"` and `\`).
///
/// ```
/// use sealed_session::jwt::dpop_challenge;
///
/// assert_eq!(
///     dpop_challenge(&["ES256", "RS256"], Some(("invalid_dpop_proof", "the DPoP proof failed the htu check"))),
///     "DPoP algs=\"ES256 RS256\", error=\"invalid_dpop_proof\", error_description=\"the DPoP proof failed the htu check\""
/// );
/// ```
#[must_use]
pub fn dpop_challenge(algorithms: &[&str], error: Option<(&str, &str)>) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
            .collect()
    };
    let mut value = format!("DPoP algs=\"{}\"", clean(&algorithms.join(" ")));
    if let Some((code, description)) = error {
        value.push_str(&format!(
            ", error=\"{}\", error_description=\"{}\"",
            clean(code),
            clean(description)
        ));
    }
    value
}

/// The `cnf.jkt` of a token's claims, if it is DPoP-bound.
#[must_use]
pub fn bound_key(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("cnf")?.get("jkt")?.as_str()
}

/// Whether `htu` and the request URL name the same target (RFC 9449 §4.3: scheme and host
/// case-insensitively, default ports, path; never query or fragment).
fn same_target(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
        && a.username().is_empty()
        && a.password().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;
    use time::OffsetDateTime;

    // A P-256 test key, made for these tests only.
    const PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgdnFm27A9LBV9vJOE
w1gjgXqw+KYIrqSCcCQl96dgseShRANCAAR5F6hyuIAKOYyvVMytPeMiStHLcy+a
AuNLGj1vig2k5i11SCZnNhqqCDB5HOhdhx8Kf4aXB4mYgKFnCIhmZs6B
-----END PRIVATE KEY-----
";
    const X: &str = "eReocriACjmMr1TMrT3jIkrRy3MvmgLjSxo9b4oNpOY";
    const Y: &str = "LXVIJmc2GqoIMHkc6F2HHwp_hpcHiZiAoWcIiGZmzoE";
    const URL: &str = "https://api.example.com/reports";
    const NOW: i64 = 1_000_000;

    fn public() -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y})
    }

    fn proof_with(header: Value, claims: Value) -> String {
        crate::jwks::install_provider();
        let key = {
            let b64: String = PEM.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            EncodingKey::from_ec_der(&der)
        };
        let mut h: Header = serde_json::from_value(json!({"alg": "ES256"})).unwrap();
        h.typ = header.get("typ").and_then(Value::as_str).map(str::to_owned);
        h.jwk = header
            .get("jwk")
            .and_then(|j| serde_json::from_value(j.clone()).ok());
        encode(&h, &claims, &key).unwrap()
    }

    fn claims() -> Value {
        json!({"jti": "j-1", "htm": "GET", "htu": URL, "iat": NOW,
               "ath": URL_SAFE_NO_PAD.encode(sha256(b"token"))})
    }

    fn proof() -> String {
        proof_with(json!({"typ": "dpop+jwt", "jwk": public()}), claims())
    }

    fn verifier() -> DpopVerifier {
        DpopVerifier::new().with_clock(|| OffsetDateTime::from_unix_timestamp(NOW).unwrap())
    }

    fn jkt() -> String {
        thumbprint(&serde_json::from_value(public()).unwrap()).unwrap()
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk: Jwk = serde_json::from_value(json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"})).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[tokio::test]
    async fn a_valid_proof_passes_once() {
        let v = verifier();
        let req = DpopRequest::new("GET", URL).with_access_token("token");
        let jkt = jkt();
        let req = req.with_bound_key(&jkt);
        let ok = v.verify(&proof(), &req).await.unwrap();
        assert_eq!(ok.jkt, jkt);
        assert_eq!(
            v.verify(&proof(), &req).await.unwrap_err(),
            DpopError::Replayed
        );
        // Another instance with its own memory would accept it; sharing the store refuses it.
        let shared: Arc<dyn ReplayCache> = Arc::new(MemoryReplayCache::new());
        let a = verifier().with_shared_replay_cache(Arc::clone(&shared));
        let b = verifier().with_shared_replay_cache(shared);
        assert!(a.verify(&proof(), &req).await.is_ok());
        assert_eq!(
            b.verify(&proof(), &req).await.unwrap_err(),
            DpopError::Replayed
        );
    }

    #[tokio::test]
    async fn each_check_fails_on_its_own() {
        let jkt = jkt();
        let base = DpopRequest::new("GET", URL)
            .with_access_token("token")
            .with_bound_key(&jkt);
        let with = |name: &str, value: Value| {
            let mut c = claims();
            c["jti"] = json!(format!("j-{name}-{value}"));
            c[name] = value;
            proof_with(json!({"typ": "dpop+jwt", "jwk": public()}), c)
        };
        let cases = [
            (with("htm", json!("POST")), DpopError::Method),
            (
                with("htu", json!("https://api.example.com/other")),
                DpopError::Url,
            ),
            (
                with("htu", json!("https://evil.example.com/reports")),
                DpopError::Url,
            ),
            (with("iat", json!(NOW - 301)), DpopError::IssuedAt),
            (with("iat", json!(NOW + 61)), DpopError::IssuedAt),
            (with("iat", json!(NOW.to_string())), DpopError::IssuedAt),
            (with("ath", json!("wrong")), DpopError::TokenHash),
            (with("jti", json!("")), DpopError::Jti),
            (
                proof_with(json!({"typ": "JWT", "jwk": public()}), claims()),
                DpopError::Type,
            ),
            (
                proof_with(json!({"typ": "dpop+jwt"}), claims()),
                DpopError::Key,
            ),
            ("a.b".to_owned(), DpopError::Format),
        ];
        for (proof, error) in cases {
            let v = verifier();
            assert_eq!(
                v.verify(&proof, &base).await.unwrap_err(),
                error,
                "{error:?}"
            );
        }
        // A proof by another key than the token's cnf.jkt.
        let other = DpopRequest::new("GET", URL)
            .with_access_token("token")
            .with_bound_key("another-thumbprint");
        assert_eq!(
            verifier().verify(&proof(), &other).await.unwrap_err(),
            DpopError::Binding
        );
        // The proof for another access token.
        let other = DpopRequest::new("GET", URL).with_access_token("stolen");
        assert_eq!(
            verifier().verify(&proof(), &other).await.unwrap_err(),
            DpopError::TokenHash
        );
        // A signature over other claims.
        let p = proof();
        let mut parts: Vec<&str> = p.split('.').collect();
        let mut c = claims();
        c["htm"] = json!("DELETE");
        let forged = URL_SAFE_NO_PAD.encode(c.to_string());
        parts[1] = &forged;
        let req = DpopRequest::new("DELETE", URL);
        assert_eq!(
            verifier().verify(&parts.join("."), &req).await.unwrap_err(),
            DpopError::Signature
        );
        // A private key in the header.
        let mut private = public();
        private["d"] = json!("c2VjcmV0");
        assert_eq!(public_jwk(&private).unwrap_err(), DpopError::Key);
        assert_eq!(
            public_jwk(&json!({"kty": "oct", "k": "c2VjcmV0"})).unwrap_err(),
            DpopError::Key
        );
    }

    #[tokio::test]
    async fn with_nonces_a_proof_needs_a_current_one() {
        let at = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
        let nonces = super::super::DpopNonces::new([9u8; 32])
            .unwrap()
            .with_clock(move || at);
        let v = verifier().with_nonces(nonces.clone());
        let jkt = jkt();
        let req = DpopRequest::new("GET", URL)
            .with_access_token("token")
            .with_bound_key(&jkt);
        let with_nonce = |jti: &str, nonce: Option<&str>| {
            let mut c = claims();
            c["jti"] = json!(jti);
            if let Some(nonce) = nonce {
                c["nonce"] = json!(nonce);
            }
            proof_with(json!({"typ": "dpop+jwt", "jwk": public()}), c)
        };
        assert_eq!(
            v.verify(&with_nonce("a", None), &req).await.unwrap_err(),
            DpopError::Nonce
        );
        assert_eq!(
            v.verify(&with_nonce("b", Some("stale-or-made-up")), &req)
                .await
                .unwrap_err(),
            DpopError::Nonce
        );
        let current = nonces.current();
        assert!(v
            .verify(&with_nonce("c", Some(&current)), &req)
            .await
            .is_ok());
        // A refused proof did not use up its jti: made again with the nonce, it passes.
        assert!(v
            .verify(&with_nonce("a", Some(&current)), &req)
            .await
            .is_ok());
        assert_eq!(DpopError::Nonce.check(), "nonce");
        // Without nonces, the claim is not needed.
        assert!(verifier()
            .verify(&with_nonce("d", None), &req)
            .await
            .is_ok());
    }

    #[test]
    fn challenges_never_carry_quotes_or_controls() {
        let c = dpop_challenge(
            &["ES256"],
            Some(("invalid_dpop_proof", "bad \"quote\\ \r\n")),
        );
        assert_eq!(
            c,
            "DPoP algs=\"ES256\", error=\"invalid_dpop_proof\", error_description=\"bad quote \""
        );
        assert_eq!(
            dpop_challenge(&["ES256", "EdDSA"], None),
            "DPoP algs=\"ES256 EdDSA\""
        );
    }

    #[test]
    fn targets_are_normalised() {
        assert!(same_target("https://API.example.com:443/reports", URL));
        assert!(same_target("https://api.example.com/reports?x=1#f", URL));
        assert!(!same_target("http://api.example.com/reports", URL));
        assert!(!same_target("https://api.example.com:8443/reports", URL));
        assert!(!same_target("https://api.example.com/reports/", URL));
        assert!(!same_target("not a url", URL));
        assert_eq!(
            bound_key(json!({"cnf": {"jkt": "abc"}}).as_object().unwrap()),
            Some("abc")
        );
        assert_eq!(bound_key(json!({"cnf": "abc"}).as_object().unwrap()), None);
    }

    #[tokio::test]
    async fn a_full_memory_cache_fails_closed() {
        let cache = MemoryReplayCache::with_capacity(2);
        let ttl = Duration::from_secs(60);
        assert!(cache.first_use(&[1; 32], ttl).await.unwrap());
        assert!(cache.first_use(&[2; 32], ttl).await.unwrap());
        assert!(cache.first_use(&[3; 32], ttl).await.is_err());
        assert!(!cache.first_use(&[1; 32], ttl).await.unwrap());
    }
}
