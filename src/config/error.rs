//! [`ConfigError`]: a contradictory or unusable layer configuration.

use std::fmt;

use crate::seal::COOKIE_LIMIT;

/// A contradictory or unusable layer configuration, refused before the first request is served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is empty or has a character outside RFC 9110 `tchar`.
    InvalidCookieName {
        /// The name as given.
        name: String,
    },
    /// The cookie name is so long that a session would not fit the 4,096-byte cookie limit.
    CookieNameTooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// A `__Host-` cookie must be `Secure`, have no `Domain`, and have `Path=/`.
    HostPrefix {
        /// Which rule is broken.
        rule: &'static str,
    },
    /// A `__Secure-` cookie must be `Secure`.
    SecurePrefixWithoutSecure,
    /// `SameSite=None` requires `Secure`.
    SameSiteNoneWithoutSecure,
    /// `Partitioned` requires `Secure`.
    PartitionedWithoutSecure,
    /// The cookie path must start with `/`, hold no `;` or control characters, and be at most
    /// 1,024 bytes (browsers ignore longer attributes).
    InvalidPath {
        /// The path as given.
        path: String,
    },
    /// The cookie domain must be a host name: non-empty labels of letters, digits and `-`,
    /// separated by `.`, at most 253 bytes.
    InvalidDomain {
        /// The domain as given.
        domain: String,
    },
    /// A duration that must be positive is zero or negative, or has a fraction of a second.
    NonPositiveDuration {
        /// Which setting.
        setting: &'static str,
    },
    /// The idle timeout is longer than the absolute max age.
    IdleAboveMaxAge,
    /// The refresh interval is not below the idle timeout.
    RefreshNotBelowIdle,
    /// The clock-skew allowance is not below the idle timeout.
    SkewNotBelowIdle,
    /// The purpose is empty or has control characters.
    InvalidPurpose,
    /// The realm must be printable ASCII without `"` or `\`.
    InvalidRealm,
    /// The resource-metadata URL must be an `https` (or loopback `http`) URL of printable ASCII,
    /// without spaces, `"` or `\`.
    InvalidResourceMetadata,
    /// The DPoP support is misconfigured (its external origin).
    InvalidDpop {
        /// What is wrong.
        reason: String,
    },
    /// The login redirect must be a same-origin path: `/` then not `/` or `\`, no control
    /// characters, spaces or `#`.
    InvalidLoginRedirect {
        /// The path as given.
        path: String,
    },
    /// The longest credential must be between 1 and 65,536 bytes.
    InvalidMaxCredentialLength,
    /// The credential-handler concurrency limit must be at least 1.
    InvalidHandlerConcurrency,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid SessionLayer configuration: ")?;
        match self {
            Self::InvalidCookieName { name } => write!(
                f,
                "cookie name {name:?} is empty or has characters outside RFC 9110 tchar"
            ),
            Self::CookieNameTooLong { len } => write!(
                f,
                "cookie name of {len} bytes leaves too little of the {COOKIE_LIMIT}-byte cookie limit"
            ),
            Self::HostPrefix { rule } => write!(f, "a `__Host-` cookie {rule}"),
            Self::SecurePrefixWithoutSecure => {
                f.write_str("a `__Secure-` cookie must be Secure; call with_secure(true)")
            }
            Self::SameSiteNoneWithoutSecure => f.write_str("SameSite=None requires Secure"),
            Self::PartitionedWithoutSecure => f.write_str("Partitioned requires Secure"),
            Self::InvalidPath { path } => write!(
                f,
                "cookie path {path:?} must start with `/` and hold no `;` or control characters"
            ),
            Self::InvalidDomain { domain } => write!(
                f,
                "cookie domain {domain:?} must be a host name (letters, digits, `-`, `.`)"
            ),
            Self::NonPositiveDuration { setting } => {
                write!(f, "{setting} must be positive and a whole number of seconds")
            }
            Self::IdleAboveMaxAge => {
                f.write_str("the idle timeout must not be longer than the max age")
            }
            Self::RefreshNotBelowIdle => {
                f.write_str("the refresh interval must be shorter than the idle timeout")
            }
            Self::SkewNotBelowIdle => {
                f.write_str("the clock-skew allowance must be shorter than the idle timeout")
            }
            Self::InvalidPurpose => f.write_str("the purpose must be non-empty, without control characters"),
            Self::InvalidDpop { reason } => write!(f, "invalid DPoP support: {reason}"),
            Self::InvalidResourceMetadata => f.write_str(
                "the resource-metadata URL must be an https URL (http only on loopback) without spaces, `\"` or `\\`",
            ),
            Self::InvalidRealm => {
                f.write_str("the realm must be printable ASCII without `\"` or `\\`")
            }
            Self::InvalidLoginRedirect { path } => write!(
                f,
                "login redirect {path:?} must be a same-origin path (`/` then not `/` or `\\`, no spaces or control characters)"
            ),
            Self::InvalidMaxCredentialLength => {
                f.write_str("the longest credential (a bearer token, or Basic credentials) must be between 1 and 65536 bytes")
            }
            Self::InvalidHandlerConcurrency => {
                f.write_str("the credential-handler concurrency limit must be at least 1")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
