//! [`Transport`]: how the grant managers talk to the provider's endpoints, and an adaptor for
//! any tower service.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Limited};
use tower_service::Service;

use super::ClientError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest provider answer read, in bytes.
pub const MAX_PROVIDER_BODY: usize = 256 * 1024;

/// Sends one request to the provider and reads the whole answer. [`HttpClient`](super::HttpClient)
/// is the default; [`ServiceTransport`] adapts any tower service (a proxy client, or an
/// in-process test provider). Must not follow redirects; errors must not hold the URL's query,
/// a header or a body.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends `request`, returns the answer with its whole body.
    ///
    /// # Errors
    ///
    /// [`ClientError::Transport`] when no answer arrived.
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, ClientError>;
}

/// A [`Transport`] over any cloneable tower service taking a body built from [`Bytes`] (for
/// example an axum `Router`, whose `Body` is `From<Bytes>`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bytes::Bytes;
/// use sealed_session::client::{ServiceTransport, Transport};
///
/// let echo = tower::service_fn(|req: http::Request<http_body_util::Full<Bytes>>| async move {
///     Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
/// });
/// let transport = ServiceTransport::<_, http_body_util::Full<Bytes>>::new(echo);
/// let res = transport.send(http::Request::new(Bytes::from_static(b"hi"))).await.unwrap();
/// assert_eq!(res.body(), "hi");
/// # }
/// ```
pub struct ServiceTransport<S, B = http_body_util::Full<Bytes>> {
    service: S,
    _body: PhantomData<fn() -> B>,
}

impl<S: Clone, B> Clone for ServiceTransport<S, B> {
    fn clone(&self) -> Self {
        Self::new(self.service.clone())
    }
}

impl<S, B> fmt::Debug for ServiceTransport<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTransport").finish_non_exhaustive()
    }
}

impl<S, B> ServiceTransport<S, B> {
    /// Wraps `service`, sending it request bodies of type `B` (name it when the service takes
    /// several: `ServiceTransport::<_, axum::body::Body>::new(router)`).
    pub fn new(service: S) -> Self {
        Self {
            service,
            _body: PhantomData,
        }
    }
}

#[async_trait::async_trait]
impl<S, B, RB> Transport for ServiceTransport<S, B>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: fmt::Display,
    B: From<Bytes> + Send + 'static,
    RB: hyper::body::Body + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<BoxError>,
{
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, ClientError> {
        let mut service = self.service.clone();
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(|e| ClientError::transport(e.to_string()))?;
        let response = service
            .call(request.map(B::from))
            .await
            .map_err(|e| ClientError::transport(e.to_string()))?;
        read_limited(response, MAX_PROVIDER_BODY).await
    }
}

/// Reads a whole response body, up to `limit` bytes.
pub(crate) async fn read_limited<RB>(
    response: Response<RB>,
    limit: usize,
) -> Result<Response<Bytes>, ClientError>
where
    RB: hyper::body::Body,
    RB::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ClientError::transport(format!("the answer passed {limit} bytes"))
            } else {
                ClientError::transport(format!("reading the answer failed: {e}"))
            }
        })?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}
