//! [`SessionId`]: 128 random bits naming a session.

use std::fmt;

use base64::Engine as _;
use serde::de::Visitor;
use serde::{Deserialize, Serialize};

pub(super) const B64URL: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A session id: 128 random bits, minted at login.
///
/// It identifies a session for logs and revocation lists; it is not a credential on its own (the
/// sealed cookie is). Displays as 22 characters of base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub(super) [u8; 16]);

impl SessionId {
    /// A fresh random id from a CSPRNG.
    pub(crate) fn random() -> Self {
        use rand::RngCore as _;
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The id's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        match B64URL.encode_slice(self.0, &mut buf) {
            Ok(n) => f.write_str(
                std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default(),
            ),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl std::str::FromStr for SessionId {
    type Err = InvalidSessionId;

    /// Parses the 22-character base64url form that [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 22 {
            return Err(InvalidSessionId);
        }
        // `decode_slice` wants room for its estimate (18 bytes for 22 characters).
        let mut buf = [0u8; 18];
        let mut bytes = [0u8; 16];
        match B64URL.decode_slice(s, &mut buf) {
            Ok(16) => {
                bytes.copy_from_slice(buf.get(..16).ok_or(InvalidSessionId)?);
                Ok(Self(bytes))
            }
            _ => Err(InvalidSessionId),
        }
    }
}

/// The string was not a session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSessionId;

impl fmt::Display for InvalidSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a session id: expected 22 characters of base64url")
    }
}

impl std::error::Error for InvalidSessionId {}

impl Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than `Cow<str>`, whose `Deserialize` always allocates.
        struct Id;
        impl Visitor<'_> for Id {
            type Value = SessionId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session id")
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SessionId, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Id)
    }
}
