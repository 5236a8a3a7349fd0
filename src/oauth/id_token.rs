//! OpenID Connect ID tokens: the checks of OIDC Core §3.1.3.7. The provider's keys come from the
//! crate's one JWKS cache ([`crate::jwks::JwksCache`]).
//!
//! The signature is checked by `jsonwebtoken` (aws-lc-rs); every claim check is ours, on typed
//! values, with the session layer's clock and skew allowance.

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq as _;

/// The longest `sub` accepted, in bytes.
const MAX_SUBJECT: usize = 255;

/// Why an ID token was refused: the name of the failed check, shown to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdTokenError {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    AuthorizedParty,
    Expired,
    IssuedAt,
    NotBefore,
    Nonce,
    Subject,
}

impl IdTokenError {
    pub(crate) fn check(self) -> &'static str {
        match self {
            Self::Malformed => "format",
            Self::Algorithm => "alg",
            Self::UnknownKey => "kid",
            Self::Signature => "signature",
            Self::Issuer => "iss",
            Self::Audience => "aud",
            Self::AuthorizedParty => "azp",
            Self::Expired => "exp",
            Self::IssuedAt => "iat",
            Self::NotBefore => "nbf",
            Self::Nonce => "nonce",
            Self::Subject => "sub",
        }
    }
}

/// The header fields needed to pick the key.
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Reads the header, and refuses an algorithm outside `allowed`.
pub(crate) fn header(token: &str, allowed: &[Algorithm]) -> Result<Header, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !allowed.contains(&header.alg) {
        return Err(IdTokenError::Algorithm);
    }
    Ok(Header {
        alg: header.alg,
        kid: header.kid,
    })
}

/// What the claims must match.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) nonce: &'a str,
    pub(crate) now: i64,
    pub(crate) skew: i64,
    pub(crate) flow_started: i64,
}

/// Verifies `token`'s signature with `key`, then its claims. Returns the claims.
pub(crate) fn verify(
    token: &str,
    header: &Header,
    key: &crate::jwks::VerifyingKey,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    crate::jwks::install_provider();
    if !key.fits(header.alg) {
        return Err(IdTokenError::Algorithm);
    }
    let key = key.decoding_key();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdTokenError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => IdTokenError::Algorithm,
            _ => IdTokenError::Malformed,
        })?;
    check_claims(&data.claims, expected)?;
    Ok(data.claims)
}

/// An integer claim; a string or a float is refused (a string `exp` must not skip the check).
fn int(claims: &Map<String, Value>, name: &str) -> Option<Result<i64, ()>> {
    claims.get(name).map(|v| v.as_i64().ok_or(()))
}

/// The claim checks of OIDC Core §3.1.3.7, in order.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(), IdTokenError> {
    use IdTokenError as E;
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(E::Issuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
        _ => return Err(E::Audience),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(E::Audience);
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == expected.client_id => {}
        Some(_) => return Err(E::AuthorizedParty),
        None if audiences.len() > 1 => return Err(E::AuthorizedParty),
        None => {}
    }
    let now = expected.now;
    let skew = expected.skew;
    match int(claims, "exp") {
        Some(Ok(exp)) if exp.saturating_add(skew) > now => {}
        _ => return Err(E::Expired),
    }
    match int(claims, "iat") {
        Some(Ok(iat))
            if iat <= now.saturating_add(skew)
                && iat >= expected.flow_started.saturating_sub(skew) => {}
        _ => return Err(E::IssuedAt),
    }
    match int(claims, "nbf") {
        None => {}
        Some(Ok(nbf)) if nbf <= now.saturating_add(skew) => {}
        Some(_) => return Err(E::NotBefore),
    }
    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce) if bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) => {}
        _ => return Err(E::Nonce),
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= MAX_SUBJECT => Ok(()),
        _ => Err(E::Subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "app",
            nonce: "n0nce",
            now: 1_000_000,
            skew: 60,
            flow_started: 999_900,
        }
    }

    fn good() -> Map<String, Value> {
        json!({"iss": "https://idp.example", "aud": "app", "exp": 1_003_600, "iat": 999_990,
               "nbf": 999_980, "nonce": "n0nce", "sub": "alice"})
        .as_object()
        .cloned()
        .unwrap()
    }

    fn with(name: &str, value: Value) -> Map<String, Value> {
        let mut c = good();
        c.insert(name.to_owned(), value);
        c
    }

    #[test]
    fn good_claims_pass() {
        assert_eq!(check_claims(&good(), &expected()), Ok(()));
        assert_eq!(
            check_claims(&with("aud", json!(["app"])), &expected()),
            Ok(())
        );
        let mut c = with("aud", json!(["app", "other"]));
        c.insert("azp".into(), json!("app"));
        assert_eq!(check_claims(&c, &expected()), Ok(()));
    }

    #[test]
    fn each_claim_is_checked() {
        use IdTokenError as E;
        let cases = [
            (with("iss", json!("https://evil.example")), E::Issuer),
            (with("aud", json!("other")), E::Audience),
            (with("aud", json!(["other"])), E::Audience),
            (with("aud", json!(["app", "other"])), E::AuthorizedParty),
            (with("azp", json!("other")), E::AuthorizedParty),
            (with("exp", json!(999_000)), E::Expired),
            (with("exp", json!("9999999999")), E::Expired),
            (with("exp", json!(1.0e12)), E::Expired),
            (with("iat", json!(1_000_100)), E::IssuedAt),
            (with("iat", json!(999_000)), E::IssuedAt),
            (with("nbf", json!(1_000_100)), E::NotBefore),
            (with("nbf", json!("0")), E::NotBefore),
            (with("nonce", json!("other")), E::Nonce),
            (with("sub", json!("")), E::Subject),
            (with("sub", json!("x".repeat(256))), E::Subject),
        ];
        for (claims, error) in cases {
            assert_eq!(check_claims(&claims, &expected()), Err(error), "{claims:?}");
        }
        for name in ["iss", "aud", "exp", "iat", "nonce", "sub"] {
            let mut c = good();
            c.remove(name);
            assert!(check_claims(&c, &expected()).is_err(), "{name} missing");
        }
    }
}
