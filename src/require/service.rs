//! [`RequireAuthService`]: the service [`RequireAuth`] makes.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response as AxumResponse};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::future::ResponseFuture;
use super::RequireAuth;
use crate::config::ConfigError;
use crate::context::RequestContext;
use crate::rejection::{AuthRejection, RejectionKind};
use crate::session::Session;

impl<S> Layer<S> for RequireAuth {
    type Service = RequireAuthService<S>;

    /// # Panics
    ///
    /// When the login redirect is invalid (see [`RequireAuth::validate`]), before any request.
    #[allow(clippy::panic)] // When the router is built, before any request; see `validate`.
    fn layer(&self, inner: S) -> Self::Service {
        if let Err(ConfigError::InvalidLoginRedirect { path }) = self.validate() {
            panic!("invalid RequireAuth login redirect {path:?}: it must be a same-origin path (`/` then not `/` or `\\`, no spaces, control characters or `#`)");
        }
        RequireAuthService {
            inner,
            requirements: Arc::new(self.clone()),
        }
    }
}

/// The service [`RequireAuth`] makes: calls the inner service when the request's session meets
/// the requirements, else answers with the rejection. See the [module docs](super).
///
/// Its response body is the inner service's, which an axum [`Body`] must convert into (axum's
/// own `Body` does): rejections are built as axum responses.
#[derive(Clone)]
pub struct RequireAuthService<S> {
    inner: S,
    requirements: Arc<RequireAuth>,
}

impl<S: fmt::Debug> fmt::Debug for RequireAuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuthService")
            .field("inner", &self.inner)
            .field("requirements", &self.requirements)
            .finish()
    }
}

impl<S> RequireAuthService<S> {
    define_inner_service_accessors!();
}

/// The response for a session that `requirements` refuse, if they do.
pub(super) fn refusal(
    context: &RequestContext,
    requirements: &RequireAuth,
    session: Result<Session, AuthRejection>,
) -> Option<AxumResponse> {
    let session = match session {
        Ok(session) => session,
        Err(rejection) => return Some(rejection.into_response()),
    };
    match requirements.check(&session) {
        Ok(()) => None,
        Err(kind) => {
            tracing::info!(target: "sealed_session", reason = "forbidden", uid = ?session.uid(), "requirements unmet");
            Some(context.reject(kind).into_response())
        }
    }
}

/// What the guard decided in `call`, before touching the request again.
enum Decision {
    Pass,
    Refuse(AxumResponse),
    Await(Arc<RequestContext>),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
    Body: Into<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let decision = match req.extensions().get::<Arc<RequestContext>>() {
            None => {
                tracing::error!(target: "sealed_session", reason = "missing_layer", "RequireAuth ran without SessionLayer");
                Decision::Refuse(AuthRejection::from(RejectionKind::MissingLayer).into_response())
            }
            Some(context) => {
                let login = self.requirements.login_redirect.as_deref();
                match context.require_now(req.headers(), login) {
                    Some(session) => match refusal(context, &self.requirements, session) {
                        None => Decision::Pass,
                        Some(response) => Decision::Refuse(response),
                    },
                    None => Decision::Await(context.clone()),
                }
            }
        };
        match decision {
            // Called here, synchronously, on the instance `poll_ready` readied: no clone.
            Decision::Pass => ResponseFuture::inner(self.inner.call(req)),
            Decision::Refuse(response) => ResponseFuture::refused(response.map(Into::into)),
            Decision::Await(context) => {
                // Called later: take the instance `poll_ready` readied, and leave a clone for
                // the next request:
                // https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::resolving(context, self.requirements.clone(), req, inner)
            }
        }
    }
}
