//! The versioned plaintext sealed inside a session cookie (wire format version 1).
//!
//! The plaintext is a compact JSON object with short keys, chosen for size (a cookie holds about
//! 3,000 bytes of plaintext) and for speed (one `serde_json` pass, no second base64 layer):
//!
//! | key | meaning | type |
//! |---|---|---|
//! | `v` | format version, always `1` | integer |
//! | `i` | session id: 128 random bits, base64url without padding | string (22) |
//! | `u` | uid, absent for a session without one | string |
//! | `c` | created at, Unix seconds; never changes | integer |
//! | `l` | last seen, Unix seconds; never moves back | integer |
//! | `a` | authenticated at, Unix seconds | integer |
//! | `ra` | role account, absent when false | bool |
//! | `mf` | MFA, absent when false | bool |
//! | `r` | roles, absent when empty | array of strings |
//! | `g` | groups, absent when empty | array of strings |
//! | `m` | metadata (scopes under `m.scope`), absent when empty | object |
//! | `d` | typed application values, absent when empty | object |
//! | `k` | last checked by the session validator, Unix seconds; absent when never | integer |
//! | `im` | when the id was minted (login or re-mint), Unix **milliseconds**; written only with a revocation store, absent otherwise | integer |
//!
//! The envelope is bound to its purpose by the AEAD associated data (see
//! [`SessionLayer::with_purpose`](crate::SessionLayer::with_purpose)), not by a field, so a
//! cookie sealed for one purpose does not open for another. Unknown keys are ignored, so later
//! versions of the crate can add optional keys without a format bump; a change of meaning bumps
//! `v`, and a cookie of an unknown version does not open. `im` is such an optional key: a cookie
//! without it opens as before, and counts as minted at the start of its creation second.

mod id;
mod parts;
mod scan;
mod strings;
mod wire;

use std::fmt;

#[cfg(feature = "cache")]
use crate::identity::CachedIdentity;
use crate::identity::Identity;
use crate::key::KeyRing;
use crate::seal::{self, OpenedWith};

pub use id::{InvalidSessionId, SessionId};
pub(crate) use parts::Object;
pub(crate) use strings::Strings;

/// The only format version this crate writes and reads.
pub(crate) const VERSION: u8 = 1;

/// The session record: what the sealed cookie carries, and what a bearer token resolves to.
///
/// Roles, groups, metadata and values stay the sealed text until read or changed (see
/// [`parts`]); they share the opened plaintext, so a decoded record allocates for its uid
/// and that text only.
#[derive(Clone, PartialEq)]
pub(crate) struct Record {
    pub(crate) version: u8,
    pub(crate) id: SessionId,
    pub(crate) uid: Option<String>,
    pub(crate) created: i64,
    pub(crate) last_seen: i64,
    pub(crate) auth_time: i64,
    pub(crate) role_account: bool,
    pub(crate) mfa: bool,
    pub(crate) roles: Strings,
    pub(crate) groups: Strings,
    pub(crate) metadata: Object,
    pub(crate) values: Object,
    pub(crate) checked: Option<i64>,
    /// When the id was minted, Unix milliseconds (set when a revocation store is configured).
    pub(crate) minted: Option<i64>,
}

impl fmt::Debug for Record {
    /// Names, flags and timestamps; metadata and values by key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("uid", &self.uid)
            .field("created", &self.created)
            .field("last_seen", &self.last_seen)
            .field("auth_time", &self.auth_time)
            .field("roles", &self.roles)
            .field("groups", &self.groups)
            .field("metadata_keys", &self.metadata.keys())
            .field("value_keys", &self.values.keys())
            .finish_non_exhaustive()
    }
}

/// The auth time of a login at `now`: the identity's, when earlier, else `now`.
fn auth_time_at(given: Option<time::OffsetDateTime>, now: i64) -> i64 {
    given.map_or(now, |t| t.unix_timestamp().min(now))
}

impl Record {
    /// A fresh record for a login at `now`.
    pub(crate) fn login(identity: Identity, now: i64) -> Self {
        Self {
            version: VERSION,
            id: SessionId::random(),
            uid: identity.uid,
            created: now,
            last_seen: now,
            auth_time: auth_time_at(identity.auth_time, now),
            role_account: identity.role_account,
            mfa: identity.mfa,
            roles: identity.roles.into(),
            groups: identity.groups.into(),
            metadata: identity.metadata.into(),
            values: identity.values.into(),
            // Logging in is the freshest check there is.
            checked: Some(now),
            minted: None,
        }
    }

    /// A fresh record for a login at `now` as `identity`, sharing its lists and objects.
    #[cfg(feature = "cache")]
    pub(crate) fn login_cached(identity: &CachedIdentity, now: i64) -> Self {
        Self {
            version: VERSION,
            id: SessionId::random(),
            uid: identity.uid.clone(),
            created: now,
            last_seen: now,
            auth_time: auth_time_at(identity.auth_time, now),
            role_account: identity.role_account,
            mfa: identity.mfa,
            roles: Strings::Cached(identity.roles.clone()),
            groups: Strings::Cached(identity.groups.clone()),
            metadata: Object::Cached(identity.metadata.clone()),
            values: Object::Cached(identity.values.clone()),
            checked: Some(now),
            minted: None,
        }
    }

    /// When the id was minted, in Unix milliseconds: `im`, or the start of the creation second
    /// for a cookie sealed without it (earlier than the truth: revocation errs on refusing).
    pub(crate) fn minted_ms(&self) -> i64 {
        self.minted
            .unwrap_or_else(|| self.created.saturating_mul(1000))
    }
}

/// Opens a sealed cookie value with any key of `keys` under the AEAD associated data `aad`, and
/// decodes the record: the one path every session cookie takes.
/// On refusal, says why.
pub(crate) fn open_checked(
    keys: &KeyRing,
    aad: &str,
    value: &str,
) -> Result<(Record, OpenedWith), crate::resolve::CookieRefusal> {
    use crate::resolve::CookieRefusal;
    let opened = seal::open_checked(keys, aad, value).map_err(|e| match e {
        seal::OpenError::Malformed => CookieRefusal::Malformed,
        seal::OpenError::UnknownKey => CookieRefusal::UnknownKey,
        seal::OpenError::Undecodable => CookieRefusal::Invalid,
    })?;
    let record = Record::decode(opened.plaintext()).ok_or(CookieRefusal::Invalid)?;
    Ok((record, opened.with))
}
