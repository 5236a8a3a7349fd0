//! Personal access tokens: create (shown once), list, revoke. Also used by the admin page for
//! role-account tokens.

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::Form;
use sealed_session::Session;
use serde::Deserialize;

use crate::app::AppState;
use crate::pages::{escape, notice, AppError, Page, Viewer};
use crate::routes::fmt_unix;
use crate::tokens::{self, NewToken, TokenRow, LIFETIMES};

/// The table of tokens, with revoke buttons posting to `{revoke_base}/{id}/revoke`.
pub(crate) fn table(rows: &[TokenRow], now: i64, revoke_base: &str) -> String {
    if rows.is_empty() {
        return r#"<p class="muted" id="no-tokens">No tokens yet.</p>"#.to_owned();
    }
    let body: String = rows
        .iter()
        .map(|t| {
            let status = t.status(now);
            let action = if status == "active" {
                format!(
                    r#"<form class="inline" method="post" action="{revoke_base}/{}/revoke"><button class="revoke">Revoke</button></form>"#,
                    t.id
                )
            } else {
                String::new()
            };
            format!(
                "<tr class=\"token\" data-name=\"{name}\"><td>{name}</td><td>{scopes}</td><td>{created}<br><span class=\"muted\">by {by}</span></td><td>{expires}</td><td class=\"status\">{status}</td><td>{action}</td></tr>\n",
                name = escape(&t.name),
                scopes = escape(&t.scopes.join(" ")),
                created = fmt_unix(t.created_at),
                by = escape(&t.created_by),
                expires = fmt_unix(t.expires_at),
            )
        })
        .collect();
    format!(
        r#"<table id="tokens"><tr><th>Name</th><th>Scopes</th><th>Created</th><th>Expires</th><th>Status</th><th></th></tr>
{body}</table>"#
    )
}

/// The creation form, offering `scopes` (what the owner has) and the lifetimes.
pub(crate) fn form(action: &str, scopes: &[String]) -> String {
    let boxes: String = scopes
        .iter()
        .map(|s| {
            format!(
                r#"<label><input type="checkbox" name="scope" value="{s}" checked> <code>{s}</code></label>"#,
                s = escape(s)
            )
        })
        .collect();
    let lifetimes: String = LIFETIMES
        .iter()
        .enumerate()
        .map(|(i, (label, _))| {
            let selected = if i == 2 { " selected" } else { "" };
            format!(r#"<option value="{i}"{selected}>{label}</option>"#)
        })
        .collect();
    format!(
        r#"<form method="post" action="{action}" id="new-token-form">
<label>Name <input type="text" name="name" id="token-name" maxlength="64" required placeholder="laptop, CI, …"></label>
<fieldset><legend>Scopes</legend>{boxes}</fieldset>
<label>Expires after <select name="lifetime" id="token-lifetime">{lifetimes}</select></label>
<button id="create-token">Create token</button></form>"#
    )
}

/// Reads the creation form: the name, the lifetime, and the scopes, which must be among
/// `allowed` (a token never gets more than its owner has).
pub(crate) fn parse_form(
    fields: &[(String, String)],
    allowed: &[String],
) -> Result<(String, Vec<String>, time::Duration), AppError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let name = tokens::valid_name(field("name").unwrap_or("")).map_err(AppError::BadRequest)?;
    let lifetime = field("lifetime")
        .and_then(|v| v.parse::<usize>().ok())
        .and_then(|i| LIFETIMES.get(i))
        .map(|(_, d)| *d)
        .ok_or_else(|| AppError::BadRequest("Choose one of the offered lifetimes.".into()))?;
    let mut scopes = Vec::new();
    for (_, scope) in fields.iter().filter(|(k, _)| k == "scope") {
        if !allowed.contains(scope) {
            return Err(AppError::BadRequest(format!(
                "The scope {scope:?} is not yours to give."
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    Ok((name, scopes, lifetime))
}

/// The page that shows a new token, once.
pub(crate) fn created_page(
    state: &AppState,
    viewer: Viewer,
    token: &str,
    name: &str,
    back: &str,
) -> Page {
    let body = format!(
        r#"{}
<p>Token <b>{name}</b>:</p><pre id="new-token">{token}</pre>
<p>Try it:</p><pre id="curl">curl -H 'Authorization: Bearer {token}' {base}/api/builds</pre>
<p><a href="{back}">Back</a></p>"#,
        notice(
            "note",
            "Copy it now: it is shown only this once. The demo keeps only its SHA-256 digest."
        ),
        name = escape(name),
        token = escape(token),
        base = state.base_url(),
    );
    Page::new("Token created", viewer, body)
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokensQuery {
    revoked: Option<String>,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TokensQuery>,
) -> Result<Page, AppError> {
    let uid = session.uid().unwrap_or_default();
    let rows = tokens::list(&state.db, uid).await?;
    let now = state.clock.now().unix_timestamp();
    let message = if query.revoked.is_some() {
        notice(
            "ok",
            "Revoked. The next request with that token gets 401 <code>invalid_token</code>.",
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"{message}<p>A personal access token acts for you on the API, with the scopes you give it,
until it expires or you revoke it. It never carries your roles.</p>
{table}<h2>New token</h2>{form}"#,
        table = table(&rows, now, "/tokens"),
        form = form("/tokens", &session.scopes()),
    );
    Ok(Page::new(
        "Personal access tokens",
        Viewer::of(Some(&session)),
        body,
    ))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    session: Session,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Page, AppError> {
    let uid = session.uid().unwrap_or_default();
    let (name, scopes, lifetime) = parse_form(&fields, &session.scopes())?;
    let new = NewToken {
        uid: uid.clone(),
        name: name.clone(),
        scopes,
        lifetime,
        created_by: uid.clone(),
    };
    let (id, token) = tokens::create(&state.db, new, state.clock.now()).await?;
    tracing::info!(uid = %uid, token_id = id, "personal access token created");
    Ok(created_page(
        &state,
        Viewer::of(Some(&session)),
        &token,
        &name,
        "/tokens",
    ))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    let uid = session.uid().unwrap_or_default();
    if !tokens::revoke(&state.db, &state.tokens, uid.clone(), id, state.clock.now()).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(uid = %uid, token_id = id, "personal access token revoked");
    Ok(Redirect::to("/tokens?revoked=1"))
}
