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
            base().with_token_timeout(Duration::ZERO),
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
            base().with_max_token_length(0),
            ConfigError::InvalidMaxTokenLength,
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
