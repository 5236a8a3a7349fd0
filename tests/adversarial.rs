//! Adversarial suite: a mutation campaign over sealed session cookies (no mutant may open), and a
//! seal → open round-trip property over random valid sessions.
//!
//! CI runs a bounded campaign (20,000 mutants, a few seconds in debug). The full campaign runs at
//! least 10⁶ mutants and fails if it takes longer than 30 minutes:
//!
//! ```text
//! SEALED_SESSION_MUTATIONS=1000000 cargo test --release --test adversarial -- --nocapture
//! ```
//!
//! It prints `mutations: N generated, N refused, 0 accepted, 0 panics`, then the count per
//! operator, the number of no-ops skipped, and how many mutants were also sent through the
//! `Router`.
//!
//! How it works:
//! - 100 seed cookies: 70 valid for the layer under test (a ring of key 1, current, and key 2,
//!   previous), 10 sealed with foreign keys, 10 for another cookie name, 10 for another purpose.
//!   Plaintexts range from the smallest envelope (anonymous, about 70 bytes) to 3,000 bytes, log
//!   spaced, in pairs of equal size (same key, current/previous key, or foreign) for splices.
//! - Each case draws an operator, a seed and positions from a xorshift64* generator seeded per
//!   case (`SEALED_SESSION_MUTATION_SEED` changes the base seed). Nonces and session ids come from
//!   the OS RNG, so a finding prints the exact mutant and its seed cookies rather than a replay
//!   seed alone.
//! - Byte operators work on the decoded bytes and re-encode canonically; string operators change
//!   the spelling; transplant operators move a valid value to a layer it was not sealed for.
//! - Oracle: the mutant must not open with the layer it is presented to (`TestKit::open`, inside
//!   `catch_unwind`). Every 100th mutant (bounded) is also sent to `/me` through the `Router`,
//!   whose answer must be byte-identical to the answer to `garbage`: 401, the bare
//!   `WWW-Authenticate: Bearer realm="sealed-session"` challenge, and the deletion cookie.
//! - A mutant byte-identical to a seed valid for its layer (a true no-op, such as the URL-safe
//!   spelling of a value without `+` or `/`) is skipped, not counted. A different spelling of the
//!   same bytes is a mutant and must be refused; the campaign counts those too and requires some.
//!
//! `SEALED_SESSION_ROUND_TRIPS` sets the size of the round-trip property (default 2,000).

mod common;
use common::*;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration as StdDuration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use sealed_session::testing::{ManualClock, TestKit};
use sealed_session::{Identity, KeyRing, SessionLayer};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

const NAME: &str = "__Host-session";
const MOVED: &str = "__Host-moved";
const PURPOSE: &str = "another-app";
const BARE: &str = r#"Bearer realm="sealed-session""#;

/// Mutants in the CI run.
const DEFAULT_MUTATIONS: u64 = 20_000;
/// No run asks for more than this.
const MAX_MUTATIONS: u64 = 100_000_000;
/// Time allowed for the CI run and for a large run.
const CI_BUDGET: StdDuration = StdDuration::from_secs(120);
const LARGE_BUDGET: StdDuration = StdDuration::from_secs(30 * 60);
/// One mutant in this many goes through the `Router` too, up to a cap.
const HTTP_EVERY: u64 = 100;
const CI_HTTP_CAP: usize = 250;
const LARGE_HTTP_CAP: usize = 10_000;
const DEFAULT_SEED: u64 = 0x5EA1_ED5E_5510_0004;

const SEEDS: usize = 100;
const NONCE: usize = 12;
const TAG: usize = 16;
/// Plaintext sizes of the seeds: from the smallest envelope to about 3,000 bytes.
const SMALLEST: f64 = 70.0;
const LARGEST: f64 = 3_000.0;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Characters the string operators insert or append: base64 of both alphabets, padding, and
/// neighbours a lenient decoder might skip. No `;` and no SP/HTAB (the `Cookie` parser splits on
/// the first and trims the others at the ends, which would make the Router see another value).
const POOL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.%\"'~!*,:\\";

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG
// ---------------------------------------------------------------------------------------------

/// xorshift64*, seeded through splitmix64 so that neighbouring seeds give unrelated streams.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`; `n > 0`.
    fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "empty range");
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_u64(var: &str, default: u64, max: u64) -> u64 {
    match std::env::var(var) {
        Ok(text) => {
            let text = text.trim().replace('_', "");
            let n: u64 = text
                .parse()
                .unwrap_or_else(|_| panic!("{var} must be a number, not {text:?}"));
            n.clamp(1, max)
        }
        Err(_) => default,
    }
}

fn base_seed() -> u64 {
    match std::env::var("SEALED_SESSION_MUTATION_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("SEALED_SESSION_MUTATION_SEED: not a u64: {text:?}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

// ---------------------------------------------------------------------------------------------
// The layers a value can be presented to
// ---------------------------------------------------------------------------------------------

/// A layer configuration a value is sealed for or presented to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// The layer under test: key ring of key 1 (current) and key 2 (previous).
    Main,
    /// A layer with only the key of this seed.
    Foreign(u8),
    /// The same ring, another cookie name.
    MovedName,
    /// The same ring, another purpose.
    OtherPurpose,
}

const FOREIGN_KEYS: [u8; 4] = [3, 4, 5, 6];

impl Home {
    fn cookie_name(self) -> &'static str {
        match self {
            Self::MovedName => MOVED,
            _ => NAME,
        }
    }
}

/// One `App` (router + kit) per home, and the answer each gives to a garbage cookie on `/me`.
struct Homes {
    list: Vec<(Home, App, Snapshot)>,
}

type Snapshot = (StatusCode, HeaderMap, String);

async fn snapshot(res: Response<Body>) -> Snapshot {
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, body(res).await)
}

impl Homes {
    async fn new() -> Self {
        let ring = || KeyRing::new(key(1)).with_previous(key(2)).expect("ring");
        let mut apps = vec![
            (Home::Main, app_with(ring(), |l| l)),
            (
                Home::MovedName,
                app_with(ring(), |l| l.with_cookie_name(MOVED)),
            ),
            (
                Home::OtherPurpose,
                app_with(ring(), |l| l.with_purpose(PURPOSE)),
            ),
        ];
        for k in FOREIGN_KEYS {
            apps.push((Home::Foreign(k), app_with(key(k), |l| l)));
        }
        let mut list = Vec::new();
        for (home, app) in apps {
            let name = home.cookie_name();
            let garbage = HeaderValue::from_str(&format!("{name}=garbage")).expect("header");
            let res = app.get_with_cookie("/me", &garbage).await;
            // The reference answer every refused mutant must reproduce byte for byte.
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{home:?}");
            assert_eq!(header(&res, "www-authenticate"), Some(BARE), "{home:?}");
            assert_eq!(header(&res, "cache-control"), Some("no-store"), "{home:?}");
            let deletion = app.kit.deletion_line().to_str().expect("ascii").to_owned();
            assert!(deletion.starts_with(&format!("{name}=;")), "{deletion}");
            assert!(deletion.contains("Max-Age=0"), "{deletion}");
            assert_eq!(session_cookies(&res, name), [deletion], "{home:?}");
            let reference = snapshot(res).await;
            list.push((home, app, reference));
        }
        Self { list }
    }

    fn get(&self, home: Home) -> &(Home, App, Snapshot) {
        self.list
            .iter()
            .find(|(h, ..)| *h == home)
            .expect("known home")
    }

    fn app(&self, home: Home) -> &App {
        &self.get(home).1
    }
}

// ---------------------------------------------------------------------------------------------
// Seed cookies
// ---------------------------------------------------------------------------------------------

struct Seed {
    home: Home,
    sealer: &'static str,
    uid: Option<String>,
    value: String,
    bytes: Vec<u8>,
}

impl Seed {
    fn describe(&self, index: usize) -> String {
        format!(
            "seed #{index} ({:?}, {}, uid {:?}, {} plaintext bytes): {}",
            self.home,
            self.sealer,
            self.uid,
            self.bytes.len() - NONCE - TAG,
            self.value
        )
    }
}

const UID_PIECES: &[&str] = &[
    "a", "b", "z", "A", "Q", "0", "7", "-", "_", ".", "@", "+", "/", "=", " ", "é", "ß", "日",
    "本", "😀", "\"", "\\", "\n", "\t", "\u{0}", "\u{7f}", "\u{2028}", "%", ";", ",",
];
const SCOPE_PIECES: &[&str] = &[
    "read", "write", "admin", "builds", "a", "Z", "9", "/", "+", "#", ":", ".", "-", "*", "ü", "$",
];

fn random_text(rng: &mut Rng, pieces: &[&str], min: usize, max: usize) -> String {
    let n = rng.between(min, max);
    (0..n).map(|_| *rng.pick(pieces)).collect()
}

fn random_list(rng: &mut Rng, max_items: usize, max_len: usize) -> Vec<String> {
    let n = rng.between(0, max_items);
    (0..n)
        .map(|_| random_text(rng, SCOPE_PIECES, 1, max_len))
        .collect()
}

/// A small identity for a seed cookie (the pad value supplies the size).
fn seed_identity(rng: &mut Rng) -> Identity {
    let mut identity = if rng.below(8) == 0 {
        Identity::anonymous()
    } else {
        Identity::new(random_text(rng, UID_PIECES, 1, 16))
    };
    if rng.coin() {
        identity = identity.with_scopes(random_list(rng, 3, 8));
    }
    identity
        .with_roles(random_list(rng, 2, 8))
        .with_groups(random_list(rng, 2, 8))
        .with_mfa(rng.coin())
        .with_role_account(rng.below(4) == 0)
}

fn plaintext_len(value: &str) -> usize {
    STANDARD.decode(value).expect("sealed base64").len() - NONCE - TAG
}

/// Seals `identity` with a pad value so that the plaintext is `target` bytes (or the smallest
/// possible when the identity alone is larger).
fn mint(kit: &TestKit, identity: &Identity, target: usize) -> String {
    let bare = kit.cookie_value(identity.clone());
    if plaintext_len(&bare) >= target {
        return bare;
    }
    let mut pad = 0usize;
    for _ in 0..4 {
        let padded = identity
            .clone()
            .with_value("pad", &"x".repeat(pad))
            .expect("json");
        let value = kit.cookie_value(padded);
        let len = plaintext_len(&value);
        if len == target || (len > target && pad == 0) {
            return value;
        }
        pad = (pad + target).saturating_sub(len);
    }
    panic!("could not size a seed to {target} bytes");
}

/// The 100 seeds: slot `i % 10` picks the layer, pairs `(2k, 2k + 1)` share an identity and a
/// size, and the size grows log-spaced with `i / 2`.
fn make_seeds(homes: &Homes, base: u64) -> Vec<Seed> {
    let previous = TestKit::new(&SessionLayer::new(key(2)).with_clock(ManualClock::new(T0)));
    let mut seeds = Vec::with_capacity(SEEDS);
    for i in 0..SEEDS {
        let (group, slot) = (i / 10, i % 10);
        let level = i / 2;
        let target = (SMALLEST * (LARGEST / SMALLEST).powf(level as f64 / 49.0)).round() as usize;
        let mut rng = Rng::new(base ^ (0x5EED_0000 + level as u64));
        let identity = if level == 0 {
            Identity::anonymous()
        } else {
            seed_identity(&mut rng)
        };
        let (home, sealer, kit) = match slot {
            0..=4 => (Home::Main, "key 1 (current)", &homes.app(Home::Main).kit),
            5 | 9 => (Home::Main, "key 2 (previous)", &previous),
            6 => {
                let k = FOREIGN_KEYS[group % FOREIGN_KEYS.len()];
                (
                    Home::Foreign(k),
                    "a foreign key",
                    &homes.app(Home::Foreign(k)).kit,
                )
            }
            7 => (
                Home::MovedName,
                "cookie name __Host-moved",
                &homes.app(Home::MovedName).kit,
            ),
            _ => (
                Home::OtherPurpose,
                "purpose another-app",
                &homes.app(Home::OtherPurpose).kit,
            ),
        };
        let value = mint(kit, &identity, target);
        let bytes = STANDARD.decode(&value).expect("base64");
        assert_eq!(STANDARD.encode(&bytes), value, "seeds are canonical");
        assert!(
            home.cookie_name().len() + value.len() <= 4096,
            "seed {i} fits a cookie: {} bytes",
            value.len()
        );
        seeds.push(Seed {
            home,
            sealer,
            uid: identity.uid().map(str::to_owned),
            value,
            bytes,
        });
    }
    seeds
}

// ---------------------------------------------------------------------------------------------
// Mutation operators
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    // Decoded bytes, re-encoded canonically.
    FlipNonce,
    FlipCiphertext,
    FlipTag,
    FlipMany,
    SetByte,
    TruncateBytes,
    TruncateFront,
    AppendBytes,
    InsertBytes,
    DeleteBytes,
    // Two cookies (same key, current and previous key, or different layers).
    SpliceNonce,
    SpliceCiphertext,
    SpliceTag,
    SpliceAt,
    Concat,
    // Spellings.
    UrlSafe,
    UrlSafeNoPad,
    StripPadding,
    ExtraPadding,
    UnusedBits,
    Quote,
    PercentEscape,
    PercentAny,
    Whitespace,
    LineBreaks,
    CaseFlip,
    CaseAll,
    TruncateChars,
    AppendChars,
    InsertChar,
    DeleteChar,
    ReplaceChar,
    SwapChars,
    NonAscii,
    DoubleEncode,
    NamePrefix,
    // A valid value presented to a layer it was not sealed for.
    MoveName,
    OtherPurpose,
    ForeignKey,
    // Two to four of the operators above in sequence.
    Stacked,
    // Exhaustive sweeps: every truncation length of a seed.
    SweepBytes,
    SweepChars,
}

const OP_COUNT: usize = Op::SweepChars as usize + 1;

/// The random operators and their weights.
const WEIGHTED: &[(Op, u32)] = &[
    (Op::FlipNonce, 6),
    (Op::FlipCiphertext, 8),
    (Op::FlipTag, 6),
    (Op::FlipMany, 4),
    (Op::SetByte, 4),
    (Op::TruncateBytes, 4),
    (Op::TruncateFront, 2),
    (Op::AppendBytes, 3),
    (Op::InsertBytes, 2),
    (Op::DeleteBytes, 2),
    (Op::SpliceNonce, 3),
    (Op::SpliceCiphertext, 3),
    (Op::SpliceTag, 3),
    (Op::SpliceAt, 2),
    (Op::Concat, 1),
    (Op::UrlSafe, 2),
    (Op::UrlSafeNoPad, 1),
    (Op::StripPadding, 2),
    (Op::ExtraPadding, 2),
    (Op::UnusedBits, 2),
    (Op::Quote, 2),
    (Op::PercentEscape, 2),
    (Op::PercentAny, 1),
    (Op::Whitespace, 3),
    (Op::LineBreaks, 1),
    (Op::CaseFlip, 2),
    (Op::CaseAll, 1),
    (Op::TruncateChars, 3),
    (Op::AppendChars, 2),
    (Op::InsertChar, 2),
    (Op::DeleteChar, 2),
    (Op::ReplaceChar, 3),
    (Op::SwapChars, 1),
    (Op::NonAscii, 2),
    (Op::DoubleEncode, 1),
    (Op::NamePrefix, 1),
    (Op::MoveName, 2),
    (Op::OtherPurpose, 2),
    (Op::ForeignKey, 2),
    (Op::Stacked, 6),
];

impl Op {
    fn is_splice(self) -> bool {
        matches!(
            self,
            Self::SpliceNonce
                | Self::SpliceCiphertext
                | Self::SpliceTag
                | Self::SpliceAt
                | Self::Concat
        )
    }

    fn is_transplant(self) -> bool {
        matches!(self, Self::MoveName | Self::OtherPurpose | Self::ForeignKey)
    }

    /// Operators that may produce another spelling of the same bytes.
    fn may_respell(self) -> bool {
        matches!(
            self,
            Self::UrlSafe
                | Self::UrlSafeNoPad
                | Self::StripPadding
                | Self::ExtraPadding
                | Self::UnusedBits
                | Self::Quote
                | Self::PercentEscape
                | Self::Whitespace
                | Self::LineBreaks
                | Self::Stacked
        )
    }
}

fn pick_op(rng: &mut Rng) -> Op {
    let total: u32 = WEIGHTED.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total as usize) as u32;
    for &(op, w) in WEIGHTED {
        if x < w {
            return op;
        }
        x -= w;
    }
    unreachable!()
}

fn digit(c: char) -> Option<usize> {
    ALPHABET.iter().position(|&b| char::from(b) == c)
}

/// Applies a one-value operator to `input` (the current spelling); `partner` is the second
/// cookie of a splice. `None` when the operator does not apply to this input.
fn apply(op: Op, rng: &mut Rng, input: &str, partner: &Seed, name: &str) -> Option<String> {
    let a = || STANDARD.decode(input).ok();
    let b = &partner.bytes;
    let bytes = match op {
        Op::FlipNonce => {
            let mut a = a()?;
            if a.len() < NONCE {
                return None;
            }
            let i = rng.below(NONCE);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipCiphertext => {
            let mut a = a()?;
            if a.len() <= NONCE + TAG {
                return None;
            }
            let i = NONCE + rng.below(a.len() - NONCE - TAG);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipTag => {
            let mut a = a()?;
            if a.len() < NONCE + TAG {
                return None;
            }
            let i = a.len() - TAG + rng.below(TAG);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipMany => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            for _ in 0..rng.between(2, 8) {
                let i = rng.below(a.len());
                a[i] ^= 1 << rng.below(8);
            }
            a
        }
        Op::SetByte => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            let i = rng.below(a.len());
            a[i] ^= rng.between(1, 255) as u8;
            a
        }
        Op::TruncateBytes => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            a.truncate(rng.below(a.len()));
            a
        }
        Op::TruncateFront => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            a.drain(..rng.between(1, a.len()));
            a
        }
        Op::AppendBytes => {
            let mut a = a()?;
            for _ in 0..rng.between(1, 32) {
                a.push(rng.byte());
            }
            a
        }
        Op::InsertBytes => {
            let mut a = a()?;
            let at = rng.below(a.len() + 1);
            let extra: Vec<u8> = (0..rng.between(1, 4)).map(|_| rng.byte()).collect();
            a.splice(at..at, extra);
            a
        }
        Op::DeleteBytes => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            let at = rng.below(a.len());
            let n = rng.between(1, 16.min(a.len() - at));
            a.drain(at..at + n);
            a
        }
        Op::SpliceNonce => {
            let a = a()?;
            if a.len() < NONCE || b.len() < NONCE {
                return None;
            }
            [&a[..NONCE], &b[NONCE..]].concat()
        }
        Op::SpliceCiphertext => {
            let a = a()?;
            if a.len() < NONCE + TAG || b.len() < NONCE + TAG {
                return None;
            }
            [&b[..NONCE], &a[NONCE..a.len() - TAG], &b[b.len() - TAG..]].concat()
        }
        Op::SpliceTag => {
            let a = a()?;
            if a.len() < TAG || b.len() < TAG {
                return None;
            }
            [&a[..a.len() - TAG], &b[b.len() - TAG..]].concat()
        }
        Op::SpliceAt => {
            let a = a()?;
            let at = rng.below(a.len().min(b.len()) + 1);
            [&a[..at], &b[at..]].concat()
        }
        Op::Concat => {
            let a = a()?;
            if rng.coin() {
                [&a[..], &b[..]].concat()
            } else {
                [&b[..], &a[..]].concat()
            }
        }
        _ => return respell(op, rng, input, name),
    };
    Some(STANDARD.encode(bytes))
}

/// The string operators.
fn respell(op: Op, rng: &mut Rng, input: &str, name: &str) -> Option<String> {
    let mut chars: Vec<char> = input.chars().collect();
    let n = chars.len();
    let pool = |rng: &mut Rng| char::from(*rng.pick(POOL));
    let out = match op {
        Op::UrlSafe => input.replace('+', "-").replace('/', "_"),
        Op::UrlSafeNoPad => input
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned(),
        Op::StripPadding => {
            if rng.coin() {
                input.trim_end_matches('=').to_owned()
            } else {
                input.strip_suffix('=')?.to_owned()
            }
        }
        Op::ExtraPadding => match rng.below(3) {
            0 => format!("{input}{}", "=".repeat(rng.between(1, 3))),
            1 => {
                chars.insert(rng.below(n + 1), '=');
                chars.into_iter().collect()
            }
            _ => format!("={input}"),
        },
        Op::UnusedBits => {
            let pad = chars.iter().rev().take_while(|&&c| c == '=').count();
            let unused = match pad {
                1 => 2,
                2 => 4,
                _ => return None,
            };
            let at = n.checked_sub(pad + 1)?;
            let d = digit(chars[at])?;
            let flip = rng.between(1, (1 << unused) - 1);
            chars[at] = char::from(ALPHABET[d ^ flip]);
            chars.into_iter().collect()
        }
        Op::Quote => match rng.below(6) {
            0 => format!("\"{input}\""),
            1 => format!("\"{input}"),
            2 => format!("{input}\""),
            3 => format!("'{input}'"),
            4 => format!("%22{input}%22"),
            _ => format!("\"{input}\"\""),
        },
        Op::PercentEscape => {
            let all = rng.coin();
            let lower = rng.coin();
            let mut out = String::with_capacity(input.len() + 16);
            for c in input.chars() {
                let code = match c {
                    '+' => "%2B",
                    '/' => "%2F",
                    '=' => "%3D",
                    _ => "",
                };
                if !code.is_empty() && (all || rng.coin()) {
                    if lower {
                        out.push_str(&code.to_ascii_lowercase());
                    } else {
                        out.push_str(code);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        Op::PercentAny => {
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            let c = chars[at];
            if !c.is_ascii() {
                return None;
            }
            let escaped: Vec<char> = format!("%{:02X}", c as u32).chars().collect();
            chars.splice(at..=at, escaped);
            chars.into_iter().collect()
        }
        Op::Whitespace => {
            if n < 2 {
                return None;
            }
            let ws = *rng.pick(&[
                " ", "\t", "\r\n", "\n", "\r", "\u{b}", "\u{c}", "\u{0}", "\u{a0}", "\u{3000}",
                "\u{2028}", "\u{feff}", "  ",
            ]);
            let at = rng.between(1, n - 1);
            chars.splice(at..at, ws.chars());
            chars.into_iter().collect()
        }
        Op::LineBreaks => {
            let width = *rng.pick(&[64, 76]);
            if n <= width {
                return None;
            }
            let sep = *rng.pick(&["\r\n", "\n", " "]);
            let mut out = String::new();
            for (i, c) in chars.iter().enumerate() {
                if i > 0 && i % width == 0 {
                    out.push_str(sep);
                }
                out.push(*c);
            }
            out
        }
        Op::CaseFlip => {
            let letters: Vec<usize> = (0..n).filter(|&i| chars[i].is_ascii_alphabetic()).collect();
            if letters.is_empty() {
                return None;
            }
            let at = *rng.pick(&letters);
            let c = chars[at];
            chars[at] = if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            chars.into_iter().collect()
        }
        Op::CaseAll => {
            if rng.coin() {
                input.to_ascii_uppercase()
            } else {
                input.to_ascii_lowercase()
            }
        }
        Op::TruncateChars => {
            if n == 0 {
                return None;
            }
            chars.truncate(rng.below(n));
            chars.into_iter().collect()
        }
        Op::AppendChars => {
            let mut out = input.to_owned();
            for _ in 0..rng.between(1, 8) {
                out.push(pool(rng));
            }
            out
        }
        Op::InsertChar => {
            let c = pool(rng);
            chars.insert(rng.below(n + 1), c);
            chars.into_iter().collect()
        }
        Op::DeleteChar => {
            if n == 0 {
                return None;
            }
            chars.remove(rng.below(n));
            chars.into_iter().collect()
        }
        Op::ReplaceChar => {
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            let mut c = char::from(*rng.pick(ALPHABET));
            if c == chars[at] {
                c = char::from(ALPHABET[(digit(c).unwrap_or(0) + 1) % 64]);
            }
            chars[at] = c;
            chars.into_iter().collect()
        }
        Op::SwapChars => {
            if n < 2 {
                return None;
            }
            let at = rng.below(n - 1);
            chars.swap(at, at + 1);
            chars.into_iter().collect()
        }
        Op::NonAscii => {
            let c = *rng.pick(&[
                '\u{ff0b}', '\u{ff0f}', '\u{ff1d}', '\u{ff21}', '\u{ff41}', 'é', '\u{200b}',
                '\u{feff}', '\u{391}', '\u{430}', '\u{2215}', '\u{ff10}',
            ]);
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            if rng.coin() {
                chars[at] = c;
            } else {
                chars.insert(at, c);
            }
            chars.into_iter().collect()
        }
        Op::DoubleEncode => STANDARD.encode(input.as_bytes()),
        Op::NamePrefix => format!("{name}={input}"),
        other => unreachable!("{other:?} is not a string operator"),
    };
    Some(out)
}

/// A mutant and where it came from.
struct Mutant {
    op: Op,
    target: Home,
    parents: Vec<usize>,
    value: String,
}

fn partner_of(rng: &mut Rng, i: usize) -> usize {
    if rng.coin() {
        i ^ 1 // The twin: same size; same key, current/previous key, or another layer.
    } else {
        let j = rng.below(SEEDS - 1);
        if j >= i {
            j + 1
        } else {
            j
        }
    }
}

fn seeds_of(seeds: &[Seed], home: impl Fn(Home) -> bool) -> Vec<usize> {
    (0..seeds.len()).filter(|&i| home(seeds[i].home)).collect()
}

struct Pools {
    main: Vec<usize>,
    moved: Vec<usize>,
    purpose: Vec<usize>,
    foreign: Vec<usize>,
}

fn draw(rng: &mut Rng, seeds: &[Seed], pools: &Pools) -> Option<Mutant> {
    let op = pick_op(rng);
    if op.is_transplant() {
        // A valid value, unchanged, presented to a layer it was not sealed for (both ways).
        let toward_main = rng.coin();
        let (from, to): (&[usize], Home) = match op {
            Op::MoveName if toward_main => (&pools.moved, Home::Main),
            Op::MoveName => (&pools.main, Home::MovedName),
            Op::OtherPurpose if toward_main => (&pools.purpose, Home::Main),
            Op::OtherPurpose => (&pools.main, Home::OtherPurpose),
            _ if toward_main => (&pools.foreign, Home::Main),
            _ => (&pools.main, Home::Foreign(*rng.pick(&FOREIGN_KEYS))),
        };
        let i = *rng.pick(from);
        return Some(Mutant {
            op,
            target: to,
            parents: vec![i],
            value: seeds[i].value.clone(),
        });
    }
    let i = rng.below(seeds.len());
    let mut parents = vec![i];
    let mut target = seeds[i].home;
    let name = |home: Home| home.cookie_name();
    let value = if op == Op::Stacked {
        let mut value = seeds[i].value.clone();
        let mut changed = false;
        for _ in 0..rng.between(2, 4) {
            let step = loop {
                let step = pick_op(rng);
                if !step.is_transplant() && step != Op::Stacked {
                    break step;
                }
            };
            let j = partner_of(rng, i);
            if let Some(next) = apply(step, rng, &value, &seeds[j], name(target)) {
                value = next;
                changed = true;
                if step.is_splice() {
                    parents.push(j);
                }
            }
        }
        if !changed {
            return None;
        }
        value
    } else {
        let j = partner_of(rng, i);
        let value = apply(op, rng, &seeds[i].value, &seeds[j], name(target))?;
        if op.is_splice() {
            parents.push(j);
            // Present the splice to either parent's layer.
            if rng.coin() {
                target = seeds[j].home;
            }
        }
        value
    };
    Some(Mutant {
        op,
        target,
        parents,
        value,
    })
}

/// Undoes the spelling changes a lenient decoder would forgive, and decodes leniently. `Some` of
/// the bytes if the mutant is another spelling of them.
fn lenient_bytes(value: &str) -> Option<Vec<u8>> {
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut text = value
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%22", "")
        .replace(
            ['"', '\'', '\u{feff}', '\u{a0}', '\u{3000}', '\u{2028}'],
            "",
        )
        .replace('-', "+")
        .replace('_', "/");
    text.retain(|c| !c.is_ascii_whitespace() && c != '\u{b}' && c != '\u{0}');
    let trimmed = text.trim_end_matches('=');
    lenient.decode(trimmed).ok()
}

// ---------------------------------------------------------------------------------------------
// The campaign
// ---------------------------------------------------------------------------------------------

struct Finding {
    case: u64,
    op: Op,
    target: Home,
    parents: Vec<usize>,
    value: String,
    what: String,
}

struct Campaign<'a> {
    homes: &'a Homes,
    seeds: &'a [Seed],
    generated: u64,
    refused: u64,
    accepted: u64,
    panics: u64,
    skipped: u64,
    respellings: u64,
    per_op: [u64; OP_COUNT],
    http_due: bool,
    http_cap: usize,
    http: Vec<(u64, Home, String)>,
    findings: Vec<Finding>,
}

impl Campaign<'_> {
    /// The oracle: the mutant must not open with the layer it is presented to.
    fn check(&mut self, case: u64, m: Mutant) {
        let seeds = self.seeds;
        if m.parents
            .iter()
            .any(|&p| seeds[p].home == m.target && seeds[p].value == m.value)
        {
            // A true no-op: byte-identical to a value valid for this layer.
            self.skipped += 1;
            return;
        }
        self.generated += 1;
        self.per_op[m.op as usize] += 1;
        let kit = &self.homes.app(m.target).kit;
        let value = m.value.as_str();
        let outcome = catch_unwind(AssertUnwindSafe(|| kit.open(value).map(|s| s.uid())));
        let what = match outcome {
            Ok(None) => {
                self.refused += 1;
                None
            }
            Ok(Some(uid)) => {
                self.accepted += 1;
                Some(format!("OPENED (uid {uid:?})"))
            }
            Err(_) => {
                self.panics += 1;
                Some("PANICKED".to_owned())
            }
        };
        if m.op.may_respell()
            && m.target == seeds[m.parents[0]].home
            && lenient_bytes(&m.value).as_deref() == Some(&seeds[m.parents[0]].bytes[..])
        {
            self.respellings += 1;
        }
        if self.generated % HTTP_EVERY == 0 {
            self.http_due = true;
        }
        if let Some(what) = what {
            if self.findings.len() < 20 {
                self.findings.push(Finding {
                    case,
                    op: m.op,
                    target: m.target,
                    parents: m.parents,
                    value: m.value,
                    what,
                });
            }
            return;
        }
        if self.http_due && self.http.len() < self.http_cap && self.http_able(&m) {
            self.http_due = false;
            self.http.push((case, m.target, m.value));
        }
    }

    /// Whether the Router would see exactly this value: a valid header field, no `;`, and not
    /// OWS-trimmed into a valid value.
    fn http_able(&self, m: &Mutant) -> bool {
        let name = m.target.cookie_name();
        let trimmed = m.value.trim_matches([' ', '\t']);
        !m.value.contains(';')
            && HeaderValue::from_bytes(format!("{name}={}", m.value).as_bytes()).is_ok()
            && !m
                .parents
                .iter()
                .any(|&p| self.seeds[p].home == m.target && self.seeds[p].value == trimmed)
    }

    fn report(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "\n- case {} (PRNG seed {:#x}), operator {:?}, presented to {:?} as {}: {}\n  mutant: {:?}\n",
                f.case,
                case_seed(base_seed(), f.case),
                f.op,
                f.target,
                f.target.cookie_name(),
                f.what,
                f.value
            ));
            for &p in &f.parents {
                out.push_str(&format!("  from {}\n", self.seeds[p].describe(p)));
            }
        }
        out
    }
}

fn case_seed(base: u64, case: u64) -> u64 {
    base ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[tokio::test]
async fn no_mutant_of_a_sealed_cookie_opens() {
    let wanted = env_u64("SEALED_SESSION_MUTATIONS", DEFAULT_MUTATIONS, MAX_MUTATIONS);
    let large = wanted > DEFAULT_MUTATIONS;
    let budget = if large { LARGE_BUDGET } else { CI_BUDGET };
    let base = base_seed();
    let start = Instant::now();
    let over_budget = |generated: u64| {
        assert!(
            start.elapsed() <= budget,
            "mutation campaign over its time budget of {budget:?}: {generated} of {wanted} \
             mutants in {:?}",
            start.elapsed()
        );
    };

    let homes = Homes::new().await;
    let seeds = make_seeds(&homes, base);
    // Every seed opens with its own layer and through its own Router.
    for (i, seed) in seeds.iter().enumerate() {
        let app = homes.app(seed.home);
        let session = app
            .kit
            .open(&seed.value)
            .unwrap_or_else(|| panic!("{} does not open", seed.describe(i)));
        assert_eq!(session.uid(), seed.uid);
        let cookie = HeaderValue::from_str(&format!("{}={}", seed.home.cookie_name(), seed.value))
            .expect("header");
        let res = app.get_with_cookie("/me", &cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", seed.describe(i));
        assert_eq!(body(res).await, seed.uid.clone().unwrap_or_default());
    }
    let pools = Pools {
        main: seeds_of(&seeds, |h| h == Home::Main),
        moved: seeds_of(&seeds, |h| h == Home::MovedName),
        purpose: seeds_of(&seeds, |h| h == Home::OtherPurpose),
        foreign: seeds_of(&seeds, |h| matches!(h, Home::Foreign(_))),
    };
    assert_eq!(pools.main.len(), 70);

    let mut c = Campaign {
        homes: &homes,
        seeds: &seeds,
        generated: 0,
        refused: 0,
        accepted: 0,
        panics: 0,
        skipped: 0,
        respellings: 0,
        per_op: [0; OP_COUNT],
        http_due: false,
        http_cap: if large { LARGE_HTTP_CAP } else { CI_HTTP_CAP },
        http: Vec::new(),
        findings: Vec::new(),
    };

    // Phase 1: every truncation length (bytes, then characters) of the valid seeds, smallest
    // first, within a fifth of the run (all 70 valid seeds in a 10⁶ run).
    let mut by_size = pools.main.clone();
    by_size.sort_by_key(|&i| seeds[i].bytes.len());
    let mut sweep_left = wanted / 5;
    let mut swept = 0;
    let mut case = 0u64;
    for &i in &by_size {
        let seed = &seeds[i];
        let cost = (seed.bytes.len() + seed.value.len()) as u64;
        if cost > sweep_left {
            break;
        }
        sweep_left -= cost;
        swept += 1;
        for len in 0..seed.bytes.len() {
            let value = STANDARD.encode(&seed.bytes[..len]);
            c.check(
                case,
                Mutant {
                    op: Op::SweepBytes,
                    target: Home::Main,
                    parents: vec![i],
                    value,
                },
            );
            case += 1;
        }
        for len in 0..seed.value.len() {
            let value = seed.value[..len].to_owned();
            c.check(
                case,
                Mutant {
                    op: Op::SweepChars,
                    target: Home::Main,
                    parents: vec![i],
                    value,
                },
            );
            case += 1;
        }
        over_budget(c.generated);
    }

    // Phase 2: random operators until the count is reached.
    let mut not_applicable = 0u64;
    while c.generated < wanted {
        let mut rng = Rng::new(case_seed(base, case));
        match draw(&mut rng, &seeds, &pools) {
            Some(m) => c.check(case, m),
            None => not_applicable += 1,
        }
        case += 1;
        if case % 1024 == 0 {
            over_budget(c.generated);
        }
    }
    let fast = start.elapsed();

    // Phase 3: the sampled mutants through the Router must get the garbage answer, byte for byte.
    let samples = std::mem::take(&mut c.http);
    let mut http_findings = Vec::new();
    for (case, target, value) in &samples {
        let (_, app, reference) = homes.get(*target);
        let cookie =
            HeaderValue::from_bytes(format!("{}={value}", target.cookie_name()).as_bytes())
                .expect("checked header");
        let res = app.get_with_cookie("/me", &cookie).await;
        let got = snapshot(res).await;
        if &got != reference && http_findings.len() < 20 {
            http_findings.push(format!(
                "\n- case {case}, presented to {target:?}: status {} (expected 401), \
                 headers {:?}\n  mutant: {value:?}",
                got.0, got.1
            ));
        }
        over_budget(c.generated);
    }
    let elapsed = start.elapsed();

    eprintln!(
        "mutations: {} generated, {} refused, {} accepted, {} panics",
        c.generated, c.refused, c.accepted, c.panics
    );
    let ops: Vec<String> = WEIGHTED
        .iter()
        .map(|&(op, _)| op)
        .chain([Op::SweepBytes, Op::SweepChars])
        .map(|op| format!("{op:?} {}", c.per_op[op as usize]))
        .collect();
    eprintln!("mutations: per operator: {}", ops.join(", "));
    eprintln!(
        "mutations: every truncation length of {swept} valid seeds; {} skipped as byte-identical \
         no-ops; {not_applicable} draws not applicable; {} other spellings of a valid value's \
         bytes; {} sent through the Router on /me and compared with the answer to garbage; \
         {:.1} s fast path, {:.1} s total, {case} cases, base seed {base:#x}",
        c.skipped,
        c.respellings,
        samples.len(),
        fast.as_secs_f64(),
        elapsed.as_secs_f64()
    );

    assert!(
        c.accepted == 0 && c.panics == 0,
        "{} mutants opened and {} panicked:{}",
        c.accepted,
        c.panics,
        c.report()
    );
    assert!(
        http_findings.is_empty(),
        "mutants answered differently from garbage through the Router:{}",
        http_findings.concat()
    );
    assert_eq!(c.generated, c.refused);
    assert!(c.generated >= wanted);
    // The campaign is not vacuous: every operator ran, and other spellings of valid bytes were
    // among the refused mutants.
    for &(op, _) in WEIGHTED {
        assert!(c.per_op[op as usize] > 0, "{op:?} never ran");
    }
    assert!(c.per_op[Op::SweepBytes as usize] > 0);
    assert!(
        c.respellings > 0,
        "no re-spelling of a valid value was tried"
    );
    assert!(!samples.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Round-trip property
// ---------------------------------------------------------------------------------------------

fn random_json(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 4 } else { 6 }) {
        0 => Value::String(random_text(rng, UID_PIECES, 0, 48)),
        1 => json!(rng.next() as i64),
        2 => json!(rng.coin()),
        3 => json!(rng.below(1_000)),
        4 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(3) {
                map.insert(
                    random_text(rng, SCOPE_PIECES, 1, 6),
                    random_json(rng, depth - 1),
                );
            }
            Value::Object(map)
        }
    }
}

/// A random identity and the application values it carries.
fn random_identity(rng: &mut Rng) -> (Identity, Map<String, Value>) {
    let mut identity = if rng.below(10) == 0 {
        Identity::anonymous()
    } else {
        Identity::new(random_text(rng, UID_PIECES, 0, 32))
    };
    for _ in 0..rng.below(3) {
        identity = identity.with_metadata_entry(
            format!("k{}", random_text(rng, SCOPE_PIECES, 1, 6)),
            random_json(rng, 1),
        );
    }
    if rng.below(4) != 0 {
        identity = identity.with_scopes(random_list(rng, 6, 16));
    }
    identity = identity
        .with_roles(random_list(rng, 4, 16))
        .with_groups(random_list(rng, 4, 16))
        .with_mfa(rng.coin())
        .with_role_account(rng.coin());
    let mut values = Map::new();
    for _ in 0..rng.below(4) {
        let (k, v) = (random_text(rng, SCOPE_PIECES, 1, 8), random_json(rng, 2));
        identity = identity.with_json_value(k.clone(), v.clone());
        values.insert(k, v);
    }
    (identity, values)
}

#[tokio::test]
async fn random_valid_sessions_round_trip_through_seal_and_open() {
    let cases = env_u64("SEALED_SESSION_ROUND_TRIPS", 2_000, 10_000_000);
    let base = base_seed() ^ 0x0123_4567_89AB_CDEF;
    let app = app();
    let start = Instant::now();
    let t0 = T0.unix_timestamp();
    let (idle, max_age, skew) = (7 * 86_400_i64, 30 * 86_400_i64, 60_i64);
    let mut through_router = 0;
    for case in 0..cases {
        let mut rng = Rng::new(case_seed(base, case));
        let (identity, values) = random_identity(&mut rng);
        // Timestamps a live session can have: created within the max age (or the skew allowance
        // ahead), last seen within the idle timeout and not before creation.
        let created = t0 - max_age + 1 + rng.below((max_age + skew) as usize) as i64;
        let low = created.max(t0 - idle + 1);
        let last_seen = low + rng.below((t0 + skew - low).max(1) as usize) as i64;
        assert!(created - t0 < skew && t0 - created < max_age && t0 - last_seen < idle);

        let value = app
            .kit
            .cookie_value_at(identity.clone(), created, last_seen);
        let what = || {
            format!(
                "case {case} (PRNG seed {:#x}): {value}",
                case_seed(base, case)
            )
        };
        assert_eq!(
            STANDARD.encode(STANDARD.decode(&value).expect("base64")),
            value
        );
        if NAME.len() + value.len() > 4096 {
            // The kit does not size-check; such a session would never be sealed by the layer.
            assert!(start.elapsed().as_secs() < 600);
            continue;
        }
        let s = app
            .kit
            .open(&value)
            .unwrap_or_else(|| panic!("does not open: {}", what()));
        let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).expect("timestamp");
        assert_eq!(s.uid().as_deref(), identity.uid(), "{}", what());
        assert_eq!(s.metadata(), *identity.metadata(), "{}", what());
        let scopes: Vec<String> = match identity.metadata().get("scope") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().expect("str").to_owned())
                .collect(),
            _ => Vec::new(),
        };
        assert_eq!(s.scopes(), scopes, "{}", what());
        assert_eq!(s.roles(), identity.roles(), "{}", what());
        assert_eq!(s.groups(), identity.groups(), "{}", what());
        assert_eq!(s.mfa(), identity.mfa(), "{}", what());
        assert_eq!(
            s.is_role_account(),
            identity.is_role_account(),
            "{}",
            what()
        );
        assert_eq!(s.created_at(), at(created), "{}", what());
        assert_eq!(s.last_seen(), at(last_seen), "{}", what());
        assert_eq!(s.auth_time(), at(created), "{}", what());
        for (k, v) in &values {
            assert_eq!(
                s.get::<Value>(k).expect("json").as_ref(),
                Some(v),
                "{}",
                what()
            );
        }
        // Sealing is randomised: the same session seals to another value, which opens the same.
        let again = app
            .kit
            .cookie_value_at(identity.clone(), created, last_seen);
        assert_ne!(again, value);
        assert_eq!(app.kit.open(&again).expect("opens").uid(), s.uid());

        // Every 50th through the Router: a live session.
        if case % 50 == 0 && through_router < 200 {
            through_router += 1;
            let res = app
                .get_with_cookie("/me", &app.kit.header_for(&value))
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{}", what());
            assert_eq!(
                body(res).await,
                identity.uid().unwrap_or_default(),
                "{}",
                what()
            );
        }
        assert!(
            start.elapsed().as_secs() < 600,
            "round trips over their time budget at case {case} of {cases}"
        );
    }
    eprintln!(
        "round trips: {cases} random sessions sealed and opened with every field intact, \
         {through_router} through the Router, {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
