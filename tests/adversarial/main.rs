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
//!
//! The parts: `rng` (the generator and knobs), `homes` (the layers under test), `seeds` (the seed
//! cookies), `ops` and `respell` (the operators), `mutant` (drawing one), `campaign` (the
//! oracle and the report), `round_trip` (the property).

#[path = "../common/mod.rs"]
mod common;
use common::*;

mod campaign;
mod homes;
mod mutant;
mod ops;
mod respell;
mod rng;
mod round_trip;
mod seeds;

use campaign::*;
use homes::*;
use mutant::*;
use ops::*;
use respell::*;
use rng::*;
use seeds::*;

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

pub(crate) const NAME: &str = "__Host-session";
pub(crate) const MOVED: &str = "__Host-moved";
pub(crate) const PURPOSE: &str = "another-app";
pub(crate) const BARE: &str = r#"Bearer realm="sealed-session""#;

/// Mutants in the CI run.
pub(crate) const DEFAULT_MUTATIONS: u64 = 20_000;
/// No run asks for more than this.
pub(crate) const MAX_MUTATIONS: u64 = 100_000_000;
/// Time allowed for the CI run and for a large run.
pub(crate) const CI_BUDGET: StdDuration = StdDuration::from_secs(120);
pub(crate) const LARGE_BUDGET: StdDuration = StdDuration::from_secs(30 * 60);
/// One mutant in this many goes through the `Router` too, up to a cap.
pub(crate) const HTTP_EVERY: u64 = 100;
pub(crate) const CI_HTTP_CAP: usize = 250;
pub(crate) const LARGE_HTTP_CAP: usize = 10_000;
pub(crate) const DEFAULT_SEED: u64 = 0x5EA1_ED5E_5510_0004;

pub(crate) const SEEDS: usize = 100;
pub(crate) const NONCE: usize = 12;
pub(crate) const TAG: usize = 16;
/// Plaintext sizes of the seeds: from the smallest envelope to about 3,000 bytes.
pub(crate) const SMALLEST: f64 = 70.0;
pub(crate) const LARGEST: f64 = 3_000.0;

pub(crate) const ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// Characters the string operators insert or append: base64 of both alphabets, padding, and
/// neighbours a lenient decoder might skip. No `;` and no SP/HTAB (the `Cookie` parser splits on
/// the first and trims the others at the ends, which would make the Router see another value).
pub(crate) const POOL: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_.%\"'~!*,:\\";

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
