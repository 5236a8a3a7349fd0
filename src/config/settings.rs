//! [`Settings`]: what a [`SessionLayer`](crate::SessionLayer) was configured with, before
//! validation, and the defaults it starts from.

use std::fmt;
use std::sync::Arc;

use time::Duration;

use crate::basic::BasicHandler;
use crate::clock::ClockSource;
use crate::key::KeyRing;
use crate::rejection::RejectionBody;
use crate::resolve::TokenSource;
use crate::revocation::{NotBefore, Recheck, SessionValidator};
use crate::store::RevocationStore;

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
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

/// Default idle timeout: 7 days, as asfquart.
pub(super) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::days(7);
/// Default absolute max age: 30 days.
const DEFAULT_MAX_AGE: Duration = Duration::days(30);
/// Default refresh interval: a live cookie is re-sealed at most once a minute.
pub(super) const DEFAULT_REFRESH_INTERVAL: Duration = Duration::seconds(60);
/// Default clock-skew allowance for a creation time in the future.
pub(super) const DEFAULT_CLOCK_SKEW: Duration = Duration::seconds(60);
/// Default cookie name.
const DEFAULT_COOKIE_NAME: &str = "__Host-session";
/// Default token-handler timeout.
const DEFAULT_TOKEN_TIMEOUT: Duration = Duration::seconds(5);
/// Default longest time between two checks of a session by the session validator.
const DEFAULT_VALIDATION_INTERVAL: Duration = Duration::minutes(5);
/// Default most token-handler calls in flight at once; more get a quick 503.
const DEFAULT_TOKEN_CONCURRENCY: usize = 1024;
/// Default longest bearer token, in bytes.
const DEFAULT_MAX_TOKEN_LEN: usize = 4096;
/// Default realm of the `WWW-Authenticate` challenge.
const DEFAULT_REALM: &str = "sealed-session";
/// Default purpose bound into every sealed cookie.
const DEFAULT_PURPOSE: &str = "session";

/// Everything a [`SessionLayer`](crate::SessionLayer) is configured with, before validation.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) keys: KeyRing,
    /// A live ring, read on every request instead of `keys`.
    pub(crate) live_keys: Option<crate::rotation::LiveKeys>,
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) partitioned: bool,
    pub(crate) persistent: bool,
    pub(crate) purpose: String,
    /// Unset: the smaller of 7 days and the max age.
    pub(crate) idle: Option<Duration>,
    pub(crate) max_age: Duration,
    /// Unset: the smaller of 60 seconds and half the idle timeout.
    pub(crate) refresh: Option<Duration>,
    /// Unset: the smaller of 60 seconds and half the idle timeout.
    pub(crate) skew: Option<Duration>,
    pub(crate) clock: ClockSource,
    pub(crate) tokens: Option<TokenSource>,
    pub(crate) basic: Option<Arc<dyn BasicHandler>>,
    pub(crate) token_timeout: Duration,
    pub(crate) max_token_len: usize,
    pub(crate) token_concurrency: usize,
    pub(crate) retry_after: Duration,
    pub(crate) realm: String,
    /// RFC 9728 §5.1: the URL of the protected-resource metadata, in every 401 challenge.
    pub(crate) resource_metadata: Option<String>,
    /// DPoP support (RFC 9449).
    #[cfg(feature = "jwt")]
    pub(crate) dpop: Option<std::sync::Arc<crate::jwt::DpopSupport>>,
    pub(crate) login_redirect: Option<String>,
    pub(crate) rejection_body: Option<RejectionBody>,
    pub(crate) validator: Option<Arc<dyn SessionValidator>>,
    pub(crate) on_refused: Option<crate::resolve::RefusalHook>,
    pub(crate) validation_interval: Duration,
    pub(crate) not_before: Option<NotBefore>,
    pub(crate) revocation: Option<Arc<dyn RevocationStore>>,
    pub(crate) recheck: Option<Recheck>,
    pub(crate) active_sessions: bool,
    pub(crate) sources: Vec<crate::resolve::CredentialSource>,
    /// How many cookies a session may be split into (1: not split).
    pub(crate) chunks: usize,
}

impl Settings {
    pub(crate) fn new(keys: KeyRing) -> Self {
        Self {
            keys,
            live_keys: None,
            name: DEFAULT_COOKIE_NAME.to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            partitioned: false,
            persistent: false,
            purpose: DEFAULT_PURPOSE.to_owned(),
            idle: None,
            max_age: DEFAULT_MAX_AGE,
            refresh: None,
            skew: None,
            clock: ClockSource::default(),
            tokens: None,
            basic: None,
            token_timeout: DEFAULT_TOKEN_TIMEOUT,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            token_concurrency: DEFAULT_TOKEN_CONCURRENCY,
            retry_after: DEFAULT_TOKEN_TIMEOUT,
            realm: DEFAULT_REALM.to_owned(),
            resource_metadata: None,
            #[cfg(feature = "jwt")]
            dpop: None,
            login_redirect: None,
            rejection_body: None,
            validator: None,
            on_refused: None,
            validation_interval: DEFAULT_VALIDATION_INTERVAL,
            not_before: None,
            revocation: None,
            recheck: None,
            active_sessions: false,
            sources: Vec::new(),
            chunks: 1,
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
            .field("resource_metadata", &self.resource_metadata)
            .field("login_redirect", &self.login_redirect)
            .field("validator", &self.validator.is_some())
            .field("validation_interval", &self.validation_interval)
            .field("not_before", &self.not_before)
            .field("revocation", &self.revocation)
            .field("sources", &self.sources)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}
