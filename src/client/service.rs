//! [`ClientAuth`]: the service of [`ClientAuthLayer`](super::ClientAuthLayer), and its error.

use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::layer::Credentials;
use super::replay::try_clone_request;
use super::{AccessToken, Challenge, ClientError, ReplayBody, ResponseFuture};

/// Why a request through [`ClientAuth`] failed without a response.
#[derive(Debug)]
pub enum CallError<E> {
    /// No token could be had: the source failed, or a refresh was refused
    /// ([`ClientError::LoginRequired`]: the user must sign in again).
    Token(ClientError),
    /// The inner client failed (connection refused, timeout).
    Service(E),
}

impl<E> CallError<E> {
    /// The token error, if this is one.
    #[must_use]
    pub fn token_error(&self) -> Option<&ClientError> {
        match self {
            Self::Token(e) => Some(e),
            Self::Service(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(e) => write!(f, "no access token: {e}"),
            Self::Service(e) => write!(f, "request failed: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for CallError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Token(e) => Some(e),
            Self::Service(e) => Some(e),
        }
    }
}

/// Attaches credentials to each request; built by [`ClientAuthLayer`](super::ClientAuthLayer).
/// See the [module docs](super).
#[derive(Clone)]
pub struct ClientAuth<S> {
    inner: S,
    credentials: Credentials,
}

impl<S> fmt::Debug for ClientAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth").finish_non_exhaustive()
    }
}

impl<S> ClientAuth<S> {
    pub(crate) fn new(inner: S, credentials: Credentials) -> Self {
        Self { inner, credentials }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, RB> Service<Request<B>> for ClientAuth<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: ReplayBody + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<RB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Service)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Use the service that was made ready, leave a clone in its place
        // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(Box::pin(send(inner, self.credentials.clone(), req)))
    }
}

/// Puts the token in the `Authorization` header (marked sensitive).
fn authorize<B, E>(req: &mut Request<B>, token: &AccessToken) -> Result<(), CallError<E>> {
    let value = token.authorization().ok_or_else(|| {
        CallError::Token(ClientError::source_error(
            "the access token holds bytes a header cannot carry",
        ))
    })?;
    req.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// Adds the parsed `Bearer` challenge of a 401 or 403 to the response's extensions.
fn with_challenge<RB>(mut res: Response<RB>) -> Response<RB> {
    if matches!(
        res.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        if let Some(challenge) = Challenge::from_headers(res.headers()) {
            if challenge.is_insufficient_scope() {
                tracing::debug!(
                    target: "sealed_session::client",
                    missing_scopes = ?challenge.scopes(),
                    "the API wants more scope: not retrying"
                );
            }
            res.extensions_mut().insert(challenge);
        }
    }
    res
}

async fn send<S, B, RB>(
    mut inner: S,
    credentials: Credentials,
    mut req: Request<B>,
) -> Result<Response<RB>, CallError<S::Error>>
where
    S: Service<Request<B>, Response = Response<RB>>,
    B: ReplayBody,
{
    let cache = match credentials {
        Credentials::Headers(headers) => {
            headers.apply(req.headers_mut());
            let res = inner.call(req).await.map_err(CallError::Service)?;
            return Ok(with_challenge(res));
        }
        Credentials::Token(cache) => cache,
    };
    let (generation, token) = cache.get(None).await.map_err(CallError::Token)?;
    authorize(&mut req, &token)?;
    let replay = try_clone_request(&req);
    let res = with_challenge(inner.call(req).await.map_err(CallError::Service)?);
    let refused = res.status() == StatusCode::UNAUTHORIZED
        && res
            .extensions()
            .get::<Challenge>()
            .is_some_and(Challenge::is_invalid_token);
    if !refused {
        return Ok(res);
    }
    let Some(mut again) = replay else {
        tracing::debug!(
            target: "sealed_session::client",
            "the API refused the token, and the request body cannot be sent again: no retry"
        );
        return Ok(res);
    };
    tracing::debug!(
        target: "sealed_session::client",
        generation,
        "the API refused the token (invalid_token): one refresh, one retry"
    );
    let (_, token) = cache
        .get(Some(generation))
        .await
        .map_err(CallError::Token)?;
    authorize(&mut again, &token)?;
    poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(CallError::Service)?;
    let res = inner.call(again).await.map_err(CallError::Service)?;
    Ok(with_challenge(res))
}
