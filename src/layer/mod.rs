//! [`SessionLayer`], its [`SessionManager`] service and the service's [`ResponseFuture`].
//!
//! `SessionLayer` and `SessionManager` are also at the crate root. See the [crate docs](crate)
//! for an example. The builder methods are grouped by topic: the cookie's attributes, expiry and
//! the clock, and the credential handlers and rejections.

mod cookie;
mod expiry;
mod future;
mod handlers;
mod service;

use std::fmt;
use std::sync::{Arc, OnceLock};

use tower_layer::Layer;

use crate::config::{Config, ConfigError, Settings};
use crate::key::KeyRing;

pub use future::ResponseFuture;
pub use service::SessionManager;

/// The session layer: opens the sealed cookie or resolves the bearer token, enforces expiry, and
/// writes the cookie back. See the [crate docs](crate) for an example.
///
/// Every setting has a secure default, and no default contradicts another. A contradiction
/// between explicit settings is refused before the first request is served:
/// [`SessionLayer::validate`] returns the [`ConfigError`], and [`Layer::layer`] panics with its
/// message when the router is built.
///
/// Cloning a layer is a reference count: its settings and validated configuration sit behind
/// one `Arc`.
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    inner: Arc<LayerInner>,
}

#[derive(Clone)]
struct LayerInner {
    settings: Settings,
    /// The validated configuration, built once, on first use.
    built: OnceLock<Result<Arc<Config>, ConfigError>>,
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl SessionLayer {
    /// A layer sealing with `keys`: a [`Key`](crate::Key) or a [`KeyRing`].
    ///
    /// Defaults: cookie `__Host-session` (`Secure`, `HttpOnly`, `SameSite=Lax`, `Path=/`, no
    /// `Domain`, no `Max-Age`), 7-day idle timeout, 30-day max age, re-sealed at most once a
    /// minute, 60 s clock-skew allowance, no token handler, 5 s handler timeout.
    ///
    /// ```
    /// use sealed_session::{testing::TestKit, Key, SessionLayer};
    ///
    /// let kit = TestKit::new(&SessionLayer::new(Key::generate()));
    /// let deletion = kit.deletion_line().to_str().unwrap();
    /// assert!(deletion.starts_with("__Host-session=; Path=/; Secure; HttpOnly; SameSite=Lax;"));
    /// ```
    pub fn new(keys: impl Into<KeyRing>) -> Self {
        Self {
            inner: Arc::new(LayerInner {
                settings: Settings::new(keys.into()),
                built: OnceLock::new(),
            }),
        }
    }

    fn set(self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        f(&mut inner.settings);
        inner.built = OnceLock::new();
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Checks the configuration.
    ///
    /// ```
    /// use sealed_session::{ConfigError, Key, SessionLayer};
    /// use time::Duration;
    ///
    /// let layer = SessionLayer::new(Key::generate());
    /// assert_eq!(layer.clone().with_max_age(Duration::hours(24)).validate(), Ok(()));
    /// let contradiction = layer
    ///     .with_max_age(Duration::hours(1))
    ///     .with_idle_timeout(Duration::hours(2));
    /// assert_eq!(contradiction.validate(), Err(ConfigError::IdleAboveMaxAge));
    /// ```
    ///
    /// # Errors
    ///
    /// The first contradiction found, for example a `__Host-` cookie with a `Domain`, or an idle
    /// timeout longer than the max age.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.config().map(drop)
    }

    /// The validated configuration, built on first use.
    pub(crate) fn config(&self) -> Result<Arc<Config>, ConfigError> {
        self.inner
            .built
            .get_or_init(|| Config::build(&self.inner.settings).map(Arc::new))
            .clone()
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionManager<S>;

    /// # Panics
    ///
    /// When the configuration is contradictory, with the [`ConfigError`]'s message, before any
    /// request is served. Call [`SessionLayer::validate`] first to handle it as a value.
    #[allow(clippy::panic)] // When the router is built, before any request; see `validate`.
    fn layer(&self, inner: S) -> Self::Service {
        match self.config() {
            Ok(config) => SessionManager::new(inner, config),
            Err(error) => panic!("{error}"),
        }
    }
}
