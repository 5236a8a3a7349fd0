//! Reading a `WWW-Authenticate` challenge (RFC 9110 §11.6.1, RFC 6750 §3) on the client side.
//!
//! The server side of this crate only writes challenges, so this is the one parser: it finds
//! the `Bearer` (or `DPoP`) challenge among possibly several, and reads its parameters
//! (`realm`, `error`, `error_description`, `scope`).

use std::collections::BTreeMap;

use http::header::WWW_AUTHENTICATE;
use http::HeaderMap;

/// The most parameters read from one challenge; the rest are ignored.
const MAX_PARAMS: usize = 32;

/// A `Bearer` or `DPoP` challenge from a `WWW-Authenticate` header. The
/// [`ClientAuth`](super::ClientAuth) service puts one in the extensions of every 401 and 403
/// response that carries one, so the caller sees, for example, which scope was missing.
///
/// ```
/// use sealed_session::client::Challenge;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(
///     "www-authenticate",
///     r#"Bearer realm="api", error="insufficient_scope", scope="read write""#.parse().unwrap(),
/// );
/// let challenge = Challenge::from_headers(&headers).unwrap();
/// assert_eq!(challenge.error(), Some("insufficient_scope"));
/// assert_eq!(challenge.scopes(), ["read", "write"]);
/// assert_eq!(challenge.realm(), Some("api"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    params: BTreeMap<String, String>,
}

impl Challenge {
    /// The first `Bearer` or `DPoP` challenge in the `WWW-Authenticate` fields, if any.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse)
            .find(|c| {
                c.scheme.eq_ignore_ascii_case("bearer") || c.scheme.eq_ignore_ascii_case("dpop")
            })
    }

    /// Every challenge in one `WWW-Authenticate` value, in order.
    #[must_use]
    pub fn parse_all(value: &str) -> Vec<Self> {
        parse(value)
    }

    /// The scheme as sent (`Bearer`).
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// A parameter by name (case-insensitive), unquoted.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The `error` code: `invalid_token`, `insufficient_scope`, `invalid_request`.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// The `error_description`.
    #[must_use]
    pub fn error_description(&self) -> Option<&str> {
        self.param("error_description")
    }

    /// The `realm`.
    #[must_use]
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// The scopes of the `scope` parameter: with `insufficient_scope`, the ones needed.
    #[must_use]
    pub fn scopes(&self) -> Vec<&str> {
        self.param("scope")
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// `error="invalid_token"`: the token is expired, revoked or unknown, and a new one may work.
    #[must_use]
    pub fn is_invalid_token(&self) -> bool {
        self.error() == Some("invalid_token")
    }

    /// `error="insufficient_scope"`: a new token of the same grant will not help.
    #[must_use]
    pub fn is_insufficient_scope(&self) -> bool {
        self.error() == Some("insufficient_scope")
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| {
            String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default()).into_owned()
        })
    }
    /// A quoted-string, unescaped; `None` when unterminated.
    fn quoted(&mut self) -> Option<String> {
        // at the opening quote
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    self.i += 1;
                    out.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

/// Parses a `WWW-Authenticate` value into its challenges. Malformed parts end the parse; what
/// was read before them is kept.
fn parse(value: &str) -> Vec<Challenge> {
    let mut lx = Lexer {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    // Each round reads one scheme, so the loop is bounded by the value's length.
    while lx.i < lx.s.len() {
        lx.skip_ws_commas();
        let Some(scheme) = lx.token() else { break };
        let mut challenge = Challenge {
            scheme,
            params: BTreeMap::new(),
        };
        lx.skip_ws();
        // auth-params, or a token68, or nothing.
        loop {
            let save = lx.i;
            lx.skip_ws_commas();
            let Some(name) = lx.token() else {
                lx.i = save;
                break;
            };
            lx.skip_ws();
            if lx.peek() != Some(b'=') {
                // Not a parameter: the next challenge's scheme.
                lx.i = save;
                break;
            }
            lx.i += 1;
            lx.skip_ws();
            let value = match lx.peek() {
                Some(b'"') => match lx.quoted() {
                    Some(v) => v,
                    None => {
                        out.push(challenge);
                        return out;
                    }
                },
                // `name=` then `=`, `,` or the end: a token68 such as `abc==`; skip its padding.
                Some(b'=') | Some(b',') | None => {
                    while lx.peek() == Some(b'=') {
                        lx.i += 1;
                    }
                    continue;
                }
                Some(_) => match lx.token() {
                    Some(v) => v,
                    None => {
                        out.push(challenge);
                        return out;
                    }
                },
            };
            let name = name.to_ascii_lowercase();
            // RFC 9110: each parameter name at most once; keep the first.
            if challenge.params.len() < MAX_PARAMS {
                challenge.params.entry(name).or_insert(value);
            }
            lx.skip_ws();
        }
        out.push(challenge);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn one(v: &str) -> Challenge {
        let all = parse(v);
        assert_eq!(all.len(), 1, "{v}: {all:?}");
        all.into_iter().next().unwrap()
    }

    #[test]
    fn the_crate_s_own_challenges() {
        let c = one(r#"Bearer realm="sealed-session", error="invalid_token""#);
        assert_eq!(c.scheme(), "Bearer");
        assert!(c.is_invalid_token());
        assert_eq!(c.realm(), Some("sealed-session"));
        let c =
            one(r#"Bearer realm="x", error="insufficient_scope", scope="admin builds/+/write""#);
        assert!(c.is_insufficient_scope());
        assert_eq!(c.scopes(), ["admin", "builds/+/write"]);
        let c = one(r#"Bearer realm="sealed-session""#);
        assert_eq!(c.error(), None);
        assert!(c.scopes().is_empty());
    }

    #[test]
    fn bare_scheme_and_token_values() {
        let c = one("Bearer");
        assert_eq!(c.scheme(), "Bearer");
        assert_eq!(c.param("realm"), None);
        let c = one("bearer error=invalid_token , realm=api");
        assert!(c.is_invalid_token());
        assert_eq!(c.realm(), Some("api"));
        assert_eq!(c.param("ERROR"), Some("invalid_token"));
    }

    #[test]
    fn several_challenges_in_one_value() {
        let all = parse(
            r#"Basic realm="a, b", Bearer error="invalid_token", error_description="The access token expired", Negotiate abc==, DPoP algs="ES256""#,
        );
        let schemes: Vec<&str> = all.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Basic", "Bearer", "Negotiate", "DPoP"]);
        assert_eq!(all[0].realm(), Some("a, b"));
        assert_eq!(all[1].error_description(), Some("The access token expired"));
        assert_eq!(all[3].param("algs"), Some("ES256"));
    }

    #[test]
    fn escapes_duplicates_and_garbage() {
        let c = one(r#"Bearer realm="a \"quoted\" \\ realm", realm="second""#);
        assert_eq!(c.realm(), Some(r#"a "quoted" \ realm"#));
        // Unterminated quote: what was read is kept.
        let c = one(r#"Bearer error="invalid_token", realm="open"#);
        assert!(c.is_invalid_token());
        assert_eq!(c.realm(), None);
        assert!(parse("").is_empty());
        assert!(parse("   ,,  ").is_empty());
        assert!(parse("\"quoted-scheme\"").is_empty());
        // Many parameters: bounded.
        let many: Vec<String> = (0..100).map(|i| format!("p{i}=v")).collect();
        let c = one(&format!("Bearer {}", many.join(", ")));
        assert_eq!(c.params.len(), MAX_PARAMS);
    }

    #[test]
    fn from_headers_finds_bearer_among_fields() {
        let mut h = HeaderMap::new();
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="x""#),
        );
        h.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="insufficient_scope", scope="admin""#),
        );
        let c = Challenge::from_headers(&h).unwrap();
        assert_eq!(c.scopes(), ["admin"]);
        assert!(Challenge::from_headers(&HeaderMap::new()).is_none());
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="x""#),
        );
        assert!(Challenge::from_headers(&h).is_none());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let samples = [
            "Bearer =",
            "Bearer ==,",
            "Bearer a=\\",
            "Bearer a=\"\\",
            ",Bearer,,a=b,,",
            "B a=b c",
            "\u{e9}t\u{e9} x=y",
            "Bearer a = \"b\" , c = d",
            "Bearer\ta=b",
        ];
        for s in samples {
            let _ = parse(s);
        }
        assert_eq!(one("Bearer a = \"b\" , c = d").param("c"), Some("d"));
    }
}
