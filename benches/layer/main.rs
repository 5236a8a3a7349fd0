//! Side-by-side cost of `SessionLayer` against its peers and against the primitive floor
//! (issue 3). See BENCHMARKS.md for the method, the results and what they show.
//!
//! Every variant is one `GET /` through an axum 0.8 `Router` built once (and finalised with
//! `with_state(())`, as `axum::serve` does), called with `router.clone().oneshot(req)` on a
//! current-thread tokio runtime, with the same ≈290-byte session plaintext. Requests are built
//! before the clock starts, so a time is the cost of routing, the layer, the handler and dropping
//! the response. The floors are the bare primitives (base64, AES-256-GCM with a prepared key,
//! serde_json into a typed struct) on the same plaintext.
//!
//! ```text
//! cargo bench --bench layer                                # full run, about 3 minutes
//! SEALED_SESSION_BENCH_QUICK=1 cargo bench --bench layer   # CI smoke run, under a minute
//! SEALED_SESSION_BENCH_ONLY=bare,ours_read cargo bench --bench layer   # some variants only
//! SEALED_SESSION_BENCH_PROFILE=ours_read target/release/deps/layer-*   # one variant, for a profiler
//! python3 scripts/instructions.py                          # instruction counts under callgrind (CI gate)
//! ```
//!
//! A run has three parts: criterion measures each variant once (its usual report, and history
//! under `target/criterion`); then an interleaved sampler makes passes over all variants, one
//! timed batch of about a millisecond each, so that what a target compares is measured close
//! together in time on a shared machine; then allocations are counted with `stats_alloc` over a
//! bounded number of requests, outside every timed loop. It prints a markdown table (medians
//! over passes, with criterion's median beside them) and a met / not met line per target, each
//! ratio taken within a pass and then the median over passes. Run without `--bench` (for
//! example by `cargo test --benches`), everything runs a few times only: a smoke check.
//!
//! The layout: `harness` (settings, what a variant is, timing, allocation counts, the profile
//! and instruction modes), `report` (medians, the table, the targets), `variants` (the shared
//! payload, cookie and tokens; `floors`, `ours`, `peers`).

mod harness;
mod report;
mod variants;

use std::time::{Instant, SystemTime};

use criterion::Criterion;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

use harness::{Samples, Settings};
use report::Outcome;

/// Every allocation is counted (see `harness::count_allocs`).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let settings = Settings::from_env();
    let started = SystemTime::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut built = variants::build(&rt);
    for v in &built.variants {
        harness::check(&rt, v);
    }
    if std::env::var_os("SEALED_SESSION_BENCH_INSTRUCTIONS").is_some_and(|v| v == "symbol") {
        harness::print_symbols(&built.variants);
        return;
    }
    // `SEALED_SESSION_BENCH_ONLY=id,id,...`: only these variants (targets that need others then
    // read "no value").
    if let Ok(only) = std::env::var("SEALED_SESSION_BENCH_ONLY") {
        let keep: Vec<&str> = only.split(',').map(str::trim).collect();
        built.variants.retain(|v| keep.contains(&v.id));
    }
    if let Ok(id) = std::env::var("SEALED_SESSION_BENCH_PROFILE") {
        harness::profile(&rt, &built.variants, &id);
        return;
    }
    if let Some(n) = std::env::var("SEALED_SESSION_BENCH_INSTRUCTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        harness::instructions(&rt, &built.variants, n);
        return;
    }

    let run_started = Instant::now();
    let ticks_start = harness::cpu_ticks();

    // 1. Criterion, one pass over the variants: its usual report, and its history under
    //    target/criterion for comparing commits.
    let dir = report::output_directory();
    let mut criterion = Criterion::default()
        .warm_up_time(settings.warm_up)
        .measurement_time(settings.measurement)
        .sample_size(settings.sample_size)
        .nresamples(settings.resamples)
        .without_plots()
        .output_directory(&dir)
        .configure_from_args();
    let captured: Vec<Samples> = built.variants.iter().map(|_| Samples::default()).collect();
    {
        let mut group = criterion.benchmark_group(harness::GROUP);
        for (v, samples) in built.variants.iter().zip(&captured) {
            harness::bench_variant(&mut group, &rt, v, samples);
        }
        group.finish();
    }
    criterion.final_summary();

    // 2. Interleaved sampling: the table and the targets.
    eprintln!(
        "interleaved sampling: up to {} passes over {} variants, about {:?} per batch, at most {:?}...",
        settings.passes,
        built.variants.len(),
        settings.batch,
        settings.budget
    );
    let sampled = harness::interleave(&rt, &built.variants, &settings);

    // 3. Allocations, outside every timed loop.
    let outcomes: Vec<Outcome> = built
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let values = report::sorted(sampled.samples[i].clone());
            let median_ns = report::quantile(&values, 0.5);
            let iqr = match (
                report::quantile(&values, 0.25),
                report::quantile(&values, 0.75),
                median_ns,
            ) {
                (Some(lo), Some(hi), Some(m)) if m > 0.0 => Some((hi - lo) / m),
                _ => None,
            };
            let criterion_ns = report::criterion_median(&dir, v.id, started)
                .or_else(|| report::captured_median(&captured[i].borrow(), settings.sample_size));
            Outcome {
                median_ns,
                iqr,
                criterion_ns,
                allocs: harness::count_allocs(&rt, &v.work, settings.alloc_requests),
            }
        })
        .collect();
    let calibration = harness::allocator_calibration();
    let elapsed = run_started.elapsed();
    let others = harness::others_busy(ticks_start, harness::cpu_ticks());

    report::print(&report::Printed {
        settings: &settings,
        built: &built,
        outcomes: &outcomes,
        sampled: &sampled,
        calibration,
        elapsed,
        others,
    });
}
