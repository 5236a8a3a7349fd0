//! The handlers, one file per area.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod login;
pub(crate) mod session;
pub(crate) mod tokens;

use time::OffsetDateTime;

/// `2026-01-01 12:00:00 UTC`.
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// [`fmt_time`] for Unix seconds.
pub(crate) fn fmt_unix(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs).map_or_else(|_| secs.to_string(), fmt_time)
}

/// A return path after login, or `None` when it could lead off the site: it must start with one
/// `/` (not `//` or `/\`), and hold no backslash, control character or space (browsers strip or
/// reinterpret those, which turns `/<TAB>/evil.example` into another host).
pub(crate) fn safe_return_path(path: &str) -> Option<&str> {
    let bytes = path.as_bytes();
    let local = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes
            .iter()
            .any(|b| *b == b'\\' || *b <= b' ' || *b == 0x7f)
        && path.len() <= 2048;
    local.then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_on_the_site() {
        for ok in ["/", "/session", "/tokens?x=1", "/a/../b"] {
            assert_eq!(safe_return_path(ok), Some(ok));
        }
        for bad in [
            "",
            "session",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/x\\..\\\\evil.example",
            "https://evil.example",
            "/a b",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn times_print_in_utc() {
        assert_eq!(fmt_unix(0), "1970-01-01 00:00:00 UTC");
    }
}
