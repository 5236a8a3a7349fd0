//! Futures the request path wraps around app code: a lazy timeout and a panic guard. Used by the
//! resolver (token, Basic and validator calls) and by `oauth` (the identity mapper).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `future` for at most `limit`: `Err(Elapsed)` past it. The timer is set up only if the
/// future is not ready at its first poll, so a handler that answers at once (a cache hit, an
/// in-memory map) costs no timer: `tokio::time::timeout` reads the clock and the runtime handle
/// to build its `Sleep` before the first poll, and drops it after.
pub(crate) fn timeout<F: Future + Unpin>(limit: std::time::Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        limit,
        sleep: None,
    }
}

/// See [`timeout`].
pub(crate) struct Timeout<F> {
    future: F,
    limit: std::time::Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The time limit passed.
#[derive(Debug)]
pub(crate) struct Elapsed;

impl<F: Future + Unpin> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(output) = Pin::new(&mut this.future).poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let limit = this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs a future, turning a panic inside it into `Err(())`.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut *inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ready_future_needs_no_timer_and_a_panic_is_caught() {
        let ready = timeout(std::time::Duration::from_secs(1), std::future::ready(7)).await;
        assert_eq!(ready.unwrap(), 7);
        let panicked = CatchUnwind(Box::pin(async { panic!("boom") })).await;
        assert!(panicked.is_err());
    }

    #[tokio::test]
    async fn a_future_that_never_answers_times_out() {
        let never = std::future::pending::<()>();
        let result = timeout(std::time::Duration::from_millis(1), never).await;
        assert!(result.is_err());
    }
}
