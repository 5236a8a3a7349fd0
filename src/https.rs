//! The one HTTPS client setup of the crate's outgoing calls (the `oauth` login service, the
//! `jwt` key and introspection fetches, and the `client` module): hyper-util's client over
//! rustls (aws-lc-rs) with the system's root certificates, HTTP/1.1 and no redirects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The connector under [`client`]: TLS (or plain `http://`) over hyper-util's TCP connector.
pub(crate) type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client trusting the system's root certificates, with `connect_timeout`. When no root
/// certificate can be loaded it trusts none (plain `http://`, for example on loopback, still
/// works) and logs a warning.
pub(crate) fn client(connect_timeout: Duration) -> Client<HttpsConnector, Full<Bytes>> {
    let provider = || rustls::crypto::aws_lc_rs::default_provider();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider())
    {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(target: "sealed_session", %error, "no system root certificates: https calls will fail");
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider()))
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth()
                });
            match tls {
                Ok(tls) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls),
                // The aws-lc-rs provider supports rustls's default versions, so this is not
                // reached; plain http still works through the same builder.
                Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                ),
            }
        }
    };
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}
