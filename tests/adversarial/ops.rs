//! The mutation operators: byte, splice and transplant operators on one value.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    // Decoded bytes, re-encoded canonically.
    FlipNonce,
    FlipCiphertext,
    FlipTag,
    FlipMany,
    SetByte,
    TruncateBytes,
    TruncateFront,
    AppendBytes,
    InsertBytes,
    DeleteBytes,
    // Two cookies (same key, current and previous key, or different layers).
    SpliceNonce,
    SpliceCiphertext,
    SpliceTag,
    SpliceAt,
    Concat,
    // Spellings.
    UrlSafe,
    UrlSafeNoPad,
    StripPadding,
    ExtraPadding,
    UnusedBits,
    Quote,
    PercentEscape,
    PercentAny,
    Whitespace,
    LineBreaks,
    CaseFlip,
    CaseAll,
    TruncateChars,
    AppendChars,
    InsertChar,
    DeleteChar,
    ReplaceChar,
    SwapChars,
    NonAscii,
    DoubleEncode,
    NamePrefix,
    // A valid value presented to a layer it was not sealed for.
    MoveName,
    OtherPurpose,
    ForeignKey,
    // Two to four of the operators above in sequence.
    Stacked,
    // Exhaustive sweeps: every truncation length of a seed.
    SweepBytes,
    SweepChars,
}

pub(crate) const OP_COUNT: usize = Op::SweepChars as usize + 1;

/// The random operators and their weights.
pub(crate) const WEIGHTED: &[(Op, u32)] = &[
    (Op::FlipNonce, 6),
    (Op::FlipCiphertext, 8),
    (Op::FlipTag, 6),
    (Op::FlipMany, 4),
    (Op::SetByte, 4),
    (Op::TruncateBytes, 4),
    (Op::TruncateFront, 2),
    (Op::AppendBytes, 3),
    (Op::InsertBytes, 2),
    (Op::DeleteBytes, 2),
    (Op::SpliceNonce, 3),
    (Op::SpliceCiphertext, 3),
    (Op::SpliceTag, 3),
    (Op::SpliceAt, 2),
    (Op::Concat, 1),
    (Op::UrlSafe, 2),
    (Op::UrlSafeNoPad, 1),
    (Op::StripPadding, 2),
    (Op::ExtraPadding, 2),
    (Op::UnusedBits, 2),
    (Op::Quote, 2),
    (Op::PercentEscape, 2),
    (Op::PercentAny, 1),
    (Op::Whitespace, 3),
    (Op::LineBreaks, 1),
    (Op::CaseFlip, 2),
    (Op::CaseAll, 1),
    (Op::TruncateChars, 3),
    (Op::AppendChars, 2),
    (Op::InsertChar, 2),
    (Op::DeleteChar, 2),
    (Op::ReplaceChar, 3),
    (Op::SwapChars, 1),
    (Op::NonAscii, 2),
    (Op::DoubleEncode, 1),
    (Op::NamePrefix, 1),
    (Op::MoveName, 2),
    (Op::OtherPurpose, 2),
    (Op::ForeignKey, 2),
    (Op::Stacked, 6),
];

impl Op {
    pub(crate) fn is_splice(self) -> bool {
        matches!(
            self,
            Self::SpliceNonce
                | Self::SpliceCiphertext
                | Self::SpliceTag
                | Self::SpliceAt
                | Self::Concat
        )
    }

    pub(crate) fn is_transplant(self) -> bool {
        matches!(self, Self::MoveName | Self::OtherPurpose | Self::ForeignKey)
    }

    /// Operators that may produce another spelling of the same bytes.
    pub(crate) fn may_respell(self) -> bool {
        matches!(
            self,
            Self::UrlSafe
                | Self::UrlSafeNoPad
                | Self::StripPadding
                | Self::ExtraPadding
                | Self::UnusedBits
                | Self::Quote
                | Self::PercentEscape
                | Self::Whitespace
                | Self::LineBreaks
                | Self::Stacked
        )
    }
}

pub(crate) fn pick_op(rng: &mut Rng) -> Op {
    let total: u32 = WEIGHTED.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(total as usize) as u32;
    for &(op, w) in WEIGHTED {
        if x < w {
            return op;
        }
        x -= w;
    }
    unreachable!()
}

pub(crate) fn digit(c: char) -> Option<usize> {
    ALPHABET.iter().position(|&b| char::from(b) == c)
}

/// Applies a one-value operator to `input` (the current spelling); `partner` is the second
/// cookie of a splice. `None` when the operator does not apply to this input.
pub(crate) fn apply(
    op: Op,
    rng: &mut Rng,
    input: &str,
    partner: &Seed,
    name: &str,
) -> Option<String> {
    let a = || STANDARD.decode(input).ok();
    let b = &partner.bytes;
    let bytes = match op {
        Op::FlipNonce => {
            let mut a = a()?;
            if a.len() < NONCE {
                return None;
            }
            let i = rng.below(NONCE);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipCiphertext => {
            let mut a = a()?;
            if a.len() <= NONCE + TAG {
                return None;
            }
            let i = NONCE + rng.below(a.len() - NONCE - TAG);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipTag => {
            let mut a = a()?;
            if a.len() < NONCE + TAG {
                return None;
            }
            let i = a.len() - TAG + rng.below(TAG);
            a[i] ^= 1 << rng.below(8);
            a
        }
        Op::FlipMany => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            for _ in 0..rng.between(2, 8) {
                let i = rng.below(a.len());
                a[i] ^= 1 << rng.below(8);
            }
            a
        }
        Op::SetByte => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            let i = rng.below(a.len());
            a[i] ^= rng.between(1, 255) as u8;
            a
        }
        Op::TruncateBytes => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            a.truncate(rng.below(a.len()));
            a
        }
        Op::TruncateFront => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            a.drain(..rng.between(1, a.len()));
            a
        }
        Op::AppendBytes => {
            let mut a = a()?;
            for _ in 0..rng.between(1, 32) {
                a.push(rng.byte());
            }
            a
        }
        Op::InsertBytes => {
            let mut a = a()?;
            let at = rng.below(a.len() + 1);
            let extra: Vec<u8> = (0..rng.between(1, 4)).map(|_| rng.byte()).collect();
            a.splice(at..at, extra);
            a
        }
        Op::DeleteBytes => {
            let mut a = a()?;
            if a.is_empty() {
                return None;
            }
            let at = rng.below(a.len());
            let n = rng.between(1, 16.min(a.len() - at));
            a.drain(at..at + n);
            a
        }
        Op::SpliceNonce => {
            let a = a()?;
            if a.len() < NONCE || b.len() < NONCE {
                return None;
            }
            [&a[..NONCE], &b[NONCE..]].concat()
        }
        Op::SpliceCiphertext => {
            let a = a()?;
            if a.len() < NONCE + TAG || b.len() < NONCE + TAG {
                return None;
            }
            [&b[..NONCE], &a[NONCE..a.len() - TAG], &b[b.len() - TAG..]].concat()
        }
        Op::SpliceTag => {
            let a = a()?;
            if a.len() < TAG || b.len() < TAG {
                return None;
            }
            [&a[..a.len() - TAG], &b[b.len() - TAG..]].concat()
        }
        Op::SpliceAt => {
            let a = a()?;
            let at = rng.below(a.len().min(b.len()) + 1);
            [&a[..at], &b[at..]].concat()
        }
        Op::Concat => {
            let a = a()?;
            if rng.coin() {
                [&a[..], &b[..]].concat()
            } else {
                [&b[..], &a[..]].concat()
            }
        }
        _ => return respell(op, rng, input, name),
    };
    Some(STANDARD.encode(bytes))
}
