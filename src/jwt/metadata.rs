//! RFC 9728 protected-resource metadata: where a client learns which authorization server
//! issues tokens for this API, and which scopes and token presentations it takes.

use std::convert::Infallible;
use std::fmt;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum_core::body::Body;
use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

/// The well-known path of the metadata (RFC 9728 §3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The metadata of a protected resource (RFC 9728 §2).
///
/// `resource` is the API's identifier, the URL a client starts from (and the audience its tokens
/// should carry). For a resource with a path, the document lives at the path-suffixed form:
/// `https://api.example.com/v1` → `https://api.example.com/.well-known/oauth-protected-resource/v1`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{body::Body, Router};
/// use http::{Request, StatusCode};
/// use http_body_util::BodyExt as _;
/// use sealed_session::jwt::ProtectedResource;
/// use tower::ServiceExt as _;
///
/// let metadata = ProtectedResource::new("https://api.example.com/v1")
///     .with_authorization_server("https://login.example.com")
///     .with_scopes(["reports:read", "reports:write"]);
/// assert_eq!(metadata.well_known_path(), "/.well-known/oauth-protected-resource/v1");
/// assert_eq!(
///     metadata.metadata_url(),
///     "https://api.example.com/.well-known/oauth-protected-resource/v1"
/// );
///
/// let app = Router::new().route_service(&metadata.well_known_path(), metadata.service().unwrap());
/// let res = app
///     .oneshot(Request::get("/.well-known/oauth-protected-resource/v1").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(res.status(), StatusCode::OK);
/// let doc: serde_json::Value =
///     serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
/// assert_eq!(doc["resource"], "https://api.example.com/v1");
/// assert_eq!(doc["authorization_servers"][0], "https://login.example.com");
/// assert_eq!(doc["bearer_methods_supported"][0], "header");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ProtectedResource {
    resource: String,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    bearer_methods: Vec<String>,
    jwks_uri: Option<String>,
    name: Option<String>,
    documentation: Option<String>,
    dpop_algs: Vec<String>,
    dpop_required: bool,
    extra: Map<String, Value>,
}

impl ProtectedResource {
    /// The metadata of `resource`, with bearer tokens in the `Authorization` header only.
    pub fn new(resource: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            bearer_methods: vec!["header".to_owned()],
            jwks_uri: None,
            name: None,
            documentation: None,
            dpop_algs: Vec::new(),
            dpop_required: false,
            extra: Map::new(),
        }
    }

    /// The resource identifier.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// An authorization server (its issuer identifier) that issues tokens for this resource.
    #[must_use]
    pub fn with_authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes a client may ask for (`scopes_supported`).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The resource's own signing keys (`jwks_uri`), if it signs responses.
    #[must_use]
    pub fn with_jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// A human-readable name (`resource_name`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A page documenting the API (`resource_documentation`).
    #[must_use]
    pub fn with_documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// The DPoP proof algorithms accepted (`dpop_signing_alg_values_supported`), and whether
    /// every token must be DPoP-bound (`dpop_bound_access_tokens_required`).
    #[must_use]
    pub fn with_dpop<I, S>(mut self, algorithms: I, required: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_algs = algorithms.into_iter().map(Into::into).collect();
        self.dpop_required = required;
        self
    }

    /// Another member of the document (for a registered or private parameter).
    #[must_use]
    pub fn with_member(mut self, name: impl Into<String>, value: Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    /// Where the document is served, as a path: [`WELL_KNOWN_PATH`], followed by the
    /// resource's path when it has one (RFC 9728 §3.1).
    #[must_use]
    pub fn well_known_path(&self) -> String {
        let path = url::Url::parse(&self.resource)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{WELL_KNOWN_PATH}{path}")
    }

    /// The document's absolute URL, as `resource_metadata` in a challenge gives it.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        let origin = url::Url::parse(&self.resource)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        format!("{origin}{}", self.well_known_path())
    }

    /// The `resource_metadata="…"` parameter for a `WWW-Authenticate` challenge (RFC 9728 §5.1).
    #[must_use]
    pub fn challenge_parameter(&self) -> String {
        format!("resource_metadata=\"{}\"", self.metadata_url())
    }

    /// The JSON document.
    #[must_use]
    pub fn document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("resource".to_owned(), json!(self.resource));
        if !self.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".to_owned(),
                json!(self.authorization_servers),
            );
        }
        if !self.scopes.is_empty() {
            doc.insert("scopes_supported".to_owned(), json!(self.scopes));
        }
        doc.insert(
            "bearer_methods_supported".to_owned(),
            json!(self.bearer_methods),
        );
        if let Some(uri) = &self.jwks_uri {
            doc.insert("jwks_uri".to_owned(), json!(uri));
        }
        if let Some(name) = &self.name {
            doc.insert("resource_name".to_owned(), json!(name));
        }
        if let Some(url) = &self.documentation {
            doc.insert("resource_documentation".to_owned(), json!(url));
        }
        if !self.dpop_algs.is_empty() {
            doc.insert(
                "dpop_signing_alg_values_supported".to_owned(),
                json!(self.dpop_algs),
            );
        }
        if self.dpop_required {
            doc.insert("dpop_bound_access_tokens_required".to_owned(), json!(true));
        }
        for (k, v) in &self.extra {
            doc.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(doc)
    }

    /// Checks the configuration: `resource` and every URL are `https` (or `http` on loopback),
    /// `resource` has no query or fragment, scopes are RFC 6749 scope tokens.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong.
    pub fn check(&self) -> Result<(), String> {
        crate::jwks::check_url("resource", &self.resource)?;
        if url::Url::parse(&self.resource).is_ok_and(|u| u.query().is_some()) {
            return Err("the resource must not have a query".to_owned());
        }
        for server in &self.authorization_servers {
            crate::jwks::check_url("authorization server", server)?;
        }
        for (what, url) in [
            ("jwks_uri", &self.jwks_uri),
            ("resource documentation", &self.documentation),
        ] {
            if let Some(url) = url {
                crate::jwks::check_url(what, url)?;
            }
        }
        if let Some(bad) = self.scopes.iter().find(|s| !is_scope_token(s)) {
            return Err(format!("{bad:?} is not a scope token"));
        }
        Ok(())
    }

    /// The service answering `GET` (and `HEAD`) with the document; mount it at
    /// [`well_known_path`](Self::well_known_path). It is public: `Access-Control-Allow-Origin: *`
    /// and cacheable for an hour.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    pub fn service(&self) -> Result<MetadataService, String> {
        self.check()?;
        let body = serde_json::to_vec(&self.document()).map_err(|e| e.to_string())?;
        Ok(MetadataService {
            body: Arc::from(body),
        })
    }
}

fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// The tower service of [`ProtectedResource::service`].
#[derive(Clone)]
pub struct MetadataService {
    body: Arc<[u8]>,
}

impl fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataService").finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for MetadataService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        let response = if method == Method::GET || method == Method::HEAD {
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(self.body.to_vec())
            };
            let mut response = Response::new(body);
            let h = response.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            response
        } else {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            response
        };
        ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        let root = ProtectedResource::new("https://api.example.com");
        assert_eq!(root.well_known_path(), WELL_KNOWN_PATH);
        assert_eq!(
            root.metadata_url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let nested = ProtectedResource::new("https://api.example.com:8443/a/b/");
        assert_eq!(
            nested.well_known_path(),
            "/.well-known/oauth-protected-resource/a/b"
        );
        assert_eq!(
            nested.challenge_parameter(),
            "resource_metadata=\"https://api.example.com:8443/.well-known/oauth-protected-resource/a/b\""
        );
    }

    #[test]
    fn the_document_and_its_checks() {
        let m = ProtectedResource::new("https://api.example.com")
            .with_authorization_server("https://idp.example.com")
            .with_scopes(["a", "b"])
            .with_dpop(["ES256"], true)
            .with_name("Reports")
            .with_member("resource", json!("ignored: the configured one wins"));
        let doc = m.document();
        assert_eq!(doc["resource"], "https://api.example.com");
        assert_eq!(doc["scopes_supported"], json!(["a", "b"]));
        assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256"]));
        assert_eq!(doc["dpop_bound_access_tokens_required"], json!(true));
        assert_eq!(doc["resource_name"], "Reports");
        assert!(m.check().is_ok());
        assert!(ProtectedResource::new("http://api.example.com")
            .check()
            .is_err());
        assert!(ProtectedResource::new("https://api.example.com/?q=1")
            .check()
            .is_err());
        assert!(ProtectedResource::new("https://api.example.com")
            .with_scopes(["a b"])
            .check()
            .is_err());
        assert!(ProtectedResource::new("https://api.example.com")
            .with_authorization_server("http://idp.example.com")
            .service()
            .is_err());
    }
}
