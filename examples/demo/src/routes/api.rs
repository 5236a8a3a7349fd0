//! The JSON API, for bearer tokens (and cookie sessions): scopes decide, not roles.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sealed_session::{Session, SessionSource};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::oauth;

fn caller(session: &Session) -> Value {
    json!({
        "uid": session.uid(),
        "source": match session.source() {
            SessionSource::Cookie => "cookie",
            SessionSource::Bearer => "bearer",
            _ => "other",
        },
        "role_account": session.is_role_account(),
        "scopes": session.scopes(),
    })
}

/// `GET /api/builds`: needs the scope `builds:read`.
pub(crate) async fn list_builds(session: Session) -> Json<Value> {
    Json(json!({
        "builds": [
            {"id": 41, "status": "passed"},
            {"id": 42, "status": "running"},
        ],
        "caller": caller(&session),
    }))
}

/// `POST /api/builds`: needs the scope `builds:write`.
pub(crate) async fn trigger_build(session: Session) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({"queued": 43, "caller": caller(&session)})),
    )
}

/// `GET /api/me`: the session as JSON (401 with a Bearer challenge without one).
pub(crate) async fn me(session: Session) -> Json<Value> {
    let mut out = caller(&session);
    out["roles"] = json!(session.roles());
    out["groups"] = json!(session.groups());
    out["created_at"] = json!(session.created_at().unix_timestamp());
    out["last_seen"] = json!(session.last_seen().unix_timestamp());
    out["auth_time"] = json!(session.auth_time().unix_timestamp());
    out["expires_at"] = json!(session.expires_at().map(|t| t.unix_timestamp()));
    Json(out)
}

/// `GET /demo/info`: the demo's settings, for scripts and the browser test.
pub(crate) async fn info(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "idle_timeout_seconds": state.config.idle_timeout.whole_seconds(),
        "max_age_seconds": state.config.max_age.whole_seconds(),
        "cookie": "__Host-session",
        "oauth": {
            "configured": state.oauth.is_some(),
            "available": oauth::AVAILABLE,
            "mount_path": oauth::MOUNT_PATH,
        },
    }))
}
