//! `Cookie` header parsing through a real `Router`: several fields, hostile neighbours, look-alike
//! names, whitespace, quoting, size bounds, duplicates, and identical answers for every kind of
//! invalid cookie (no oracle).

mod common;
use common::*;

use std::time::{Duration as StdDuration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sealed_session::testing::TestKit;
use sealed_session::{Identity, SessionLayer};
use time::Duration;

const NAME: &str = "__Host-session";
const BARE: &str = r#"Bearer realm="sealed-session""#;

/// A request carrying each of `fields` as its own `Cookie` field, raw bytes.
fn with_cookies(path: &str, fields: &[&[u8]]) -> Request<Body> {
    let mut builder = Request::get(path);
    for field in fields {
        builder = builder.header(
            "cookie",
            HeaderValue::from_bytes(field).expect("cookie field"),
        );
    }
    builder.body(Body::empty()).expect("request")
}

fn pair(value: &str) -> String {
    format!("{NAME}={value}")
}

fn alice(app: &App) -> String {
    app.kit.cookie_value(Identity::new("alice"))
}

/// Asserts the request is the live session `uid` on `/me`, with nothing written back.
async fn assert_session(app: &App, fields: &[&[u8]], uid: &str, what: &str) {
    let res = app.send(with_cookies("/me", fields)).await;
    assert_eq!(res.status(), StatusCode::OK, "{what}");
    assert_no_set_cookie(&res);
    assert_eq!(body(res).await, uid, "{what}");
}

/// Asserts the request is anonymous on `/me` and `/optional`, and whether the response deletes
/// the cookie.
async fn assert_anonymous(app: &App, fields: &[&[u8]], deletion: bool, what: &str) {
    let res = app.send(with_cookies("/me", fields)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(header(&res, "www-authenticate"), Some(BARE), "{what}");
    if deletion {
        assert_deletion(&res);
    } else {
        assert_no_set_cookie(&res);
    }
    let res = app.send(with_cookies("/optional", fields)).await;
    assert_eq!(res.status(), StatusCode::OK, "{what}");
    if deletion {
        assert_deletion(&res);
    } else {
        assert_no_set_cookie(&res);
    }
    assert_eq!(body(res).await, "anonymous", "{what}");
}

// ---------------------------------------------------------------------------------------------
// Where the cookie is
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_cookie_is_found_in_any_cookie_field() {
    let app = app();
    let ours = pair(&alice(&app));
    assert_session(
        &app,
        &[b"a=1; b=2", ours.as_bytes()],
        "alice",
        "second field",
    )
    .await;
    assert_session(&app, &[ours.as_bytes(), b"a=1"], "alice", "first field").await;
    assert_session(
        &app,
        &[b"a=1", b"b=2", format!("c=3; {ours}; d=4").as_bytes()],
        "alice",
        "third field",
    )
    .await;
    assert_session(
        &app,
        &[b"", ours.as_bytes()],
        "alice",
        "after an empty field",
    )
    .await;
}

#[tokio::test]
async fn a_non_ascii_neighbour_does_not_hide_our_cookie() {
    let app = app();
    let ours = pair(&alice(&app));
    let fields: Vec<Vec<u8>> = vec![
        [&b"junk=\xc3\xa9t\xc3\xa9; "[..], ours.as_bytes()].concat(),
        [&b"junk=\xe9\xff\x80; "[..], ours.as_bytes()].concat(),
        [&b"\xe9\xe9=1; "[..], ours.as_bytes()].concat(),
        [ours.as_bytes(), &b"; junk=\xff\xfe"[..]].concat(),
        [
            &b"a=\xc3\xa9;"[..],
            ours.as_bytes(),
            &b";b=\xe2\x80\x80"[..],
        ]
        .concat(),
    ];
    for field in &fields {
        assert_session(&app, &[field], "alice", &String::from_utf8_lossy(field)).await;
    }
    // In its own field, too.
    assert_session(
        &app,
        &[b"junk=\xc3\xa9t\xc3\xa9", ours.as_bytes()],
        "alice",
        "separate field",
    )
    .await;
}

#[tokio::test]
async fn look_alike_names_are_not_our_cookie() {
    let app = app();
    let value = alice(&app);
    let names: Vec<Vec<u8>> = vec![
        b"%5F%5FHost-session".to_vec(),
        b"%5f%5fHost-session".to_vec(),
        b"__host-session".to_vec(),
        b"__HOST-SESSION".to_vec(),
        b"__Host-Session".to_vec(),
        b"__Host-session2".to_vec(),
        b"x__Host-session".to_vec(),
        b"__Secure-session".to_vec(),
        b"session".to_vec(),
        "\u{2000}__Host-session".as_bytes().to_vec(),
        "__Host-session\u{2000}".as_bytes().to_vec(),
        "\u{a0}__Host-session".as_bytes().to_vec(),
        b"__Host-session\xff".to_vec(),
        b"__Host%2Dsession".to_vec(),
    ];
    for name in &names {
        let field = [&name[..], b"=", value.as_bytes()].concat();
        // Not our cookie: anonymous, and no deletion since our cookie was not sent.
        assert_anonymous(&app, &[&field], false, &String::from_utf8_lossy(&field)).await;
    }
    // A nameless cookie whose value looks like our pair (the Werkzeug CVE-2023-23934 shape).
    let nameless = format!("={NAME}={value}");
    assert_anonymous(&app, &[nameless.as_bytes()], false, "nameless").await;
}

#[tokio::test]
async fn sp_and_htab_around_name_and_value_are_tolerated() {
    let app = app();
    let value = alice(&app);
    let fields = [
        format!("{NAME}={value}"),
        format!("  {NAME}={value}  "),
        format!("\t{NAME}\t=\t{value}\t"),
        format!("a=1 ;  {NAME} =  {value} ; b=2"),
        format!("a=1;{NAME}={value};b=2"),
        format!("a=1;\t \t{NAME}\t \t=\t \t{value}\t \t;b=2"),
    ];
    for field in &fields {
        assert_session(&app, &[field.as_bytes()], "alice", field).await;
    }
}

#[tokio::test]
async fn our_cookie_with_an_unusable_value_is_refused_and_deleted() {
    let app = app();
    let value = alice(&app);
    let fields: Vec<Vec<u8>> = vec![
        format!("{NAME}=\"{value}\"").into_bytes(),
        format!("{NAME}=\"{value}").into_bytes(),
        format!("{NAME}={value}\"").into_bytes(),
        format!("{NAME}=").into_bytes(),
        format!("{NAME}={value}{value}").into_bytes(),
        format!("{NAME}={value} x").into_bytes(),
        [format!("{NAME}={value}").as_bytes(), "\u{a0}".as_bytes()].concat(),
        [format!("{NAME}=").as_bytes(), b"\xff", value.as_bytes()].concat(),
    ];
    for field in &fields {
        assert_anonymous(&app, &[field], true, &String::from_utf8_lossy(field)).await;
    }
}

#[tokio::test]
async fn a_value_over_4096_bytes_is_refused_quickly() {
    let app = app();
    let valid = alice(&app);
    for len in [4097_usize, 8192, 65_536] {
        // Valid base64 digits, and our valid value as a prefix: refused on length alone.
        let mut long = valid.clone();
        long.push_str(&"A".repeat(len - valid.len()));
        assert_eq!(long.len(), len);
        let field = pair(&long);
        let start = Instant::now();
        assert_anonymous(&app, &[field.as_bytes()], true, &format!("{len} bytes")).await;
        assert!(
            start.elapsed() < StdDuration::from_millis(500),
            "{len} bytes took {:?}",
            start.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Duplicates and bounds
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_same_valid_value_twice_is_the_session() {
    let app = app();
    let ours = pair(&alice(&app));
    assert_session(
        &app,
        &[format!("{ours}; {ours}").as_bytes()],
        "alice",
        "one field",
    )
    .await;
    assert_session(
        &app,
        &[ours.as_bytes(), ours.as_bytes()],
        "alice",
        "two fields",
    )
    .await;
}

#[tokio::test]
async fn one_valid_and_one_garbage_value_is_the_session_in_either_order() {
    let app = app();
    let valid = alice(&app);
    let ours = pair(&valid);
    let mut flipped = STANDARD.decode(&valid).expect("base64");
    flipped[20] ^= 0x01;
    let garbage_values = [
        "garbage".to_owned(),
        "AAAA".to_owned(),
        String::new(),
        format!("\"{valid}\""),
        STANDARD.encode(&flipped),
        TestKit::new(&SessionLayer::new(key(2))).cookie_value(Identity::new("mallory")),
    ];
    for garbage in &garbage_values {
        let other = pair(garbage);
        let what = format!("with {garbage:.20}");
        assert_session(
            &app,
            &[format!("{ours}; {other}").as_bytes()],
            "alice",
            &what,
        )
        .await;
        assert_session(
            &app,
            &[format!("{other}; {ours}").as_bytes()],
            "alice",
            &what,
        )
        .await;
        assert_session(&app, &[other.as_bytes(), ours.as_bytes()], "alice", &what).await;
    }
}

#[tokio::test]
async fn two_different_valid_sessions_are_ambiguous_in_either_order() {
    let app = app();
    let a = pair(&alice(&app));
    let b = pair(&app.kit.cookie_value(Identity::new("bob")));
    let a2 = pair(&alice(&app));
    assert_ne!(a, a2, "two logins of one uid are two sessions");
    for fields in [
        vec![format!("{a}; {b}")],
        vec![format!("{b}; {a}")],
        vec![a.clone(), b.clone()],
        vec![b.clone(), a.clone()],
        vec![format!("{a}; {a2}")],
        vec![format!("{a}; garbage=1; {NAME}=junk; {b}")],
    ] {
        let fields: Vec<&[u8]> = fields.iter().map(|f| f.as_bytes()).collect();
        assert_anonymous(&app, &fields, true, "two sessions").await;
    }
}

#[tokio::test]
async fn fifty_cookie_pairs_are_handled() {
    let app = app();
    let ours = pair(&alice(&app));
    // 49 neighbours, then ours.
    let mut pairs: Vec<String> = (0..49).map(|i| format!("c{i}=v{i}")).collect();
    pairs.push(ours.clone());
    assert_session(&app, &[pairs.join("; ").as_bytes()], "alice", "50 pairs").await;
    // Ours first, then 49 neighbours.
    pairs.rotate_right(1);
    assert_session(&app, &[pairs.join("; ").as_bytes()], "alice", "ours first").await;
    // 50 separate Cookie fields.
    let fields: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
    assert_session(&app, &fields, "alice", "50 fields").await;
    // Ours first, then 49 garbage values under our name.
    let mut same: Vec<String> = vec![ours];
    same.extend((0..49).map(|i| pair(&format!("junk{i}"))));
    let start = Instant::now();
    assert_session(
        &app,
        &[same.join("; ").as_bytes()],
        "alice",
        "ours then 49 garbage",
    )
    .await;
    // 50 garbage values under our name: anonymous and deleted, in bounded time.
    let garbage: Vec<String> = (0..50)
        .map(|i| pair(&STANDARD.encode([i as u8; 120])))
        .collect();
    assert_anonymous(&app, &[garbage.join("; ").as_bytes()], true, "50 garbage").await;
    assert!(
        start.elapsed() < StdDuration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_64_kib_cookie_header_is_handled() {
    let app = app();
    let ours = pair(&alice(&app));
    let start = Instant::now();
    // Many neighbours filling 64 KiB, ours last.
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 64 * 1024 {
        big.push_str(&format!("n{i}={}; ", "v".repeat(100)));
        i += 1;
    }
    big.push_str(&ours);
    assert!(big.len() > 64 * 1024);
    assert_session(&app, &[big.as_bytes()], "alice", "64 KiB of neighbours").await;
    // One 64 KiB neighbour, ours after it.
    let field = format!("big={}; {ours}", "x".repeat(64 * 1024));
    assert_session(&app, &[field.as_bytes()], "alice", "one 64 KiB neighbour").await;
    // 64 KiB without any `=`, and 64 KiB of separators: nothing of ours.
    let no_eq = "x".repeat(64 * 1024);
    assert_anonymous(&app, &[no_eq.as_bytes()], false, "no =").await;
    let separators = ";".repeat(64 * 1024);
    assert_anonymous(&app, &[separators.as_bytes()], false, "separators").await;
    // 64 KiB of our name with garbage values.
    let mut ours_garbage = String::new();
    while ours_garbage.len() < 64 * 1024 {
        ours_garbage.push_str(&format!("{}; ", pair("AAAA")));
    }
    assert_anonymous(&app, &[ours_garbage.as_bytes()], true, "64 KiB of our name").await;
    assert!(
        start.elapsed() < StdDuration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// No oracle: every invalid cookie gets the same bytes back
// ---------------------------------------------------------------------------------------------

/// A sealed value whose base64 ends with padding, minted with a few uid lengths (bounded).
fn padded_value(kit: &TestKit) -> String {
    for n in 1..=6 {
        let value = kit.cookie_value(Identity::new("a".repeat(n)));
        if value.ends_with('=') {
            return value;
        }
    }
    panic!("no padded value in 6 tries");
}

/// A sealed value that contains `+` or `/`, so the URL-safe alphabet spells it differently.
fn value_with_plus_or_slash(kit: &TestKit) -> String {
    for _ in 0..64 {
        let value = kit.cookie_value(Identity::new("alice"));
        if value.contains(['+', '/']) {
            return value;
        }
    }
    panic!("no value with + or / in 64 tries");
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The invalid cookie values, each with its cause.
fn invalid_values(app: &App) -> Vec<(&'static str, String)> {
    let kit = &app.kit;
    let t0 = T0.unix_timestamp();
    let day = 86_400;
    let valid = alice(app);
    let bytes = STANDARD.decode(&valid).expect("base64");
    let flip = |i: usize| {
        let mut b = bytes.clone();
        b[i] ^= 0x01;
        STANDARD.encode(b)
    };
    let foreign_key = TestKit::new(&SessionLayer::new(key(2)).with_clock(app.clock.clone()));
    let foreign_name = TestKit::new(
        &SessionLayer::new(key(1))
            .with_clock(app.clock.clone())
            .with_cookie_name("__Host-other"),
    );
    let foreign_purpose = TestKit::new(
        &SessionLayer::new(key(1))
            .with_clock(app.clock.clone())
            .with_purpose("another-app"),
    );
    let padded = padded_value(kit);
    let with_plus_or_slash = value_with_plus_or_slash(kit);
    let url_safe = with_plus_or_slash.replace('+', "-").replace('/', "_");
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE
            .decode(&url_safe)
            .ok(),
        STANDARD.decode(&with_plus_or_slash).ok(),
        "the URL-safe spelling carries the same bytes"
    );
    // Unused low bits set in the last digit before the padding: same bytes, other spelling.
    let unused_bits = {
        let mut b = padded.clone().into_bytes();
        let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
        let i = b.len() - pad - 1;
        let digit = ALPHABET.iter().position(|&c| c == b[i]).expect("digit");
        b[i] = ALPHABET[digit | 1];
        String::from_utf8(b).expect("ascii")
    };
    // Both spellings carry the same bytes as the valid value.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let padded_bytes = STANDARD.decode(&padded).expect("base64");
    assert_eq!(
        lenient.decode(&unused_bits).ok().as_ref(),
        Some(&padded_bytes)
    );
    assert_eq!(
        lenient.decode(padded.trim_end_matches('=')).ok().as_ref(),
        Some(&padded_bytes)
    );
    assert_ne!(unused_bits, padded);

    vec![
        ("bit flip in the nonce", flip(0)),
        ("bit flip in the ciphertext", flip(bytes.len() / 2)),
        ("bit flip in the tag", flip(bytes.len() - 1)),
        (
            "truncated by one byte",
            STANDARD.encode(&bytes[..bytes.len() - 1]),
        ),
        (
            "truncated by half",
            STANDARD.encode(&bytes[..bytes.len() / 2]),
        ),
        ("truncated base64", valid[..valid.len() - 4].to_owned()),
        (
            "extended by one byte",
            STANDARD.encode([&bytes[..], &[0]].concat()),
        ),
        (
            "foreign key",
            foreign_key.cookie_value(Identity::new("alice")),
        ),
        (
            "sealed for another cookie name",
            foreign_name.cookie_value(Identity::new("alice")),
        ),
        (
            "sealed for another purpose",
            foreign_purpose.cookie_value(Identity::new("alice")),
        ),
        (
            "expired by idle",
            kit.cookie_value_at(Identity::new("alice"), t0 - 8 * day, t0 - 7 * day),
        ),
        (
            "expired by absolute age",
            kit.cookie_value_at(Identity::new("alice"), t0 - 30 * day, t0 - 60),
        ),
        (
            "created in the future",
            kit.cookie_value_at(Identity::new("alice"), t0 + day, t0 + day),
        ),
        ("missing padding", padded.trim_end_matches('=').to_owned()),
        ("extra padding", format!("{padded}=")),
        ("URL-safe alphabet", url_safe),
        ("unused bits set", unused_bits),
        ("garbage", "garbage".to_owned()),
        ("empty", String::new()),
        ("all zeros", STANDARD.encode([0_u8; 96])),
    ]
}

/// Everything a client sees of a response.
async fn snapshot(res: Response<Body>) -> (StatusCode, HeaderMap, String) {
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, body(res).await)
}

#[tokio::test]
async fn every_invalid_cookie_cause_gets_byte_identical_responses() {
    let app = app();
    let values = invalid_values(&app);
    // Every cause is really invalid (the valid cookie itself is accepted).
    assert_session(&app, &[pair(&alice(&app)).as_bytes()], "alice", "control").await;

    for path in ["/me", "/optional", "/guarded", "/admin", "/twice"] {
        let mut reference: Option<(&str, (StatusCode, HeaderMap, String))> = None;
        for (cause, value) in &values {
            let field = pair(value);
            let res = app.send(with_cookies(path, &[field.as_bytes()])).await;
            assert_deletion(&res);
            let snap = snapshot(res).await;
            match &reference {
                None => {
                    let expected = if path == "/optional" {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    };
                    assert_eq!(snap.0, expected, "{path} {cause}");
                    reference = Some((cause, snap));
                }
                Some((first, expected)) => {
                    assert_eq!(&snap, expected, "{path}: {cause} differs from {first}");
                }
            }
        }
    }
}

#[tokio::test]
async fn an_expired_cookie_answers_like_a_tampered_one_as_time_passes() {
    let app = app();
    let live = pair(&alice(&app));
    let tampered = pair("garbage");
    let before = snapshot(app.send(with_cookies("/me", &[tampered.as_bytes()])).await).await;
    app.clock.advance(Duration::days(7));
    let expired = snapshot(app.send(with_cookies("/me", &[live.as_bytes()])).await).await;
    let after = snapshot(app.send(with_cookies("/me", &[tampered.as_bytes()])).await).await;
    assert_eq!(expired, after);
    assert_eq!(before, after);
}
