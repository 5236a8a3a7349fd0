//! Return paths for `?login=` and `?logout=`: same-origin relative paths only.
//!
//! The value arrives percent-decoded once (as the query parser leaves it). It is accepted only
//! when it is a path on the app's own origin, as a WHATWG URL parser (a browser) would resolve
//! it, and it is handed back as a normalised absolute URL, so every `Location` this module
//! writes is absolute and ASCII.

use url::Url;

/// The longest return path accepted, in bytes.
pub(crate) const MAX_RETURN_PATH: usize = 2048;

/// Why a return path was refused. Only ever logged; the response is a plain 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    TooLong,
    NotAPath,
    Backslash,
    ControlOrSpace,
    OffOrigin,
}

impl Refused {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::NotAPath => "not_a_path",
            Self::Backslash => "backslash",
            Self::ControlOrSpace => "control_or_space",
            Self::OffOrigin => "off_origin",
        }
    }
}

/// Validates `raw` against the app's external `base` URL.
///
/// `Ok(None)` for an empty value (no return path); `Ok(Some(url))` with the absolute URL to
/// redirect to; `Err` for anything that is not a same-origin relative path.
pub(crate) fn validate(base: &Url, raw: &str) -> Result<Option<Url>, Refused> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() > MAX_RETURN_PATH {
        return Err(Refused::TooLong);
    }
    let bytes = raw.as_bytes();
    // Controls, tab, CR, LF and space first: WHATWG strips tab, CR and LF anywhere and spaces at
    // the start, which would turn `/<TAB>/evil.com` into `//evil.com`.
    if bytes.iter().any(|&b| b <= 0x20 || b == 0x7f) {
        return Err(Refused::ControlOrSpace);
    }
    // WHATWG reads `\` as `/` in http(s) URLs: `/\evil.com` is `//evil.com`.
    if bytes.contains(&b'\\') {
        return Err(Refused::Backslash);
    }
    if bytes.first() != Some(&b'/') || bytes.get(1) == Some(&b'/') {
        return Err(Refused::NotAPath);
    }
    let resolved = base.join(raw).map_err(|_| Refused::OffOrigin)?;
    // Dot segments can still produce a path that starts with `//` (`/.//evil.com`): written
    // back as a relative reference it would be protocol-relative, so it is refused even though
    // the parser keeps it on this origin.
    if resolved.origin() != base.origin()
        || resolved.path().starts_with("//")
        || resolved.cannot_be_a_base()
    {
        return Err(Refused::OffOrigin);
    }
    // Percent-encoding can triple the length: bound what goes into the flow cookie.
    if resolved.as_str().len() > MAX_RETURN_PATH + base.as_str().len() {
        return Err(Refused::TooLong);
    }
    Ok(Some(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://app.example.org/").unwrap()
    }

    fn ok(raw: &str) -> String {
        validate(&base(), raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e:?}"))
            .map(String::from)
            .unwrap_or_default()
    }

    fn refused(raw: &str) -> Refused {
        validate(&base(), raw).expect_err(raw)
    }

    #[test]
    fn same_origin_paths_resolve_to_absolute_urls() {
        assert_eq!(ok("/dashboard"), "https://app.example.org/dashboard");
        assert_eq!(ok("/a#frag"), "https://app.example.org/a#frag");
        assert_eq!(
            ok("/secret?x=1&y=2"),
            "https://app.example.org/secret?x=1&y=2"
        );
        assert_eq!(ok("/a/../b"), "https://app.example.org/b");
        assert_eq!(
            ok("/javascript:alert(1)"),
            "https://app.example.org/javascript:alert(1)"
        );
        assert_eq!(ok("/@evil.com"), "https://app.example.org/@evil.com");
        assert_eq!(
            ok("/%2F%2Fevil.com"),
            "https://app.example.org/%2F%2Fevil.com"
        );
        assert_eq!(ok("/%5Cevil.com"), "https://app.example.org/%5Cevil.com");
        assert_eq!(ok("/é"), "https://app.example.org/%C3%A9");
        assert_eq!(
            ok("/∕evil.com"),
            "https://app.example.org/%E2%88%95evil.com"
        );
        assert_eq!(
            ok("/／evil.com"),
            "https://app.example.org/%EF%BC%8Fevil.com"
        );
        assert_eq!(
            ok("/%0d%0aSet-Cookie:x"),
            "https://app.example.org/%0d%0aSet-Cookie:x"
        );
        assert_eq!(ok(""), "");
    }

    #[test]
    fn off_origin_and_ambiguous_paths_are_refused() {
        for raw in [
            "//evil.com",
            "///evil.com",
            "evil.com",
            "./x",
            "?x=1",
            "#frag",
        ] {
            assert_eq!(refused(raw), Refused::NotAPath, "{raw}");
        }
        for raw in [
            "https://evil.com",
            "HTTPS://app.example.org/x",
            "https:evil.com",
        ] {
            assert_eq!(refused(raw), Refused::NotAPath, "{raw}");
        }
        for raw in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
        ] {
            assert_eq!(refused(raw), Refused::NotAPath, "{raw}");
        }
        assert_eq!(refused("%2F%2Fevil.com"), Refused::NotAPath);
        for raw in ["/\\evil.com", "\\\\evil.com", "/x\\..\\\\evil.com"] {
            assert_eq!(refused(raw), Refused::Backslash, "{raw}");
        }
        for raw in [
            "/\t/evil.com",
            "/\n/evil.com",
            "/\r/evil.com",
            "/\0",
            "/\r\nSet-Cookie: x=1",
            " //evil.com",
            "/a b",
            "/\x7f",
        ] {
            assert_eq!(refused(raw), Refused::ControlOrSpace, "{raw:?}");
        }
        for raw in [
            "/.//evil.com",
            "/..//evil.com",
            "/%2e//evil.com",
            "/%2E%2E//evil.com",
        ] {
            assert_eq!(refused(raw), Refused::OffOrigin, "{raw}");
        }
        let long = format!("/{}", "a".repeat(MAX_RETURN_PATH));
        assert_eq!(refused(&long), Refused::TooLong);
        assert!(validate(&base(), &long[..MAX_RETURN_PATH]).is_ok());
        // Short enough raw, but three times longer once percent-encoded.
        let wide = format!("/{}", "é".repeat(1000));
        assert!(wide.len() <= MAX_RETURN_PATH);
        assert_eq!(refused(&wide), Refused::TooLong);
    }

    #[test]
    fn paths_resolve_on_the_origin_of_a_base_with_a_port() {
        let base = Url::parse("http://localhost:3000/").unwrap();
        assert_eq!(
            validate(&base, "/me").unwrap().unwrap().as_str(),
            "http://localhost:3000/me"
        );
        assert_eq!(
            validate(&base, "//localhost:3000/me"),
            Err(Refused::NotAPath)
        );
    }
}
