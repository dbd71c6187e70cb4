//! Globs with captures, for `--redirect` and `--rewrite`: each compiled
//! once at start into a regular expression (regex-automata, which globset
//! already brings), and matched against a request's decoded, normalised
//! path, and for a `HOST/GLOB` rule its host too.
//!
//! The syntax, the same as `--cache-control`'s where the two overlap:
//! - `*` matches any run of characters within one segment (no `/`);
//! - `**` matches any run, `/` included; `/**/` also matches a single `/`
//!   (so `/**/*.html` matches `/index.html`);
//! - `?` matches one character other than `/`;
//! - `[abc]`, `[a-z]`, `[!abc]` match one ASCII character of a class;
//! - `{a,b}` matches one of several plain texts;
//! - `\` takes the next character literally; everything else is literal.
//!
//! Every `*` and `**` captures what it matched: `$1` is the first, from
//! left to right, a host's before the path's. A glob matches the whole
//! path, never a part of it. In a host, `*` matches any run of
//! characters, dots included; hosts compare without case.
//!
//! Matching a set of rules costs one pass over the path when no rule
//! matches (all the paths' globs together in one automaton), and
//! allocates nothing then; only a match runs each rule's own expression
//! to find the first that matches and its captures.

use regex_automata::meta::Regex;
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;

/// Most captures one rule may use (`$1` to `$9`).
pub(crate) const MAX_CAPTURES: usize = 9;

/// A compiled `GLOB` or `HOST/GLOB`.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// The host part, if any (lowercase).
    host: Option<Regex>,
    /// Captures in the host part.
    host_captures: usize,
    path: Regex,
    /// Its path part's expression, for the set of all of them.
    path_source: String,
    /// Captures in all.
    captures: usize,
}

impl Glob {
    /// `spec` as a rule's FROM: a path glob (`/old/*`) or a host and a
    /// path glob (`www.example.com/**`); or why not, for `flag`'s
    /// one-line error.
    pub(crate) fn parse(spec: &str) -> Result<Glob, String> {
        Glob::parse_with(spec, MAX_CAPTURES)
    }

    /// The same, with at most `max_captures` wildcards captured (a rule
    /// whose TO uses none can have any number).
    pub(crate) fn parse_with(spec: &str, max_captures: usize) -> Result<Glob, String> {
        let (host, path) = match spec.find('/') {
            Some(0) => (None, spec),
            Some(i) => (Some(&spec[..i]), &spec[i..]),
            None => {
                return Err(format!(
                    "'{spec}' is not a path glob (/old/*) or a host and one (www.example.com/**)"
                ));
            }
        };
        let (host, host_captures) = match host {
            Some(h) => {
                let h = h.to_ascii_lowercase();
                if !h
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-*:[]".contains(&c))
                {
                    return Err(format!("'{spec}': '{h}' is not a host name"));
                }
                let (source, n) = translate(&h, true)?;
                (Some(compile(&source)?), n)
            }
            None => (None, 0),
        };
        let (path_source, n) = translate(path, false)?;
        let captures = host_captures + n;
        if captures > max_captures {
            return Err(format!(
                "'{spec}' has {captures} wildcards; at most {max_captures} can be captured"
            ));
        }
        Ok(Glob {
            host,
            host_captures,
            path: compile(&path_source)?,
            path_source,
            captures,
        })
    }

    /// How many captures it has (`$1` to `$N`).
    pub(crate) fn captures(&self) -> usize {
        self.captures
    }

    /// Whether it has a host part.
    pub(crate) fn has_host(&self) -> bool {
        self.host.is_some()
    }

    /// Matches `host` (lowercase, without the port; `None` if the request
    /// had none) and `path`: the captures, if it matches.
    pub(crate) fn matches(&self, host: Option<&[u8]>, path: &[u8]) -> Option<Matched> {
        let mut host_caps = None;
        if let Some(re) = &self.host {
            let host = host?;
            let mut caps = re.create_captures();
            re.captures(host, &mut caps);
            if !caps.is_match() {
                return None;
            }
            host_caps = Some(caps);
        }
        let mut caps = self.path.create_captures();
        self.path.captures(path, &mut caps);
        caps.is_match().then_some(Matched {
            host: host_caps,
            host_captures: self.host_captures,
            path: caps,
        })
    }
}

/// The captures of one match.
#[derive(Debug)]
pub(crate) struct Matched {
    host: Option<Captures>,
    host_captures: usize,
    path: Captures,
}

impl Matched {
    /// Capture `n` (1-based) of a match of `host` and `path`: the bytes it
    /// matched, empty for an optional part that took nothing.
    pub(crate) fn get<'a>(&self, n: usize, host: Option<&'a [u8]>, path: &'a [u8]) -> &'a [u8] {
        if n <= self.host_captures {
            let span = self.host.as_ref().and_then(|c| c.get_group(n));
            return match (span, host) {
                (Some(s), Some(h)) => &h[s.range()],
                _ => b"",
            };
        }
        match self.path.get_group(n - self.host_captures) {
            Some(s) => &path[s.range()],
            None => b"",
        }
    }
}

/// Rules in order, each a glob and what it does, with one automaton of
/// all their paths' globs that says at once whether any could match.
#[derive(Debug, Clone)]
pub(crate) struct RuleList<T> {
    rules: Vec<(Glob, T)>,
    any: Option<Regex>,
}

impl<T> Default for RuleList<T> {
    fn default() -> Self {
        RuleList {
            rules: Vec::new(),
            any: None,
        }
    }
}

impl<T> RuleList<T> {
    /// The list of these rules; `Err` if their union does not compile
    /// (too large).
    pub(crate) fn new(rules: Vec<(Glob, T)>) -> Result<RuleList<T>, String> {
        let any = if rules.is_empty() {
            None
        } else {
            let sources: Vec<&str> = rules.iter().map(|(g, _)| g.path_source.as_str()).collect();
            Some(
                Regex::builder()
                    .syntax(syntax_config())
                    .configure(Regex::config().utf8_empty(false))
                    .build_many(&sources)
                    .map_err(|e| format!("the rules are too many or too large together: {e}"))?,
            )
        };
        Ok(RuleList { rules, any })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Glob, T)> {
        self.rules.iter()
    }

    /// Every rule whose path glob matches `path` (host parts are not
    /// looked at), in order. Allocates nothing when none does.
    pub(crate) fn all<'a>(&'a self, path: &'a [u8]) -> impl Iterator<Item = (usize, &'a T)> + 'a {
        let any = self.any.as_ref().is_some_and(|re| re.is_match(path));
        self.rules
            .iter()
            .enumerate()
            .filter(move |(_, (glob, _))| any && glob.path.is_match(path))
            .map(|(i, (_, rule))| (i, rule))
    }

    /// The first rule that matches, with its captures. Allocates nothing
    /// when none could.
    pub(crate) fn first(&self, host: Option<&[u8]>, path: &[u8]) -> Option<(&T, Matched)> {
        if !self.any.as_ref()?.is_match(path) {
            return None;
        }
        self.rules
            .iter()
            .find_map(|(glob, rule)| glob.matches(host, path).map(|m| (rule, m)))
    }
}

fn syntax_config() -> syntax::Config {
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .dot_matches_new_line(true)
}

fn compile(source: &str) -> Result<Regex, String> {
    Regex::builder()
        .syntax(syntax_config())
        .configure(Regex::config().utf8_empty(false))
        .build(source)
        .map_err(|e| format!("cannot compile '{source}': {e}"))
}

/// Appends `c` to a regular expression as a literal.
fn literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '/' {
        out.push(c);
    } else {
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
}

/// A glob as an anchored expression, and how many captures it has.
fn translate(glob: &str, host: bool) -> Result<(String, usize), String> {
    let stop = if host { "" } else { "/" };
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("^");
    let mut captures = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                captures += 1;
                let after = chars.get(i + 2);
                let before_slash = i > 0 && chars[i - 1] == '/';
                if !host && before_slash && after == Some(&'/') {
                    // `/**/`: zero or more whole segments; the `/` before it
                    // is already out.
                    out.push_str("(?:(.*)/)?");
                    i += 3;
                } else {
                    out.push_str("(.*)");
                    i += 2;
                }
                continue;
            }
            '*' => {
                captures += 1;
                out.push_str(if host { "(.*)" } else { "([^/]*)" });
            }
            '?' => out.push_str(if host { "." } else { "[^/]" }),
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| i + 1 + p)
                    .ok_or_else(|| format!("'{glob}': '[' without its ']'"))?;
                let mut inner = &chars[i + 1..end];
                out.push('[');
                if let Some(('!' | '^', rest)) = inner.split_first() {
                    out.push('^');
                    out.push_str(stop);
                    inner = rest;
                }
                if inner.is_empty() {
                    return Err(format!("'{glob}': an empty class '[]'"));
                }
                for (k, &c) in inner.iter().enumerate() {
                    if !c.is_ascii() || c.is_ascii_control() {
                        return Err(format!("'{glob}': a class holds ASCII characters only"));
                    }
                    if c == '-' && k > 0 && k + 1 < inner.len() {
                        out.push('-');
                    } else {
                        out.push_str(&format!("\\x{:02x}", c as u8));
                    }
                }
                out.push(']');
                i = end;
            }
            '{' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '}')
                    .map(|p| i + 1 + p)
                    .ok_or_else(|| format!("'{glob}': '{{' without its '}}'"))?;
                let inner: String = chars[i + 1..end].iter().collect();
                if inner.contains(['*', '?', '[', '{', '\\']) {
                    return Err(format!(
                        "'{glob}': '{{{inner}}}': alternatives are plain text, without wildcards"
                    ));
                }
                out.push_str("(?:");
                for (k, alt) in inner.split(',').enumerate() {
                    if k > 0 {
                        out.push('|');
                    }
                    alt.chars().for_each(|c| literal(&mut out, c));
                }
                out.push(')');
                i = end;
            }
            '\\' => {
                let next = chars
                    .get(i + 1)
                    .ok_or_else(|| format!("'{glob}': ends with '\\'"))?;
                literal(&mut out, *next);
                i += 1;
            }
            ']' | '}' => return Err(format!("'{glob}': '{c}' without its opening bracket")),
            c => literal(&mut out, c),
        }
        i += 1;
    }
    out.push('$');
    Ok((out, captures))
}

/// A rule's TO with `$1` to `$9` in it (and `$$` for a `$`).
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
    /// The highest capture it uses.
    highest: usize,
}

#[derive(Debug, Clone)]
enum Part {
    Text(Box<str>),
    Capture(usize),
}

impl Template {
    pub(crate) fn parse(to: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut highest = 0;
        let mut chars = to.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                text.push(c);
                continue;
            }
            match chars.next() {
                Some('$') => text.push('$'),
                Some(d @ '1'..='9') => {
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text).into()));
                    }
                    let n = d as usize - '0' as usize;
                    highest = highest.max(n);
                    parts.push(Part::Capture(n));
                }
                _ => {
                    return Err(format!(
                        "'{to}': '$' is followed by a capture number 1 to 9 (or '$$' for a '$')"
                    ));
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text.into()));
        }
        Ok(Template { parts, highest })
    }

    /// The highest capture it uses (0: none).
    pub(crate) fn highest(&self) -> usize {
        self.highest
    }

    /// The whole text, when it uses no capture.
    pub(crate) fn fixed(&self) -> Option<&str> {
        match &self.parts[..] {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Whether its own text (not a capture) holds `c`.
    pub(crate) fn text_contains(&self, c: char) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Text(t) if t.contains(c)))
    }

    /// Writes it with each capture put through `encode`.
    pub(crate) fn render(
        &self,
        matched: &Matched,
        host: Option<&[u8]>,
        path: &[u8],
        out: &mut Vec<u8>,
        encode: impl Fn(&[u8], &mut Vec<u8>),
    ) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Capture(n) => encode(matched.get(*n, host, path), out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(glob: &str, host: Option<&str>, path: &str) -> Option<Vec<String>> {
        let g = Glob::parse(glob).unwrap();
        let h = host.map(str::as_bytes);
        let m = g.matches(h, path.as_bytes())?;
        Some(
            (1..=g.captures())
                .map(|n| String::from_utf8(m.get(n, h, path.as_bytes()).to_vec()).unwrap())
                .collect(),
        )
    }

    #[test]
    fn stars_stay_in_a_segment_and_double_stars_cross() {
        assert_eq!(caps("/old/*", None, "/old/a"), Some(vec!["a".into()]));
        assert_eq!(caps("/old/*", None, "/old/a/b"), None);
        assert_eq!(caps("/old/**", None, "/old/a/b"), Some(vec!["a/b".into()]));
        assert_eq!(caps("/old/**", None, "/old"), None);
        assert_eq!(
            caps("/*/x/*.html", None, "/a/x/b.html"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            caps("/**/*.html", None, "/i.html"),
            Some(vec!["".into(), "i".into()])
        );
        assert_eq!(
            caps("/**/*.html", None, "/a/b/i.html"),
            Some(vec!["a/b".into(), "i".into()])
        );
        assert_eq!(caps("/a", None, "/a/"), None, "whole paths only");
        assert_eq!(caps("/a", None, "/ab"), None);
    }

    #[test]
    fn classes_alternatives_and_escapes() {
        assert!(caps("/v[0-9]/x", None, "/v3/x").is_some());
        assert!(caps("/v[!0-9]/x", None, "/v3/x").is_none());
        assert!(caps("/v[!0-9]/x", None, "/v//x").is_none());
        assert!(caps("/{a,bc}.txt", None, "/bc.txt").is_some());
        assert!(caps("/{a,bc}.txt", None, "/b.txt").is_none());
        assert!(caps("/a\\*b", None, "/a*b").is_some());
        assert!(caps("/a\\*b", None, "/axb").is_none());
        assert!(caps("/a.b", None, "/axb").is_none(), "a dot is literal");
        assert!(caps("/?", None, "/é").is_none(), "one byte, not one char");
        assert!(caps("/caf\u{e9}", None, "/caf\u{e9}").is_some());
        for bad in [
            "/a[", "/a{b", "/a]", "/{a*,b}", "/a\\", "/[é]", "/[]", "noslash",
        ] {
            assert!(Glob::parse(bad).is_err(), "{bad}");
        }
        assert!(Glob::parse("/*/*/*/*/*/*/*/*/*/*").is_err(), "ten captures");
    }

    #[test]
    fn hosts_match_first_and_number_first() {
        assert_eq!(
            caps("www.example.com/**", Some("www.example.com"), "/a/b"),
            Some(vec!["a/b".into()])
        );
        assert_eq!(caps("www.example.com/**", Some("example.com"), "/a"), None);
        assert_eq!(caps("www.example.com/**", None, "/a"), None);
        assert_eq!(
            caps("*.example.com/*", Some("a.b.example.com"), "/x"),
            Some(vec!["a.b".into(), "x".into()])
        );
        assert_eq!(
            caps("WWW.Example.com/", Some("www.example.com"), "/"),
            Some(vec![])
        );
        assert!(Glob::parse("bad host/x").is_err());
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let list = RuleList::new(vec![
            (Glob::parse("example.org/a").unwrap(), 0),
            (Glob::parse("/a").unwrap(), 1),
            (Glob::parse("/*").unwrap(), 2),
        ])
        .unwrap();
        assert_eq!(
            list.first(Some(b"example.org"), b"/a").map(|r| *r.0),
            Some(0)
        );
        assert_eq!(list.first(Some(b"other"), b"/a").map(|r| *r.0), Some(1));
        assert_eq!(list.first(None, b"/b").map(|r| *r.0), Some(2));
        assert!(list.first(None, b"/b/c").is_none());
        assert!(RuleList::<u8>::default().first(None, b"/").is_none());
    }

    #[test]
    fn templates_put_captures_in_place() {
        let g = Glob::parse("/old/*/**").unwrap();
        let m = g.matches(None, b"/old/x/y/z").unwrap();
        let t = Template::parse("/new/$2/$1?a=$$").unwrap();
        assert_eq!(t.highest(), 2);
        let mut out = Vec::new();
        t.render(&m, None, b"/old/x/y/z", &mut out, |c, o| {
            o.extend_from_slice(c)
        });
        assert_eq!(out, b"/new/y/z/x?a=$");
        assert_eq!(Template::parse("/fixed").unwrap().fixed(), Some("/fixed"));
        assert!(Template::parse("/a/$0").is_err());
        assert!(Template::parse("/a/$").is_err());
    }
}
