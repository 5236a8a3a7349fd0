//! The `Cookie` header parser: any header fields, any configured cookie name.
//!
//! Oracle (`sealed_session::fuzzing::cookie_header`): at most `MAX_CANDIDATES` candidates, each
//! ASCII, at most 4,096 bytes, without `;` and without leading or trailing whitespace, and a
//! candidate implies `present`.
//!
//! Input layout (`arbitrary`): a 4-byte little-endian selector for the cookie name (`00000000`
//! is `__Host-session`), then the header fields, NUL-separated, each one `Cookie` line.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary)]
enum Name<'a> {
    /// The crate's default name.
    HostSession,
    /// A plain name.
    Session,
    /// A `__Secure-` name.
    SecureId,
    /// Any bytes, including empty, `=`, `;`, whitespace and non-ASCII.
    Custom(&'a [u8]),
}

impl<'a> Name<'a> {
    fn bytes(&self) -> &'a [u8] {
        match self {
            Name::HostSession => b"__Host-session",
            Name::Session => b"session",
            Name::SecureId => b"__Secure-id",
            Name::Custom(name) => name,
        }
    }
}

#[derive(Arbitrary)]
struct Input<'a> {
    name: Name<'a>,
    /// Taken last, so it gets the rest of the input.
    fields: &'a [u8],
}

// Readable for `cargo fuzz fmt cookie_header <input>`: bytes as escaped ASCII.
impl std::fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field(
                "name",
                &format_args!("b\"{}\"", self.name.bytes().escape_ascii()),
            )
            .field(
                "fields",
                &format_args!("b\"{}\"", self.fields.escape_ascii()),
            )
            .finish()
    }
}

fuzz_target!(|input: Input<'_>| {
    sealed_session::fuzzing::cookie_header(input.fields, input.name.bytes());
});
