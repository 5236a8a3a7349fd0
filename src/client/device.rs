//! The device authorization grant (RFC 8628): the user opens a URL on another device and types
//! a code while the app polls.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Deserialize;

use super::provider::{oauth_error, seconds};
use super::{ClientError, OAuthClient, TokenSet};

/// The longest device-code lifetime honoured; a longer `expires_in` is cut to this.
pub const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// The most token polls one flow makes, whatever the intervals.
const MAX_POLLS: u32 = 2_000;

/// What the app shows the user: where to go and which code to type. The device code itself
/// (the polling secret) stays inside and out of `Debug`.
#[derive(Clone)]
pub struct DeviceCode {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: Duration,
    interval: Duration,
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCode")
            .field("device_code", &"REDACTED")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl DeviceCode {
    /// The code the user types.
    #[must_use]
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the user types it.
    #[must_use]
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// A URL with the code filled in (for a QR code or a link), if the provider gave one.
    #[must_use]
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.verification_uri_complete.as_deref()
    }

    /// How long the code is valid (at most [`MAX_DEVICE_CODE_LIFETIME`]).
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The provider's polling interval, in its seconds (default 5).
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }
}

#[derive(Deserialize)]
struct Answer {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: serde_json::Value,
    interval: Option<serde_json::Value>,
}

/// A device-flow sign-in; made by [`OAuthClient::device_flow`].
///
/// It polls at the provider's interval, keeps polling on `authorization_pending`, adds 5
/// seconds for good on `slow_down`, and stops on `access_denied`
/// ([`ClientError::AccessDenied`]), `expired_token` or the end of the code's lifetime
/// ([`ClientError::Expired`]), and on any other error. Dropping the future cancels it;
/// [`DeviceFlow::run_until`] cancels on a signal.
#[derive(Debug, Clone)]
#[must_use]
pub struct DeviceFlow {
    client: OAuthClient,
    unit: Duration,
}

impl OAuthClient {
    /// Starts building a device-flow sign-in.
    ///
    /// ```
    /// use sealed_session::client::OAuthClient;
    ///
    /// let flow = OAuthClient::new("https://id.example.org", "cli", "https://id.example.org/token")
    ///     .with_device_authorization_endpoint("https://id.example.org/device")
    ///     .device_flow();
    /// # drop(flow);
    /// ```
    pub fn device_flow(&self) -> DeviceFlow {
        DeviceFlow {
            client: self.clone(),
            unit: Duration::from_secs(1),
        }
    }
}

impl DeviceFlow {
    /// How long one of the provider's seconds lasts when waiting: the polling interval and the
    /// `slow_down` increment are multiples of it. Default one second; tests shorten it. The
    /// code's lifetime is not scaled.
    pub fn with_time_unit(mut self, unit: Duration) -> Self {
        self.unit = unit;
        self
    }

    /// Asks the provider for a device code.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] without a device authorization endpoint; the provider's or
    /// the transport's error.
    pub async fn start(&self) -> Result<DeviceCode, ClientError> {
        let Some(endpoint) = self.client.device_authorization_endpoint() else {
            return Err(ClientError::Unsupported {
                what: "device authorization endpoint",
            });
        };
        let scope = self.client.scope_param();
        let mut params = Vec::new();
        if !scope.is_empty() {
            params.push(("scope", scope.as_str()));
        }
        if let Some(audience) = self.client.audience() {
            params.push(("audience", audience));
        }
        let res = self.client.post_form(endpoint, &params).await?;
        if !res.status().is_success() {
            return Err(oauth_error(res.status(), res.body()));
        }
        let answer: Answer = serde_json::from_slice(res.body())
            .map_err(|_| ClientError::invalid("the device authorization answer"))?;
        let expires_in = seconds(&answer.expires_in)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .ok_or_else(|| ClientError::invalid("the device code has no lifetime"))?
            .min(MAX_DEVICE_CODE_LIFETIME);
        let interval = answer
            .interval
            .as_ref()
            .and_then(seconds)
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(5)
            .clamp(1, 60);
        tracing::info!(target: "sealed_session::client", expires_in = expires_in.as_secs(), interval, "device code issued");
        Ok(DeviceCode {
            device_code: answer.device_code,
            user_code: answer.user_code,
            verification_uri: answer.verification_uri,
            verification_uri_complete: answer.verification_uri_complete,
            expires_in,
            interval: Duration::from_secs(interval),
        })
    }

    /// Polls the token endpoint until the user approved or refused `code`, or it expired.
    ///
    /// # Errors
    ///
    /// [`ClientError::AccessDenied`], [`ClientError::Expired`], or the provider's or the
    /// transport's error.
    pub async fn poll(&self, code: &DeviceCode) -> Result<TokenSet, ClientError> {
        let deadline = tokio::time::Instant::now() + code.expires_in;
        let steps = u32::try_from(code.interval.as_secs()).unwrap_or(u32::MAX);
        let mut interval = self.unit.saturating_mul(steps);
        for _ in 0..MAX_POLLS {
            let wake = tokio::time::Instant::now() + interval;
            if wake >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Err(ClientError::Expired);
            }
            tokio::time::sleep_until(wake).await;
            let params = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code.device_code.as_str()),
            ];
            match self.client.token_request(&params).await {
                Ok(set) => return Ok(set),
                Err(ClientError::Provider { error, description }) => match error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => {
                        interval = interval.saturating_add(self.unit.saturating_mul(5));
                        tracing::debug!(target: "sealed_session::client", interval_ms = interval.as_millis() as u64, "slow_down: polling less often");
                    }
                    "access_denied" => return Err(ClientError::AccessDenied),
                    "expired_token" => return Err(ClientError::Expired),
                    _ => return Err(ClientError::Provider { error, description }),
                },
                Err(e) => return Err(e),
            }
        }
        Err(ClientError::Expired)
    }

    /// Starts the flow, hands the code to `on_code` (the app shows it), and polls.
    ///
    /// # Errors
    ///
    /// As [`DeviceFlow::start`] and [`DeviceFlow::poll`].
    pub async fn run(self, on_code: impl FnOnce(&DeviceCode)) -> Result<TokenSet, ClientError> {
        let code = self.start().await?;
        on_code(&code);
        self.poll(&code).await
    }

    /// [`DeviceFlow::run`], ended with [`ClientError::Cancelled`] when `cancel` completes first
    /// (the user pressed Ctrl-C, the window closed).
    ///
    /// # Errors
    ///
    /// As [`DeviceFlow::run`], or [`ClientError::Cancelled`].
    pub async fn run_until(
        self,
        on_code: impl FnOnce(&DeviceCode),
        cancel: impl Future<Output = ()>,
    ) -> Result<TokenSet, ClientError> {
        tokio::select! {
            result = self.run(on_code) => result,
            () = cancel => {
                tracing::info!(target: "sealed_session::client", "device flow cancelled");
                Err(ClientError::Cancelled)
            }
        }
    }
}
