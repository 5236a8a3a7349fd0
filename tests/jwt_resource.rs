//! The resource server (`jwt` feature), end to end: JWT access tokens issued by a real
//! authorization server on 127.0.0.1 (`oauth2-mock-server` 8.2.3, wrapped by
//! `tests/oauth/jwt-mock.mjs`, which also forges tokens and breaks its JWKS on request), checked
//! by `JwtHandler` behind a real `Router` + `SessionLayer` + `RequireAuth`.
#![cfg(feature = "jwt")]

mod common;

use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::Query;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use common::node::NodeProvider;
use common::{body, key, log_capture};
use sealed_session::jwt::{ClaimMapping, HttpTransport, HyperTransport, Issuer, JwtHandler};
use sealed_session::scope::filter_covers;
use sealed_session::testing::ManualClock;
use sealed_session::{RequireAuth, Requirement, Session, SessionLayer, TokenCache};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt as _;

const AUDIENCE: &str = "https://api.example.org";
const TEST_DEADLINE: StdDuration = StdDuration::from_secs(60);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_DEADLINE, f)
        .await
        .expect("test deadline")
}

/// The authorization server (`tests/oauth/jwt-mock.mjs`), killed by pid when dropped.
struct Provider {
    issuer: String,
    transport: HyperTransport,
    _node: NodeProvider,
}

impl Provider {
    async fn start() -> Self {
        let node = NodeProvider::start(
            "jwt-mock.mjs",
            "oauth2-mock-server",
            &["--lifetime", "120"],
            false,
        )
        .await;
        Self {
            issuer: node.issuer.clone(),
            transport: HyperTransport::new(),
            _node: node,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let req = Request::post(self.url(path))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .unwrap();
        let res = self.transport.send(req).await.expect("provider reachable");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        serde_json::from_slice(res.body()).expect("json")
    }

    /// A token signed by the provider's current key, with these claims over the defaults
    /// (`iss`, `sub: alice`, `aud`, `iat`, `exp` in 10 minutes); `null` removes a claim.
    async fn sign(&self, request: Value) -> String {
        self.post("/__control/sign", request).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn token(&self, claims: Value) -> String {
        self.sign(json!({ "claims": claims })).await
    }

    async fn control(&self, what: &str, body: Value) {
        self.post(&format!("/__control/{what}"), body).await;
    }

    async fn count(&self, path: &str) -> u64 {
        let req = Request::get(self.url("/__control/counts"))
            .body(Vec::new())
            .unwrap();
        let res = self.transport.send(req).await.unwrap();
        let counts: Value = serde_json::from_slice(res.body()).unwrap();
        counts[path].as_u64().unwrap_or(0)
    }

    /// A client-credentials access token from the token endpoint, as a real client gets one.
    async fn client_credentials(&self, scope: &str) -> String {
        let form = format!(
            "grant_type=client_credentials&scope={}&aud={}",
            scope.replace(' ', "%20"),
            AUDIENCE.replace(':', "%3A").replace('/', "%2F")
        );
        let req = Request::post(self.url("/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.into_bytes())
            .unwrap();
        let res = self.transport.send(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let answer: Value = serde_json::from_slice(res.body()).unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    }

    fn issuer(&self) -> Issuer {
        Issuer::new(self.issuer.clone(), AUDIENCE)
    }
}

#[derive(serde::Deserialize)]
struct Topic {
    topic: String,
}

async fn me(session: Session) -> String {
    format!(
        "uid={} scopes={}",
        session.uid().unwrap_or_default(),
        session.scopes().join(",")
    )
}

fn router(handler: impl sealed_session::TokenHandler, clock: Option<ManualClock>) -> Router {
    let mut layer = SessionLayer::new(key(1))
        .with_token_handler(handler)
        .with_handler_timeout(Duration::seconds(2))
        .with_max_credential_length(16 * 1024);
    if let Some(clock) = clock {
        layer = layer.with_clock(clock);
    }
    Router::new()
        .route("/me", get(me))
        .route("/read", get(me).route_layer(RequireAuth::scope("read")))
        .route(
            "/scene1",
            get(me).route_layer(RequireAuth::all_of([Requirement::permits(
                "publish/realm/s/alice/scene1/objects",
            )])),
        )
        .route(
            "/publish",
            get(|s: Session, Query(q): Query<Topic>| async move {
                if s.permits(&format!("publish/{}", q.topic)) {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            }),
        )
        .route(
            "/subscribe",
            get(|s: Session, Query(q): Query<Topic>| async move {
                let wanted = format!("subscribe/{}", q.topic);
                if s.scopes()
                    .iter()
                    .any(|granted| filter_covers(granted, &wanted))
                {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            }),
        )
        .layer(layer)
}

async fn call(app: &Router, path: &str, token: &str) -> Response<Body> {
    let req = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(req).await.unwrap()
}

fn challenge(res: &Response<Body>) -> String {
    res.headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn handler(p: &Provider) -> JwtHandler {
    JwtHandler::new(p.issuer().with_jwks_url(p.url("/jwks")))
        .with_min_refetch_interval(StdDuration::from_secs(3600))
        .with_http_timeout(StdDuration::from_millis(500))
}

#[tokio::test]
async fn a_token_from_the_token_endpoint_opens_the_api() {
    within(async {
        let p = Provider::start().await;
        let app = router(JwtHandler::new(p.issuer()), None); // keys by discovery
        let token = p.client_credentials("read write").await;
        let res = call(&app, "/read", &token).await;
        assert_eq!(res.status(), StatusCode::OK);
        let text = body(res).await;
        assert_eq!(
            text,
            format!("uid={}#resource-tests scopes=read,write", p.issuer)
        );
        assert_eq!(p.count("/.well-known/openid-configuration").await, 1);
        assert_eq!(p.count("/jwks").await, 1);
        // Keys are cached: a second token costs no fetch.
        let token = p.client_credentials("read").await;
        assert_eq!(call(&app, "/read", &token).await.status(), StatusCode::OK);
        assert_eq!(p.count("/jwks").await, 1);
        // Without the scope: 403 insufficient_scope.
        let token = p.client_credentials("write").await;
        let res = call(&app, "/read", &token).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(challenge(&res).contains("insufficient_scope"));
    })
    .await;
}

#[tokio::test]
async fn forgeries_are_refused_with_401() {
    within(async {
        let p = Provider::start().await;
        let app = router(handler(&p), None);
        let good = p.token(json!({"scope": "read"})).await;
        assert_eq!(call(&app, "/read", &good).await.status(), StatusCode::OK);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // The challenge names the failed check, never the token.
        for (claims, check) in [
            (json!({"exp": 1}), "exp"),
            (json!({"aud": "https://other.example"}), "aud"),
            (json!({"nbf": 9_999_999_999u64}), "nbf"),
        ] {
            let res = call(&app, "/read", &p.token(claims).await).await;
            assert_eq!(
                challenge(&res),
                format!("Bearer realm=\"sealed-session\", error=\"invalid_token\", error_description=\"the token failed the {check} check\"")
            );
        }
        let forged = [
            ("alg none", p.sign(json!({"mode": "none"})).await),
            (
                "HS256 keyed with the public key",
                p.sign(json!({"mode": "hs256"})).await,
            ),
            (
                "another audience",
                p.token(json!({"aud": "https://other.example"})).await,
            ),
            ("no audience", p.token(json!({"aud": null})).await),
            ("exp past", p.token(json!({"exp": now - 600})).await),
            (
                "exp as a string",
                p.token(json!({"exp": (now + 600).to_string()})).await,
            ),
            ("no exp", p.token(json!({"exp": null})).await),
            ("nbf future", p.token(json!({"nbf": now + 600})).await),
            (
                "nbf as a string",
                p.token(json!({"nbf": (now + 600).to_string()})).await,
            ),
            (
                "another issuer named",
                p.token(json!({"iss": "https://evil.example"})).await,
            ),
            ("a JWE", p.sign(json!({"mode": "jwe"})).await),
            (
                "unknown crit",
                p.sign(json!({"header": {"crit": ["urn:example:x"], "urn:example:x": "y"}}))
                    .await,
            ),
            (
                "an ID token typ",
                p.sign(json!({"header": {"typ": "logout+jwt"}})).await,
            ),
            ("over the size limit", p.sign(json!({"pad": 9000})).await),
        ];
        let start = log_capture().len();
        for (what, token) in &forged {
            let res = call(&app, "/read", token).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert!(
                challenge(&res).contains("error_description=\"the token failed the "),
                "{what}"
            );
            assert!(
                challenge(&res).contains("error=\"invalid_token\""),
                "{what}"
            );
            assert!(!body(res).await.contains(token.as_str()));
        }
        let logs = log_capture().since(start);
        for (what, token) in &forged {
            assert!(!logs.contains(token.as_str()), "{what} logged");
        }
        // A payload signed by a key the provider never published, under its kid.
        let res = call(&app, "/read", &p.sign(json!({"mode": "foreign-key"})).await).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // ES256 from the same provider is accepted: it is in the JWKS and the allow-list.
        let es = p
            .sign(json!({"alg": "ES256", "claims": {"scope": "read"}}))
            .await;
        assert_eq!(call(&app, "/read", &es).await.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_an_unknown_kid_refetches_once() {
    within(async {
        let p = Provider::start().await;
        let app = router(handler(&p), None);
        let first = p.token(json!({"scope": "read"})).await;
        assert_eq!(call(&app, "/read", &first).await.status(), StatusCode::OK);
        assert_eq!(p.count("/jwks").await, 1);

        // The provider rotates: a token under the new key is accepted after one refetch,
        // without a restart, and the old key still works.
        p.control("rotate-keys", json!({})).await;
        let rotated = p.token(json!({"scope": "read"})).await;
        assert_eq!(call(&app, "/read", &rotated).await.status(), StatusCode::OK);
        assert_eq!(p.count("/jwks").await, 2);
        assert_eq!(call(&app, "/read", &first).await.status(), StatusCode::OK);
        assert_eq!(call(&app, "/read", &rotated).await.status(), StatusCode::OK);
        assert_eq!(p.count("/jwks").await, 2);

        // A kid that is not in the JWKS: one refetch (rate-limited from then on), then 401.
        let p2 = Provider::start().await;
        let app2 = router(handler(&p2), None);
        assert_eq!(
            call(&app2, "/read", &p2.token(json!({"scope": "read"})).await)
                .await
                .status(),
            StatusCode::OK
        );
        let unknown = p2.sign(json!({"header": {"kid": "not-published"}})).await;
        assert_eq!(
            call(&app2, "/read", &unknown).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(p2.count("/jwks").await, 2, "one refetch");
        for _ in 0..3 {
            assert_eq!(
                call(&app2, "/read", &unknown).await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(p2.count("/jwks").await, 2, "rate-limited");
    })
    .await;
}

#[tokio::test]
async fn a_key_from_another_issuer_is_refused() {
    within(async {
        let a = Provider::start().await;
        let b = Provider::start().await;
        let app = router(handler(&a), None);
        // B signs a token that claims to come from A: its kid is not in A's JWKS.
        let forged = b.token(json!({"iss": a.issuer, "scope": "read"})).await;
        assert_eq!(
            call(&app, "/read", &forged).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // And B's genuine token names an issuer this app does not trust.
        let theirs = b.token(json!({"scope": "read"})).await;
        assert_eq!(
            call(&app, "/read", &theirs).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            b.count("/jwks").await,
            0,
            "an untrusted issuer's keys are never fetched"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_503_never_401_nor_anonymous() {
    within(async {
        let p = Provider::start().await;
        let start = log_capture().len();
        for (mode, ms) in [("down", 0), ("garbage", 0), ("slow", 3000)] {
            p.control("jwks", json!({"mode": mode, "ms": ms})).await;
            let app = router(handler(&p), None);
            let token = p.token(json!({"scope": "read"})).await;
            let res = call(&app, "/me", &token).await;
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{mode}");
            assert!(res.headers().contains_key(header::RETRY_AFTER), "{mode}");
        }
        let logs = log_capture().since(start);
        assert!(
            logs.contains("not a JSON object"),
            "garbage is logged: {logs}"
        );
        assert!(logs.contains("no answer in time"), "the timeout is logged");

        // With the layer's own timeout shorter than the fetch's, still 503.
        p.control("jwks", json!({"mode": "slow", "ms": 3000})).await;
        let slow = JwtHandler::new(p.issuer().with_jwks_url(p.url("/jwks")))
            .with_http_timeout(StdDuration::from_secs(10));
        let app = router(slow, None);
        let res = call(&app, "/me", &p.token(json!({})).await).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

        // A known kid while the set is cached and the endpoint down: still served.
        p.control("jwks", json!({"mode": "normal"})).await;
        let app = router(handler(&p), None);
        assert_eq!(
            call(&app, "/me", &p.token(json!({})).await).await.status(),
            StatusCode::OK
        );
        p.control("jwks", json!({"mode": "down"})).await;
        assert_eq!(
            call(&app, "/me", &p.token(json!({})).await).await.status(),
            StatusCode::OK
        );
        // An unknown kid while the endpoint is down: the refetch fails, 503.
        let unknown = p
            .sign(json!({"header": {"kid": "rotated-while-down"}}))
            .await;
        assert_eq!(
            call(&app, "/me", &unknown).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    })
    .await;
}

#[tokio::test]
async fn expiry_is_enforced_even_from_the_token_cache() {
    within(async {
        let p = Provider::start().await;
        let now = OffsetDateTime::now_utc();
        let clock = ManualClock::new(now);
        let handler = handler(&p).with_clock(clock.clone());
        let cached = TokenCache::new(handler)
            .with_ttl(Duration::hours(1))
            .with_clock(clock.clone());
        let app = router(cached, Some(clock.clone()));
        let token = p
            .token(json!({"exp": now.unix_timestamp() + 120, "scope": "read"}))
            .await;
        assert_eq!(call(&app, "/read", &token).await.status(), StatusCode::OK);
        clock.advance(Duration::seconds(60));
        assert_eq!(call(&app, "/read", &token).await.status(), StatusCode::OK);
        clock.advance(Duration::seconds(61));
        let res = call(&app, "/read", &token).await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "a cached token past its exp"
        );
        assert!(challenge(&res).contains("invalid_token"));
        // A refusal through the cache names the handler's check.
        let res = call(
            &app,
            "/read",
            &p.token(json!({"aud": "https://other.example"})).await,
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            challenge(&res).contains("the token failed the aud check"),
            "{}",
            challenge(&res)
        );
    })
    .await;
}

#[tokio::test]
async fn issuers_never_share_rules_or_uids() {
    within(async {
        let a = Provider::start().await;
        let b = Provider::start().await;
        let handler = JwtHandler::new(
            a.issuer()
                .with_jwks_url(a.url("/jwks"))
                .with_mapping(ClaimMapping::new().with_roles_claim("realm_access.roles")),
        )
        .with_issuer(
            Issuer::new(b.issuer.clone(), "https://b-api.example.org")
                .with_jwks_url(b.url("/jwks"))
                .with_mapping(ClaimMapping::new().with_roles_claim("roles")),
        );
        let app = Router::new()
            .route(
                "/who",
                get(|s: Session| async move {
                    format!("{}|{}", s.uid().unwrap_or_default(), s.roles().join(","))
                }),
            )
            .layer(SessionLayer::new(key(2)).with_token_handler(handler));
        let claims =
            json!({"sub": "same-sub", "realm_access": {"roles": ["admin"]}, "roles": ["viewer"]});
        let from_a = a.token(claims.clone()).await;
        let mut b_claims = claims.clone();
        b_claims["aud"] = json!("https://b-api.example.org");
        let from_b = b.token(b_claims).await;
        let who_a = body(call(&app, "/who", &from_a).await).await;
        let who_b = body(call(&app, "/who", &from_b).await).await;
        assert_eq!(who_a, format!("{}#same-sub|admin", a.issuer));
        assert_eq!(who_b, format!("{}#same-sub|viewer", b.issuer));
        assert_ne!(who_a.split('|').next(), who_b.split('|').next());
        // A's audience is not B's: a token from B for A's API is refused by B's rules.
        let b_for_a = b.token(json!({"sub": "x"})).await;
        assert_eq!(
            call(&app, "/who", &b_for_a).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // A token signed by B but naming A as its issuer is checked with A's keys: refused.
        let b_as_a = b.token(json!({"iss": a.issuer, "sub": "x"})).await;
        assert_eq!(
            call(&app, "/who", &b_as_a).await.status(),
            StatusCode::UNAUTHORIZED
        );
    })
    .await;
}

#[tokio::test]
async fn arena_topic_claims_become_publish_and_subscribe_rights() {
    within(async {
        let p = Provider::start().await;
        let handler = JwtHandler::new(
            p.issuer().with_jwks_url(p.url("/jwks")).with_mapping(
                ClaimMapping::new()
                    .with_topic_claim("publ", "publish")
                    .with_topic_claim("subs", "subscribe"),
            ),
        );
        let app = router(handler, None);
        let token = p
            .token(json!({"publ": ["realm/s/alice/#"], "subs": ["realm/s/alice/#", "realm/s/public/+/objects"]}))
            .await;
        let get = |path: String| {
            let app = app.clone();
            let token = token.clone();
            async move { call(&app, &path, &token).await.status() }
        };
        assert_eq!(get("/scene1".into()).await, StatusCode::OK);
        assert_eq!(get("/publish?topic=realm/s/alice/scene1/objects".into()).await, StatusCode::OK);
        assert_eq!(get("/publish?topic=realm/s/bob/scene1/objects".into()).await, StatusCode::FORBIDDEN);
        assert_eq!(get("/publish?topic=realm/s/alice/%2B/objects".into()).await, StatusCode::FORBIDDEN, "publishing needs a concrete topic");
        assert_eq!(get("/subscribe?topic=realm/s/alice/%2B/objects".into()).await, StatusCode::OK);
        assert_eq!(get("/subscribe?topic=realm/s/public/%2B/objects".into()).await, StatusCode::OK);
        assert_eq!(get("/subscribe?topic=realm/s/%2B/scene1/objects".into()).await, StatusCode::FORBIDDEN);
        assert_eq!(get("/subscribe?topic=realm/%23".into()).await, StatusCode::FORBIDDEN);
        // Bob's token does not open Alice's scene.
        let bob = p.token(json!({"sub": "bob", "publ": ["realm/s/bob/#"]})).await;
        assert_eq!(call(&app, "/scene1", &bob).await.status(), StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn a_client_discovers_where_to_get_a_token() {
    use sealed_session::jwt::ProtectedResource;
    within(async {
        let p = Provider::start().await;
        let metadata = ProtectedResource::new(AUDIENCE)
            .with_authorization_server(p.issuer.clone())
            .with_scopes(["read", "write"]);
        let app = Router::new()
            .route("/read", get(me).route_layer(RequireAuth::scope("read")))
            .layer(
                SessionLayer::new(key(1))
                    .with_token_handler(JwtHandler::new(p.issuer()))
                    .with_resource_metadata(metadata.metadata_url()),
            )
            .route_service(&metadata.well_known_path(), metadata.service().unwrap());

        // 1. The API without a token: 401, whose challenge says where the metadata is.
        let res = app
            .clone()
            .oneshot(Request::get("/read").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let www = challenge(&res);
        let url = www
            .split("resource_metadata=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("resource_metadata in the challenge")
            .to_owned();
        assert_eq!(
            url,
            "https://api.example.org/.well-known/oauth-protected-resource"
        );
        // 2. The protected-resource metadata, at that URL's path (no token needed).
        let path = url.trim_start_matches("https://api.example.org");
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let doc: Value = serde_json::from_str(&body(res).await).unwrap();
        assert_eq!(
            doc["resource"], AUDIENCE,
            "the client checks it equals where it started"
        );
        let server = doc["authorization_servers"][0].as_str().unwrap().to_owned();
        // 3. The authorization server's metadata.
        let req = Request::get(format!("{server}/.well-known/openid-configuration"))
            .body(Vec::new())
            .unwrap();
        let as_meta: Value =
            serde_json::from_slice(p.transport.send(req).await.unwrap().body()).unwrap();
        assert_eq!(as_meta["issuer"], server.as_str());
        let token_endpoint = as_meta["token_endpoint"].as_str().unwrap();
        assert_eq!(token_endpoint, p.url("/token"));
        // 4. A token for this resource, by client credentials; 5. the API answers.
        let token = p.client_credentials("read").await;
        assert_eq!(call(&app, "/read", &token).await.status(), StatusCode::OK);
        // A refused token's challenge carries it too.
        let res = call(&app, "/read", "not.a.token").await;
        assert!(challenge(&res).contains(
            "resource_metadata=\"https://api.example.org/.well-known/oauth-protected-resource\""
        ));
        // The metadata is read-only.
        let res = app
            .oneshot(
                Request::post(metadata.well_known_path())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    })
    .await;
}

#[tokio::test]
async fn one_key_cache_serves_every_component_given_it() {
    use sealed_session::jwks::JwksCache;
    within(async {
        let p = Provider::start().await;
        // The same cache could go to `OAuthLogin::with_jwks_cache` for the login's ID tokens.
        let cache = JwksCache::from_url(p.url("/jwks"));
        let api = router(JwtHandler::new(p.issuer().with_jwks(cache.clone())), None);
        let admin_api = router(JwtHandler::new(p.issuer().with_jwks(cache.clone())), None);
        let token = p.token(json!({"scope": "read"})).await;
        assert_eq!(call(&api, "/read", &token).await.status(), StatusCode::OK);
        assert_eq!(
            call(&admin_api, "/read", &token).await.status(),
            StatusCode::OK
        );
        assert_eq!(p.count("/jwks").await, 1, "one fetch for both");
        assert!(!cache.is_empty());
    })
    .await;
}
