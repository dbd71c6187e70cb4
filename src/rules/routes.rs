//! Where a request goes before any file is looked at: the base path
//! (`--base-path`), redirects (`--redirect`) and rewrites (`--rewrite`),
//! compiled once at start; and the policies that decide a path's one
//! canonical form (`--clean-urls`, `--trailing-slash`), which `respond`
//! applies as it resolves the file.
//!
//! The order, top to bottom ([`route`]):
//! 1. `--base-path /app`: a path under `/app/` goes on without the
//!    prefix; `/app` itself is a 308 to `/app/`; anything else is 404.
//!    Every rule below sees the path within the site (without the prefix),
//!    and every `Location` skiff makes for a path gets the prefix back.
//! 2. `--redirect`: the first rule whose glob matches the decoded,
//!    normalised path (with its trailing slash, if it had one) and, for a
//!    `HOST/GLOB` rule, the `Host`, answers with its status and
//!    `Location`. The query string is kept unless TO has one.
//! 3. `--rewrite`: the first rule that matches gives the path served
//!    instead, once: a rewrite's result is never matched against redirects
//!    or rewrites again, and is resolved under the root with every check a
//!    request gets (no `..` above the root, no hidden names, no symlinks
//!    out), without the redirects of trailing slashes and clean URLs (so
//!    the client never sees the inner path).
//!
//! Must never let a rule reach a file a request could not: a rewrite's
//! result goes through the same resolution as any request.

use std::borrow::Cow;

use crate::http::response::Status;
use crate::http::target::{Target, parse};
use crate::rules::hosts::lower_host;
use crate::rules::pattern::{Glob, Matched, RuleList, Template};

/// Longest `Host` matched against `HOST/GLOB` rules (a DNS name is at most
/// 253 characters, plus a port): held on the stack, lowercased.
const MAX_HOST: usize = 300;

/// `--trailing-slash`: the one form of each path, enforced with 308.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TrailingSlash {
    /// Folders end with `/` (a folder asked for without it gets a 301, as
    /// always); a file asked for with one is 404; clean URLs have none.
    #[default]
    Auto,
    /// Folders and clean-URL pages end with `/`; files never do.
    Always,
    /// Nothing but the root ends with `/`; a folder is served at its path
    /// without one.
    Never,
}

/// One `--redirect` rule's answer.
#[derive(Debug, Clone)]
pub(crate) struct Redirect {
    to: Template,
    status: Status,
    /// TO is a path on this site (it gets the base path); else a URL.
    local: bool,
    /// TO has its own query string.
    has_query: bool,
}

/// One `--rewrite` rule's inner path.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    to: Template,
    has_query: bool,
}

/// The routing rules of a site, compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routes {
    /// `--base-path`, without a trailing slash (`/app`); `None` for `/`.
    pub(crate) base_path: Option<Box<[u8]>>,
    pub(crate) redirects: RuleList<Redirect>,
    pub(crate) rewrites: RuleList<Rewrite>,
    pub(crate) clean_urls: bool,
    pub(crate) trailing_slash: TrailingSlash,
    /// Some redirect or rewrite matches a host.
    host_rules: bool,
}

impl Routes {
    /// The rules from their flags' values; a bad one is a one-line error
    /// naming the flag and the rule.
    pub(crate) fn new(
        base_path: Option<&str>,
        redirects: &[String],
        rewrites: &[String],
        clean_urls: bool,
        trailing_slash: TrailingSlash,
    ) -> Result<Routes, String> {
        let base_path = match base_path {
            None => None,
            Some(b) => parse_base_path(b)?,
        };
        let redirects_given = redirects;
        let mut list = Vec::new();
        for spec in redirects {
            list.push(parse_redirect(spec).map_err(|e| format!("--redirect '{spec}': {e}"))?);
        }
        let redirects = RuleList::new(list).map_err(|e| format!("--redirect: {e}"))?;
        check_cycles(&redirects, redirects_given)?;
        let mut list = Vec::new();
        for spec in rewrites {
            list.push(parse_rewrite(spec).map_err(|e| format!("--rewrite '{spec}': {e}"))?);
        }
        let rewrites = RuleList::new(list).map_err(|e| format!("--rewrite: {e}"))?;
        let host_rules = redirects.iter().any(|(g, _)| g.has_host())
            || rewrites.iter().any(|(g, _)| g.has_host());
        Ok(Routes {
            base_path,
            redirects,
            rewrites,
            clean_urls,
            trailing_slash,
            host_rules,
        })
    }
}

/// `--base-path /app` (or `/app/`): `None` for `/`.
fn parse_base_path(spec: &str) -> Result<Option<Box<[u8]>>, String> {
    let trimmed = spec.trim_end_matches('/');
    let ok = spec.starts_with('/')
        && !spec.contains(['?', '#', '%', '\\'])
        && !spec.chars().any(|c| c.is_control() || c == ' ')
        && trimmed
            .split('/')
            .skip(1)
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !ok {
        return Err(format!(
            "--base-path '{spec}': expected a path such as /app (no '.', '..', empty segments, spaces, '%', '?' or '#')"
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.as_bytes().into()))
}

/// `FROM=TO` or `FROM=TO CODE`.
fn parse_redirect(spec: &str) -> Result<(Glob, Redirect), String> {
    let (from, rest) = spec
        .split_once('=')
        .ok_or("expected 'FROM=TO' or 'FROM=TO CODE'")?;
    let rest = rest.trim();
    let (to, status) = match rest.rsplit_once(' ') {
        Some((to, code)) => {
            let status = match code {
                "301" => Status::MovedPermanently,
                "302" => Status::Found,
                "303" => Status::SeeOther,
                "307" => Status::TemporaryRedirect,
                "308" => Status::PermanentRedirect,
                _ => return Err(format!("'{code}' is not one of 301, 302, 303, 307, 308")),
            };
            (to.trim(), status)
        }
        None => (rest, Status::PermanentRedirect),
    };
    let glob = Glob::parse(from.trim())?;
    let local = to.starts_with('/');
    let url = ["http://", "https://"].iter().any(|s| {
        to.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)) && to.len() > s.len()
    });
    if !(local && !to.starts_with("//") || url) {
        return Err(format!(
            "TO '{to}' is neither a path (/new) nor an http:// or https:// URL"
        ));
    }
    let to = check_to(to, &glob)?;
    let has_query = to_has_query(&to);
    Ok((
        glob,
        Redirect {
            to,
            status,
            local,
            has_query,
        },
    ))
}

/// `FROM=TO`, TO a path.
fn parse_rewrite(spec: &str) -> Result<(Glob, Rewrite), String> {
    let (from, to) = spec.split_once('=').ok_or("expected 'FROM=TO'")?;
    let to = to.trim();
    if !to.starts_with('/') || to.starts_with("//") {
        return Err(format!("TO '{to}' is not a path under the root (/inner)"));
    }
    let glob = Glob::parse(from.trim())?;
    let to = check_to(to, &glob)?;
    let has_query = to_has_query(&to);
    Ok((glob, Rewrite { to, has_query }))
}

/// TO as a template: no spaces or controls, and no capture FROM lacks.
fn check_to(to: &str, glob: &Glob) -> Result<Template, String> {
    if to.chars().any(|c| c.is_control() || c == ' ' || c == '#') {
        return Err(format!(
            "TO '{to}' may not hold spaces, control characters or '#'"
        ));
    }
    let template = Template::parse(to)?;
    if template.highest() > glob.captures() {
        return Err(format!(
            "TO uses ${} but FROM has {} wildcard{}",
            template.highest(),
            glob.captures(),
            if glob.captures() == 1 { "" } else { "s" }
        ));
    }
    Ok(template)
}

fn to_has_query(to: &Template) -> bool {
    to.text_contains('?')
}

/// Refuses the redirect loops that can be seen at start: a rule whose
/// fixed path TO (no captures) is matched by a chain of such rules that
/// comes back to it. Loops through captures, hosts or other servers are
/// not seen.
fn check_cycles(list: &RuleList<Redirect>, specs: &[String]) -> Result<(), String> {
    let rules: Vec<_> = list.iter().collect();
    let next = |path: &str| -> Option<usize> {
        rules
            .iter()
            .position(|(glob, _)| !glob.has_host() && glob.matches(None, path.as_bytes()).is_some())
    };
    let fixed = |i: usize| -> Option<&str> {
        let (glob, r) = rules[i];
        let to = r.to.fixed()?;
        (r.local && !glob.has_host()).then(|| to.split('?').next().unwrap_or(to))
    };
    for start in 0..rules.len() {
        let Some(mut path) = fixed(start) else {
            continue;
        };
        if rules[start].0.has_host() {
            continue;
        }
        let mut seen = vec![start];
        while let Some(j) = next(path) {
            if seen.contains(&j) {
                let chain: Vec<&str> = seen.iter().map(|&k| specs[k].as_str()).collect();
                return Err(if seen.len() == 1 {
                    format!("--redirect '{}': redirects to itself", specs[start])
                } else {
                    format!("--redirect: a loop: '{}'", chain.join("' then '"))
                });
            }
            seen.push(j);
            match fixed(j) {
                Some(p) => path = p,
                None => break,
            }
        }
    }
    Ok(())
}

/// Where [`route`] sends a request.
#[derive(Debug)]
pub(crate) enum Routed<'t> {
    /// Answered at once: a redirect with its `Location` (a path within the
    /// site, which gets the base path, or a URL), or 404 outside the base
    /// path.
    Answer {
        status: Status,
        location: Option<Vec<u8>>,
    },
    /// Serve this target (the request's, less the base path; or a
    /// rewrite's).
    Serve {
        target: Cow<'t, [u8]>,
        rewritten: bool,
    },
}

/// Steps 1 to 3 of the module documentation for a request for `target`
/// with this `Host`.
pub(crate) fn route<'t>(routes: &Routes, target: &'t [u8], host: Option<&[u8]>) -> Routed<'t> {
    let target = match &routes.base_path {
        None => Cow::Borrowed(target),
        Some(base) => match strip_base(target, base) {
            Ok(t) => t,
            Err(answer) => return answer,
        },
    };
    if routes.redirects.is_empty() && routes.rewrites.is_empty() {
        return Routed::Serve {
            target,
            rewritten: false,
        };
    }
    let query = |target: &[u8]| match parse(target) {
        Some(Target::Path { query, .. }) => query.map(<[u8]>::to_vec),
        _ => None,
    };
    let Some(subject) = rule_path(&target) else {
        // Not a path that resolves (400, or `*`): the resolution says so.
        return Routed::Serve {
            target,
            rewritten: false,
        };
    };
    // The host, lowercased, only for `HOST/GLOB` rules.
    let mut host_buf = [0u8; MAX_HOST];
    let host = match routes.host_rules {
        true => host.and_then(|h| lower_host(h, &mut host_buf)),
        false => None,
    };
    if let Some((r, m)) = routes.redirects.first(host, &subject) {
        let mut location = Vec::with_capacity(subject.len() + 16);
        r.to.render(&m, host, &subject, &mut location, encode_capture);
        push_query(&mut location, r.has_query, query(&target).as_deref());
        return Routed::Answer {
            status: r.status,
            location: Some(location),
        };
    }
    if let Some((r, m)) = routes.rewrites.first(host, &subject) {
        return Routed::Serve {
            target: Cow::Owned(rewritten(r, &m, host, &subject, query(&target).as_deref())),
            rewritten: true,
        };
    }
    Routed::Serve {
        target,
        rewritten: false,
    }
}

fn rewritten(
    r: &Rewrite,
    m: &Matched,
    host: Option<&[u8]>,
    subject: &[u8],
    query: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(subject.len() + 16);
    r.to.render(m, host, subject, &mut out, encode_capture);
    push_query(&mut out, r.has_query, query);
    out
}

fn push_query(out: &mut Vec<u8>, has_own: bool, query: Option<&[u8]>) {
    if let (false, Some(q)) = (has_own, query) {
        out.push(b'?');
        out.extend_from_slice(q);
    }
}

/// A capture (decoded bytes) as it goes into a URL path.
fn encode_capture(capture: &[u8], out: &mut Vec<u8>) {
    crate::files::resolve::encode_path(capture, out);
}

/// A path already decoded and normalised: no escapes, no `.`, `..` or
/// empty segments.
pub(crate) fn is_plain(path: &[u8]) -> bool {
    !path.contains(&b'%')
        && !path.windows(2).any(|w| w == b"//")
        && !path
            .split(|&c| c == b'/')
            .skip(1)
            .any(|seg| seg == b"." || seg == b"..")
}

/// The path rules match: the decoded, normalised path, with a trailing
/// slash if the request had one. Borrowed from the target when it is
/// already in that form (no escapes, no `.`, `..` or empty segments).
pub(crate) fn rule_path(target: &[u8]) -> Option<Cow<'_, [u8]>> {
    let Some(Target::Path { path, .. }) = parse(target) else {
        return None;
    };
    if is_plain(path) {
        return Some(Cow::Borrowed(path));
    }
    let norm = crate::files::resolve::normalize(target).ok()?;
    let mut p = norm.path;
    if norm.trailing_slash && p != b"/" {
        p.push(b'/');
    }
    Some(Cow::Owned(p))
}

/// The target less the base path; or the answer for a target outside it
/// (404), or for the base path without its slash (a 308 to it with one).
fn strip_base<'t>(target: &'t [u8], base: &[u8]) -> Result<Cow<'t, [u8]>, Routed<'t>> {
    let Some(Target::Path { path, query }) = parse(target) else {
        // `*` and the unparseable: the resolution answers them.
        return Ok(Cow::Borrowed(target));
    };
    let to_slash = |query: Option<&[u8]>| {
        let mut location = b"/".to_vec();
        push_query(&mut location, false, query);
        Routed::Answer {
            status: Status::PermanentRedirect,
            location: Some(location),
        }
    };
    let offset = path.as_ptr() as usize - target.as_ptr() as usize;
    if let (true, Some(rest)) = (is_plain(path), path.strip_prefix(base)) {
        match rest.first() {
            None => return Err(to_slash(query)),
            Some(b'/') => return Ok(Cow::Borrowed(&target[offset + base.len()..])),
            _ => {}
        }
    }
    // Not literally under it: compare the normalised path.
    let not_found = Routed::Answer {
        status: Status::NotFound,
        location: None,
    };
    let Ok(norm) = crate::files::resolve::normalize(target) else {
        return Err(not_found);
    };
    let Some(rest) = norm.path.strip_prefix(base) else {
        return Err(not_found);
    };
    match rest.first() {
        None if !norm.trailing_slash => Err(to_slash(query)),
        None | Some(b'/') => {
            let mut t = Vec::with_capacity(rest.len() + 2);
            crate::files::resolve::encode_path(rest, &mut t);
            if t.is_empty() || norm.trailing_slash {
                t.push(b'/');
            }
            push_query(&mut t, false, query);
            Ok(Cow::Owned(t))
        }
        _ => Err(not_found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(base: Option<&str>, redirects: &[&str], rewrites: &[&str]) -> Result<Routes, String> {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Routes::new(
            base,
            &s(redirects),
            &s(rewrites),
            false,
            TrailingSlash::Auto,
        )
    }

    fn answer(r: &Routes, target: &str, host: Option<&str>) -> (u16, String) {
        match route(r, target.as_bytes(), host.map(str::as_bytes)) {
            Routed::Answer { status, location } => (
                status.code(),
                String::from_utf8(location.unwrap_or_default()).unwrap(),
            ),
            Routed::Serve { target, rewritten } => (
                if rewritten { 1 } else { 0 },
                String::from_utf8(target.into_owned()).unwrap(),
            ),
        }
    }

    #[test]
    fn redirects_capture_keep_queries_and_pick_codes() {
        let r = routes(
            None,
            &[
                "/old/*=/new/$1",
                "/q/*=/search?q=$1 302",
                "www.example.com/**=https://example.com/$1 301",
                "/a b/*=/c/$1",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(answer(&r, "/old/x?y=1", None), (308, "/new/x?y=1".into()));
        assert_eq!(answer(&r, "/q/z?drop=1", None), (302, "/search?q=z".into()));
        assert_eq!(
            answer(&r, "/p/q", Some("WWW.example.com:8080")),
            (301, "https://example.com/p/q".into())
        );
        assert_eq!(answer(&r, "/p/q", Some("example.com")), (0, "/p/q".into()));
        assert_eq!(
            answer(&r, "/a%20b/%C3%A9%3F", None),
            (308, "/c/%C3%A9%3F".into())
        );
        assert_eq!(answer(&r, "/old/x/y", None), (0, "/old/x/y".into()));
    }

    #[test]
    fn rewrites_serve_inside_once() {
        let r = routes(
            None,
            &["/gone=/here"],
            &["/app/**=/dist/$1", "/dist/**=/nope/$1"],
        )
        .unwrap();
        assert_eq!(
            answer(&r, "/app/a/b.js?v=2", None),
            (1, "/dist/a/b.js?v=2".into())
        );
        assert_eq!(answer(&r, "/gone", None), (308, "/here".into()));
        // Rules see the normalised path; one that climbs out is left to
        // the resolution (400).
        assert_eq!(answer(&r, "/app/a/%2e%2e/b", None), (1, "/dist/b".into()));
        assert_eq!(
            answer(&r, "/app/..%2f..%2fetc", None),
            (0, "/app/..%2f..%2fetc".into())
        );
    }

    #[test]
    fn the_base_path_is_stripped_or_refused() {
        let r = routes(Some("/app/"), &["/old=/new"], &[]).unwrap();
        assert_eq!(answer(&r, "/app/x?q", None), (0, "/x?q".into()));
        assert_eq!(answer(&r, "/app?q", None), (308, "/?q".into()));
        assert_eq!(answer(&r, "/app/old", None), (308, "/new".into()));
        assert_eq!(answer(&r, "/apple", None), (404, "".into()));
        assert_eq!(answer(&r, "/", None), (404, "".into()));
        assert_eq!(answer(&r, "/%61pp/x", None), (0, "/x".into()));
        assert_eq!(answer(&r, "/x/../app/y/", None), (0, "/y/".into()));
        assert_eq!(answer(&r, "/app/../x", None), (404, "".into()));
        assert_eq!(answer(&r, "http://h/app/z", None), (0, "/z".into()));
        assert!(routes(Some("/"), &[], &[]).unwrap().base_path.is_none());
    }

    #[test]
    fn bad_rules_are_one_line_errors() {
        for (redirects, rewrites, what) in [
            (vec!["/a"], vec![], "expected 'FROM=TO'"),
            (vec!["/a=/b 304"], vec![], "'304' is not one of"),
            (vec!["/a/*=/b/$2"], vec![], "FROM has 1 wildcard"),
            (vec!["/a=ftp://x"], vec![], "neither a path"),
            (vec!["/a=//evil.example"], vec![], "neither a path"),
            (vec!["/a=/a"], vec![], "redirects to itself"),
            (vec!["/a/*=/a/b"], vec![], "redirects to itself"),
            (vec!["/a=/b", "/b=/a"], vec![], "a loop"),
            (vec!["/x=/a", "/a=/b", "/b=/c", "/c=/a"], vec![], "a loop"),
            (vec![], vec!["/a=https://x/"], "not a path under the root"),
            (vec![], vec!["/a/*=/b/$1/$3"], "FROM has 1 wildcard"),
        ] {
            let e = routes(None, &redirects, &rewrites).unwrap_err();
            assert!(e.contains(what) && !e.contains('\n'), "{e}");
        }
        for bad in ["app", "/a/../b", "/a//b", "/a b", "/a?x"] {
            assert!(routes(Some(bad), &[], &[]).is_err(), "{bad}");
        }
        // A chain that ends, and a loop only through captures, are fine.
        assert!(routes(None, &["/a=/b", "/b=/c"], &[]).is_ok());
        assert!(routes(None, &["/x/*=/y/$1", "/y/*=/x/$1"], &[]).is_ok());
    }
}
