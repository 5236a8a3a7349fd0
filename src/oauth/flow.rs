//! The login flow's state, kept in its own short-lived sealed cookie rather than in server memory.
//!
//! One cookie per flow, named after the first characters of its `state`, so two tabs' logins stay
//! apart. It holds the `state`, the PKCE verifier, the OIDC nonce, the return URL and the start
//! time, sealed with the session layer's key ring under a context of its own: a flow cookie never
//! opens as a session cookie, nor the other way round, and any instance holding the key can
//! finish a flow that another instance started.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::OAuthView;
use crate::seal;

/// Flow cookies a request may carry before a new login start deletes them all.
pub(crate) const MAX_FLOWS: usize = 3;
/// Characters of the state that name the flow cookie.
const NAME_CHARS: usize = 8;
/// The longest flow-cookie value opened; a real one is well under 3 KiB.
const MAX_VALUE_LEN: usize = 4096;

/// `n` random bytes from the operating system's generator, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What a login start remembers for its callback. No `Debug`: every field but the return URL
/// and the start time is a secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct FlowState {
    /// Format version.
    v: u8,
    /// The `state` parameter: 16 random bytes.
    #[serde(rename = "s")]
    pub(crate) state: String,
    /// The PKCE code verifier: 32 random bytes, 43 characters (RFC 7636 §4.1).
    #[serde(rename = "p")]
    pub(crate) verifier: String,
    /// The OIDC nonce: 16 random bytes.
    #[serde(rename = "n")]
    pub(crate) nonce: String,
    /// The validated absolute URL to land on, if any.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub(crate) return_to: Option<String>,
    /// When the flow started, in Unix seconds.
    #[serde(rename = "t")]
    pub(crate) started: i64,
    /// The `max_age` sent to the provider (OIDC), whose `auth_time` the callback checks.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<i64>,
}

impl FlowState {
    /// A fresh flow started at `now`.
    pub(crate) fn start(return_to: Option<String>, now: i64) -> Self {
        Self {
            v: 1,
            state: random_token(16),
            verifier: random_token(32),
            nonce: random_token(16),
            return_to,
            started: now,
            max_age: None,
        }
    }

    /// Whether `state` is this flow's state, compared in constant time.
    pub(crate) fn matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

/// Names, attributes and sealing of flow cookies for one session layer.
#[derive(Debug, Clone)]
pub(crate) struct FlowCookies {
    /// `__Host-auth-` when the session cookie is `Secure`, else `auth-`. A flow cookie is always
    /// host-only and at `Path=/`, whatever the session cookie's `Domain` and `Path`, so a
    /// sibling subdomain can never plant one (login CSRF).
    prefix: &'static str,
    /// `; Path=/; Secure; HttpOnly; SameSite=Lax`.
    attributes: &'static str,
    /// The flow lifetime in seconds.
    pub(crate) ttl: i64,
}

impl FlowCookies {
    pub(crate) fn new(secure: bool, ttl: i64) -> Self {
        if secure {
            Self {
                prefix: "__Host-auth-",
                attributes: "; Path=/; Secure; HttpOnly; SameSite=Lax",
                ttl,
            }
        } else {
            Self {
                prefix: "auth-",
                attributes: "; Path=/; HttpOnly; SameSite=Lax",
                ttl,
            }
        }
    }

    /// The cookie name for a flow whose state is `state`, if the state is well formed.
    pub(crate) fn name(&self, state: &str) -> Option<String> {
        let head = state.get(..NAME_CHARS)?;
        head.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then(|| format!("{}{head}", self.prefix))
    }

    /// The AEAD context of a flow cookie: distinct from the session cookie's, and bound to the
    /// login service (`binding`: its redirect URI and provider), so two services under one layer
    /// never accept each other's flows.
    fn context(layer: &OAuthView<'_>, binding: &str, name: &str) -> String {
        format!(
            "sealed-session/flow/1\u{1f}{}\u{1f}{binding}\u{1f}{name}",
            layer.settings.purpose
        )
    }

    /// The `Set-Cookie` line that stores `flow`.
    pub(crate) fn set(
        &self,
        layer: &OAuthView<'_>,
        binding: &str,
        flow: &FlowState,
    ) -> Option<HeaderValue> {
        let name = self.name(&flow.state)?;
        let plaintext = serde_json::to_string(flow).ok()?;
        let key = layer.keys.all().next()?;
        let value = seal::seal(key, &Self::context(layer, binding, &name), &plaintext);
        HeaderValue::from_str(&format!(
            "{name}={value}{}; Max-Age={}",
            self.attributes, self.ttl
        ))
        .ok()
    }

    /// The `Set-Cookie` line that deletes the flow cookie `name`.
    pub(crate) fn delete(&self, name: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&format!(
            "{name}={}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            self.attributes
        ))
        .ok()
    }

    /// Opens the flow cookie for `state`: the one named after it, sealed by this layer's key
    /// ring, whose sealed state equals `state`. `None` for anything else, including an expired
    /// flow.
    pub(crate) fn open(
        &self,
        layer: &OAuthView<'_>,
        binding: &str,
        headers: &HeaderMap,
        state: &str,
    ) -> Result<FlowState, FlowRefusal> {
        let name = self.name(state).ok_or(FlowRefusal::NoCookie)?;
        let scan = crate::parse::scan_cookies(headers, name.as_bytes(), MAX_VALUE_LEN);
        let [value] = scan.values() else {
            return Err(if scan.present {
                FlowRefusal::Unreadable
            } else {
                FlowRefusal::NoCookie
            });
        };
        let opened = seal::open(&layer.keys, &Self::context(layer, binding, &name), value)
            .ok_or(FlowRefusal::Unreadable)?;
        let flow: FlowState =
            serde_json::from_str(opened.plaintext()).map_err(|_| FlowRefusal::Unreadable)?;
        if flow.v != 1 {
            return Err(FlowRefusal::Unreadable);
        }
        if !flow.matches(state) {
            return Err(FlowRefusal::StateMismatch);
        }
        let now = layer.clock.now();
        if flow.started > now.saturating_add(layer.settings.skew) {
            return Err(FlowRefusal::Future);
        }
        if now.saturating_sub(flow.started) >= self.ttl {
            return Err(FlowRefusal::Expired);
        }
        Ok(flow)
    }

    /// The name of the cookie that keeps the ID token for provider logout's `id_token_hint`.
    pub(crate) fn hint_name(&self) -> String {
        format!("{}idt", self.prefix)
    }

    /// The `Set-Cookie` line that keeps `id_token` for a provider logout, until the browser
    /// closes (no `Max-Age`). `None` when it would not fit a cookie.
    pub(crate) fn set_hint(
        &self,
        layer: &OAuthView<'_>,
        binding: &str,
        id_token: &str,
    ) -> Option<HeaderValue> {
        let name = self.hint_name();
        let value = seal::seal(
            layer.keys.all().next()?,
            &Self::context(layer, binding, &name),
            id_token,
        );
        (name.len() + value.len() < MAX_VALUE_LEN).then_some(())?;
        HeaderValue::from_str(&format!("{name}={value}{}", self.attributes)).ok()
    }

    /// The ID token kept by [`set_hint`](Self::set_hint), if the request carries exactly one
    /// that opens.
    pub(crate) fn open_hint(
        &self,
        layer: &OAuthView<'_>,
        binding: &str,
        headers: &HeaderMap,
    ) -> Option<String> {
        let name = self.hint_name();
        let scan = crate::parse::scan_cookies(headers, name.as_bytes(), MAX_VALUE_LEN);
        let [value] = scan.values() else { return None };
        let opened = seal::open(&layer.keys, &Self::context(layer, binding, &name), value)?;
        Some(opened.plaintext().to_owned())
    }

    /// The names of the flow cookies a request carries, at most `limit` of them.
    pub(crate) fn present(&self, headers: &HeaderMap, limit: usize) -> Vec<String> {
        let mut names = Vec::new();
        for field in headers.get_all(COOKIE) {
            let Ok(field) = field.to_str() else { continue };
            for pair in field.split(';') {
                let Some((name, _)) = pair.split_once('=') else {
                    continue;
                };
                let name = name.trim_matches([' ', '\t']);
                if name.starts_with(self.prefix)
                    && name.len() == self.prefix.len() + NAME_CHARS
                    && !names.iter().any(|n| n == name)
                {
                    if names.len() == limit {
                        return names;
                    }
                    names.push(name.to_owned());
                }
            }
        }
        names
    }
}

/// Why a callback's flow cookie was refused. Logged, never shown beyond "invalid or expired".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowRefusal {
    NoCookie,
    Unreadable,
    StateMismatch,
    Expired,
    Future,
}

impl FlowRefusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::NoCookie => "no_flow_cookie",
            Self::Unreadable => "flow_cookie_invalid",
            Self::StateMismatch => "state_mismatch",
            Self::Expired => "flow_expired",
            Self::Future => "flow_from_the_future",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_flows_are_random_and_long_enough() {
        let a = FlowState::start(None, 0);
        let b = FlowState::start(None, 0);
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.state.len(), 22);
        assert!(a.matches(&a.state.clone()));
        assert!(!a.matches(&b.state));
    }

    #[test]
    fn names_need_a_well_formed_state() {
        let c = FlowCookies::new(true, 900);
        assert_eq!(
            c.name("abcdEFGH-rest").as_deref(),
            Some("__Host-auth-abcdEFGH")
        );
        assert_eq!(c.name("short"), None);
        assert_eq!(c.name("abc;EFGH-rest"), None);
        assert_eq!(c.name("é"), None);
        let plain = FlowCookies::new(false, 900);
        assert_eq!(plain.name("abcdEFGHx").as_deref(), Some("auth-abcdEFGH"));
    }
}
