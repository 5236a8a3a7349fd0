//! [`ResponseFuture`]: the future of [`SessionManager`](super::SessionManager).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use crate::context::RequestContext;

pin_project! {
    /// Response future for [`SessionManager`](super::SessionManager): writes the session cookie
    /// once the inner response is ready.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        context: Option<Arc<RequestContext>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(future: F, context: Arc<RequestContext>) -> Self {
        Self {
            future,
            context: Some(context),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.future.poll(cx))?;
        if let Some(context) = this.context.take() {
            context.bind_rejection(&mut response);
            context.finalize(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}
