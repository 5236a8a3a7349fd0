//! The authorization code grant with PKCE and a loopback redirect (RFC 8252, RFC 7636), for
//! CLIs that sign in through the browser (ARENA's `OAuthCallbackHandler`).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::{ClientError, OAuthClient, TokenSet};

/// How long the flow waits for the browser, by default: five minutes.
pub const DEFAULT_LOOPBACK_TIMEOUT: Duration = Duration::from_secs(300);

/// The largest request head the listener reads.
const MAX_HEAD: usize = 8 * 1024;
/// The most connections the listener answers (favicon requests and the like) before giving up.
const MAX_CONNECTIONS: usize = 64;
/// How long one browser connection may take to send its request.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A browser sign-in with a loopback redirect; made by [`OAuthClient::loopback_flow`].
///
/// It listens on `127.0.0.1` on an ephemeral port (the provider must accept any port for a
/// loopback redirect URI, RFC 8252 §7.3), hands the authorization URL (PKCE S256, a random
/// `state`) to a callback that opens the browser, accepts exactly one callback, answers the
/// browser with a small page, stops listening, and exchanges the code. A wrong `state` ends the
/// flow with [`ClientError::StateMismatch`], an `iss` (RFC 9207) other than the client's issuer
/// with [`ClientError::IssuerMismatch`], an `error` answer with
/// [`ClientError::AccessDenied`] or [`ClientError::Provider`], no answer in time with
/// [`ClientError::TimedOut`].
#[derive(Debug, Clone)]
#[must_use]
pub struct LoopbackFlow {
    client: OAuthClient,
    timeout: Duration,
    path: String,
    params: Vec<(String, String)>,
}

impl OAuthClient {
    /// Starts building a browser sign-in with a loopback redirect.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sealed_session::client::OAuthClient;
    ///
    /// let flow = OAuthClient::new("https://id.example.org", "cli", "https://id.example.org/token")
    ///     .with_authorization_endpoint("https://id.example.org/authorize")
    ///     .loopback_flow()
    ///     .with_timeout(Duration::from_secs(120))
    ///     .with_param("prompt", "consent");
    /// # drop(flow);
    /// ```
    pub fn loopback_flow(&self) -> LoopbackFlow {
        LoopbackFlow {
            client: self.clone(),
            timeout: DEFAULT_LOOPBACK_TIMEOUT,
            path: "/callback".to_owned(),
            params: Vec::new(),
        }
    }
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// What the browser brought back.
enum Callback {
    Code(String),
    Failed(ClientError),
}

impl LoopbackFlow {
    /// How long to wait for the browser (default [`DEFAULT_LOOPBACK_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The redirect URI's path (default `/callback`).
    pub fn with_callback_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// An extra authorization parameter (`prompt=consent`, `access_type=offline`).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Runs the flow: `open` gets the authorization URL (open the browser, or print it).
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] without an authorization endpoint;
    /// [`ClientError::Transport`] when 127.0.0.1 cannot be bound; [`ClientError::TimedOut`],
    /// [`ClientError::StateMismatch`], [`ClientError::AccessDenied`], or the provider's error
    /// (from the callback or the code exchange).
    pub async fn run(self, open: impl FnOnce(&str)) -> Result<TokenSet, ClientError> {
        let Some(endpoint) = self.client.authorization_endpoint() else {
            return Err(ClientError::Unsupported {
                what: "authorization endpoint",
            });
        };
        let mut url = url::Url::parse(endpoint)
            .map_err(|_| ClientError::source_error("the authorization endpoint is not a URL"))?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| ClientError::transport(format!("cannot listen on 127.0.0.1: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| ClientError::transport(format!("cannot listen on 127.0.0.1: {e}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{}", self.path);
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_b64(16);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", self.client.client_id())
                .append_pair("redirect_uri", &redirect_uri);
            let scope = self.client.scope_param();
            if !scope.is_empty() {
                q.append_pair("scope", &scope);
            }
            q.append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(audience) = self.client.audience() {
                q.append_pair("audience", audience);
            }
            for (k, v) in &self.params {
                q.append_pair(k, v);
            }
        }
        tracing::info!(target: "sealed_session::client", port, "waiting for the browser on the loopback redirect");
        open(url.as_str());
        let expected = Arc::new(Expected {
            path: self.path.clone(),
            state,
            issuer: self.client.issuer().to_owned(),
        });
        let waited = tokio::time::timeout(self.timeout, accept(&listener, expected)).await;
        // One answer only: stop listening before anything else.
        drop(listener);
        let code = match waited {
            Err(_) => return Err(ClientError::TimedOut),
            Ok(Err(e)) | Ok(Ok(Callback::Failed(e))) => return Err(e),
            Ok(Ok(Callback::Code(code))) => code,
        };
        let params = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        self.client.token_request(&params).await
    }
}

/// What the callback must match.
struct Expected {
    path: String,
    state: String,
    issuer: String,
}

/// Answers connections, several at once (a browser may open a connection and send nothing on
/// it, a preconnect), until one is the callback; then drops the others.
async fn accept(listener: &TcpListener, expected: Arc<Expected>) -> Result<Callback, ClientError> {
    let mut connections = tokio::task::JoinSet::new();
    let mut accepted = 0;
    loop {
        tokio::select! {
            conn = listener.accept(), if accepted < MAX_CONNECTIONS => {
                let (stream, _) = conn
                    .map_err(|e| ClientError::transport(format!("loopback listener: {e}")))?;
                accepted += 1;
                let expected = expected.clone();
                connections.spawn(async move {
                    tokio::time::timeout(CONNECTION_TIMEOUT, serve(stream, &expected))
                        .await
                        .ok()
                        .flatten()
                });
            }
            Some(done) = connections.join_next() => {
                if let Ok(Some(outcome)) = done {
                    return Ok(outcome);
                }
            }
            else => {
                return Err(ClientError::transport(
                    "too many requests on the loopback listener",
                ));
            }
        }
    }
}

/// Reads one request; answers it. `Some` when it was the callback.
async fn serve(mut stream: TcpStream, expected: &Expected) -> Option<Callback> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n)?);
    }
    let line = head.split(|b| *b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let (target_path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || target_path != expected.path.as_str() {
        respond(&mut stream, "404 Not Found", "Not found.").await;
        return None;
    }
    let mut got_state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "state" => got_state = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            "error" => error = Some(v.chars().take(64).collect::<String>()),
            "error_description" => description = Some(v.chars().take(256).collect::<String>()),
            "iss" => iss = Some(v.into_owned()),
            _ => {}
        }
    }
    let state_ok =
        got_state.is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected.state.as_bytes())));
    // RFC 9207: when the provider names itself, it must be the client's issuer.
    let iss_ok =
        iss.is_none_or(|i| i.trim_end_matches('/') == expected.issuer.trim_end_matches('/'));
    let outcome = if !state_ok {
        tracing::warn!(target: "sealed_session::client", "loopback callback with a wrong state: ending the sign-in");
        respond(
            &mut stream,
            "400 Bad Request",
            "This answer was not for this sign-in. Start again from the app.",
        )
        .await;
        Callback::Failed(ClientError::StateMismatch)
    } else if !iss_ok {
        tracing::warn!(target: "sealed_session::client", "loopback callback from another issuer: ending the sign-in");
        respond(
            &mut stream,
            "400 Bad Request",
            "This answer came from another provider. Start again from the app.",
        )
        .await;
        Callback::Failed(ClientError::IssuerMismatch)
    } else if let Some(error) = error {
        respond(
            &mut stream,
            "200 OK",
            "Sign-in did not complete. You can close this window.",
        )
        .await;
        Callback::Failed(if error == "access_denied" {
            ClientError::AccessDenied
        } else {
            ClientError::Provider { error, description }
        })
    } else if let Some(code) = code {
        respond(
            &mut stream,
            "200 OK",
            "Signed in. You can close this window and return to the app.",
        )
        .await;
        Callback::Code(code)
    } else {
        respond(&mut stream, "400 Bad Request", "The answer had no code.").await;
        Callback::Failed(ClientError::invalid(
            "the callback had neither a code nor an error",
        ))
    };
    Some(outcome)
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let body =
        format!("<!doctype html><meta charset=\"utf-8\"><title>Sign-in</title><p>{message}</p>\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}
