//! [`JwtHandler`]: a [`TokenHandler`] for JWT access tokens.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::claims::{self, JwtError, Times};
use super::issuers::{Claims, Issuer};
use crate::clock::{Clock, ClockSource};
use crate::identity::Identity;
use crate::jwks::{
    JwksError, DEFAULT_FETCH_TIMEOUT, DEFAULT_MIN_REFETCH_INTERVAL, DEFAULT_REFRESH_INTERVAL,
};
use crate::token::{TokenError, TokenHandler};
use crate::transport::{HttpTransport, HyperTransport};

/// The longest token a [`JwtHandler`] reads, by default, in bytes. (The layer's own limit on
/// credential length applies first.)
pub const DEFAULT_MAX_JWT_LEN: usize = 8192;

/// The longest header segment read, in bytes.
const MAX_HEADER_LEN: usize = 2048;

/// A token that passed every check, and the identity it maps to.
#[derive(Clone)]
pub struct VerifiedToken {
    issuer: String,
    claims: Map<String, Value>,
    identity: Identity,
    expires_at: i64,
}

impl VerifiedToken {
    /// The issuer that signed it.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its claims.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The identity it maps to (with [`Identity::expires_at`] set to `exp`).
    #[must_use]
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The identity, owned.
    #[must_use]
    pub fn into_identity(self) -> Identity {
        self.identity
    }

    /// Its `exp`, in Unix seconds.
    #[must_use]
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("issuer", &self.issuer)
            .field("claim_names", &self.claims.keys().collect::<Vec<_>>())
            .field("identity", &self.identity)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A [`TokenHandler`] for JWT access tokens from one or more issuers.
///
/// For each token: the size limit; the compact JWS form (a JWE is refused); `alg` in the
/// issuer's allow-list (never `none`; HS256 only with a configured secret); no `crit` header;
/// `typ`; the issuer chosen by the token's unverified `iss` **among the configured ones only**;
/// the key by `kid` from that issuer's [`JwksCache`](crate::jwks::JwksCache), which must fit
/// `alg`; the signature; then `iss`, `aud`, `exp`, `nbf` and `iat` as JSON numbers, with this
/// handler's clock and skew; then the issuer's mapping. `exp` becomes
/// [`Identity::with_expires_at`], so the layer refuses the token once it expires, even from a
/// [`TokenCache`](crate::TokenCache).
///
/// A failed check is an unknown token (`Ok(None)`: 401 `invalid_token`), logged with the name
/// of the check; keys that cannot be fetched are a backend failure (`Err`: 503 with
/// `Retry-After`). [`JwtHandler::verify`] returns the typed [`JwtError`] instead.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use sealed_session::jwt::{Issuer, JwtError, JwtHandler};
/// use sealed_session::{Key, SessionLayer, TokenHandler};
///
/// let handler = JwtHandler::new(
///     Issuer::new("https://idp.example.com", "https://api.example.com")
///         .with_hs256_secret("a shared secret of at least 32 bytes!"),
/// );
/// assert!(handler.check().is_ok());
/// // A forged token is refused, and `resolve` answers "unknown token".
/// assert_eq!(handler.verify("not.a.jwt").await.unwrap_err(), JwtError::Format);
/// assert!(handler.resolve("not.a.jwt").await.unwrap().is_none());
/// let layer = SessionLayer::new(Key::generate()).with_token_handler(handler);
/// # drop(layer);
/// # }
/// ```
#[derive(Clone)]
pub struct JwtHandler {
    issuers: Vec<Issuer>,
    clock: ClockSource,
    skew: i64,
    max_len: usize,
    transport: Arc<dyn HttpTransport>,
    http_timeout: Duration,
    refresh: Duration,
    min_refetch: Duration,
}

impl fmt::Debug for JwtHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtHandler")
            .field("issuers", &self.issuers)
            .field("skew", &self.skew)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl JwtHandler {
    /// A handler trusting one issuer (add more with [`with_issuer`](Self::with_issuer)).
    #[must_use]
    pub fn new(issuer: Issuer) -> Self {
        let mut handler = Self {
            issuers: Vec::new(),
            clock: ClockSource::default(),
            skew: super::DEFAULT_SKEW_SECONDS,
            max_len: DEFAULT_MAX_JWT_LEN,
            transport: Arc::new(HyperTransport::new()),
            http_timeout: DEFAULT_FETCH_TIMEOUT,
            refresh: DEFAULT_REFRESH_INTERVAL,
            min_refetch: DEFAULT_MIN_REFETCH_INTERVAL,
        };
        handler.push(issuer);
        handler
    }

    fn push(&mut self, mut issuer: Issuer) {
        issuer.configure_jwks(
            &self.transport,
            self.http_timeout,
            self.refresh,
            self.min_refetch,
        );
        // One entry per issuer identifier: a later one replaces an earlier one.
        self.issuers.retain(|i| i.issuer != issuer.issuer);
        self.issuers.push(issuer);
    }

    fn reconfigure(&mut self) {
        for issuer in &mut self.issuers {
            issuer.configure_jwks(
                &self.transport,
                self.http_timeout,
                self.refresh,
                self.min_refetch,
            );
        }
    }

    /// Trusts another issuer (multi-tenant). A token is verified with the keys and rules of the
    /// issuer its `iss` names, and refused when that is none of the configured ones.
    #[must_use]
    pub fn with_issuer(mut self, issuer: Issuer) -> Self {
        self.push(issuer);
        self
    }

    /// The clock `exp`, `nbf` and `iat` are checked against (default: the system clock). Give
    /// it the layer's clock.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = ClockSource::custom(clock);
        self
    }

    /// The allowance for clock differences with the issuer (default 60 s).
    #[must_use]
    pub fn with_clock_skew(mut self, skew: time::Duration) -> Self {
        self.skew = skew.whole_seconds().max(0);
        self
    }

    /// The longest token read (default [`DEFAULT_MAX_JWT_LEN`]); longer ones are refused before
    /// any parsing.
    #[must_use]
    pub fn with_max_token_len(mut self, max: usize) -> Self {
        self.max_len = max;
        self
    }

    /// The HTTP client for discovery and JWKS fetches (default: [`HyperTransport`]).
    #[must_use]
    pub fn with_transport(mut self, transport: impl HttpTransport) -> Self {
        self.transport = Arc::new(transport);
        self.reconfigure();
        self
    }

    /// How long one fetch of keys may take (default 3 s). Keep it below the layer's token
    /// timeout, so a slow provider is a logged fetch timeout.
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self.reconfigure();
        self
    }

    /// How long fetched keys are used before they are fetched again (default one hour).
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self.reconfigure();
        self
    }

    /// The least time between two refetches caused by an unknown `kid` (default one minute).
    #[must_use]
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self.reconfigure();
        self
    }

    /// The issuers.
    #[must_use]
    pub fn issuers(&self) -> &[Issuer] {
        &self.issuers
    }

    /// Checks the configuration: issuer and JWKS URLs are `https` (or `http` on loopback), every
    /// issuer allows an algorithm, HS256 secrets are long enough.
    ///
    /// # Errors
    ///
    /// Every problem found, one per line.
    pub fn check(&self) -> Result<(), String> {
        let problems: Vec<String> = self.issuers.iter().flat_map(Issuer::problems).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Verifies `token` and maps it.
    ///
    /// # Errors
    ///
    /// The [`JwtError`] naming the first check that failed; [`JwtError::Unavailable`] when the
    /// issuer's keys could not be fetched.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        let verified = self.verify_token(token).await?;
        if super::dpop::bound_key(&verified.claims).is_some() {
            // RFC 9449 §7.2: a DPoP-bound token alone is useless, as its thief would have it.
            return Err(JwtError::DpopBound);
        }
        Ok(verified)
    }

    /// Verifies a token presented with `Authorization: DPoP <token>` and its proof: the token
    /// as [`verify`](Self::verify) does, then that it is bound (`cnf.jkt`), then the proof for
    /// `method` and `url` with `verifier` (signature, `htm`, `htu`, `iat`, `ath`, the binding,
    /// replay).
    ///
    /// # Errors
    ///
    /// [`JwtError::Dpop`] for a refused proof (answer `invalid_dpop_proof`),
    /// [`JwtError::NotBound`] for an unbound token, else as [`verify`](Self::verify).
    pub async fn verify_with_proof(
        &self,
        token: &str,
        proof: &str,
        method: &str,
        url: &str,
        verifier: &super::dpop::DpopVerifier,
    ) -> Result<VerifiedToken, JwtError> {
        let verified = self.verify_token(token).await?;
        let jkt = super::dpop::bound_key(&verified.claims).ok_or(JwtError::NotBound)?;
        let request = super::dpop::DpopRequest::new(method, url)
            .with_access_token(token)
            .with_bound_key(jkt);
        verifier
            .verify(proof, &request)
            .await
            .map_err(JwtError::Dpop)?;
        Ok(verified)
    }

    async fn verify_token(&self, token: &str) -> Result<VerifiedToken, JwtError> {
        if token.len() > self.max_len {
            return Err(JwtError::TooLarge);
        }
        let (header_b64, payload_b64) = split(token)?;
        let header = read_header(header_b64)?;
        let issuer = self.choose(payload_b64)?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(JwtError::Algorithm);
        }
        if !claims::typ_ok(header.typ.as_deref(), issuer.strict) {
            return Err(JwtError::Type);
        }
        let claims = match header.alg {
            Algorithm::HS256 => {
                let key = issuer.hmac.as_deref().ok_or(JwtError::Algorithm)?;
                decode(token, key, header.alg)?
            }
            alg => {
                let key = issuer
                    .jwks
                    .key(header.kid.as_deref(), Some(alg))
                    .await
                    .map_err(|e| match e {
                        JwksError::UnknownKey => JwtError::UnknownKey,
                        other => JwtError::Unavailable(other.to_string()),
                    })?;
                decode(token, key.decoding_key(), alg)?
            }
        };
        claims::check_issuer(&claims, &issuer.issuer)?;
        claims::check_audience(&claims, &issuer.audiences)?;
        let exp = claims::check_times(
            &claims,
            Times {
                now: self.clock.unix_seconds(),
                skew: self.skew,
                require_iat: issuer.strict,
            },
        )?;
        if issuer.strict
            && !(claims.get("jti").is_some_and(Value::is_string)
                && claims.get("client_id").is_some_and(Value::is_string))
        {
            return Err(JwtError::MissingClaim);
        }
        let mut identity = issuer.mapping.map(&issuer.issuer, &claims)?;
        if let Some(map) = &issuer.map_fn {
            let view = Claims {
                issuer: &issuer.issuer,
                claims: &claims,
            };
            identity = map(&view, identity).ok_or(JwtError::Mapping)?;
        }
        let expires = OffsetDateTime::from_unix_timestamp(exp).map_err(|_| JwtError::Expired)?;
        // The mapping may shorten the session, never lengthen it past `exp`.
        let expires = identity.expires_at().map_or(expires, |t| t.min(expires));
        Ok(VerifiedToken {
            issuer: issuer.issuer.clone(),
            claims,
            identity: identity.with_expires_at(expires),
            expires_at: exp,
        })
    }

    /// The issuer whose rules apply: the only one, or the one the unverified `iss` names.
    fn choose(&self, payload_b64: &str) -> Result<&Issuer, JwtError> {
        if let [only] = self.issuers.as_slice() {
            return Ok(only);
        }
        #[derive(serde::Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| JwtError::Format)?;
        let iss: Iss = serde_json::from_slice(&payload).map_err(|_| JwtError::Format)?;
        let iss = iss.iss.ok_or(JwtError::Issuer)?;
        self.issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(JwtError::Issuer)
    }
}

/// The header and payload segments of a compact JWS: exactly three non-empty segments.
fn split(token: &str) -> Result<(&str, &str), JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => {
            if s.is_empty() {
                // An unsigned JWT (`alg: none`).
                Err(JwtError::Algorithm)
            } else {
                Ok((h, p))
            }
        }
        _ => Err(JwtError::Format),
    }
}

struct Header {
    alg: Algorithm,
    typ: Option<String>,
    kid: Option<String>,
}

/// Reads the protected header: `alg` (never `none`), no `crit`, `typ` and `kid` strings.
fn read_header(segment: &str) -> Result<Header, JwtError> {
    if segment.len() > MAX_HEADER_LEN {
        return Err(JwtError::Format);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JwtError::Format)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Format)?;
    if header.contains_key("enc") {
        // A JWE header.
        return Err(JwtError::Format);
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.parse::<Algorithm>().map_err(|_| JwtError::Algorithm)?,
        _ => return Err(JwtError::Algorithm),
    };
    if header.contains_key("crit") {
        return Err(JwtError::Critical);
    }
    let text = |name: &str| -> Result<Option<String>, JwtError> {
        match header.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(JwtError::Format),
        }
    };
    Ok(Header {
        alg,
        typ: text("typ")?,
        kid: text("kid")?,
    })
}

/// Checks the signature and returns the claims; no claim is checked here.
fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> Result<Map<String, Value>, JwtError> {
    crate::jwks::install_provider();
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => JwtError::Algorithm,
            _ => JwtError::Format,
        })
}

#[async_trait]
impl TokenHandler for JwtHandler {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        Ok(self.resolve_checked(token).await?.ok())
    }

    /// As `resolve`, naming the failed check (`exp`, `aud`, `signature`, …) for the 401's
    /// `error_description`.
    async fn resolve_checked(
        &self,
        token: &str,
    ) -> Result<Result<Identity, Option<&'static str>>, TokenError> {
        match self.verify(token).await {
            Ok(verified) => Ok(Ok(verified.into_identity())),
            Err(JwtError::Unavailable(why)) => Err(TokenError::new(why)),
            Err(JwtError::Dpop(super::dpop::DpopError::Unavailable(why))) => {
                Err(TokenError::new(why))
            }
            Err(error) => {
                tracing::info!(target: "sealed_session::jwt", check = error.check(), "refused: the access token failed a check");
                Ok(Err(Some(error.check())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header as JwtHeader};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const ISS: &str = "https://idp.example";

    fn handler(now: i64) -> JwtHandler {
        JwtHandler::new(Issuer::new(ISS, "api").with_hs256_secret(SECRET))
            .with_clock(move || OffsetDateTime::from_unix_timestamp(now).unwrap())
    }

    fn sign(header: JwtHeader, claims: &Value) -> String {
        crate::jwks::install_provider();
        encode(
            &header,
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn good() -> Value {
        json!({"iss": ISS, "aud": "api", "sub": "alice", "exp": 2_000, "iat": 900, "scope": "read"})
    }

    #[tokio::test]
    async fn a_good_token_maps_with_its_expiry() {
        let t = sign(JwtHeader::default(), &good());
        let v = handler(1_000).verify(&t).await.unwrap();
        assert_eq!(v.identity().uid(), Some("https://idp.example#alice"));
        assert_eq!(v.identity().expires_at().unwrap().unix_timestamp(), 2_000);
        assert_eq!(v.expires_at(), 2_000);
        assert!(!format!("{v:?}").contains(&t));
    }

    #[tokio::test]
    async fn each_check_is_named() {
        let h = handler(1_000);
        let with = |name: &str, value: Value| {
            let mut c = good();
            c[name] = value;
            sign(JwtHeader::default(), &c)
        };
        let cases = [
            (with("iss", json!("https://evil.example")), "iss"),
            (with("aud", json!("other")), "aud"),
            (with("exp", json!(500)), "exp"),
            (with("exp", json!("99999999999")), "exp"),
            (with("nbf", json!(5_000)), "nbf"),
            (with("nbf", json!("5000")), "nbf"),
            (with("iat", json!(5_000)), "iat"),
            (with("sub", json!("")), "sub"),
            ("a.b".to_owned(), "format"),
            ("a.b.c.d.e".to_owned(), "format"),
            (
                format!(
                    "{}.",
                    sign(JwtHeader::default(), &good())
                        .rsplit_once('.')
                        .unwrap()
                        .0
                ),
                "alg",
            ),
            ("x".repeat(DEFAULT_MAX_JWT_LEN + 1), "size"),
        ];
        for (token, check) in cases {
            assert_eq!(
                h.verify(&token).await.unwrap_err().check(),
                check,
                "{check}"
            );
            assert!(h.resolve(&token).await.unwrap().is_none());
        }
        let crit = JwtHeader {
            crit: Some(vec!["exp".into()]),
            ..JwtHeader::default()
        };
        assert_eq!(
            h.verify(&sign(crit, &good())).await.unwrap_err(),
            JwtError::Critical
        );
        let typ = JwtHeader {
            typ: Some("dpop+jwt".into()),
            ..JwtHeader::default()
        };
        assert_eq!(
            h.verify(&sign(typ, &good())).await.unwrap_err(),
            JwtError::Type
        );
        // A payload changed after signing.
        let t = sign(JwtHeader::default(), &good());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD
            .encode(json!({"iss": ISS, "aud": "api", "sub": "mallory", "exp": 2_000}).to_string());
        parts[1] = &forged;
        assert_eq!(
            h.verify(&parts.join(".")).await.unwrap_err(),
            JwtError::Signature
        );
    }

    #[tokio::test]
    async fn strict_mode_wants_an_access_token() {
        let h = JwtHandler::new(
            Issuer::new(ISS, "api")
                .with_hs256_secret(SECRET)
                .with_strict_type(true),
        )
        .with_clock(|| OffsetDateTime::from_unix_timestamp(1_000).unwrap());
        let t = sign(JwtHeader::default(), &good());
        assert_eq!(h.verify(&t).await.unwrap_err(), JwtError::Type);
        let at = JwtHeader {
            typ: Some("at+jwt".into()),
            ..JwtHeader::default()
        };
        assert_eq!(
            h.verify(&sign(at.clone(), &good())).await.unwrap_err(),
            JwtError::MissingClaim
        );
        let mut c = good();
        c["jti"] = json!("j1");
        c["client_id"] = json!("app");
        assert!(h.verify(&sign(at, &c)).await.is_ok());
    }

    #[tokio::test]
    async fn short_secrets_and_bad_urls_fail_the_check() {
        let h = JwtHandler::new(Issuer::new(ISS, "api").with_hs256_secret("short"));
        assert!(h.check().unwrap_err().contains("shorter"));
        let t = sign(JwtHeader::default(), &good());
        assert_eq!(h.verify(&t).await.unwrap_err(), JwtError::Algorithm);
        let h = JwtHandler::new(Issuer::new("http://idp.example", "api"));
        assert!(h.check().unwrap_err().contains("https"));
        assert!(handler(0).check().is_ok());
    }

    #[tokio::test]
    async fn the_mapping_closure_sees_the_claims_and_may_refuse() {
        let h = JwtHandler::new(Issuer::new(ISS, "api").with_hs256_secret(SECRET).with_map(
            |claims, identity| {
                (claims.get("tenant") == Some(&json!("acme")))
                    .then(|| identity.with_roles(["tenant-admin"]))
            },
        ))
        .with_clock(|| OffsetDateTime::from_unix_timestamp(1_000).unwrap());
        let mut c = good();
        assert_eq!(
            h.verify(&sign(JwtHeader::default(), &c)).await.unwrap_err(),
            JwtError::Mapping
        );
        c["tenant"] = json!("acme");
        let v = h.verify(&sign(JwtHeader::default(), &c)).await.unwrap();
        assert_eq!(v.identity().roles(), ["tenant-admin"]);
    }
}
