//! The session page, and a session value (a note) that can be grown past the cookie limit.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use sealed_session::{Auth, Session, SessionError, SessionId, SessionSource};

/// The session cookie's name: the layer's default.
const DEFAULT_COOKIE_NAME: &str = "__Host-session";
use serde::Deserialize;

use crate::accounts::words;
use crate::app::AppState;
use crate::config::format_duration;
use crate::pages::{escape, notice, AppError, Page, Viewer};
use crate::routes::fmt_time;
use time::OffsetDateTime;

/// The most bytes a browser keeps for a cookie's name and value together (RFC 6265bis).
const COOKIE_LIMIT: usize = 4096;

/// `3032` as `3,032`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The size of the session cookie the browser sent (name and value), never its value.
fn cookie_size(headers: &HeaderMap) -> Option<usize> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find(|c| c.starts_with(&format!("{DEFAULT_COOKIE_NAME}=")))
        .map(str::len)
}

/// `ms` (Unix milliseconds) as a time.
fn fmt_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_or_else(|_| ms.to_string(), fmt_time)
}

/// This user's active sessions from the revocation store, each with a button that ends it (a
/// same-origin form post, like every form of the demo), and "sign out other sessions".
async fn active_sessions(state: &AppState, session: &Session) -> String {
    let Some(uid) = session.uid() else {
        return String::new();
    };
    let store = state.revocation.store();
    let listed = match store.active_sessions(&uid).await {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, "active sessions unavailable");
            return notice("error", "Your active sessions cannot be listed right now.");
        }
    };
    let current = session.id();
    let rows: String = listed
        .iter()
        .map(|s| {
            let this = s.id == current;
            let label = if s.label.is_empty() { "unknown browser" } else { s.label.as_str() };
            format!(
                r#"<tr class="active-session"{mark}><td>{label}{here}</td><td>{created}</td><td>{seen}</td><td><form class="inline" method="post" action="/session/end"><input type="hidden" name="id" value="{id}"><button class="end-session">{button}</button></form></td></tr>
"#,
                mark = if this { r#" id="this-session""# } else { "" },
                label = escape(label),
                here = if this { " <b>(this one)</b>" } else { "" },
                created = fmt_ms(s.created_ms),
                seen = fmt_ms(s.last_seen_ms),
                id = s.id,
                button = if this { "End (sign out)" } else { "End" },
            )
        })
        .collect();
    format!(
        r#"<h2>Your active sessions</h2>
<p class="muted">Every browser signed in as you, from the revocation store ({where_}). Ending one refuses
its cookie on the next request, every copy of it.</p>
<table id="active-sessions"><tr><th>Browser</th><th>Signed in</th><th>Last seen</th><th></th></tr>
{rows}</table>
<form class="inline" method="post" action="/logout/others"><button id="logout-others">Sign out other sessions</button></form>
"#,
        where_ = state.revocation.describe(),
    )
}

fn render(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    message: &str,
    sessions: &str,
) -> Page {
    let now = state.clock.now();
    let idle_end = session.last_seen() + state.config.idle_timeout;
    let absolute_end = session.created_at() + state.config.max_age;
    let expires = session.expires_at();
    let left = expires.map_or_else(|| "no end".to_owned(), |e| format_duration(e - now));
    let source = match session.source() {
        SessionSource::Cookie => "sealed cookie",
        SessionSource::Bearer => "bearer token",
        _ => "other",
    };
    let note: String = session.get("note").ok().flatten().unwrap_or_default();
    let cookie = match (session.source(), cookie_size(headers)) {
        (SessionSource::Cookie, Some(size)) => format!(
            "<code>{DEFAULT_COOKIE_NAME}</code>: {} of {} bytes, <code>Secure; HttpOnly; \
             SameSite=Lax; Path=/</code>, no <code>Max-Age</code> (ends with the browser session)",
            thousands(size),
            thousands(COOKIE_LIMIT),
        ),
        (SessionSource::Cookie, None) => "new: set by this response".to_owned(),
        _ => "none: bearer requests never set a cookie".to_owned(),
    };
    let keys = state.fingerprints();
    let rows = [
        ("User (uid)", escape(&session.uid().unwrap_or_default())),
        ("Source", source.to_owned()),
        ("Role account", session.is_role_account().to_string()),
        ("Roles", escape(&words(&session.roles()))),
        ("Groups", escape(&words(&session.groups()))),
        ("Scopes", escape(&words(&session.scopes()))),
        ("Auth time", fmt_time(session.auth_time())),
        ("Created", fmt_time(session.created_at())),
        ("Last seen", fmt_time(session.last_seen())),
        (
            "Idle timeout",
            format!(
                "{} after last seen: {}",
                format_duration(state.config.idle_timeout),
                fmt_time(idle_end)
            ),
        ),
        (
            "Absolute end",
            format!(
                "{} after creation: {}",
                format_duration(state.config.max_age),
                fmt_time(absolute_end)
            ),
        ),
        ("Time left", format!(r#"<b id="time-left">{left}</b>"#)),
        ("Cookie", cookie),
        (
            "Key ring",
            format!(
                "current key <code>{}</code>, {} previous",
                keys.first().map(String::as_str).unwrap_or("?"),
                keys.len().saturating_sub(1)
            ),
        ),
    ];
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>\n"))
        .collect();
    let body = format!(
        r#"{message}<table id="session">{table}</table>
<h2>A value in the session</h2>
<p>Values live inside the sealed cookie, so a session can only grow to what a cookie holds
({limit} bytes). A change past that is refused, and the session stays as it was.</p>
<form method="post" action="/session/note">
<label>Note <textarea name="note" id="note" rows="2">{note}</textarea></label>
<button id="save-note">Save note</button></form>
<form method="post" action="/session/note"><input type="hidden" name="pad" value="5000">
<button id="grow-note">Try a 5,000-byte note</button></form>
{sessions}<h2>End it</h2>
<form class="inline" method="post" action="/logout"><button id="logout-here">Sign out</button></form>
<form class="inline" method="post" action="/logout/everywhere"><button id="logout-everywhere">Sign out everywhere</button></form>
<p class="muted">As JSON: <a href="/api/me">/api/me</a>.</p>"#,
        note = escape(&note),
        limit = thousands(COOKIE_LIMIT),
    );
    Page::new("Your session", Viewer::of(Some(session)), body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct SessionQuery {
    saved: Option<String>,
    /// How many sessions "sign out other sessions" ended.
    others_ended: Option<usize>,
    /// Set after a session was ended from the list.
    ended: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<SessionQuery>,
) -> Page {
    let message = if query.saved.is_some() {
        notice("ok", "Saved: the note is sealed into your cookie.")
    } else if let Some(n) = query.others_ended {
        notice(
            "ok",
            &format!("Your other sessions have ended ({n} listed); this one stays."),
        )
    } else if query.ended.is_some() {
        notice(
            "ok",
            "That session has ended: its cookie is refused from now on.",
        )
    } else {
        String::new()
    };
    let sessions = active_sessions(&state, &session).await;
    render(&state, &session, &headers, &message, &sessions)
}

#[derive(Debug, Deserialize)]
pub(crate) struct EndForm {
    /// The session id to end (one of this user's, from the list).
    id: String,
}

/// Ends one of this user's sessions, from the list on the session page. Ending this one signs
/// out. A user can end only their own sessions: the store is asked for `uid`'s session `id`.
pub(crate) async fn end_one(
    State(state): State<AppState>,
    auth: Auth,
    session: Session,
    Form(form): Form<EndForm>,
) -> Result<Redirect, AppError> {
    let uid = session
        .uid()
        .ok_or_else(|| AppError::BadRequest("This session has no user.".into()))?;
    let id: SessionId = form
        .id
        .parse()
        .map_err(|_| AppError::BadRequest("That is not a session id.".into()))?;
    let store = state.revocation.store();
    let listed = store
        .active_sessions(&uid)
        .await
        .map_err(|e| AppError::Unavailable(format!("Could not read your sessions: {e}")))?;
    if !listed.iter().any(|s| s.id == id) {
        return Err(AppError::BadRequest(
            "That session is not one of yours, or it has already ended.".into(),
        ));
    }
    store
        .end_session(&uid, id)
        .await
        .map_err(|e| AppError::Unavailable(format!("Could not end that session: {e}")))?;
    tracing::info!(uid = %uid, "session ended from the session list");
    if id == session.id() {
        auth.logout();
        return Ok(Redirect::to("/login?signed_out=1"));
    }
    Ok(Redirect::to("/session?ended=1"))
}

#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    note: Option<String>,
    /// Stores a note of this many bytes (the demo's button past the cookie limit).
    pad: Option<usize>,
}

pub(crate) async fn save_note(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<NoteForm>,
) -> Result<Response, AppError> {
    let note = match form.pad {
        Some(n) => "x".repeat(n.min(64 * 1024)),
        None => form.note.unwrap_or_default(),
    };
    let result = if note.is_empty() {
        session.remove_value("note").map(drop)
    } else {
        session.insert("note", &note)
    };
    match result {
        Ok(()) => Ok(Redirect::to("/session?saved=1").into_response()),
        Err(SessionError::TooLarge { size, limit }) => {
            let message = notice(
                "error",
                &format!(
                    "<b>Refused: too large for a cookie.</b> With this note the session's data \
                     would be {} bytes. A browser keeps at most {} bytes for a cookie, and \
                     sealing (encryption, then base64) makes the data about a third larger, so \
                     this cookie holds at most {} bytes of data. Nothing was changed: your \
                     session and its note are as they were.",
                    thousands(size),
                    thousands(COOKIE_LIMIT),
                    thousands(limit),
                ),
            );
            let sessions = active_sessions(&state, &session).await;
            let page = render(&state, &session, &headers, &message, &sessions);
            Ok(page
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn numbers_get_thousands_separators() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (3_032, "3,032"),
            (65_536, "65,536"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }
}
