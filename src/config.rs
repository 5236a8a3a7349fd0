//! Layer settings, their validation, and the immutable configuration every request shares.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use http::HeaderValue;
use time::Duration;

use crate::clock::ClockSource;
use crate::envelope::Record;
use crate::key::KeyRing;
use crate::rejection::RejectionBody;
use crate::revocation::{NotBefore, SessionValidator};
use crate::seal::{self, plaintext_budget, COOKIE_LIMIT};
use crate::token::TokenHandler;

/// The cookie's `SameSite` attribute. Always written explicitly, never left to browser defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only on same-site requests.
    Strict,
    /// Also sent on cross-site top-level navigations with safe methods (the default).
    #[default]
    Lax,
    /// Sent on every request. Requires `Secure`.
    None,
}

impl SameSite {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// Default idle timeout: 7 days, as asfquart.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::days(7);
/// Default absolute max age: 30 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::days(30);
/// Default refresh interval: a live cookie is re-sealed at most once a minute.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::seconds(60);
/// Default clock-skew allowance for a creation time in the future.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::seconds(60);
/// Default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session";
/// Default token-handler timeout.
pub const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::seconds(5);
/// Default longest time between two checks of a session by the session validator.
pub const DEFAULT_VALIDATION_INTERVAL: Duration = Duration::minutes(5);
/// Default most token-handler calls in flight at once; more get a quick 503.
pub const DEFAULT_TOKEN_CONCURRENCY: usize = 1024;
/// Default longest bearer token, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 4096;
/// Default realm of the `WWW-Authenticate` challenge.
pub const DEFAULT_REALM: &str = "sealed-session";
/// Default purpose bound into every sealed cookie.
pub const DEFAULT_PURPOSE: &str = "session";
/// Browsers clamp `Max-Age` to 400 days (RFC 6265bis).
const MAX_AGE_CAP: i64 = 400 * 24 * 60 * 60;
/// The smallest plaintext budget a cookie name may leave.
const MIN_BUDGET: usize = 512;

/// Everything a [`SessionLayer`](crate::SessionLayer) is configured with, before validation.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) keys: KeyRing,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) partitioned: bool,
    pub(crate) persistent: bool,
    pub(crate) purpose: String,
    pub(crate) idle: Duration,
    pub(crate) max_age: Duration,
    pub(crate) refresh: Duration,
    pub(crate) skew: Duration,
    pub(crate) clock: ClockSource,
    pub(crate) tokens: Option<Arc<dyn TokenHandler>>,
    pub(crate) basic: Option<Arc<dyn crate::basic::BasicHandler>>,
    pub(crate) token_timeout: Duration,
    pub(crate) max_token_len: usize,
    pub(crate) token_concurrency: usize,
    pub(crate) retry_after: Duration,
    pub(crate) realm: String,
    pub(crate) login_redirect: Option<String>,
    pub(crate) rejection_body: Option<RejectionBody>,
    pub(crate) validator: Option<Arc<dyn SessionValidator>>,
    pub(crate) validation_interval: Duration,
    pub(crate) not_before: Option<NotBefore>,
}

impl Settings {
    pub(crate) fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            name: DEFAULT_COOKIE_NAME.to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
            persistent: false,
            purpose: DEFAULT_PURPOSE.to_owned(),
            idle: DEFAULT_IDLE_TIMEOUT,
            max_age: DEFAULT_MAX_AGE,
            refresh: DEFAULT_REFRESH_INTERVAL,
            skew: DEFAULT_CLOCK_SKEW,
            clock: ClockSource::default(),
            tokens: None,
            basic: None,
            token_timeout: DEFAULT_TOKEN_TIMEOUT,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            token_concurrency: DEFAULT_TOKEN_CONCURRENCY,
            retry_after: DEFAULT_TOKEN_TIMEOUT,
            realm: DEFAULT_REALM.to_owned(),
            login_redirect: None,
            rejection_body: None,
            validator: None,
            validation_interval: DEFAULT_VALIDATION_INTERVAL,
            not_before: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("keys", &self.keys)
            .field("name", &self.name)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("partitioned", &self.partitioned)
            .field("persistent", &self.persistent)
            .field("purpose", &self.purpose)
            .field("idle", &self.idle)
            .field("max_age", &self.max_age)
            .field("refresh", &self.refresh)
            .field("skew", &self.skew)
            .field("clock", &format_args!("Clock"))
            .field("token_handler", &self.tokens.is_some())
            .field("basic_handler", &self.basic.is_some())
            .field("token_timeout", &self.token_timeout)
            .field("max_token_len", &self.max_token_len)
            .field("token_concurrency", &self.token_concurrency)
            .field("realm", &self.realm)
            .field("login_redirect", &self.login_redirect)
            .field("validator", &self.validator.is_some())
            .field("validation_interval", &self.validation_interval)
            .field("not_before", &self.not_before)
            .finish_non_exhaustive()
    }
}

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
    /// The login redirect must be a same-origin path: `/` then not `/` or `\`, no control
    /// characters, spaces or `#`.
    InvalidLoginRedirect {
        /// The path as given.
        path: String,
    },
    /// The longest bearer token must be between 1 and 65,536 bytes.
    InvalidMaxTokenLength,
    /// The token-handler concurrency limit must be at least 1.
    InvalidTokenConcurrency,
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
            Self::InvalidRealm => {
                f.write_str("the realm must be printable ASCII without `\"` or `\\`")
            }
            Self::InvalidLoginRedirect { path } => write!(
                f,
                "login redirect {path:?} must be a same-origin path (`/` then not `/` or `\\`, no spaces or control characters)"
            ),
            Self::InvalidMaxTokenLength => {
                f.write_str("the longest bearer token must be between 1 and 65536 bytes")
            }
            Self::InvalidTokenConcurrency => {
                f.write_str("the token-handler concurrency limit must be at least 1")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration, shared by every request.
pub(crate) struct Shared {
    pub(crate) keys: KeyRing,
    pub(crate) name: String,
    /// The AEAD associated data: format version, purpose and cookie name.
    pub(crate) context: String,
    /// The purpose the context names.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) purpose: String,
    /// Whether the session cookie is `Secure`.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) secure: bool,
    /// Whether the session cookie is `SameSite=Strict`.
    #[cfg_attr(not(feature = "oauth"), allow(dead_code))]
    pub(crate) strict: bool,
    /// `; Path=…; Secure; HttpOnly; SameSite=…` as written after every session cookie.
    attributes: String,
    pub(crate) deletion: HeaderValue,
    pub(crate) persistent: bool,
    pub(crate) budget: usize,
    pub(crate) idle: i64,
    pub(crate) max_age: i64,
    pub(crate) refresh: i64,
    pub(crate) skew: i64,
    pub(crate) clock: ClockSource,
    /// The latest time this layer has read, so that a clock stepping back never moves the
    /// layer's "now" back: no session is logged out, and last-seen never moves back.
    high_water: AtomicI64,
    pub(crate) tokens: Option<Arc<dyn TokenHandler>>,
    pub(crate) basic: Option<Arc<dyn crate::basic::BasicHandler>>,
    pub(crate) token_timeout: std::time::Duration,
    pub(crate) max_token_len: usize,
    /// Permits for token-handler calls in flight.
    pub(crate) token_permits: InFlight,
    pub(crate) retry_after: HeaderValue,
    pub(crate) challenge: String,
    pub(crate) login_redirect: Option<String>,
    pub(crate) rejection_body: Option<RejectionBody>,
    pub(crate) validator: Option<Arc<dyn SessionValidator>>,
    pub(crate) validation_interval: i64,
    pub(crate) not_before: Option<NotBefore>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("keys", &self.keys)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Whole seconds of a duration of at least one second; a fraction of a second is refused rather
/// than silently dropped.
fn positive_secs(d: Duration, setting: &'static str) -> Result<i64, ConfigError> {
    let secs = d.whole_seconds();
    if secs <= 0 || d.subsec_nanoseconds() != 0 {
        Err(ConfigError::NonPositiveDuration { setting })
    } else {
        Ok(secs)
    }
}

/// Whole seconds of a duration that may be zero.
fn non_negative_secs(d: Duration, setting: &'static str) -> Result<i64, ConfigError> {
    if d.is_negative() || d.subsec_nanoseconds() != 0 {
        Err(ConfigError::NonPositiveDuration { setting })
    } else {
        Ok(d.whole_seconds())
    }
}

/// A host name: dot-separated labels of letters, digits and inner `-` (one leading dot allowed),
/// at most 253 bytes.
fn is_host_name(domain: &str) -> bool {
    let name = domain.strip_prefix('.').unwrap_or(domain);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.as_bytes()
            .iter()
            .zip(prefix.as_bytes())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

/// Whether `path` is a same-origin path that cannot be read as another origin: `/`, then not
/// `/` or `\`, and only visible ASCII without `#`.
pub(crate) fn is_local_path(path: &str) -> bool {
    let b = path.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.iter().all(|&c| c.is_ascii_graphic() && c != b'#')
}

impl Shared {
    pub(crate) fn build(s: &Settings) -> Result<Self, ConfigError> {
        if s.name.is_empty() || !s.name.bytes().all(crate::parse::is_tchar) {
            return Err(ConfigError::InvalidCookieName {
                name: s.name.clone(),
            });
        }
        let budget = plaintext_budget(s.name.len());
        if budget < MIN_BUDGET {
            return Err(ConfigError::CookieNameTooLong { len: s.name.len() });
        }
        if s.path.is_empty()
            || s.path.len() > 1024
            || !s.path.starts_with('/')
            || s.path
                .bytes()
                .any(|b| b == b';' || b.is_ascii_control() || !b.is_ascii())
        {
            return Err(ConfigError::InvalidPath {
                path: s.path.clone(),
            });
        }
        if let Some(domain) = &s.domain {
            if !is_host_name(domain) {
                return Err(ConfigError::InvalidDomain {
                    domain: domain.clone(),
                });
            }
        }
        if starts_with_ignore_case(&s.name, "__Host-") {
            if !s.secure {
                return Err(ConfigError::HostPrefix {
                    rule: "must be Secure; call with_secure(true) or use another name",
                });
            }
            if s.domain.is_some() {
                return Err(ConfigError::HostPrefix {
                    rule: "must not have a Domain",
                });
            }
            if s.path != "/" {
                return Err(ConfigError::HostPrefix {
                    rule: "must have Path=/",
                });
            }
        }
        if starts_with_ignore_case(&s.name, "__Secure-") && !s.secure {
            return Err(ConfigError::SecurePrefixWithoutSecure);
        }
        if s.same_site == SameSite::None && !s.secure {
            return Err(ConfigError::SameSiteNoneWithoutSecure);
        }
        if s.partitioned && !s.secure {
            return Err(ConfigError::PartitionedWithoutSecure);
        }
        let idle = positive_secs(s.idle, "the idle timeout")?;
        let max_age = positive_secs(s.max_age, "the max age")?;
        if idle > max_age {
            return Err(ConfigError::IdleAboveMaxAge);
        }
        let refresh = non_negative_secs(s.refresh, "the refresh interval")?;
        if refresh >= idle {
            return Err(ConfigError::RefreshNotBelowIdle);
        }
        let skew = non_negative_secs(s.skew, "the clock-skew allowance")?;
        if skew >= idle {
            return Err(ConfigError::SkewNotBelowIdle);
        }
        if s.purpose.is_empty() || s.purpose.chars().any(char::is_control) {
            return Err(ConfigError::InvalidPurpose);
        }
        if s.realm.is_empty()
            || !s
                .realm
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        {
            return Err(ConfigError::InvalidRealm);
        }
        if let Some(path) = &s.login_redirect {
            if !is_local_path(path) {
                return Err(ConfigError::InvalidLoginRedirect { path: path.clone() });
            }
        }
        if s.max_token_len == 0 || s.max_token_len > 65_536 {
            return Err(ConfigError::InvalidMaxTokenLength);
        }
        if s.token_concurrency == 0 || s.token_concurrency > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::InvalidTokenConcurrency);
        }
        let token_timeout = positive_secs_std(s.token_timeout, "the token-handler timeout")?;
        let retry_after = positive_secs(s.retry_after, "the Retry-After delay")?;
        let validation_interval = positive_secs(s.validation_interval, "the validation interval")?;

        let mut attributes = format!("; Path={}", s.path);
        if let Some(domain) = &s.domain {
            attributes.push_str("; Domain=");
            attributes.push_str(domain);
        }
        if s.secure {
            attributes.push_str("; Secure");
        }
        if s.http_only {
            attributes.push_str("; HttpOnly");
        }
        attributes.push_str("; SameSite=");
        attributes.push_str(s.same_site.as_str());
        if s.partitioned {
            attributes.push_str("; Partitioned");
        }
        let deletion = format!(
            "{}={attributes}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            s.name
        );
        // Every part was checked to be visible ASCII above.
        let deletion = HeaderValue::from_str(&deletion).map_err(|_| ConfigError::InvalidPath {
            path: s.path.clone(),
        })?;

        Ok(Self {
            keys: s.keys.clone(),
            name: s.name.clone(),
            context: format!(
                "sealed-session/{}\u{1f}{}\u{1f}{}",
                crate::envelope::VERSION,
                s.purpose,
                s.name
            ),
            purpose: s.purpose.clone(),
            secure: s.secure,
            strict: s.same_site == SameSite::Strict,
            attributes,
            deletion,
            persistent: s.persistent,
            budget,
            idle,
            max_age,
            refresh,
            skew,
            clock: s.clock.clone(),
            high_water: AtomicI64::new(i64::MIN),
            tokens: s.tokens.clone(),
            basic: s.basic.clone(),
            token_timeout,
            max_token_len: s.max_token_len,
            token_permits: InFlight::new(s.token_concurrency),
            retry_after: HeaderValue::from(retry_after),
            challenge: format!("Bearer realm=\"{}\"", s.realm),
            login_redirect: s.login_redirect.clone(),
            rejection_body: s.rejection_body.clone(),
            validator: s.validator.clone(),
            validation_interval,
            not_before: s.not_before.clone(),
        })
    }

    /// The layer's "now", in Unix seconds: the clock's time, but never earlier than a time this
    /// layer has already read.
    pub(crate) fn now(&self) -> i64 {
        let now = self.clock.unix_seconds();
        // Read first: the write (shared between cores) happens once a second, not per request.
        let seen = self.high_water.load(Ordering::Relaxed);
        if now <= seen {
            return seen;
        }
        self.high_water.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// The `Set-Cookie` value of a session cookie holding `record`, sealed with the current key,
    /// with `Max-Age` when persistent.
    ///
    /// # Errors
    ///
    /// [`LineError::TooLarge`] when the cookie's name and value would pass the browser limit.
    pub(crate) fn seal_cookie(
        &self,
        record: &Record,
        max_age: i64,
    ) -> Result<HeaderValue, LineError> {
        let sealed = seal::seal_raw(
            self.keys.current(),
            &self.context,
            PLAINTEXT_HINT.min(self.budget),
            |buf| record.encode_into(buf),
        )
        .map_err(|_| LineError::Seal)?;
        let size = self.name.len() + seal::value_len(&sealed);
        if size > COOKIE_LIMIT {
            return Err(LineError::TooLarge { size });
        }
        // One buffer for the whole line, sized up front; it becomes the header's bytes as is
        // (`HeaderValue` checks them).
        let mut line = Vec::with_capacity(size + 1 + self.attributes.len() + 32);
        line.extend_from_slice(self.name.as_bytes());
        line.push(b'=');
        seal::encode_into(&sealed, &mut line);
        line.extend_from_slice(self.attributes.as_bytes());
        if self.persistent {
            use std::io::Write as _;
            let _ = write!(line, "; Max-Age={}", max_age.clamp(0, MAX_AGE_CAP));
        }
        HeaderValue::from_maybe_shared(bytes::Bytes::from(line)).map_err(|_| LineError::Seal)
    }
}

/// Token-handler calls in flight, against their limit. Nothing ever waits for a slot (past the
/// limit a request is shed at once), so a counter is all it takes; a semaphore's release also
/// locks its waiter list.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    limit: usize,
}

impl InFlight {
    fn new(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            limit,
        }
    }

    /// A slot, or `None` at the limit. The slot is given back when the guard drops.
    pub(crate) fn try_enter(&self) -> Option<InFlightGuard<'_>> {
        let before = self.count.fetch_add(1, Ordering::AcqRel);
        if before >= self.limit {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlightGuard(&self.count))
    }
}

/// One token-handler call in flight.
pub(crate) struct InFlightGuard<'a>(&'a AtomicUsize);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no `Set-Cookie` line was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineError {
    /// The cookie's name and value would pass the browser limit.
    TooLarge {
        /// Their size, in bytes.
        size: usize,
    },
    /// The nonce or the encryption failed (not expected to happen).
    Seal,
}

/// The buffer reserved for a plaintext before it is written (it grows past this if needed):
/// room for a typical session, and with the nonce and tag under 512 bytes, which allocators
/// serve from their fast per-thread caches (glibc's stops at 1,032).
const PLAINTEXT_HINT: usize = 512 - 12 - 16;

fn positive_secs_std(
    d: Duration,
    setting: &'static str,
) -> Result<std::time::Duration, ConfigError> {
    match std::time::Duration::try_from(d) {
        Ok(std) if !std.is_zero() => Ok(std),
        _ => Err(ConfigError::NonPositiveDuration { setting }),
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn in_flight_slots_stop_at_the_limit_and_come_back() {
        let slots = InFlight::new(2);
        let a = slots.try_enter().unwrap();
        let b = slots.try_enter().unwrap();
        assert!(slots.try_enter().is_none());
        assert!(slots.try_enter().is_none(), "a refusal takes no slot");
        drop(a);
        let c = slots.try_enter().unwrap();
        assert!(slots.try_enter().is_none());
        drop((b, c));
        let _all: Vec<_> = (0..2).map(|_| slots.try_enter().unwrap()).collect();
    }
}
