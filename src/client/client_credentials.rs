//! The client-credentials grant (RFC 6749 §4.4), for role accounts and services, and
//! [`ClientCredentials`], the token source that fetches a new token when needed.

use std::fmt;

use super::{AccessToken, ClientError, OAuthClient, TokenRequest, TokenSet, TokenSource};

impl OAuthClient {
    /// Gets a token for the client itself, with the configured scopes and audience.
    ///
    /// # Errors
    ///
    /// The provider's error (for example `invalid_client`) or the transport's.
    pub async fn client_credentials(&self) -> Result<TokenSet, ClientError> {
        let scope = self.scope_param();
        let mut params = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            params.push(("scope", &scope));
        }
        if let Some(audience) = self.audience() {
            params.push(("audience", audience));
        }
        self.token_request(&params).await
    }
}

/// A [`TokenSource`] for a service account: a client-credentials token, fetched again when it
/// is about to expire or the API refused it.
///
/// ```
/// use sealed_session::client::{ClientAuthLayer, ClientCredentials, OAuthClient};
///
/// let client = OAuthClient::new("https://id.example.org", "ci-bot", "https://id.example.org/token")
///     .with_client_secret("ci-secret")
///     .with_scopes(["builds:write"]);
/// let layer = ClientAuthLayer::new(ClientCredentials::new(client));
/// # drop(layer);
/// ```
pub struct ClientCredentials {
    client: OAuthClient,
    current: tokio::sync::Mutex<Option<TokenSet>>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// A source fetching tokens for `client`.
    #[must_use]
    pub fn new(client: OAuthClient) -> Self {
        Self {
            client,
            current: tokio::sync::Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl TokenSource for ClientCredentials {
    async fn access_token(&self, request: &TokenRequest) -> Result<AccessToken, ClientError> {
        let mut current = self.current.lock().await;
        if let Some(set) = current.as_ref() {
            let token = set.access_token();
            let rejected = request.rejected().is_some_and(|r| r.same_secret(&token));
            if !rejected && !set.refresh_due(request.margin()) {
                return Ok(token);
            }
        }
        let set = self.client.client_credentials().await?;
        let token = set.access_token();
        *current = Some(set);
        Ok(token)
    }
}
