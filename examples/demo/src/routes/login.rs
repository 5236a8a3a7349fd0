//! The home page, password login, logout and "log out everywhere".

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use sealed_session::{Auth, Session, SessionError};
use serde::Deserialize;
use time::Duration;

use crate::accounts;
use crate::app::AppState;
use crate::oauth;
use crate::pages::{escape, notice, AppError, Page, Viewer};
use crate::routes::safe_return_path;

pub(crate) async fn home(State(state): State<AppState>, session: Option<Session>) -> Page {
    let status = match &session {
        Some(s) => notice(
            "ok",
            &format!(
                "You are signed in as <b>{}</b>. See <a href=\"/session\">your session</a>.",
                escape(&s.uid().unwrap_or_default())
            ),
        ),
        None => notice(
            "note",
            "You are not signed in. <a href=\"/login\">Sign in</a> with a demo account \
             (the passwords are printed where the demo runs).",
        ),
    };
    let body = format!(
        r#"{status}
<p>One <code>SessionLayer</code> serves a browser holding a sealed cookie and a script sending a
bearer token. Try:</p>
<ul>
<li><a href="/session">Your session</a>: uid, roles, scopes, timestamps and time left; grow it past the cookie limit.</li>
<li><a href="/tokens">Personal access tokens</a>: create one with scopes and an expiry (shown once, stored as a hash), list, revoke.</li>
<li><a href="/api/builds">The bearer API</a>: <code>GET /api/builds</code> needs the scope <code>builds:read</code>, <code>POST</code> needs <code>builds:write</code>.</li>
<li><a href="/admin">The admin page</a>: needs the role <code>admin</code> (alice has it, bob does not); role-account tokens, long-running jobs.</li>
<li>Sign out, or sign out everywhere (every browser of yours).</li>
</ul>
<p class="muted">Idle timeout {idle}, absolute lifetime {max}. Cookie <code>__Host-session</code>:
<code>Secure; HttpOnly; SameSite=Lax; Path=/</code>.</p>"#,
        idle = crate::config::format_duration(state.config.idle_timeout),
        max = crate::config::format_duration(state.config.max_age),
    );
    Page::new("Welcome", Viewer::of(session.as_ref()), body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    /// Where to go after login: set by the guards' redirect (`/login?login=/session`).
    login: Option<String>,
    signed_out: Option<String>,
    /// Set when sign-out ended the session here but could not share it (Redis unreachable).
    unshared: Option<String>,
    everywhere: Option<String>,
}

fn login_page(
    state: &AppState,
    session: Option<&Session>,
    return_path: &str,
    message: &str,
    username: &str,
) -> Page {
    let signed_in = session
        .and_then(Session::uid)
        .map(|uid| {
            notice(
                "ok",
                &format!(
                    "You are signed in as <b>{}</b>. Signing in again starts a new session.",
                    escape(&uid)
                ),
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"{message}{signed_in}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="next" value="{next}">
<label>User name <input type="text" name="username" id="username" value="{username}" autocomplete="username" required></label>
<label>Password <input type="password" name="password" id="password" autocomplete="current-password" required></label>
<button id="sign-in">Sign in</button>
</form>
<p class="muted">Demo accounts: <code>alice</code> (role admin, scopes builds:read builds:write) and
<code>bob</code> (scope builds:read). Their passwords are printed where the demo runs.</p>
{oauth}"#,
        next = escape(return_path),
        username = escape(username),
        oauth = oauth::login_section(state.oauth.as_deref(), return_path),
    );
    Page::new("Sign in", Viewer::of(session), body)
}

pub(crate) async fn page(
    State(state): State<AppState>,
    session: Option<Session>,
    Query(query): Query<LoginQuery>,
) -> Page {
    let return_path = query
        .login
        .as_deref()
        .and_then(safe_return_path)
        .unwrap_or("/session");
    let message = if query.everywhere.is_some() {
        notice(
            "ok",
            "You are signed out everywhere: every session of yours, in every browser, has ended.",
        )
    } else if query.signed_out.is_some() && query.unshared.is_some() {
        notice(
            "error",
            "You are signed out on this instance, but the shared store could not be reached: \
             other instances may accept a copy of the cookie until it comes back.",
        )
    } else if query.signed_out.is_some() {
        notice(
            "ok",
            "You are signed out. The session has ended: a copy of its cookie is refused too.",
        )
    } else if query.login.is_some() {
        notice(
            "note",
            "Please sign in to continue. (Your session ended, or you were not signed in.)",
        )
    } else {
        String::new()
    };
    login_page(&state, session.as_ref(), return_path, &message, "")
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    auth: Auth,
    session: Option<Session>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let return_path = form
        .next
        .as_deref()
        .and_then(safe_return_path)
        .unwrap_or("/session")
        .to_owned();
    let username = form.username.trim().to_owned();
    let Some(user) = accounts::check_login(&state.db, username.clone(), form.password).await?
    else {
        // Not the typed name: people type passwords into the user-name field.
        tracing::info!("password login failed");
        let message = notice("error", "Wrong user name or password.");
        let page = login_page(&state, session.as_ref(), &return_path, &message, &username);
        return Ok(page.with_status(StatusCode::UNAUTHORIZED).into_response());
    };
    // "Log out everywhere" refuses sessions created before a whole second (see
    // `logout_everywhere`): a login in that second waits for it, at most one second.
    if let Some(not_before) = user.not_before {
        let wait =
            i128::from(not_before) * 1_000_000_000 - state.clock.now().unix_timestamp_nanos();
        if let Ok(wait @ 1..=1_000_000_000) = u64::try_from(wait) {
            tokio::time::sleep(std::time::Duration::from_nanos(wait)).await;
        }
    }
    match auth.login(user.identity()) {
        Ok(_) => {}
        Err(SessionError::CredentialRequest) => {
            return Err(AppError::BadRequest(
                "A request with a bearer token cannot start a cookie session.".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(uid = %user.uid, "password login");
    Ok(Redirect::to(&return_path).into_response())
}

/// Ends this session: the layer denies its id in the revocation store (so a copy of the cookie
/// taken before is refused, on every instance sharing the store), drops it from the active
/// sessions and deletes the cookie. When the denial cannot be shared (Redis unreachable), the
/// session still ends here, the write is queued, and the login page says so.
pub(crate) async fn logout(auth: Auth) -> Redirect {
    match auth.logout_shared().await {
        Ok(()) => Redirect::to("/login?signed_out=1"),
        Err(e) => {
            tracing::warn!(error = %e, "sign-out not shared with other instances");
            Redirect::to("/login?signed_out=1&unshared=1")
        }
    }
}

/// Ends every other session of the signed-in user (ASVS 7.4.3); this one stays.
pub(crate) async fn logout_others(
    State(state): State<AppState>,
    session: Session,
) -> Result<Redirect, AppError> {
    let uid = session
        .uid()
        .ok_or_else(|| AppError::BadRequest("This session has no user.".into()))?;
    let store = state.revocation.store();
    let ended = store
        .active_sessions(&uid)
        .await
        .map(|all| all.iter().filter(|s| s.id != session.id()).count())
        .unwrap_or(0);
    store
        .log_out_other_sessions(&uid, session.id(), state.clock.now())
        .await
        .map_err(|e| AppError::Unavailable(format!("Could not end the other sessions: {e}")))?;
    tracing::info!(uid = %uid, ended, "logged out other sessions");
    Ok(Redirect::to(&format!("/session?others_ended={ended}")))
}

/// Ends every cookie session of the signed-in user, in every browser, through the crate's
/// `NotBefore` (stored in the database, so it survives a restart). Tokens stay valid: revoke them
/// on the tokens page.
pub(crate) async fn logout_everywhere(
    State(state): State<AppState>,
    auth: Auth,
    session: Session,
) -> Result<Redirect, AppError> {
    let uid = session
        .uid()
        .ok_or_else(|| AppError::BadRequest("This session has no user.".into()))?;
    // NotBefore compares whole seconds: refuse everything created up to the end of this one.
    let at = state.clock.now() + Duration::seconds(1);
    accounts::log_out_everywhere(&state.db, &state.not_before, uid.clone(), at).await?;
    // The store's not-before counts milliseconds and reaches every instance sharing it.
    if let Err(e) = state
        .revocation
        .store()
        .log_out_user(&uid, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, "log out everywhere not shared with other instances");
    }
    auth.logout();
    tracing::info!(uid = %uid, "logged out everywhere");
    Ok(Redirect::to("/login?everywhere=1"))
}
