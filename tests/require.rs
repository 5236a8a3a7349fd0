//! `RequireAuth` through a real `Router`: all_of / any_of semantics, every requirement kind, topic
//! filters, the login redirect, the rejection-body hook, and the missing-layer 500.

mod common;
use common::*;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use sealed_session::testing::{ManualClock, TestKit};
use sealed_session::{
    Auth, AuthRejection, Identity, RequireAuth, Requirement, Session, SessionLayer,
};

const BARE: &str = r#"Bearer realm="sealed-session""#;
/// A browser navigation (only those are sent to the login page).
const NAV: &[(&str, &str)] = &[("sec-fetch-mode", "navigate")];
const INVALID_TOKEN: &str = r#"Bearer realm="sealed-session", error="invalid_token""#;

/// One guarded route `/g` (plus the harness routes) behind a layer built by `tweak`.
struct Guarded {
    router: Router,
    kit: TestKit,
}

fn guarded_with(guard: RequireAuth, tweak: impl FnOnce(SessionLayer) -> SessionLayer) -> Guarded {
    let tokens = Tokens::default();
    let layer = tweak(
        SessionLayer::new(key(1))
            .with_clock(ManualClock::new(T0))
            .with_token_handler(tokens)
            .with_handler_timeout(time::Duration::milliseconds(300)),
    );
    let kit = TestKit::new(&layer);
    let router = routes()
        .route("/g", get(|| async { "granted" }).route_layer(guard))
        .route(
            "/secret",
            get(|| async { "secret" })
                .post(|| async { "posted" })
                .route_layer(RequireAuth::authenticated()),
        )
        .layer(layer);
    Guarded { router, kit }
}

fn guarded(guard: RequireAuth) -> Guarded {
    guarded_with(guard, |l| l)
}

impl Guarded {
    async fn send(&self, req: Request<Body>) -> Response<Body> {
        send(&self.router, req).await
    }

    async fn as_(&self, who: Identity) -> Response<Body> {
        self.get_as("/g", who).await
    }

    async fn get_as(&self, path: &str, who: Identity) -> Response<Body> {
        let req = Request::get(path)
            .header("cookie", self.kit.cookie_header(who))
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut req = Request::get(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }
}

/// Asserts a 403 whose text/plain body is exactly `reasons`, one per line.
async fn assert_forbidden(res: Response<Body>, reasons: &[&str]) {
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let content_type = header(&res, "content-type").unwrap_or_default().to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "content-type {content_type}"
    );
    assert_eq!(body(res).await, reasons.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// all_of / any_of
// ---------------------------------------------------------------------------------------------

fn combined() -> Guarded {
    guarded(
        RequireAuth::all_of([
            Requirement::mfa(),
            Requirement::role("ops"),
            Requirement::predicate("uid must start with a", |s: &Session| {
                s.uid().is_some_and(|u| u.starts_with('a'))
            }),
        ])
        .with_any_of([
            Requirement::group("infra"),
            Requirement::role("sre"),
            Requirement::human(),
        ]),
    )
}

#[tokio::test]
async fn all_of_and_any_of_pass_together() {
    let g = combined();
    let base = || Identity::new("alice").with_mfa(true).with_roles(["ops"]);
    // Each any_of requirement alone is enough (a role account fails `human`, so it needs another).
    for who in [
        base(),
        base().with_role_account(true).with_groups(["infra"]),
        base().with_role_account(true).with_roles(["ops", "sre"]),
    ] {
        let res = g.as_(who).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await, "granted");
    }
}

#[tokio::test]
async fn every_unmet_reason_is_reported_in_declaration_order() {
    let g = combined();
    // Everything unmet: all_of reasons, then any_of reasons, each in declaration order.
    let res = g.as_(Identity::new("bob").with_role_account(true)).await;
    assert_eq!(www(&res), None, "no scope is involved: no challenge");
    assert_forbidden(
        res,
        &[
            "multi-factor authentication required",
            "missing role: ops",
            "uid must start with a",
            "not in group: infra",
            "missing role: sre",
            "role accounts may not do this",
        ],
    )
    .await;
}

#[tokio::test]
async fn all_of_is_evaluated_in_full_and_a_passing_any_of_is_not_reported() {
    let g = combined();
    // Two of three all_of requirements unmet; any_of passes (a person).
    let res = g.as_(Identity::new("alice").with_roles(["dev"])).await;
    assert_forbidden(
        res,
        &["multi-factor authentication required", "missing role: ops"],
    )
    .await;
    // Only the predicate unmet.
    let res = g
        .as_(Identity::new("zed").with_mfa(true).with_roles(["ops"]))
        .await;
    assert_forbidden(res, &["uid must start with a"]).await;
}

#[tokio::test]
async fn a_failing_any_of_reports_every_alternative() {
    let g = combined();
    let res = g
        .as_(
            Identity::new("alice")
                .with_mfa(true)
                .with_roles(["ops"])
                .with_role_account(true),
        )
        .await;
    assert_forbidden(
        res,
        &[
            "not in group: infra",
            "missing role: sre",
            "role accounts may not do this",
        ],
    )
    .await;
}

#[tokio::test]
async fn reasons_follow_declaration_order_not_kind_order() {
    let g = guarded(RequireAuth::all_of([
        Requirement::group("wheel"),
        Requirement::predicate("custom first", |_s: &Session| false),
        Requirement::role("ops"),
        Requirement::mfa(),
    ]));
    let res = g.as_(Identity::new("alice")).await;
    assert_forbidden(
        res,
        &[
            "not in group: wheel",
            "custom first",
            "missing role: ops",
            "multi-factor authentication required",
        ],
    )
    .await;
    let g = guarded(
        RequireAuth::role("ops")
            .with_all_of([Requirement::group("wheel")])
            .with_all_of([Requirement::mfa()]),
    );
    let res = g.as_(Identity::new("alice")).await;
    assert_forbidden(
        res,
        &[
            "missing role: ops",
            "not in group: wheel",
            "multi-factor authentication required",
        ],
    )
    .await;
}

#[tokio::test]
async fn any_of_alone_passes_when_one_passes() {
    let g = guarded(RequireAuth::any_of([
        Requirement::role("a"),
        Requirement::role("b"),
    ]));
    assert_eq!(
        g.as_(Identity::new("x").with_roles(["b"])).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        g.as_(Identity::new("x").with_roles(["a", "b"]))
            .await
            .status(),
        StatusCode::OK
    );
    let res = g.as_(Identity::new("x").with_roles(["c"])).await;
    assert_forbidden(res, &["missing role: a", "missing role: b"]).await;
}

#[tokio::test]
async fn login_only_admits_any_session_including_one_without_uid() {
    let g = guarded(RequireAuth::authenticated());
    assert_eq!(
        g.as_(Identity::new("anyone")).await.status(),
        StatusCode::OK
    );
    assert_eq!(g.as_(Identity::anonymous()).await.status(), StatusCode::OK);
    let res = g.get("/g", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&res), Some(BARE));
}

#[tokio::test]
async fn anonymous_is_401_not_403_whatever_the_requirements() {
    let g = combined();
    let res = g.get("/g", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&res), Some(BARE));
    let res = g
        .get("/g", &[("authorization", "Bearer not-a-known-token")])
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&res), Some(INVALID_TOKEN));
}

// ---------------------------------------------------------------------------------------------
// Requirement kinds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn role_account_and_human() {
    let g = guarded(RequireAuth::from(Requirement::role_account()));
    assert_eq!(
        g.as_(Identity::new("ci").with_role_account(true))
            .await
            .status(),
        StatusCode::OK
    );
    let res = g.as_(Identity::new("alice")).await;
    assert_forbidden(res, &["only role accounts may do this"]).await;
    // Through a bearer token too: CI is a role account, GOOD is not.
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = g
        .get("/g", &[("authorization", "Bearer good-token-abc")])
        .await;
    assert_forbidden(res, &["only role accounts may do this"]).await;

    let g = guarded(RequireAuth::from(Requirement::human()));
    assert_eq!(g.as_(Identity::new("alice")).await.status(), StatusCode::OK);
    let res = g.as_(Identity::new("ci").with_role_account(true)).await;
    assert_forbidden(res, &["role accounts may not do this"]).await;
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_forbidden(res, &["role accounts may not do this"]).await;
}

#[tokio::test]
async fn human_passes_a_persons_bearer_token_interactive_needs_a_browser_session() {
    // `human`: the identity is a person (not a role account), whatever the credential.
    let g = guarded(RequireAuth::from(Requirement::human()));
    let res = g
        .get("/g", &[("authorization", "Bearer good-token-abc")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // `interactive`: a person at a browser, with a cookie session.
    let g = guarded(RequireAuth::interactive());
    assert_eq!(g.as_(Identity::new("alice")).await.status(), StatusCode::OK);
    let res = g
        .get("/g", &[("authorization", "Bearer good-token-abc")])
        .await;
    assert_forbidden(res, &["needs an interactive browser session"]).await;
    let res = g.as_(Identity::new("ci").with_role_account(true)).await;
    assert_forbidden(res, &["needs an interactive browser session"]).await;
    let g = guarded(RequireAuth::from(Requirement::interactive()));
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_forbidden(res, &["needs an interactive browser session"]).await;
}

#[tokio::test]
async fn mfa() {
    let g = guarded(RequireAuth::from(Requirement::mfa()));
    assert_eq!(
        g.as_(Identity::new("alice").with_mfa(true)).await.status(),
        StatusCode::OK
    );
    let res = g.as_(Identity::new("alice").with_mfa(false)).await;
    assert_forbidden(res, &["multi-factor authentication required"]).await;
    assert_eq!(
        g.get("/g", &[("authorization", "Bearer admin-token-xyz")])
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn group_and_role_match_exactly() {
    let g = guarded(RequireAuth::from(Requirement::group("infra")));
    assert_eq!(
        g.as_(Identity::new("a").with_groups(["web", "infra"]))
            .await
            .status(),
        StatusCode::OK
    );
    for groups in [vec!["Infra"], vec!["infra2"], vec!["infr"], vec![]] {
        let res = g.as_(Identity::new("a").with_groups(groups.clone())).await;
        assert_forbidden(res, &["not in group: infra"]).await;
    }
    // A role is not a group, nor the other way round.
    let res = g.as_(Identity::new("a").with_roles(["infra"])).await;
    assert_forbidden(res, &["not in group: infra"]).await;
    let g = guarded(RequireAuth::role("ops"));
    let res = g.as_(Identity::new("a").with_groups(["ops"])).await;
    assert_forbidden(res, &["missing role: ops"]).await;
}

#[tokio::test]
async fn a_predicate_reports_its_message() {
    let g = guarded(RequireAuth::from(Requirement::predicate(
        "account must be verified",
        |s: &Session| s.metadata().get("verified") == Some(&serde_json::Value::Bool(true)),
    )));
    let ok = Identity::new("a").with_metadata_entry("verified", serde_json::Value::Bool(true));
    assert_eq!(g.as_(ok).await.status(), StatusCode::OK);
    let res = g.as_(Identity::new("a")).await;
    assert_eq!(www(&res), None);
    assert_forbidden(res, &["account must be verified"]).await;
}

#[tokio::test]
async fn scopes_are_exact_and_report_insufficient_scope() {
    let g = guarded(RequireAuth::all_of(
        ["repo:read", "repo:write"].map(Requirement::scope),
    ));
    let both = Identity::new("a").with_scopes(["repo:read", "repo:write"]);
    assert_eq!(g.as_(both).await.status(), StatusCode::OK);

    // The challenge names the scope the route requires (RFC 6750 §3), the body what is missing.
    let res = g.as_(Identity::new("a").with_scopes(["repo:read"])).await;
    assert_eq!(
        www(&res),
        Some(
            r#"Bearer realm="sealed-session", error="insufficient_scope", scope="repo:read repo:write""#
        )
    );
    let parsed = challenge(&res).expect("a challenge");
    assert_eq!(parsed.scheme, "Bearer");
    assert_eq!(parsed.param("realm"), Some("sealed-session"));
    assert_eq!(parsed.param("error"), Some("insufficient_scope"));
    assert_eq!(parsed.param("scope"), Some("repo:read repo:write"));
    assert_forbidden(res, &["missing scope: repo:write"]).await;

    for scopes in [
        vec![],
        vec!["REPO:READ", "Repo:Write"],
        vec!["repo:*"],
        vec!["repo:#"],
        vec!["#"],
    ] {
        let res = g.as_(Identity::new("a").with_scopes(scopes.clone())).await;
        assert_eq!(
            www(&res),
            Some(
                r#"Bearer realm="sealed-session", error="insufficient_scope", scope="repo:read repo:write""#
            ),
            "{scopes:?}"
        );
        assert_forbidden(
            res,
            &["missing scope: repo:read", "missing scope: repo:write"],
        )
        .await;
    }
}

#[tokio::test]
async fn a_missing_scope_with_other_reasons_keeps_the_challenge_and_lists_all_reasons() {
    let g = guarded(RequireAuth::all_of([
        Requirement::role("ops"),
        Requirement::scope("admin"),
    ]));
    let res = g.as_(Identity::new("a")).await;
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin""#)
    );
    assert_forbidden(res, &["missing role: ops", "missing scope: admin"]).await;
}

// ---------------------------------------------------------------------------------------------
// Topic filters
// ---------------------------------------------------------------------------------------------

async fn permits(scopes: &[&str], resource: &str) -> StatusCode {
    let g = guarded(RequireAuth::from(Requirement::permits(resource)));
    g.as_(Identity::new("t").with_scopes(scopes.iter().copied()))
        .await
        .status()
}

#[tokio::test]
async fn permits_reads_granted_scopes_as_mqtt_topic_filters() {
    let cases: &[(&[&str], &str, bool)] = &[
        // `+` matches exactly one level.
        (&["scene/+/objects"], "scene/lab/objects", true),
        (&["scene/+/objects"], "scene/lab/kitchen/objects", false),
        (&["scene/+/objects"], "scene/objects", false),
        (&["scene/+"], "scene/lab", true),
        (&["scene/+"], "scene/lab/x", false),
        (&["+/+"], "a/b", true),
        // `#` matches the rest, including nothing.
        (&["scene/+/objects/#"], "scene/lab/objects/chair/7", true),
        (&["scene/+/objects/#"], "scene/lab/objects", true),
        (&["scene/+/objects/#"], "scene/lab/lights/1", false),
        (&["scene/#"], "scene", true),
        (&["scene/#"], "scenery/x", false),
        (&["#"], "anything/at/all", true),
        // `$` topics need an explicit first level.
        (&["#"], "$SYS/uptime", false),
        (&["+/uptime"], "$SYS/uptime", false),
        (&["+/#"], "$SYS/uptime", false),
        (&["$SYS/#"], "$SYS/uptime", true),
        (&["$SYS/+"], "$SYS/uptime", true),
        // ... and at every other level: neither `+` nor `#` covers a `$` level.
        (&["a/+"], "a/$x", false),
        (&["a/#"], "a/b/$x", false),
        (&["a/$x/#"], "a/$x/y", true),
        // A path-derived resource never climbs out of its grant: no `.`, `..` or empty levels.
        (&["scene/#"], "scene/../admin", false),
        (&["scene/+/objects"], "scene/../objects", false),
        (&["scene/+"], "scene/.", false),
        (&["scene/+"], "scene/", false),
        (&["scene/#"], "scene//x", false),
        (&["#"], "", false),
        // Case-sensitive; misplaced wildcards grant nothing; wildcards in the resource never match.
        (&["Scene/#"], "scene/lab", false),
        (&["scene/lab#"], "scene/lab", false),
        (&["scene/#/x"], "scene/a/x", false),
        (&["#"], "scene/+", false),
        (&["#"], "scene/#", false),
        // Several granted filters: any one is enough.
        (&["x/#", "builds/+/logs"], "builds/42/logs", true),
        (&[], "builds/42/logs", false),
    ];
    for (scopes, resource, allowed) in cases {
        let expected = if *allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            permits(scopes, resource).await,
            expected,
            "{scopes:?} -> {resource}"
        );
    }
}

#[tokio::test]
async fn permits_reports_the_resource_and_scope_stays_exact() {
    let g = guarded(RequireAuth::from(Requirement::permits("builds/42/write")));
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "CI holds builds/+/write");
    let res = g
        .get("/g", &[("authorization", "Bearer good-token-abc")])
        .await;
    assert_forbidden(res, &["no scope permits: builds/42/write"]).await;
    // `scope` does not expand the filter.
    let g = guarded(RequireAuth::scope("builds/42/write"));
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(res).await, "missing scope: builds/42/write");
    // But the filter itself, spelled exactly, is a granted scope.
    let g = guarded(RequireAuth::scope("builds/+/write"));
    let res = g
        .get("/g", &[("authorization", "Bearer ci-token-123")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Login redirect
// ---------------------------------------------------------------------------------------------

fn redirecting() -> Guarded {
    guarded_with(RequireAuth::scope("admin"), |l| {
        l.with_login_redirect("/auth")
    })
}

#[tokio::test]
async fn an_anonymous_browser_request_is_redirected_to_the_login_page() {
    let g = redirecting();
    let res = g.get("/secret?x=1&y=2", NAV).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/secret%3Fx%3D1%26y%3D2")
    );
    assert_eq!(www(&res), None, "a 302 is not a challenge");
    assert_no_set_cookie(&res);

    let res = g.get("/secret", NAV).await;
    assert_eq!(header(&res, "location"), Some("/auth?login=/secret"));
    let res = g.get("/secret?", NAV).await;
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/secret"),
        "a bare ? is dropped"
    );
    let res = g.get("/g?next=%2Fa%20b", NAV).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/g%3Fnext%3D%252Fa%2520b")
    );
    // The bare Session extractor redirects the same way; Option<Session> never does.
    let res = g.get("/me", NAV).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(header(&res, "location"), Some("/auth?login=/me"));
    let res = g.get("/optional", NAV).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "anonymous");
}

#[tokio::test]
async fn only_navigations_are_redirected_api_calls_get_the_401() {
    let g = redirecting();
    let navigations: [&[(&str, &str)]; 3] = [
        &[("sec-fetch-mode", "navigate")],
        &[
            ("sec-fetch-mode", "navigate"),
            ("accept", "application/json"),
        ],
        // No Fetch Metadata (an older browser): a GET that prefers HTML.
        &[(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )],
    ];
    for headers in navigations {
        let res = g.get("/secret", headers).await;
        assert_eq!(res.status(), StatusCode::FOUND, "{headers:?}");
    }
    let api_calls: [&[(&str, &str)]; 5] = [
        &[],
        &[("sec-fetch-mode", "cors")],
        &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
        &[("accept", "application/json")],
        &[("accept", "*/*")],
    ];
    for headers in api_calls {
        let res = g.get("/secret", headers).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(www(&res), Some(BARE));
    }
    // A JSON fetch POST without Fetch Metadata is not a navigation either.
    let req = Request::post("/secret")
        .header("accept", "text/html")
        .body(Body::empty())
        .expect("request");
    assert_eq!(g.send(req).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invalid_cookie_is_redirected_and_deleted() {
    let g = redirecting();
    let stale = g.kit.header_for("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let req = Request::get("/secret?x=1")
        .header("sec-fetch-mode", "navigate")
        .header("cookie", stale)
        .body(Body::empty())
        .expect("request");
    let res = g.send(req).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/secret%3Fx%3D1")
    );
    assert_deletion(&res);
}

#[tokio::test]
async fn an_authorization_header_or_x_no_redirect_gets_the_401() {
    let g = redirecting();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("authorization", "Basic YWxpY2U6c2VjcmV0")], BARE),
        (&[("authorization", "Negotiate abc")], BARE),
        (&[("x-no-redirect", "1")], BARE),
        (&[("X-No-Redirect", "")], BARE),
        (&[("authorization", "Bearer unknown-token")], INVALID_TOKEN),
        (&[("authorization", "Bearer \"bad\"")], INVALID_TOKEN),
    ];
    for (headers, challenge) in cases {
        for path in ["/secret?x=1&y=2", "/g", "/me"] {
            let res = g.get(path, headers).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{headers:?} {path}");
            assert_eq!(www(&res), Some(challenge), "{headers:?} {path}");
            assert_eq!(header(&res, "location"), None, "{headers:?} {path}");
        }
    }
}

#[tokio::test]
async fn a_logged_in_caller_without_the_requirement_gets_403_not_a_redirect() {
    let g = redirecting();
    let res = g.as_(Identity::new("bob")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&res, "location"), None);
    assert_eq!(
        www(&res),
        Some(r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin""#)
    );
    assert_eq!(
        g.as_(Identity::new("root").with_scopes(["admin"]))
            .await
            .status(),
        StatusCode::OK
    );
    // Two Authorization fields stay a 400.
    let req = Request::get("/secret")
        .header("authorization", "Bearer a")
        .header("authorization", "Bearer b")
        .body(Body::empty())
        .expect("request");
    assert_eq!(g.send(req).await.status(), StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// The rejection-body hook
// ---------------------------------------------------------------------------------------------

/// A hook that writes JSON problem details and also tries to override the status and the
/// matrix headers (which must not stick).
fn problem_json(r: &AuthRejection) -> axum::response::Response {
    let json = serde_json::json!({
        "status": r.status().as_u16(),
        "detail": r.body_text(),
        "reasons": r.reasons(),
    });
    (
        StatusCode::IM_A_TEAPOT,
        [
            ("content-type", "application/problem+json"),
            ("www-authenticate", "Basic realm=\"hook\""),
            ("retry-after", "999"),
            ("location", "https://evil.example/"),
            ("x-shaped", "yes"),
        ],
        json.to_string(),
    )
        .into_response()
}

async fn json_body(res: Response<Body>) -> serde_json::Value {
    serde_json::from_str(&body(res).await).expect("JSON body")
}

#[tokio::test]
async fn the_body_hook_shapes_bodies_but_not_the_matrix() {
    let g = guarded_with(
        RequireAuth::all_of([Requirement::scope("admin"), Requirement::mfa()]),
        |l| l.with_rejection_body(problem_json),
    );
    // (request, status, WWW-Authenticate)
    let anonymous = g.get("/g", &[]).await;
    let invalid = g.get("/g", &[("authorization", "Bearer nope")]).await;
    let repeated = {
        let req = Request::get("/g")
            .header("authorization", "Bearer a")
            .header("authorization", "Bearer b")
            .body(Body::empty())
            .expect("request");
        g.send(req).await
    };
    let forbidden = g.as_(Identity::new("bob")).await;
    let unavailable = g
        .get("/g", &[("authorization", "Bearer failing-token")])
        .await;
    let panicked = g
        .get("/g", &[("authorization", "Bearer panicking-token")])
        .await;
    let role_only = g.as_(Identity::new("bob").with_scopes(["admin"])).await;

    let rows = [
        (anonymous, StatusCode::UNAUTHORIZED, Some(BARE.to_owned())),
        (
            invalid,
            StatusCode::UNAUTHORIZED,
            Some(INVALID_TOKEN.to_owned()),
        ),
        (
            repeated,
            StatusCode::BAD_REQUEST,
            Some(r#"Bearer realm="sealed-session", error="invalid_request""#.to_owned()),
        ),
        (
            forbidden,
            StatusCode::FORBIDDEN,
            Some(
                r#"Bearer realm="sealed-session", error="insufficient_scope", scope="admin""#
                    .to_owned(),
            ),
        ),
        (unavailable, StatusCode::SERVICE_UNAVAILABLE, None),
        (panicked, StatusCode::INTERNAL_SERVER_ERROR, None),
        (role_only, StatusCode::FORBIDDEN, None),
    ];
    for (res, status, challenge) in rows {
        assert_eq!(res.status(), status);
        assert_eq!(www(&res).map(str::to_owned), challenge, "{status}");
        assert_eq!(
            res.headers().get_all("www-authenticate").iter().count(),
            usize::from(challenge.is_some())
        );
        assert_eq!(
            header(&res, "location"),
            None,
            "{status}: the hook cannot add a Location"
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let retry = header(&res, "retry-after").expect("Retry-After");
            assert_ne!(retry, "999", "the hook cannot change Retry-After");
            assert!(retry.parse::<u64>().is_ok_and(|s| s > 0));
        } else {
            assert_eq!(header(&res, "retry-after"), None, "{status}");
        }
        assert_eq!(
            header(&res, "content-type"),
            Some("application/problem+json"),
            "{status}"
        );
        assert_eq!(header(&res, "x-shaped"), Some("yes"), "{status}");
        let json = json_body(res).await;
        assert_eq!(json["status"], status.as_u16(), "{status}");
    }

    let res = g.as_(Identity::new("bob")).await;
    let json = json_body(res).await;
    assert_eq!(
        json["reasons"],
        serde_json::json!([
            "missing scope: admin",
            "multi-factor authentication required"
        ])
    );
}

#[tokio::test]
async fn the_body_hook_keeps_the_redirect() {
    let g = guarded_with(RequireAuth::authenticated(), |l| {
        l.with_login_redirect("/auth")
            .with_rejection_body(problem_json)
    });
    let res = g.get("/secret?x=1&y=2", NAV).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/secret%3Fx%3D1%26y%3D2")
    );
    assert_eq!(www(&res), None);
}

// ---------------------------------------------------------------------------------------------
// Missing layer, and the extractor's challenge
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_missing_session_layer_is_a_500_naming_it() {
    let router = Router::new()
        .route(
            "/me",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .route(
            "/optional",
            get(|s: Option<Session>| async move {
                s.map_or("anonymous".to_owned(), |s| s.uid().unwrap_or_default())
            }),
        )
        .route(
            "/logout",
            post(|auth: Auth| async move {
                auth.logout();
                "bye"
            }),
        )
        .route(
            "/g",
            get(|| async { "granted" }).route_layer(RequireAuth::authenticated()),
        )
        .route(
            "/admin",
            get(|| async { "admin" }).route_layer(RequireAuth::scope("admin")),
        );
    let requests = [
        Request::get("/me").body(Body::empty()),
        Request::get("/optional").body(Body::empty()),
        Request::post("/logout").body(Body::empty()),
        Request::get("/g").body(Body::empty()),
        Request::get("/admin")
            .header("authorization", "Bearer x")
            .body(Body::empty()),
    ];
    for req in requests {
        let req = req.expect("request");
        let path = req.uri().path().to_owned();
        let res = send(&router, req).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_no_set_cookie(&res);
        let text = body(res).await;
        assert!(text.contains("SessionLayer"), "{path}: {text}");
    }
}

#[tokio::test]
async fn the_extractor_401_carries_the_same_challenge_as_the_guard() {
    for realm in [None, Some("example.org")] {
        let g = guarded_with(RequireAuth::authenticated(), |l| match realm {
            Some(r) => l.with_realm(r),
            None => l,
        });
        let expected_realm = realm.unwrap_or("sealed-session");
        let cases: [(&[(&str, &str)], String); 4] = [
            (&[], format!(r#"Bearer realm="{expected_realm}""#)),
            (
                &[("authorization", "Basic YWxpY2U6c2VjcmV0")],
                format!(r#"Bearer realm="{expected_realm}""#),
            ),
            (
                &[("authorization", "Bearer unknown")],
                format!(r#"Bearer realm="{expected_realm}", error="invalid_token""#),
            ),
            (
                &[("cookie", "__Host-session=AAAA")],
                format!(r#"Bearer realm="{expected_realm}""#),
            ),
        ];
        for (headers, challenge) in cases {
            let extractor = g.get("/me", headers).await;
            let guard = g.get("/g", headers).await;
            assert_eq!(extractor.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(guard.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(www(&extractor), Some(challenge.as_str()), "{headers:?}");
            assert_eq!(www(&guard), Some(challenge.as_str()), "{headers:?}");
            assert_eq!(
                extractor.headers(),
                guard.headers(),
                "{headers:?}: identical headers"
            );
            assert_eq!(
                body(extractor).await,
                body(guard).await,
                "{headers:?}: identical bodies"
            );
        }
    }
}

#[tokio::test]
async fn a_valid_session_passes_the_guard_and_reaches_the_handler() {
    let g = guarded(RequireAuth::authenticated());
    let res = g.get_as("/secret", Identity::new("alice")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, "secret");
    // A fresh cookie is not re-sealed on a guarded GET.
    let res = g.get_as("/secret", Identity::new("alice")).await;
    assert!(set_cookies(&res).is_empty());
}

#[tokio::test]
async fn the_login_redirect_keeps_the_prefix_of_a_nested_router() {
    let layer = SessionLayer::new(key(1)).with_login_redirect("/auth");
    let inner = Router::new().route(
        "/me",
        get(|s: Session| async move { s.uid().unwrap_or_default() }),
    );
    let app = Router::new().nest("/api", inner).layer(layer);
    let res = send(
        &app,
        Request::get("/api/me?x=1")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/api/me%3Fx%3D1")
    );
}

#[tokio::test]
async fn a_guard_can_redirect_on_its_own_while_other_routes_answer_401() {
    let layer = SessionLayer::new(key(1));
    let app = Router::new()
        .route(
            "/dash",
            get(|| async { "dash" })
                .route_layer(RequireAuth::authenticated().with_login_redirect("/auth")),
        )
        .route(
            "/api",
            get(|| async { "api" }).route_layer(RequireAuth::authenticated()),
        )
        .layer(layer);
    let res = send(
        &app,
        Request::get("/dash?tab=2")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(
        header(&res, "location"),
        Some("/auth?login=/dash%3Ftab%3D2")
    );
    let res = send(
        &app,
        Request::get("/dash")
            .header("sec-fetch-mode", "navigate")
            .header("x-no-redirect", "1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = send(
        &app,
        Request::get("/api")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[test]
#[should_panic(expected = "invalid RequireAuth login redirect")]
fn a_guard_refuses_an_off_site_login_redirect_before_serving() {
    // axum applies route layers when the router gets its state, before any request is served.
    let _router: Router = Router::new()
        .route(
            "/x",
            get(|| async { "x" })
                .route_layer(RequireAuth::authenticated().with_login_redirect("/\\evil.example")),
        )
        .with_state(());
}
