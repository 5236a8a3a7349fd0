//! Scope patterns: a granted scope may be an MQTT-style topic filter (arena-py).
//!
//! Levels are separated by `/`. In a granted filter, `+` matches exactly one level and `#`, as
//! the last level, matches all remaining levels, including none. Matching is case-sensitive. A
//! filter with a misplaced wildcard (`a#`, `#/a`, `a+b`) grants nothing.
//!
//! The rules are stricter than MQTT's, so that a resource built from a URL path can never climb
//! out of its grant:
//!
//! - a resource with an empty level (`""`, `a//b`, `/a`, `a/`) or a `.` or `..` level
//!   (`a/../b`) is refused outright, whatever the filter: it is not a concrete resource. (MQTT
//!   allows empty levels and lets `+` match them; here `+` never matches an empty level.)
//! - a resource that itself contains `+` or `#` is not concrete and is never granted.
//! - a level starting with `$` is matched only by the same literal level in the filter, at
//!   every depth: neither `+` nor `#` covers it (`a/#` does not permit `a/$internal`). MQTT
//!   protects `$` at the first level only.
//!
//! ```
//! use sealed_session::scope::filter_matches;
//!
//! assert!(filter_matches("scene/+/objects/#", "scene/lab/objects/chair/7"));
//! assert!(filter_matches("scene/#", "scene"));
//! assert!(!filter_matches("scene/+", "scene/lab/objects"));
//! assert!(!filter_matches("#", "$SYS/uptime"));
//! assert!(filter_matches("$SYS/#", "$SYS/uptime"));
//! assert!(!filter_matches("Scene/#", "scene/lab"));
//! assert!(!filter_matches("scene/#", "scene/../admin"));
//! assert!(!filter_matches("scene/+", "scene/"));
//! assert!(!filter_matches("scene/#", "scene/lab/$secret"));
//! ```

/// Whether the granted topic filter `filter` permits the concrete resource `resource`.
#[must_use]
pub fn filter_matches(filter: &str, resource: &str) -> bool {
    matcher(resource).is_some_and(|matches| matches(filter))
}

/// [`filter_matches`] for one `resource` against many filters: the resource is checked once,
/// here; `None` when it is not concrete (no filter matches it).
pub(crate) fn matcher(resource: &str) -> Option<impl Fn(&str) -> bool + '_> {
    is_concrete_resource(resource).then_some(move |filter: &str| matches_concrete(filter, resource))
}

/// [`filter_matches`] for a resource already known to be concrete.
fn matches_concrete(filter: &str, resource: &str) -> bool {
    if !is_valid_filter(filter) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut resource_levels = resource.split('/');
    loop {
        match (filter_levels.next(), resource_levels.next()) {
            // `#` covers the rest, unless a `$` level is among it.
            (Some("#"), r) => {
                return r
                    .into_iter()
                    .chain(resource_levels)
                    .all(|l| !l.starts_with('$'))
            }
            (Some("+"), Some(r)) if !r.starts_with('$') => {}
            (Some(f), Some(r)) if f == r => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `resource` is concrete: no wildcard characters, no empty, `.` or `..` levels.
fn is_concrete_resource(resource: &str) -> bool {
    !resource.contains(['+', '#'])
        && resource
            .split('/')
            .all(|level| !matches!(level, "" | "." | ".."))
}

/// Whether the granted topic filter `granted` covers the requested filter `requested`: every
/// topic `requested` matches is matched by `granted`. This is the check a subscription needs,
/// where the client asks for a filter with `+` or `#` rather than a concrete topic.
///
/// `+` in `granted` covers one level of `requested`, including a `+`; only `#` covers a `#`.
/// The level rules of [`filter_matches`] hold here too: a `requested` filter with an empty, `.`
/// or `..` level is refused, and a `$` level is covered only by the same literal level, at every
/// depth. A misplaced wildcard on either side covers nothing.
///
/// ```
/// use sealed_session::scope::filter_covers;
///
/// assert!(filter_covers("realm/s/alice/#", "realm/s/alice/+/objects"));
/// assert!(filter_covers("realm/s/+/objects", "realm/s/+/objects"));
/// assert!(!filter_covers("realm/s/alice/#", "realm/s/+/objects"));
/// assert!(!filter_covers("realm/s/+/objects", "realm/s/#"));
/// assert!(filter_covers("realm/s/alice/scene1", "realm/s/alice/scene1"));
/// ```
#[must_use]
pub fn filter_covers(granted: &str, requested: &str) -> bool {
    if !is_valid_filter(granted) || !is_valid_filter(requested) {
        return false;
    }
    // The same level rules as `filter_matches`: no empty, `.` or `..` level in what is asked for.
    if requested
        .split('/')
        .any(|level| matches!(level, "" | "." | ".."))
    {
        return false;
    }
    let mut g = granted.split('/');
    let mut r = requested.split('/');
    loop {
        match (g.next(), r.next()) {
            // `#` covers the rest, unless a `$` level is among it.
            (Some("#"), rl) => return rl.into_iter().chain(r).all(|l| !l.starts_with('$')),
            (Some(_), Some("#")) => return false,
            // A `$` level is covered only by the same literal level, at every depth.
            (Some("+"), Some(rl)) if !rl.starts_with('$') => {}
            (Some(gl), Some(rl)) if gl == rl && rl != "+" => {}
            (None, None) => return true,
            // `a/#` also matches `a`: the requested filter ends where the granted one has `#`.
            (Some(next), None) => return next == "#",
            _ => return false,
        }
    }
}

/// Whether wildcards appear only as whole levels, and `#` only last.
fn is_valid_filter(filter: &str) -> bool {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        match level {
            "#" if last => {}
            "+" => {}
            other if other.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::filter_matches as m;

    #[test]
    fn plus_matches_exactly_one_level() {
        assert!(m("a/+", "a/b"));
        assert!(!m("a/+", "a"));
        assert!(!m("a/+", "a/b/c"));
        assert!(m("+/+", "x/y"));
        assert!(m("a/+/c", "a/b/c"));
    }

    #[test]
    fn hash_matches_the_rest_including_nothing() {
        assert!(m("a/#", "a"));
        assert!(m("a/#", "a/b/c"));
        assert!(m("#", "anything/at/all"));
        assert!(!m("a/#", "b/a"));
    }

    #[test]
    fn dollar_topics_need_an_explicit_first_level() {
        assert!(!m("#", "$SYS"));
        assert!(!m("+/x", "$SYS/x"));
        assert!(m("$SYS/+", "$SYS/x"));
    }

    #[test]
    fn misplaced_wildcards_grant_nothing() {
        assert!(!m("a/#/b", "a/x/b"));
        assert!(!m("a/#/b", "a/#/b"));
        assert!(!m("a#", "ab"));
        assert!(!m("a+", "ab"));
        assert!(!m("a/+", "a/+"));
        assert!(!m("#", "a/#"));
    }

    #[test]
    fn dot_levels_never_climb_out_of_a_grant() {
        assert!(!m("a/#", "a/../../b"));
        assert!(!m("a/#", "a/./b"));
        assert!(!m("a/+/c", "a/../c"));
        assert!(!m("a/+", "a/."));
        assert!(!m("#", ".."));
        assert!(!m("a/../b", "a/../b"));
        assert!(m("a/#", "a/.b/..c"));
    }

    #[test]
    fn empty_levels_are_refused() {
        assert!(!m("a/+", "a/"));
        assert!(!m("+/+", "/x"));
        assert!(!m("a/#", "a//b"));
        assert!(!m("a//b", "a//b"));
        assert!(!m("#", ""));
        assert!(!m("", ""));
        assert!(!m("a/#", "a/b/"));
    }

    #[test]
    fn dollar_levels_are_protected_at_every_level() {
        assert!(!m("a/+", "a/$x"));
        assert!(!m("a/#", "a/$x"));
        assert!(!m("a/#", "a/b/$x/c"));
        assert!(!m("a/+/c", "a/$x/c"));
        assert!(m("a/$x", "a/$x"));
        assert!(m("a/$x/+", "a/$x/y"));
        assert!(m("a/$x/#", "a/$x/y/z"));
        assert!(m("a/b$/+", "a/b$/c"));
    }

    #[test]
    fn coverage_follows_the_same_level_rules_as_matching() {
        use super::filter_covers as c;
        // `.`, `..` and empty levels in the requested filter are refused outright.
        assert!(!c("a/#", "a/../b/#"));
        assert!(!c("a/#", "a/./+"));
        assert!(!c("a/+/c", "a/../c"));
        assert!(!c("a/#", "a//+"));
        assert!(!c("a/#", "a/b/"));
        assert!(!c("#", ""));
        // `$` levels are covered only by the same literal level, at every depth.
        assert!(!c("a/#", "a/$x/#"));
        assert!(!c("a/+/c", "a/$x/c"));
        assert!(c("a/$x/#", "a/$x/+"));
    }

    #[test]
    fn coverage_of_requested_filters() {
        use super::filter_covers as c;
        // Concrete topics: the same as matching.
        for (g, r) in [("a/+", "a/b"), ("a/#", "a"), ("#", "x/y"), ("a/b", "a/b")] {
            assert_eq!(c(g, r), m(g, r), "{g} {r}");
        }
        assert!(c("realm/s/alice/#", "realm/s/alice/+/objects"));
        assert!(c("realm/s/alice/#", "realm/s/alice/#"));
        assert!(c("realm/s/alice/#", "realm/s/alice"));
        assert!(c("a/+/c", "a/+/c"));
        assert!(c("a/+/#", "a/+/c/#"));
        assert!(c("#", "#"));
        assert!(c("+", "+"));
        assert!(!c("realm/s/alice/#", "realm/s/+/objects"));
        assert!(!c("realm/s/alice/#", "realm/#"));
        assert!(!c("a/+", "a/#"));
        assert!(!c("a/+", "a/+/c"));
        assert!(!c("a/b", "a/+"));
        assert!(!c("a/+/#", "a"));
        assert!(!c("a/+", "a"));
        assert!(!c("+/x", "$SYS/x"));
        assert!(!c("#", "$SYS/#"));
        assert!(c("$SYS/#", "$SYS/+"));
        assert!(c("#", "+/x"));
        assert!(!c("a/#/b", "a/x/b"));
        assert!(!c("a/#", "a/b#"));
        assert!(!c("A/#", "a/b"));
    }

    #[test]
    fn matching_is_case_sensitive_and_exact() {
        assert!(m("read", "read"));
        assert!(!m("read", "Read"));
        assert!(!m("read", "read/x"));
    }
}
