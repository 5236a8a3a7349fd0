//! Talking to the provider after the callback: the code exchange (RFC 6749 §4.1.3), the ID-token
//! check, userinfo, and the ASF `token-oidc` lookup.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};

use super::answer::ProviderAnswer;
use super::flow::FlowState;
use super::id_token::{self, Expected, IdTokenError};
use super::provider::{ClientAuth, Protocol, Provider};
use super::transport::{HttpTransport, TransportErrorKind};
use crate::jwks::{JwksCache, JwksError};

/// Why talking to the provider failed. Every variant's text is safe to show: no code, verifier,
/// token or secret, and the provider's `error` only when it is a short plain code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    /// The provider refused with an RFC 6749 error code (or a 4xx without one).
    Refused {
        endpoint: &'static str,
        error: String,
    },
    /// The provider's answer was unusable: a 5xx, not JSON, too large, no connection.
    Upstream {
        endpoint: &'static str,
        detail: String,
    },
    /// No answer in time.
    Timeout { endpoint: &'static str },
    /// The ID token failed a check.
    IdToken(IdTokenError),
    /// Userinfo named another subject than the ID token.
    SubjectMismatch,
}

/// An `error` value safe to echo: 1 to 64 bytes of letters, digits, `_`, `-` and `.`.
pub(crate) fn safe_error_code(code: &str) -> Option<&str> {
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
    .then_some(code)
}

/// The provider client of one login service.
pub(crate) struct Exchanger {
    pub(crate) provider: Provider,
    pub(crate) transport: Arc<dyn HttpTransport>,
    pub(crate) timeout: Duration,
    pub(crate) redirect_uri: String,
    jwks: JwksCache,
}

impl Exchanger {
    pub(crate) fn new(
        provider: Provider,
        transport: Arc<dyn HttpTransport>,
        timeout: Duration,
        redirect_uri: String,
    ) -> Self {
        // The crate's one JWKS cache (shared with the `jwt` resource server's): refreshed
        // hourly, one refetch a minute at most on an unknown key id.
        let jwks = JwksCache::from_url(provider.jwks.clone().unwrap_or_default())
            .with_shared_transport(Arc::clone(&transport))
            .with_timeout(timeout);
        Self {
            provider,
            transport,
            timeout,
            redirect_uri,
            jwks,
        }
    }

    /// Uses a shared key cache instead of its own.
    pub(crate) fn with_jwks(mut self, jwks: Option<JwksCache>) -> Self {
        if let Some(jwks) = jwks {
            self.jwks = jwks;
        }
        self
    }

    /// A `GET` of `url` that asks for JSON, with the access token when given.
    fn get(
        endpoint: &'static str,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>, ExchangeError> {
        let mut request = http::Request::get(url).header(ACCEPT, "application/json");
        if let Some(token) = bearer {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request
            .body(Vec::new())
            .map_err(|_| ExchangeError::Upstream {
                endpoint,
                detail: format!("the {endpoint} URL is not a valid URI"),
            })
    }

    /// Sends one request within the timeout; a non-2xx answer is returned, not an error.
    async fn send(
        &self,
        endpoint: &'static str,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ExchangeError> {
        match tokio::time::timeout(self.timeout, self.transport.send(request)).await {
            Err(_) => Err(ExchangeError::Timeout { endpoint }),
            Ok(Err(e)) if e.kind() == TransportErrorKind::Timeout => {
                Err(ExchangeError::Timeout { endpoint })
            }
            Ok(Err(e)) => {
                // The transport's message may name hosts or addresses: logged, not shown.
                tracing::warn!(target: "sealed_session::oauth", endpoint, error = %e, "the provider could not be reached");
                Err(ExchangeError::Upstream {
                    endpoint,
                    detail: format!("could not reach the provider's {endpoint} endpoint"),
                })
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// A JSON object from a 2xx answer; `Refused` for a 4xx, `Upstream` for anything else.
    fn json_object(
        endpoint: &'static str,
        response: &http::Response<Vec<u8>>,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let status = response.status();
        let body: Option<Map<String, Value>> = serde_json::from_slice(response.body()).ok();
        if status.is_success() {
            return body.ok_or_else(|| ExchangeError::Upstream {
                endpoint,
                detail: format!("the {endpoint} endpoint answered {status} without a JSON object"),
            });
        }
        if status.is_client_error() {
            let error = body
                .as_ref()
                .and_then(|b| b.get("error"))
                .and_then(Value::as_str)
                .and_then(safe_error_code)
                .map_or_else(|| status.as_u16().to_string(), str::to_owned);
            if let Some(description) = body
                .as_ref()
                .and_then(|b| b.get("error_description"))
                .and_then(Value::as_str)
            {
                let description: String = description
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                tracing::info!(target: "sealed_session::oauth", endpoint, %error, %description, "the provider refused");
            }
            return Err(ExchangeError::Refused { endpoint, error });
        }
        Err(ExchangeError::Upstream {
            endpoint,
            detail: format!("the {endpoint} endpoint answered {status}"),
        })
    }

    /// Runs the whole exchange for a callback with `code`.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        flow: &FlowState,
        now: i64,
        skew: i64,
    ) -> Result<ProviderAnswer, ExchangeError> {
        if self.provider.protocol == Protocol::Asf {
            return self.asf_user(code).await;
        }
        let tokens = self.token_request(code, flow).await?;
        let mut answer = ProviderAnswer::default();
        if self.provider.protocol == Protocol::Oidc {
            let id_token = tokens
                .get("id_token")
                .and_then(Value::as_str)
                .ok_or(ExchangeError::IdToken(IdTokenError::Malformed))?;
            let expected = Expected {
                issuer: &self.provider.issuer,
                client_id: &self.provider.client_id,
                nonce: &flow.nonce,
                now,
                skew,
                flow_started: flow.started,
            };
            answer.id_claims = Some(self.verify_id_token(id_token, &expected).await?);
        }
        if let Some(url) = &self.provider.userinfo {
            // RFC 6749 §5.1: only a bearer token may be sent as one (RFC 6750).
            let bearer = tokens
                .get("token_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
            if !bearer {
                return Err(ExchangeError::Upstream {
                    endpoint: "token",
                    detail: "the token answer's token_type is not Bearer".to_owned(),
                });
            }
            let access = tokens
                .get("access_token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let userinfo = self.userinfo(url, access).await?;
            if let Some(claims) = &answer.id_claims {
                if userinfo.get("sub") != claims.get("sub") {
                    return Err(ExchangeError::SubjectMismatch);
                }
            }
            answer.userinfo = Some(userinfo);
        }
        answer.token_response = tokens;
        Ok(answer)
    }

    async fn token_request(
        &self,
        code: &str,
        flow: &FlowState,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let p = &self.provider;
        let mut request = http::Request::post(&p.token)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        // The serializer is not `Send`: build the body in a block of its own.
        let body = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("code_verifier", &flow.verifier);
            match (&p.secret, p.client_auth) {
                (Some(secret), ClientAuth::Basic) => {
                    // RFC 6749 §2.3.1: each part form-encoded before Basic.
                    let enc = |s: &str| {
                        url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                    };
                    let pair = format!("{}:{}", enc(&p.client_id), enc(secret.expose()));
                    request =
                        request.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
                }
                (Some(secret), ClientAuth::Post) => {
                    form.append_pair("client_id", &p.client_id)
                        .append_pair("client_secret", secret.expose());
                }
                _ => {
                    form.append_pair("client_id", &p.client_id);
                }
            }
            form.finish().into_bytes()
        };
        let request = request.body(body).map_err(|_| ExchangeError::Upstream {
            endpoint: "token",
            detail: "the token URL is not a valid URI".to_owned(),
        })?;
        let response = self.send("token", request).await?;
        let tokens = Self::json_object("token", &response)?;
        if !tokens.get("access_token").is_some_and(Value::is_string) {
            return Err(ExchangeError::Upstream {
                endpoint: "token",
                detail: "the token answer has no access_token".to_owned(),
            });
        }
        Ok(tokens)
    }

    async fn userinfo(&self, url: &str, access: &str) -> Result<Map<String, Value>, ExchangeError> {
        let request = Self::get("userinfo", url, Some(access))?;
        let response = self.send("userinfo", request).await?;
        let is_jwt = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        if is_jwt {
            return Err(ExchangeError::Upstream {
                endpoint: "userinfo",
                detail: "signed userinfo (application/jwt) is not supported".to_owned(),
            });
        }
        Self::json_object("userinfo", &response)
    }

    async fn verify_id_token(
        &self,
        token: &str,
        expected: &Expected<'_>,
    ) -> Result<Map<String, Value>, ExchangeError> {
        let header =
            id_token::header(token, &self.provider.algorithms).map_err(ExchangeError::IdToken)?;
        let key = match self.jwks.key(header.kid.as_deref(), Some(header.alg)).await {
            Ok(key) => key,
            Err(JwksError::UnknownKey) => {
                return Err(ExchangeError::IdToken(IdTokenError::UnknownKey))
            }
            Err(JwksError::TimedOut(_)) => return Err(ExchangeError::Timeout { endpoint: "jwks" }),
            Err(error) => {
                tracing::warn!(target: "sealed_session::oauth", %error, "the provider's JWKS could not be fetched");
                return Err(ExchangeError::Upstream {
                    endpoint: "jwks",
                    detail: "the jwks endpoint could not be fetched".to_owned(),
                });
            }
        };
        id_token::verify(token, &header, &key, expected).map_err(ExchangeError::IdToken)
    }

    /// The ASF service: `GET token-oidc?code=…` answers the user as a JSON object.
    async fn asf_user(&self, code: &str) -> Result<ProviderAnswer, ExchangeError> {
        let mut url = self.provider.token.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("code=");
        url.extend(url::form_urlencoded::byte_serialize(code.as_bytes()));
        let request = Self::get("token", &url, None)?;
        let response = self.send("token", request).await?;
        let user = Self::json_object("token", &response)?;
        Ok(ProviderAnswer {
            userinfo: Some(user),
            ..ProviderAnswer::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_error_codes_are_echoed() {
        assert_eq!(safe_error_code("invalid_grant"), Some("invalid_grant"));
        assert_eq!(safe_error_code(""), None);
        assert_eq!(safe_error_code("<script>"), None);
        assert_eq!(safe_error_code("a b"), None);
        assert_eq!(safe_error_code(&"x".repeat(65)), None);
    }
}
