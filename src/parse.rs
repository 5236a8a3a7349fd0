//! Parsers for the two untrusted request headers the layer reads: `Cookie` and `Authorization`.
//!
//! Both work on raw bytes, allocate nothing, and never panic. They are written here rather than
//! taken from axum-extra's cookie jar or the `headers` crate's `Bearer`, whose behaviour is wrong
//! for security decisions (security.md §2.2, §4.2).

use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

/// The most session-cookie values tried per request. Extra values with the same name are ignored.
pub(crate) const MAX_CANDIDATES: usize = 4;

/// The values of the cookie named `name`, read from every `Cookie` field. No `Debug`: the values
/// are secrets.
#[derive(Default)]
pub(crate) struct CookieScan<'a> {
    values: [&'a str; MAX_CANDIDATES],
    len: usize,
    /// A cookie with the name was present, whether or not its value was usable.
    pub(crate) present: bool,
}

impl<'a> CookieScan<'a> {
    /// The usable candidate values, in header order, at most [`MAX_CANDIDATES`].
    pub(crate) fn values(&self) -> &[&'a str] {
        self.values.get(..self.len).unwrap_or_default()
    }
}

/// Trims SP and HTAB, and nothing else, from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Finds the cookie named `name` in every `Cookie` field of `headers`.
///
/// - Each field is split on `;`; each pair on its first `=`.
/// - Only SP and HTAB are trimmed; names are matched byte for byte and never percent-decoded.
/// - A pair with non-ASCII bytes affects only itself, never its neighbours.
/// - A value longer than `max_value_len` bytes, or not ASCII, is not a candidate (but marks the
///   cookie as present).
pub(crate) fn scan_cookies<'a>(
    headers: &'a HeaderMap,
    name: &[u8],
    max_value_len: usize,
) -> CookieScan<'a> {
    let mut scan = CookieScan::default();
    for field in headers.get_all(COOKIE) {
        let field = field.as_bytes();
        // `memchr` finds the separators a word at a time; a byte-at-a-time `split` was most of a
        // scan (and nearly all of a 64 KiB junk header's cost).
        let mut start = 0;
        for end in memchr::memchr_iter(b';', field).chain(std::iter::once(field.len())) {
            if let Some(pair) = field.get(start..end) {
                scan_pair(&mut scan, pair, name, max_value_len);
            }
            start = end + 1;
        }
    }
    scan
}

/// One `name=value` pair of a `Cookie` field.
fn scan_pair<'a>(scan: &mut CookieScan<'a>, pair: &'a [u8], name: &[u8], max_value_len: usize) {
    let pair = trim_ows(pair);
    // A pair whose name is `name` starts with it (the pair is trimmed): most pairs stop here.
    if pair.first() != name.first() || !pair.starts_with(name) {
        return;
    }
    let Some(eq) = memchr::memchr(b'=', pair) else {
        return;
    };
    let (Some(n), Some(v)) = (pair.get(..eq), pair.get(eq + 1..)) else {
        return;
    };
    if trim_ows(n) != name {
        return;
    }
    scan.present = true;
    let v = trim_ows(v);
    if v.len() > max_value_len || !v.is_ascii() {
        return;
    }
    let Ok(v) = std::str::from_utf8(v) else {
        return;
    };
    if let Some(slot) = scan.values.get_mut(scan.len) {
        *slot = v;
        scan.len += 1;
    }
}

/// What the `Authorization` field says. `Debug` never shows the token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials<'a> {
    /// No `Authorization` field.
    Absent,
    /// A scheme other than `Bearer` (or no scheme at all).
    OtherScheme,
    /// `Bearer` and a well-formed token68 token.
    Bearer(&'a str),
    /// `Bearer` with a missing, over-long or malformed token.
    Malformed,
    /// More than one `Authorization` field, or comma-joined credentials.
    Repeated,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Absent => "Absent",
            Self::OtherScheme => "OtherScheme",
            Self::Bearer(_) => "Bearer(REDACTED)",
            Self::Malformed => "Malformed",
            Self::Repeated => "Repeated",
        })
    }
}

/// `tchar` of RFC 9110 §5.6.2: the characters of an auth-scheme.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'#'
            | b'$'
            | b'%'
            | b'&'
            | b'\''
            | b'*'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~'
    ) || b.is_ascii_alphanumeric()
}

/// Whether `token` is token68 (RFC 9110 §11.2): one or more of `ALPHA DIGIT - . _ ~ + /`, then
/// any number of `=`.
pub(crate) fn is_token68(token: &[u8]) -> bool {
    // The padding is the trailing run of `=`; an `=` before it is not a token68 character, so
    // the check below refuses it (the same set as splitting at the first `=`).
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let Some((head, _padding)) = token.split_at_checked(token.len().saturating_sub(padding)) else {
        return false;
    };
    // Without early exit: branch-free per byte (the refusal of a bad token costs its length
    // either way, as it is read in full by then).
    let chars = if head.len() < VECTOR_FROM {
        // Short tokens: the table, which the compiler unrolls.
        head.iter().fold(true, |all, &b| all & is_token68_char(b))
    } else {
        // Long ones (JWTs): range checks the compiler vectorises, 16 bytes at a time; ≈ 1.8
        // instructions a byte against the table's 3.3 (callgrind, 601-byte JWT).
        head.iter()
            .fold(0u8, |bad, &b| bad | u8::from(!in_token68_ranges(b)))
            == 0
    };
    !head.is_empty() && chars
}

/// From this length on, [`is_token68`] checks ranges in vector registers rather than the table
/// (below it, the vector loop's set-up and scalar tail cost more than they save).
const VECTOR_FROM: usize = 48;

/// Whether `b` is a token68 character other than `=`, as range checks on the byte's value (the
/// same set as [`TOKEN68_CHARS`]).
#[inline(always)]
fn in_token68_ranges(b: u8) -> bool {
    // `b | 0x20` is in `a..=z` exactly for the ASCII letters; `-`, `.` and `/` are consecutive.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b.wrapping_sub(b'-') < 3)
        | (b == b'+')
        | (b == b'_')
        | (b == b'~')
}

/// token68's characters before the padding, as a table: one load and test per byte, where the
/// chain of ranges compiled to ≈ 23 instructions per byte (a JWT is ≈ 600 bytes; the check was a
/// fifth of a cached JWT request's instructions).
// Indexing in a constant: an index out of bounds would fail the build, never a request.
#[allow(clippy::indexing_slicing)]
const TOKEN68_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        table[b] = matches!(b as u8, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// Whether `b` is a token68 character other than the padding `=`.
#[inline]
fn is_token68_char(b: u8) -> bool {
    // Never `None`: the table has an entry for every byte.
    TOKEN68_CHARS.get(usize::from(b)).copied().unwrap_or(false)
}

/// Splits an `Authorization` field into its scheme (the leading `tchar`s) and the rest.
pub(crate) fn split_scheme(field: &[u8]) -> (&[u8], &[u8]) {
    // The common case first: `Bearer ` in its usual spelling, without the scan.
    if let Some((scheme, rest)) = field.split_at_checked(6) {
        if scheme == b"Bearer" && rest.first() == Some(&b' ') {
            return (scheme, rest);
        }
    }
    let scheme_len = field.iter().take_while(|&&b| is_tchar(b)).count();
    field.split_at_checked(scheme_len).unwrap_or((field, &[]))
}

/// Reads the `Authorization` field.
///
/// The scheme is matched case-insensitively and must be followed by one or more SP (not HTAB).
/// The token must be token68 and at most `max_token_len` bytes; it is returned byte-exact,
/// trailing `=` included.
pub(crate) fn authorization(headers: &HeaderMap, max_token_len: usize) -> Credentials<'_> {
    let mut fields = headers.get_all(AUTHORIZATION).iter();
    let Some(field) = fields.next() else {
        return Credentials::Absent;
    };
    if fields.next().is_some() {
        return Credentials::Repeated;
    }
    let (scheme, rest) = split_scheme(field.as_bytes());
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Credentials::OtherScheme;
    }
    if rest.first() != Some(&b' ') {
        return Credentials::Malformed;
    }
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    let token = rest.get(spaces..).unwrap_or_default();
    if token.is_empty() || token.len() > max_token_len || !is_token68(token) {
        // token68 has no comma. A second auth-scheme after one (`Bearer a, Bearer b`) is a
        // second credential; anything else (`Bearer a,b`) is one malformed token.
        return if second_credential(token) {
            Credentials::Repeated
        } else {
            Credentials::Malformed
        };
    }
    match std::str::from_utf8(token) {
        Ok(token) => Credentials::Bearer(token),
        Err(_) => Credentials::Malformed,
    }
}

/// Whether the request has exactly one `Authorization` field and its scheme is `Bearer` (any
/// case), well-formed or not: a cheap look, without reading the token.
pub(crate) fn names_bearer(headers: &HeaderMap) -> bool {
    let mut fields = headers.get_all(AUTHORIZATION).iter();
    match (fields.next(), fields.next()) {
        (Some(field), None) => split_scheme(field.as_bytes())
            .0
            .eq_ignore_ascii_case(b"bearer"),
        _ => false,
    }
}

/// Whether a comma in `rest` starts another credential: after it (and any spaces, tabs or
/// empty list elements), an auth-scheme, one or more SP, and something more (RFC 9110 §11.4).
fn second_credential(rest: &[u8]) -> bool {
    let Some(comma) = memchr::memchr(b',', rest) else {
        return false;
    };
    let after = rest.get(comma..).unwrap_or_default();
    let start = after
        .iter()
        .position(|&b| !matches!(b, b',' | b' ' | b'\t'))
        .unwrap_or(after.len());
    let (scheme, tail) = split_scheme(after.get(start..).unwrap_or_default());
    let spaces = tail.iter().take_while(|&&b| b == b' ').count();
    !scheme.is_empty() && spaces > 0 && tail.len() > spaces
}

/// Whether `path` is a same-origin path that cannot be read as another origin: `/`, then not
/// `/` or `\`, and only visible ASCII without `#`.
pub(crate) fn is_local_path(path: &str) -> bool {
    let b = path.as_bytes();
    b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && b.iter().all(|&c| c.is_ascii_graphic() && c != b'#')
}

/// Standard base64 with padding, decoded canonically: padding required and exact, unused bits
/// zero. Any other spelling of the same bytes is refused.
pub(crate) const CANONICAL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
);

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::header::HeaderName, values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name.clone(), HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn values<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        scan_cookies(h, name.as_bytes(), 4096).values().to_vec()
    }

    #[test]
    fn names_bearer_looks_at_the_scheme_of_one_field_only() {
        let one = |v: &[u8]| headers(AUTHORIZATION, &[v]);
        assert!(names_bearer(&one(b"Bearer abc")));
        assert!(names_bearer(&one(b"bEaReR abc")));
        assert!(
            names_bearer(&one(b"Bearer a b c")),
            "malformed, still Bearer"
        );
        assert!(!names_bearer(&one(b"Basic YWxhZGRpbjpvcGVu")));
        assert!(!names_bearer(&one(b"DPoP abc")));
        assert!(!names_bearer(&one(b"Bearerx abc")));
        assert!(!names_bearer(&HeaderMap::new()));
        assert!(!names_bearer(&headers(
            AUTHORIZATION,
            &[b"Bearer a", b"Bearer b"]
        )));
    }

    #[test]
    fn the_token68_set_is_exactly_rfc_9110s_characters() {
        for b in 0..=u8::MAX {
            let want = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_token68_char(b), want, "byte {b}");
            assert_eq!(in_token68_ranges(b), want, "byte {b}");
        }
        // Long tokens take the vector path: every byte value, at every place of a 16-byte lane
        // and in the scalar tail, is judged as the table judges it.
        let long: Vec<u8> = b"AZaz09-._~+/Qx"
            .iter()
            .copied()
            .cycle()
            .take(601)
            .collect();
        assert!(long.len() >= VECTOR_FROM && is_token68(&long));
        for at in [0, 7, 15, 16, 300, 599, 600] {
            for b in 0..=u8::MAX {
                let mut token = long.clone();
                token[at] = b;
                let want = is_token68_char(b) || (b == b'=' && at == 600);
                assert_eq!(is_token68(&token), want, "byte {b} at {at}");
            }
        }
        let mut padded = long;
        padded.extend_from_slice(b"==");
        assert!(is_token68(&padded));
        assert!(is_token68(b"abc.DEF-_~+/09=="));
        assert!(!is_token68(b"=="));
        assert!(!is_token68(b"ab=c"));
        assert!(!is_token68("é".as_bytes()));
        assert!(!is_token68(b"a b"));
    }

    #[test]
    fn finds_the_cookie_across_fields_and_pairs() {
        let h = headers(
            COOKIE,
            &[b"a=1; __Host-session=abc", b"b=2;__Host-session= def\t"],
        );
        assert_eq!(values(&h, "__Host-session"), ["abc", "def"]);
        assert_eq!(values(&h, "a"), ["1"]);
    }

    #[test]
    fn names_match_byte_exactly() {
        let h = headers(
            COOKIE,
            &[b"%5F%5FHost-session=x; __host-session=y; __Host-Session=z; __Host-session2=w"],
        );
        assert!(values(&h, "__Host-session").is_empty());
        assert!(!scan_cookies(&h, b"__Host-session", 4096).present);
        let h = headers(COOKIE, &["\u{2000}__Host-session=x".as_bytes()]);
        assert!(values(&h, "__Host-session").is_empty());
    }

    #[test]
    fn a_non_ascii_neighbour_does_not_hide_ours() {
        let h = headers(
            COOKIE,
            &["junk=\u{e9}t\u{e9}; __Host-session=abc".as_bytes()],
        );
        assert_eq!(values(&h, "__Host-session"), ["abc"]);
    }

    #[test]
    fn oversized_values_are_present_but_not_candidates() {
        let long = format!("s={}", "A".repeat(4097));
        let h = headers(COOKIE, &[long.as_bytes()]);
        let scan = scan_cookies(&h, b"s", 4096);
        assert!(scan.present);
        assert!(scan.values().is_empty());
    }

    #[test]
    fn candidates_are_bounded() {
        let many = (0..50)
            .map(|i| format!("s={i}"))
            .collect::<Vec<_>>()
            .join("; ");
        let h = headers(COOKIE, &[many.as_bytes()]);
        assert_eq!(values(&h, "s"), ["0", "1", "2", "3"]);
    }

    fn auth(values: &[&[u8]]) -> Credentials<'static> {
        let h = Box::leak(Box::new(headers(AUTHORIZATION, values)));
        authorization(h, 4096)
    }

    #[test]
    fn bearer_tokens_parse_strictly() {
        assert_eq!(auth(&[]), Credentials::Absent);
        assert_eq!(auth(&[b"Bearer abc"]), Credentials::Bearer("abc"));
        assert_eq!(auth(&[b"bEaReR   abc=="]), Credentials::Bearer("abc=="));
        assert_eq!(
            auth(&[b"Bearer a-b.c_d~e+f/g="]),
            Credentials::Bearer("a-b.c_d~e+f/g=")
        );
        assert_eq!(auth(&[b"Basic YTpi"]), Credentials::OtherScheme);
        assert_eq!(auth(&[b"Bearert abc"]), Credentials::OtherScheme);
        assert_eq!(auth(&[b"Bearer"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer "]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer\tabc"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a=b"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer \"abc\""]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer abc def"]), Credentials::Malformed);
        assert_eq!(auth(&["Bearer \u{e9}".as_bytes()]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer ="]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a, Bearer b"]), Credentials::Repeated);
        assert_eq!(auth(&[b"Bearer a,Basic eA=="]), Credentials::Repeated);
        assert_eq!(auth(&[b"Bearer a,b"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a, b"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a,"]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a, Bearer "]), Credentials::Malformed);
        assert_eq!(auth(&[b"Bearer a", b"Bearer a"]), Credentials::Repeated);
        let long = format!("Bearer {}", "a".repeat(4097));
        assert_eq!(auth(&[long.as_bytes()]), Credentials::Malformed);
        let max = format!("Bearer {}", "a".repeat(4096));
        assert!(matches!(auth(&[max.as_bytes()]), Credentials::Bearer(t) if t.len() == 4096));
    }
}
