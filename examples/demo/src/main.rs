//! The sealed-session demo: a small axum app on an embedded database that shows every capability
//! of the crate. Run it with `cargo run -p sealed-session-demo` (no arguments needed; `-- --help` lists
//! the options). It listens on 127.0.0.1 only and needs no outside service.
//!
//! - Password login with local accounts (Argon2id hashes in SQLite), and a place for OAuth login
//!   (`oauth.rs`, shown when `DEMO_OAUTH_ISSUER` is set).
//! - A session page: uid, roles, scopes, timestamps and time left; a session value that can be
//!   grown past the cookie limit, refused with a visible error.
//! - Personal access tokens with scopes and an expiry, shown once and stored as SHA-256 digests,
//!   resolved by a `TokenHandler` over SQLite behind the crate's `TokenCache`; list and revoke.
//! - A JSON API guarded by scopes (`RequireAuth::scope`), an admin page guarded by a role, and
//!   role-account tokens.
//! - Sessions that can be ended: a revocation store (in memory, or Redis shared by several
//!   instances when `DEMO_REDIS_URL` is set and the `redis` feature is on). Sign out refuses every
//!   copy of the cookie; sign out other sessions; the session page lists your active sessions
//!   with a button to end each; "log out everywhere" through `NotBefore` and the store.
//! - The key ring in a key file (mode 0600, created on first run, reused on restart), rotated
//!   by `cargo run -p sealed-session-demo -- rotate-key` while the demo runs: the live ring
//!   (`LiveKeys`) takes the new key on the next request, no one is logged out.
//! - Long-running work and errors as readable pages.
//!
//! Files: `app.rs` (state, layer, routes), `routes/` (handlers), `accounts.rs`, `tokens.rs`,
//! `store.rs` (SQLite), `keyfile.rs`, `jobs.rs`, `pages.rs` (HTML), `oauth.rs`, `config.rs`.

mod accounts;
mod app;
mod config;
mod jobs;
mod keyfile;
mod oauth;
mod pages;
mod routes;
mod store;
#[cfg(test)]
mod testdir;
#[cfg(test)]
mod tests;
mod tokens;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, PoisonError};

use sealed_session::{LiveKeys, SystemClock, TokenHandler as _};
use time::Duration;

use crate::accounts::{ROLE_ACCOUNT, SEEDS};
use crate::app::{AppState, Revocation};
use crate::config::{format_duration, Command, Config, USAGE};
use crate::oauth::OAuthSettings;
use crate::store::Db;
use crate::tokens::NewToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The name of the role-account token made at each start for the printed curl command.
const STARTUP_TOKEN: &str = "printed at start-up";

/// The scopes of that token: enough for `GET /api/builds`, not for `POST` (which answers 403),
/// though the role account may hold more. The banner prints these, so it says what the token can do.
const STARTUP_SCOPES: &[&str] = &["builds:read"];

fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let config = match Config::parse(std::env::args().skip(1), env) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match config.command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::RotateKey => rotate_key(&config),
        Command::Serve => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(BoxError::from)
            .and_then(|rt| rt.block_on(serve(config))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rotate_key(config: &Config) -> Result<(), BoxError> {
    let path = config.key_file();
    if !path.exists() {
        return Err(format!(
            "no key file at {}. Start the demo once to create it; if the demo runs with \
             --data-dir DIR (or DEMO_DATA_DIR), pass the same --data-dir here: its start-up \
             banner prints the whole rotate-key command",
            path.display()
        )
        .into());
    }
    let rotation = keyfile::rotate(&path)?;
    println!(
        "Rotated {}: new current key {}, {} previous key(s) kept.",
        path.display(),
        rotation.new_fingerprint,
        rotation.kept
    );
    println!("Existing sessions stay signed in; a running demo picks up the new key within 2 s.");
    for fingerprint in rotation.dropped {
        println!("Dropped key {fingerprint}: the sessions it sealed have ended.");
    }
    Ok(())
}

async fn serve(mut config: Config) -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_max_level(tracing::Level::INFO)
        .init();

    let keys = keyfile::load_or_create(&config.key_file())?;
    let db = Db::open(&config.database())?;
    let seeded = db.call_blocking(accounts::seed)?;

    let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr}: {e}. Pick another port with --port N (0: any free port)")
    })?;
    config.port = listener.local_addr()?.port();

    #[allow(unused_mut)]
    let mut oauth = OAuthSettings::from_env(|name| std::env::var(name).ok());
    #[cfg(feature = "oauth")]
    if let Some(settings) = oauth.as_mut() {
        settings
            .connect(&format!("http://127.0.0.1:{}", config.port), db.clone())
            .await?;
    }
    let revocation = revocation_store().await?;
    let state = AppState::new(config.clone(), db.clone(), oauth, Arc::new(SystemClock))
        .with_revocation(revocation);
    accounts::load_not_before(&db, &state.not_before)?;
    *state
        .key_fingerprints
        .write()
        .unwrap_or_else(PoisonError::into_inner) = keys.fingerprints.clone();
    let token = startup_token(&state).await?;

    // One router for the whole run: a key rotation replaces the ring inside `LiveKeys`.
    let live = LiveKeys::new(keys.ring);
    let router = app::router(state.clone(), live.clone());
    tokio::spawn(watch_key_file(state.clone(), live));

    let url = state.base_url();
    print!("{}", banner(&config, &url, keys.created, seeded, &token));
    #[cfg(feature = "oauth")]
    if let Some(settings) = state.oauth.as_deref().filter(|s| s.jwt_tokens().is_some()) {
        println!(
            "The API also accepts JWT access tokens from {} with aud {} (scopes from `scope`).",
            settings.issuer,
            settings.api_audience(&url)
        );
    }
    println!("Revocation store: {}.", state.revocation.describe());
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Revokes the previous start's role-account token and makes a new one, for the printed curl
/// command. Its only copy is in this process's output.
async fn startup_token(state: &AppState) -> Result<String, BoxError> {
    let now = state.clock.now();
    tokens::revoke_named_blocking(&state.db, ROLE_ACCOUNT, STARTUP_TOKEN, now)?;
    state.tokens.invalidate_all();
    let new = NewToken {
        uid: ROLE_ACCOUNT.into(),
        name: STARTUP_TOKEN.into(),
        scopes: STARTUP_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        lifetime: Duration::days(1),
        created_by: "demo start-up".into(),
    };
    let (_, token) = tokens::create(&state.db, new, now).await?;
    // Fail at start, not on the first curl, if the store cannot resolve it.
    if state.tokens.resolve(&token).await?.is_none() {
        return Err("the start-up token does not resolve".into());
    }
    Ok(token)
}

/// The revocation store: Redis when `DEMO_REDIS_URL` is set (feature `redis`), else in memory.
async fn revocation_store() -> Result<Revocation, BoxError> {
    let url = std::env::var("DEMO_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match url {
        None => Ok(Revocation::Memory(sealed_session::store::MemoryStore::new())),
        #[cfg(feature = "redis")]
        Some(url) => {
            let store = sealed_session::store::RedisStore::builder(&url)?
                .with_prefix("sealed-session-demo:")
                .connect()
                .await
                .map_err(|e| format!("cannot use the Redis at DEMO_REDIS_URL: {e}"))?;
            Ok(Revocation::Redis(store))
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(
            "DEMO_REDIS_URL is set, but this demo was built without Redis: run it \
                        with `cargo run -p sealed-session-demo --features redis`"
                .into(),
        ),
    }
}

/// Reloads the key ring when the key file changes (`rotate-key` from another shell), into the
/// live ring the layer reads on every request.
async fn watch_key_file(state: AppState, live: LiveKeys) {
    let path = state.config.key_file();
    let mut seen = keyfile::stamp(&path);
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        ticks.tick().await;
        let stamp = keyfile::stamp(&path);
        if stamp == seen {
            continue;
        }
        seen = stamp;
        match keyfile::load(&path) {
            Ok(loaded) => {
                live.replace(loaded.ring);
                tracing::info!(
                    current = %loaded.fingerprints.first().map(String::as_str).unwrap_or("?"),
                    previous = loaded.fingerprints.len() - 1,
                    "key ring reloaded"
                );
                *state
                    .key_fingerprints
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = loaded.fingerprints;
            }
            Err(e) => {
                tracing::error!(error = %e, "the key file changed but cannot be used; keeping the current keys")
            }
        }
    }
}

/// The start-up text: where the data is, the accounts, a curl command with the start-up token,
/// and the key-rotation command. The only place a token or a password is printed.
fn banner(config: &Config, url: &str, created_keys: bool, seeded: bool, token: &str) -> String {
    use std::fmt::Write as _;

    let data = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let keys = if created_keys { "created" } else { "reused" };
    let accounts = if seeded { "created" } else { "reused" };
    let mut out = String::new();
    // Writing to a String cannot fail.
    let mut line = |text: std::fmt::Arguments<'_>| {
        let _ = writeln!(out, "{text}");
    };
    line(format_args!("sealed-session demo listening on {url}"));
    line(format_args!(""));
    line(format_args!(
        "  data      {} ({accounts} demo.sqlite3; {keys} session-keys.txt, mode 0600)",
        data.display()
    ));
    line(format_args!(
        "  sessions  idle timeout {}, absolute lifetime {}",
        format_duration(config.idle_timeout),
        format_duration(config.max_age)
    ));
    line(format_args!(""));
    line(format_args!("Demo accounts (sign in at {url}/login):"));
    for seed in SEEDS {
        let roles = if seed.roles.is_empty() {
            String::new()
        } else {
            format!("roles: {}; ", seed.roles.join(" "))
        };
        let scopes = seed.scopes.join(" ");
        match seed.password {
            Some(password) => line(format_args!(
                "  {:<7} password {:<22} {roles}scopes: {scopes}",
                seed.uid, password
            )),
            None => line(format_args!(
                "  {:<7} role account, tokens only     {roles}its tokens may carry: {scopes}",
                seed.uid
            )),
        }
    }
    line(format_args!(""));
    line(format_args!(
        "Bearer API, with a {ROLE_ACCOUNT} token made for this run (revoked at the next start), \
         scope {} only:",
        STARTUP_SCOPES.join(" ")
    ));
    line(format_args!(
        "  curl -H 'Authorization: Bearer {token}' {url}/api/builds"
    ));
    line(format_args!(
        "  (POST /api/builds needs builds:write, which this token lacks: 403 insufficient_scope)"
    ));
    line(format_args!(""));
    line(format_args!(
        "Rotate the session key (no one is logged out): {}",
        config.rotate_command()
    ));
    line(format_args!("Stop with Ctrl-C."));
    out
}

#[cfg(test)]
mod banner_tests {
    use super::*;

    #[test]
    fn the_banner_says_what_the_printed_token_can_do() {
        let config =
            Config::parse(["--data-dir".to_owned(), "/tmp/x".to_owned()], |_| None).unwrap();
        let text = banner(&config, "http://127.0.0.1:1", true, true, "demo_pat_T");
        let lines: Vec<&str> = text.lines().collect();
        let curl = lines.iter().position(|l| l.contains("demo_pat_T")).unwrap();
        assert_eq!(
            text.matches("demo_pat_T").count(),
            1,
            "the token is printed once"
        );
        // The line introducing the token names exactly the scopes it was minted with.
        assert!(
            lines[curl - 1].ends_with("scope builds:read only:"),
            "{}",
            lines[curl - 1]
        );
        assert!(lines[curl + 1].contains("lacks"));
        // The role account's own line says its scopes are what its tokens may carry, not what
        // the printed token has.
        let bot = lines
            .iter()
            .find(|l| l.trim_start().starts_with("ci-bot"))
            .unwrap();
        assert!(
            bot.contains("its tokens may carry: builds:read builds:write"),
            "{bot}"
        );
        // The rotate hint names the data directory the server uses.
        assert!(text.contains(
            "Rotate the session key (no one is logged out): cargo run -p sealed-session-demo -- \
             rotate-key --data-dir /tmp/x\n"
        ));
    }
}
