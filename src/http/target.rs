//! The one parser of a request target's path: what the file lookup, the
//! file cache's key and the request counts all take from a target.
//!
//! RFC 9112 section 3.2: a server accepts origin-form (`/p?q`) and
//! absolute-form (`http://host/p?q`); `*` (asterisk-form) is for `OPTIONS`
//! only. A fragment (`#`) never belongs in a target; the request parser
//! refuses it before anything here runs.

/// The parts of a target that find a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// `*`: the server as a whole (`OPTIONS *`).
    Asterisk,
    /// A path (still percent-encoded, always starting with `/`) and the
    /// raw query after `?`, if any.
    Path {
        path: &'a [u8],
        query: Option<&'a [u8]>,
    },
}

/// Splits a target into path and query. Absolute-form with an `http` or
/// `https` scheme (any case) loses its scheme and authority: `http://h`
/// becomes `/`. Anything else is `None` (400).
pub(crate) fn parse(target: &[u8]) -> Option<Target<'_>> {
    if target == b"*" {
        return Some(Target::Asterisk);
    }
    let origin = if target.first() == Some(&b'/') {
        target
    } else {
        let starts =
            |p: &[u8]| target.len() >= p.len() && target[..p.len()].eq_ignore_ascii_case(p);
        let rest = if starts(b"http://") {
            &target[7..]
        } else if starts(b"https://") {
            &target[8..]
        } else {
            return None;
        };
        match rest.iter().position(|&c| c == b'/' || c == b'?') {
            Some(i) if rest[i] == b'/' => &rest[i..],
            Some(i) => {
                return Some(Target::Path {
                    path: b"/",
                    query: Some(&rest[i + 1..]),
                });
            }
            None => b"/",
        }
    };
    let (path, query) = match origin.iter().position(|&c| c == b'?') {
        Some(i) => (&origin[..i], Some(&origin[i + 1..])),
        None => (origin, None),
    };
    Some(Target::Path { path, query })
}

/// The path of a target (no query, no scheme or authority); `*` and
/// unusable targets come back as they are.
pub(crate) fn path_of(target: &[u8]) -> &[u8] {
    match parse(target) {
        Some(Target::Path { path, .. }) => path,
        _ => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(path: &'static [u8], query: Option<&'static [u8]>) -> Option<Target<'static>> {
        Some(Target::Path { path, query })
    }

    #[test]
    fn forms() {
        assert_eq!(parse(b"/a?x=1"), path(b"/a", Some(b"x=1")));
        assert_eq!(parse(b"/a"), path(b"/a", None));
        assert_eq!(parse(b"/a?"), path(b"/a", Some(b"")));
        assert_eq!(parse(b"http://h/a?x"), path(b"/a", Some(b"x")));
        assert_eq!(parse(b"HTTPS://h:8/a/b"), path(b"/a/b", None));
        assert_eq!(parse(b"http://h"), path(b"/", None));
        assert_eq!(parse(b"http://h?q"), path(b"/", Some(b"q")));
        assert_eq!(parse(b"*"), Some(Target::Asterisk));
        // Only http(s) absolute-form; no authority-form or other schemes.
        assert_eq!(parse(b"ftp://h/a"), None);
        assert_eq!(parse(b"h:80"), None);
        assert_eq!(parse(b"a/b"), None);
    }

    #[test]
    fn paths_for_counting_and_caching() {
        assert_eq!(path_of(b"/a?x"), b"/a");
        assert_eq!(path_of(b"http://h/a?x"), b"/a");
        assert_eq!(path_of(b"http://h"), b"/");
        assert_eq!(path_of(b"*"), b"*");
        assert_eq!(path_of(b"ftp://h/a"), b"ftp://h/a");
    }
}
