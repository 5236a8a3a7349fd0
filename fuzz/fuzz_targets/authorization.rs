//! The `Authorization` header parser.
//!
//! Oracle (`sealed_session::fuzzing::authorization`): a bearer token is returned only for
//! exactly one field and is non-empty token68 within the length limit; `Absent` only when there
//! is no field, and every other verdict only when there is one.
//!
//! Input layout (`arbitrary`): the token length limit as 2 bytes little-endian (clamped to
//! 1..=65,536 by the entry point), then the header fields, NUL-separated, each one
//! `Authorization` line.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary)]
struct Input<'a> {
    max_len: u16,
    /// Taken last, so it gets the rest of the input.
    fields: &'a [u8],
}

// Readable for `cargo fuzz fmt authorization <input>`: bytes as escaped ASCII.
impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("max_len", &self.max_len)
            .field(
                "fields",
                &format_args!("b\"{}\"", self.fields.escape_ascii()),
            )
            .finish()
    }
}

fuzz_target!(|input: Input<'_>| {
    sealed_session::fuzzing::authorization(input.fields, usize::from(input.max_len));
});
