//! The payload (envelope JSON) decoder.
//!
//! Oracle (`sealed_session::fuzzing::decode_payload`): whatever decodes re-encodes to JSON that
//! decodes to the same record, and `encoded_len` equals the length of `encode`. Non-UTF-8 input
//! is skipped: the decoder sees only the plaintext of an authenticated cookie, as `&str`.
//!
//! Input: the plaintext bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|plaintext: &[u8]| {
    sealed_session::fuzzing::decode_payload(plaintext);
});
