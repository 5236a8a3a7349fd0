//! HTML: the page layout, escaping, and readable error pages (never a stack trace).

use axum::body::Body;
use axum::extract::{OptionalFromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use sealed_session::{Session, SessionError};

use crate::store::DbError;

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;opacity:.9}
main{max-width:60em;margin:1.2em auto;padding:0 1.2em}
h1{font-size:1.5em;margin:.3em 0 .6em}
table{border-collapse:collapse;background:#fff;margin:.5em 0 1em}
td,th{border:1px solid #d5dae0;padding:.35em .7em;text-align:left;vertical-align:top}
th{background:#eef1f4;white-space:nowrap}code,pre{background:#eef1f4;padding:.1em .3em;border-radius:3px}
pre{padding:.6em;white-space:pre-wrap;word-break:break-all}
.box{padding:.7em 1em;border-radius:4px;margin:.8em 0;border:1px solid}
.error{background:#fdecea;border-color:#f5c2c0}.ok{background:#e8f5e9;border-color:#b7dfb9}
.note{background:#fff8e1;border-color:#f3d98b}
form.inline{display:inline}button{font:inherit;padding:.3em .9em;cursor:pointer}
input[type=text],input[type=password],textarea{font:inherit;padding:.3em;width:22em;max-width:100%}
label{display:block;margin:.4em 0}.muted{color:#5f6b7a}
progress{width:22em;height:1.2em}
";

/// Who is looking at a page, for the header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Viewer {
    pub(crate) uid: Option<String>,
    pub(crate) admin: bool,
}

impl Viewer {
    pub(crate) fn of(session: Option<&Session>) -> Self {
        Self {
            uid: session.and_then(Session::uid),
            admin: session.is_some_and(|s| s.has_role("admin")),
        }
    }
}

/// A complete HTML page.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) title: String,
    pub(crate) viewer: Viewer,
    pub(crate) body: String,
    /// Reload the page after this many seconds (a running job).
    pub(crate) refresh: Option<u32>,
}

impl Page {
    pub(crate) fn new(title: impl Into<String>, viewer: Viewer, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            title: title.into(),
            viewer,
            body: body.into(),
            refresh: None,
        }
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn with_refresh(mut self, seconds: u32) -> Self {
        self.refresh = Some(seconds);
        self
    }

    pub(crate) fn render(&self) -> String {
        let who = match &self.viewer.uid {
            Some(uid) => format!(
                r#"<span class="who">signed in as <b id="who">{}</b></span>
<form class="inline" method="post" action="/logout"><button id="logout">Sign out</button></form>"#,
                escape(uid)
            ),
            None => r#"<span class="who"><a href="/login">Sign in</a></span>"#.to_owned(),
        };
        let admin = if self.viewer.admin {
            r#"<a href="/admin">Admin</a>"#
        } else {
            ""
        };
        let refresh = self
            .refresh
            .map(|s| format!(r#"<meta http-equiv="refresh" content="{s}">"#))
            .unwrap_or_default();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
{refresh}<title>{title} · sealed-session demo</title><style>{STYLE}</style></head>
<body><header><a href="/"><b>sealed-session demo</b></a><a href="/session">Session</a>
<a href="/tokens">Tokens</a>{admin}<a href="/api/builds">API</a>{who}</header>
<main><h1>{title}</h1>
{body}
</main></body></html>"#,
            title = escape(&self.title),
            body = self.body,
        )
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, Html(self.render())).into_response();
        // Pages show session details and, once, new tokens: never cache them.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A coloured box: `error`, `ok` or `note`.
pub(crate) fn notice(kind: &str, html: &str) -> String {
    format!(r#"<div class="box {kind}" id="notice-{kind}">{html}</div>"#)
}

/// A failure inside a handler, shown as a page; the details go to the log.
#[derive(Debug)]
pub(crate) enum AppError {
    Db(DbError),
    Session(SessionError),
    /// Something the user can fix: shown as is (400).
    BadRequest(String),
    /// The shared session store could not be reached (503): shown as is.
    Unavailable(String),
    NotFound,
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        Self::Session(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Self::Db(e) => {
                tracing::error!(error = %e, "database failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The demo's database failed to answer. The details are in the server's log."
                        .to_owned(),
                )
            }
            Self::Session(e) => {
                // SessionError's text never includes session values.
                tracing::error!(error = %e, "session change failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    format!("The session could not be changed: {e}."),
                )
            }
            Self::BadRequest(text) => (StatusCode::BAD_REQUEST, "That did not work", text),
            Self::Unavailable(text) => {
                tracing::warn!("session store unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again in a moment",
                    escape(&text),
                )
            }
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_owned(),
            ),
        };
        error_page(status, title, &text)
    }
}

/// An error page with a way back.
pub(crate) fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    error_page_for(Viewer::default(), status, title, text)
}

/// An error page with a way back, for `viewer`.
pub(crate) fn error_page_for(
    viewer: Viewer,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    let body = format!(
        r#"{}<p><a href="/">Home</a> · <a href="/session">Your session</a> · <a href="/login">Sign in</a></p>"#,
        notice(
            "error",
            &format!(
                "<b>{}</b><br>{}",
                status,
                escape(text).replace('\n', "<br>")
            )
        )
    );
    Page::new(title, viewer, body)
        .with_status(status)
        .into_response()
}

/// The fallback route.
pub(crate) async fn not_found() -> Response {
    AppError::NotFound.into_response()
}

/// Turns plain-text error responses (from `RequireAuth`, the extractors, or axum's own
/// rejections) into HTML pages for the browser routes. Status and headers are kept:
/// `WWW-Authenticate`, and any `Set-Cookie` that deletes a bad session cookie.
pub(crate) async fn html_errors(request: Request, next: Next) -> Response {
    // Who is asking, for the page header (resolved once per request, shared with the handler).
    let (mut parts, body) = request.into_parts();
    let session = <Session as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
        .await
        .ok()
        .flatten();
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (title, hint) = match status {
        StatusCode::UNAUTHORIZED => ("Sign in required", "Sign in, then try again."),
        StatusCode::FORBIDDEN => ("Not allowed", "Your account lacks what this page needs:"),
        StatusCode::SERVICE_UNAVAILABLE => ("Try again later", "A backend is busy or down."),
        s if s.is_server_error() => ("Something went wrong", "The details are in the log."),
        _ => ("That did not work", ""),
    };
    let page = error_page_for(
        Viewer::of(session.as_ref()),
        status,
        title,
        &format!("{hint}\n{}", text.trim()),
    );
    let (page_parts, page_body) = page.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(value) = page_parts.headers.get(&name) {
            parts.headers.insert(name, value.clone());
        }
    }
    Response::from_parts(parts, Body::new(page_body))
}

/// The page for a handler that panicked (tower-http's `CatchPanicLayer`): no panic message, no
/// backtrace; the default panic hook has written those to the server's stderr.
pub(crate) fn panic_page(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server hit a bug while answering. The details are in the server's log.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
