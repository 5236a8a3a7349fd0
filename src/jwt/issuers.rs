//! One trusted issuer: its identifier, audiences, keys, algorithms and mapping rules.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::mapping::ClaimMapping;
use crate::identity::Identity;
use crate::jwks::JwksCache;
use crate::transport::HttpTransport;

/// The asymmetric algorithms accepted by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The shortest HS256 secret accepted, in bytes (RFC 7518 §3.2: at least the hash's size).
pub const MIN_HMAC_SECRET: usize = 32;

/// The verified claims of a token, as a mapping closure sees them.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) claims: &'a Map<String, Value>,
}

impl<'a> Claims<'a> {
    /// The issuer, as configured (and equal to the token's `iss`).
    #[must_use]
    pub fn issuer(&self) -> &'a str {
        self.issuer
    }

    /// One claim.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.claims.get(name)
    }

    /// All claims.
    #[must_use]
    pub fn all(&self) -> &'a Map<String, Value> {
        self.claims
    }
}

pub(crate) type MapFn = Arc<dyn Fn(&Claims<'_>, Identity) -> Option<Identity> + Send + Sync>;

#[derive(Clone)]
pub(crate) enum KeySpec {
    Discover,
    Url(String),
    /// Given by the app (static keys, or a cache shared with another component): left as is.
    Cache,
}

/// A trusted issuer of access tokens.
///
/// `iss` must equal [`issuer`](Self::issuer) exactly, and `aud` must name one of the audiences.
/// Keys come from the issuer's discovery document unless a JWKS URL or static keys are given.
///
/// ```
/// use sealed_session::jwt::{ClaimMapping, Issuer};
///
/// let corp = Issuer::new("https://login.example.com/realms/corp", "https://api.example.com")
///     .with_jwks_url("https://login.example.com/realms/corp/protocol/openid-connect/certs")
///     .with_mapping(ClaimMapping::new().with_roles_claim("realm_access.roles"))
///     .with_strict_type(true);
/// assert_eq!(corp.issuer(), "https://login.example.com/realms/corp");
/// ```
#[derive(Clone)]
pub struct Issuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) spec: KeySpec,
    pub(crate) jwks: JwksCache,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) hmac: Option<Arc<DecodingKey>>,
    pub(crate) hmac_too_short: bool,
    pub(crate) strict: bool,
    pub(crate) mapping: ClaimMapping,
    pub(crate) map_fn: Option<MapFn>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("jwks", &self.jwks)
            .field("algorithms", &self.algorithms)
            .field("hmac_secret", &self.hmac.as_ref().map(|_| "<redacted>"))
            .field("strict", &self.strict)
            .field("mapping", &self.mapping)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer whose tokens must carry `audience` in `aud` (add more with
    /// [`and_audience`](Self::and_audience)).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            jwks: JwksCache::discover(issuer.clone()),
            issuer,
            audiences: vec![audience.into()],
            spec: KeySpec::Discover,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            hmac: None,
            hmac_too_short: false,
            strict: false,
            mapping: ClaimMapping::new(),
            map_fn: None,
        }
    }

    /// The issuer identifier.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Another accepted audience.
    #[must_use]
    pub fn and_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Keys from this JWKS URL instead of the discovery document.
    #[must_use]
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.jwks = JwksCache::from_url(url.clone());
        self.spec = KeySpec::Url(url);
        self
    }

    /// Static keys, never fetched.
    #[must_use]
    pub fn with_keys(mut self, keys: JwkSet) -> Self {
        self.jwks = JwksCache::from_keys(keys);
        self.spec = KeySpec::Cache;
        self
    }

    /// A key cache configured elsewhere, for example the one the `oauth` login uses for the same
    /// provider: one place fetches and caches the keys.
    #[must_use]
    pub fn with_jwks(mut self, cache: JwksCache) -> Self {
        self.jwks = cache;
        self.spec = KeySpec::Cache;
        self
    }

    /// The key cache (to share it).
    #[must_use]
    pub fn jwks(&self) -> &JwksCache {
        &self.jwks
    }

    /// The accepted asymmetric algorithms (default RS256, PS256, ES256, EdDSA). HMAC algorithms
    /// given here are ignored: HS256 is only accepted with [`with_hs256_secret`](Self::with_hs256_secret).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let hs = self.hmac.is_some();
        self.algorithms = algorithms
            .into_iter()
            .filter(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        if hs {
            self.algorithms.push(Algorithm::HS256);
        }
        self
    }

    /// Also accept HS256 tokens signed with this shared secret (at least 32 bytes; a shorter
    /// one is refused by [`JwtHandler::check`](super::JwtHandler::check) and never used). The
    /// token's header never picks the key: HS256 tokens are verified with this secret only.
    #[must_use]
    pub fn with_hs256_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET {
            self.hmac = None;
            self.hmac_too_short = true;
            self.algorithms.retain(|a| *a != Algorithm::HS256);
        } else {
            self.hmac = Some(Arc::new(DecodingKey::from_secret(secret)));
            self.hmac_too_short = false;
            if !self.algorithms.contains(&Algorithm::HS256) {
                self.algorithms.push(Algorithm::HS256);
            }
        }
        self
    }

    /// RFC 9068 strict mode: `typ` must be `at+jwt`, and `iat`, `jti` and `client_id` are
    /// required. Off by default (many providers send `typ: JWT`); an ID token or other `typ`
    /// is refused in both modes.
    #[must_use]
    pub fn with_strict_type(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How claims become an identity (default: [`ClaimMapping::new`]).
    #[must_use]
    pub fn with_mapping(mut self, mapping: ClaimMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// A closure run after the default mapping: it sees the verified claims and the mapped
    /// identity, and returns the identity to use, or `None` to refuse the token (`mapping`
    /// check, 401).
    #[must_use]
    pub fn with_map<F>(mut self, map: F) -> Self
    where
        F: Fn(&Claims<'_>, Identity) -> Option<Identity> + Send + Sync + 'static,
    {
        self.map_fn = Some(Arc::new(map));
        self
    }

    /// Rebuilds the key cache with the handler's HTTP settings, unless the app gave its own.
    pub(crate) fn configure_jwks(
        &mut self,
        transport: &Arc<dyn HttpTransport>,
        timeout: Duration,
        refresh: Duration,
        min_refetch: Duration,
    ) {
        let cache = match &self.spec {
            KeySpec::Cache => return,
            KeySpec::Discover => JwksCache::discover(self.issuer.clone()),
            KeySpec::Url(url) => JwksCache::from_url(url.clone()),
        };
        self.jwks = cache
            .with_shared_transport(Arc::clone(transport))
            .with_timeout(timeout)
            .with_refresh_interval(refresh)
            .with_min_refetch_interval(min_refetch);
    }

    /// What is wrong with this issuer's configuration, if anything.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = crate::jwks::check_url("issuer", &self.issuer) {
            problems.push(e);
        }
        if self.audiences.iter().any(String::is_empty) {
            problems.push(format!("{}: an empty audience", self.issuer));
        }
        if self.algorithms.is_empty() {
            problems.push(format!("{}: no algorithm is allowed", self.issuer));
        }
        if self.hmac_too_short {
            problems.push(format!(
                "{}: the HS256 secret is shorter than {MIN_HMAC_SECRET} bytes",
                self.issuer
            ));
        }
        if let Err(e) = self.jwks.check() {
            problems.push(format!("{}: {e}", self.issuer));
        }
        problems
    }
}
