//! The sealed-value opener, with a fixed key ring and the default purpose and cookie name.
//!
//! Oracle (`sealed_session::fuzzing::open_sealed`): no value the fuzzer makes up ever opens
//! (that would be a forgery of AES-256-GCM) and nothing panics on the way (canonical-base64
//! check, length checks, decryption, payload decoding). Non-UTF-8 input is skipped: a header
//! value reaches the opener only as `&str`.
//!
//! Input: the raw cookie value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    sealed_session::fuzzing::open_sealed(value);
});
