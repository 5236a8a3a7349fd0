//! The `WWW-Authenticate` builder, for any realm and any missing scopes.
//!
//! Oracle (`sealed_session::fuzzing::challenge`): a realm the configuration refuses gives an
//! error (no panic); an accepted realm gives, for every rejection kind, a header value that is
//! valid (visible ASCII, so `to_str` succeeds), starts with `Bearer realm="<realm>"` and has
//! balanced quotes, whatever the scope strings contain.
//!
//! Input layout (`arbitrary`): the realm as a length-prefixed string (the length byte is taken
//! from the end of the input), then the scopes, each behind a "one more" byte (odd = yes).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    realm: String,
    scopes: Vec<String>,
}

fuzz_target!(|input: Input| {
    sealed_session::fuzzing::challenge(&input.realm, &input.scopes);
});
