//! The report: criterion's medians read back, the medians and spreads over the interleaved passes,
//! the markdown table, and a met / not met line per target of issue 3, each ratio taken within a
//! pass and then the median over passes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::harness::{Allocs, FloorOf, Interleaved, Mode, Settings, Variant, Work, GROUP};
use crate::variants::Built;

pub(crate) fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion's median for a variant, if it wrote one during this run.
pub(crate) fn criterion_median(dir: &Path, id: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(GROUP).join(id).join("new").join("estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// The median per-iteration time of the last `n` samples criterion took (its measurement
/// phase follows the warm-up), for when criterion wrote no estimates (test mode).
pub(crate) fn captured_median(samples: &[(u64, Duration)], n: usize) -> Option<f64> {
    let start = samples.len().saturating_sub(n);
    median_of(
        samples[start..]
            .iter()
            .filter(|(iters, _)| *iters > 0)
            .map(|(iters, d)| d.as_nanos() as f64 / *iters as f64)
            .collect(),
    )
}

pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] * (1.0 - frac) + sorted[hi] * frac)
}

pub(crate) fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    values
}

pub(crate) fn median_of(values: Vec<f64>) -> Option<f64> {
    quantile(&sorted(values), 0.5)
}

pub(crate) struct Outcome {
    /// The median over passes of the interleaved sampling.
    pub(crate) median_ns: Option<f64>,
    /// (75th − 25th percentile) / median, over passes.
    pub(crate) iqr: Option<f64>,
    /// Criterion's median (its own pass), for comparison.
    pub(crate) criterion_ns: Option<f64>,
    pub(crate) allocs: Allocs,
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    let n = ns.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 {
        format!("−{out}")
    } else {
        out
    }
}

pub(crate) struct Report<'a> {
    pub(crate) variants: &'a [Variant],
    pub(crate) outcomes: &'a [Outcome],
    pub(crate) sampled: &'a Interleaved,
    /// Whether verdicts mean anything (not in criterion's test mode).
    pub(crate) evaluate: bool,
}

/// A target's value: the median over passes of the value computed within each pass, and the
/// middle half of the per-pass values.
pub(crate) struct Across {
    pub(crate) value: f64,
    p25: f64,
    p75: f64,
}

impl Across {
    fn detail(&self, digits: usize, unit: &str) -> String {
        format!(
            "{:.digits$}{unit} (middle half of passes: {:.digits$}–{:.digits$})",
            self.value, self.p25, self.p75
        )
    }
}

impl Report<'_> {
    fn index(&self, id: &str) -> Option<usize> {
        self.variants.iter().position(|v| v.id == id)
    }

    fn median(&self, id: &str) -> Option<f64> {
        self.outcomes[self.index(id)?].median_ns
    }

    /// A variant's time in one pass, or its median over all passes (`None`).
    fn at(&self, id: &str, pass: Option<usize>) -> Option<f64> {
        let i = self.index(id)?;
        match pass {
            Some(p) => self.sampled.samples[i].get(p).copied(),
            None => self.outcomes[i].median_ns,
        }
    }

    /// `id`'s time minus the bare handler's, in one pass or over all passes.
    fn over_bare(&self, id: &str, pass: Option<usize>) -> Option<f64> {
        Some(self.at(id, pass)? - self.at("bare", pass)?)
    }

    pub(crate) fn passes(&self) -> usize {
        self.sampled.samples.first().map_or(0, Vec::len)
    }

    /// `f` computed within each pass, then the median over passes.
    fn across(&self, f: impl Fn(Option<usize>) -> Option<f64>) -> Option<Across> {
        let values = sorted((0..self.passes()).filter_map(|p| f(Some(p))).collect());
        Some(Across {
            value: quantile(&values, 0.5)?,
            p25: quantile(&values, 0.25)?,
            p75: quantile(&values, 0.75)?,
        })
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| variant | median ns/request | IQR | criterion median | × bare | overhead over bare (ns) | overhead / floor | allocs/request | bytes allocated/request |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let floor_read = self.median("floor_read");
        let floor_write = self.median("floor_write");
        let bare = self.median("bare");
        for (v, o) in self.variants.iter().zip(self.outcomes) {
            let is_floor = matches!(v.work, Work::Floor(_));
            let median = o.median_ns.map_or("–".into(), fmt_ns);
            let iqr = o.iqr.map_or("–".into(), |s| format!("{:.0} %", s * 100.0));
            let criterion = o.criterion_ns.map_or("–".into(), fmt_ns);
            let (times_bare, overhead) = match (o.median_ns, bare) {
                (Some(m), Some(b)) if !is_floor && v.id != "bare" => {
                    (format!("{:.2}", m / b), fmt_ns(m - b))
                }
                _ => ("–".into(), "–".into()),
            };
            let floor = match v.floor_of {
                FloorOf::Read => floor_read,
                FloorOf::Write => floor_write,
                FloorOf::None => None,
            };
            let per_floor = match (o.median_ns, bare, floor) {
                (Some(m), Some(b), Some(f)) => format!("{:.2}", (m - b) / f),
                _ => "–".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {median} | {iqr} | {criterion} | {times_bare} | {overhead} | {per_floor} | {:.1} | {} |",
                v.label,
                o.allocs.calls,
                fmt_ns(o.allocs.bytes)
            );
        }
        out
    }

    pub(crate) fn targets(&self) -> String {
        let mut out = String::new();
        let evaluate = self.evaluate;
        let mut line = |name: &str, value: Option<(bool, String)>| {
            let _ = match value {
                Some((_, detail)) if !evaluate => {
                    writeln!(out, "- {name} — not evaluated (test mode): {detail}")
                }
                Some((met, detail)) => writeln!(
                    out,
                    "- {} — **{}**: {detail}",
                    name,
                    if met { "met" } else { "not met" }
                ),
                None => writeln!(
                    out,
                    "- {name} — no value (not measured, or a peer overhead ≤ 0 in this run)"
                ),
            };
        };
        // No ratio against a non-positive denominator (an overhead lost in noise in that pass).
        let ratio = |num: Option<f64>, den: Option<f64>| {
            let den = den.filter(|d| *d > 0.0)?;
            Some(num? / den)
        };

        let r = self.across(|p| ratio(self.over_bare("ours_read", p), self.at("floor_read", p)));
        line(
            "Cookie read: overhead / read floor ≤ 1.2",
            r.map(|a| (a.value <= 1.2, a.detail(2, ""))),
        );
        let r = self.across(|p| ratio(self.over_bare("ours_write", p), self.at("floor_write", p)));
        line(
            "Cookie write: overhead / write floor ≤ 1.3",
            r.map(|a| (a.value <= 1.3, a.detail(2, ""))),
        );
        for (id, what) in [
            (
                "ours_tampered",
                "Tampered cookie costs no more than a valid one",
            ),
            (
                "ours_foreign",
                "Foreign-key cookie costs no more than a valid one",
            ),
        ] {
            let r = self.across(|p| ratio(self.at(id, p), self.at("ours_read", p)));
            line(
                what,
                r.map(|a| (a.value <= 1.0, a.detail(2, "× the valid read"))),
            );
        }
        // Revocation (issue 11): the store check on a cookie read, and a revoked cookie.
        for (id, what) in [
            (
                "ours_read_memory",
                "Cookie read with revocation on (`MemoryStore`) ≤ 1.05 × with it off",
            ),
            (
                "ours_read_redis",
                "Cookie read with revocation on (`RedisStore` mirror) ≤ 1.05 × with it off",
            ),
        ] {
            let r = self.across(|p| ratio(self.at(id, p), self.at("ours_read", p)));
            line(
                what,
                r.map(|a| (a.value <= 1.05, a.detail(3, "× the read without a store"))),
            );
        }
        for (id, valid, what) in [
            (
                "ours_read_memory_revoked",
                "ours_read_memory",
                "Revoked cookie costs no more than a valid one (`MemoryStore`)",
            ),
            (
                "ours_read_redis_revoked",
                "ours_read_redis",
                "Revoked cookie costs no more than a valid one (`RedisStore` mirror)",
            ),
        ] {
            let r = self.across(|p| ratio(self.at(id, p), self.at(valid, p)));
            line(
                what,
                r.map(|a| (a.value <= 1.0, a.detail(3, "× the valid read, same store"))),
            );
        }
        let junk = self.across(|p| self.at("ours_junk_forged", p).map(|ns| ns / 1000.0));
        line(
            "64 KiB junk Cookie header rejected in under 100 µs (worst case: 4 forged 4 KiB values)",
            junk.map(|a| (a.value < 100.0, a.detail(1, " µs"))),
        );
        let same = self.across(|p| {
            ratio(
                self.at("ours_no_extractor", p),
                self.at("bare_with_cookie", p),
            )
        });
        let plain = self.across(|p| ratio(self.at("ours_no_extractor", p), self.at("bare", p)));
        let noop =
            self.across(|p| ratio(self.at("ours_no_extractor", p), self.at("noop_layer", p)));
        line(
            "Route that never asks for the session ≤ 1.1× bare handler",
            same.map(|a| {
                (
                    a.value <= 1.1,
                    format!(
                        "{} the bare handler given the same request (cookie sent); {} the bare handler without the cookie; {} the bare handler behind a no-op layer",
                        a.detail(2, "×"),
                        plain.map_or("–".into(), |p| p.detail(2, "×")),
                        noop.map_or("–".into(), |p| p.detail(2, "×"))
                    ),
                )
            }),
        );
        // Issue 16: against the hand-written layer doing the same checks, and a no-op layer.
        for (id, peer, limit, what) in [
            (
                "ours_read",
                "hand_read",
                1.0,
                "Cookie read ≤ the hand-written layer (same checks, same fields)",
            ),
            (
                "ours_write",
                "hand_write",
                0.9,
                "Cookie write ≤ 0.9× the hand-written layer",
            ),
            (
                "ours_no_extractor",
                "noop_layer",
                1.1,
                "Route that never asks ≤ 1.1× a no-op tower layer",
            ),
        ] {
            let r = self.across(|p| ratio(self.at(id, p), self.at(peer, p)));
            line(what, r.map(|a| (a.value <= limit, a.detail(3, "×"))));
        }
        // tower-http's overhead is a few dozen to a few hundred ns, the size of one pass's noise:
        // compare the medians of the per-pass overheads rather than per-pass ratios.
        let cached = self.across(|p| self.over_bare("ours_bearer_cached", p));
        let static_compare = self.across(|p| self.over_bare("towerhttp_bearer", p));
        let r = match (&cached, &static_compare) {
            (Some(c), Some(t)) if t.value > 0.0 => Some((c.value / t.value, c, t)),
            _ => None,
        };
        line(
            "Bearer cached: overhead ≤ 1.5× tower-http's static compare overhead",
            r.map(|(r, c, t)| {
                (
                    r <= 1.5,
                    format!(
                        "{r:.1}× (overheads: ours {} ns, tower-http {} ns)",
                        c.detail(0, ""),
                        t.detail(0, "")
                    ),
                )
            }),
        );
        for (id, what) in [
            (
                "ours_bearer_cached",
                "Bearer cached (`TokenCache` hit): overhead ≤ the HashMap middleware's (issue 16)",
            ),
            (
                "ours_bearer_uncached_map",
                "Bearer uncached (`token_fn` HashMap): overhead ≤ the HashMap middleware's",
            ),
            (
                "ours_bearer_uncached_apikeys",
                "Bearer uncached (`ApiKeys`): overhead ≤ the HashMap middleware's",
            ),
        ] {
            let r = self.across(|p| ratio(self.over_bare(id, p), self.over_bare("map_bearer", p)));
            line(what, r.map(|a| (a.value <= 1.0, a.detail(2, "×"))));
        }
        let allocs = |id: &str| {
            self.index(id).map_or("–".into(), |i| {
                format!("{:.1}", self.outcomes[i].allocs.calls)
            })
        };
        let _ = writeln!(
            out,
            "- Allocations per request (reported): read — ours {}, axum-extra {}, tower-sessions {}, seshcookie {}, hand-written {}, floor {}; write — ours {}, axum-extra {}, tower-sessions {}, seshcookie {}, hand-written {}, floor {}",
            allocs("ours_read"),
            allocs("extra_read"),
            allocs("ts_read"),
            allocs("sesh_read"),
            allocs("hand_read"),
            allocs("floor_read"),
            allocs("ours_write"),
            allocs("extra_write"),
            allocs("ts_write"),
            allocs("sesh_write"),
            allocs("hand_write"),
            allocs("floor_write"),
        );
        out
    }

    /// The bare handler's median in each fifth of the passes: how much the machine drifted.
    pub(crate) fn drift(&self) -> Option<String> {
        let bare = &self.sampled.samples[self.index("bare")?];
        if bare.len() < 5 {
            return None;
        }
        let fifth = bare.len() / 5;
        let parts: Vec<String> = (0..5)
            .filter_map(|k| median_of(bare[k * fifth..(k + 1) * fifth].to_vec()))
            .map(fmt_ns)
            .collect();
        Some(parts.join(" / "))
    }
}

/// What a full run prints, besides criterion's own report.
pub(crate) struct Printed<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) built: &'a Built,
    pub(crate) outcomes: &'a [Outcome],
    pub(crate) sampled: &'a Interleaved,
    /// ns per instrumented allocation + free.
    pub(crate) calibration: f64,
    pub(crate) elapsed: Duration,
    /// The share of the machine's CPU other processes used during the run.
    pub(crate) others: Option<f64>,
}

/// Prints the run: how it was measured, the table, the machine's load and drift, the targets.
pub(crate) fn print(p: &Printed<'_>) {
    let Printed {
        settings,
        built,
        outcomes,
        sampled,
        calibration,
        elapsed,
        others,
    } = *p;
    let report = Report {
        variants: &built.variants,
        outcomes,
        sampled,
        evaluate: settings.mode != Mode::Test,
    };
    let passes = report.passes();
    let (min_batch, max_batch) = (
        sampled.batches.iter().min().copied().unwrap_or(0),
        sampled.batches.iter().max().copied().unwrap_or(0),
    );
    println!();
    println!("## sealed-session: side-by-side, one run");
    println!();
    println!(
        "mode: {}; medians over {passes} interleaved passes (every variant once per pass, one \
         batch of {min_batch}–{max_batch} requests ≈ {:?} each, the starting variant rotating); \
         criterion column: criterion's own median (warm-up {:?}, measurement {:?}, {} samples); \
         allocations over {} requests per variant; plaintext {} bytes, cookie value {} bytes; \
         measuring took {:.0} s",
        match settings.mode {
            Mode::Full => "full",
            Mode::Quick => "QUICK (SEALED_SESSION_BENCH_QUICK=1)",
            Mode::Test => "TEST (no --bench: smoke check only, not a measurement)",
        },
        settings.batch,
        settings.warm_up,
        settings.measurement,
        settings.sample_size,
        settings.alloc_requests,
        built.payload_len,
        built.cookie_len,
        elapsed.as_secs_f64()
    );
    println!();
    print!("{}", report.table());
    println!();
    if let Some(others) = others {
        println!(
            "Other processes used {:.0} % of the machine's CPU during the run (this one uses \
             one core of {}).",
            others * 100.0,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    if let Some(drift) = report.drift() {
        println!(
            "Drift: the bare handler's median in each fifth of the passes was {drift} ns; \
             IQR is the spread of one variant over the passes. Targets compare variants within \
             each pass."
        );
    }
    println!();
    println!("Overhead = variant median − bare median. Allocator calls counted with stats_alloc (allocations + reallocations); one instrumented allocation + free costs ≈ {calibration:.0} ns here, and every variant pays it per allocation.");
    println!();
    println!("### Targets (issue 3), this run");
    println!();
    print!("{}", report.targets());
}
