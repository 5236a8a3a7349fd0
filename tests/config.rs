//! Configuration: contradictions are refused before the first request, with a message that says
//! what is wrong; keys are typed errors, never panics.

mod common;

use axum::routing::get;
use axum::Router;
use common::*;
use sealed_session::{ConfigError, Key, KeyError, KeyRing, SameSite, SessionLayer};
use time::Duration;

fn base() -> SessionLayer {
    SessionLayer::new(key(1))
}

#[test]
fn the_defaults_are_valid() {
    assert_eq!(base().validate(), Ok(()));
}

#[test]
fn contradictions_are_refused_with_a_clear_message() {
    let cases: Vec<(SessionLayer, ConfigError, &str)> = vec![
        (
            base().with_domain("example.com"),
            ConfigError::HostPrefix {
                rule: "must not have a Domain",
            },
            "`__Host-` cookie must not have a Domain",
        ),
        (
            base().with_path("/app"),
            ConfigError::HostPrefix {
                rule: "must have Path=/",
            },
            "must have Path=/",
        ),
        (
            base().with_secure(false),
            ConfigError::HostPrefix {
                rule: "must be Secure; call with_secure(true) or use another name",
            },
            "must be Secure",
        ),
        (
            base().with_cookie_name("__Secure-s").with_secure(false),
            ConfigError::SecurePrefixWithoutSecure,
            "`__Secure-` cookie must be Secure",
        ),
        (
            base()
                .with_cookie_name("s")
                .with_secure(false)
                .with_same_site(SameSite::None),
            ConfigError::SameSiteNoneWithoutSecure,
            "SameSite=None requires Secure",
        ),
        (
            base()
                .with_cookie_name("s")
                .with_secure(false)
                .with_partitioned(true),
            ConfigError::PartitionedWithoutSecure,
            "Partitioned requires Secure",
        ),
        (
            base().with_cookie_name("bad name"),
            ConfigError::InvalidCookieName {
                name: "bad name".into(),
            },
            "tchar",
        ),
        (
            base().with_cookie_name("a;b"),
            ConfigError::InvalidCookieName { name: "a;b".into() },
            "tchar",
        ),
        (
            base().with_cookie_name(""),
            ConfigError::InvalidCookieName {
                name: String::new(),
            },
            "empty",
        ),
        (
            base().with_cookie_name("x".repeat(3700)),
            ConfigError::CookieNameTooLong { len: 3700 },
            "too little",
        ),
        (
            base().with_idle_timeout(Duration::days(31)),
            ConfigError::IdleAboveMaxAge,
            "idle timeout must not be longer than the max age",
        ),
        (
            base().with_refresh_interval(Duration::days(7)),
            ConfigError::RefreshNotBelowIdle,
            "refresh interval must be shorter than the idle timeout",
        ),
        (
            base().with_idle_timeout(Duration::ZERO),
            ConfigError::NonPositiveDuration {
                setting: "the idle timeout",
            },
            "must be positive",
        ),
        (
            base().with_max_age(Duration::seconds(-5)),
            ConfigError::NonPositiveDuration {
                setting: "the max age",
            },
            "must be positive",
        ),
        (
            base().with_handler_timeout(Duration::ZERO),
            ConfigError::NonPositiveDuration {
                setting: "the token-handler timeout",
            },
            "must be positive",
        ),
        (
            base().with_cookie_name("s").with_path("no-slash"),
            ConfigError::InvalidPath {
                path: "no-slash".into(),
            },
            "must start with `/`",
        ),
        (
            base().with_cookie_name("s").with_domain("evil.com; Path=/"),
            ConfigError::InvalidDomain {
                domain: "evil.com; Path=/".into(),
            },
            "host name",
        ),
        (
            base().with_realm("a\"b"),
            ConfigError::InvalidRealm,
            "realm",
        ),
        (
            base().with_login_redirect("//evil.example"),
            ConfigError::InvalidLoginRedirect {
                path: "//evil.example".into(),
            },
            "same-origin",
        ),
        (
            base().with_login_redirect("/\\evil.example"),
            ConfigError::InvalidLoginRedirect {
                path: "/\\evil.example".into(),
            },
            "same-origin",
        ),
        (
            base().with_purpose(""),
            ConfigError::InvalidPurpose,
            "purpose",
        ),
        (
            base().with_max_credential_length(0),
            ConfigError::InvalidMaxCredentialLength,
            "bearer token",
        ),
    ];
    for (layer, expected, words) in cases {
        let error = layer.validate().unwrap_err();
        assert_eq!(error, expected);
        let message = error.to_string();
        assert!(
            message.starts_with("invalid SessionLayer configuration: "),
            "{message}"
        );
        assert!(message.contains(words), "{message:?} should say {words:?}");
    }
}

#[test]
fn a_lowercase_host_prefix_is_held_to_the_same_rules() {
    // Browsers match prefixes case-insensitively.
    assert!(matches!(
        base()
            .with_cookie_name("__host-s")
            .with_domain("example.com")
            .validate(),
        Err(ConfigError::HostPrefix { .. })
    ));
}

#[test]
fn insecure_development_cookies_need_a_name_without_a_prefix() {
    assert_eq!(
        base()
            .with_cookie_name("dev-session")
            .with_secure(false)
            .validate(),
        Ok(())
    );
}

#[test]
#[should_panic(
    expected = "invalid SessionLayer configuration: the idle timeout must not be longer than the max age"
)]
fn building_a_router_with_a_contradiction_panics_before_serving() {
    let layer = base().with_idle_timeout(Duration::days(60));
    let _router: Router = Router::new().route("/", get(|| async { "x" })).layer(layer);
}

#[test]
fn short_degenerate_and_duplicate_keys_are_typed_errors() {
    assert_eq!(
        Key::try_from(&[1u8; 32][..]).unwrap_err(),
        KeyError::TooShort { len: 32 }
    );
    assert_eq!(
        Key::try_from(vec![0u8; 64]).unwrap_err(),
        KeyError::Degenerate
    );
    assert_eq!(
        Key::try_from(b"secret".repeat(20)).unwrap_err(),
        KeyError::Degenerate
    );
    assert_eq!(
        KeyRing::new(key(1)).with_previous(key(1)).unwrap_err(),
        KeyError::DuplicateKey
    );
    assert_eq!(
        KeyRing::from_keys(key(1), [key(2), key(3), key(4), key(5)]).unwrap_err(),
        KeyError::TooManyPreviousKeys { count: 4 }
    );
    assert!(KeyError::TooShort { len: 32 }
        .to_string()
        .contains("expected >= 64"));
}

#[test]
fn debug_output_never_shows_key_material() {
    let material = material(1);
    let layer = SessionLayer::new(Key::try_from(material.clone()).unwrap());
    let shown = format!("{layer:?} {:?}", key(1));
    assert!(
        shown.contains("REDACTED") || shown.contains("keys: 1"),
        "{shown}"
    );
    let hex: String = material.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex[..16]));
    assert!(!shown.contains(&format!("{:?}", &material[..8])));
}

#[test]
fn skew_fractions_domains_and_fragments_are_checked() {
    assert_eq!(
        base().with_clock_skew(Duration::days(7)).validate(),
        Err(ConfigError::SkewNotBelowIdle)
    );
    assert!(matches!(
        base()
            .with_retry_after(Duration::milliseconds(500))
            .validate(),
        Err(ConfigError::NonPositiveDuration { .. })
    ));
    assert!(matches!(
        base()
            .with_idle_timeout(Duration::milliseconds(1500))
            .validate(),
        Err(ConfigError::NonPositiveDuration { .. })
    ));
    assert!(base()
        .with_retry_after(Duration::milliseconds(500))
        .validate()
        .unwrap_err()
        .to_string()
        .contains("whole number of seconds"));
    for domain in [
        "a..b",
        "example.com.",
        "-",
        "ex ample.com",
        &"a".repeat(254),
    ] {
        assert!(
            matches!(
                base().with_cookie_name("s").with_domain(domain).validate(),
                Err(ConfigError::InvalidDomain { .. })
            ),
            "{domain}"
        );
    }
    assert_eq!(
        base()
            .with_cookie_name("s")
            .with_domain(".example.com")
            .validate(),
        Ok(())
    );
    assert!(matches!(
        base()
            .with_cookie_name("s")
            .with_path(format!("/{}", "p".repeat(1024)))
            .validate(),
        Err(ConfigError::InvalidPath { .. })
    ));
    assert!(matches!(
        base().with_login_redirect("/auth#x").validate(),
        Err(ConfigError::InvalidLoginRedirect { .. })
    ));
    assert_eq!(
        base().with_login_redirect("/auth?next=1").validate(),
        Ok(())
    );
}

/// An unset idle timeout is the smaller of 7 days and the max age: a short max age alone is a
/// valid layer, the router builds, and sessions end at the max age.
#[tokio::test]
async fn a_short_max_age_alone_just_works_through_a_router() {
    assert_eq!(base().with_max_age(Duration::hours(24)).validate(), Ok(()));
    // Shorter than the default refresh interval and skew allowance: they shrink with it.
    assert_eq!(
        base().with_max_age(Duration::seconds(60)).validate(),
        Ok(())
    );
    assert_eq!(base().with_max_age(Duration::seconds(1)).validate(), Ok(()));

    let app = app_with(key(1), |l| l.with_max_age(Duration::hours(24)));
    let cookie = app.login("uid=alice").await;
    app.clock.advance(Duration::hours(23));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, "alice");
    // Past the max age (and so past the idle timeout it implies): the session is over.
    app.clock.advance(Duration::hours(1));
    let res = app.get_with_cookie("/me", &cookie).await;
    assert_eq!(res.status(), 401);
    assert_deletion(&res);
}

/// The implied idle timeout is the max age, not 7 days: a session idle for most of a short max
/// age still opens, and the cookie's `Max-Age` never passes the max age.
#[tokio::test]
async fn the_implied_idle_timeout_follows_the_max_age() {
    let app = app_with(key(1), |l| {
        l.with_max_age(Duration::hours(2)).with_persistent(true)
    });
    let res = app
        .send(
            axum::http::Request::post("/login?uid=bob")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let line = set_cookies(&res).join("\n");
    assert!(line.contains("; Max-Age=7200"), "{line}");
}

/// Explicit settings that contradict each other are still refused, by `validate` and when the
/// router is built, never per request.
#[test]
fn explicit_contradictions_are_still_refused() {
    assert_eq!(
        base()
            .with_max_age(Duration::hours(1))
            .with_idle_timeout(Duration::hours(2))
            .validate(),
        Err(ConfigError::IdleAboveMaxAge)
    );
    assert_eq!(
        base()
            .with_max_age(Duration::seconds(60))
            .with_refresh_interval(Duration::seconds(60))
            .validate(),
        Err(ConfigError::RefreshNotBelowIdle)
    );
    assert_eq!(
        base()
            .with_max_age(Duration::seconds(60))
            .with_clock_skew(Duration::seconds(90))
            .validate(),
        Err(ConfigError::SkewNotBelowIdle)
    );
}

#[test]
fn require_auth_validates_its_login_redirect() {
    use sealed_session::RequireAuth;
    assert_eq!(RequireAuth::authenticated().validate(), Ok(()));
    assert_eq!(
        RequireAuth::authenticated()
            .with_login_redirect("/auth")
            .validate(),
        Ok(())
    );
    for bad in [
        "//evil.example",
        "https://evil.example",
        "/a b",
        "/x#y",
        "auth",
    ] {
        assert_eq!(
            RequireAuth::authenticated()
                .with_login_redirect(bad)
                .validate(),
            Err(ConfigError::InvalidLoginRedirect { path: bad.into() }),
            "{bad}"
        );
    }
}
