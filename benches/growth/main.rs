//! How cost grows with the work (issue 16): one run measures every row of BENCHMARKS.md's table
//! "Issue 16: how cost grows": plaintext size, key ring size, roles and scopes behind a guard,
//! revoked ids in the store, entries in the token cache, and the JWT algorithms.
//!
//! ```text
//! cargo bench --features jwt --bench growth                                # time + memory, ≈ 80 s
//! SEALED_SESSION_BENCH_QUICK=1 cargo bench --features jwt --bench growth   # short run
//! python3 scripts/growth.py                # instructions (callgrind), merged with the last time run
//! SEALED_SESSION_BENCH_ONLY=size_100_read,size_3k_read cargo bench --features jwt --bench growth
//! ```
//!
//! Every row is one `GET /` through an axum `Router` finalised as `axum::serve` does, on a
//! current-thread runtime, timed the way `benches/layer` times its variants: its harness
//! (`benches/layer/harness.rs`, included here) makes interleaved passes over all rows, one timed
//! batch of about a millisecond per row, starting each pass one row further on; the table shows
//! the median over passes. The instruction mode (`SEALED_SESSION_BENCH_INSTRUCTIONS`) and the
//! profile mode (`SEALED_SESSION_BENCH_PROFILE=<id>`) are the layer bench's, so
//! `scripts/growth.py` counts each row under callgrind as `scripts/instructions.py` does.
//!
//! The rows that hold many entries (revoked ids, cached tokens) also report the memory the
//! structure took while it was filled: bytes allocated and not freed (`stats_alloc`), divided by
//! the entries. Rows are built only when measured (`SEALED_SESSION_BENCH_ONLY`), so a counted
//! run of one row fills one structure.
//!
//! Run without `--bench` (`cargo test --benches`), every row runs a few times and the large
//! structures hold 10⁴ entries instead of 10⁶: a smoke check, bounded in count and time.

#[allow(dead_code)] // Shared with the layer bench; its criterion pass is not used here.
#[path = "../layer/harness.rs"]
mod harness;
mod jwt;
mod keys;
mod rows;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

use harness::{Mode, Settings};
use rows::{Row, Scale};

/// Every allocation is counted (see `harness::count_allocs` and the memory rows).
#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// The run settings: the layer bench's, with a budget sized for this bench's rows.
fn settings() -> Settings {
    let mut s = Settings::from_env();
    match s.mode {
        Mode::Full => {
            s.passes = 2_000;
            s.min_passes = 100;
            s.budget = Duration::from_secs(60);
        }
        Mode::Quick => {
            s.passes = 300;
            s.min_passes = 20;
            s.budget = Duration::from_secs(10);
        }
        Mode::Test => {}
    }
    s
}

fn wanted() -> Option<Vec<String>> {
    std::env::var("SEALED_SESSION_BENCH_ONLY")
        .ok()
        .map(|only| only.split(',').map(|s| s.trim().to_owned()).collect())
}

fn main() {
    let settings = settings();
    let instructions = std::env::var("SEALED_SESSION_BENCH_INSTRUCTIONS").ok();
    let profile = std::env::var("SEALED_SESSION_BENCH_PROFILE").ok();
    // The instruction and profile modes run the binary without `--bench` (test mode to the
    // harness), and count the full-size rows.
    let scale = if settings.mode == Mode::Test && instructions.is_none() && profile.is_none() {
        Scale::Smoke
    } else {
        Scale::Full
    };
    if instructions.as_deref() == Some("symbol") {
        // As `harness::print_symbols`, without building anything.
        println!(
            "{} {}",
            std::any::type_name_of_val(&harness::callgrind_counted),
            std::any::type_name_of_val(&harness::callgrind_uncounted)
        );
        for spec in rows::SPECS {
            println!("{}", spec.id);
        }
        return;
    }
    if std::env::var_os("SEALED_SESSION_GROWTH_LIST").is_some() {
        // For scripts/growth.py: id, group and case of every row, tab-separated.
        for spec in rows::SPECS {
            println!("{}\t{}\t{}", spec.id, spec.group, spec.case);
        }
        return;
    }
    let only = wanted();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let built: Vec<Row> = rows::SPECS
        .iter()
        .filter(|spec| match (&profile, &only) {
            (Some(id), _) => spec.id == id,
            (None, Some(ids)) => ids.iter().any(|id| id == spec.id),
            (None, None) => true,
        })
        .map(|spec| rows::build(spec, &rt, scale))
        .collect();
    if let Some(ids) = &only {
        let unknown: Vec<&String> = ids
            .iter()
            .filter(|id| !rows::SPECS.iter().any(|s| s.id == id.as_str()))
            .collect();
        assert!(unknown.is_empty(), "no such row: {unknown:?}");
    }
    for row in &built {
        harness::check(&rt, &row.variant);
    }
    let (variants, rows): (Vec<harness::Variant>, Vec<rows::Info>) =
        built.into_iter().map(|row| (row.variant, row.info)).unzip();
    if let Some(id) = profile {
        harness::profile(&rt, &variants, &id);
        return;
    }
    if let Some(n) = instructions.and_then(|s| s.parse().ok()) {
        harness::instructions(&rt, &variants, n);
        return;
    }
    let setup = started.elapsed();
    eprintln!(
        "growth: {} rows built in {setup:.1?}; interleaved sampling: up to {} passes, about {:?} \
         per batch, at most {:?}...",
        variants.len(),
        settings.passes,
        settings.batch,
        settings.budget
    );
    let ticks = harness::cpu_ticks();
    let sampled = harness::interleave(&rt, &variants, &settings);
    let others = harness::others_busy(ticks, harness::cpu_ticks());
    let results: Vec<Measured> = variants
        .iter()
        .zip(&sampled.samples)
        .map(|(v, samples)| {
            let mut s = samples.clone();
            s.retain(|x| x.is_finite());
            s.sort_by(f64::total_cmp);
            Measured {
                median: quantile(&s, 0.5),
                iqr: match (quantile(&s, 0.25), quantile(&s, 0.75), quantile(&s, 0.5)) {
                    (Some(lo), Some(hi), Some(m)) if m > 0.0 => Some((hi - lo) / m),
                    _ => None,
                },
                allocs: harness::count_allocs(&rt, &v.work, settings.alloc_requests),
            }
        })
        .collect();
    let passes = sampled.samples.first().map_or(0, Vec::len);
    let header = format!(
        "growth bench, {} mode: {passes} interleaved passes in {:.0?} (setup {setup:.0?}); other \
         processes used {} of the CPU during the passes; commit {}",
        match settings.mode {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Test => "test (smoke: 10⁴ instead of 10⁶ entries)",
        },
        started.elapsed() - setup,
        others.map_or_else(|| "?".to_owned(), |o| format!("{:.0} %", o * 100.0)),
        commit(),
    );
    let table = table(&rows, &results);
    println!("\n{header}\n\n{table}");
    for info in &rows {
        if let Some(check) = &info.after_run {
            if let Some(note) = check() {
                println!("- {}: {note}", info.id);
            }
        }
    }
    if settings.mode != Mode::Test {
        save(&header, &rows, &results);
    }
}

struct Measured {
    median: Option<f64>,
    iqr: Option<f64>,
    allocs: harness::Allocs,
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted.get(lo)? * (1.0 - frac) + sorted.get(hi)? * frac)
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "?".to_owned(), |s| s.trim().to_owned())
}

pub(crate) fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The markdown table: one line per row, its time beside the first row of its group.
fn table(rows: &[rows::Info], results: &[Measured]) -> String {
    let mut out = String::from(
        "| what | case | ns / request (median) | IQR | × first of group | allocations / request | memory |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    let mut first: Option<(&str, Option<f64>)> = None;
    for (info, m) in rows.iter().zip(results) {
        let base = match first {
            Some((group, base)) if group == info.group => base,
            _ => {
                first = Some((info.group, m.median));
                m.median
            }
        };
        let ratio = match (m.median, base) {
            (Some(x), Some(b)) if b > 0.0 => format!("{:.2}", x / b),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} (`{}`) | {} | {} | {ratio} | {:.1} | {} |",
            info.group,
            info.case,
            info.id,
            m.median.map_or_else(|| "–".to_owned(), thousands),
            m.iqr
                .map_or_else(|| "–".to_owned(), |q| format!("{:.0} %", q * 100.0)),
            m.allocs.calls,
            info.memory.as_deref().unwrap_or("–"),
        );
    }
    out
}

/// Where the last time run is kept for `scripts/growth.py`.
fn saved_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("growth-last-run.json")
}

fn save(header: &str, rows: &[rows::Info], results: &[Measured]) {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .zip(results)
        .map(|(info, m)| {
            serde_json::json!({
                "id": info.id,
                "group": info.group,
                "case": info.case,
                "ns": m.median,
                "iqr": m.iqr,
                "allocations": m.allocs.calls,
                "memory": info.memory,
            })
        })
        .collect();
    let json = serde_json::json!({ "header": header, "rows": rows });
    let path = saved_path();
    match std::fs::write(&path, format!("{json:#}\n")) {
        Ok(()) => eprintln!("growth: saved this run to {}", path.display()),
        Err(e) => eprintln!("growth: cannot write {}: {e}", path.display()),
    }
}
