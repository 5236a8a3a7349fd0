//! The smallest cookie login app: a login form sets the session, `/me` reads it, `/logout` deletes
//! it, and `/account` is guarded by a role. `cargo run --example cookie_login`, then open
//! <http://127.0.0.1:3000/login> (alice / wonderland). Its tests: `cargo test --examples`.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use sealed_session::{Auth, Identity, Key, RequireAuth, Session, SessionError, SessionLayer};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

const FORM: &str = r#"<form method="post"><input name="username"> <input name="password" type="password"> <button>Sign in</button></form>"#;

async fn login_form() -> Html<&'static str> {
    Html(FORM)
}

async fn login(auth: Auth, Form(form): Form<Credentials>) -> Result<Response, SessionError> {
    // A real app checks a password hash from its database (the demo's accounts.rs: Argon2id).
    let alice =
        form.username == "alice" && bool::from(form.password.as_bytes().ct_eq(b"wonderland"));
    if !alice {
        return Ok((StatusCode::UNAUTHORIZED, "wrong user name or password").into_response());
    }
    auth.login(Identity::new("alice").with_roles(["member"]))?; // the response carries the cookie
    Ok(Redirect::to("/me").into_response())
}

async fn me(session: Session) -> String {
    format!("signed in as {}", session.uid().unwrap_or_default())
}

async fn account(session: Session) -> String {
    format!("{}'s account page", session.uid().unwrap_or_default())
}

async fn logout(auth: Auth) -> Redirect {
    auth.logout(); // this response deletes the cookie
    Redirect::to("/login")
}

fn app(key: Key) -> Router {
    let members_only = get(account).route_layer(RequireAuth::role("member"));
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/me", get(me))
        .route("/account", members_only)
        .route("/logout", post(logout))
        // No session: browsers are sent to /login instead of a 401.
        .layer(SessionLayer::new(key).with_login_redirect("/login"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // A new key at each start signs everyone out: load yours from a secret store (see the demo).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("http://127.0.0.1:3000/login (alice / wonderland)");
    axum::serve(listener, app(Key::generate())).await
}

#[cfg(test)]
mod tests {
    use axum::http::{header, HeaderName, Request, StatusCode as S};
    use axum::{body::Body, response::Response};
    use tower::ServiceExt as _;

    const ALICE: &str = "username=alice&password=wonderland";

    /// `call(&app, "POST /login", cookie, form)`, as a browser navigation (a link or a form);
    /// an empty cookie sends none.
    async fn call(app: &axum::Router, line: &str, cookie: &str, form: &str) -> Response {
        let (method, path) = line.split_once(' ').unwrap();
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("sec-fetch-mode", "navigate");
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        let request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let request = request.body(Body::from(form.to_owned())).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    fn get(res: &Response, name: HeaderName) -> &str {
        res.headers().get(name).map_or("", |v| v.to_str().unwrap())
    }

    #[tokio::test]
    async fn login_me_guard_and_logout() {
        let app = super::app(sealed_session::Key::generate());
        for path in ["GET /me", "GET /account"] {
            let res = call(&app, path, "", "").await;
            assert_eq!(res.status(), S::FOUND, "no session: to the login page");
            assert!(get(&res, header::LOCATION).starts_with("/login?login="));
        }
        let res = call(&app, "POST /login", "", "username=alice&password=bad").await;
        assert_eq!(res.status(), S::UNAUTHORIZED);
        assert!(res.headers().get(header::SET_COOKIE).is_none());

        let res = call(&app, "POST /login", "", ALICE).await;
        assert_eq!(res.status(), S::SEE_OTHER);
        let set_cookie = get(&res, header::SET_COOKIE);
        assert!(set_cookie.starts_with("__Host-session=") && set_cookie.contains("; HttpOnly;"));
        let cookie = set_cookie.split(';').next().unwrap().to_owned();

        let res = call(&app, "GET /me", &cookie, "").await;
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"signed in as alice");
        let res = call(&app, "GET /account", &cookie, "").await;
        assert_eq!(res.status(), S::OK);

        let res = call(&app, "POST /logout", &cookie, "").await;
        assert_eq!(res.status(), S::SEE_OTHER);
        assert!(get(&res, header::SET_COOKIE).contains("Max-Age=0")); // deleted
    }
}
