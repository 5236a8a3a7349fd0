//! Token-backend faults under load, over real loopback HTTP: a handler that errors, one that
//! hangs, one that panics on a fraction of calls, one that flaps, and load shedding at the
//! concurrency limit. Valid cookie traffic runs alongside.
//!
//! CI runs a short version. The full run (about 1,000 requests in flight) prints the figures:
//!
//! ```text
//! SEALED_SESSION_FAULT_REQUESTS=20000 SEALED_SESSION_FAULT_CONCURRENCY=1000 \
//!     cargo test --release --test faults -- --nocapture --test-threads 1
//! ```
//!
//! Every loop is bounded in count, and every request in time (a client-side timeout).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum::routing::get;
use axum::Router;
use common::*;
use sealed_session::testing::TestKit;
use sealed_session::{async_trait, Identity, Session, SessionLayer, TokenError, TokenHandler};
use time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How the faulty handler behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Errors,
    Hangs,
    PanicsSometimes,
    Flaps,
}

/// Counts handler futures alive now, and the most alive at once.
#[derive(Clone, Default)]
struct Live {
    now: Arc<AtomicI64>,
    peak: Arc<AtomicI64>,
    calls: Arc<AtomicUsize>,
}

struct Guard(Live);

impl Guard {
    fn new(live: &Live) -> Self {
        let now = live.now.fetch_add(1, Ordering::SeqCst) + 1;
        live.peak.fetch_max(now, Ordering::SeqCst);
        live.calls.fetch_add(1, Ordering::SeqCst);
        Self(live.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Faulty {
    fault: Fault,
    live: Live,
    started: Instant,
}

#[async_trait]
impl TokenHandler for Faulty {
    async fn resolve(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        let _guard = Guard::new(&self.live);
        // A little real latency, so calls overlap.
        tokio::time::sleep(StdDuration::from_millis(2)).await;
        match self.fault {
            Fault::Errors => Err(TokenError::new("database unreachable")),
            Fault::Hangs => {
                tokio::time::sleep(StdDuration::from_secs(3600)).await;
                Ok(None)
            }
            Fault::PanicsSometimes => {
                if token.ends_with('0') || token.ends_with('5') {
                    panic!("handler bug on a fifth of the calls");
                }
                Ok(Some(Identity::new("robot")))
            }
            Fault::Flaps => {
                // 40 ms healthy, 40 ms failing.
                if (self.started.elapsed().as_millis() / 40) % 2 == 0 {
                    Ok(Some(Identity::new("robot")))
                } else {
                    Err(TokenError::new("flapping"))
                }
            }
        }
    }
}

struct Figures {
    sent: usize,
    received: usize,
    statuses: BTreeMap<u16, usize>,
    cookie_ok: usize,
    cookie_sent: usize,
    missing_retry_after: usize,
    latencies: Vec<StdDuration>,
}

impl Figures {
    fn percentile(&self, p: f64) -> StdDuration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }
}

/// One HTTP/1.1 request over a fresh loopback connection; returns (status, has Retry-After).
async fn request(addr: SocketAddr, path: &str, header: &str) -> Option<(u16, bool)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response);
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let retry_after = text.to_ascii_lowercase().contains("\r\nretry-after:");
        Some((status, retry_after))
    };
    tokio::time::timeout(StdDuration::from_secs(20), exchange)
        .await
        .ok()?
}

async fn run(fault: Fault, limit: usize, requests: usize, concurrency: usize) -> (Figures, Live) {
    let live = Live::default();
    let handler = Faulty {
        fault,
        live: live.clone(),
        started: Instant::now(),
    };
    let layer = SessionLayer::new(key(1))
        .with_token_handler(handler)
        .with_handler_timeout(Duration::milliseconds(250))
        .with_handler_concurrency(limit);
    let kit = TestKit::new(&layer);
    let cookie = format!(
        "Cookie: {}",
        kit.cookie_header(Identity::new("alice")).to_str().unwrap()
    );
    let app = Router::new()
        .route(
            "/me",
            get(|s: Session| async move { s.uid().unwrap_or_default() }),
        )
        .layer(layer);
    // A deep accept queue: with std's default backlog (128), a burst of 1,000 connects overflows
    // it and the kernel's 1 s SYN retransmit would dominate the latency figures.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let is_cookie = i % 10 == 9;
        let header = if is_cookie {
            cookie.clone()
        } else {
            format!("Authorization: Bearer token-{i}")
        };
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let outcome = request(addr, "/me", &header).await;
            drop(permit);
            (is_cookie, outcome, start.elapsed())
        }));
    }
    let mut figures = Figures {
        sent: requests,
        received: 0,
        statuses: BTreeMap::new(),
        cookie_ok: 0,
        cookie_sent: 0,
        missing_retry_after: 0,
        latencies: Vec::with_capacity(requests),
    };
    for task in tasks {
        let (is_cookie, outcome, elapsed) = task.await.unwrap();
        figures.cookie_sent += usize::from(is_cookie);
        let Some((status, retry_after)) = outcome else {
            continue;
        };
        figures.received += 1;
        *figures.statuses.entry(status).or_default() += 1;
        if is_cookie {
            figures.cookie_ok += usize::from(status == 200);
        } else {
            figures.latencies.push(elapsed);
        }
        if status == 503 && !retry_after {
            figures.missing_retry_after += 1;
        }
    }
    // The process is still up: a last request is answered.
    let last = request(addr, "/me", &cookie).await;
    assert_eq!(
        last.map(|(s, _)| s),
        Some(200),
        "{fault:?}: the server still serves"
    );
    server.abort();
    // Timed-out handler futures were dropped with their requests; give the runtime a bounded
    // moment to run the drops of aborted connections.
    for _ in 0..100 {
        if live.now.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    println!(
        "{fault:?} (limit {limit}): sent {}, received {}, statuses {:?}, cookie {}/{} ok, p50 {:?}, p99 {:?}, max {:?}, handler calls {}, peak in flight {}, left running {}",
        figures.sent,
        figures.received,
        figures.statuses,
        figures.cookie_ok,
        figures.cookie_sent,
        figures.percentile(0.5),
        figures.percentile(0.99),
        figures.percentile(1.0),
        live.calls.load(Ordering::SeqCst),
        live.peak.load(Ordering::SeqCst),
        live.now.load(Ordering::SeqCst),
    );
    (figures, live)
}

fn sizes() -> (usize, usize) {
    (
        env_usize("SEALED_SESSION_FAULT_REQUESTS", 600),
        env_usize("SEALED_SESSION_FAULT_CONCURRENCY", 200),
    )
}

fn assert_common(fault: Fault, figures: &Figures, live: &Live) {
    assert_eq!(figures.received, figures.sent, "{fault:?}: no request lost");
    assert_eq!(
        figures.cookie_ok, figures.cookie_sent,
        "{fault:?}: cookie traffic unaffected"
    );
    assert_eq!(
        figures.missing_retry_after, 0,
        "{fault:?}: every 503 has Retry-After"
    );
    assert_eq!(
        live.now.load(Ordering::SeqCst),
        0,
        "{fault:?}: no handler future left running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erroring_backend_gives_503_with_retry_after() {
    let (requests, concurrency) = sizes();
    let (figures, live) = run(Fault::Errors, 4096, requests, concurrency).await;
    assert_common(Fault::Errors, &figures, &live);
    let bearer = figures.sent - figures.cookie_sent;
    assert_eq!(figures.statuses.get(&503).copied().unwrap_or(0), bearer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_times_out_as_503_and_leaves_nothing_running() {
    let (requests, concurrency) = sizes();
    let (figures, live) = run(Fault::Hangs, 4096, requests, concurrency).await;
    assert_common(Fault::Hangs, &figures, &live);
    let bearer = figures.sent - figures.cookie_sent;
    assert_eq!(figures.statuses.get(&503).copied().unwrap_or(0), bearer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_panics_sometimes_gives_500_for_those_and_200_for_the_rest() {
    // The expected panics would flood the output through the default hook: keep the others.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("handler bug on a fifth") {
            previous(info);
        }
    }));
    let (requests, concurrency) = sizes();
    let (figures, live) = run(Fault::PanicsSometimes, 4096, requests, concurrency).await;
    assert_common(Fault::PanicsSometimes, &figures, &live);
    let panicking = (0..requests)
        .filter(|i| i % 10 != 9 && (i % 10 == 0 || i % 10 == 5))
        .count();
    assert_eq!(figures.statuses.get(&500).copied().unwrap_or(0), panicking);
    assert_eq!(
        figures.statuses.get(&200).copied().unwrap_or(0),
        figures.sent - panicking
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_backend_gives_only_200_or_503() {
    let (requests, concurrency) = sizes();
    let (figures, live) = run(Fault::Flaps, 4096, requests, concurrency).await;
    assert_common(Fault::Flaps, &figures, &live);
    let other: usize = figures
        .statuses
        .iter()
        .filter(|(s, _)| **s != 200 && **s != 503)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(other, 0, "{:?}", figures.statuses);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_requests_are_shed_not_queued() {
    let (requests, concurrency) = sizes();
    let limit = 8;
    let (figures, live) = run(Fault::Hangs, limit, requests, concurrency).await;
    assert_common(Fault::Hangs, &figures, &live);
    let peak = live.peak.load(Ordering::SeqCst);
    assert!(
        peak <= limit as i64,
        "at most {limit} handler calls in flight, saw {peak}"
    );
    let bearer = figures.sent - figures.cookie_sent;
    assert_eq!(figures.statuses.get(&503).copied().unwrap_or(0), bearer);
    assert!(
        live.calls.load(Ordering::SeqCst) < bearer,
        "some requests were shed without calling the handler"
    );
}
