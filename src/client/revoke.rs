//! Revocation on sign-out (RFC 7009).

use super::provider::oauth_error;
use super::{ClientError, OAuthClient, TokenSet};

impl OAuthClient {
    /// Revokes one token (`token_type_hint` = `refresh_token` or `access_token`). The provider
    /// answers 200 whether or not it knew the token.
    ///
    /// # Errors
    ///
    /// [`ClientError::Unsupported`] without a revocation endpoint; the provider's or the
    /// transport's error.
    pub async fn revoke_token(&self, token: &str, hint: &str) -> Result<(), ClientError> {
        let Some(endpoint) = self.revocation_endpoint() else {
            return Err(ClientError::Unsupported {
                what: "revocation endpoint",
            });
        };
        let res = self
            .post_form(endpoint, &[("token", token), ("token_type_hint", hint)])
            .await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(oauth_error(res.status(), res.body()))
        }
    }

    /// Signs out: revokes the refresh token (which, at most providers, also ends the access
    /// tokens issued from it), then the access token.
    ///
    /// # Errors
    ///
    /// As [`OAuthClient::revoke_token`]; the first failure stops.
    pub async fn revoke(&self, set: &TokenSet) -> Result<(), ClientError> {
        if let Some(refresh) = set.refresh_token() {
            self.revoke_token(refresh, "refresh_token").await?;
        }
        self.revoke_token(set.access_token_secret(), "access_token")
            .await?;
        tracing::info!(target: "sealed_session::client", "signed out: tokens revoked");
        Ok(())
    }
}
