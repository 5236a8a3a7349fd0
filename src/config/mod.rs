//! Layer settings, their validation, and the validated [`Config`] every request shares: a
//! bundle of parts, each owned by the module that reads it.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use time::Duration;

use crate::clock::LayerClock;
use crate::cookie::{CookieSpec, KeySource};
use crate::expiry::Limits;
use crate::parse::is_local_path;
use crate::rejection::Challenge;
use crate::resolve::{HandlerLimits, InFlight, Resolver};
use crate::seal::plaintext_budget;
use crate::session::SessionLimits;

mod error;
mod settings;

pub use error::ConfigError;
pub use settings::SameSite;
pub(crate) use settings::Settings;
use settings::{DEFAULT_CLOCK_SKEW, DEFAULT_IDLE_TIMEOUT, DEFAULT_REFRESH_INTERVAL};

/// The smallest plaintext budget a cookie name may leave.
const MIN_BUDGET: usize = 512;

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

/// The validated configuration of a layer, shared by every request behind one `Arc`.
pub(crate) struct Config {
    pub(crate) cookie: CookieSpec,
    pub(crate) clock: LayerClock,
    pub(crate) resolver: Resolver,
    /// Held by every rejection this layer makes.
    pub(crate) challenge: Arc<Challenge>,
    #[cfg(feature = "oauth")]
    oauth: OAuthSettings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("keys", &self.cookie.keys)
            .field("name", &self.cookie.name)
            .finish_non_exhaustive()
    }
}

impl Config {
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
        if s.chunks == 0 || s.chunks > crate::cookie::chunk::MAX_COOKIE_CHUNKS {
            return Err(ConfigError::InvalidCookieChunks { chunks: s.chunks });
        }
        let budget = if s.chunks > 1 {
            crate::cookie::chunk::budget(s.name.len(), s.chunks)
        } else {
            budget
        };
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
        let max_age = positive_secs(s.max_age, "the max age")?;
        // Unset, the idle timeout is the smaller of its default and the max age, so that a short
        // max age alone never contradicts it.
        let idle = match s.idle {
            Some(idle) => positive_secs(idle, "the idle timeout")?,
            None => positive_secs(DEFAULT_IDLE_TIMEOUT, "the idle timeout")?.min(max_age),
        };
        if idle > max_age {
            return Err(ConfigError::IdleAboveMaxAge);
        }
        // Unset, the refresh interval and the skew allowance stay below a short idle timeout.
        let below_idle = |default: Duration| default.whole_seconds().min(idle / 2);
        let refresh = match s.refresh {
            Some(refresh) => non_negative_secs(refresh, "the refresh interval")?,
            None => below_idle(DEFAULT_REFRESH_INTERVAL),
        };
        if refresh >= idle {
            return Err(ConfigError::RefreshNotBelowIdle);
        }
        let skew = match s.skew {
            Some(skew) => non_negative_secs(skew, "the clock-skew allowance")?,
            None => below_idle(DEFAULT_CLOCK_SKEW),
        };
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
        #[cfg(feature = "jwt")]
        if let Some(dpop) = &s.dpop {
            dpop.check()
                .map_err(|reason| ConfigError::InvalidDpop { reason })?;
        }
        if let Some(url) = &s.resource_metadata {
            if !is_resource_metadata_url(url) {
                return Err(ConfigError::InvalidResourceMetadata);
            }
        }
        if let Some(path) = &s.login_redirect {
            if !is_local_path(path) {
                return Err(ConfigError::InvalidLoginRedirect { path: path.clone() });
            }
        }
        if s.max_token_len == 0 || s.max_token_len > 65_536 {
            return Err(ConfigError::InvalidMaxCredentialLength);
        }
        if s.token_concurrency == 0 || s.token_concurrency > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::InvalidHandlerConcurrency);
        }
        if let Some(reason) = s.sources.iter().find_map(|source| source.invalid(&s.name)) {
            return Err(ConfigError::InvalidCredentialSource { reason });
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

        let chunks =
            crate::cookie::chunk::chunks_of(&s.name, &deletion, s.chunks).into_boxed_slice();
        let cookie = CookieSpec {
            keys: match &s.live_keys {
                Some(live) => KeySource::Live(live.clone()),
                None => KeySource::Fixed(Arc::new(s.keys.clone())),
            },
            name: s.name.clone(),
            aad: format!(
                "sealed-session/{}\u{1f}{}\u{1f}{}",
                crate::record::VERSION,
                s.purpose,
                s.name
            ),
            attributes,
            deletion,
            persistent: s.persistent,
            budget,
            refresh,
            chunks,
        };
        let resolver = Resolver {
            tokens: s.tokens.clone(),
            basic: s.basic.clone(),
            limits: HandlerLimits {
                timeout: token_timeout,
                max_len: s.max_token_len,
                permits: InFlight::new(s.token_concurrency),
            },
            validator: s.validator.clone(),
            on_refused: s.on_refused.clone(),
            refusal_log: crate::resolve::RefusalLog::default(),
            #[cfg(feature = "jwt")]
            dpop: s.dpop.clone(),
            validation_interval,
            not_before: s.not_before.clone(),
            store: s.revocation.clone(),
            recheck: s.recheck.clone(),
            active_sessions: s.active_sessions && s.revocation.is_some(),
            expiry: Limits {
                idle,
                max_age,
                skew,
            },
            refresh,
            session: SessionLimits {
                budget,
                idle,
                max_age,
            },
            sources: s.sources.clone().into_boxed_slice(),
        };
        let header = match &s.resource_metadata {
            Some(url) => format!("Bearer realm=\"{}\", resource_metadata=\"{url}\"", s.realm),
            None => format!("Bearer realm=\"{}\"", s.realm),
        };
        let challenge = Challenge {
            // The realm was checked to be a quoted-string's content; the URL to be a URL.
            bare: HeaderValue::from_str(&header).ok(),
            header,
            login_redirect: s.login_redirect.clone(),
            body: s.rejection_body.clone(),
            retry_after: HeaderValue::from(retry_after),
            basic: s.basic.as_ref().and_then(|_| {
                HeaderValue::from_str(&format!("Basic realm=\"{}\", charset=\"UTF-8\"", s.realm))
                    .ok()
            }),
            #[cfg(feature = "jwt")]
            dpop: s
                .dpop
                .as_ref()
                .map(|d| format!("DPoP algs=\"{}\"", d.algs())),
            #[cfg(not(feature = "jwt"))]
            dpop: None,
            #[cfg(feature = "jwt")]
            dpop_nonce: s.dpop.as_ref().and_then(|d| d.nonce_header()),
            #[cfg(not(feature = "jwt"))]
            dpop_nonce: None,
        };
        Ok(Self {
            cookie,
            clock: LayerClock::new(s.clock.clone()),
            resolver,
            challenge: Arc::new(challenge),
            #[cfg(feature = "oauth")]
            oauth: OAuthSettings {
                purpose: s.purpose.clone(),
                secure: s.secure,
                strict: s.same_site == SameSite::Strict,
                skew,
                logins: std::sync::Mutex::new(Vec::new()),
            },
        })
    }

    /// What `oauth` reads of the layer: the one accessor it has.
    #[cfg(feature = "oauth")]
    pub(crate) fn oauth(&self) -> OAuthView<'_> {
        OAuthView {
            keys: self.cookie.keys.snapshot(),
            clock: &self.clock,
            settings: &self.oauth,
        }
    }
}

/// What the `oauth` service needs of the layer's settings.
#[cfg(feature = "oauth")]
pub(crate) struct OAuthSettings {
    /// The purpose bound into the session cookie (the flow cookie binds it too).
    pub(crate) purpose: String,
    /// Whether the session cookie is `Secure`.
    pub(crate) secure: bool,
    /// Whether the session cookie is `SameSite=Strict`.
    pub(crate) strict: bool,
    /// The clock-skew allowance, in seconds.
    pub(crate) skew: i64,
    /// The login services seen under this layer (`oauth::service` owns the contents), for the
    /// shared-uid check.
    pub(crate) logins: std::sync::Mutex<Vec<crate::oauth::LoginSeen>>,
}

/// The layer as `oauth` sees it; see [`Config::oauth`].
#[cfg(feature = "oauth")]
pub(crate) struct OAuthView<'c> {
    pub(crate) keys: Arc<crate::key::KeyRing>,
    pub(crate) clock: &'c LayerClock,
    pub(crate) settings: &'c OAuthSettings,
}

fn positive_secs_std(
    d: Duration,
    setting: &'static str,
) -> Result<std::time::Duration, ConfigError> {
    match std::time::Duration::try_from(d) {
        Ok(std) if !std.is_zero() => Ok(std),
        _ => Err(ConfigError::NonPositiveDuration { setting }),
    }
}

/// An absolute `https` URL (or `http` on a loopback host) that can go inside a quoted
/// challenge parameter: printable ASCII, no spaces, `"` or `\`.
fn is_resource_metadata_url(url: &str) -> bool {
    let printable = url
        .bytes()
        .all(|b| (b'!'..=b'~').contains(&b) && b != b'"' && b != b'\\');
    let rest = url.strip_prefix("https://").or_else(|| {
        url.strip_prefix("http://").filter(|r| {
            ["127.0.0.1", "localhost", "[::1]"].iter().any(|h| {
                r.strip_prefix(h)
                    .is_some_and(|t| t.is_empty() || t.starts_with(':') || t.starts_with('/'))
            })
        })
    });
    printable && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

#[cfg(test)]
mod resource_metadata_tests {
    use super::is_resource_metadata_url as ok;

    #[test]
    fn resource_metadata_urls_are_https_or_loopback_and_quotable() {
        assert!(ok(
            "https://api.example.com/.well-known/oauth-protected-resource"
        ));
        assert!(ok(
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        ));
        assert!(ok("http://localhost/x"));
        assert!(!ok("http://api.example.com/x"));
        assert!(!ok("http://localhost.evil.example/x"));
        assert!(!ok("https://"));
        assert!(!ok("https:///path"));
        assert!(!ok("https://api.example.com/a b"));
        assert!(!ok("https://api.example.com/\"x"));
        assert!(!ok("https://api.example.com/\\x"));
        assert!(!ok("/relative"));
    }
}
