//! Consulting the [`SessionValidator`](crate::SessionValidator) about an opened cookie session,
//! under the handler limits.

use super::open::Due;
use super::{Resolution, Resolver};
use crate::future::{timeout, CatchUnwind};
use crate::revocation::Validation;
use crate::session::Refreshed;

impl Resolver {
    /// Consults the validator about an opened session, then resolves to it unless refused.
    pub(super) async fn validate_opened(&self, due: Due) -> Resolution {
        let Due {
            session,
            now,
            rotated,
        } = due;
        let Some(validator) = self.validator.as_ref() else {
            return Resolution::Cookie { session, rotated };
        };
        let call = CatchUnwind(validator.validate(&session));
        let uid = session.uid();
        let refreshed = match timeout(self.limits.timeout, call).await {
            Err(_) => {
                tracing::warn!(target: "sealed_session", reason = "validator_timeout", ?uid, "session validator timed out");
                return Resolution::Unavailable;
            }
            Ok(Err(())) => {
                tracing::error!(target: "sealed_session", reason = "validator_panic", ?uid, "session validator panicked");
                return Resolution::Panicked;
            }
            Ok(Ok(Err(error))) => {
                tracing::warn!(target: "sealed_session", reason = "validator_error", %error, ?uid, "session validator failed");
                return Resolution::Unavailable;
            }
            Ok(Ok(Ok(Validation::Revoke))) => {
                tracing::info!(target: "sealed_session", reason = "revoked", ?uid, "session revoked by the validator");
                return Resolution::Anonymous {
                    cookie_invalid: true,
                };
            }
            Ok(Ok(Ok(Validation::Refresh(privileges)))) => {
                tracing::info!(target: "sealed_session", reason = "refreshed", ?uid, "session privileges refreshed by the validator");
                Some(Refreshed {
                    roles: privileges.roles,
                    groups: privileges.groups,
                    scopes: privileges.scopes,
                })
            }
            Ok(Ok(Ok(Validation::Keep))) => None,
        };
        session.record_check(refreshed, now);
        Resolution::Cookie { session, rotated }
    }
}
