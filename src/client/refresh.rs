//! The refresh-token grant (RFC 6749 §6) and [`RefreshingSource`], the token source that
//! keeps a [`TokenSet`] fresh and hands every new one to the host.

use std::fmt;
use std::sync::Arc;

use super::{AccessToken, ClientError, OAuthClient, TokenRequest, TokenSet, TokenSource};

/// Called with every new token set, so the host persists it (Home Assistant's
/// `token_updater`).
pub type TokenUpdater = Arc<dyn Fn(&TokenSet) + Send + Sync>;

impl OAuthClient {
    /// Refreshes `set` with its refresh token. The new set keeps the old refresh token when the
    /// provider did not rotate it, and the old ID token when it sent none.
    ///
    /// # Errors
    ///
    /// [`ClientError::LoginRequired`] when the set has no refresh token or the provider refused
    /// it (`invalid_grant`); otherwise the provider's or the transport's error.
    pub async fn refresh(&self, set: &TokenSet) -> Result<TokenSet, ClientError> {
        let Some(refresh_token) = set.refresh_token() else {
            return Err(ClientError::LoginRequired {
                reason: "there is no refresh token".to_owned(),
            });
        };
        let params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        match self.token_request(&params).await {
            Ok(new) => Ok(set.clone().merge_refresh(new)),
            Err(ClientError::Provider { error, description }) if error == "invalid_grant" => {
                tracing::info!(target: "sealed_session::client", "the provider refused the refresh token: sign in again");
                Err(ClientError::LoginRequired {
                    reason: description
                        .unwrap_or_else(|| "the refresh token was refused".to_owned()),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// A [`TokenSource`] over a [`TokenSet`] and its refresh token: returns the access token while
/// it is fresh, refreshes it when it is about to expire or the API refused it, keeps the
/// rotated refresh token, and passes every new set to the updater.
///
/// After a refresh is refused (`invalid_grant`), it answers [`ClientError::LoginRequired`]
/// without calling the provider again, until [`RefreshingSource::replace`] gives it a set from
/// a new sign-in.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::{Arc, Mutex};
/// use sealed_session::client::{OAuthClient, RefreshingSource, TokenRequest, TokenSet, TokenSource};
///
/// let client = OAuthClient::new("https://id.example.org", "cli", "https://id.example.org/token");
/// let set = TokenSet::new("at", "https://id.example.org", "cli").with_expires_in(3600);
/// let saved = Arc::new(Mutex::new(None));
/// let sink = saved.clone();
/// let source = RefreshingSource::new(client, set)
///     .with_token_updater(move |set| *sink.lock().unwrap() = Some(set.clone()));
/// // Fresh: no call to the provider.
/// let token = source.access_token(&TokenRequest::default()).await.unwrap();
/// assert_eq!(token.secret(), "at");
/// assert!(saved.lock().unwrap().is_none());
/// # }
/// ```
pub struct RefreshingSource {
    client: OAuthClient,
    state: tokio::sync::Mutex<State>,
    updater: Option<TokenUpdater>,
}

struct State {
    set: TokenSet,
    /// Set once a refresh was refused: no further calls until a new set.
    login_required: Option<ClientError>,
}

impl fmt::Debug for RefreshingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshingSource")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl RefreshingSource {
    /// A source over `set`, refreshed through `client`.
    #[must_use]
    pub fn new(client: OAuthClient, set: TokenSet) -> Self {
        Self {
            client,
            state: tokio::sync::Mutex::new(State {
                set,
                login_required: None,
            }),
            updater: None,
        }
    }

    /// Calls `updater` with every new token set (to persist it).
    #[must_use]
    pub fn with_token_updater(
        mut self,
        updater: impl Fn(&TokenSet) + Send + Sync + 'static,
    ) -> Self {
        self.updater = Some(Arc::new(updater));
        self
    }

    /// The current token set.
    pub async fn token_set(&self) -> TokenSet {
        self.state.lock().await.set.clone()
    }

    /// Replaces the token set (after a new sign-in), clearing a "sign in again" state.
    pub async fn replace(&self, set: TokenSet) {
        let mut state = self.state.lock().await;
        state.set = set;
        state.login_required = None;
    }
}

#[async_trait::async_trait]
impl TokenSource for RefreshingSource {
    async fn access_token(&self, request: &TokenRequest) -> Result<AccessToken, ClientError> {
        let mut state = self.state.lock().await;
        if let Some(error) = &state.login_required {
            return Err(error.clone());
        }
        let current = state.set.access_token();
        let rejected = request.rejected().is_some_and(|r| r.same_secret(&current));
        if !rejected && !state.set.refresh_due(request.margin()) {
            return Ok(current);
        }
        match self.client.refresh(&state.set).await {
            Ok(set) => {
                state.set = set.clone();
                if let Some(updater) = &self.updater {
                    updater(&set);
                }
                Ok(set.access_token())
            }
            Err(error) => {
                if error.is_login_required() {
                    state.login_required = Some(error.clone());
                }
                Err(error)
            }
        }
    }
}
