//! The manifest's minimum versions stay past the releases with known advisories, so that an app
//! resolving its own lock file (or an MSRV-aware resolver) can never pick a vulnerable release
//! through this crate. `cargo deny` (deny.toml, in `.ci/run`) checks the lock file itself.

/// (crate, first fixed release, advisory).
const FIXED: &[(&str, &str, &str)] = &[
    (
        "time",
        "0.3.47",
        "RUSTSEC-2026-0009: stack exhaustion parsing RFC 2822",
    ),
    (
        "rustls",
        "0.23.18",
        "RUSTSEC-2024-0399: panic in the server acceptor (and RUSTSEC-2024-0336)",
    ),
    (
        "bytes",
        "1.11.1",
        "RUSTSEC-2026-0007: integer overflow in BytesMut::reserve",
    ),
    (
        "rand",
        "0.8.6",
        "RUSTSEC-2026-0097: ThreadRng unsound with a custom logger",
    ),
    (
        "tokio",
        "1.44.2",
        "RUSTSEC-2025-0023: broadcast channel unsound",
    ),
    (
        "url",
        "2.5.4",
        "RUSTSEC-2024-0421: idna accepts Punycode labels that decode to ASCII",
    ),
    (
        "aes-gcm",
        "0.10.3",
        "RUSTSEC-2023-0096: plaintext exposed on a failed tag check",
    ),
    (
        "cookie",
        "0.18.1",
        "RUSTSEC-2017-0005 and the 0.18 private-jar fixes",
    ),
];

const MANIFEST: &str = include_str!("../Cargo.toml");

/// The version requirement of `name` in the `[dependencies]` table.
fn requirement(name: &str) -> Option<String> {
    let deps = MANIFEST.split("\n[dependencies]\n").nth(1)?;
    let deps = deps.split("\n[").next()?;
    let line = deps
        .lines()
        .find(|l| l.starts_with(&format!("{name} = ")))?;
    let value = line.split_once(" = ")?.1;
    let quoted = match value.strip_prefix('{') {
        Some(table) => table.split("version = ").nth(1)?,
        None => value,
    };
    Some(quoted.split('"').nth(1)?.to_owned())
}

/// The lowest release a requirement admits: `0.3.47`, `~10.3` or `=1.2.3` read as written.
fn lowest(requirement: &str) -> Vec<u64> {
    requirement
        .trim_start_matches(['=', '~', '^', '>'])
        .split('.')
        .map(|p| p.parse().expect("a numeric version"))
        .collect()
}

fn at_least(have: &[u64], want: &[u64]) -> bool {
    let pad = |v: &[u64]| {
        (0..3)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    pad(have) >= pad(want)
}

#[test]
fn minimum_versions_are_past_known_advisories() {
    let mut stale = Vec::new();
    for (name, fixed, advisory) in FIXED {
        let req = requirement(name).unwrap_or_else(|| panic!("{name} is not a dependency"));
        if !at_least(&lowest(&req), &lowest(fixed)) {
            stale.push(format!(
                "{name} = \"{req}\" admits releases before {fixed} ({advisory})"
            ));
        }
    }
    assert!(stale.is_empty(), "{stale:#?}");
}

#[test]
fn rust_version_covers_the_minimum_versions() {
    // time 0.3.47 needs Rust 1.88: a lower rust-version would make an MSRV-aware resolver fall
    // back to a vulnerable time.
    let line = MANIFEST
        .lines()
        .find(|l| l.starts_with("rust-version = "))
        .expect("rust-version");
    let version = lowest(line.split('"').nth(1).expect("quoted"));
    assert!(at_least(&version, &[1, 88]), "{line}");
}

#[test]
fn the_reader_reads_this_manifest() {
    assert_eq!(requirement("aes-gcm").as_deref(), Some("0.10.3"));
    assert!(requirement("tokio").is_some());
    assert!(requirement("no-such-crate").is_none());
    assert!(at_least(&[0, 3, 47], &[0, 3, 47]));
    assert!(!at_least(&[0, 3, 36], &[0, 3, 47]));
    assert!(at_least(&[1, 88], &[1, 88, 0]));
}
