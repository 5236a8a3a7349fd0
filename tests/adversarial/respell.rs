//! The string operators: other spellings of a sealed value.

use super::*;

/// The string operators.
pub(crate) fn respell(op: Op, rng: &mut Rng, input: &str, name: &str) -> Option<String> {
    let mut chars: Vec<char> = input.chars().collect();
    let n = chars.len();
    let pool = |rng: &mut Rng| char::from(*rng.pick(POOL));
    let out = match op {
        Op::UrlSafe => input.replace('+', "-").replace('/', "_"),
        Op::UrlSafeNoPad => input
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned(),
        Op::StripPadding => {
            if rng.coin() {
                input.trim_end_matches('=').to_owned()
            } else {
                input.strip_suffix('=')?.to_owned()
            }
        }
        Op::ExtraPadding => match rng.below(3) {
            0 => format!("{input}{}", "=".repeat(rng.between(1, 3))),
            1 => {
                chars.insert(rng.below(n + 1), '=');
                chars.into_iter().collect()
            }
            _ => format!("={input}"),
        },
        Op::UnusedBits => {
            let pad = chars.iter().rev().take_while(|&&c| c == '=').count();
            let unused = match pad {
                1 => 2,
                2 => 4,
                _ => return None,
            };
            let at = n.checked_sub(pad + 1)?;
            let d = digit(chars[at])?;
            let flip = rng.between(1, (1 << unused) - 1);
            chars[at] = char::from(ALPHABET[d ^ flip]);
            chars.into_iter().collect()
        }
        Op::Quote => match rng.below(6) {
            0 => format!("\"{input}\""),
            1 => format!("\"{input}"),
            2 => format!("{input}\""),
            3 => format!("'{input}'"),
            4 => format!("%22{input}%22"),
            _ => format!("\"{input}\"\""),
        },
        Op::PercentEscape => {
            let all = rng.coin();
            let lower = rng.coin();
            let mut out = String::with_capacity(input.len() + 16);
            for c in input.chars() {
                let code = match c {
                    '+' => "%2B",
                    '/' => "%2F",
                    '=' => "%3D",
                    _ => "",
                };
                if !code.is_empty() && (all || rng.coin()) {
                    if lower {
                        out.push_str(&code.to_ascii_lowercase());
                    } else {
                        out.push_str(code);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        Op::PercentAny => {
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            let c = chars[at];
            if !c.is_ascii() {
                return None;
            }
            let escaped: Vec<char> = format!("%{:02X}", c as u32).chars().collect();
            chars.splice(at..=at, escaped);
            chars.into_iter().collect()
        }
        Op::Whitespace => {
            if n < 2 {
                return None;
            }
            let ws = *rng.pick(&[
                " ", "\t", "\r\n", "\n", "\r", "\u{b}", "\u{c}", "\u{0}", "\u{a0}", "\u{3000}",
                "\u{2028}", "\u{feff}", "  ",
            ]);
            let at = rng.between(1, n - 1);
            chars.splice(at..at, ws.chars());
            chars.into_iter().collect()
        }
        Op::LineBreaks => {
            let width = *rng.pick(&[64, 76]);
            if n <= width {
                return None;
            }
            let sep = *rng.pick(&["\r\n", "\n", " "]);
            let mut out = String::new();
            for (i, c) in chars.iter().enumerate() {
                if i > 0 && i % width == 0 {
                    out.push_str(sep);
                }
                out.push(*c);
            }
            out
        }
        Op::CaseFlip => {
            let letters: Vec<usize> = (0..n).filter(|&i| chars[i].is_ascii_alphabetic()).collect();
            if letters.is_empty() {
                return None;
            }
            let at = *rng.pick(&letters);
            let c = chars[at];
            chars[at] = if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            chars.into_iter().collect()
        }
        Op::CaseAll => {
            if rng.coin() {
                input.to_ascii_uppercase()
            } else {
                input.to_ascii_lowercase()
            }
        }
        Op::TruncateChars => {
            if n == 0 {
                return None;
            }
            chars.truncate(rng.below(n));
            chars.into_iter().collect()
        }
        Op::AppendChars => {
            let mut out = input.to_owned();
            for _ in 0..rng.between(1, 8) {
                out.push(pool(rng));
            }
            out
        }
        Op::InsertChar => {
            let c = pool(rng);
            chars.insert(rng.below(n + 1), c);
            chars.into_iter().collect()
        }
        Op::DeleteChar => {
            if n == 0 {
                return None;
            }
            chars.remove(rng.below(n));
            chars.into_iter().collect()
        }
        Op::ReplaceChar => {
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            let mut c = char::from(*rng.pick(ALPHABET));
            if c == chars[at] {
                c = char::from(ALPHABET[(digit(c).unwrap_or(0) + 1) % 64]);
            }
            chars[at] = c;
            chars.into_iter().collect()
        }
        Op::SwapChars => {
            if n < 2 {
                return None;
            }
            let at = rng.below(n - 1);
            chars.swap(at, at + 1);
            chars.into_iter().collect()
        }
        Op::NonAscii => {
            let c = *rng.pick(&[
                '\u{ff0b}', '\u{ff0f}', '\u{ff1d}', '\u{ff21}', '\u{ff41}', 'é', '\u{200b}',
                '\u{feff}', '\u{391}', '\u{430}', '\u{2215}', '\u{ff10}',
            ]);
            if n == 0 {
                return None;
            }
            let at = rng.below(n);
            if rng.coin() {
                chars[at] = c;
            } else {
                chars.insert(at, c);
            }
            chars.into_iter().collect()
        }
        Op::DoubleEncode => STANDARD.encode(input.as_bytes()),
        Op::NamePrefix => format!("{name}={input}"),
        other => unreachable!("{other:?} is not a string operator"),
    };
    Some(out)
}
