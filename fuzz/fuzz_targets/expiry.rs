//! The expiry arithmetic (idle timeout, absolute lifetime, clock-skew allowance).
//!
//! Oracle (`sealed_session::fuzzing::expiry`): no overflow panic for any timestamps (the fuzz
//! build keeps debug assertions, so overflow checks are on), expiry is monotone in `now` (expired
//! at `now` stays expired at `now + later_by`), and the remaining idle time is in `0..=idle`.
//!
//! Input layout (`arbitrary`, little-endian, 38 bytes): `now: i64`, `later_by: u32`,
//! `created: i64`, `last_seen: i64`, `idle: u32`, `max_age: u32`, `skew: u16`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    now: i64,
    later_by: u32,
    created: i64,
    last_seen: i64,
    idle: u32,
    max_age: u32,
    skew: u16,
}

fuzz_target!(|i: Input| {
    sealed_session::fuzzing::expiry(
        i.now,
        i.later_by,
        i.created,
        i.last_seen,
        i.idle,
        i.max_age,
        i.skew,
    );
});
