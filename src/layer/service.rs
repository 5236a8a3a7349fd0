//! [`SessionManager`]: the service [`SessionLayer`](super::SessionLayer) makes.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use crate::config::Config;
use crate::context::RequestContext;

/// The service [`SessionLayer`](super::SessionLayer) makes. (`Session` is the handle handlers
/// see, so the service is named for what it does, as in tower-sessions and tower-cookies.)
#[derive(Clone)]
pub struct SessionManager<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> SessionManager<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    define_inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Nothing is resolved here: the cookie is opened, and the token handler called, only
        // when an extractor or guard asks. A route that never asks pays for this context and
        // its slot in the request extensions (two allocations), nothing more.
        let mut context =
            RequestContext::new(self.config.clone(), req.method().clone(), req.uri().clone());
        if self.config.resolver.active_sessions {
            context.label_from(req.headers());
        }
        if self.config.challenge.login_redirect.is_some() {
            context.navigation_from(req.headers());
        }
        let context = Arc::new(context);
        req.extensions_mut().insert(context.clone());
        // The inner service is called here, synchronously, on the instance `poll_ready` readied;
        // no clone is needed (the `mem::replace` idiom is for calls made later, in a future).
        ResponseFuture::new(self.inner.call(req), context)
    }
}
