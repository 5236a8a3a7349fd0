//! The claim checks of a JWT access token (RFC 7519 §4.1, RFC 9068 §4), on typed values, with
//! our own clock and skew: `jsonwebtoken` only checks the signature.

use std::fmt;

use serde_json::{Map, Value};

/// The longest `sub` accepted, in bytes.
pub(crate) const MAX_SUBJECT: usize = 255;

/// Why a token was refused. [`JwtError::check`] names the failed check, for logs and for an
/// `error_description`; nothing here ever holds the token or a claim's value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Longer than the handler's limit: refused before any parsing.
    TooLarge,
    /// Not a compact JWS (a JWE, a wrong number of segments, bad base64url or JSON).
    Format,
    /// `alg` is `none`, not in the allow-list, or does not fit the key.
    Algorithm,
    /// `typ` is not an access token's (`at+jwt` in strict mode; `JWT` or `at+jwt` otherwise).
    Type,
    /// A `crit` header, which this handler understands none of (RFC 7515 §4.1.11).
    Critical,
    /// No key with this `kid` in the issuer's key set, even after one refetch.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `iss` is missing, not a configured issuer, or not this issuer.
    Issuer,
    /// `aud` is missing or names none of the configured audiences.
    Audience,
    /// `exp` is missing, not a number, or past.
    Expired,
    /// `nbf` is not a number, or in the future.
    NotBefore,
    /// `iat` is not a number, in the future, or (in strict mode) missing.
    IssuedAt,
    /// The uid claim (`sub` by default) is missing, empty or too long.
    Subject,
    /// A claim strict mode requires (`jti`, `client_id`) is missing.
    MissingClaim,
    /// The app's mapping refused the token.
    Mapping,
    /// A DPoP-bound token (`cnf.jkt`) without a proof, as a plain bearer token (RFC 9449 §7.2).
    DpopBound,
    /// A token presented with a DPoP proof is not DPoP-bound.
    NotBound,
    /// The DPoP proof was refused.
    Dpop(super::dpop::DpopError),
    /// The keys could not be fetched: the caller should answer 503, not 401.
    Unavailable(String),
}

impl JwtError {
    /// The name of the failed check: `size`, `format`, `alg`, `typ`, `crit`, `kid`,
    /// `signature`, `iss`, `aud`, `exp`, `nbf`, `iat`, `sub`, `claims`, `mapping`, `cnf`, `dpop`
    /// or `jwks`.
    #[must_use]
    pub fn check(&self) -> &'static str {
        match self {
            Self::TooLarge => "size",
            Self::Format => "format",
            Self::Algorithm => "alg",
            Self::Type => "typ",
            Self::Critical => "crit",
            Self::UnknownKey => "kid",
            Self::Signature => "signature",
            Self::Issuer => "iss",
            Self::Audience => "aud",
            Self::Expired => "exp",
            Self::NotBefore => "nbf",
            Self::IssuedAt => "iat",
            Self::Subject => "sub",
            Self::MissingClaim => "claims",
            Self::Mapping => "mapping",
            Self::DpopBound | Self::NotBound => "cnf",
            Self::Dpop(_) => "dpop",
            Self::Unavailable(_) => "jwks",
        }
    }

    /// Whether this is a backend failure (answer 503), not an invalid token (answer 401).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Dpop(super::dpop::DpopError::Unavailable(_))
        )
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "the issuer's keys are unavailable: {why}"),
            Self::Dpop(e) => e.fmt(f),
            other => write!(f, "the token failed the {} check", other.check()),
        }
    }
}

impl std::error::Error for JwtError {}

/// A NumericDate claim (RFC 7519 §2): a JSON number, in seconds. A string, a boolean or a
/// non-finite number is an error, never "absent" (GHSA-h395-gr6q-cpjc).
pub(crate) fn numeric_date(claims: &Map<String, Value>, name: &str) -> Option<Result<i64, ()>> {
    claims.get(name).map(|v| match v {
        Value::Number(n) => n.as_i64().map(Ok).unwrap_or_else(|| {
            // A fractional date rounds down; one out of i64's range is refused.
            match n.as_f64() {
                Some(f) if f.is_finite() && f.abs() < 9.0e15 =>
                {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(f.floor() as i64)
                }
                _ => Err(()),
            }
        }),
        _ => Err(()),
    })
}

/// What the time claims must satisfy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) now: i64,
    pub(crate) skew: i64,
    /// Whether `iat` is required (strict mode).
    pub(crate) require_iat: bool,
}

/// `exp` (required), `nbf` and `iat`: returns `exp`.
pub(crate) fn check_times(claims: &Map<String, Value>, t: Times) -> Result<i64, JwtError> {
    let exp = match numeric_date(claims, "exp") {
        Some(Ok(exp)) if exp.saturating_add(t.skew) > t.now => exp,
        _ => return Err(JwtError::Expired),
    };
    match numeric_date(claims, "nbf") {
        None => {}
        Some(Ok(nbf)) if nbf <= t.now.saturating_add(t.skew) => {}
        Some(_) => return Err(JwtError::NotBefore),
    }
    match numeric_date(claims, "iat") {
        None if !t.require_iat => {}
        Some(Ok(iat)) if iat <= t.now.saturating_add(t.skew) => {}
        _ => return Err(JwtError::IssuedAt),
    }
    Ok(exp)
}

/// `iss` equals `issuer` exactly.
pub(crate) fn check_issuer(claims: &Map<String, Value>, issuer: &str) -> Result<(), JwtError> {
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => Ok(()),
        _ => Err(JwtError::Issuer),
    }
}

/// `aud` (a string or an array of strings) names at least one of `audiences`.
pub(crate) fn check_audience(
    claims: &Map<String, Value>,
    audiences: &[String],
) -> Result<(), JwtError> {
    let named = |aud: &str| audiences.iter().any(|a| a == aud);
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => named(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(named),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(JwtError::Audience)
    }
}

/// Whether a `typ` header value is acceptable: `at+jwt` (with or without `application/`) always;
/// `JWT` or none too unless `strict`.
pub(crate) fn typ_ok(typ: Option<&str>, strict: bool) -> bool {
    let Some(typ) = typ else { return !strict };
    let bare = if typ.len() > 12
        && typ
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/"))
    {
        typ.get(12..).unwrap_or_default()
    } else {
        typ
    };
    bare.eq_ignore_ascii_case("at+jwt") || (!strict && bare.eq_ignore_ascii_case("jwt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const T: Times = Times {
        now: 1_000_000,
        skew: 60,
        require_iat: false,
    };

    #[test]
    fn times_are_numbers_only() {
        assert_eq!(
            check_times(&claims(json!({"exp": 1_000_100})), T),
            Ok(1_000_100)
        );
        assert_eq!(
            check_times(&claims(json!({"exp": 1_000_100.7})), T),
            Ok(1_000_100)
        );
        for bad in [
            json!({}),
            json!({"exp": "9999999999"}),
            json!({"exp": null}),
            json!({"exp": true}),
            json!({"exp": [9_999_999_999u64]}),
            json!({"exp": 1.0e300}),
            json!({"exp": 999_000}),
            json!({"exp": 999_940}),
        ] {
            assert_eq!(
                check_times(&claims(bad.clone()), T),
                Err(JwtError::Expired),
                "{bad}"
            );
        }
        // Within the skew.
        assert!(check_times(&claims(json!({"exp": 999_950})), T).is_ok());
        for bad in [json!("0"), json!(1_000_100), json!(null)] {
            let c = claims(json!({"exp": 1_000_100, "nbf": bad}));
            assert_eq!(check_times(&c, T), Err(JwtError::NotBefore), "{c:?}");
        }
        assert!(check_times(&claims(json!({"exp": 1_000_100, "nbf": 1_000_050})), T).is_ok());
        for bad in [json!("0"), json!(1_000_100)] {
            let c = claims(json!({"exp": 1_000_100, "iat": bad}));
            assert_eq!(check_times(&c, T), Err(JwtError::IssuedAt), "{c:?}");
        }
        let strict = Times {
            require_iat: true,
            ..T
        };
        assert_eq!(
            check_times(&claims(json!({"exp": 1_000_100})), strict),
            Err(JwtError::IssuedAt)
        );
        assert!(check_times(&claims(json!({"exp": 1_000_100, "iat": 999_000})), strict).is_ok());
    }

    #[test]
    fn issuer_and_audience_are_exact() {
        let c = claims(json!({"iss": "https://a.example", "aud": ["x", "api"]}));
        assert!(check_issuer(&c, "https://a.example").is_ok());
        assert!(check_issuer(&c, "https://a.example/").is_err());
        assert!(check_audience(&c, &["api".into()]).is_ok());
        assert!(check_audience(&c, &["API".into()]).is_err());
        assert!(check_audience(&claims(json!({"aud": "api"})), &["api".into()]).is_ok());
        assert!(check_audience(&claims(json!({})), &["api".into()]).is_err());
        assert!(check_audience(&claims(json!({"aud": 1})), &["api".into()]).is_err());
    }

    #[test]
    fn typ_rules() {
        assert!(typ_ok(Some("at+jwt"), true));
        assert!(typ_ok(Some("application/at+JWT"), true));
        assert!(!typ_ok(Some("JWT"), true));
        assert!(!typ_ok(None, true));
        assert!(typ_ok(None, false));
        assert!(typ_ok(Some("JWT"), false));
        assert!(!typ_ok(Some("dpop+jwt"), false));
        assert!(!typ_ok(Some("logout+jwt"), false));
    }

    #[test]
    fn checks_have_names_and_no_secrets() {
        assert_eq!(JwtError::Expired.check(), "exp");
        assert_eq!(
            JwtError::Expired.to_string(),
            "the token failed the exp check"
        );
        assert!(JwtError::Unavailable("down".into()).is_unavailable());
        assert!(!JwtError::Signature.is_unavailable());
    }
}
