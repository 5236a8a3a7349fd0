//! The baselines and the floors: the bare handler (with and without the cookie, and behind a
//! no-op layer: what axum charges for any layer), and the primitives with nothing around them.

use std::hint::black_box;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use rand::RngCore as _;

use super::{bare, cookie_header, route, unfinalised_route, Fixture, Payload, B64, CONTEXT};
use crate::harness::{FloorOf, Variant, Work};

/// The primitives with nothing around them: a prepared AES-256-GCM key, one base64 pass, one
/// decryption in place, one serde_json pass into a typed struct.
pub(crate) struct Floor {
    cipher: Aes256Gcm,
    value: String,
}

impl Floor {
    pub(crate) fn new(material: &[u8], value: String) -> Self {
        let key = cookie::Key::derive_from(material);
        let cipher = Aes256Gcm::new(GenericArray::from_slice(key.encryption()));
        Self { cipher, value }
    }

    /// base64 decode + AES-256-GCM open + JSON parse.
    pub(crate) fn read(&self) -> Option<Payload> {
        self.with_plaintext(|body| serde_json::from_slice(body).ok())?
    }

    /// base64 decode + AES-256-GCM open in place, then `f` on the plaintext.
    pub(crate) fn with_plaintext<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
        let mut data = B64.decode(&self.value).ok()?;
        if data.len() < 12 + 16 {
            return None;
        }
        let (nonce, rest) = data.split_at_mut(12);
        let (body, tag) = rest.split_at_mut(rest.len() - 16);
        self.cipher
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                CONTEXT.as_bytes(),
                body,
                GenericArray::from_slice(tag),
            )
            .ok()?;
        Some(f(body))
    }

    /// `plaintext` with its session id replaced by a fixed one, sealed with a fixed nonce: the
    /// same cookie bytes in every run (minted cookies carry a random id and nonce, and base64 and
    /// the JSON scans branch on the bytes, which moved instruction counts by ≈ 0.5 % between
    /// runs).
    pub(crate) fn fixed_cookie(&self, plaintext: &str) -> String {
        let mut payload: Payload = serde_json::from_str(plaintext).expect("payload");
        payload.i = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*b"sealed-session-1");
        let mut data = vec![7u8; 12];
        serde_json::to_writer(&mut data, &payload).expect("payload serialises");
        let (nonce, body) = data.split_at_mut(12);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), CONTEXT.as_bytes(), body)
            .expect("seal");
        data.extend_from_slice(&tag);
        B64.encode(&data)
    }

    /// The read floor + change a value + serialise + seal (fresh nonce) + encode.
    pub(crate) fn write(&self) -> Option<String> {
        let mut payload = self.read()?;
        payload.d.counter += 1;
        let mut data = Vec::with_capacity(512);
        data.resize(12, 0);
        rand::thread_rng().fill_bytes(&mut data);
        serde_json::to_writer(&mut data, &payload).ok()?;
        let (nonce, body) = data.split_at_mut(12);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), CONTEXT.as_bytes(), body)
            .ok()?;
        data.extend_from_slice(&tag);
        Some(B64.encode(&data))
    }
}

pub(crate) fn variants(fx: &Fixture) -> Vec<Variant> {
    let mut variants = Vec::new();
    let cookie_line = &fx.cookie_line;
    let floor = fx.floor.clone();
    let bare_router = Router::new().route("/", get(bare));
    variants.push(route(
        "bare",
        "bare handler (no layer, no credentials)",
        FloorOf::None,
        bare_router.clone(),
        vec![],
        StatusCode::OK,
        false,
    ));
    variants.push(route(
        "bare_with_cookie",
        "bare handler, request carries the session cookie",
        FloorOf::None,
        bare_router,
        cookie_header(cookie_line),
        StatusCode::OK,
        false,
    ));
    // Any layer added with `Router::layer` costs something in axum itself (the layered route is
    // a boxed, cloned service with a boxed future): this one does nothing at all.
    variants.push(route(
        "noop_layer",
        "bare handler behind a no-op tower layer, cookie sent (axum's cost of any layer)",
        FloorOf::None,
        Router::new()
            .route("/", get(bare))
            .layer(tower::util::MapRequestLayer::new(|req: Request| req)),
        cookie_header(cookie_line),
        StatusCode::OK,
        false,
    ));
    // The same in a `Router` that is not finalised: what axum charges per request for rebuilding
    // a layered route, whatever the layer (next to `ours_no_extractor_unfinalised`).
    variants.push(unfinalised_route(
        "noop_layer_unfinalised",
        "bare handler behind a no-op tower layer, cookie sent, `Router` not finalised",
        Router::new()
            .route("/", get(bare))
            .layer(tower::util::MapRequestLayer::new(|req: Request| req)),
        cookie_header(cookie_line),
    ));
    let f = floor.clone();
    variants.push(Variant {
        id: "floor_read",
        label: "floor: read (base64 + AES-256-GCM open + JSON parse)",
        floor_of: FloorOf::None,
        work: Work::Floor(Box::new(move || black_box(f.read()).is_some())),
    });
    let f = floor;
    variants.push(Variant {
        id: "floor_write",
        label: "floor: write (read floor + serialise + seal + encode)",
        floor_of: FloorOf::None,
        work: Work::Floor(Box::new(move || black_box(f.write()).is_some())),
    });
    variants
}
