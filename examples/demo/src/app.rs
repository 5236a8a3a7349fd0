//! The app: shared state, the `SessionLayer`, the routes and their guards.

use std::sync::{Arc, PoisonError, RwLock};

use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::routing::{get, post};
use axum::Router;
use sealed_session::csrf::CsrfLayer;
use sealed_session::store::{MemoryStore, RevocationStore};
use sealed_session::{
    Clock, LiveKeys, NotBefore, RequireAuth, Requirement, SessionLayer, SessionSource, TokenCache,
};
use time::Duration;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::oauth::{self, OAuthSettings};
use crate::pages::{error_page, html_errors, not_found, panic_page};
use crate::routes::{admin, api, login, session, tokens};
use crate::store::Db;
use crate::tokens::TokenStore;

/// Where anonymous browsers are sent by the guards of the HTML pages.
pub(crate) const LOGIN_PATH: &str = "/login";

/// Everything the handlers share. Clones share one state.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) config: Arc<Config>,
    pub(crate) db: Db,
    /// The PAT store behind the crate's token cache: revocation drops the cache entry.
    pub(crate) tokens: TokenCache,
    pub(crate) not_before: NotBefore,
    pub(crate) jobs: Jobs,
    /// Non-secret fingerprints of the key ring, current key first.
    pub(crate) key_fingerprints: Arc<RwLock<Vec<String>>>,
    pub(crate) oauth: Option<Arc<OAuthSettings>>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Where ended sessions are recorded: in memory, or Redis shared by every instance
    /// (`DEMO_REDIS_URL`). The layer checks it on every request (local memory only).
    pub(crate) revocation: Revocation,
}

/// The demo's revocation store: one of the crate's two backends.
#[derive(Clone, Debug)]
pub(crate) enum Revocation {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(sealed_session::store::RedisStore),
}

impl Revocation {
    /// The store, for the handlers (log out other sessions, list and end sessions).
    pub(crate) fn store(&self) -> &dyn RevocationStore {
        match self {
            Self::Memory(store) => store,
            #[cfg(feature = "redis")]
            Self::Redis(store) => store,
        }
    }

    /// Where it lives, for the pages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Self::Memory(_) => "in memory (this instance only)",
            #[cfg(feature = "redis")]
            Self::Redis(_) => {
                "Redis, shared by every instance (a local mirror answers each request)"
            }
        }
    }
}

impl AppState {
    pub(crate) fn new(
        config: Config,
        db: Db,
        oauth: Option<OAuthSettings>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        // Cached lookups save a database query per API request; revocation invalidates the
        // entry, so the TTL only bounds how long an expired entry could be kept.
        let store_clock = clock.clone();
        let store = TokenStore::new(db.clone()).with_clock(move || store_clock.now());
        let tokens = TokenCache::new(store).with_ttl(Duration::seconds(30));
        Self {
            config: Arc::new(config),
            db,
            tokens,
            not_before: NotBefore::new(),
            jobs: Jobs::default(),
            key_fingerprints: Arc::default(),
            oauth: oauth.map(Arc::new),
            clock,
            revocation: Revocation::Memory(MemoryStore::new()),
        }
    }

    /// The same state with another revocation store (Redis, from `main.rs`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// `http://127.0.0.1:<port>`, for the curl hints.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.port)
    }

    pub(crate) fn fingerprints(&self) -> Vec<String> {
        self.key_fingerprints
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The session layer: the live key ring from the key file (a rotation takes effect on the next
/// request, no new router), the token cache, the revocation store with active sessions,
/// "log out everywhere" times, and the configured timeouts.
pub(crate) fn session_layer(state: &AppState, keys: LiveKeys) -> SessionLayer {
    let config = &state.config;
    let clock = state.clock.clone();
    let layer = SessionLayer::new(keys.snapshot().as_ref().clone()).with_live_keys(keys);
    let layer = match &state.revocation {
        Revocation::Memory(store) => layer.with_revocation(store.clone()),
        #[cfg(feature = "redis")]
        Revocation::Redis(store) => layer.with_revocation(store.clone()),
    };
    let layer = layer
        .with_active_sessions()
        .with_purpose("sealed-session-demo");
    // With OAuth configured, the API also takes the provider's JWT access tokens.
    #[cfg(feature = "oauth")]
    let layer = match state.oauth.as_deref().and_then(OAuthSettings::jwt_tokens) {
        Some(jwt) => layer.with_token_handler(oauth::ApiTokens {
            jwt: jwt.clone(),
            personal: state.tokens.clone(),
        }),
        None => layer.with_token_handler(state.tokens.clone()),
    };
    #[cfg(not(feature = "oauth"))]
    let layer = layer.with_token_handler(state.tokens.clone());
    layer
        .with_not_before(state.not_before.clone())
        .with_idle_timeout(config.idle_timeout)
        .with_max_age(config.max_age)
        .with_refresh_interval(config.refresh_interval())
        .with_clock_skew(config.refresh_interval())
        .with_clock(move || clock.now())
}

/// The whole app over the live key ring (a rotation replaces the ring inside it, see `main.rs`).
pub(crate) fn router(state: AppState, keys: LiveKeys) -> Router {
    let layer = session_layer(&state, keys);
    let signed_in = RequireAuth::authenticated().with_login_redirect(LOGIN_PATH);
    // Managing tokens and sessions needs the browser's cookie session, not a bearer token.
    let browser = RequireAuth::from(Requirement::predicate(
        "sign in with a password: a bearer token cannot manage tokens or sessions",
        |s| s.source() == SessionSource::Cookie,
    ))
    .with_login_redirect(LOGIN_PATH);
    let admin = RequireAuth::role("admin")
        .with_all_of([Requirement::predicate(
            "sign in with a password: a bearer token cannot use the admin page",
            |s| s.source() == SessionSource::Cookie,
        )])
        .with_login_redirect(LOGIN_PATH);

    let pages = Router::new()
        .route("/", get(login::home))
        .route(LOGIN_PATH, get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .merge(
            Router::new()
                .route("/session", get(session::page))
                .route_layer(signed_in),
        )
        .merge(
            Router::new()
                .route("/session/note", post(session::save_note))
                .route("/logout/everywhere", post(login::logout_everywhere))
                .route("/logout/others", post(login::logout_others))
                .route("/session/end", post(session::end_one))
                .route("/tokens", get(tokens::page).post(tokens::create))
                .route("/tokens/{id}/revoke", post(tokens::revoke))
                .route_layer(browser),
        )
        .merge(
            Router::new()
                .route("/admin", get(admin::page))
                .route("/admin/role-tokens", post(admin::create_role_token))
                .route(
                    "/admin/role-tokens/{id}/revoke",
                    post(admin::revoke_role_token),
                )
                .route("/admin/jobs/purge", post(admin::start_purge))
                .route("/admin/jobs/{id}", get(admin::job_page))
                .route_layer(admin),
        );
    let pages = oauth::mount(pages, state.oauth.as_deref())
        .fallback(not_found)
        .layer(from_fn(html_errors));

    // The bearer API: plain 401/403 with RFC 6750 challenges, JSON bodies, no redirects.
    let api = Router::new()
        .route(
            "/api/builds",
            get(api::list_builds)
                .route_layer(RequireAuth::scope("builds:read"))
                .merge(post(api::trigger_build).route_layer(RequireAuth::scope("builds:write"))),
        )
        .route("/api/me", get(api::me))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/demo/info", get(api::info));

    Router::new()
        .merge(api)
        .merge(pages)
        .layer(same_origin_posts())
        .layer(layer)
        .layer(CatchPanicLayer::custom(panic_page))
        .with_state(state)
}

/// Refuses cross-site form posts (login CSRF, and defence in depth beside `SameSite=Lax`) with
/// the crate's `CsrfLayer` (tower-http's `Sec-Fetch-Site` check): browsers send `Sec-Fetch-Site`
/// and `Origin`; scripts such as curl send neither, and bearer requests are judged by their
/// token alone.
fn same_origin_posts() -> CsrfLayer {
    CsrfLayer::new().with_rejection_response(|_| {
        error_page(
            StatusCode::FORBIDDEN,
            "Cross-site request refused",
            "This form was posted from another site. Open the demo's own page and try again.",
        )
    })
}
