//! Entry points for the fuzz targets in `fuzz/` (`cfg(fuzzing)`, which cargo-fuzz sets; not a
//! public API).
//!
//! Each function takes arbitrary input, must never panic on it, and asserts the invariants the
//! fuzzer is looking for: a failed assertion is a finding.

use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE};
use http::HeaderMap;

use crate::config::Config;
use crate::expiry::{Limits, Verdict};
use crate::key::Key;
use crate::layer::SessionLayer;
use crate::parse::{self, Credentials};
use crate::record::Record;
use crate::rejection::{AuthRejection, RejectionKind};

fn headers(name: HeaderName, fields: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    // Fields separated by NUL, as several header lines.
    for field in fields.split(|&b| b == 0) {
        if let Ok(value) = HeaderValue::from_bytes(field) {
            headers.append(name.clone(), value);
        }
    }
    headers
}

/// The `Cookie` header parser: candidates are bounded, ASCII, at most 4,096 bytes, and never
/// contain the separators the parser splits on.
pub fn cookie_header(fields: &[u8], name: &[u8]) {
    let headers = headers(COOKIE, fields);
    let scan = parse::scan_cookies(&headers, name, 4096);
    assert!(scan.values().len() <= parse::MAX_CANDIDATES);
    for value in scan.values() {
        assert!(value.len() <= 4096);
        assert!(value.is_ascii());
        assert!(!value.contains(';'));
        assert!(!value.starts_with([' ', '\t']) && !value.ends_with([' ', '\t']));
    }
    if !scan.values().is_empty() {
        assert!(scan.present);
    }
}

/// The `Authorization` parser: a bearer token is non-empty token68 within the limit.
pub fn authorization(fields: &[u8], max_len: usize) {
    let headers = headers(AUTHORIZATION, fields);
    let max_len = max_len.clamp(1, 65_536);
    match parse::authorization(&headers, max_len) {
        Credentials::Bearer(token) => {
            assert!(!token.is_empty() && token.len() <= max_len);
            assert!(parse::is_token68(token.as_bytes()));
            assert_eq!(headers.get_all(AUTHORIZATION).iter().count(), 1);
        }
        Credentials::Repeated | Credentials::Malformed | Credentials::OtherScheme => {
            assert!(headers.contains_key(AUTHORIZATION));
        }
        Credentials::Absent => assert!(!headers.contains_key(AUTHORIZATION)),
    }
}

/// A fixed layer for the opener target.
fn config() -> std::sync::Arc<Config> {
    let material: Vec<u8> = (0..64u32).map(|i| (i * 7 + 3) as u8).collect();
    let Ok(key) = Key::try_from(material) else {
        unreachable_key()
    };
    match SessionLayer::new(key).config() {
        Ok(config) => config,
        Err(_) => unreachable_key(),
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> ! {
    panic!("the fixed fuzzing key is valid")
}

#[allow(clippy::panic)]
fn unreachable_challenge() -> ! {
    panic!("a challenge header is not visible ASCII")
}

/// The sealed-value opener: arbitrary values never open (a forgery would be a finding).
pub fn open_sealed(value: &[u8]) {
    thread_local! {
        static CONFIG: std::sync::Arc<Config> = config();
    }
    let Ok(value) = std::str::from_utf8(value) else {
        return;
    };
    CONFIG.with(|config| {
        assert!(
            config.cookie.open(value).is_none(),
            "an arbitrary value opened"
        );
    });
}

/// The payload decoder: whatever decodes re-encodes to something that decodes the same.
pub fn decode_payload(plaintext: &[u8]) {
    let Ok(plaintext) = std::str::from_utf8(plaintext) else {
        return;
    };
    if let Some(record) = Record::decode(plaintext) {
        let again = Record::decode(&record.encode());
        assert_eq!(again.as_ref(), Some(&record));
        assert_eq!(record.encoded_len(), record.encode().len());
    }
}

/// The `WWW-Authenticate` builder: for any realm and scopes, a valid configuration yields a
/// valid header naming the realm, and an invalid realm is refused as an error.
pub fn challenge(realm: &str, scopes: &[String]) {
    let layer = SessionLayer::new(fixed_key()).with_realm(realm);
    let Ok(config) = layer.config() else {
        return;
    };
    for kind in [
        RejectionKind::MissingCredentials,
        RejectionKind::InvalidToken,
        RejectionKind::InvalidRequest,
        RejectionKind::Forbidden {
            reasons: scopes.to_vec(),
            missing_scopes: scopes.to_vec(),
            required_scopes: scopes.to_vec(),
        },
    ] {
        use axum_core::response::IntoResponse as _;
        // A 403 without a missing scope carries no challenge, by design; every other case does.
        let expects_challenge = !matches!(
            &kind,
            RejectionKind::Forbidden { missing_scopes, .. } if missing_scopes.is_empty()
        );
        let response = AuthRejection::new(kind, &config.challenge).into_response();
        let challenge = response
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .map(|c| c.to_str().map(str::to_owned));
        match challenge {
            None => assert!(!expects_challenge, "a challenge is missing"),
            Some(Err(_)) => unreachable_challenge(),
            Some(Ok(challenge)) => {
                assert!(expects_challenge, "an unexpected challenge: {challenge}");
                assert!(challenge.starts_with(&format!("Bearer realm=\"{realm}\"")));
                assert_eq!(challenge.matches('"').count() % 2, 0);
            }
        }
    }
}

fn fixed_key() -> Key {
    let material: Vec<u8> = (0..64u32).map(|i| (i * 13 + 5) as u8).collect();
    match Key::try_from(material) {
        Ok(key) => key,
        Err(_) => unreachable_key(),
    }
}

/// Expiry arithmetic: no overflow, and monotone in `now` (once expired, later is expired too).
pub fn expiry(
    now: i64,
    later_by: u32,
    created: i64,
    last_seen: i64,
    idle: u32,
    max_age: u32,
    skew: u16,
) {
    let limits = Limits {
        idle: i64::from(idle).max(1),
        max_age: i64::from(max_age).max(i64::from(idle).max(1)),
        skew: i64::from(skew),
    };
    let first = limits.check(now, created, last_seen);
    let later = limits.check(now.saturating_add(i64::from(later_by)), created, last_seen);
    if matches!(first, Verdict::Idle | Verdict::Absolute) {
        assert!(
            matches!(later, Verdict::Idle | Verdict::Absolute),
            "expired at {now} but {later:?} at +{later_by}"
        );
    }
    let left = limits.remaining(now, created, last_seen);
    assert!((0..=limits.idle).contains(&left));
}
