//! [`HttpClient`] and [`ApiClient`]: the ready-made client, for apps that do not want to
//! assemble tower layers.
//!
//! # Why hyper-util, not reqwest
//!
//! The crate already depends on hyper, hyper-util's client and hyper-rustls for its `oauth`
//! login service, so a small wrapper over them adds no dependency tree, and keeps one HTTP stack
//! and one TLS setup in the binary. A `reqwest` integration (through `reqwest-middleware`)
//! would pull in a second stack and a second middleware model beside tower; apps already on
//! reqwest can still use [`TokenSource`](super::TokenSource) and the grant managers directly,
//! and put [`AccessToken::authorization`](super::AccessToken::authorization) on their requests.
//! [`ClientAuthLayer`](super::ClientAuthLayer) works over any tower client, including this one.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use tower_layer::Layer as _;
use tower_service::Service;

use super::transport::{read_limited, MAX_PROVIDER_BODY};
use super::{CallError, ClientAuth, ClientAuthLayer, ClientError, Transport};

use crate::https::HttpsConnector;

/// The largest API answer [`ApiClient`] reads, in bytes, by default.
pub const DEFAULT_MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// hyper-util's client over rustls (aws-lc-rs) with the system's root certificates, HTTP/1.1,
/// a 10-second connect timeout and no redirects. A tower `Service` (wrap it in
/// [`ClientAuthLayer`]) and the default [`Transport`] of [`OAuthClient`](super::OAuthClient).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector, Full<Bytes>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client trusting the system's root certificates. When none can be loaded it trusts
    /// none (plain `http://`, for example on loopback, still works) and logs a warning.
    ///
    /// ```
    /// let client = sealed_session::client::HttpClient::new();
    /// # drop(client);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            client: crate::https::client(Duration::from_secs(10)),
        }
    }
}

impl Service<Request<Full<Bytes>>> for HttpClient {
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = hyper_util::client::legacy::ResponseFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        Service::<Request<Full<Bytes>>>::poll_ready(&mut self.client, cx)
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        self.client.request(req)
    }
}

/// An error and its sources, one line, without URLs (hyper's errors hold none).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    for _ in 0..4 {
        let Some(s) = source else { break };
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait::async_trait]
impl Transport for HttpClient {
    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, ClientError> {
        let response = self
            .client
            .request(request.map(Full::new))
            .await
            .map_err(|e| ClientError::transport(error_chain(&e)))?;
        read_limited(response, MAX_PROVIDER_BODY).await
    }
}

/// A client for one protected API: a base URL, an [`HttpClient`] and a [`ClientAuthLayer`]
/// (Home Assistant's `AbstractAuth.request(method, path)`, with the API's location as input).
///
/// ```no_run
/// # async fn run() -> Result<(), sealed_session::client::ClientError> {
/// use sealed_session::client::{AccessToken, ApiClient, ClientAuthLayer, token_source_fn};
///
/// let auth = ClientAuthLayer::new(token_source_fn(|| async { Ok(AccessToken::bearer("t")) }));
/// let api = ApiClient::new("https://api.example.org/v1/", auth)?;
/// let res = api.get("lights").await?;
/// println!("{} {:?}", res.status(), res.body());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    service: ClientAuth<HttpClient>,
    layer: ClientAuthLayer,
    max_body: usize,
    timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for the API at `base_url` (`http` or `https`; a trailing `/` is added).
    ///
    /// ```
    /// use sealed_session::client::{ApiClient, ApiKeyHeaders, ClientAuthLayer};
    ///
    /// let auth = ClientAuthLayer::api_keys(ApiKeyHeaders::id_and_key("id", "key").unwrap());
    /// let api = ApiClient::new("http://127.0.0.1:8080/api", auth.clone()).unwrap();
    /// assert_eq!(api.url("lights"), "http://127.0.0.1:8080/api/lights");
    /// assert!(ApiClient::new("ftp://x", auth).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ClientError::Source`] when `base_url` is not an absolute http(s) URL.
    pub fn new(base_url: &str, auth: ClientAuthLayer) -> Result<Self, ClientError> {
        Self::with_client(base_url, auth, HttpClient::new())
    }

    /// Like [`ApiClient::new`], over a given [`HttpClient`].
    ///
    /// # Errors
    ///
    /// As [`ApiClient::new`].
    pub fn with_client(
        base_url: &str,
        auth: ClientAuthLayer,
        client: HttpClient,
    ) -> Result<Self, ClientError> {
        let url = url::Url::parse(base_url)
            .map_err(|_| ClientError::source_error("the API base URL is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(ClientError::source_error(
                "the API base URL must be an http or https URL",
            ));
        }
        let mut base = url.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        Ok(Self {
            base,
            service: auth.layer(client),
            layer: auth,
            max_body: DEFAULT_MAX_RESPONSE_BODY,
            timeout: Duration::from_secs(30),
        })
    }

    /// Caps the answers read (default [`DEFAULT_MAX_RESPONSE_BODY`]).
    #[must_use]
    pub fn with_max_response_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Bounds each request, refresh and retry included (default 30 s).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The layer, to ask whether it is [`authenticated`](ClientAuthLayer::authenticated).
    pub fn auth(&self) -> &ClientAuthLayer {
        &self.layer
    }

    /// The full URL of `path` (relative to the base; a leading `/` is dropped).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    /// `GET <base>/<path>`.
    ///
    /// # Errors
    ///
    /// As [`ApiClient::request`].
    pub async fn get(&self, path: &str) -> Result<Response<Bytes>, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// `POST <base>/<path>` with a JSON body.
    ///
    /// # Errors
    ///
    /// As [`ApiClient::request`].
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        value: &T,
    ) -> Result<Response<Bytes>, ClientError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ClientError::source_error(format!("the JSON body: {e}")))?;
        self.request(Method::POST, path, Some(("application/json", body.into())))
            .await
    }

    /// Sends a request with an optional `(content type, body)` and reads the whole answer. Any
    /// status comes back as a response; 401 and 403 carry their
    /// [`Challenge`](super::Challenge) in the extensions.
    ///
    /// # Errors
    ///
    /// The token source's error (for example [`ClientError::LoginRequired`]), or
    /// [`ClientError::Transport`] when the API could not be reached, did not answer within the
    /// timeout, or answered more than the body cap.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<Response<Bytes>, ClientError> {
        let mut builder = Request::builder().method(method).uri(self.url(path));
        let bytes = match body {
            Some((content_type, bytes)) => {
                let value = HeaderValue::from_str(content_type)
                    .map_err(|_| ClientError::source_error("invalid content type"))?;
                builder = builder.header(header::CONTENT_TYPE, value);
                bytes
            }
            None => Bytes::new(),
        };
        let req = builder
            .body(Full::new(bytes))
            .map_err(|_| ClientError::source_error("the path does not make a valid URL"))?;
        let mut service = self.service.clone();
        let call = async {
            std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(req).await
        };
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| ClientError::transport("no answer in time"))?
            .map_err(|e| match e {
                CallError::Token(e) => e,
                CallError::Service(e) => ClientError::transport(error_chain(&e)),
            })?;
        // The parts (and the challenge ClientAuth put in the extensions) are kept.
        read_limited(response, self.max_body).await
    }
}
