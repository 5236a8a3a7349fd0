//! [`ResponseFuture`] for [`ClientAuth`](super::ClientAuth).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::CallError;

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<http::Response<T>, CallError<E>>> + Send>>;

/// Response future for [`ClientAuth`](super::ClientAuth).
pub struct ResponseFuture<T, E> {
    inner: Boxed<T, E>,
}

impl<T, E> ResponseFuture<T, E> {
    pub(crate) fn new(inner: Boxed<T, E>) -> Self {
        Self { inner }
    }
}

impl<T, E> fmt::Debug for ResponseFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<T, E> Future for ResponseFuture<T, E> {
    type Output = Result<http::Response<T>, CallError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
