//! [`ResponseFuture`]: the future of [`RequireAuthService`](super::RequireAuthService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum_core::body::Body;
use axum_core::response::Response as AxumResponse;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::service::refusal;
use super::RequireAuth;
use crate::context::RequestContext;

/// The session resolution that had to be awaited (token handler or validator), with the
/// request handed back. Boxed: the resolution is an `async fn`, whose future has no name; only
/// requests whose caller is not known without waiting take this path.
type Resolving<B> = Pin<Box<dyn Future<Output = (Option<AxumResponse>, Request<B>)> + Send>>;

pin_project! {
    /// Response future for [`RequireAuthService`](super::RequireAuthService).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Resolving {
            resolving: Resolving<ReqBody>,
            inner: Option<S>,
        },
        Inner {
            #[pin]
            future: S::Future,
        },
        Refused {
            response: Option<S::Response>,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(super) fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(super) fn refused(response: S::Response) -> Self {
        Self {
            state: State::Refused {
                response: Some(response),
            },
        }
    }

    pub(super) fn resolving(
        context: Arc<RequestContext>,
        requirements: Arc<RequireAuth>,
        req: Request<ReqBody>,
        inner: S,
    ) -> Self
    where
        ReqBody: Send + 'static,
    {
        let resolving = Box::pin(async move {
            let login = requirements.login_redirect.as_deref();
            let session = context.require(req.headers(), login).await;
            (refusal(&context, &requirements, session), req)
        });
        Self {
            state: State::Resolving {
                resolving,
                inner: Some(inner),
            },
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    Body: Into<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    // Polled after completion is a caller bug, as in tower's futures.
    #[allow(clippy::expect_used)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Refused { response } => {
                    return Poll::Ready(Ok(response.take().expect("polled after completion")))
                }
                StateProj::Resolving { resolving, inner } => {
                    let (refused, req) = ready!(resolving.as_mut().poll(cx));
                    match refused {
                        Some(response) => State::Refused {
                            response: Some(response.map(Into::into)),
                        },
                        None => {
                            let mut inner = inner.take().expect("polled after completion");
                            State::Inner {
                                future: inner.call(req),
                            }
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}
