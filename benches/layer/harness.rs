//! Running the variants: the run settings, what a variant is, timing it (criterion's pass and the
//! interleaved passes), counting its allocations, and the two modes for tools: one variant for a
//! profiler (`SEALED_SESSION_BENCH_PROFILE`) and instruction counts for callgrind
//! (`SEALED_SESSION_BENCH_INSTRUCTIONS`).

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::Router;
use stats_alloc::Region;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use crate::GLOBAL;

/// The criterion group every variant is in (and its directory under `target/criterion`).
pub(crate) const GROUP: &str = "layer";
/// Requests built ahead of each timed chunk.
const CHUNK: usize = 256;

// ---------------------------------------------------------------------------------------------
// Run settings
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `cargo bench --bench layer`.
    Full,
    /// `SEALED_SESSION_BENCH_QUICK=1`: short runs for a CI smoke check.
    Quick,
    /// No `--bench` argument (`cargo test --benches`): criterion runs each variant once.
    Test,
}

#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    /// Criterion, one pass over the variants: warm-up per variant.
    pub(crate) warm_up: Duration,
    /// Criterion: measurement time per variant.
    pub(crate) measurement: Duration,
    /// Criterion: samples per variant.
    pub(crate) sample_size: usize,
    /// Criterion: bootstrap resamples.
    pub(crate) resamples: usize,
    /// Interleaved sampling: at most this many passes over all variants...
    pub(crate) passes: usize,
    /// ...and at least this many, however long they take...
    pub(crate) min_passes: usize,
    /// ...stopping at the first pass that starts after this much time.
    pub(crate) budget: Duration,
    /// Interleaved sampling: how long one timed batch of one variant lasts, about.
    pub(crate) batch: Duration,
    /// Requests (or floor calls) per variant for the allocation count.
    pub(crate) alloc_requests: usize,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        // `cargo bench` passes `--bench`; `cargo test --benches` (criterion's test mode, each
        // variant run once) does not, and gets the shortest settings.
        let mode = if !std::env::args().any(|a| a == "--bench") {
            Mode::Test
        } else if std::env::var_os("SEALED_SESSION_BENCH_QUICK").is_some_and(|v| v != "0") {
            Mode::Quick
        } else {
            Mode::Full
        };
        match mode {
            Mode::Full => Self {
                mode,
                warm_up: Duration::from_millis(300),
                measurement: Duration::from_secs(1),
                sample_size: 30,
                resamples: 20_000,
                passes: 3_000,
                min_passes: 200,
                budget: Duration::from_secs(150),
                batch: Duration::from_millis(1),
                alloc_requests: 1_000,
            },
            Mode::Quick => Self {
                mode,
                warm_up: Duration::from_millis(100),
                measurement: Duration::from_millis(300),
                sample_size: 10,
                resamples: 1_000,
                passes: 400,
                min_passes: 50,
                budget: Duration::from_secs(12),
                batch: Duration::from_micros(500),
                alloc_requests: 100,
            },
            Mode::Test => Self {
                mode,
                warm_up: Duration::from_millis(100),
                measurement: Duration::from_millis(300),
                sample_size: 10,
                resamples: 1_000,
                passes: 3,
                min_passes: 3,
                budget: Duration::from_secs(1),
                batch: Duration::from_micros(20),
                alloc_requests: 10,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

pub(crate) type MakeRequest = Box<dyn Fn() -> Request + Send + Sync>;

pub(crate) enum Work {
    Route {
        router: Router,
        make: MakeRequest,
        expect: StatusCode,
        expect_set_cookie: bool,
    },
    Floor(Box<dyn Fn() -> bool + Send + Sync>),
}

/// Which floor an overhead is divided by.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloorOf {
    None,
    Read,
    Write,
}

pub(crate) struct Variant {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    pub(crate) floor_of: FloorOf,
    pub(crate) work: Work,
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

/// Times `iters` requests of a route variant; requests are built before each chunk is timed.
pub(crate) fn time_route(
    rt: &Runtime,
    router: &Router,
    make: &MakeRequest,
    iters: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut reqs: Vec<Request> = Vec::with_capacity(CHUNK);
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        reqs.extend((0..n).map(|_| make()));
        total += rt.block_on(async {
            let start = Instant::now();
            for req in reqs.drain(..) {
                let res = router.clone().oneshot(req).await;
                black_box(res.ok());
            }
            start.elapsed()
        });
        left -= n as u64;
    }
    total
}

pub(crate) fn time_floor(f: &dyn Fn() -> bool, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

pub(crate) fn time_work(rt: &Runtime, work: &Work, iters: u64) -> Duration {
    match work {
        Work::Route { router, make, .. } => time_route(rt, router, make, iters),
        Work::Floor(f) => time_floor(f.as_ref(), iters),
    }
}

#[derive(Clone, Copy, Default)]
pub(crate) struct Allocs {
    /// Allocator calls (allocations + reallocations) per request.
    pub(crate) calls: f64,
    pub(crate) bytes: f64,
}

pub(crate) fn count_allocs(rt: &Runtime, work: &Work, n: usize) -> Allocs {
    let stats = match work {
        Work::Route { router, make, .. } => {
            let reqs: Vec<Request> = (0..n).map(|_| make()).collect();
            rt.block_on(async {
                let region = Region::new(GLOBAL);
                for req in reqs {
                    let res = router.clone().oneshot(req).await;
                    black_box(res.ok());
                }
                region.change()
            })
        }
        Work::Floor(f) => {
            let region = Region::new(GLOBAL);
            for _ in 0..n {
                black_box(f());
            }
            region.change()
        }
    };
    let n = n.max(1) as f64;
    Allocs {
        calls: (stats.allocations + stats.reallocations) as f64 / n,
        bytes: stats.bytes_allocated as f64 / n,
    }
}

/// One request through a route variant, checked: a benchmark of a 500 is worthless.
pub(crate) fn check(rt: &Runtime, v: &Variant) {
    let Work::Route {
        router,
        make,
        expect,
        expect_set_cookie,
    } = &v.work
    else {
        return;
    };
    let res = rt
        .block_on(router.clone().oneshot(make()))
        .expect("infallible");
    assert_eq!(res.status(), *expect, "{}: unexpected status", v.id);
    assert_eq!(
        res.headers().contains_key(header::SET_COOKIE),
        *expect_set_cookie,
        "{}: Set-Cookie presence",
        v.id
    );
}

// --- criterion: one pass, for its report and its history -------------------------------------

/// Samples criterion handed to a variant's routine: (iterations, measured time).
pub(crate) type Samples = Rc<RefCell<Vec<(u64, Duration)>>>;

pub(crate) fn bench_variant(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    v: &Variant,
    samples: &Samples,
) {
    group.bench_function(v.id, |b| {
        b.iter_custom(|iters| {
            let took = time_work(rt, &v.work, iters);
            samples.borrow_mut().push((iters, took));
            took
        });
    });
}

// --- interleaved sampling: what the table and the targets use --------------------------------

/// Iterations per batch so that one batch of `work` lasts about `target` (1 to 65,536).
pub(crate) fn batch_size(rt: &Runtime, work: &Work, target: Duration) -> u64 {
    // The largest of three calibrations: a one-off stall in a round (a first call after other
    // variants ran, a cache's housekeeping) would otherwise set a batch of a couple of requests
    // for the whole run, and such a batch measures cold caches. (The cached-bearer variant got
    // batches of 2 and ~10x its criterion time in some full runs before this.)
    (0..3)
        .map(|_| calibrate(rt, work, target))
        .max()
        .unwrap_or(1)
}

pub(crate) fn calibrate(rt: &Runtime, work: &Work, target: Duration) -> u64 {
    let mut iters = 1u64;
    loop {
        let took = time_work(rt, work, iters).max(Duration::from_nanos(1));
        if took >= target / 4 || iters >= 1 << 16 {
            let per_iter = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per_iter) as u64).clamp(1, 1 << 16);
        }
        iters *= 2;
    }
}

/// ns per iteration of each variant, one value per pass: `samples[variant][pass]`.
pub(crate) struct Interleaved {
    pub(crate) samples: Vec<Vec<f64>>,
    pub(crate) batches: Vec<u64>,
}

/// Passes over every variant, one timed batch each, starting each pass one variant further on.
/// A pass takes a few dozen milliseconds, so what a target compares is measured close together
/// in time, whatever the machine does over minutes: ratios are then taken within each pass.
pub(crate) fn interleave(rt: &Runtime, variants: &[Variant], settings: &Settings) -> Interleaved {
    let batches: Vec<u64> = variants
        .iter()
        .map(|v| batch_size(rt, &v.work, settings.batch))
        .collect();
    let n = variants.len();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(settings.passes); n];
    let start = Instant::now();
    // One untimed pass first: every variant warm.
    for (v, &iters) in variants.iter().zip(&batches) {
        black_box(time_work(rt, &v.work, iters));
    }
    for pass in 0..settings.passes {
        if pass >= settings.min_passes && start.elapsed() > settings.budget {
            break;
        }
        for k in 0..n {
            let i = (k + pass) % n;
            let took = time_work(rt, &variants[i].work, batches[i]);
            samples[i].push(took.as_nanos() as f64 / batches[i] as f64);
        }
    }
    Interleaved { samples, batches }
}

/// CPU time, in clock ticks, from `/proc` (Linux): (busy ticks of the whole machine, all ticks of
/// the whole machine, ticks this process used). `None` elsewhere.
pub(crate) fn cpu_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = own.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((total - idle, total, utime + stime))
}

/// The share of the machine's CPU that other processes used between two readings.
pub(crate) fn others_busy(
    start: Option<(u64, u64, u64)>,
    end: Option<(u64, u64, u64)>,
) -> Option<f64> {
    let ((b0, t0, o0), (b1, t1, o1)) = (start?, end?);
    let total = t1.checked_sub(t0)?;
    if total == 0 {
        return None;
    }
    let others = (b1 - b0).saturating_sub(o1 - o0);
    Some(others as f64 / total as f64)
}

/// What one instrumented allocation + deallocation costs, for reading the table: every
/// allocation in every variant pays it, because `stats_alloc` is the global allocator.
pub(crate) fn allocator_calibration() -> f64 {
    const N: u32 = 200_000;
    let start = Instant::now();
    for i in 0..N {
        black_box(Box::new(black_box([i; 16])));
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

/// `SEALED_SESSION_BENCH_PROFILE=<variant id>`: runs one variant a bounded number of times
/// (`SEALED_SESSION_BENCH_ITERS`, default 20,000) without criterion, for `valgrind --tool=callgrind`
/// or `perf record`, and prints its mean time.
pub(crate) fn profile(rt: &Runtime, variants: &[Variant], id: &str) {
    let iters: u64 = std::env::var("SEALED_SESSION_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
        .min(10_000_000);
    let Some(v) = variants.iter().find(|v| v.id == id) else {
        let ids: Vec<&str> = variants.iter().map(|v| v.id).collect();
        eprintln!("unknown variant {id:?}; one of: {}", ids.join(", "));
        std::process::exit(2);
    };
    let took = time_work(rt, &v.work, iters);
    println!(
        "{id}: {iters} iterations, {:.0} ns each",
        took.as_nanos() as f64 / iters as f64
    );
}

/// `SEALED_SESSION_BENCH_INSTRUCTIONS=<n>`: for each variant (or each of
/// `SEALED_SESSION_BENCH_ONLY`), `n` untimed requests to warm it, then `n` and `2n` requests, each
/// batch one call of [`callgrind_counted`], announced on stdout as
/// `instructions-phase <id> <requests> <label>`. Run under `valgrind --tool=callgrind
/// --collect-atstart=no --toggle-collect='<module>::callgrind_*counted'
/// --dump-after=<module>::callgrind_counted`, with the symbols
/// `SEALED_SESSION_BENCH_INSTRUCTIONS=symbol` prints first (`--dump-after` takes no wildcard),
/// each batch is one dump, in the announced order; `scripts/instructions.py` does that and takes (count(2n) − count(n)) / n per request,
/// so whatever a batch costs once (entering the runtime) cancels.
///
/// Each variant runs on a thread of its own, so on a fresh allocator arena: the state the setup
/// left in the main thread's heap (which varies from run to run with hash seeds and random ids)
/// moved a variant's count by up to 0.7 % in glibc's `_int_malloc` / `_int_free` otherwise.
pub(crate) fn instructions(rt: &Runtime, variants: &[Variant], n: u64) {
    let n = n.clamp(1, 100_000);
    for v in variants {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                black_box(time_work(rt, &v.work, n));
                for requests in [n, 2 * n] {
                    println!("instructions-phase {} {requests} {}", v.id, v.label);
                    callgrind_counted(rt, &v.work, requests);
                }
            });
        });
    }
}

/// What callgrind counts in instruction mode: `iters` requests through a route variant's router,
/// responses dropped, or `iters` calls of a floor. Each request is built just before it is sent,
/// in [`callgrind_uncounted`], which switches the count off while it runs, so that the heap sees
/// one request at a time, as a server's does. Never inlined, so that callgrind finds them.
#[inline(never)]
pub(crate) fn callgrind_counted(rt: &Runtime, work: &Work, iters: u64) {
    match work {
        Work::Route { router, make, .. } => rt.block_on(async {
            for _ in 0..iters {
                let req = callgrind_uncounted(make);
                let res = router.clone().oneshot(req).await;
                black_box(res.ok());
            }
        }),
        Work::Floor(f) => {
            for _ in 0..iters {
                black_box(f());
            }
        }
    }
}

/// Builds one request, not counted (see [`callgrind_counted`]).
#[inline(never)]
pub(crate) fn callgrind_uncounted(make: &MakeRequest) -> Request {
    make()
}

/// `SEALED_SESSION_BENCH_INSTRUCTIONS=symbol`: the two symbols callgrind is told about (see
/// [`instructions`]), then every variant id, one a line.
pub(crate) fn print_symbols(variants: &[Variant]) {
    println!(
        "{} {}",
        std::any::type_name_of_val(&callgrind_counted),
        std::any::type_name_of_val(&callgrind_uncounted)
    );
    for v in variants {
        println!("{}", v.id);
    }
}
