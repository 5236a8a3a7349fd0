//! Helpers for the client tests (`tests/client_*.rs`): node providers started per test on
//! 127.0.0.1 and killed by pid on drop, a cookie-keeping "browser" that plays the user, an
//! axum API server on a free port, and a log capture that checks no secret reached the logs.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use sealed_session::client::{HttpClient, Transport};
use serde_json::Value;

#[path = "../common/node.rs"]
pub mod node;

pub use node::NodeProvider;

/// A node process serving an OAuth provider on 127.0.0.1 (a [`NodeProvider`]), killed by pid
/// when dropped, with the client tests' calls to its control API.
pub struct NodeServer {
    pub issuer: String,
    pub port: u16,
    node: NodeProvider,
    http: HttpClient,
}

impl NodeServer {
    async fn start(script: &str, package: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--lifetime", "170"];
        args.extend_from_slice(extra);
        let node = NodeProvider::start(script, package, &args, true).await;
        Self {
            issuer: node.issuer.clone(),
            port: node.port,
            node,
            http: HttpClient::new(),
        }
    }

    /// oidc-provider with the client test configuration (tests/oauth/oidc-client-provider.mjs).
    pub async fn oidc(access_ttl: u32) -> Self {
        Self::start(
            "oidc-client-provider.mjs",
            "oidc-provider",
            &["--access-ttl", &access_ttl.to_string()],
        )
        .await
    }

    /// oauth2-mock-server with its control API (tests/oauth/mock-server.mjs).
    pub async fn mock() -> Self {
        Self::start("mock-server.mjs", "oauth2-mock-server", &[]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub async fn control(&self, what: &str, body: Value) {
        let req = Request::post(self.url(&format!("/__control/{what}")))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body.to_string()))
            .unwrap();
        let res = self.http.send(req).await.expect("control reachable");
        assert_eq!(res.status(), StatusCode::OK, "control {what}");
    }

    pub async fn counts(&self) -> Value {
        let req = Request::get(self.url("/__control/counts"))
            .body(Bytes::new())
            .unwrap();
        let res = self.http.send(req).await.expect("control reachable");
        serde_json::from_slice(res.body()).expect("counts json")
    }

    pub async fn count(&self, key: &str) -> u64 {
        self.counts().await[key].as_u64().unwrap_or(0)
    }

    /// Stops the provider now (the "provider down" case).
    pub async fn kill(&mut self) {
        self.node.kill().await;
    }
}

/// A user at a browser: keeps cookies, follows redirects by hand (bounded).
pub struct Browser {
    http: HttpClient,
    jar: BTreeMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self {
            http: HttpClient::new(),
            jar: BTreeMap::new(),
        }
    }
}

impl Browser {
    pub async fn request(
        &mut self,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response<Bytes> {
        let mut req = Request::builder().method(method).uri(url);
        if !self.jar.is_empty() {
            let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header(header::COOKIE, cookie.join("; "));
        }
        let body = match form {
            Some(pairs) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                let mut s = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    s.append_pair(k, v);
                }
                Bytes::from(s.finish())
            }
            None => Bytes::new(),
        };
        let res = self
            .http
            .send(req.body(body).unwrap())
            .await
            .expect("browser request");
        for line in res.headers().get_all(header::SET_COOKIE) {
            let line = line.to_str().unwrap();
            let Some((name, value)) = line.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let lower = line.to_ascii_lowercase();
            if value.is_empty()
                || lower.contains("expires=thu, 01 jan 1970")
                || lower.contains("max-age=0")
            {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        res
    }

    /// GETs `url` and follows redirects (at most 10) while they stay on `origin`; returns the
    /// last response and its URL (or the first redirect that leaves `origin`, unfollowed).
    pub async fn follow(&mut self, origin: &str, url: &str) -> (String, Response<Bytes>) {
        let mut url = url.to_owned();
        for _ in 0..10 {
            let res = self.request(Method::GET, &url, None).await;
            if !res.status().is_redirection() {
                return (url, res);
            }
            let location = res.headers()[header::LOCATION].to_str().unwrap();
            let next = url::Url::parse(&url)
                .unwrap()
                .join(location)
                .unwrap()
                .to_string();
            if !next.starts_with(origin) {
                return (next, res);
            }
            url = next;
        }
        panic!("more than 10 redirects");
    }

    /// POSTs a form and returns the `Location` it redirects to (absolute).
    pub async fn post_redirect(&mut self, url: &str, form: &[(&str, &str)]) -> String {
        let res = self.request(Method::POST, url, Some(form)).await;
        assert!(
            res.status().is_redirection(),
            "POST {url}: {} {}",
            res.status(),
            String::from_utf8_lossy(res.body())
        );
        let location = res.headers()[header::LOCATION].to_str().unwrap();
        url::Url::parse(url)
            .unwrap()
            .join(location)
            .unwrap()
            .to_string()
    }
}

/// The value of `<input ... name="{name}" value="...">` in an HTML form.
pub fn form_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

/// Serves `router` on 127.0.0.1 on a free port until the test's runtime ends.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Every `tracing` event of this test binary, at every level, formatted.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Fails when any of `secrets` (at least 8 characters each) is in the captured logs.
    pub fn assert_clean(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(
            !text.is_empty(),
            "the log capture saw nothing: is it installed?"
        );
        for secret in secrets {
            assert!(secret.len() >= 8, "too short to check: {secret:?}");
            assert!(
                !text.contains(secret),
                "a secret reached the logs: {secret}"
            );
        }
    }
}

/// The binary-wide log capture, installed as the global subscriber on first use.
pub fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the client test binaries");
        capture
    })
}
