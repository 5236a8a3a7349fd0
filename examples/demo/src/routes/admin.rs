//! The admin page (role `admin`): accounts, role-account tokens, the key ring, and a
//! long-running job with a progress page.

use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::Form;
use sealed_session::Session;

use crate::accounts::{self, words, ROLE_ACCOUNT};
use crate::app::AppState;
use crate::pages::{escape, notice, AppError, Page, Viewer};
use crate::routes::{fmt_unix, tokens as token_pages};
use crate::tokens::{self, NewToken};

pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Page, AppError> {
    let users = accounts::all(&state.db).await?;
    let role_tokens = tokens::list(&state.db, ROLE_ACCOUNT.into()).await?;
    let bot_scopes = users
        .iter()
        .find(|u| u.uid == ROLE_ACCOUNT)
        .map(|u| u.scopes.clone())
        .unwrap_or_default();
    let now = state.clock.now().unix_timestamp();
    let accounts: String = users
        .iter()
        .map(|u| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&u.uid),
                if u.role_account {
                    "role account"
                } else {
                    "person"
                },
                escape(&words(&u.roles)),
                escape(&words(&u.groups)),
                escape(&words(&u.scopes)),
                u.not_before.map_or_else(|| "never".to_owned(), fmt_unix),
            )
        })
        .collect();
    let keys: String = state
        .fingerprints()
        .iter()
        .enumerate()
        .map(|(i, fp)| {
            let role = if i == 0 {
                "current: seals new cookies"
            } else {
                "previous: opens older cookies"
            };
            format!("<li><code>{fp}</code> ({role})</li>")
        })
        .collect();
    let body = format!(
        r#"<h2>Accounts</h2>
<table><tr><th>uid</th><th>kind</th><th>roles</th><th>groups</th><th>scopes</th><th>logged out everywhere</th></tr>
{accounts}</table>
<h2>Role-account tokens (<code>{ROLE_ACCOUNT}</code>)</h2>
<p>A role account is a robot: it has no password, only tokens, and its sessions say so
(<code>Session::is_role_account</code>, <code>Requirement::human()</code> refuses them).</p>
{table}{form}
<h2>Key ring</h2><ul id="keys">{keys}</ul>
<p>Rotate from a shell in the repository with <code id="rotate-command">{rotate}</code>.
The running demo picks up the new key within 2 seconds; the old key keeps
opening existing cookies, which are re-sealed with the new key on their next response, so no
one is logged out.</p>
<h2>Maintenance</h2>
<form method="post" action="/admin/jobs/purge"><button id="purge">Purge expired and revoked tokens</button></form>
<p class="muted">Runs in the background; its page shows progress.</p>"#,
        table = token_pages::table(&role_tokens, now, "/admin/role-tokens"),
        form = token_pages::form("/admin/role-tokens", &bot_scopes),
        rotate = escape(&state.config.rotate_command()),
    );
    Ok(Page::new("Admin", Viewer::of(Some(&session)), body))
}

pub(crate) async fn create_role_token(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Page, AppError> {
    let bot = accounts::find(&state.db, ROLE_ACCOUNT.into())
        .await?
        .ok_or(AppError::NotFound)?;
    let (name, scopes, lifetime) = token_pages::parse_form(&fields, &bot.scopes)?;
    let admin = session.uid().unwrap_or_default();
    let new = NewToken {
        uid: ROLE_ACCOUNT.into(),
        name: name.clone(),
        scopes,
        lifetime,
        created_by: admin.clone(),
    };
    let (id, token) = tokens::create(&state.db, new, state.clock.now()).await?;
    tracing::info!(uid = ROLE_ACCOUNT, by = %admin, token_id = id, "role-account token created");
    Ok(token_pages::created_page(
        &state,
        Viewer::of(Some(&session)),
        &token,
        &name,
        "/admin",
    ))
}

pub(crate) async fn revoke_role_token(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    let now = state.clock.now();
    if !tokens::revoke(&state.db, &state.tokens, ROLE_ACCOUNT.into(), id, now).await? {
        return Err(AppError::NotFound);
    }
    let admin = session.uid().unwrap_or_default();
    tracing::info!(uid = ROLE_ACCOUNT, by = %admin, token_id = id, "role-account token revoked");
    Ok(Redirect::to("/admin"))
}

/// Starts the purge job: a few seconds of visible progress, then the delete.
pub(crate) async fn start_purge(State(state): State<AppState>, session: Session) -> Redirect {
    let admin = session.uid().unwrap_or_default();
    let db = state.db.clone();
    let clock = state.clock.clone();
    let id = state.jobs.start(
        "Purge expired and revoked tokens",
        &admin,
        |progress| async move {
            // Stands in for slow work (a large table, a remote backend): ten visible steps.
            for step in 1..=10u8 {
                progress.report(
                    step * 9,
                    format!("scanning the tokens table ({step} of 10)"),
                );
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            progress.report(95, "deleting");
            match tokens::purge(&db, clock.now()).await {
                Ok(n) => Ok(format!("Deleted {n} expired or revoked tokens.")),
                Err(e) => {
                    tracing::error!(error = %e, "purge failed");
                    Err(
                        "The database refused the delete; the details are in the server's log."
                            .into(),
                    )
                }
            }
        },
    );
    Redirect::to(&format!("/admin/jobs/{id}"))
}

pub(crate) async fn job_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<u64>,
) -> Result<Page, AppError> {
    let job = state.jobs.get(id).ok_or(AppError::NotFound)?;
    let viewer = Viewer::of(Some(&session));
    let head = format!("<p>Started by <b>{}</b>.</p>", escape(&job.started_by));
    let page = match &job.outcome {
        None => Page::new(
            &job.title,
            viewer,
            format!(
                r#"{head}<p><progress id="progress" max="100" value="{p}">{p}%</progress> {p}%</p>
<p id="step">{step}…</p><p class="muted">This page reloads every second.</p>"#,
                p = job.percent,
                step = escape(&job.step)
            ),
        )
        .with_refresh(1),
        Some(Ok(outcome)) => Page::new(
            &job.title,
            viewer,
            format!(
                r#"{head}{}<p><a href="/admin">Back to the admin page</a></p>"#,
                notice(
                    "ok",
                    &format!(r#"<span id="job-done">Done.</span> {}"#, escape(outcome))
                )
            ),
        ),
        Some(Err(error)) => Page::new(
            &job.title,
            viewer,
            format!(
                r#"{head}{}<p><a href="/admin">Back to the admin page</a></p>"#,
                notice(
                    "error",
                    &format!("<b>The job failed.</b> {}", escape(error))
                )
            ),
        ),
    };
    Ok(page)
}
